//! SHA-256 digests and the `SHA256SUMS` / `<archive>.sha256` line format
//! (`<hex>  <name>\n`, what `sha256sum -c` reads).

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Lowercase hex SHA-256 of a file, read in chunks (the contract's, which the agent
/// uses on the host: one way to hash a binary).
pub use mlcremote_contract::sha256_file;

/// One line of a sums file.
pub fn sums_line(sha256: &str, name: &str) -> String {
    format!("{sha256}  {name}\n")
}

/// A sums file: lines sorted by name, as `SHA256SUMS` is written.
pub fn sums_file<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by(|a, b| a.1.cmp(b.1));
    entries.into_iter().map(|(sha, name)| sums_line(sha, name)).collect()
}

/// A line of a sums file that is not `<sha256>  <name>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} is not a checksum line: {text:?}")]
pub struct BadSumsLine {
    pub line: usize,
    pub text: String,
}

/// Parse a sums file into `(sha256, name)` pairs; accepts `sha256sum`'s binary-mode `*`.
pub fn parse_sums(text: &str) -> Result<Vec<(String, String)>, BadSumsLine> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(index, line)| {
            let bad = || BadSumsLine {
                line: index + 1,
                text: line.chars().take(200).collect(),
            };
            let (sha, name) = line.split_once(' ').ok_or_else(bad)?;
            let name = name.trim_start_matches(' ').trim_start_matches('*');
            if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) || name.is_empty() {
                return Err(bad());
            }
            Ok((sha.to_ascii_lowercase(), name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sums_round_trip_sorted() {
        let a = sha256_hex(b"a");
        let b = sha256_hex(b"b");
        let text = sums_file([(b.as_str(), "z.tar.gz"), (a.as_str(), "a.tar.gz")]);
        assert_eq!(text, format!("{a}  a.tar.gz\n{b}  z.tar.gz\n"));
        let parsed = parse_sums(&format!("{text}{a} *c.zip\n")).unwrap();
        assert_eq!(parsed[1], (b, "z.tar.gz".to_string()));
        assert_eq!(parsed[2].1, "c.zip");
        assert!(parse_sums("deadbeef  x\n").is_err());
    }
}
