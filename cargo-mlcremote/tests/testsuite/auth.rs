//! Every way in: ssh-agent, passphrase-protected keys, passwords, ~/.ssh/config with
//! aliases and ProxyJump. Against a real sshd.

use crate::common;

use std::{fs, process::Command};

use common::{Client, report, server, text};
use harness::{Daemon, Sshd};

#[test]
fn ssh_agent_keys_are_tried_first() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let sock = client.home.path().join("agent.sock");
    let agent = harness::output("ssh-agent", &["-a", &sock.to_string_lossy(), "-s"]).unwrap();
    let pid = agent
        .split("SSH_AGENT_PID=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap()
        .to_string();
    let added = Command::new("ssh-add")
        .arg(&user.key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", text(&added));

    let dest = sshd.destination(&user);
    let kh = sshd.known_hosts().unwrap();
    let binary = server();
    let mut args = vec![
        "deploy",
        "--host",
        &dest,
        "--artifact",
        &binary,
        "--known-hosts",
        kh.to_str().unwrap(),
        "--json",
    ];
    let dir = user.install_dir.as_ref().map(|d| d.to_string_lossy().into_owned());
    if let Some(dir) = &dir {
        args.extend(["--install-dir", dir]);
    }
    let out = client.run_with(&args, &[("SSH_AUTH_SOCK", sock.to_str().unwrap())], "");
    let _ = Command::new("kill").arg(&pid).status();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report(&out)["result"], "installed");
    assert!(
        sshd.log().contains(&format!("Accepted publickey for {}", user.name)),
        "{}",
        sshd.log()
    );
}

/// A key file's login is one signed request (third_party/README.md: russh's unsigned
/// question first cost a round trip on every connection); a key the host does not know,
/// tried first, is refused and the next one taken, by OpenSSH and by Dropbear.
#[test]
fn a_key_file_logs_in_signed_at_once_after_a_refused_one() {
    for daemon in [Daemon::OpenSsh, Daemon::Dropbear] {
        let sshd = Sshd::start_with(daemon, "").unwrap();
        let user = sshd.user().unwrap();
        let client = Client::new();
        let stranger = client.home.path().join("stranger_key");
        harness::output(
            "ssh-keygen",
            &["-q", "-t", "ed25519", "-N", "", "-f", &stranger.to_string_lossy()],
        )
        .unwrap();
        let kh = sshd.known_hosts().unwrap();
        let mut args = probe_args(&sshd, &user, &stranger, &kh);
        args.extend(["-i".into(), user.key.to_string_lossy().into_owned()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = client.run_with(&args, &[], "");
        assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
        let log = sshd.log();
        if daemon == Daemon::OpenSsh {
            // OpenSSH logs an answered question as "Postponed publickey".
            let accepted = format!("Accepted publickey for {}", user.name);
            let failed = format!("Failed publickey for {}", user.name);
            assert!(log.contains(&accepted) && log.contains(&failed), "{log}");
            assert!(
                !log.contains("Postponed publickey"),
                "a key was asked about first:\n{log}"
            );
        }
    }
}

#[test]
fn a_key_with_a_passphrase_and_no_terminal_is_exit_4_saying_so() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let locked = client.home.path().join("locked_key");
    harness::output(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "correct horse",
            "-f",
            &locked.to_string_lossy(),
        ],
    )
    .unwrap();
    let kh = sshd.known_hosts().unwrap();
    let out = client.run_with(
        &[
            "deploy",
            "--host",
            &sshd.destination(&user),
            "-i",
            locked.to_str().unwrap(),
            "--known-hosts",
            kh.to_str().unwrap(),
            "--artifact",
            &server(),
        ],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has a passphrase and there is no terminal"),
        "{}",
        text(&out)
    );
}

#[test]
fn password_from_stdin_works_and_a_wrong_one_is_exit_4() {
    assert!(
        harness::is_root(),
        "password logins need a throwaway user with a password: run as root"
    );
    let sshd = Sshd::start_with(Daemon::OpenSsh, "PasswordAuthentication yes").unwrap();
    let user = user_with_password(&sshd, "s3cret-Pass");
    let client = Client::new();
    let kh = sshd.known_hosts().unwrap();
    let dest = sshd.destination(&user);
    let binary = server();
    let args = [
        "deploy",
        "--host",
        &dest,
        "--known-hosts",
        kh.to_str().unwrap(),
        "--artifact",
        &binary,
        "--password-stdin",
        "--json",
    ];
    let out = client.run_with(&args, &[], "s3cret-Pass\n");
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    assert!(sshd.log().contains(&format!("Accepted password for {}", user.name)));

    let out = client.run_with(&args, &[], "wrong\n");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tried password, keyboard-interactive"), "{stderr}");
    assert!(
        !stderr.contains("wrong") && !String::from_utf8_lossy(&out.stdout).contains("wrong"),
        "the password was echoed"
    );
}

