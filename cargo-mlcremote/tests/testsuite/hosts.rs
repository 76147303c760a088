//! Deploy into the hosts people really have: other login shells with noisy start-up
//! files, and Dropbear instead of OpenSSH.

use crate::common;

use common::{Client, report, server, text};
use harness::Sshd;

#[test]
fn any_login_shell_with_start_up_noise_changes_nothing() {
    let sshd = Sshd::start().unwrap();
    let client = Client::new();
    for (shell, package) in [
        ("/bin/bash", "bash"),
        ("/usr/bin/zsh", "zsh"),
        ("/usr/bin/fish", "fish"),
        ("/usr/bin/tcsh", "tcsh"),
        ("/bin/dash", "dash"),
    ] {
        assert!(
            std::path::Path::new(shell).exists(),
            "{shell} is missing: apt-get install {package}"
        );
        let user = sshd.noisy_user(shell).unwrap();
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
        assert!(out.status.success(), "{shell}: {}\n{}", text(&out), sshd.log());
        let report = report(&out);
        assert_eq!(report["health"]["status"], "ok", "{shell}");
        let status = client.command(&sshd, &user, "status", &["--json"]);
        assert!(status.status.success(), "{shell}: {}", text(&status));
        let logs = client.command(&sshd, &user, "logs", &["-n", "3"]);
        let logs = String::from_utf8_lossy(&logs.stdout);
        assert!(
            !logs.contains("Welcome!"),
            "{shell}: start-up noise leaked into the output: {logs}"
        );
        assert!(logs.contains("listening on"), "{shell}: {logs}");
    }
}

#[test]
fn dropbear_installs_upgrades_skips_and_runs_the_lifecycle_like_openssh() {
    let sshd = Sshd::start_dropbear().unwrap();
    let client = Client::new();
    let user = sshd.user().unwrap();
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
    assert!(out.status.success(), "{}\ndropbear: {}", text(&out), sshd.log());
    assert_eq!(report(&out)["result"], "installed");
    // Again, forced: the upload split over channels (Dropbear's window is 24 KiB).
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json", "--force"]);
    assert!(out.status.success(), "{}\ndropbear: {}", text(&out), sshd.log());
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
    assert_eq!(report(&out)["result"], "up to date", "{}", text(&out));
    for command in ["status", "stop", "restart"] {
        let out = client.command(&sshd, &user, command, &[]);
        assert!(out.status.success(), "{command}: {}", text(&out));
    }
}

/// An ssh config with one alias per account: `h0`, `h1`, ... (each with its own key),
/// optionally all behind the jump host `hop`.
fn fleet_config(client: &Client, sshd: &Sshd, users: &[harness::User], jump: Option<&harness::User>) -> String {
    let mut config = String::new();
    for (i, user) in users.iter().enumerate() {
        config.push_str(&format!(
            "Host h{i}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n",
            sshd.port(),
            user.name,
            user.key.display()
        ));
        if jump.is_some() {
            config.push_str("  ProxyJump hop\n");
        }
    }
    if let Some(jump) = jump {
        config.push_str(&format!(
            "Host hop\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n",
            sshd.port(),
            jump.name,
            jump.key.display()
        ));
    }
    let path = client.home.path().join("fleet_config");
    std::fs::write(&path, config).unwrap();
    path.to_string_lossy().into_owned()
}

fn deploy_fleet(client: &Client, sshd: &Sshd, config: &str, hosts: usize) -> std::process::Output {
    let kh = sshd.known_hosts().unwrap();
    let mut args = vec![
        "deploy".to_string(),
        "-F".into(),
        config.into(),
        "--known-hosts".into(),
        kh.to_string_lossy().into_owned(),
        "--artifact".into(),
        server(),
        "-j".into(),
        hosts.to_string(),
    ];
    for i in 0..hosts {
        args.extend(["--host".into(), format!("h{i}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    client.run(&args)
}

/// Eighteen hosts behind one sshd with OpenSSH's default `MaxStartups` (it drops
/// connections beyond 10 unauthenticated ones during the handshake), all at once: every
/// one ends healthy. (The retry that makes a dropped handshake harmless is tested
/// through a proxy that drops connections for sure, below.)
#[test]
fn eighteen_hosts_behind_one_sshd_at_once_all_end_healthy() {
    let sshd = Sshd::start_with(harness::Daemon::OpenSsh, "MaxStartups 10:30:100").unwrap();
    let users: Vec<_> = (0..18).map(|_| sshd.user().unwrap()).collect();
    let client = Client::new();
    let config = fleet_config(&client, &sshd, &users, None);
    let out = deploy_fleet(&client, &sshd, &config, users.len());
    assert!(out.status.success(), "{}", text(&out));
    for user in &users {
        let pid = common::server_json(user)["pid"].as_u64().unwrap_or(0);
        assert!(common::pid_alive(pid), "{} has no server", user.name);
    }
}

/// Four hosts behind one jump host: the jump host sees one login, not four.
#[test]
fn hosts_behind_one_jump_host_share_one_connection_to_it() {
    let sshd = Sshd::start().unwrap();
    let jump = sshd.user().unwrap();
    let users: Vec<_> = (0..4).map(|_| sshd.user().unwrap()).collect();
    let client = Client::new();
    let config = fleet_config(&client, &sshd, &users, Some(&jump));
    let out = deploy_fleet(&client, &sshd, &config, users.len());
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    let log = sshd.log();
    let logins = log.matches(&format!("Accepted publickey for {} ", jump.name)).count();
    assert_eq!(logins, 1, "the jump host saw {logins} logins: {log}");
    for user in &users {
        assert!(
            log.contains(&format!("Accepted publickey for {} ", user.name)),
            "{} was not reached",
            user.name
        );
    }
}

/// A server that drops the first connections during the handshake (sshd past
/// `MaxStartups`, a busy bastion) costs a retry, not the deploy.
#[test]
fn a_connection_dropped_during_the_handshake_is_tried_again() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let proxy = harness::proxy::Proxy::start_dropping(sshd.port(), harness::proxy::Link::FAST, 3).unwrap();
    let known_hosts = sshd.known_hosts_for(proxy.port()).unwrap();
    let client = Client::new();
    let dest = format!("{}@127.0.0.1:{}", user.name, proxy.port());
    let key = user.key.to_string_lossy().into_owned();
    let kh = known_hosts.to_string_lossy().into_owned();
    let [f, config] = client.config_args();
    let out = client.run(&[
        "deploy",
        "--host",
        &dest,
        "-i",
        &key,
        "--known-hosts",
        &kh,
        &f,
        &config,
        "--artifact",
        &server(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report(&out)["health"]["status"], "ok");
}
