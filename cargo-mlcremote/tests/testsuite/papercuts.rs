//! What a new user tripped over: each error says what failed and what to do, with a
//! hint that matches the cause; local mistakes are found before any connection.

use crate::common;

use std::fs;

use common::{Client, connection_args, server, text};
use harness::Sshd;

/// A port nothing listens on: a command that got as far as connecting exits 3.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn install_dirs_that_cannot_work_say_why_not_space() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    for (dir, says) in [
        ("/proc/foo", "proc file system"),
        ("/root/mlc", "is not writable by this account"),
    ] {
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--install-dir", dir]);
        assert_eq!(out.status.code(), Some(7), "{dir}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{dir}: {stderr}");
        assert!(!stderr.contains("space"), "{dir}: a hint about space: {stderr}");
    }
}

#[test]
fn a_binary_that_is_not_ours_is_refused_before_upload_without_a_noexec_hint() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let out = client.deploy(&sshd, &user, &["--artifact", "/bin/sleep", "--force"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/bin/sleep is not an mlcremote server"), "{stderr}");
    assert!(!stderr.contains("noexec") && !stderr.contains("out.log"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("upload"),
        "it was uploaded: {}",
        text(&out)
    );
}

#[test]
fn a_missing_or_damaged_artifact_is_found_before_any_connection() {
    let client = Client::new();
    let host = format!("nobody@127.0.0.1:{}", closed_port());
    let garbage = client.home.path().join("garbage.tar.gz");
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(&garbage, noise).unwrap();
    let out = client.run(&["deploy", "--host", &host, "--artifact", &garbage.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a gzip-compressed tar archive"),
        "{}",
        text(&out)
    );
    let out = client.run(&["deploy", "--host", &host, "--artifact", "/nonexistent/mlcremote.tar.gz"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn uninstall_twice_is_fine_and_leaves_no_tmux_folder() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let uid = harness::output("id", &["-u", &user.name]).unwrap_or_default();
    let tmux_dir = std::path::PathBuf::from(format!("/tmp/tmux-{}", uid.trim()));
    let existed = tmux_dir.exists();
    assert!(
        client
            .deploy(&sshd, &user, &["--artifact", &server(), "--start-method", "setsid"])
            .status
            .success()
    );
    for _ in 0..2 {
        let out = client.command(&sshd, &user, "uninstall", &["--yes"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    assert_eq!(tmux_dir.exists(), existed, "uninstall made {}", tmux_dir.display());
}

#[test]
fn lifecycle_commands_take_a_hosts_file_and_name_hosts_as_given() {
    let sshd = Sshd::start().unwrap();
    let users: Vec<_> = (0..2).map(|_| sshd.user().unwrap()).collect();
    let client = Client::new();
    let mut config = String::new();
    for (i, user) in users.iter().enumerate() {
        config.push_str(&format!(
            "Host box{i}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n",
            sshd.port(),
            user.name,
            user.key.display()
        ));
        assert!(client.deploy(&sshd, user, &["--artifact", &server()]).status.success());
    }
    let config_path = client.home.path().join("fleet");
    fs::write(&config_path, config).unwrap();
    let hosts_file = client.home.path().join("hosts");
    fs::write(&hosts_file, "# the fleet\nbox0\n\nbox1\n").unwrap();
    let kh = sshd.known_hosts().unwrap();
    for command in ["status", "restart", "stop"] {
        let out = client.run(&[
            command,
            "--hosts-file",
            &hosts_file.to_string_lossy(),
            "-F",
            &config_path.to_string_lossy(),
            "--known-hosts",
            &kh.to_string_lossy(),
        ]);
        assert!(out.status.success(), "{command}: {}", text(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let rows: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("host ")).skip(1).collect();
        assert_eq!(rows.len(), 2, "{command}: a table row per host: {stdout}");
        assert!(
            rows[0].starts_with("box0") && rows[1].starts_with("box1"),
            "{command}: by alias: {stdout}"
        );
        assert!(!stdout.contains("127.0.0.1:"), "{command}: named by address: {stdout}");
    }
    let out = client.run(&[
        "status",
        "--json",
        "--hosts-file",
        &hosts_file.to_string_lossy(),
        "-F",
        &config_path.to_string_lossy(),
        "--known-hosts",
        &kh.to_string_lossy(),
    ]);
    let hosts: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["host"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(hosts, ["box0", "box1"], "{}", text(&out));
}

#[test]
fn probe_says_which_target_deploy_picks_and_what_is_installed() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let mut args = vec!["probe".to_string()];
    args.extend(connection_args(&sshd, &user));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = client.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("deploy picks"), "{stdout}");
    let installed = stdout.lines().find(|l| l.contains("installed:")).unwrap_or_default();
    assert!(
        installed.contains(mlcremote_release::target::host_triple()),
        "the installed build's own target: {stdout}"
    );
}
