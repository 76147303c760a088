//! Choosing the server binary to deploy for a host's platform and verifying it: from
//! `--artifact` or `--dist` ([`local`]), a published release ([`release`]), or built here
//! for the host's target (`--build local`). Building on the host is deploy's part.

pub mod local;
pub mod release;

use std::path::{Path, PathBuf};

use mlcremote_release::{
    archive::{self, Format},
    checksum,
    target::{Platform, Target, is_static_elf},
};
use serde::Serialize;

use crate::{err, error::Result};

/// What deploy takes when no source is given (SPEC §6): `dist/` when it has an archive
/// for the host, else this client's own release (from `repo` or the workspace's), and
/// that release, whose source bundle `--build` falls back to.
pub fn default_source(base_url: Option<String>, repo: Option<String>) -> (Source, Option<release::Release>) {
    let own = release::Release::own_from(release::base_url(base_url), repo);
    let dist = std::path::PathBuf::from("dist");
    let source = match own.clone() {
        Some(release) => Source::Default { dist, release },
        None => Source::Dist(dist),
    };
    (source, own)
}

/// Where deploy takes the server binary from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `--artifact PATH`: a `.tar.gz` or a bare binary.
    Artifact(PathBuf),
    /// `--dist DIR`: the output of `cargo xtask dist`.
    Dist(PathBuf),
    /// `--release TAG`: a published release, downloaded and cached.
    Release(release::Release),
    /// `--build`: build the server from the source tree we run in.
    Build(BuildWhere),
    /// No source given (SPEC §6): `dist/` when it holds an archive for the host, else
    /// the release of this client's own version.
    Default { dist: PathBuf, release: release::Release },
}

impl Source {
    /// What can be read here before the host is known: `--artifact`, `--dist`, or the
    /// `dist/` folder a default deploy looks in first (when it exists).
    pub fn local(&self) -> Option<Source> {
        match self {
            Source::Artifact(_) | Source::Dist(_) => Some(self.clone()),
            Source::Default { dist, .. } if dist.is_dir() => Some(Source::Dist(dist.clone())),
            _ => None,
        }
    }
}

/// In plain words, for front ends that show where the binary will come from.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Artifact(path) => write!(f, "the file {}", path.display()),
            Source::Dist(dir) => write!(f, "the archives in {}", dir.display()),
            Source::Release(r) => write!(f, "release {} of {}", r.tag, r.repo),
            Source::Build(how) => write!(f, "a build ({})", how.name()),
            Source::Default { dist, release } => write!(
                f,
                "{} when it holds an archive for the host, else release {} of {}",
                dist.display(),
                release.tag,
                release.repo
            ),
        }
    }
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

impl BuildWhere {
    pub fn name(self) -> &'static str {
        match self {
            BuildWhere::Local => "local",
            BuildWhere::Remote => "remote",
            BuildWhere::Auto => "auto",
        }
    }
}

/// What kind of source a binary came from, for reports and plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--artifact`.
    Artifact,
    /// A `cargo xtask dist` folder.
    Dist,
    /// A published release.
    Release,
    /// Built on this machine.
    BuiltHere,
    /// Built on the host.
    BuiltOnHost,
}

/// The binary chosen for one host, verified.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub target: Target,
    pub sha256: String,
    pub size: u64,
    pub payload: Payload,
    pub origin: Origin,
    /// Where it came from, for messages: a path, or "built on <host> with <way>".
    pub from: String,
    /// The server version inside, read from the binary.
    pub version: Option<String>,
    /// The `.tar.gz` the binary came in, when it came in one.
    pub packed: Option<Packed>,
}

/// A `.tar.gz` as read from disk and the binary's path inside it: sent to a host as it
/// is, rather than compressing the binary again.
#[derive(Clone, Debug)]
pub struct Packed {
    pub archive: std::sync::Arc<[u8]>,
    pub inner: std::sync::Arc<str>,
}

impl Packed {
    /// The archive at `path`, when it is a `.tar.gz` and the binary came out of it.
    fn read(path: &Path, inner: Option<&str>) -> Option<Packed> {
        let inner = inner?;
        if !path.to_string_lossy().ends_with(".tar.gz") {
            return None;
        }
        // Read a second time (from the page cache): unreadable now, it is simply not used.
        let archive = std::fs::read(path).ok()?;
        Some(Packed {
            archive: archive.into(),
            inner: inner.into(),
        })
    }
}

/// Where the chosen binary is.
#[derive(Clone, Debug)]
pub enum Payload {
    /// Here: deploy uploads it.
    Bytes(std::sync::Arc<[u8]>),
    /// Already on the host (built there): deploy copies it into place.
    OnHost(String),
    /// A release archive the host downloads itself (`--download-on host|auto`).
    Url(Box<release::Remote>),
}

