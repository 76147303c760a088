//! `cargo xtask dist` beyond the host: cross builds with zigbuild, zip, the header check,
//! the vendored source bundle, and combining per-target outputs. Checked with the real
//! `tar`, `unzip`, `sha256sum` and `qemu-aarch64-static`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use mlcremote_release::{archive, manifest::Manifest, target::Target};

fn xtask(args: &[&str]) -> Output {
    xtask_env(args, &[])
}

fn xtask_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.args(args)
        .env("SOURCE_DATE_EPOCH", "1732406400")
        .current_dir(harness::workspace_root());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &std::process::Output) -> String {
    harness::describe(out)
}

fn tool(name: &str, package: &str) -> PathBuf {
    harness::require(name, package).unwrap()
}

fn manifest(dir: &Path) -> Manifest {
    serde_json::from_str(&fs::read_to_string(dir.join("dist-manifest.json")).unwrap()).unwrap()
}

fn sums_check(dir: &Path) {
    let out = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn zigbuild_cross_builds_are_the_right_arch_run_and_reproduce() {
    harness::require("cargo-zigbuild", "cargo-zigbuild (pip install cargo-zigbuild)").unwrap();
    let qemu = tool("qemu-aarch64-static", "qemu-user-static");
    tool("unzip", "unzip");
    let targets = [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "aarch64-apple-darwin",
    ];
    // Per target, as the release's jobs build them, then combined: x86_64-musl at the
    // release profile (the build the client's `--build local` tests share), the aarch64
    // targets quickly (no other test builds them; the release workflow builds them at
    // the release profile).
    let runs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for out in &runs {
        let parts: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
        for (part, (triples, env)) in parts
            .iter()
            .zip([(&targets[..1], &[][..]), (&targets[1..], &harness::QUICK_BUILD[..])])
        {
            let mut args = vec![
                "dist",
                "--builder",
                "zigbuild",
                "--format",
                "tar.gz,zip",
                "--out",
                part.path().to_str().unwrap(),
            ];
            for t in triples {
                args.extend(["--target", t]);
            }
            let result = xtask_env(&args, env);
            assert!(result.status.success(), "{}", text(&result));
        }
        let result = xtask(&[
            "combine",
            "--out",
            out.path().to_str().unwrap(),
            parts[0].path().to_str().unwrap(),
            parts[1].path().to_str().unwrap(),
        ]);
        assert!(result.status.success(), "{}", text(&result));
    }
    let (a, b) = (runs[0].path(), runs[1].path());
    let names: Vec<String> = fs::read_dir(a)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2 + targets.len() * 4, "{names:?}");
    for name in &names {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name} differs between runs"
        );
    }
    sums_check(a);
    let m = manifest(a);
    assert_eq!(m.artifacts.len(), targets.len() * 2);

    for triple in targets {
        let target = Target::get(triple).unwrap();
        let zip = a.join(format!("mlcremote-{triple}.zip"));
        let list = Command::new("unzip").arg("-Z").arg(&zip).output().unwrap();
        let listing = String::from_utf8_lossy(&list.stdout);
        assert!(list.status.success(), "{}", text(&list));
        assert!(
            listing.contains("-rwxr-xr-x") && listing.contains(&format!("mlcremote-{triple}/mlcremote")),
            "{listing}"
        );

        let unpacked = tempfile::tempdir().unwrap();
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(a.join(format!("mlcremote-{triple}.tar.gz")))
            .arg("-C")
            .arg(unpacked.path())
            .status()
            .unwrap();
        assert!(status.success());
        let binary = unpacked.path().join(format!("mlcremote-{triple}/mlcremote"));
        let bytes = fs::read(&binary).unwrap();
        target.check_binary(&bytes).unwrap_or_else(|e| panic!("{triple}: {e}"));
        let from_zip = archive::read_binary(&zip).unwrap();
        assert_eq!(from_zip.bytes, bytes, "zip and tar.gz must hold the same binary");

        let version = match triple {
            "x86_64-unknown-linux-musl" => Some(Command::new(&binary).arg("--version").output().unwrap()),
            "aarch64-unknown-linux-musl" => Some(Command::new(&qemu).arg(&binary).arg("--version").output().unwrap()),
            _ => None,
        };
        if let Some(version) = version {
            assert!(
                String::from_utf8_lossy(&version.stdout).starts_with(&format!("mlcremote 0.1.0 ({triple}, commit ")),
                "{}",
                text(&version)
            );
        }
    }
}

