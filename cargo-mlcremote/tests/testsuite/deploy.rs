//! `cargo mlcremote deploy` against a real OpenSSH sshd on loopback, run as a user runs it.

use crate::common;

use std::{
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::Path,
};

use common::{Client, pid_alive, report, server, server_json, text};
use harness::Sshd;
use mlcremote_release::checksum::sha256_file;

/// Every process's argv, to prove the token is in none of them.
fn all_argv() -> String {
    let mut all = String::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
            all.push_str(&String::from_utf8_lossy(&cmdline).replace('\0', " "));
            all.push('\n');
        }
    }
    all
}

#[test]
fn deploy_installs_a_healthy_server_then_a_second_deploy_changes_nothing() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let binary = server();

    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json"]);
    assert!(out.status.success(), "{}\nsshd: {}", text(&out), sshd.log());
    let first = report(&out);
    assert_eq!(first["result"], "installed", "{}", text(&out));
    assert_eq!(first["health"]["status"], "ok");
    let hostname = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(first["health"]["host"], hostname.trim());
    assert!(
        ["setsid", "nohup"].contains(&first["start_method"].as_str().unwrap()),
        "{first}"
    );

    let dir = user.mlcremote_dir();
    let installed = dir.join("mlcremote");
    let meta = fs::metadata(&installed).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    assert_eq!(
        sha256_file(&installed).unwrap(),
        sha256_file(Path::new(&binary)).unwrap()
    );
    assert_eq!(
        fs::metadata(dir.join("token")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let install: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("install.json")).unwrap()).unwrap();
    assert_eq!(install["sha256"], sha256_file(&installed).unwrap());
    assert_eq!(install["start_method"], first["start_method"]);
    // A bare binary on loopback goes as it is (the link is faster than gzip), unless a
    // busy machine made the round trip look long: then compressed. Either way, said.
    match first["sent"]["as"].as_str() {
        Some("raw") => assert_eq!(first["sent"]["bytes"], meta.len(), "{first}"),
        Some("gzip") => assert!(first["sent"]["bytes"].as_u64().unwrap() < meta.len(), "{first}"),
        _ => panic!("{first}"),
    }
    assert!(fs::read_to_string(dir.join("run.sh")).unwrap().contains("--token-file"));
    let state = server_json(&user);
    assert_eq!(state["pid"], first["pid"]);
    assert_eq!(state["bind"], "127.0.0.1");
    if harness::is_root() {
        assert_eq!(meta.uid(), user_uid(&user.name), "installed as the deploying user");
    }

    let token = fs::read_to_string(dir.join("token")).unwrap();
    assert_eq!(token.trim().len(), 64);
    assert!(
        !all_argv().contains(token.trim()),
        "the token is visible in a process's argv"
    );

    // Identical and healthy: nothing uploaded, nothing restarted.
    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let second = report(&out);
    assert_eq!(second["result"], "up to date", "{}", text(&out));
    assert_eq!(second["pid"], first["pid"]);
    let steps = common::step_names(&second);
    assert!(!steps.contains(&"upload"), "{steps:?}");
    assert!(second.get("sent").is_none(), "{second}");
    assert_eq!(
        fs::metadata(&installed).unwrap().ino(),
        meta.ino(),
        "the binary was replaced"
    );
    assert!(!dir.join("mlcremote.prev").exists());

    // --force reinstalls: a new server, the old binary kept as .prev.
    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let third = report(&out);
    assert_eq!(third["result"], "installed");
    assert_ne!(third["pid"], first["pid"]);
    assert!(dir.join("mlcremote.prev").exists());
    assert!(!pid_alive(first["pid"].as_u64().unwrap()), "the old server still runs");
}

