//! `deploy --release TAG`: fetch a published release's archive for the host's target,
//! verified against the release's `SHA256SUMS`, and cached under the user cache dir so a
//! second deploy needs no network (SPEC §6).

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use sha2::{Digest, Sha256};

use mlcremote_release::{
    archive::{self, Format},
    checksum,
    manifest::{MANIFEST_NAME, Manifest, SUMS_NAME},
    target::Target,
};

use crate::{
    err,
    error::{Error, Kind, Result},
};

/// Where a release lives.
#[derive(Clone, Debug)]
pub struct Release {
    pub tag: String,
    /// `OWNER/NAME`.
    pub repo: String,
    /// `https://github.com`, or a mirror laid out the same way.
    pub base_url: String,
}

/// A release archive for the host to download itself (`--download-on host`).
#[derive(Clone, Debug)]
pub struct Remote {
    pub url: String,
    pub target: Target,
    /// Of the archive, from `SHA256SUMS`.
    pub archive_sha256: String,
    /// The binary inside it, from `dist-manifest.json`.
    pub inner: String,
    pub binary_sha256: String,
    pub binary_size: u64,
    pub version: String,
}

/// Downloads larger than this are refused (not a release of ours).
const MAX_DOWNLOAD: u64 = 512 * 1024 * 1024;
const ATTEMPTS: u32 = 3;

/// Where a mirror of GitHub Releases is, when not github.com (SPEC §6).
pub const BASE_URL_ENV: &str = "MLCREMOTE_RELEASE_BASE_URL";
pub const GITHUB: &str = "https://github.com";

/// `given` (a `--base-url`), else `$MLCREMOTE_RELEASE_BASE_URL`, else GitHub.
pub fn base_url(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var(BASE_URL_ENV).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| GITHUB.to_string())
}

/// `repo` from `[workspace.metadata.mlcremote]` of the workspace we run in, if any.
pub fn workspace_repo() -> Option<String> {
    let here = std::env::current_dir().ok()?;
    mlcremote_release::build::project_defaults(&here)?["repo"]
        .as_str()
        .map(str::to_owned)
}

impl Release {
    /// The release of this client's own version (SPEC §6) at `base_url`, from `repo`,
    /// else the workspace's `repo`, else the repository the client was built from.
    pub fn own_from(base_url: String, repo: Option<String>) -> Option<Release> {
        let own = Release::own(base_url)?;
        let repo = repo.or_else(workspace_repo).unwrap_or(own.repo.clone());
        Some(Release { repo, ..own })
    }

    /// The release of this client's own version from the repository it was built from
    /// (`repository` in its Cargo.toml), at `base_url`.
    pub fn own(base_url: String) -> Option<Release> {
        let repo = env!("CARGO_PKG_REPOSITORY")
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .strip_prefix("https://github.com/")?
            .to_string();
        Some(Release {
            tag: format!("v{}", env!("CARGO_PKG_VERSION")),
            repo,
            base_url,
        })
    }

    fn url(&self, file: &str) -> String {
        format!(
            "{}/{}/releases/download/{}/{file}",
            self.base_url.trim_end_matches('/'),
            self.repo,
            self.tag
        )
    }

    fn cache_dir(&self) -> Result<PathBuf> {
        let base = dirs::cache_dir().ok_or_else(|| err!(Other, "no user cache dir on this machine"))?;
        let safe = |s: &str| s.replace(['/', '\\', ':'], "_");
        Ok(base
            .join("mlcremote")
            .join("releases")
            .join(safe(&self.repo))
            .join(safe(&self.tag)))
    }

    /// The verified archive for the first of `candidates` the release has, from the cache
    /// or downloaded. `progress(done, total)` follows a download.
    pub fn fetch(&self, candidates: &[Target], progress: &mut dyn FnMut(u64, u64)) -> Result<(Target, PathBuf)> {
        let cache = self.cache_dir()?;
        let (target, name, sha) = self.listed(candidates)?;
        let path = cache.join(&name);
        if path.is_file() && checksum::sha256_file(&path).is_ok_and(|s| s == sha) {
            return Ok((target, path));
        }
        self.download_to(&name, Some(&sha), &path, progress)
            .map_err(|e| self.unreachable(e, &name))?;
        Ok((target, path))
    }

    /// The release's vendored source bundle (`mlcremote-<version>-src.tar.gz`), verified
    /// against `SHA256SUMS` and cached: what `--build` builds from outside a checkout.
    pub fn source_bundle(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<mlcremote_release::source::Bundle> {
        let sums = self.small_file(SUMS_NAME)?;
        let sums = checksum::parse_sums(&sums)
            .map_err(|e| Error::from(e).context(format_args!("{SUMS_NAME} of {} {}", self.repo, self.tag)))?;
        let (sha, name) = sums
            .iter()
            .find(|(_, n)| n.starts_with("mlcremote-") && n.ends_with("-src.tar.gz"))
            .ok_or_else(|| {
                err!(
                    Artifact,
                    "release {} of {} has no source bundle (mlcremote-<version>-src.tar.gz) to build from",
                    self.tag,
                    self.repo
                )
            })?;
        let path = self.cache_dir()?.join(name);
        if !(path.is_file() && checksum::sha256_file(&path).is_ok_and(|s| s == *sha)) {
            self.download_to(name, Some(sha), &path, progress)
                .map_err(|e| self.unreachable(e, name))?;
        }
        let data = std::fs::read(&path).map_err(|e| err!(Artifact, "cannot read {}: {e}", path.display()))?;
        Ok(mlcremote_release::source::Bundle {
            stem: name.trim_end_matches(".tar.gz").to_string(),
            data,
        })
    }

    /// What the host needs to download the archive itself, verified against what the
    /// release says: its URL and sha256 (`SHA256SUMS`), and the binary's path, size and
    /// sha256 inside it (`dist-manifest.json`). `None` when the release does not say
    /// (then the client downloads and uploads).
    pub fn remote(&self, candidates: &[Target]) -> Result<Option<Remote>> {
        let (target, name, sha) = self.listed(candidates)?;
        if !name.ends_with(".tar.gz") {
            return Ok(None);
        }
        let manifest = self.small_file(MANIFEST_NAME)?;
        let manifest: Manifest = serde_json::from_str(&manifest).map_err(|e| {
            err!(
                Artifact,
                "{MANIFEST_NAME} of {} {} is not valid: {e}",
                self.repo,
                self.tag
            )
        })?;
        let Some(binary) = manifest
            .artifacts
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.binary.clone())
        else {
            return Ok(None);
        };
        Ok(Some(Remote {
            url: self.url(&name),
            target,
            archive_sha256: sha,
            inner: binary.path,
            binary_sha256: binary.sha256,
            binary_size: binary.size,
            version: manifest.version,
        }))
    }

