//! Bakes the target triple and the git commit into the binary, so `mlcremote --version`
//! on a remote host says exactly which build is running there.

use std::{env, path::Path, process::Command};

fn main() {
    let target = env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=MLCREMOTE_TARGET={target}");

    println!("cargo:rerun-if-env-changed=MLCREMOTE_COMMIT");
    let commit = env::var("MLCREMOTE_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MLCREMOTE_COMMIT={commit}");
}

fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    // A source tarball has no .git: then the commit is simply unknown.
    let git_dir = git(&["rev-parse", "--absolute-git-dir"])?;
    for watched in ["HEAD", "refs/heads", "packed-refs"] {
        let path = Path::new(&git_dir).join(watched);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    git(&["rev-parse", "--short=7", "HEAD"])
}
