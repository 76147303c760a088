//! `cargo xtask dist` for the host, checked with the real `tar` and `sha256sum`, then
//! deployed with `cargo mlcremote deploy --dist` into a real sshd: the walking skeleton
//! end to end.

use std::{
    fs,
    path::Path,
    process::{Command, Output},
};

use mlcremote_release::{manifest::Manifest, target};

const EPOCH: &str = "1732406400";

fn dist(out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dist", "--out"])
        .arg(out)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(harness::workspace_root())
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    harness::describe(out)
}

#[test]
fn dist_packages_reproducible_verified_archives_that_deploy() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let out = dist(a.path());
    assert!(out.status.success(), "{}", text(&out));
    let out = dist(b.path());
    assert!(out.status.success(), "{}", text(&out));

    let triple = target::host_triple();
    let archive = format!("mlcremote-{triple}.tar.gz");
    let mut names: Vec<String> = fs::read_dir(a.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "SHA256SUMS",
            "dist-manifest.json",
            archive.as_str(),
            &format!("{archive}.sha256")
        ]
    );
    for name in &names {
        assert_eq!(
            fs::read(a.path().join(name)).unwrap(),
            fs::read(b.path().join(name)).unwrap(),
            "{name} differs between runs"
        );
    }

    // The real tools agree.
    let check = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(a.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));
    assert_eq!(String::from_utf8_lossy(&check.stdout), format!("{archive}: OK\n"));
    let check = Command::new("sha256sum")
        .args(["-c", &format!("{archive}.sha256")])
        .current_dir(a.path())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check));

    let list = Command::new("tar")
        .args(["--utc", "-tzvf", &archive])
        .current_dir(a.path())
        .output()
        .unwrap();
    assert!(list.status.success(), "{}", text(&list));
    let listing = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<Vec<&str>> = listing.lines().map(|l| l.split_whitespace().collect()).collect();
    let top = format!("mlcremote-{triple}/");
    let paths: Vec<&str> = lines.iter().map(|l| l[5]).collect();
    let want = [
        top.clone(),
        format!("{top}LICENSE"),
        format!("{top}README.md"),
        format!("{top}mlcremote"),
    ];
    assert_eq!(paths, want, "{listing}");
    for l in &lines {
        assert_eq!(l[1], "0/0", "owner must be uid/gid 0 with no names: {listing}");
        assert_eq!(
            (l[3], l[4]),
            ("2024-11-24", "00:00"),
            "mtime must be SOURCE_DATE_EPOCH: {listing}"
        );
    }
    assert_eq!(lines[0][0], "drwxr-xr-x");
    assert_eq!(lines[3][0], "-rwxr-xr-x", "the binary must be 0755: {listing}");

    // Unpacked with the real tar, the binary runs and says what it is.
    let unpack = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(a.path().join(&archive))
        .arg("-C")
        .arg(unpack.path())
        .status()
        .unwrap();
    assert!(status.success());
    let version = Command::new(unpack.path().join(&top).join("mlcremote"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with(&format!("mlcremote 0.1.0 ({triple}, commit ")));

    let manifest: Manifest =
        serde_json::from_str(&fs::read_to_string(a.path().join("dist-manifest.json")).unwrap()).unwrap();
    assert_eq!(
        (manifest.schema, manifest.name.as_str(), manifest.version.as_str()),
        (1, "mlcremote", "0.1.0")
    );
    assert_eq!(manifest.source_date_epoch, 1_732_406_400);
    let art = &manifest.artifacts[0];
    assert_eq!(art.name, archive);
    assert_eq!(art.target.as_deref(), Some(triple));
    assert_eq!(art.size, fs::metadata(a.path().join(&archive)).unwrap().len());
    let binary = art.binary.as_ref().unwrap();
    assert_eq!(binary.path, format!("{top}mlcremote"));
    let unpacked = unpack.path().join(&top).join("mlcremote");
    assert_eq!(
        binary.sha256,
        mlcremote_release::checksum::sha256_file(&unpacked).unwrap()
    );

    // And deploy takes it from there.
    let sshd = harness::Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut deploy = Command::new(harness::binary("cargo-mlcremote", "cargo-mlcremote").unwrap());
    deploy
        .args([
            "mlcremote",
            "deploy",
            "--host",
            &sshd.destination(&user),
            "--json",
            "-i",
        ])
        .arg(&user.key)
        .arg("--known-hosts")
        .arg(sshd.known_hosts().unwrap())
        .arg("--dist")
        .arg(a.path())
        .env("HOME", home.path());
    if let Some(dir) = &user.install_dir {
        deploy.arg("--install-dir").arg(dir);
    }
    let out = deploy.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["health"]["status"], "ok", "{report}");
    assert_eq!(report["target"], triple);
    assert_eq!(
        mlcremote_release::checksum::sha256_file(&user.mlcremote_dir().join("mlcremote")).unwrap(),
        binary.sha256
    );
}
