//! `--artifact` and `--dist`: files on this machine, checked against the checksums and
//! the manifest shipped beside them.

use std::path::Path;

use mlcremote_release::{
    checksum,
    manifest::{MANIFEST_NAME, Manifest, SUMS_NAME},
};

use crate::{err, error::Result};

/// Check `file` against `<file>.sha256` and `SHA256SUMS` beside it, where they exist.
pub fn verify_beside(file: &Path) -> Result<()> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = file.parent().unwrap_or(Path::new("."));
    let sidecar = dir.join(format!("{name}.sha256"));
    let sums = dir.join(SUMS_NAME);
    let mut expected = Vec::new();
    for list in [&sidecar, &sums] {
        let Ok(text) = std::fs::read_to_string(list) else {
            continue;
        };
        let entries = checksum::parse_sums(&text).map_err(|e| crate::error::Error::from(e).context(list.display()))?;
        expected.extend(
            entries
                .into_iter()
                .filter(|(_, n)| *n == name)
                .map(|(sha, _)| (sha, list.clone())),
        );
    }
    if expected.is_empty() {
        return Ok(());
    }
    let actual = checksum::sha256_file(file).map_err(|e| err!(Artifact, "cannot read {}: {e}", file.display()))?;
    for (sha, list) in expected {
        if sha != actual {
            return Err(err!(
                Artifact,
                "checksum mismatch: {} has sha256 {actual}, but {} says {sha}; refusing to deploy it",
                file.display(),
                list.display()
            ));
        }
    }
    Ok(())
}

/// The manifest's `binary.sha256`, where present, must match what is in the archive.
pub fn verify_manifest(dir: &Path, archive_path: &Path, binary_sha256: &str) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST_NAME)) else {
        return Ok(());
    };
    let manifest: Manifest =
        serde_json::from_str(&text).map_err(|e| err!(Artifact, "{MANIFEST_NAME} is not valid: {e}"))?;
    let name = archive_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let listed = manifest
        .artifacts
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.binary.as_ref());
    match listed {
        Some(binary) if binary.sha256 != binary_sha256 => Err(err!(
            Artifact,
            "checksum mismatch: the binary in {name} has sha256 {binary_sha256}, but {MANIFEST_NAME} says {}",
            binary.sha256
        )),
        _ => Ok(()),
    }
}
