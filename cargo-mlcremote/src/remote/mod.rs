//! What runs on the host: the POSIX `sh` scripts deploy sends (pure functions of their
//! inputs, so they can be read and tested without a network) and the parsing of what
//! they print. Scripts print `key=value` lines; `Session::run` frames them.
//!
//! [`probe`] finds out what the host is and has; [`start`] is how the server outlives
//! the SSH session; [`scripts`] installs, starts, stops and removes it; [`health`] asks
//! the running server how it is.

pub mod agent;
pub mod health;
pub mod probe;
pub mod scripts;
pub mod start;
pub mod upload;

pub use self::{
    health::Health,
    probe::{InstallInfo, Probe, ServerState},
    start::StartMethod,
};
use crate::{error::Error, error::Kind, ssh::Output};

/// Single-quote `s` for `sh`: nothing inside is expanded.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The install dir as a shell word: `~` and `~/…` become `"$HOME"…`, the rest is quoted.
pub fn dir_word(dir: &str) -> String {
    match dir.strip_prefix('~') {
        Some("") => "\"$HOME\"".into(),
        Some(rest) if rest.starts_with('/') => format!("\"$HOME\"{}", quote(rest)),
        _ => quote(dir),
    }
}

/// Shell helpers every script may use.
pub(crate) const PRELUDE: &str = r#"mlcr_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else echo none; fi
}
mlcr_nap() { sleep 0.05 2>/dev/null || sleep 1; }
# The name of this install's tmux/screen session or systemd user unit: one per install dir.
mlcr_name() { printf 'mlcremote-%s' "$(printf '%s' "$d" | cksum | cut -d' ' -f1)"; }
mlcr_pid() { sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1; }
fail() { code=$1; shift; printf 'error=%s\n' "$*"; exit "$code"; }
# Refuse an install dir that is / or the home folder or holds it, however it is spelled.
mlcr_own_dir() {
  real=$(cd "$1" 2>/dev/null && pwd -P) || fail 70 "cannot enter $1"
  home=$(cd "$HOME" 2>/dev/null && pwd -P)
  [ "$real" = / ] && fail 70 "refusing to use $1 as the install dir: it is the root folder"
  case "$home/" in "$real"/*) fail 70 "refusing to use $1 as the install dir: it is your home folder or holds it; pass --install-dir ~/.mlcremote" ;; esac
  return 0
}
mlcr_alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  # A zombie (exited, not yet reaped by an init that reaps lazily) is not alive.
  case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
}
"#;

/// Exit codes of the shell scripts, mapped to SPEC exit codes by [`script_error`].
pub mod status {
    pub const INSTALL_FAILED: u32 = 70;
    pub const DOES_NOT_RUN: u32 = 71;
    /// The host could not download a release archive.
    pub const DOWNLOAD_FAILED: u32 = 72;
    /// What the host downloaded is not what the release lists.
    pub const CHECKSUM_MISMATCH: u32 = 73;
    pub const LOCKED: u32 = 75;
    pub const CORRUPT_UPLOAD: u32 = 76;
    pub const NOT_INSTALLED: u32 = 77;
    pub const BUILD_FAILED: u32 = 78;
}

/// Map a failed remote script to the SPEC exit code and its message.
pub fn script_error(out: &Output, dir: &str) -> Error {
    let message = out.field("error").map_or_else(
        || format!("remote command failed with status {}", out.status),
        str::to_owned,
    );
    let kind = match out.status {
        status::INSTALL_FAILED | status::DOES_NOT_RUN | status::CORRUPT_UPLOAD | status::BUILD_FAILED => Kind::Install,
        status::LOCKED => Kind::Install,
        status::DOWNLOAD_FAILED | status::CHECKSUM_MISMATCH => Kind::Artifact,
        _ => Kind::Other,
    };
    let mut error = Error::new(kind, message);
    if !out.stderr.trim().is_empty() {
        error = error.with_detail(format!("stderr on the host ({dir}):\n{}", out.stderr.trim_end()));
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's $HOME"), r#"'it'\''s $HOME'"#);
        assert_eq!(dir_word("~/.mlcremote"), r#""$HOME"'/.mlcremote'"#);
        assert_eq!(dir_word("~"), r#""$HOME""#);
        assert_eq!(dir_word("/opt/x y"), "'/opt/x y'");
        assert_eq!(dir_word("~other/x"), "'~other/x'");
    }
}