/// Who downloads a release archive (`--download-on`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum DownloadOn {
    /// The host, when it has curl or wget and reaches the URL; else this machine.
    #[default]
    Auto,
    /// The host; a host that cannot is an error.
    Host,
    /// This machine, which then uploads the binary.
    Client,
}

impl Chosen {
    /// A release archive for the host to download: what it must hold is known from the
    /// release's `SHA256SUMS` and `dist-manifest.json`.
    pub fn remote(remote: release::Remote) -> Chosen {
        Chosen {
            target: remote.target,
            sha256: remote.binary_sha256.clone(),
            size: remote.binary_size,
            version: Some(remote.version.clone()),
            origin: Origin::Release,
            from: remote.url.clone(),
            payload: Payload::Url(Box::new(remote)),
            packed: None,
        }
    }

    fn here(target: Target, bytes: Vec<u8>, origin: Origin, from: &Path, packed: Option<Packed>) -> Chosen {
        Chosen {
            packed,
            target,
            sha256: checksum::sha256_hex(&bytes),
            size: bytes.len() as u64,
            version: mlcremote_release::target::embedded_version(&bytes, target.triple),
            payload: Payload::Bytes(bytes.into()),
            origin,
            from: from.display().to_string(),
        }
    }
}

/// What choosing reports on the way.
pub enum Progress<'a> {
    /// A release archive coming in (`total` 0 when the server did not say).
    Download { done: u64, total: u64 },
    /// A line a local build printed.
    Build(&'a str),
}