#[test]
fn human_output_names_host_version_pid_port_and_steps() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let out = Client::new().deploy(&sshd, &user, &["--artifact", &server()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let state = server_json(&user);
    assert!(
        stdout.contains(&format!("{}: installed mlcremote 0.1.0", sshd.destination(&user))),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("pid {}", state["pid"])), "{stdout}");
    assert!(stdout.contains(&format!("port {}", state["port"])), "{stdout}");
    assert!(stdout.contains("upload") && stdout.contains("health"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("] probe ("), "progress lines go to stderr: {stderr}");
}

#[test]
fn unknown_host_key_without_a_tty_exits_5_and_installs_nothing() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let empty = client.home.path().join("known_hosts");
    fs::write(&empty, "").unwrap();
    let out = client.deploy_with(&sshd, &user, &empty, &["--artifact", &server()]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown") && stderr.contains("SHA256:") && stderr.contains("--accept-new-host-key"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one clear line: {stderr}");
    assert!(!user.mlcremote_dir().exists(), "something was installed");
    assert_eq!(fs::read_to_string(&empty).unwrap(), "", "nothing may be recorded");
}

#[test]
fn accept_new_host_key_records_it_for_next_time() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let known = client.home.path().join("kh");
    let out = client.deploy_with(
        &sshd,
        &user,
        &known,
        &["--artifact", &server(), "--accept-new-host-key"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let recorded = fs::read_to_string(&known).unwrap();
    let host_key = sshd.host_public_key().unwrap();
    let key_b64 = host_key.split_whitespace().nth(1).unwrap();
    assert!(
        recorded.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 {key_b64}", sshd.port())),
        "{recorded}"
    );
    // Now known: no flag needed.
    let out = client.deploy_with(&sshd, &user, &known, &["--artifact", &server()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn changed_host_key_exits_5_naming_file_and_line_even_with_accept_new() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let known = client.home.path().join("kh");
    let other = sshd.dir().join("other_key");
    harness::output(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", &other.to_string_lossy()],
    )
    .unwrap();
    let other_pub = fs::read_to_string(format!("{}.pub", other.display())).unwrap();
    fs::write(&known, format!("# mine\n[127.0.0.1]:{} {}", sshd.port(), other_pub)).unwrap();
    let before = fs::read_to_string(&known).unwrap();
    let out = client.deploy_with(
        &sshd,
        &user,
        &known,
        &["--artifact", &server(), "--accept-new-host-key"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CHANGED") && stderr.contains(&format!("line 2 of {}", known.display())),
        "{stderr}"
    );
    assert!(!user.mlcremote_dir().exists());
    assert_eq!(fs::read_to_string(&known).unwrap(), before);
}

#[test]
fn hashed_known_hosts_entries_are_honoured() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let known = sshd.known_hosts().unwrap();
    harness::output("ssh-keygen", &["-H", "-f", &known.to_string_lossy()]).unwrap();
    assert!(fs::read_to_string(&known).unwrap().starts_with("|1|"));
    let out = client.deploy_with(&sshd, &user, &known, &["--artifact", &server()]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn wrong_key_exits_4_and_unreachable_host_exits_3() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let stranger = sshd.dir().join("stranger_key");
    harness::output(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", &stranger.to_string_lossy()],
    )
    .unwrap();
    let client = Client::new();
    let known = sshd.known_hosts().unwrap();
    let dest = sshd.destination(&user);
    let out = client.run(&[
        "deploy",
        "--host",
        &dest,
        "-i",
        &stranger.to_string_lossy(),
        "--known-hosts",
        &known.to_string_lossy(),
        "--artifact",
        &server(),
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stranger_key"),
        "names what it tried: {}",
        text(&out)
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = client.run(&[
        "deploy",
        "--host",
        &format!("ann@127.0.0.1:{closed}"),
        "--artifact",
        &server(),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn usage_errors_exit_2() {
    let client = Client::new();
    for args in [
        &["deploy", "--host", "ann@host:99999", "--artifact", "x"][..],
        &["deploy"][..],
        &["deploy", "--host", "h", "--start-method", "magic"][..],
        &["deploy", "--host", "h", "--health-timeout", "soon"][..],
    ] {
        let out = client.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
}

#[test]
fn an_artifact_that_cannot_run_there_exits_6_and_installs_nothing() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let script = client.home.path().join("mlcremote");
    fs::write(&script, "#!/bin/sh\necho not a server\n").unwrap();
    let out = client.deploy(&sshd, &user, &["--artifact", &script.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot run on this host"),
        "{}",
        text(&out)
    );
    assert!(!user.mlcremote_dir().join("mlcremote").exists());
}

#[test]
fn a_checksum_mismatch_exits_6_and_installs_nothing() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let copy = client.home.path().join("mlcremote");
    fs::copy(server(), &copy).unwrap();
    fs::write(
        client.home.path().join("mlcremote.sha256"),
        format!("{}  mlcremote\n", "0".repeat(64)),
    )
    .unwrap();
    let out = client.deploy(&sshd, &user, &["--artifact", &copy.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"),
        "{}",
        text(&out)
    );
    assert!(!user.mlcremote_dir().exists());
}

#[test]
fn a_server_that_cannot_start_exits_8_and_shows_its_log() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Client::new().deploy(&sshd, &user, &["--artifact", &server(), "--server-port", &port]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exited right after starting"), "{stderr}");
    assert!(
        stderr.contains("logs/out.log") && stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let out = Client::new().deploy(&sshd, &user, &["--artifact", &server(), "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("plan for") && stderr.contains("rename into"),
        "{stderr}"
    );
    assert!(!user.mlcremote_dir().exists());
}

fn user_uid(name: &str) -> u32 {
    harness::output("id", &["-u", name]).unwrap().trim().parse().unwrap()
}

/// OpenSSH's sshd, then Dropbear (a 24 KiB channel window).
fn both_daemons() -> [Sshd; 2] {
    [Sshd::start().unwrap(), Sshd::start_dropbear().unwrap()]
}

#[test]
fn a_failed_start_rolls_back_to_the_previous_binary_and_server() {
    for sshd in both_daemons() {
        rolls_back(&sshd);
    }
}

fn rolls_back(sshd: &Sshd) {
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(sshd, &user, &["--artifact", &server()]).status.success());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();

    let out = client.deploy(
        sshd,
        &user,
        &["--artifact", &server(), "--force", "--server-port", &port],
    );
    assert_eq!(out.status.code(), Some(8), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("rolled back: the previous version 0.1.0 is running again"),
        "{stderr}"
    );
    let dir = user.mlcremote_dir();
    assert!(
        !fs::read_to_string(dir.join("run.sh")).unwrap().contains(&port),
        "run.sh was not rolled back"
    );
    let status = client.command(sshd, &user, "status", &["--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["healthy"], true, "{status}");

    // A start method that cannot work here fails the same way, and the old server survives.
    let has_user_systemd = std::process::Command::new("systemctl")
        .args(["--user", "show-environment"])
        .output()
        .is_ok_and(|o| o.status.success());
    let out = client.deploy(
        sshd,
        &user,
        &["--artifact", &server(), "--force", "--start-method", "systemd"],
    );
    if !has_user_systemd {
        assert_eq!(out.status.code(), Some(7), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("rolled back"),
            "{}",
            text(&out)
        );
        let status = client.command(sshd, &user, "status", &["--json"]);
        let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(status["healthy"], true, "{status}");
    }
}

#[test]
fn concurrent_deploys_to_one_host_take_turns_and_both_end_well() {
    for sshd in both_daemons() {
        take_turns(&sshd);
    }
}

fn take_turns(sshd: &Sshd) {
    let user = sshd.user().unwrap();
    let binary = server();
    // The lock is held on the host only while a deploy installs (a fraction of a second
    // after its upload), so two deploys started together may not meet there. A holder
    // that lets go only once both deploys wait for it (two `agent install`s on the
    // host) makes them meet, however slow the machine: then they take turns.
    let dir = user.mlcremote_dir();
    fs::create_dir_all(dir.join(".lock")).unwrap();
    let mut holder = std::process::Command::new("sleep").arg("120").spawn().unwrap();
    let holder_pid = holder.id().to_string();
    let account = user.name.clone();
    let watcher = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        while std::time::Instant::now() < deadline {
            // The agent runs as the upload it came in (the shell that started it has
            // `"$t" agent install` in its own command line, unexpanded).
            let pattern = "upload-[0-9]+-[0-9a-f]+ agent install";
            let waiting = harness::output("pgrep", &["-c", "-u", &account, "-f", pattern]).unwrap_or_default();
            if waiting.trim() == "2" {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = harness::output("kill", &[&holder_pid]);
    });
    fs::write(dir.join(".lock/pid"), format!("{}\n", holder.id())).unwrap();
    fs::write(
        dir.join(".lock/owner"),
        "a deploy that takes its time since 2026-01-01T00:00:00Z\n",
    )
    .unwrap();
    harness::output("chown", &["-R", &format!("{0}:{0}", user.name), &dir.to_string_lossy()]).ok();
    let reaper = std::thread::spawn(move || holder.wait());
    let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| Client::new().deploy(sshd, &user, &["--artifact", &binary, "--force", "--json"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
        assert_eq!(report(out)["result"], "installed");
    }
    let _ = watcher.join();
    let waited = outputs
        .iter()
        .any(|o| String::from_utf8_lossy(&o.stderr).contains("waiting for the deploy lock"));
    assert!(
        waited,
        "one deploy should have waited for the other's lock: {}",
        outputs.iter().map(text).collect::<Vec<_>>().join("\n---\n")
    );
    let _ = reaper.join();
    assert!(!dir.join(".lock").exists(), "the lock was left behind");
    let state = server_json(&user);
    // Stopped servers may linger as zombies until PID 1 reaps them: those do not run.
    let found = harness::output("pgrep", &["-u", &user.name, "-f", "mlcremote serve"]).unwrap();
    let running: Vec<&str> = found
        .lines()
        .filter(|pid| pid.trim().parse().is_ok_and(common::pid_alive))
        .collect();
    let ps = harness::output("ps", &["-o", "pid,ppid,stat,lstart,args", "-u", &user.name]).unwrap_or_default();
    assert_eq!(
        running,
        [state["pid"].to_string()],
        "exactly one server must run:\n{ps}"
    );
}

#[test]
fn a_stale_lock_whose_holder_is_gone_is_taken_over() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let dir = user.mlcremote_dir();
    fs::create_dir_all(dir.join(".lock")).unwrap();
    // A pid that is not running.
    fs::write(dir.join(".lock/pid"), "999999\n").unwrap();
    fs::write(dir.join(".lock/owner"), "a deploy that crashed\n").unwrap();
    harness::output("chown", &["-R", &format!("{0}:{0}", user.name), &dir.to_string_lossy()]).ok();
    let out = Client::new().deploy(&sshd, &user, &["--artifact", &server()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!dir.join(".lock").exists());
}

#[test]
fn a_terminal_gets_progress_bars_and_verbose_shows_each_remote_command() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    // `script` gives the deploy a real pseudo-terminal, as a user's shell would.
    let mut args = vec!["deploy".to_string()];
    args.extend(common::connection_args(&sshd, &user));
    args.extend(["--artifact".into(), server()]);
    let out = client.on_a_terminal(&args, "");
    assert!(out.status.success(), "{}", text(&out));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("uploading [") || screen.contains("done ("),
        "no progress display on a terminal: {screen}"
    );
    assert!(
        !screen.contains("] probe ("),
        "plain progress lines on a terminal: {screen}"
    );
    assert!(screen.contains("installed mlcremote"), "{screen}");

    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "-v"]);
    assert!(out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("$ sh -s <<'SCRIPT'") && stderr.contains("uname -s -m") && stderr.contains("exit 0 in "),
        "{stderr}"
    );
    let token = fs::read_to_string(user.mlcremote_dir().join("token")).unwrap();
    assert!(!stderr.contains(token.trim()), "-v printed the token");
}

/// At a terminal the host-key question stays on screen, with the progress bars out of
/// its way, until it is answered; "no" is exit 5, and the time spent answering "yes"
/// is not counted as connecting.
#[test]
fn at_a_terminal_the_host_key_question_stays_on_screen_until_answered() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let known = client.home.path().join("known_hosts");
    let mut args = vec![
        "deploy".to_string(),
        "--host".into(),
        sshd.destination(&user),
        "-i".into(),
        user.key.to_string_lossy().into_owned(),
        "--known-hosts".into(),
        known.to_string_lossy().into_owned(),
        "--artifact".into(),
        server(),
    ];
    args.extend(client.config_args());
    if let Some(dir) = &user.install_dir {
        args.extend(["--install-dir".into(), dir.to_string_lossy().into_owned()]);
    }
    let question = "Are you sure you want to continue connecting (yes/no)? ";
    let wait = std::time::Duration::from_secs(20);

    let mut pty = client.pty(&args);
    let asked = pty.wait_for(question, wait);
    std::thread::sleep(std::time::Duration::from_secs(2));
    let meanwhile = pty.drawn_after(asked);
    assert_eq!(
        meanwhile, "",
        "the screen changed under the question (a spinner redrew?)"
    );
    pty.type_in("no\n");
    let (code, screen) = pty.finish();
    assert_eq!(code, Some(5), "{screen}");
    assert!(screen.contains("SHA256:") && screen.contains("no\r\n"), "{screen}");
    assert!(!user.mlcremote_dir().join("mlcremote").exists(), "installed after a no");

    let mut pty = client.pty(&args);
    pty.wait_for(question, wait);
    std::thread::sleep(std::time::Duration::from_secs(4));
    pty.type_in("yes\n");
    let (code, screen) = pty.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("installed mlcremote"), "{screen}");
    let connect_ms: u64 = screen
        .split("\n  connect ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|ms| ms.trim().parse().ok())
        .unwrap_or_else(|| panic!("no connect time in {screen}"));
    assert!(
        connect_ms < 4000,
        "the 4 s spent answering was counted as connecting ({connect_ms} ms)"
    );
}

/// `--dry-run --json` prints the plan; the deploy that follows takes exactly its steps,
/// with the start method and version it named.
#[test]
fn the_dry_run_plan_is_what_deploy_then_does() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    // Something installed and running first, so the plan has a server to stop.
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());

    let out = client.deploy(
        &sshd,
        &user,
        &["--artifact", &server(), "--force", "--dry-run", "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let planned = report(&out);
    assert_eq!(planned["result"], "planned", "{planned}");
    let plan = &planned["plan"];
    assert_eq!(plan["action"], "install", "{plan}");
    assert_eq!(plan["installed"]["healthy"], true, "{plan}");
    assert_eq!(
        plan["artifact"]["version"], "0.1.0",
        "the version is read from the binary: {plan}"
    );
    let state = server_json(&user);
    assert_eq!(plan["installed"]["pid"], state["pid"], "{plan}");

    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--force", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let done = report(&out);
    let executed: Vec<&str> = common::step_names(&done)
        .into_iter()
        .skip_while(|s| ["connect", "probe", "choose"].contains(s))
        .collect();
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(executed, steps, "{done}");
    assert_eq!(done["plan"]["steps"], plan["steps"]);
    assert_eq!(done["start_method"], plan["start_methods"][0], "{done}\n{plan}");
    assert_eq!(done["version"], plan["artifact"]["version"]);
}

/// `GET /api/tree?path=` of the deployed server: the names at the top of its file root.
fn top_names(user: &harness::User) -> Vec<String> {
    let state = server_json(user);
    let token = fs::read_to_string(user.mlcremote_dir().join("token")).unwrap();
    let bearer = format!("Bearer {}", token.trim());
    let port = state["port"].as_u64().unwrap() as u16;
    let (status, body) = common::http(
        port,
        "GET",
        "/api/tree?path=",
        &[("authorization", &bearer)],
        Vec::new(),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_root_other_than_home_is_served_kept_and_checked_before_anything_changes() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let binary = server();
    let project = user.home.join("proj");
    fs::create_dir_all(project.join("src")).unwrap();
    fs::write(project.join("inside.txt"), "x").unwrap();
    user.own(&[&project]).unwrap();

    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json", "--root", "proj"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(top_names(&user), ["inside.txt", "src"], "the root is ~/proj");
    let dir = user.mlcremote_dir();
    let install: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("install.json")).unwrap()).unwrap();
    let real = project.canonicalize().unwrap();
    assert_eq!(install["root"], real.to_str().unwrap(), "{install}");
    assert!(fs::read_to_string(dir.join("run.sh")).unwrap().contains("--root"));
    let pid = server_json(&user)["pid"].clone();

    // The same root, written another way: nothing to do.
    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json", "--root", "~/proj/"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report(&out)["result"], "up to date", "{}", text(&out));

    // A root that is not there: exit 7 naming it, and the server as it was.
    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--root", "nothere"]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--root") && stderr.contains("nothere"), "{stderr}");
    assert_eq!(server_json(&user)["pid"], pid, "the running server was touched");
    assert_eq!(top_names(&user), ["inside.txt", "src"]);

    // An upgrade without --root keeps what is served; `--root ~` is the home folder again.
    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(top_names(&user), ["inside.txt", "src"], "the upgrade changed the root");
    let out = client.deploy(&sshd, &user, &["--artifact", &binary, "--json", "--root", "~"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report(&out)["result"], "installed", "{}", text(&out));
    assert!(top_names(&user).contains(&"proj".to_string()));
    let install = fs::read_to_string(dir.join("install.json")).unwrap();
    assert!(!install.contains("\"root\""), "{install}");
}

/// Over a link with a real round trip (20 ms here, through the harness's proxy) a bare
/// binary is compressed on every core before it goes, and arrives whole: as xz where the
/// host has xz-utils, as gzip where its `xz` is BusyBox's (which has no x86 filter).
#[test]
fn a_bare_binary_is_compressed_for_a_long_link() {
    let busybox = harness::require("busybox", "busybox").unwrap();
    harness::require("xz", "xz-utils").unwrap();
    let tools = tempfile::tempdir().unwrap();
    fs::set_permissions(tools.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&busybox, tools.path().join("xz")).unwrap();
    let busybox_xz = format!("SetEnv PATH={}:/usr/bin:/bin", tools.path().display());
    let binary = server();
    let size = fs::metadata(&binary).unwrap().len();
    let mut sent = Vec::new();
    for (config, packing) in [("", "xz"), (busybox_xz.as_str(), "gzip")] {
        let sshd = Sshd::start_with(harness::Daemon::OpenSsh, config).unwrap();
        let user = sshd.user().unwrap();
        let client = Client::new();
        let proxy = harness::proxy::Proxy::start(sshd.port(), harness::proxy::Link::new(20, None)).unwrap();
        let known_hosts = sshd.known_hosts_for(proxy.port()).unwrap();
        let [f, config] = client.config_args();
        let out = client.run(&[
            "deploy",
            "--host",
            &format!("{}@127.0.0.1:{}", user.name, proxy.port()),
            "-i",
            &user.key.to_string_lossy(),
            "--known-hosts",
            &known_hosts.to_string_lossy(),
            &f,
            &config,
            "--artifact",
            &binary,
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let report = report(&out);
        assert_eq!(report["sent"]["as"], packing, "{report}");
        let bytes = report["sent"]["bytes"].as_u64().unwrap();
        assert!(bytes < size * 3 / 4, "{report}");
        assert_eq!(
            sha256_file(&user.mlcremote_dir().join("mlcremote")).unwrap(),
            sha256_file(Path::new(&binary)).unwrap()
        );
        assert_eq!(report["health"]["status"], "ok", "{report}");
        sent.push(bytes);
    }
    // What xz is chosen for: fewer bytes for the same binary (the server: ~17% fewer).
    assert!(sent[0] * 10 < sent[1] * 9, "xz {} bytes, gzip {}", sent[0], sent[1]);
}