#[test]
fn a_binary_of_the_wrong_architecture_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let host_binary = harness::server_binary().unwrap();
    let result = xtask(&[
        "dist",
        "--target",
        "aarch64-unknown-linux-musl",
        "--prebuilt",
        host_binary.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("refusing to package") && stderr.contains("aarch64-unknown-linux-musl needs"),
        "{stderr}"
    );
    assert!(!out.path().join("mlcremote-aarch64-unknown-linux-musl.tar.gz").exists());
}

#[test]
fn without_zigbuild_or_an_engine_auto_names_the_three_ways_and_never_runs_cross() {
    let home = std::env::var("HOME").unwrap();
    // Only rustup's proxies and the system: no cargo-zigbuild, and `docker info` has no engine.
    let path = format!("{home}/.cargo/bin:/usr/bin:/bin");
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let result = xtask_env(
        &["dist", "--target", "aarch64-unknown-linux-musl", "--out", o],
        &[("PATH", &path)],
    );
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    for way in [
        "cargo-zigbuild",
        "cargo install cross",
        "rustup target add aarch64-unknown-linux-musl",
    ] {
        assert!(stderr.contains(way), "{way} missing in: {stderr}");
    }
    let result = xtask_env(
        &[
            "dist",
            "--target",
            "aarch64-unknown-linux-musl",
            "--builder",
            "cross",
            "--out",
            o,
        ],
        &[("PATH", &path)],
    );
    assert!(
        String::from_utf8_lossy(&result.stderr).contains("needs a container engine"),
        "{}",
        text(&result)
    );
}