/// Pick and verify the binary for `platform` (SPEC §6 step 3). `Source::Build` builds
/// here: building on the host is deploy's part.
pub fn choose(source: &Source, platform: &Platform, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Chosen> {
    let candidates = platform.targets();
    match source {
        Source::Build(_) => {
            let workspace = mlcremote_release::build::workspace_at(&std::env::current_dir()?)?;
            build_here(&workspace, platform, progress)
        }
        Source::Release(release) => {
            let (target, path) = release.fetch(&candidates, &mut |done, total| {
                progress(Progress::Download { done, total })
            })?;
            let platform = Platform {
                os: target.os.into(),
                arch: target.arch.into(),
            };
            let mut chosen = choose(&Source::Artifact(path), &platform, &mut |_| {})?;
            chosen.origin = Origin::Release;
            Ok(chosen)
        }
        Source::Artifact(_) | Source::Dist(_) => match load(source)? {
            Some(loaded) => pick(&loaded, platform),
            None => Err(err!(Other, "nothing to load from {source:?}")),
        },
        Source::Default { dist, release } => {
            let from_dist = dist
                .is_dir()
                .then(|| choose(&Source::Dist(dist.clone()), platform, progress));
            match from_dist {
                Some(Ok(chosen)) => Ok(chosen),
                _ => choose(&Source::Release(release.clone()), platform, progress),
            }
        }
    }
}

/// Build the server for `platform` here, in the source tree `workspace` (a checkout, or
/// a release's unpacked source bundle), trying its targets in order.
pub fn build_here(workspace: &Path, platform: &Platform, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Chosen> {
    let mut failures = Vec::new();
    for target in &platform.targets() {
        let built = mlcremote_release::build::build(
            workspace,
            mlcremote_release::build::Builder::Auto,
            target.triple,
            &mut |line| progress(Progress::Build(line)),
        );
        match built {
            Ok(binary) => {
                let bytes =
                    std::fs::read(&binary).map_err(|e| err!(Artifact, "cannot read {}: {e}", binary.display()))?;
                target
                    .check_binary(&bytes)
                    .map_err(|why| err!(Artifact, "the build produced the wrong binary: {why}"))?;
                return Ok(Chosen::here(*target, bytes, Origin::BuiltHere, &binary, None));
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

/// What an `--artifact` or `--dist` holds, read, verified and hashed before the host's
/// platform is known (while connecting): then choosing for a host costs nothing.
pub enum Loaded {
    /// One binary (from a file or an archive).
    Artifact {
        path: PathBuf,
        /// The target its archive name says, if it is named like ours.
        named: Option<String>,
        bytes: std::sync::Arc<[u8]>,
        sha256: String,
        packed: Option<Packed>,
    },
    /// A dist folder: for each target it has an archive for, the verified binary or why not.
    Dist {
        dir: PathBuf,
        found: Vec<(Target, Result<Chosen>)>,
    },
}

/// Read and verify what `source` holds; `None` for sources that need the host first
/// (a release, a build).
pub fn load(source: &Source) -> Result<Option<Loaded>> {
    match source {
        Source::Artifact(path) => {
            local::verify_beside(path)?;
            let named = path
                .file_name()
                .and_then(|n| archive::triple_of(&n.to_string_lossy()).map(str::to_owned));
            let found = archive::read_binary(path)?;
            // Any executable would upload and run; only one of ours carries the mark.
            if mlcremote_release::target::version_mark(&found.bytes).is_none() {
                return Err(err!(
                    Artifact,
                    "{} is not an mlcremote server: it carries no mlcremote version mark (every server this \
                     project builds does); pass an archive or binary from `cargo xtask dist` or a release",
                    path.display()
                ));
            }
            let sha256 = checksum::sha256_hex(&found.bytes);
            Ok(Some(Loaded::Artifact {
                path: path.clone(),
                named,
                packed: Packed::read(path, found.inner_path.as_deref()),
                bytes: found.bytes.into(),
                sha256,
            }))
        }
        Source::Dist(dir) => {
            let mut found = Vec::new();
            for target in mlcremote_release::target::TARGETS {
                let path = [Format::TarGz, Format::Zip]
                    .map(|f| dir.join(archive::archive_name(target.triple, f)))
                    .into_iter()
                    .find(|p| p.is_file());
                let Some(path) = path else { continue };
                let chosen = (|| {
                    local::verify_beside(&path)?;
                    let found = archive::read_binary(&path)?;
                    target
                        .check_binary(&found.bytes)
                        .map_err(|why| err!(Artifact, "{} holds the wrong binary: {why}", path.display()))?;
                    let packed = Packed::read(&path, found.inner_path.as_deref());
                    let chosen = Chosen::here(*target, found.bytes, Origin::Dist, &path, packed);
                    local::verify_manifest(dir, &path, &chosen.sha256)?;
                    Ok(chosen)
                })();
                found.push((*target, chosen));
            }
            Ok(Some(Loaded::Dist {
                dir: dir.clone(),
                found,
            }))
        }
        Source::Release(_) | Source::Build(_) | Source::Default { .. } => Ok(None),
    }
}

/// The binary of `loaded` for `platform` (SPEC §6 step 3): pure, no I/O.
pub fn pick(loaded: &Loaded, platform: &Platform) -> Result<Chosen> {
    let candidates = platform.targets();
    let wanted = candidates.iter().map(|t| t.triple).collect::<Vec<_>>().join(" or ");
    match loaded {
        Loaded::Artifact {
            path,
            named,
            bytes,
            sha256,
            packed,
        } => {
            if let Some(triple) = named
                && !candidates.iter().any(|t| t.triple == triple)
            {
                return Err(err!(
                    Artifact,
                    "{} is built for {triple}, but the host needs {wanted}",
                    path.display()
                ));
            }
            // A bare binary does not say musl or gnu: a static one is taken for musl.
            let mut candidates = candidates.clone();
            if named.is_none() && !is_static_elf(bytes) {
                candidates.retain(|t| !t.triple.ends_with("-musl"));
            }
            let target = candidates
                .iter()
                .copied()
                .filter(|t| named.as_deref().is_none_or(|n| n == t.triple))
                .find(|t| t.check_binary(bytes).is_ok());
            let Some(target) = target else {
                let why = candidates
                    .first()
                    .map(|t| t.check_binary(bytes))
                    .and_then(|r| r.err())
                    .map_or_else(|| "no target fits".to_string(), |e| e.to_string());
                return Err(err!(Artifact, "{} cannot run on this host: {why}", path.display()));
            };
            Ok(Chosen {
                target,
                sha256: sha256.clone(),
                size: bytes.len() as u64,
                version: mlcremote_release::target::embedded_version(bytes, target.triple),
                payload: Payload::Bytes(bytes.clone()),
                origin: Origin::Artifact,
                from: path.display().to_string(),
                packed: packed.clone(),
            })
        }
        Loaded::Dist { dir, found } => {
            let hit = candidates
                .iter()
                .find_map(|t| found.iter().find(|(f, _)| f == t).map(|(_, chosen)| chosen));
            match hit {
                Some(Ok(chosen)) => Ok(chosen.clone()),
                Some(Err(e)) => Err(crate::error::Error::new(e.kind(), e.message())),
                None => {
                    let first = candidates.first().map_or("<target>", |t| t.triple);
                    Err(err!(
                        Artifact,
                        "no archive for {wanted} in {}; build one with `cargo xtask dist --target {first}`",
                        dir.display()
                    ))
                }
            }
        }
    }
}