#[test]
fn ssh_config_aliases_identity_known_hosts_and_accept_new() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let kh = client.home.path().join("known_hosts_from_config");
    let config = client.home.path().join("ssh_config");
    fs::write(
        &config,
        format!(
            "Host devbox\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking accept-new\n",
            sshd.port(),
            user.name,
            user.key.display(),
            kh.display()
        ),
    )
    .unwrap();
    let binary = server();
    let mut args = vec![
        "deploy",
        "--host",
        "devbox",
        "-F",
        config.to_str().unwrap(),
        "--artifact",
        &binary,
        "--json",
    ];
    let dir = user.install_dir.as_ref().map(|d| d.to_string_lossy().into_owned());
    if let Some(dir) = &dir {
        args.extend(["--install-dir", dir]);
    }
    let out = client.run_with(&args, &[], "");
    assert!(out.status.success(), "{}", text(&out));
    // Reports name the host as it was given; where it resolved to is beside it.
    assert_eq!(report(&out)["host"], "devbox");
    assert_eq!(
        report(&out)["destination"],
        format!("{}@127.0.0.1:{}", user.name, sshd.port())
    );
    assert!(
        fs::read_to_string(&kh)
            .unwrap()
            .starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port()))
    );
}

#[test]
fn proxy_jump_reaches_the_host_through_a_jump_host() {
    let sshd = Sshd::start().unwrap();
    let jump = sshd.user().unwrap();
    let target = sshd.user().unwrap();
    let client = Client::new();
    let config = client.home.path().join("ssh_config");
    let kh = sshd.known_hosts().unwrap();
    fs::write(
        &config,
        format!(
            "Host inner\n  HostName 127.0.0.1\n  Port {port}\n  User {t}\n  ProxyJump hop\nHost hop\n  HostName 127.0.0.1\n  Port {port}\n  User {j}\n  IdentityFile {jk}\n",
            port = sshd.port(),
            t = target.name,
            j = jump.name,
            jk = jump.key.display()
        ),
    )
    .unwrap();
    let binary = server();
    let mut args = vec![
        "deploy",
        "--host",
        "inner",
        "-F",
        config.to_str().unwrap(),
        "-i",
        target.key.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--artifact",
        &binary,
        "--json",
    ];
    let dir = target.install_dir.as_ref().map(|d| d.to_string_lossy().into_owned());
    if let Some(dir) = &dir {
        args.extend(["--install-dir", dir]);
    }
    let out = client.run_with(&args, &[], "");
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    assert_eq!(report(&out)["health"]["status"], "ok");
    let log = sshd.log();
    assert!(
        log.contains(&format!("Accepted publickey for {}", jump.name)),
        "the jump host was not used: {log}"
    );
    assert!(
        log.contains(&format!("Accepted publickey for {}", target.name)),
        "{log}"
    );
}

#[test]
fn at_a_terminal_an_unknown_host_key_is_shown_and_asked_about_like_ssh() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let kh = client.home.path().join("known_hosts");
    let mut args = probe_args(&sshd, &user, &user.key, &kh);
    args.extend(client.config_args());
    let out = client.on_a_terminal(&args, "yes\n");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("can't be established") && screen.contains("SHA256:") && screen.contains("(yes/no)?"),
        "{screen}"
    );
    assert!(out.status.success() && screen.contains("Linux"), "{}", text(&out));
    assert!(
        fs::read_to_string(&kh)
            .unwrap()
            .contains(&format!("[127.0.0.1]:{}", sshd.port()))
    );
}

#[test]
fn at_a_terminal_a_key_passphrase_is_asked_for() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    // The user's key, re-encrypted with a passphrase.
    let locked = client.home.path().join("locked_key");
    fs::copy(&user.key, &locked).unwrap();
    harness::output(
        "ssh-keygen",
        &[
            "-q",
            "-p",
            "-N",
            "correct horse",
            "-P",
            "",
            "-f",
            &locked.to_string_lossy(),
        ],
    )
    .unwrap();
    let kh = sshd.known_hosts().unwrap();
    let args = probe_args(&sshd, &user, &locked, &kh);
    let out = client.on_a_terminal(&args, "correct horse\n");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("Enter passphrase for key"), "{screen}");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!screen.contains("correct horse"), "the passphrase was echoed: {screen}");
}

/// `probe --host … -i KEY --known-hosts FILE`.
fn probe_args(sshd: &Sshd, user: &harness::User, key: &std::path::Path, known_hosts: &std::path::Path) -> Vec<String> {
    let mut args = vec![
        "probe".to_string(),
        "--host".into(),
        sshd.destination(user),
        "-i".into(),
    ];
    args.extend([
        key.to_string_lossy().into_owned(),
        "--known-hosts".into(),
        known_hosts.to_string_lossy().into_owned(),
    ]);
    args
}

