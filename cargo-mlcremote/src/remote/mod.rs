//! What runs on the host: the POSIX `sh` scripts deploy sends (pure functions of their
//! inputs, so they can be read and tested without a network) and the parsing of what
//! they print. The agent and the scripts that speak for it print JSON lines (the
//! contract crate's events); the probe prints `key=value` lines; `Session::run` frames them.
//!
//! [`probe`] finds out what the host is and has; [`start`] is how the server outlives
//! the SSH session; [`agent`] runs the installed binary's commands; [`scripts`] are the
//! shell that stays (`sh/*.sh`); [`upload`] sends the binary; [`health`] asks
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
