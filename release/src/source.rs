//! The server's source bundle, `mlcremote-<version>-src.tar.gz`: the server's workspace
//! with every dependency vendored and the lock file, so `cargo build --offline --locked`
//! works on a host with no network. `cargo xtask dist --source` ships it; `deploy --build
//! remote` uploads it and builds on the host (SPEC §6).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::archive::{self, Entry};

/// A bundle made from a source tree.
pub struct Bundle {
    /// `mlcremote-<version>-src`: the archive's one top folder.
    pub stem: String,
    /// The `.tar.gz` itself.
    pub data: Vec<u8>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bundle({}, {} bytes)", self.stem, self.data.len())
    }
}

impl Bundle {
    pub fn file_name(&self) -> String {
        format!("{}.tar.gz", self.stem)
    }
}

impl Bundle {
    /// Unpack into `dir` (once: an earlier unpacking of the same bytes is reused, so a
    /// second build is incremental); returns the source tree, `<dir>/<stem>`.
    pub fn unpack(&self, dir: &Path) -> Result<PathBuf, BundleError> {
        let tree = dir.join(&self.stem);
        let stamp = dir.join(format!("{}.sha256", self.stem));
        let sha = crate::checksum::sha256_hex(&self.data);
        if tree.is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == sha) {
            return Ok(tree);
        }
        let failed = |e: std::io::Error| {
            BundleError(format!(
                "cannot unpack {} into {}: {e}",
                self.file_name(),
                dir.display()
            ))
        };
        if tree.exists() {
            std::fs::remove_dir_all(&tree).map_err(failed)?;
        }
        std::fs::create_dir_all(dir).map_err(failed)?;
        // tar refuses entries that would land outside `dir` (absolute, `..`).
        tar::Archive::new(flate2::read::GzDecoder::new(&self.data[..]))
            .unpack(dir)
            .map_err(failed)?;
        if !tree.join("Cargo.toml").is_file() {
            return Err(BundleError(format!(
                "{} holds no {}/Cargo.toml",
                self.file_name(),
                self.stem
            )));
        }
        std::fs::write(&stamp, &sha).map_err(failed)?;
        Ok(tree)
    }
}

/// `mlcremote-<version>-src`: the bundle's one top folder, and its name without `.tar.gz`.
pub fn stem() -> String {
    format!("mlcremote-{}-src", env!("CARGO_PKG_VERSION"))
}

/// What of the repository the bundle needs: the server, the contract it shares with the
/// client, and the workspace around them.
fn wanted(path: &str) -> bool {
    path.starts_with("server/")
        || path.starts_with("contract/")
        || ["Cargo.toml", "Cargo.lock", "LICENSE", "README.md", "rustfmt.toml"].contains(&path)
}

/// Why the source bundle could not be made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot make the source bundle: {0}")]
pub struct BundleError(String);

impl From<String> for BundleError {
    fn from(why: String) -> BundleError {
        BundleError(why)
    }
}

/// Bundle the server of the git checkout `workspace`; every file gets mtime `epoch`.
pub fn bundle(workspace: &Path, epoch: u64) -> Result<Bundle, BundleError> {
    bundle_inner(workspace, epoch).map_err(BundleError)
}

fn bundle_inner(workspace: &Path, epoch: u64) -> Result<Bundle, String> {
    let stem = stem();
    let stage = tempfile::tempdir().map_err(|e| format!("cannot make a temp dir: {e}"))?;
    let root = stage.path().join(&stem);
    // What the working tree has: tracked files and new ones not ignored, so a build on
    // the host builds what is here (a release is made from a clean checkout anyway).
    let listed = run(Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(workspace))
    .map_err(|e| format!("the source bundle needs a git checkout: {e}"))?;
    let present = |p: &&str| workspace.join(p).is_file();
    for path in listed.split('\0').filter(|p| wanted(p)).filter(present) {
        let to = root.join(path);
        let copied = std::fs::create_dir_all(to.parent().unwrap_or(&root))
            .and_then(|()| std::fs::copy(workspace.join(path), &to));
        copied.map_err(|e| format!("cannot copy {path}: {e}"))?;
    }

    // Only the server is a member (and the contract, a path dependency of it): the
    // bundle builds what runs on the host, and its vendor folder holds the server's
    // dependencies, not the client's. The `[patch]` tables go too: what they patch
    // (third_party/, not in the bundle) is the client's alone.
    let manifest = read(&root.join("Cargo.toml"))?;
    let mut in_patch = false;
    let trimmed: String = manifest
        .lines()
        .filter(|line| {
            if line.starts_with('[') {
                in_patch = line.starts_with("[patch.");
            }
            !in_patch
        })
        .map(|line| match line {
            l if l.starts_with("members = ") => "members = [\"server\"]",
            l if l.starts_with("default-members = ") => "default-members = [\"server\"]",
            l => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if !trimmed.contains("members = [\"server\"]") {
        return Err("the workspace Cargo.toml has no `members = ` line to trim".into());
    }
    write(&root.join("Cargo.toml"), &trimmed)?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .args(["vendor", "--quiet", "--versioned-dirs", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg(root.join("vendor")))
    .map_err(|e| format!("cargo vendor failed: {e}"))?;
    // The commit goes in as configuration: the unpacked bundle has no .git of its own,
    // and a .git above wherever it is unpacked must not be taken for ours.
    let commit = run(Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .current_dir(workspace))
    .map(|c| c.trim().to_string())
    .unwrap_or_else(|_| "unknown".into());
    std::fs::create_dir_all(root.join(".cargo")).map_err(|e| format!("cannot create .cargo: {e}"))?;
    write(
        &root.join(".cargo/config.toml"),
        &format!(
            "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\n\
             directory = \"vendor\"\n\n[env]\nMLCREMOTE_COMMIT = \"{commit}\"\n"
        ),
    )?;

    let mut files = Vec::new();
    collect(&root, &root, &mut files).map_err(|e| format!("cannot list the bundle: {e}"))?;
    files.sort();
    let loaded: Vec<(String, Vec<u8>, u32)> = files
        .into_iter()
        .map(|(rel, path, mode)| std::fs::read(&path).map(|data| (rel, data, mode)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read the bundle: {e}"))?;
    let entries: Vec<Entry<'_>> = loaded
        .iter()
        .map(|(name, data, mode)| Entry {
            name,
            data,
            mode: *mode,
        })
        .collect();
    let data = archive::write_tar_gz(&stem, &entries, epoch).map_err(|e| format!("cannot pack the bundle: {e}"))?;
    Ok(Bundle { stem, data })
}

/// Every file below `dir` as (path relative to `root`, path, mode 0755 or 0644).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf, u32)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            collect(root, &path, files)?;
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            files.push((rel, path, if executable(&meta) { 0o755 } else { 0o644 }));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &std::fs::Metadata) -> bool {
    false
}

/// Run a command; its stdout, or its stderr as the error.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