    /// The release's archive for the first of `candidates` it lists: target, name, sha256.
    fn listed(&self, candidates: &[Target]) -> Result<(Target, String, String)> {
        let sums = self.small_file(SUMS_NAME)?;
        let sums = checksum::parse_sums(&sums)
            .map_err(|e| Error::from(e).context(format_args!("{SUMS_NAME} of {} {}", self.repo, self.tag)))?;
        let listed = candidates.iter().find_map(|t| {
            [Format::TarGz, Format::Zip].into_iter().find_map(|f| {
                let name = archive::archive_name(t.triple, f);
                sums.iter()
                    .find(|(_, n)| *n == name)
                    .map(|(sha, _)| (*t, name, sha.clone()))
            })
        });
        listed.ok_or_else(|| {
            let wanted: Vec<&str> = candidates.iter().map(|t| t.triple).collect();
            err!(
                Artifact,
                "release {} of {} has no archive for {}",
                self.tag,
                self.repo,
                wanted.join(" or ")
            )
        })
    }

    /// `SHA256SUMS` or `dist-manifest.json`: fresh when the network allows, the cached
    /// copy otherwise.
    fn small_file(&self, name: &str) -> Result<String> {
        let cache = self.cache_dir()?;
        std::fs::create_dir_all(&cache).map_err(|e| err!(Other, "cannot create {}: {e}", cache.display()))?;
        let path = cache.join(name);
        match self.download_to(name, None, &path, &mut |_, _| {}) {
            Ok(()) => Ok(std::fs::read_to_string(&path)?),
            Err(e) if path.is_file() && e.kind() == Kind::Connect => Ok(std::fs::read_to_string(&path)?),
            Err(e) => Err(self.unreachable(e, name)),
        }
    }

    /// A download that failed for good: exit 6, naming the URL (a network error is not
    /// an SSH connection problem).
    fn unreachable(&self, error: Error, file: &str) -> Error {
        if error.kind() != Kind::Connect {
            return error;
        }
        err!(
            Artifact,
            "cannot download release {} of {}: {}; check the network, or point --base-url (or \
             MLCREMOTE_RELEASE_BASE_URL) at a mirror",
            self.tag,
            self.repo,
            error.message()
        )
        .with_detail(format!("url: {}", self.url(file)))
    }

    /// Download `file` to `to` through a temp file; with `sha`, refuse (exit 6) and keep
    /// nothing if the bytes do not match. Bounded retries with backoff on network errors.
    fn download_to(&self, file: &str, sha: Option<&str>, to: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let url = self.url(file);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut last: Option<Error> = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(300 << attempt));
            }
            match self.try_download(&agent, &url, sha, to, progress) {
                Ok(()) => return Ok(()),
                // Only the network is worth another try; a 404 or a bad checksum is final.
                Err(e) if e.kind() == Kind::Connect => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| err!(Connect, "cannot download {url}")))
    }

    fn try_download(
        &self,
        agent: &ureq::Agent,
        url: &str,
        sha: Option<&str>,
        to: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<()> {
        let mut response = match agent.get(url).call() {
            Ok(r) => r,
            Err(ureq::Error::StatusCode(404)) => {
                return Err(err!(
                    Artifact,
                    "{url} does not exist (404); check --release, --repo and --base-url"
                ));
            }
            Err(ureq::Error::StatusCode(code)) => return Err(err!(Connect, "GET {url} answered {code}")),
            Err(e) => return Err(err!(Connect, "cannot download {url}: {e}")),
        };
        let total = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let dir = to.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        let mut reader = response.body_mut().as_reader();
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut done = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| err!(Connect, "download of {url} broke off: {e}"))?;
            if n == 0 {
                break;
            }
            done += n as u64;
            if done > MAX_DOWNLOAD {
                return Err(err!(Artifact, "{url} is larger than {MAX_DOWNLOAD} bytes; refusing it"));
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])?;
            progress(done, total);
        }
        let actual = hex::encode(hasher.finalize());
        if let Some(expected) = sha
            && actual != expected
        {
            return Err(err!(
                Artifact,
                "checksum mismatch: {url} has sha256 {actual}, but the release's {SUMS_NAME} says {expected}; refusing it"
            ));
        }
        tmp.as_file().sync_all()?;
        tmp.persist(to)
            .map_err(|e| err!(Other, "cannot write {}: {}", to.display(), e.error))?;
        Ok(())
    }
}
