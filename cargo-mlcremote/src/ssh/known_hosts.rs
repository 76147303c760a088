//! Host key verification against OpenSSH `known_hosts` files: plain and hashed
//! (`|1|salt|hash`) host fields, `[host]:port` entries, wildcards and negation,
//! `@revoked` markers. Answers with the file and line, like `ssh` does.

use std::{
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
};

use data_encoding::BASE64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{PublicKey, parse_public_key_base64};
use sha1::Sha1;

use super::pattern;

/// What the files say about a host's key.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A line lists this exact key for this host.
    Known,
    /// No line lists a key of this type for this host.
    Unknown,
    /// A line lists a different key of the same type: possible man-in-the-middle.
    Changed { path: PathBuf, line: usize },
    /// The key is marked `@revoked`.
    Revoked { path: PathBuf, line: usize },
}

/// The name `ssh` looks up: `host`, or `[host]:port` off port 22.
pub fn host_entry(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Check `key` for `host:port` in each file in turn; a missing file counts as empty.
pub fn check(files: &[PathBuf], host: &str, port: u16, key: &PublicKey) -> io::Result<Verdict> {
    let name = host_entry(host, port);
    let mut changed = None;
    let mut known = false;
    for path in files {
        // One bad byte must not make every other line unreadable: read lines as bytes.
        let text = match fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot read {}: {err}", path.display()),
                ));
            }
        };
        for (index, line) in text.lines().enumerate() {
            let Some(entry) = Entry::parse(line) else { continue };
            if !entry.matches(&name) {
                continue;
            }
            let Ok(recorded) = parse_public_key_base64(entry.key) else {
                continue;
            };
            let same_key = recorded.key_data() == key.key_data();
            let at = || (path.clone(), index + 1);
            match entry.marker {
                Some("@revoked") if same_key => {
                    let (path, line) = at();
                    return Ok(Verdict::Revoked { path, line });
                }
                Some(_) => {}
                None if same_key => known = true,
                None if recorded.algorithm() == key.algorithm() && changed.is_none() => changed = Some(at()),
                None => {}
            }
        }
    }
    Ok(match (known, changed) {
        (true, _) => Verdict::Known,
        (false, Some((path, line))) => Verdict::Changed { path, line },
        (false, None) => Verdict::Unknown,
    })
}

/// Append `host:port key` to `path` (creating it and its folder), as `ssh` does on
/// accepting a new key; with `hash` (`HashKnownHosts yes`) the name is hashed as
/// `ssh-keygen -H` would.
pub fn record(path: &Path, host: &str, port: u16, key: &PublicKey, hash: bool) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let existing = fs::read(path).unwrap_or_default();
    let mut file = fs::OpenOptions::new().create(true).append(true).open(path)?;
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        file.write_all(b"\n")?;
    }
    let key = key.to_openssh().map_err(io::Error::other)?;
    let name = host_entry(host, port);
    let name = if hash { hashed_name(&name)? } else { name };
    writeln!(file, "{name} {key}")
}

/// `|1|salt|hash`: HMAC-SHA1 of the name keyed with a random salt.
fn hashed_name(name: &str) -> io::Result<String> {
    let mut salt = [0u8; 20];
    getrandom::fill(&mut salt).map_err(|e| io::Error::other(e.to_string()))?;
    let mac = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt).map_err(|e| io::Error::other(e.to_string()))?;
    let hash = mac.chain_update(name.as_bytes()).finalize().into_bytes();
    Ok(format!("|1|{}|{}", BASE64.encode(&salt), BASE64.encode(&hash)))
}

struct Entry<'a> {
    marker: Option<&'a str>,
    hosts: &'a str,
    key: &'a str,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Option<Entry<'a>> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next()?;
        let marker = if first.starts_with('@') {
            let m = first;
            first = fields.next()?;
            Some(m)
        } else {
            None
        };
        let _key_type = fields.next()?;
        let key = fields.next()?;
        Some(Entry {
            marker,
            hosts: first,
            key,
        })
    }

    /// OpenSSH rules: any positive pattern matches and no negated one does.
    fn matches(&self, name: &str) -> bool {
        if let Some(hashed) = self.hosts.strip_prefix("|1|") {
            return hashed_matches(hashed, name);
        }
        pattern::match_hostname(name, self.hosts)
    }
}

