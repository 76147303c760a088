//! Choosing the server binary to deploy for a host's platform, from `--artifact` or
//! `--dist`, and verifying it against the checksums shipped beside it.

use std::path::{Path, PathBuf};

use crate::{
    archive::{self, Format},
    checksum, err,
    error::Result,
    manifest::{MANIFEST_NAME, Manifest, SUMS_NAME},
    target::{Platform, Target, is_static_elf},
};

/// Where deploy takes the server binary from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `--artifact PATH`: a `.tar.gz` or a bare binary.
    Artifact(PathBuf),
    /// `--dist DIR`: the output of `cargo xtask dist`.
    Dist(PathBuf),
    /// `--release TAG`: a published release, downloaded and cached.
    Release(crate::release::Release),
    /// `--build`: build the server from the source tree we run in.
    Build(BuildWhere),
}

/// Where `--build` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BuildWhere {
    /// Here, cross-compiling for the host's target with `cargo xtask dist`'s builder choice.
    Local,
    /// On the host, from the uploaded source bundle: Docker, cargo, or a toolchain
    /// bootstrapped with consent; failing all three, here.
    Remote,
    /// On the host when it has Docker or cargo, else here.
    Auto,
}

/// The binary chosen for one host, verified.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub target: Target,
    pub sha256: String,
    pub size: u64,
    pub payload: Payload,
    /// Where it came from, for messages.
    pub origin: String,
}

/// Where the chosen binary is.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Here: deploy uploads it.
    Bytes(Vec<u8>),
    /// Already on the host (built there): deploy copies it into place.
    OnHost(String),
}

impl Chosen {
    fn here(target: Target, bytes: Vec<u8>, origin: &Path) -> Chosen {
        Chosen {
            target,
            sha256: checksum::sha256_hex(&bytes),
            size: bytes.len() as u64,
            payload: Payload::Bytes(bytes),
            origin: origin.display().to_string(),
        }
    }
}

/// Pick and verify the binary for `platform` (SPEC §6 step 3). `download(done, total)`
/// follows a release download. `Source::Build` builds here: building on the host is
/// deploy's part ([`crate::remote_build`]).
pub fn choose(source: &Source, platform: &Platform, download: &mut dyn FnMut(u64, u64)) -> Result<Chosen> {
    let candidates = platform.targets();
    let wanted = candidates.iter().map(|t| t.triple).collect::<Vec<_>>().join(" or ");
    match source {
        Source::Build(_) => {
            let workspace = crate::build::workspace().map_err(|e| err!(Usage, "{e}"))?;
            let mut failures = Vec::new();
            for target in &candidates {
                match crate::build::build(&workspace, crate::build::Builder::Auto, target.triple) {
                    Ok(binary) => {
                        let bytes = std::fs::read(&binary)
                            .map_err(|e| err!(Artifact, "cannot read {}: {e}", binary.display()))?;
                        target
                            .check_binary(&bytes)
                            .map_err(|why| err!(Artifact, "the build produced the wrong binary: {why}"))?;
                        return Ok(Chosen::here(*target, bytes, &binary));
                    }
                    Err(e) => failures.push(format!("{}: {e}", target.triple)),
                }
            }
            Err(err!(
                Artifact,
                "cannot build the server for this host: {}",
                failures.join("; ")
            ))
        }
        Source::Release(release) => {
            let (target, path) = release.fetch(&candidates, download)?;
            let platform = Platform {
                os: target.os.into(),
                arch: target.arch.into(),
            };
            choose(&Source::Artifact(path), &platform, &mut |_, _| {})
        }
        Source::Artifact(path) => {
            verify_beside(path)?;
            let named = path
                .file_name()
                .and_then(|n| archive::triple_of(&n.to_string_lossy()).map(str::to_owned));
            if let Some(triple) = &named
                && !candidates.iter().any(|t| t.triple == triple)
            {
                return Err(err!(
                    Artifact,
                    "{} is built for {triple}, but the host needs {wanted}",
                    path.display()
                ));
            }
            let found = archive::read_binary(path).map_err(|e| err!(Artifact, "{e}"))?;
            // A bare binary does not say musl or gnu: a static one is taken for musl.
            let mut candidates = candidates.clone();
            if named.is_none() && !is_static_elf(&found.bytes) {
                candidates.retain(|t| !t.triple.ends_with("-musl"));
            }
            let target = candidates
                .iter()
                .copied()
                .filter(|t| named.as_deref().is_none_or(|n| n == t.triple))
                .find(|t| t.check_binary(&found.bytes).is_ok());
            let Some(target) = target else {
                let why = candidates
                    .first()
                    .map(|t| t.check_binary(&found.bytes))
                    .and_then(|r| r.err())
                    .unwrap_or_default();
                return Err(err!(Artifact, "{} cannot run on this host: {why}", path.display()));
            };
            Ok(Chosen::here(target, found.bytes, path))
        }
        Source::Dist(dir) => {
            let path = candidates
                .iter()
                .flat_map(|t| [Format::TarGz, Format::Zip].map(|f| (t, dir.join(archive::archive_name(t.triple, f)))))
                .find(|(_, p)| p.is_file());
            let Some((target, path)) = path else {
                let first = candidates.first().map_or("<target>", |t| t.triple);
                return Err(err!(
                    Artifact,
                    "no archive for {wanted} in {}; build one with `cargo xtask dist --target {first}`",
                    dir.display()
                ));
            };
            verify_beside(&path)?;
            let found = archive::read_binary(&path).map_err(|e| err!(Artifact, "{e}"))?;
            target
                .check_binary(&found.bytes)
                .map_err(|why| err!(Artifact, "{} holds the wrong binary: {why}", path.display()))?;
            let chosen = Chosen::here(*target, found.bytes, &path);
            verify_manifest(dir, &path, &chosen.sha256)?;
            Ok(chosen)
        }
    }
}

/// Check `file` against `<file>.sha256` and `SHA256SUMS` beside it, where they exist.
fn verify_beside(file: &Path) -> Result<()> {
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
        let entries = checksum::parse_sums(&text).map_err(|e| err!(Artifact, "{}: {e}", list.display()))?;
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
fn verify_manifest(dir: &Path, archive_path: &Path, binary_sha256: &str) -> Result<()> {
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
