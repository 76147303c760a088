//! `deploy --release`: from a local "release server" (a real HTTP server on loopback
//! serving a real `cargo xtask dist` output), checksum-verified and cached.

use crate::common;

use std::{fs, process::Command};

use common::{Client, HttpServer, publish, publish_as, report, text};
use harness::{
    Sshd,
    proxy::{Link, Proxy},
};
use serde_json::json;

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

    let out = deploy_release(&client, &sshd, &user, &http.base_url(), &["--download-on", "client"]);
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
    let out = deploy_release(&client, &sshd, &user, &base, &["--force", "--download-on", "client"]);
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
    args.extend(["--download-on", "client"].map(String::from));
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

    // Whoever downloads it, the host or this machine, refuses it.
    for who in ["host", "client"] {
        let out = deploy_release(&client, &sshd, &user, &http.base_url(), &["--download-on", who]);
        assert_eq!(out.status.code(), Some(6), "{who}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("checksum mismatch"), "{who}: {}", text(&out));
        assert!(!user.mlcremote_dir().exists(), "{who}: something was left on the host");
    }
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

/// A deploy through a proxy that counts the bytes the client sends.
fn deploy_counted(
    client: &Client,
    sshd: &Sshd,
    user: &harness::User,
    base_url: &str,
    extra: &[&str],
) -> (std::process::Output, u64) {
    let proxy = Proxy::start(sshd.port(), Link::FAST).unwrap();
    let known_hosts = sshd.known_hosts_for(proxy.port()).unwrap();
    let key = user.key.to_string_lossy().into_owned();
    let [f, config] = client.config_args();
    let mut args = vec![
        "deploy".to_string(),
        "--host".into(),
        format!("{}@127.0.0.1:{}", user.name, proxy.port()),
        "-i".into(),
        key,
        "--known-hosts".into(),
        known_hosts.to_string_lossy().into_owned(),
        f,
        config,
        "--json".into(),
    ];
    args.extend(
        [
            "--release",
            "v0.1.0",
            "--repo",
            "acme/mlcremote",
            "--base-url",
            base_url,
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = client.run(&args);
    (out, proxy.bytes_up())
}

fn cached_archives(client: &Client) -> Vec<String> {
    let dir = client
        .home
        .path()
        .join(".cache/mlcremote/releases/acme_mlcremote/v0.1.0");
    fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tar.gz"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_host_downloads_the_release_itself_and_the_client_sends_almost_nothing() {
    let root = tempfile::tempdir().unwrap();
    let dir = publish(root.path());
    let triple = mlcremote_release::target::host_triple();
    let archive = dir.join(format!("mlcremote-{triple}.tar.gz"));
    let archive_size = fs::metadata(&archive).unwrap().len();
    let http = HttpServer::serve(root.path());
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();

    let (out, sent) = deploy_counted(&client, &sshd, &user, &http.base_url(), &["--download-on", "host"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["health"]["status"], "ok", "{report}");
    let steps = common::step_names(&report);
    assert!(steps.contains(&"download") && !steps.contains(&"upload"), "{steps:?}");
    eprintln!("--download-on host: the client sent {sent} bytes for a {archive_size}-byte archive");
    assert!(
        sent * 10 < archive_size,
        "the client sent {sent} bytes for a {archive_size}-byte archive"
    );
    assert!(
        cached_archives(&client).is_empty(),
        "the client downloaded the archive too"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("dist-manifest.json")).unwrap()).unwrap();
    let installed = mlcremote_release::checksum::sha256_file(&user.mlcremote_dir().join("mlcremote")).unwrap();
    assert_eq!(manifest["artifacts"][0]["binary"]["sha256"], installed.as_str());
    let leftovers: Vec<_> = fs::read_dir(user.mlcremote_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".mlcremote.upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Identical and healthy: up to date from SHA256SUMS and the manifest alone.
    let (out, _) = deploy_counted(&client, &sshd, &user, &http.base_url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(common::report(&out)["result"], "up to date");

    // The same deploy with the client downloading sends the archive's bytes.
    let (out, sent) = deploy_counted(
        &client,
        &sshd,
        &user,
        &http.base_url(),
        &["--download-on", "client", "--force"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(sent > archive_size / 2, "the client sent only {sent} bytes");
}

#[test]
fn a_host_that_cannot_reach_the_release_gets_it_from_the_client_unless_host_only() {
    let root = tempfile::tempdir().unwrap();
    let dir = publish(root.path());
    let archive = dir.join(format!("mlcremote-{}.tar.gz", mlcremote_release::target::host_triple()));
    let archive_size = fs::metadata(&archive).unwrap().len();
    let http = HttpServer::serve(root.path());
    // The host's curl and wget go through a proxy that is not there: the host cannot
    // reach the release server, while this machine can.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let sshd = Sshd::start_with(
        harness::Daemon::OpenSsh,
        &format!("SetEnv http_proxy=http://127.0.0.1:{closed} https_proxy=http://127.0.0.1:{closed}"),
    )
    .unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();

    let out = deploy_release(&client, &sshd, &user, &http.base_url(), &["--download-on", "host"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the host cannot download") && stderr.contains(&http.base_url()),
        "{stderr}"
    );
    assert!(!user.mlcremote_dir().exists(), "something was left on the host");

    let out = deploy_release(&client, &sshd, &user, &http.base_url(), &[]);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["health"]["status"], "ok", "{report}");
    assert!(common::step_names(&report).contains(&"upload"), "{report}");
    // The archive goes up as it came (already compressed), not compressed again.
    assert_eq!(
        report["sent"],
        json!({ "bytes": archive_size, "as": "tar.gz" }),
        "{report}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("downloading it here"),
        "{}",
        text(&out)
    );
    assert_eq!(cached_archives(&client).len(), 1);
}

/// A person with only the client (an extracted client archive, no checkout, no dist/)
/// and a mirror of GitHub: deploy takes the release of the client's own version.
#[test]
fn outside_any_checkout_deploy_uses_the_release_of_the_clients_own_version() {
    let root = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://github.com/");
    publish_as(root.path(), repo, &format!("v{}", env!("CARGO_PKG_VERSION")), false);
    let http = HttpServer::serve(root.path());

    // The client as a release ships it: `cargo xtask dist --client`, unpacked by tar.
    let packed = tempfile::tempdir().unwrap();
    let xtask = harness::binary("xtask", "xtask").unwrap();
    let out = Command::new(xtask)
        .args(["dist", "--client", "--target", "x86_64-unknown-linux-gnu", "--prebuilt"])
        .arg(env!("CARGO_BIN_EXE_cargo-mlcremote"))
        .arg("--out")
        .arg(packed.path())
        .current_dir(harness::workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let empty = tempfile::tempdir().unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(packed.path().join("cargo-mlcremote-x86_64-unknown-linux-gnu.tar.gz"))
        .arg("-C")
        .arg(empty.path())
        .status()
        .unwrap();
    assert!(tar.success());
    let client_bin = empty
        .path()
        .join("cargo-mlcremote-x86_64-unknown-linux-gnu/cargo-mlcremote");

    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let mut args = vec!["mlcremote".to_string(), "deploy".into(), "--json".into()];
    args.extend(common::connection_args(&sshd, &user));
    let run = |extra: &[&str], base: &str| {
        Command::new(&client_bin)
            .args(&args)
            .args(extra)
            .current_dir(empty.path())
            .env("HOME", client.home.path())
            .env("MLCREMOTE_RELEASE_BASE_URL", base)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&[], &http.base_url());
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["origin"], "release", "{report}");
    assert_eq!(report["health"]["status"], "ok");

    // No such release there: exit 6, naming the URL and saying what to do instead.
    let empty_mirror = tempfile::tempdir().unwrap();
    let other = HttpServer::serve(empty_mirror.path());
    let out = run(&["--force"], &other.base_url());
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("404") && stderr.contains("cargo xtask dist"),
        "{stderr}"
    );
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
