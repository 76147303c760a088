//! `deploy --release`: from a local "release server" (a real HTTP server on loopback
//! serving a real `cargo xtask dist` output), checksum-verified and cached.

mod common;

use std::{
    fs,
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::{Client, report, server, text};
use harness::Sshd;

/// `python3 -m http.server` on 127.0.0.1, stopped by pid on drop.
struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    fn serve(root: &Path) -> HttpServer {
        let python = harness::require("python3", "python3").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the HTTP server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        HttpServer { child, port }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A release `v0.1.0` of `acme/mlcremote` as GitHub lays it out, made by `cargo xtask dist`.
fn publish(root: &Path) -> std::path::PathBuf {
    let dir = root.join("acme/mlcremote/releases/download/v0.1.0");
    fs::create_dir_all(&dir).unwrap();
    let xtask = harness::binary("xtask", "xtask").unwrap();
    let out = Command::new(xtask)
        .args([
            "dist",
            "--target",
            mlcremote_release::target::host_triple(),
            "--prebuilt",
            &server(),
            "--out",
        ])
        .arg(&dir)
        .current_dir(harness::workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    dir
}

fn deploy_release(
    client: &Client,
    sshd: &Sshd,
    user: &harness::User,
    base_url: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "--release",
        "v0.1.0",
        "--repo",
        "acme/mlcremote",
        "--base-url",
        base_url,
        "--json",
    ];
    args.extend_from_slice(extra);
    client.deploy(sshd, user, &args)
}

#[test]
fn a_release_is_downloaded_verified_cached_and_reused_offline() {
    let root = tempfile::tempdir().unwrap();
    publish(root.path());
    let http = HttpServer::serve(root.path());
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();

    let out = deploy_release(&client, &sshd, &user, &http.base_url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report(&out)["health"]["status"], "ok");
    let triple = mlcremote_release::target::host_triple();
    let cached = client.home.path().join(format!(
        ".cache/mlcremote/releases/acme_mlcremote/v0.1.0/mlcremote-{triple}.tar.gz"
    ));
    assert!(cached.is_file(), "not cached at {}", cached.display());

    // The release server is gone: the cache is enough.
    let base = http.base_url();
    drop(http);
    let out = deploy_release(&client, &sshd, &user, &base, &["--force"]);
    assert!(out.status.success(), "offline from the cache: {}", text(&out));
    assert_eq!(report(&out)["result"], "installed");
}

#[test]
fn a_terminal_sees_the_download_progress() {
    let root = tempfile::tempdir().unwrap();
    publish(root.path());
    let http = HttpServer::serve(root.path());
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let mut args = vec!["deploy".to_string()];
    args.extend(common::connection_args(&sshd, &user));
    args.extend(["--release", "v0.1.0", "--repo", "acme/mlcremote", "--base-url"].map(String::from));
    args.push(http.base_url());
    let out = Client::new().on_a_terminal(&args, "");
    assert!(out.status.success(), "{}", text(&out));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("downloading ["),
        "no download progress on a terminal: {screen}"
    );
    assert!(screen.contains("installed mlcremote"), "{screen}");
}

#[test]
fn a_tampered_release_archive_is_refused_with_exit_6_and_nothing_installed() {
    let root = tempfile::tempdir().unwrap();
    let dir = publish(root.path());
    let archive = dir.join(format!("mlcremote-{}.tar.gz", mlcremote_release::target::host_triple()));
    let mut bytes = fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&archive, bytes).unwrap();
    let http = HttpServer::serve(root.path());
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();

    let out = deploy_release(&client, &sshd, &user, &http.base_url(), &[]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"),
        "{}",
        text(&out)
    );
    assert!(!user.mlcremote_dir().exists(), "something was installed");
    let cached: Vec<_> = fs::read_dir(
        client
            .home
            .path()
            .join(".cache/mlcremote/releases/acme_mlcremote/v0.1.0"),
    )
    .unwrap()
    .flatten()
    .filter(|e| e.file_name().to_string_lossy().ends_with(".tar.gz"))
    .collect();
    assert!(cached.is_empty(), "a tampered archive was cached: {cached:?}");

    let out = client.deploy(
        &sshd,
        &user,
        &[
            "--release",
            "v9.9.9",
            "--repo",
            "acme/mlcremote",
            "--base-url",
            &http.base_url(),
        ],
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"), "{}", text(&out));
}

#[test]
fn build_local_cross_builds_for_the_probed_target_and_deploys_it() {
    harness::require("cargo-zigbuild", "cargo-zigbuild (pip install cargo-zigbuild)").unwrap();
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let out = client.deploy_building(&sshd, &user, &["--build", "local", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    // Linux x86_64 prefers the static musl build.
    assert_eq!(
        report["target"],
        format!("{}-unknown-linux-musl", std::env::consts::ARCH),
        "{report}"
    );
    assert_eq!(report["health"]["target"], report["target"]);
    let built = harness::workspace_root().join(format!(
        "target/{}-unknown-linux-musl/release/mlcremote",
        std::env::consts::ARCH
    ));
    assert_eq!(
        mlcremote_release::checksum::sha256_file(&built).unwrap(),
        mlcremote_release::checksum::sha256_file(&user.mlcremote_dir().join("mlcremote")).unwrap()
    );
}
