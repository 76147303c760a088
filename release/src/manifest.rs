//! `dist-manifest.json` (SPEC §3), written by `cargo xtask dist`, read by deploy.

use serde::{Deserialize, Serialize};

/// The file name of the manifest in a dist folder or release.
pub const MANIFEST_NAME: &str = "dist-manifest.json";
/// The file name of the combined checksums.
pub const SUMS_NAME: &str = "SHA256SUMS";

/// Schema 1 of the release manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u32,
    pub name: String,
    pub version: String,
    pub commit: Option<String>,
    pub source_date_epoch: u64,
    pub artifacts: Vec<Artifact>,
}

/// What a released file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A server or client archive for one target.
    Archive,
    /// The vendored source bundle.
    Source,
}

/// One released file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub name: String,
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    pub size: u64,
    pub sha256: String,
    /// The server binary inside an archive; lets deploy skip identical uploads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<Binary>,
}

/// The binary inside an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binary {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    /// Pretty JSON with a trailing newline, stable for identical input.
    pub fn to_json(&self) -> serde_json::Result<String> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }
}
