//! The library's error, with the exit codes of SPEC §6 in one place.
//!
//! Each module has its own `thiserror` enum for what can go wrong there (a bad host
//! name, a bad ssh config line, a damaged archive, ...). They meet as an [`Error`] whose
//! [`Kind`] says which SPEC exit code it is; [`Kind::exit_code`] is the one place that
//! maps kinds to codes. Each module's `From` impl says which kind its errors are (here
//! for those of the `mlcremote-release` crate). The cause stays reachable through
//! [`std::error::Error::source`].

use std::fmt;

/// What kind of failure, which fixes the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
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

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure: one line saying what failed and what to do ([`fmt::Display`]), detail
/// for `-v` or a failed start (remote logs), and the cause.
#[derive(Debug, thiserror::Error)]
pub struct Error {
    kind: Kind,
    message: String,
    detail: Option<String>,
    #[source]
    source: Option<Source>,
}

impl Error {
    /// A failure of `kind` described by `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            detail: None,
            source: None,
        }
    }

    /// `error`, of `kind`, with its own text as the message and itself as the source.
    pub fn wrap(kind: Kind, error: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error {
            kind,
            message: error.to_string(),
            detail: None,
            source: Some(Box::new(error)),
        }
    }

    /// Attach detail shown under the one-line message (remote logs, causes).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Error {
        self.detail = Some(detail.into());
        self
    }

    /// The same failure, saying it happened during `step` (unless it says when already).
    pub fn during(mut self, step: &str) -> Error {
        if !self.message.contains(" during ") {
            self.message = format!("{} (during {step})", self.message);
        }
        self
    }

    /// Keep `source` as the cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// Put `before` in front of the message: `"{before}: {message}"`.
    pub fn context(mut self, before: impl fmt::Display) -> Error {
        self.message = format!("{before}: {}", self.message);
        self
    }

    /// Add to the end of the message (how a rollback went, say).
    pub fn append(mut self, after: impl fmt::Display) -> Error {
        self.message = format!("{}; {after}", self.message);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The one line.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A local I/O failure nobody described more closely.
impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::wrap(Kind::Other, err)
    }
}

impl From<mlcremote_release::archive::ReadError> for Error {
    fn from(err: mlcremote_release::archive::ReadError) -> Error {
        Error::wrap(Kind::Artifact, err)
    }
}

impl From<mlcremote_release::target::UnsupportedPlatform> for Error {
    fn from(err: mlcremote_release::target::UnsupportedPlatform) -> Error {
        Error::wrap(Kind::Artifact, err)
    }
}

impl From<mlcremote_release::checksum::BadSumsLine> for Error {
    fn from(err: mlcremote_release::checksum::BadSumsLine) -> Error {
        Error::wrap(Kind::Artifact, err)
    }
}

impl From<mlcremote_release::build::BuildError> for Error {
    fn from(err: mlcremote_release::build::BuildError) -> Error {
        use mlcremote_release::build::BuildError as B;
        let kind = match err {
            B::NoSource { .. } => Kind::Usage,
            _ => Kind::Artifact,
        };
        Error::wrap(kind, err)
    }
}

impl From<mlcremote_release::source::BundleError> for Error {
    fn from(err: mlcremote_release::source::BundleError) -> Error {
        Error::wrap(Kind::Artifact, err)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_stays_reachable() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        let error = Error::from(io).context("cannot read the key");
        assert_eq!(error.to_string(), "cannot read the key: no");
        assert_eq!(error.exit_code(), 1);
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("no"));
    }
}
