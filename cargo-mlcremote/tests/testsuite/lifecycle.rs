//! status, logs, stop, restart, uninstall, tunnel, probe and many hosts, against a real sshd.

use crate::common;

use std::{
    io::{BufRead, BufReader, Read},
    process::Command,
    time::{Duration, Instant},
};

use common::{Client, pid_alive, server, text};
use harness::Sshd;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn interrupt(child: &std::process::Child) {
    Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
}

#[test]
fn forward_reaches_a_web_app_on_the_host_and_its_websockets_until_ctrl_c() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let app = common::WebApp::start();
    let mut forward = client.spawn(&sshd, &user, "forward", &[&app.port.to_string()]);
    let mut line = String::new();
    BufReader::new(forward.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let rest = line
        .trim()
        .strip_prefix("forwarding http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not the forwarding line: {line:?}"));
    let (port, to) = rest.split_once("/ -> ").unwrap();
    assert!(to.ends_with(&format!(":{}", app.port)), "{line}");
    let port: u16 = port.parse().unwrap();
    let (status, body) = common::http(port, "GET", "/", &[], Vec::new()).unwrap();
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("hello from the app on the host"));
    assert_eq!(common::websocket_echo(port, "ping"), "echo: ping");

    interrupt(&forward);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = forward.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "forward did not end on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }

    // Nothing listens there: said at once, exit 1.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = client.command(&sshd, &user, "forward", &[&closed.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("nothing answers on the host's port {closed}")),
        "{}",
        text(&out)
    );
}

#[test]
fn status_stop_restart_logs_and_uninstall() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();

    let status = json(&client.command(&sshd, &user, "status", &["--json"]));
    assert_eq!(
        (status["installed"].as_bool(), status["running"].as_bool()),
        (Some(false), Some(false)),
        "{status}"
    );

    let out = client.deploy(&sshd, &user, &["--artifact", &server()]);
    assert!(out.status.success(), "{}", text(&out));
    let status = json(&client.command(&sshd, &user, "status", &["--json"]));
    assert_eq!(status["installed"], true);
    assert_eq!(status["running"], true);
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(status["health"]["status"], "ok");
    assert_eq!(status["install"]["start_method"], "setsid");
    let pid = status["pid"].as_u64().unwrap();
    let human = client.command(&sshd, &user, "status", &[]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.contains(&format!("running, pid {pid}")) && human.contains("healthy"),
        "{human}"
    );

    let logs = client.command(&sshd, &user, "logs", &["-n", "5"]);
    assert!(logs.status.success(), "{}", text(&logs));
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("listening on http://127.0.0.1:"),
        "{}",
        text(&logs)
    );

    let out = client.command(&sshd, &user, "stop", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("stopped mlcremote (pid {pid})")),
        "{}",
        text(&out)
    );
    assert!(!pid_alive(pid));
    assert_eq!(
        json(&client.command(&sshd, &user, "status", &["--json"]))["running"],
        false
    );
    let out = client.command(&sshd, &user, "stop", &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("was not running"),
        "{}",
        text(&out)
    );

    let out = client.command(&sshd, &user, "restart", &["--start-method", "nohup"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = json(&client.command(&sshd, &user, "status", &["--json"]));
    assert_eq!(status["healthy"], true, "{status}");
    assert_eq!(
        status["install"]["start_method"], "nohup",
        "restart records how it started"
    );
    let new_pid = status["pid"].as_u64().unwrap();
    assert_ne!(new_pid, pid);

    let out = client.command(&sshd, &user, "uninstall", &[]);
    assert_eq!(out.status.code(), Some(2), "no TTY and no --yes: {}", text(&out));
    assert!(user.mlcremote_dir().exists());
    let out = client.command(&sshd, &user, "uninstall", &["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!user.mlcremote_dir().exists());
    assert!(!pid_alive(new_pid));
    let out = client.command(&sshd, &user, "stop", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not installed"),
        "{}",
        text(&out)
    );
}

#[test]
fn probe_reports_os_arch_target_shell_and_tools() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let report = json(&Client::new().command(&sshd, &user, "probe", &["--json"]));
    assert_eq!(report["os"], "linux");
    assert_eq!(report["arch"], std::env::consts::ARCH);
    assert_eq!(
        report["target"],
        format!("{}-unknown-linux-musl", std::env::consts::ARCH)
    );
    assert_eq!(report["home"], user.home.to_string_lossy().as_ref());
    assert!(
        report["start_methods"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "setsid"),
        "{report}"
    );
    assert!(report["free_kb"].as_u64().unwrap() > 0);
}

#[test]
fn tunnel_forwards_a_local_port_to_the_server_until_ctrl_c() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let mut tunnel = client.spawn(&sshd, &user, "tunnel", &[]);
    let mut stdout = BufReader::new(tunnel.stdout.take().unwrap());
    let mut url = String::new();
    stdout.read_line(&mut url).unwrap();
    let url = url.trim();
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not a local URL: {url:?}"));
    let port = rest
        .strip_suffix("/api/")
        .unwrap_or_else(|| panic!("not the API base: {url:?}"));
    let mut header = String::new();
    stdout.read_line(&mut header).unwrap();
    let token = header
        .trim()
        .strip_prefix("Authorization: Bearer ")
        .unwrap_or_else(|| panic!("not the header to send: {header:?}"));
    let token_file = std::fs::read_to_string(user.mlcremote_dir().join("token")).unwrap();
    assert_eq!(token, token_file.trim());

    let port: u16 = port.parse().unwrap();
    let (status, body) = http(port, "/health", None);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""));
    assert_eq!(http(port, "/api/tree", None).0, 401);
    assert_eq!(
        http(port, "/api/tree", Some(token)).0,
        200,
        "through the tunnel, the printed URL with the printed header works"
    );

    interrupt(&tunnel);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = tunnel.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the tunnel did not end on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the local port is still open"
    );
}