#[test]
fn the_source_bundle_builds_offline_from_its_vendored_dependencies() {
    let out = tempfile::tempdir().unwrap();
    let host_binary = harness::server_binary().unwrap();
    let triple = mlcremote_release::target::host_triple();
    let result = xtask(&[
        "dist",
        "--source",
        "--target",
        triple,
        "--prebuilt",
        host_binary.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", text(&result));
    sums_check(out.path());
    let m = manifest(out.path());
    let source = m
        .artifacts
        .iter()
        .find(|a| a.kind == mlcremote_release::manifest::Kind::Source)
        .unwrap();
    assert_eq!(source.name, "mlcremote-0.1.0-src.tar.gz");

    let work = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(out.path().join(&source.name))
        .arg("-C")
        .arg(work.path())
        .status()
        .unwrap();
    assert!(status.success());
    let tree = work.path().join("mlcremote-0.1.0-src");
    assert!(tree.join("Cargo.lock").is_file() && tree.join("vendor").is_dir());
    // A fresh CARGO_HOME: nothing cached, and no network is needed.
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--offline", "--locked"])
        .current_dir(&tree)
        .env("CARGO_HOME", work.path().join("cargo-home"))
        .env("CARGO_TARGET_DIR", work.path().join("target"))
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build));
    let version = Command::new(work.path().join("target/debug/mlcremote"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("mlcremote 0.1.0"),
        "{}",
        text(&version)
    );
    // The tree has no .git: the bundle carries the commit it was made from.
    let head = harness::output("git", &["rev-parse", "--short=7", "HEAD"]).unwrap();
    assert!(
        String::from_utf8_lossy(&version.stdout).contains(&format!("commit {})", head.trim())),
        "{}",
        text(&version)
    );
}

#[test]
fn combine_merges_per_target_outputs_into_one_release() {
    let binary = harness::server_binary().unwrap();
    let client = harness::binary("cargo-mlcremote", "cargo-mlcremote").unwrap();
    let parts: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    for (dir, triple) in parts
        .iter()
        .zip(["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"])
    {
        let result = xtask(&[
            "dist",
            "--target",
            triple,
            "--prebuilt",
            binary.to_str().unwrap(),
            "--out",
            dir.path().to_str().unwrap(),
        ]);
        assert!(result.status.success(), "{}", text(&result));
    }
    // And a client part, as the release's client jobs make them.
    let result = xtask(&[
        "dist",
        "--client",
        "--target",
        "x86_64-unknown-linux-gnu",
        "--prebuilt",
        client.to_str().unwrap(),
        "--out",
        parts[2].path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", text(&result));
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let result = xtask(&[
        "combine",
        "--out",
        o,
        parts[0].path().to_str().unwrap(),
        parts[1].path().to_str().unwrap(),
        parts[2].path().to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", text(&result));
    sums_check(out.path());
    let sums = fs::read_to_string(out.path().join("SHA256SUMS")).unwrap();
    let names: Vec<&str> = sums.lines().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(
        names,
        [
            "cargo-mlcremote-x86_64-unknown-linux-gnu.tar.gz",
            "mlcremote-x86_64-unknown-linux-gnu.tar.gz",
            "mlcremote-x86_64-unknown-linux-musl.tar.gz"
        ]
    );
    let merged = manifest(out.path());
    assert_eq!(merged.artifacts.len(), 3);
    let client_entry = merged
        .artifacts
        .iter()
        .find(|a| a.name.starts_with("cargo-mlcremote-"))
        .unwrap();
    assert_eq!(
        client_entry.binary.as_ref().map(|b| b.path.as_str()),
        Some("cargo-mlcremote-x86_64-unknown-linux-gnu/cargo-mlcremote")
    );

    // A tampered part is refused.
    let bad = parts[1].path().join("mlcremote-x86_64-unknown-linux-musl.tar.gz");
    fs::write(&bad, b"tampered").unwrap();
    let again = tempfile::tempdir().unwrap();
    let result = xtask(&[
        "combine",
        "--out",
        again.path().to_str().unwrap(),
        parts[0].path().to_str().unwrap(),
        parts[1].path().to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    assert!(
        String::from_utf8_lossy(&result.stderr).contains("but its manifest says"),
        "{}",
        text(&result)
    );
}

/// `cargo binstall cargo-mlcremote` finds the archives `dist --client` makes, for every
/// client release target, and the binary inside.
#[test]
fn binstall_metadata_points_at_the_client_archives() {
    let root = harness::workspace_root();
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let package = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "cargo-mlcremote")
        .unwrap();
    let binstall = &package["metadata"]["binstall"];
    let version = package["version"].as_str().unwrap();
    let repo = package["repository"].as_str().unwrap();
    for target in mlcremote_release::target::default_client_targets() {
        let over = &binstall["overrides"][target.triple];
        let pkg_url = over["pkg-url"].as_str().or(binstall["pkg-url"].as_str()).unwrap();
        let url = pkg_url
            .replace("{ repo }", repo)
            .replace("{ version }", version)
            .replace("{ target }", target.triple);
        let format = if target.is_windows() {
            mlcremote_release::archive::Format::Zip
        } else {
            mlcremote_release::archive::Format::TarGz
        };
        let archive = mlcremote_release::archive::Product::Client.archive_name(target.triple, format);
        assert_eq!(url, format!("{repo}/releases/download/v{version}/{archive}"));
        let bin_dir = binstall["bin-dir"]
            .as_str()
            .unwrap()
            .replace("{ target }", target.triple)
            .replace("{ bin }", "cargo-mlcremote")
            .replace("{ binary-ext }", if target.is_windows() { ".exe" } else { "" });
        let product = mlcremote_release::archive::Product::Client;
        assert_eq!(
            bin_dir,
            format!("{}/{}", product.stem(target.triple), product.binary_file(target))
        );
    }
}