#[test]
fn keyboard_interactive_answers_the_password_prompt() {
    assert!(
        harness::is_root(),
        "password logins need a throwaway user with a password: run as root"
    );
    // Through PAM, as most servers do it; plain passwords are off, so only
    // keyboard-interactive can succeed.
    let config = "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no";
    let sshd = Sshd::start_with(Daemon::OpenSsh, config).unwrap();
    let user = user_with_password(&sshd, "kbd-Pass-1");
    let client = Client::new();
    let kh = sshd.known_hosts().unwrap();
    let dest = sshd.destination(&user);
    let out = client.run_with(
        &[
            "probe",
            "--host",
            &dest,
            "--known-hosts",
            kh.to_str().unwrap(),
            "--password-stdin",
        ],
        &[],
        "kbd-Pass-1\n",
    );
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    assert!(
        sshd.log()
            .contains(&format!("Accepted keyboard-interactive/pam for {}", user.name)),
        "{}",
        sshd.log()
    );
}

#[test]
fn proxy_jump_chains_several_hops() {
    let sshd = Sshd::start().unwrap();
    let (first, second, target) = (sshd.user().unwrap(), sshd.user().unwrap(), sshd.user().unwrap());
    let client = Client::new();
    let config = client.home.path().join("ssh_config");
    let kh = sshd.known_hosts().unwrap();
    let port = sshd.port();
    fs::write(
        &config,
        format!("Host inner\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  ProxyJump {}@127.0.0.1:{port},{}@127.0.0.1:{port}\n", target.name, first.name, second.name),
    )
    .unwrap();
    let keys: Vec<String> = [&first, &second, &target]
        .iter()
        .map(|u| u.key.to_string_lossy().into_owned())
        .collect();
    let out = client.run_with(
        &[
            "probe",
            "--host",
            "inner",
            "-F",
            config.to_str().unwrap(),
            "-i",
            &keys[0],
            "-i",
            &keys[1],
            "-i",
            &keys[2],
            "--known-hosts",
            kh.to_str().unwrap(),
        ],
        &[],
        "",
    );
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    let log = sshd.log();
    for user in [&first, &second, &target] {
        assert!(
            log.contains(&format!("Accepted publickey for {}", user.name)),
            "{} did not log in: {log}",
            user.name
        );
    }
}

/// A throwaway account whose password is `password`.
fn user_with_password(sshd: &Sshd, password: &str) -> harness::User {
    let user = sshd.user().unwrap();
    let mut chpasswd = Command::new("chpasswd")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = format!("{}:{password}\n", user.name);
    std::io::Write::write_all(chpasswd.stdin.as_mut().unwrap(), line.as_bytes()).unwrap();
    assert!(chpasswd.wait().unwrap().success());
    user
}

/// `ProxyCommand` with OpenSSH's tokens, as people reach hosts behind gateways: here
/// `ssh -W` through another account, the classic form.
#[test]
fn a_proxy_command_carries_the_connection_as_openssh_runs_it() {
    let sshd = Sshd::start().unwrap();
    let gateway = sshd.user().unwrap();
    let target = sshd.user().unwrap();
    let client = Client::new();
    let kh = sshd.known_hosts().unwrap();
    let ssh = harness::require("ssh", "openssh-client").unwrap();
    let config = client.home.path().join("ssh_config");
    fs::write(
        &config,
        format!(
            "Host viaproxy\n  HostName 127.0.0.1\n  Port {port}\n  User {t}\n  IdentityFile {tk}\n  \
             ProxyCommand {ssh} -F none -i {gk} -o IdentitiesOnly=yes -o BatchMode=yes \
             -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -p %p -W %h:%p {g}@%h\n",
            port = sshd.port(),
            t = target.name,
            tk = target.key.display(),
            ssh = ssh.display(),
            gk = gateway.key.display(),
            kh = kh.display(),
            g = gateway.name,
        ),
    )
    .unwrap();
    let binary = server();
    let mut args = vec![
        "deploy",
        "--host",
        "viaproxy",
        "-F",
        config.to_str().unwrap(),
        "--known-hosts",
        kh.to_str().unwrap(),
        "--artifact",
        &binary,
        "--json",
    ];
    let dir = target.install_dir.as_ref().map(|d| d.to_string_lossy().into_owned());
    if let Some(dir) = &dir {
        args.extend(["--install-dir", dir]);
    }
    let out = client.run_with(&args, &[], "");
    assert!(out.status.success(), "{}\n{}", text(&out), sshd.log());
    assert_eq!(report(&out)["health"]["status"], "ok");
    let log = sshd.log();
    assert!(
        log.contains(&format!("Accepted publickey for {}", gateway.name)),
        "the ProxyCommand did not run: {log}"
    );
    assert!(
        log.contains(&format!("Accepted publickey for {}", target.name)),
        "{log}"
    );
}