#[test]
fn logs_follow_streams_until_ctrl_c() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    let mut follow = client.spawn(&sshd, &user, "logs", &["--follow", "-n", "1"]);
    let mut stdout = follow.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Following once the last line came; then something new appears in the log: a
    // restart.
    while !seen.contains(&b'\n') {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "logs --follow ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(client.command(&sshd, &user, "restart", &[]).status.success());
    while !String::from_utf8_lossy(&seen).contains("SIGTERM") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "logs --follow ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    interrupt(&follow);
    let status = follow.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn many_hosts_deploy_in_parallel_and_one_unreachable_gives_exit_9_and_a_table() {
    assert!(
        harness::is_root(),
        "several accounts need throwaway users: run the tests as root (CI does)"
    );
    let sshd = Sshd::start().unwrap();
    let users: Vec<_> = (0..3).map(|_| sshd.user().unwrap()).collect();
    let client = Client::new();
    // One key file per account: give each its own -i.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut hosts: Vec<String> = users.iter().map(|u| sshd.destination(u)).collect();
    hosts.insert(1, format!("nobody@127.0.0.1:{closed}"));
    let hosts_file = client.home.path().join("hosts");
    std::fs::write(&hosts_file, format!("# fleet\n{}\n\n", hosts.join("\n"))).unwrap();
    let kh = sshd.known_hosts().unwrap();
    let mut args = vec![
        "deploy".to_string(),
        "--hosts-file".into(),
        hosts_file.to_string_lossy().into_owned(),
        "-j".into(),
        "4".into(),
        "--known-hosts".into(),
        kh.to_string_lossy().into_owned(),
        "--artifact".into(),
        server(),
        "--connect-timeout".into(),
        "5s".into(),
    ];
    for user in &users {
        args.extend(["-i".into(), user.key.to_string_lossy().into_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = client.run(&args);
    assert_eq!(out.status.code(), Some(9), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let table: Vec<&str> = stdout.lines().skip_while(|l| !l.starts_with("host ")).collect();
    assert_eq!(
        table.len(),
        5,
        "a header and one row per host, in the given order: {stdout}"
    );
    for (row, host) in table[1..].iter().zip(&hosts) {
        assert!(row.starts_with(host.as_str()), "{row} vs {host}");
        let want = if host.starts_with("nobody") {
            "failed (3)"
        } else {
            "installed"
        };
        assert!(row.contains(want), "{row}");
    }
    for user in &users {
        let status = client.command(&sshd, user, "status", &["--json"]);
        let status = json(&status);
        assert_eq!(status["healthy"], true, "{}: {status}", user.name);
    }
}

/// A real HTTP/1.1 GET, optionally with the token header.
fn http(port: u16, path: &str, token: Option<&str>) -> (u16, String) {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
    let (status, body) = common::http(port, "GET", path, &headers, Vec::new()).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn status_recognises_a_system_wide_service() {
    assert!(
        harness::is_root(),
        "this test writes /etc/systemd/system: run the tests as root (CI does)"
    );
    let unit = std::path::Path::new("/etc/systemd/system/mlcremote.service");
    assert!(
        !unit.exists(),
        "{} exists on this machine already; this test will not touch it",
        unit.display()
    );
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    std::fs::create_dir_all(unit.parent().unwrap()).unwrap();
    // The README's unit, for this user.
    std::fs::write(
        unit,
        format!(
            "[Service]\nUser={}\nExecStart={}/run.sh\n",
            user.name,
            user.mlcremote_dir().display()
        ),
    )
    .unwrap();
    let status = client.command(&sshd, &user, "status", &["--json"]);
    let human = client.command(&sshd, &user, "status", &[]);
    std::fs::remove_file(unit).unwrap();
    assert_eq!(json(&status)["system_service"], unit.to_str().unwrap());
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("system-wide service: /etc/systemd/system/mlcremote.service"),
        "{}",
        text(&human)
    );
}

#[test]
fn every_start_method_here_keeps_the_server_up_and_stop_ends_it() {
    let sshd = Sshd::start().unwrap();
    let client = Client::new();
    for method in ["setsid", "nohup", "tmux", "screen"] {
        harness::require(method, method).unwrap();
        let user = sshd.user().unwrap();
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--start-method", method]);
        assert!(out.status.success(), "{method}: {}", text(&out));
        // The deploy's SSH connection is gone; the server must not have gone with it.
        std::thread::sleep(Duration::from_millis(200));
        let status = json(&client.command(&sshd, &user, "status", &["--json"]));
        assert_eq!(status["healthy"], true, "{method}: {status}");
        assert_eq!(status["install"]["start_method"], method);
        let pid = status["pid"].as_u64().unwrap();
        let out = client.command(&sshd, &user, "stop", &[]);
        assert!(out.status.success(), "{method}: {}", text(&out));
        assert!(!pid_alive(pid), "{method}: still running after stop");
        if method == "tmux" || method == "screen" {
            let sessions = Command::new("su")
                .args([
                    "-s",
                    "/bin/sh",
                    "-c",
                    &format!("{method} {} 2>&1", if method == "tmux" { "ls" } else { "-ls" }),
                    &user.name,
                ])
                .output()
                .unwrap();
            assert!(
                !String::from_utf8_lossy(&sessions.stdout).contains("mlcremote-"),
                "{method} session left: {}",
                text(&sessions)
            );
        }
    }
}

#[test]
fn systemd_is_used_only_where_systemctl_user_answers() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let has_user_systemd = Command::new("systemctl")
        .args(["--user", "show-environment"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_user_systemd {
        // A machine with systemd: the unit path is the one taken.
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--start-method", "systemd"]);
        assert!(out.status.success(), "{}", text(&out));
    } else {
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--start-method", "systemd"]);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("none of these start methods works here: systemd"),
            "{}",
            text(&out)
        );
        assert!(!user.mlcremote_dir().join("server.json").exists());
        // auto falls back to the next method that exists.
        let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(json(&out)["start_method"], "setsid");
    }
}

#[test]
fn a_stale_server_json_whose_pid_is_gone_is_reported_and_replaced() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(&sshd, &user, &["--artifact", &server()]).status.success());
    // The server dies without cleaning up (kill -9): its server.json stays behind.
    let state = user.mlcremote_dir().join("server.json");
    let text_before = std::fs::read_to_string(&state).unwrap();
    let pid = serde_json::from_str::<serde_json::Value>(&text_before).unwrap()["pid"]
        .as_u64()
        .unwrap();
    Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(state.exists());
    let status = json(&client.command(&sshd, &user, "status", &["--json"]));
    assert_eq!(
        (status["running"].as_bool(), status["healthy"].as_bool()),
        (Some(false), Some(false)),
        "{status}"
    );
    let human = client.command(&sshd, &user, "status", &[]);
    assert!(
        String::from_utf8_lossy(&human.stdout).contains("not running"),
        "{}",
        text(&human)
    );
    // A deploy of the same binary is not "up to date" with a dead server: it starts one.
    let out = client.deploy(&sshd, &user, &["--artifact", &server(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json(&out)["result"], "installed");
    assert_eq!(
        json(&client.command(&sshd, &user, "status", &["--json"]))["healthy"],
        true
    );
}
