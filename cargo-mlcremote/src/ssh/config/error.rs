//! Why a config could not be used.

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read ssh config {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file} line {line}: {why}")]
    Bad { file: String, line: usize, why: String },
    #[error("{file} line {line}: Include nested more than {MAX_DEPTH} deep")]
    TooDeep { file: String, line: usize },
}

impl From<ConfigError> for crate::error::Error {
    fn from(err: ConfigError) -> Self {
        crate::error::Error::wrap(crate::error::Kind::Usage, err)
    }
}

/// OpenSSH's limit on nested `Include`s.
pub(super) const MAX_DEPTH: usize = 16;
