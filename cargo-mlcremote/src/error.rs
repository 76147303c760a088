//! One error type for the library, with the exit codes of SPEC §6 in one place.

use std::fmt;

/// What kind of failure, which fixes the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything not listed below (exit 1).
    Other,
    /// Bad flags or arguments (exit 2).
    Usage,
    /// DNS, refused, timeout (exit 3).
    Connect,
    /// No offered credential was accepted (exit 4).
    Auth,
    /// Host key unknown (non-interactive) or changed (exit 5).
    HostKey,
    /// No artifact for the remote target, or a checksum mismatch (exit 6).
    Artifact,
    /// Install failed on the remote: disk full, permission, noexec (exit 7).
    Install,
    /// The server did not become healthy in time (exit 8).
    Unhealthy,
    /// Some hosts of a multi-host run failed (exit 9).
    SomeHostsFailed,
}

impl Kind {
    /// The process exit code for this kind (SPEC §6).
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::Connect => 3,
            Kind::Auth => 4,
            Kind::HostKey => 5,
            Kind::Artifact => 6,
            Kind::Install => 7,
            Kind::Unhealthy => 8,
            Kind::SomeHostsFailed => 9,
        }
    }
}

/// A failure: one line saying what failed and what to do, and detail for `-v`.
#[derive(Debug)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
    pub detail: Option<String>,
}

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            detail: None,
        }
    }

    /// Attach detail shown under the one-line message (remote logs, causes).
    pub fn detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::new(Kind::Other, err.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand constructors: `err!(Install, "disk full in {dir}")`.
#[macro_export]
macro_rules! err {
    ($kind:ident, $($fmt:tt)+) => {
        $crate::error::Error::new($crate::error::Kind::$kind, format!($($fmt)+))
    };
}
