//! The Windows client, as a Windows user gets it: cross-built with mingw-w64, packed by
//! `cargo xtask dist --client` into its `.zip`, unpacked by `unzip`, then run under
//! Wine: `--version`, and a real deploy into the harness sshd on loopback.
//!
//! Debian 12's Wine 8 lacks `ProcessPrng` in `bcryptprimitives.dll`, which Rust's std
//! imports since 1.78; a test-only shim DLL of that name, built here with mingw
//! (`tests/wine/bcryptprimitives.c`), beside the exe stands in for it.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

fn text(out: &std::process::Output) -> String {
    harness::describe(out)
}

/// Wine's 64-bit loader: on PATH, or where Debian's `wine64` package puts it.
fn wine() -> PathBuf {
    if let Ok(found) = harness::require("wine64", "wine64") {
        return found;
    }
    let debian = PathBuf::from("/usr/lib/wine/wine64");
    assert!(
        debian.exists(),
        "wine64 is missing: apt-get install wine64 (CI's .ci/run installs it)"
    );
    debian
}

fn cargo_build_windows(root: &Path) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--package",
            "cargo-mlcremote",
            "--bin",
            "cargo-mlcremote",
            "--target",
            "x86_64-pc-windows-gnu",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "needs `rustup target add x86_64-pc-windows-gnu`: {}",
        text(&out)
    );
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    Path::new(&target_dir).join("x86_64-pc-windows-gnu/debug/cargo-mlcremote.exe")
}

#[test]
fn the_windows_client_packs_unpacks_and_deploys_under_wine() {
    let gcc = harness::require("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64").unwrap();
    let unzip = harness::require("unzip", "unzip").unwrap();
    let wine = wine();
    let root = harness::workspace_root();
    let exe = cargo_build_windows(&root);

    // Packed as the release packs it.
    let dist = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dist", "--client", "--target", "x86_64-pc-windows-gnu", "--prebuilt"])
        .arg(&exe)
        .arg("--out")
        .arg(dist.path())
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let zip = dist.path().join("cargo-mlcremote-x86_64-pc-windows-gnu.zip");
    let sums = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dist.path())
        .output()
        .unwrap();
    assert!(sums.status.success(), "{}", text(&sums));
    let unpacked = tempfile::tempdir().unwrap();
    let out = Command::new(unzip)
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(unpacked.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let folder = unpacked.path().join("cargo-mlcremote-x86_64-pc-windows-gnu");
    let client = folder.join("cargo-mlcremote.exe");
    assert!(client.is_file() && folder.join("README.md").is_file() && folder.join("LICENSE").is_file());
    // PowerShell's completion comes along (and the other shells', for WSL and Git Bash).
    let ps1 = std::fs::read_to_string(folder.join("completions/_cargo-mlcremote.ps1")).unwrap_or_default();
    assert!(ps1.contains("Register-ArgumentCompleter"), "{ps1:.200}");
    assert!(folder.join("completions/cargo-mlcremote.bash").is_file());

    // The shim beside the exe, and a fresh Wine prefix.
    let shim = root.join("xtask/tests/wine/bcryptprimitives.c");
    let out = Command::new(gcc)
        .args(["-shared", "-O2", "-o"])
        .arg(folder.join("bcryptprimitives.dll"))
        .arg(&shim)
        .arg("-ladvapi32")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let prefix = tempfile::tempdir().unwrap();
    let wine_cmd = |args: &[&std::ffi::OsStr]| {
        let mut cmd = Command::new(&wine);
        cmd.args(args)
            .current_dir(&folder)
            .env("WINEPREFIX", prefix.path())
            .env("WINEDEBUG", "-all")
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        cmd
    };
    let boot = wine_cmd(&["wineboot".as_ref(), "-i".as_ref()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(boot.success(), "wineboot -i failed");

    let out = wine_cmd(&[client.as_os_str(), "mlcremote".as_ref(), "--version".as_ref()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("cargo mlcremote {}", env!("CARGO_PKG_VERSION"))),
        "{}",
        text(&out)
    );

    // A real deploy, from Windows, into the sshd on loopback.
    let sshd = harness::Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let config = prefix.path().join("ssh_config");
    std::fs::write(&config, "").unwrap();
    let server = harness::server_binary().unwrap();
    let known_hosts = sshd.known_hosts().unwrap();
    let destination = sshd.destination(&user);
    let mut args: Vec<&std::ffi::OsStr> = vec![
        client.as_os_str(),
        "mlcremote".as_ref(),
        "deploy".as_ref(),
        "--json".as_ref(),
        "--host".as_ref(),
        destination.as_ref(),
        "-i".as_ref(),
        user.key.as_os_str(),
        "--known-hosts".as_ref(),
        known_hosts.as_os_str(),
        "-F".as_ref(),
        config.as_os_str(),
        "--artifact".as_ref(),
        server.as_os_str(),
    ];
    if let Some(dir) = &user.install_dir {
        args.extend(["--install-dir".as_ref(), dir.as_os_str()]);
    }
    let out = wine_cmd(&args).output().unwrap();
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["health"]["status"], "ok", "{report}");
    assert_eq!(report["result"], "installed", "{report}");
}
