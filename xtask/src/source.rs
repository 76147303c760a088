//! `cargo xtask dist --source`: `mlcremote-<version>-src.tar.gz`, the server's workspace
//! with every dependency vendored and the lock file, so `cargo build --offline --locked`
//! works on a host with no network (the remote build, SPEC §6).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use mlcremote_client::{
    archive::{self, Entry},
    manifest::Artifact,
};
use xshell::{Shell, cmd};

/// What of the repository the bundle needs: the server and the workspace around it.
fn wanted(path: &str) -> bool {
    path.starts_with("server/") || ["Cargo.toml", "Cargo.lock", "LICENSE", "README.md", "rustfmt.toml"].contains(&path)
}

pub fn write(sh: &Shell, out: &Path, epoch: u64) -> Result<Artifact> {
    let stem = format!("mlcremote-{}-src", env!("CARGO_PKG_VERSION"));
    let stage = tempfile::tempdir()?;
    let root = stage.path().join(&stem);
    let listed = cmd!(sh, "git ls-files -z")
        .quiet()
        .read()
        .context("--source needs a git checkout")?;
    for path in listed.split('\0').filter(|p| wanted(p)) {
        let to = root.join(path);
        std::fs::create_dir_all(to.parent().context("a file has a folder")?)?;
        std::fs::copy(sh.current_dir().join(path), &to).with_context(|| format!("cannot copy {path}"))?;
    }

    // Only the server is a member: the bundle builds what runs on the host, and its
    // vendor folder holds the server's dependencies, not the client's.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let trimmed: String = manifest
        .lines()
        .map(|line| match line {
            l if l.starts_with("members = ") => "members = [\"server\"]",
            l if l.starts_with("default-members = ") => "default-members = [\"server\"]",
            l => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    ensure!(
        trimmed.contains("members = [\"server\"]"),
        "the workspace Cargo.toml has no `members = ` line to trim"
    );
    std::fs::write(root.join("Cargo.toml"), trimmed)?;

    let manifest_path = root.join("Cargo.toml");
    let vendor = root.join("vendor");
    cmd!(
        sh,
        "cargo vendor --quiet --versioned-dirs --manifest-path {manifest_path} {vendor}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .context("cargo vendor failed")?;
    std::fs::create_dir_all(root.join(".cargo"))?;
    std::fs::write(
        root.join(".cargo/config.toml"),
        "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n[source.vendored-sources]\ndirectory = \"vendor\"\n",
    )?;

    let mut files = Vec::new();
    collect(&root, &root, &mut files)?;
    files.sort();
    let loaded: Vec<(String, Vec<u8>, u32)> = files
        .into_iter()
        .map(|(rel, path, mode)| Ok((rel, std::fs::read(&path)?, mode)))
        .collect::<Result<_>>()?;
    let entries: Vec<Entry<'_>> = loaded
        .iter()
        .map(|(name, data, mode)| Entry {
            name,
            data,
            mode: *mode,
        })
        .collect();
    let data = archive::write_tar_gz(&stem, &entries, epoch)?;
    let mut artifact = crate::dist::write_artifact(out, &format!("{stem}.tar.gz"), &data)?;
    artifact.kind = "source".into();
    Ok(artifact)
}

/// Every file below `dir` as (path relative to `root`, path, mode 0755 or 0644).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf, u32)>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            collect(root, &path, files)?;
        } else if meta.is_file() {
            let rel = path.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            files.push((rel, path, mode));
        }
    }
    Ok(())
}
