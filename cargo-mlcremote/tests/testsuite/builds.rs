//! `deploy --build remote|auto|local` against a real sshd: the host's own cargo builds the
//! uploaded source bundle offline; where the host has no way to build, deploy says what
//! it would run, asks, and falls back to building here.

use crate::common;

use std::{fs, process::Command};

use common::{Client, report, text};
// Builds on a host or from a release's source bundle are quick (see QUICK_BUILD).
use harness::{QUICK_BUILD, Sshd};

/// An sshd whose sessions build as [`QUICK_BUILD`] says (sshd's own `SetEnv`: the host
/// sets it, as a host's admin could; the client sends nothing).
fn sshd_building_quickly(extra: &str) -> Sshd {
    let set: Vec<String> = QUICK_BUILD.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Sshd::start_with(harness::Daemon::OpenSsh, &format!("SetEnv {}\n{extra}", set.join(" "))).unwrap()
}

fn git_head() -> String {
    harness::output(
        "git",
        &[
            "-C",
            &harness::workspace_root().to_string_lossy(),
            "rev-parse",
            "--short=7",
            "HEAD",
        ],
    )
    .unwrap()
    .trim()
    .to_string()
}

#[test]
fn the_hosts_own_cargo_builds_the_bundle_and_the_server_is_healthy() {
    let sshd = sshd_building_quickly("");
    // The account the tests run as has cargo where rustup puts it (~/.cargo/bin), which
    // is not on PATH in a non-login SSH session: the probe must find it there.
    let user = sshd.own_account().unwrap();
    let cargo = user.home.join(".cargo/bin/cargo");
    assert!(
        cargo.is_file(),
        "this test needs rustup's cargo at {} (install Rust with rustup)",
        cargo.display()
    );
    let client = Client::new();
    let dir = user.mlcremote_dir();

    // auto builds on a host that has cargo: the plan says so (a dry run builds nothing).
    let out = client.deploy_building(&sshd, &user, &["--build", "auto", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr.contains("upload the source bundle") && stderr.contains("    cargo:\n"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("rustup-init"),
        "auto never offers the bootstrap: {stderr}"
    );
    assert!(!dir.join("build").exists(), "a dry run changes nothing");

    let out = client.deploy_building(&sshd, &user, &["--build", "remote", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    let host_triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    assert_eq!(report["target"], host_triple.as_str(), "{report}");
    assert_eq!(report["health"]["status"], "ok", "{report}");
    assert_eq!(report["health"]["target"], host_triple.as_str(), "{report}");
    assert_eq!(
        report["artifact"],
        format!("built on {} with cargo", sshd.destination(&user))
    );
    let steps = common::step_names(&report);
    assert_eq!(
        steps,
        ["connect", "probe", "lock", "build", "copy", "install+start", "health"]
    );

    // What runs is what the host built, and it says which commit it was built from.
    let built = dir.join("build/target/release/mlcremote");
    let installed = dir.join("mlcremote");
    assert_eq!(fs::read(&built).unwrap(), fs::read(&installed).unwrap());
    let version = harness::output(&installed, &["--version"]).unwrap();
    assert!(
        version.contains(&format!("({host_triple}, commit {})", git_head())),
        "{version}"
    );
    let log = fs::read_to_string(dir.join("build/build.log")).unwrap();
    assert!(log.contains("== building with cargo"), "{log}");
    assert!(
        log.contains(&format!("'{}' build --release --locked --offline", cargo.display())),
        "{log}"
    );
    assert!(log.contains("Finished"), "{log}");
    let pid = common::server_json(&user)["pid"].as_u64().unwrap();
    assert!(common::pid_alive(pid));
    harness::kill_server(&dir.join("server.json"));
}

/// An sshd that reads `~/.ssh/environment`, so an account can have its own PATH.
fn sshd_with_user_environment() -> Sshd {
    Sshd::start_with(harness::Daemon::OpenSsh, "PermitUserEnvironment yes\n").unwrap()
}

#[test]
fn docker_is_tried_first_the_bootstrap_is_only_shown_and_the_build_falls_back_here() {
    harness::require("cargo-zigbuild", "cargo-zigbuild (pip install cargo-zigbuild)").unwrap();
    assert!(
        harness::is_root(),
        "this test needs root: it gives a throwaway account its own PATH"
    );
    let sshd = sshd_with_user_environment();
    let user = sshd.user().unwrap();
    // No Docker engine runs here, so the account's `docker` is a stand-in that answers
    // `info`, writes down each call's arguments, and fails `run` as an engine that cannot
    // pull would. What is tested is that deploy finds Docker, what it asks Docker to do,
    // and what happens when that fails.
    let bin = user.home.join("bin");
    fs::create_dir_all(&bin).unwrap();
    harness::write_script(
        &bin.join("docker"),
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done >>\"$HOME/docker-calls\"\necho >>\"$HOME/docker-calls\"\n\
         [ \"$1\" = info ] && exit 0\necho 'docker: cannot pull rust:1-alpine (no engine in this test)' >&2\nexit 125\n",
    )
    .unwrap();
    fs::write(
        user.home.join(".ssh/environment"),
        format!("PATH={}:/usr/local/bin:/usr/bin:/bin\n", bin.display()),
    )
    .unwrap();
    let chown = Command::new("chown")
        .args(["-R", &format!("{0}:{0}", user.name)])
        .arg(&user.home)
        .status()
        .unwrap();
    assert!(chown.success());

    let client = Client::new();
    let out = client.deploy_building(&sshd, &user, &["--build", "remote"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", text(&out));

    let dir = user.home.join(".mlcremote");
    let build = dir.join("build");
    let calls = fs::read_to_string(user.home.join("docker-calls")).unwrap();
    let uid = harness::output("id", &["-u", &user.name]).unwrap();
    let gid = harness::output("id", &["-g", &user.name]).unwrap();
    assert_eq!(
        calls,
        format!(
            "[info]\n[run][--rm][--user][{}:{}][-v][{}:/build][-w][/build/mlcremote-{}-src][-e][CARGO_HOME=/build/cargo-home]\
             [-e][CARGO_TARGET_DIR=/build/docker-target][docker.io/library/rust:1-alpine][cargo][build][--release]\
             [--locked][--offline][--package][mlcremote][--bin][mlcremote]\n",
            uid.trim(),
            gid.trim(),
            build.display(),
            env!("CARGO_PKG_VERSION")
        )
    );
    // The failed build's log is shown, the bootstrap's exact commands are shown and not
    // run, and the build falls back to this machine.
    assert!(stderr.contains("building with docker failed"), "{stderr}");
    assert!(stderr.contains("cannot pull rust:1-alpine"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "curl --proto '=https' --tlsv1.2 -fsSL -o '{}/toolchain/rustup-init'",
            dir.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("not confirmed (pass --yes to allow it)"), "{stderr}");
    assert!(stderr.contains("building here"), "{stderr}");
    assert!(
        !dir.join("toolchain").exists(),
        "nothing may be downloaded without consent"
    );
    let log = fs::read_to_string(build.join("build.log")).unwrap();
    assert!(log.contains("+ docker run --rm"), "{log}");
    assert!(
        build
            .join(format!("mlcremote-{}-src/Cargo.lock", env!("CARGO_PKG_VERSION")))
            .is_file()
    );

    // Built here: the static musl build, as for `--build local`.
    let musl = harness::workspace_root().join(format!(
        "target/{}-unknown-linux-musl/release/mlcremote",
        std::env::consts::ARCH
    ));
    assert_eq!(fs::read(musl).unwrap(), fs::read(dir.join("mlcremote")).unwrap());
    assert_eq!(
        common::server_json(&user)["target"],
        format!("{}-unknown-linux-musl", std::env::consts::ARCH)
    );
}

#[test]
fn at_a_terminal_the_bootstrap_is_asked_about_and_no_means_no() {
    harness::require("cargo-zigbuild", "cargo-zigbuild (pip install cargo-zigbuild)").unwrap();
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let mut args = vec!["deploy".to_string()];
    args.extend(common::connection_args(&sshd, &user));
    args.extend(["--build".into(), "remote".into()]);
    let out = Client::new().on_a_terminal_with(&args, "n\n", &common::toolchain_env());
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", text(&out));
    assert!(screen.contains("run these commands on the host? [y/N]"), "{screen}");
    assert!(screen.contains("rustup-init' -y --no-modify-path"), "{screen}");
    assert!(screen.contains("not confirmed"), "{screen}");
    assert!(screen.contains("installed mlcremote"), "{screen}");
    assert!(!user.mlcremote_dir().join("toolchain").exists(), "no means no");
}

#[test]
fn auto_builds_here_when_the_host_has_no_toolchain_and_dry_run_shows_the_remote_plan() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();

    // --dry-run of a remote build: the commands for each way, nothing uploaded or built.
    let out = client.deploy_building(&sshd, &user, &["--build", "remote", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr.contains("a rustup bootstrap (asks first; --yes consents):"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rustup-init' -y --no-modify-path --profile minimal"),
        "{stderr}"
    );
    assert!(!stderr.contains("docker run"), "docker does not answer here: {stderr}");
    assert!(stderr.contains("else build here and upload"), "{stderr}");
    assert!(
        !user.mlcremote_dir().join("build").exists(),
        "a dry run changes nothing"
    );

    // auto on a host with neither Docker nor cargo builds here (the plan names the binary).
    harness::require("cargo-zigbuild", "cargo-zigbuild (pip install cargo-zigbuild)").unwrap();
    let out = client.deploy_building(&sshd, &user, &["--build", "auto", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", text(&out));
    let musl = format!("target/{}-unknown-linux-musl/release/mlcremote", std::env::consts::ARCH);
    assert!(
        stderr.contains(&format!(
            "artifact  {}",
            harness::workspace_root().join(&musl).display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("upload the source bundle"), "{stderr}");
    assert!(
        !user.mlcremote_dir().join("build").exists(),
        "a dry run changes nothing"
    );
}

#[test]
fn with_yes_an_account_without_rust_gets_a_verified_toolchain_and_a_healthy_server() {
    harness::require("curl", "curl").unwrap();
    let sshd = sshd_building_quickly("");
    let user = sshd.user().unwrap();
    assert!(
        harness::is_root(),
        "this test needs root: it deploys into a throwaway account without Rust"
    );
    let client = Client::new();

    // Without --yes and with nobody at a terminal, --build remote shows the commands and
    // builds here instead (the fallback itself is tested above); with --yes it runs them.
    let out = client.deploy_building(&sshd, &user, &["--build", "remote", "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    let dir = user.home.join(".mlcremote");
    let toolchain = dir.join("toolchain");
    let log = fs::read_to_string(dir.join("build/build.log")).unwrap();
    assert!(log.contains("== building with a rustup bootstrap"), "{log}");
    assert!(
        log.contains("rustup-init' -y --no-modify-path --profile minimal"),
        "{log}"
    );
    assert!(toolchain.join("cargo/bin/cargo").is_file(), "{log}");
    assert!(
        !user.home.join(".cargo").exists() && !user.home.join(".rustup").exists(),
        "all of it stays in the install dir"
    );
    let rustup_init = fs::read(toolchain.join("rustup-init")).unwrap_or_else(|e| panic!("{e}: {log}\n{}", text(&out)));
    assert_eq!(
        mlcremote_release::checksum::sha256_hex(&rustup_init),
        "e6599a1c7be58a2d8eaca66a80e0dc006d87bbcf780a58b7343d6e14c1605cb2"
    );
    // rustup-init for x86_64 Linux is the static musl build; the toolchain it installs
    // is for the host's libc (glibc here).
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    assert_eq!(report["target"], triple.as_str(), "{report}");
    assert_eq!(report["health"]["status"], "ok", "{report}");
    assert!(
        report["artifact"]
            .as_str()
            .unwrap()
            .ends_with("with a rustup bootstrap"),
        "{report}"
    );
    let built = fs::read(dir.join("build/target/release/mlcremote")).unwrap_or_else(|e| panic!("{e}: {log}"));
    assert_eq!(built, fs::read(dir.join("mlcremote")).unwrap());

    // The next deploy finds that toolchain: a plain cargo build, nothing downloaded.
    let out = client.deploy_building(&sshd, &user, &["--build", "auto", "--dry-run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr.contains(&format!(
            "'{}' build --release",
            toolchain.join("cargo/bin/cargo").display()
        )),
        "{stderr}"
    );
}

/// A release of the client's own version published over HTTP (with its source bundle),
/// and an sshd whose sessions build quickly: deploys run outside any checkout.
struct Published {
    _root: tempfile::TempDir,
    http: common::HttpServer,
    sshd: Sshd,
    elsewhere: tempfile::TempDir,
}

impl Published {
    fn new() -> Published {
        let root = tempfile::tempdir().unwrap();
        let repo = env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://github.com/");
        common::publish_as(root.path(), repo, &format!("v{}", env!("CARGO_PKG_VERSION")), true);
        let http = common::HttpServer::serve(root.path());
        Published {
            _root: root,
            http,
            sshd: sshd_building_quickly(""),
            elsewhere: tempfile::tempdir().unwrap(),
        }
    }

    /// `deploy --build how --json` from outside any checkout, releases from `base`
    /// (this one's by default), caching under `cache` if given.
    fn deploy(
        &self,
        client: &Client,
        user: &harness::User,
        how: &str,
        base: Option<&str>,
        cache: Option<&std::path::Path>,
    ) -> std::process::Output {
        let mut cmd = client.plugin();
        cmd.arg("deploy")
            .args(common::connection_args(&self.sshd, user))
            .args(["--build", how, "--json"])
            .current_dir(self.elsewhere.path())
            .envs(common::toolchain_env())
            // Built here in the cache dir's own target dir: quickly too.
            .envs(QUICK_BUILD)
            .env("MLCREMOTE_RELEASE_BASE_URL", base.unwrap_or(&self.http.base_url()));
        if let Some(cache) = cache {
            cmd.env("XDG_CACHE_HOME", cache);
        }
        cmd.output().unwrap()
    }
}

/// Outside a checkout there is no source tree: `--build remote` builds from the source
/// bundle of the client's own release (verified against its SHA256SUMS); with no release
/// to be had, exit 6 naming the URL, and nothing on the host.
#[test]
fn outside_a_checkout_build_remote_builds_the_releases_source_bundle() {
    let published = Published::new();
    let sshd = &published.sshd;
    let client = Client::new();

    // The account has cargo (rustup's, off PATH in a non-login session).
    let user = sshd.own_account().unwrap();
    let out = published.deploy(&client, &user, "remote", None, None);
    assert!(out.status.success(), "{}", text(&out));
    let report = report(&out);
    assert_eq!(report["health"]["status"], "ok", "{report}");
    assert_eq!(
        report["artifact"],
        format!("built on {} with cargo", sshd.destination(&user))
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("building from the source bundle of release"),
        "{stderr}"
    );
    harness::kill_server(&user.mlcremote_dir().join("server.json"));

    // No release there, and none cached (a fresh client): exit 6, naming the URL; the
    // host is untouched.
    let nobody = sshd.user().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let no_cache = tempfile::tempdir().unwrap();
    let out = published.deploy(
        &Client::new(),
        &nobody,
        "remote",
        Some(&format!("http://127.0.0.1:{closed}")),
        Some(no_cache.path()),
    );
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{closed}")), "{stderr}");
    assert!(!nobody.mlcremote_dir().exists(), "nothing may be created on the host");
}

/// Outside a checkout, `--build local` builds here, in the release's source bundle
/// unpacked under the user cache dir, for the probed target.
#[test]
fn outside_a_checkout_build_local_builds_the_releases_source_bundle() {
    let published = Published::new();
    let cache = tempfile::tempdir().unwrap();
    let local = published.sshd.user().unwrap();
    let out = published.deploy(&Client::new(), &local, "local", None, Some(cache.path()));
    assert!(out.status.success(), "{}", text(&out));
    let built = common::report(&out);
    assert_eq!(built["origin"], "built_here", "{built}");
    assert_eq!(built["health"]["status"], "ok", "{built}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("building from the source bundle of release"),
        "{stderr}"
    );
    assert!(
        cache.path().join("mlcremote/src").is_dir(),
        "the bundle is unpacked under the cache dir"
    );
    harness::kill_server(&local.mlcremote_dir().join("server.json"));
}
