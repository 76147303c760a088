//! `%` tokens, `${ENV}` and `~`: one table, expanded once the whole config is read
//! (as OpenSSH does for the options that take tokens).

use std::path::Path;

use super::local::*;

/// The one table of `%` tokens (`ssh_config(5)` TOKENS) for a connection as `user` to
/// `host:port`, named `original` on the command line, from `local`.
pub(super) fn token_table(local: &Local, host: &str, port: u16, user: &str, original: &str) -> Vec<(char, String)> {
    let port = port.to_string();
    let c = {
        use sha1::Digest;
        let joined = format!("{}{host}{port}{user}", local.hostname);
        hex::encode(sha1::Sha1::digest(joined.as_bytes()))
    };
    let short = local.hostname.split('.').next().unwrap_or_default().to_string();
    vec![
        ('C', c),
        ('d', local.home.display().to_string()),
        ('h', host.to_string()),
        ('i', local.uid.clone()),
        ('k', original.to_string()),
        ('L', short),
        ('l', local.hostname.clone()),
        ('n', original.to_string()),
        ('p', port),
        ('r', user.to_string()),
        ('u', local.user.clone()),
    ]
}

/// `~`, `${VAR}` and `tokens` in a path.
pub(super) fn expand_path_with(value: &str, tokens: &[(char, String)], home: &Path) -> String {
    let pairs: Vec<(char, &str)> = tokens.iter().map(|(c, v)| (*c, v.as_str())).collect();
    expand_home(&expand_tokens(&expand_env(value), &pairs), home)
}

/// Replace `%c` tokens from `tokens`; `%%` is a `%`. Unknown tokens stay as they are.
pub fn expand_tokens(value: &str, tokens: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match tokens.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    out.push('%');
                    out.push(t);
                }
            },
            None => out.push('%'),
        }
    }
    out
}

/// `${VAR}` from the environment (unset: empty, as OpenSSH would refuse; we keep it).
pub(super) fn expand_env(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find('}') {
            Some(end) => {
                out.push_str(&std::env::var(&after[..end]).unwrap_or_default());
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `~` and `~/…` become the home directory.
pub fn expand_home(value: &str, home: &Path) -> String {
    match value.strip_prefix('~') {
        Some("") => home.display().to_string(),
        Some(rest) if rest.starts_with('/') => format!("{}{rest}", home.display()),
        _ => value.to_string(),
    }
}
