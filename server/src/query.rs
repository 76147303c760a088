//! Query values as the file API and the WebSocket token take them: `%XX` and `+`
//! decoded to bytes (a file name need not be UTF-8), and the `Range` header of a read.
//! Pure functions, fuzzed.

/// `%XX` decoding for a query value (tokens are hex, but clients may encode anything).
pub fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

/// `%XX` and `+` decoded to bytes (a file name need not be UTF-8).
pub fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The value of `key` in a raw query string, decoded; the first one wins.
pub fn value(query: &str, key: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode_bytes(v))
    })
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, PartialEq)]
pub enum Ranged {
    /// No usable range (absent, malformed, or several ranges): the whole file, 200.
    Whole,
    /// Bytes `start..=end`, 206.
    Part(u64, u64),
    /// A well-formed range that misses the file: 416.
    Unsatisfiable,
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` (the last N bytes); anything else is served whole,
/// as HTTP allows.
pub fn byte_range(spec: &str, size: u64) -> Ranged {
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let number = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => match number(b) {
            Some(0) => Ranged::Unsatisfiable,
            Some(_) if size == 0 => Ranged::Unsatisfiable,
            Some(n) => Ranged::Part(size.saturating_sub(n), size - 1),
            None => Ranged::Whole,
        },
        (false, _) => {
            let Some(start) = number(a) else { return Ranged::Whole };
            let end = if b.is_empty() { Some(u64::MAX) } else { number(b) };
            match end {
                None => Ranged::Whole,
                Some(end) if end < start => Ranged::Whole,
                Some(_) if start >= size => Ranged::Unsatisfiable,
                Some(end) => Ranged::Part(start, end.min(size - 1)),
            }
        }
        (true, true) => Ranged::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_query_values() {
        assert_eq!(percent_decode("a%2Fb+c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode_bytes("caf%E9"), b"caf\xe9");
        assert_eq!(value("a=1&path=x%2Fy&path=z", "path"), Some(b"x/y".to_vec()));
        assert_eq!(value("pathx=1", "path"), None);
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), Ranged::Part(0, 9));
        assert_eq!(byte_range("bytes=90-200", 100), Ranged::Part(90, 99));
        assert_eq!(byte_range("bytes=90-", 100), Ranged::Part(90, 99));
        assert_eq!(byte_range("bytes=-10", 100), Ranged::Part(90, 99));
        assert_eq!(byte_range("bytes=-1000", 100), Ranged::Part(0, 99));
        assert_eq!(byte_range("bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(byte_range("bytes=-5", 0), Ranged::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-", 0), Ranged::Unsatisfiable);
        for whole in ["bytes=9-1", "bytes=a-b", "bytes=-", "bytes=1-2,4-5", "items=1-2", ""] {
            assert_eq!(byte_range(whole, 100), Ranged::Whole, "{whole}");
        }
    }
}
