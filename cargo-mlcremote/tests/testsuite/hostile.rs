//! Hostile hosts and hostile input, through the real client against a real sshd: nothing
//! is applied to the wrong host, nothing outside the install dir is removed, nothing
//! from a host reaches the terminal raw, and every wait is bounded.

use crate::common;

use std::{
    fs,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{Client, connection_args, server, server_json, text};
use harness::Sshd;

/// Run `cmd`, failing the test (never hanging it) if it takes more than `limit`.
fn bounded(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn plugin(client: &Client, args: &[String]) -> Command {
    let mut cmd = client.plugin();
    cmd.args(args);
    cmd
}

/// A login shell that is a script of ours: `body` runs around the real `sh`.
fn user_with_login_script(sshd: &Sshd, body: &str) -> harness::User {
    let shell = sshd.dir().join(format!("shell-{}", harness::unique()));
    harness::write_script(&shell, &format!("#!/bin/sh\n{body}\n")).unwrap();
    sshd.user_with_shell(&shell.to_string_lossy()).unwrap()
}

#[test]
fn a_match_block_for_another_host_is_never_applied_to_this_one() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let config = client.home.path().join("config");
    // Were the Match lines applied here, the unknown host key would be accepted
    // silently (exit 0) or the connection sent to a jump host that does not exist.
    fs::write(
        &config,
        format!(
            "Host box\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n\
             Match host other.example\n  StrictHostKeyChecking no\n  ProxyJump nowhere.invalid\n",
            sshd.port(),
            user.name,
            user.key.display()
        ),
    )
    .unwrap();
    let empty_known_hosts = client.home.path().join("known_hosts");
    fs::write(&empty_known_hosts, "").unwrap();
    let args: Vec<String> = [
        "deploy",
        "--host",
        "box",
        "-F",
        &config.to_string_lossy(),
        "--known-hosts",
        &empty_known_hosts.to_string_lossy(),
        "--artifact",
        &server(),
    ]
    .map(String::from)
    .to_vec();
    let out = bounded(plugin(&client, &args), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    assert!(fs::read_to_string(&empty_known_hosts).unwrap().is_empty());
    assert!(!user.mlcremote_dir().exists());
}

#[test]
fn uninstall_never_removes_more_than_what_deploy_made() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    fs::write(user.home.join("notes.txt"), "mine").unwrap();
    fs::create_dir(user.home.join("x")).unwrap();
    let home = user.home.to_string_lossy().into_owned();
    let spellings = [
        "~//".to_string(),
        "~/.".into(),
        "~".into(),
        format!("{home}/x/.."),
        format!("{home}//"),
        "/".into(),
    ];
    for spelling in &spellings {
        let out = client.command(
            &sshd,
            &user,
            "uninstall",
            &["--install-dir", spelling.as_str(), "--yes"],
        );
        assert!(!out.status.success(), "{spelling}: {}", text(&out));
        assert!(user.home.join("notes.txt").exists(), "{spelling} removed the home");
        assert!(user.home.join(".ssh/authorized_keys").exists() || harness::is_root());
    }
    // An install dir that holds something else keeps it, and is kept.
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let dir = user.mlcremote_dir();
    fs::write(dir.join("my-own-file"), "keep").unwrap();
    let out = client.command(&sshd, &user, "uninstall", &["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fs::read_to_string(dir.join("my-own-file")).unwrap(), "keep");
    assert!(!dir.join("mlcremote").exists() && !dir.join("token").exists());
}

#[test]
fn a_login_shell_that_prints_without_end_is_cut_off_with_a_clear_error() {
    let sshd = Sshd::start().unwrap();
    let user = user_with_login_script(&sshd, "yes 'noise noise noise noise noise noise'");
    let client = Client::new();
    let mut args = vec!["probe".to_string()];
    args.extend(connection_args(&sshd, &user));
    let out = bounded(plugin(&client, &args), Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("printed too much") || stderr.contains("more than 16 MiB"),
        "{stderr}"
    );
}

#[test]
fn a_login_shell_that_lingers_after_the_command_does_not_hold_the_answer() {
    let sshd = Sshd::start().unwrap();
    let user = user_with_login_script(&sshd, "/bin/sh \"$@\"; sleep 600");
    let client = Client::new();
    let mut args = vec!["probe".to_string(), "--json".into()];
    args.extend(connection_args(&sshd, &user));
    args.extend(["--connect-timeout".into(), "5s".into()]);
    let out = bounded(plugin(&client, &args), Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_stopped_server_makes_status_say_so_and_deploy_replace_it_in_bounded_time() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let pid = server_json(&user)["pid"].as_u64().unwrap();
    harness::output("kill", &["-STOP", &pid.to_string()]).unwrap();

    let mut args = vec!["status".to_string(), "--json".into()];
    args.extend(connection_args(&sshd, &user));
    let out = bounded(plugin(&client, &args), Duration::from_secs(60));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(status["healthy"], false, "{}", text(&out));

    let mut args = vec!["deploy".to_string()];
    args.extend(connection_args(&sshd, &user));
    args.extend([
        "--artifact".into(),
        server(),
        "--force".into(),
        "--health-timeout".into(),
        "5s".into(),
    ]);
    let out = bounded(plugin(&client, &args), Duration::from_secs(90));
    assert!(out.status.success(), "{}", text(&out));
    assert!(!common::pid_alive(pid), "the stopped server is still there");
}

#[test]
fn escape_sequences_from_the_host_never_reach_the_terminal_raw() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let log = user.mlcremote_dir().join("logs/out.log");
    let mut text_before = fs::read_to_string(&log).unwrap();
    text_before.push_str("title\x1b]0;owned\x07 clear\x1b[2J clipboard\x1b]52;c;aGk=\x07 end\n");
    fs::write(&log, text_before).unwrap();
    // At a terminal, escaped (written to a file or a pipe, the bytes stay as they are).
    let mut args = vec!["logs".to_string()];
    args.extend(connection_args(&sshd, &user));
    args.extend(["-n".into(), "5".into()]);
    let out = client.on_a_terminal(&args, "");
    assert!(out.status.success(), "{}", text(&out));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(screen.contains("clipboard"), "{screen}");
    for raw in ["\x1b]0;owned", "\x1b[2J", "\x1b]52;", "\x07"] {
        assert!(!screen.contains(raw), "{raw:?} reached the terminal: {screen:?}");
    }
    let piped = client.command(&sshd, &user, "logs", &["-n", "5"]);
    assert!(
        String::from_utf8_lossy(&piped.stdout).contains("\x1b]52;"),
        "a pipe gets the bytes"
    );
}

#[test]
fn absurd_flag_values_and_a_closed_stdout_are_handled_without_a_panic() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    for (flag, value) in [
        ("--connect-timeout", "99999999999999999999999"),
        ("--health-timeout", "10000000000000000000"),
        ("--connect-timeout", "-1s"),
    ] {
        let mut args = vec!["deploy".to_string()];
        args.extend(connection_args(&sshd, &user));
        args.extend([flag.to_string(), value.to_string()]);
        let out = bounded(plugin(&client, &args), Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {}", text(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    // `probe … | head -2`: the reader goes away after two lines.
    let mut args = connection_args(&sshd, &user);
    args.insert(0, "probe".into());
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "HOME='{}' '{}' mlcremote {} | head -2 >/dev/null; echo \"status=${{PIPESTATUS[0]}}\"",
        client.home.path().display(),
        env!("CARGO_BIN_EXE_cargo-mlcremote"),
        quoted.join(" ")
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &script]);
    let out = bounded(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // 0, or 141 (SIGPIPE) at worst; never 134 (abort).
    assert!(
        stdout.contains("status=0") || stdout.contains("status=141"),
        "{stdout} {stderr}"
    );
}

#[test]
fn install_dirs_with_odd_characters_work_and_a_newline_is_refused() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let odd = "~/odd \\ dir 'quoted' $HOME".to_string();
    for _ in 0..2 {
        let out = client.deploy(
            &sshd,
            &user,
            &["--artifact", &server(), "--install-dir", &odd, "--json"],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let installed = user.home.join("odd \\ dir 'quoted' $HOME/mlcremote");
    assert!(installed.is_file(), "not at {}", installed.display());
    let out = client.command(&sshd, &user, "status", &["--install-dir", &odd, "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert_eq!(status["healthy"], true, "{}", text(&out));

    let out = client.deploy(
        &sshd,
        &user,
        &["--artifact", &server(), "--install-dir", "~/two\nlines"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("newline"),
        "{}",
        text(&out)
    );
    assert!(!user.home.join("two").exists());
}