fn hashed_matches(salt_and_hash: &str, name: &str) -> bool {
    let Some((salt, hash)) = salt_and_hash.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (BASE64.decode(salt.as_bytes()), BASE64.decode(hash.as_bytes())) else {
        return false;
    };
    let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes()).verify_slice(&hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIEifs+znRhWKBO0UKNqTmDaqMwZ5sRzg3XYrdhkJ6HyP";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIEjHdjcRe3icr9vkuLv9hcxhZRscJ6m0+sxejXNz3s9G";

    fn key(b64: &str) -> PublicKey {
        parse_public_key_base64(b64).unwrap()
    }

    fn verdict(file: &str, host: &str, port: u16, k: &str) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        fs::write(&path, file).unwrap();
        match check(&[path], host, port, &key(k)).unwrap() {
            Verdict::Changed { line, .. } => Verdict::Changed { path: "f".into(), line },
            Verdict::Revoked { line, .. } => Verdict::Revoked { path: "f".into(), line },
            v => v,
        }
    }

    #[test]
    fn plain_entries() {
        let file =
            format!("# comment\n\nexample.com ssh-ed25519 {KEY_A}\n[example.com]:2222\tssh-ed25519  {KEY_B} c\n");
        assert_eq!(verdict(&file, "example.com", 22, KEY_A), Verdict::Known);
        assert_eq!(
            verdict(&file, "example.com", 22, KEY_B),
            Verdict::Changed {
                path: "f".into(),
                line: 3
            }
        );
        assert_eq!(verdict(&file, "example.com", 2222, KEY_B), Verdict::Known);
        assert_eq!(verdict(&file, "other.com", 22, KEY_A), Verdict::Unknown);
    }

    #[test]
    fn hashed_entries() {
        // Made with `ssh-keygen -H` for "example.com".
        let file = format!("|1|LdvlfkvO093LXEObFPD2ZUEK+9w=|sEpxCCAXTauIPkW2M4CVbny5aVQ= ssh-ed25519 {KEY_A}\n");
        assert_eq!(verdict(&file, "example.com", 22, KEY_A), Verdict::Known);
        assert_eq!(verdict(&file, "example.org", 22, KEY_A), Verdict::Unknown);
    }

    #[test]
    fn patterns_and_markers() {
        let file = format!("*.corp,!bad.corp ssh-ed25519 {KEY_A}\n@revoked * ssh-ed25519 {KEY_B}\n");
        assert_eq!(verdict(&file, "db.corp", 22, KEY_A), Verdict::Known);
        assert_eq!(verdict(&file, "bad.corp", 22, KEY_A), Verdict::Unknown);
        assert_eq!(
            verdict(&file, "db.corp", 22, KEY_B),
            Verdict::Revoked {
                path: "f".into(),
                line: 2
            }
        );
    }

    #[test]
    fn records_like_ssh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/known_hosts");
        record(&path, "127.0.0.1", 2222, &key(KEY_A), false).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(&format!("[127.0.0.1]:2222 ssh-ed25519 {KEY_A}")),
            "{text}"
        );
        assert_eq!(
            check(std::slice::from_ref(&path), "127.0.0.1", 2222, &key(KEY_A)).unwrap(),
            Verdict::Known
        );

        let hashed = dir.path().join("hashed");
        record(&hashed, "box.example", 22, &key(KEY_A), true).unwrap();
        let text = fs::read_to_string(&hashed).unwrap();
        assert!(text.starts_with("|1|") && !text.contains("box.example"), "{text}");
        assert_eq!(
            check(&[hashed], "box.example", 22, &key(KEY_A)).unwrap(),
            Verdict::Known
        );
    }

    #[test]
    fn hostile_files_cannot_crash_or_stall_the_check() {
        let stars = format!("{} ssh-ed25519 {KEY_A}\n", "*".repeat(30_000));
        assert_eq!(verdict(&stars, "example.com", 22, KEY_A), Verdict::Known);
        let many = format!("{}b ssh-ed25519 {KEY_A}\n", "*a".repeat(13));
        assert_eq!(verdict(&many, &"a".repeat(40), 22, KEY_A), Verdict::Unknown);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let mut bytes = b"junk \xff\xfe line\n".to_vec();
        bytes.extend(format!("example.com ssh-ed25519 {KEY_A}\n").as_bytes());
        fs::write(&path, bytes).unwrap();
        assert_eq!(check(&[path], "example.com", 22, &key(KEY_A)).unwrap(), Verdict::Known);
    }
}
