//! `mlcremote serve` as a process, spoken to over real HTTP.

use crate::common;

use std::{fs, os::unix::fs::PermissionsExt, path::Path, process::Command, time::Duration};

use common::{BIN, Server, get};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn health_says_ok_with_host_version_target_pid_and_nothing_secret() {
    let server = Server::start(&[]);
    let (status, body) = get(server.port, "/health");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["pid"], server.child.id());
    assert_eq!(
        health["host"],
        fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim()
    );
    assert!(health["target"].as_str().unwrap().contains("linux"));
    assert!(health["uptime_s"].is_u64() && health["started_at"].as_str().unwrap().ends_with('Z'));
    let token = fs::read_to_string(server.path("token")).unwrap();
    assert!(
        !body.contains(token.trim()) && !body.contains(server.dir.path().to_str().unwrap()),
        "{body}"
    );
}

#[test]
fn creates_a_private_token_file_and_an_atomic_state_file() {
    let mut server = Server::start(&[]);
    let token = fs::read_to_string(server.path("token")).unwrap();
    assert_eq!(token.trim().len(), 64);
    assert_eq!(mode(&server.path("token")), 0o600);
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(server.path("server.json")).unwrap()).unwrap();
    assert_eq!(state["pid"], server.child.id());
    assert_eq!(state["bind"], "127.0.0.1");
    for key in ["port", "version", "target", "started_at"] {
        assert!(!state[key].is_null(), "{key} missing in {state}");
    }
    let leftovers: Vec<_> = fs::read_dir(server.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    server.terminate();
    // A restart keeps the token.
    assert_eq!(fs::read_to_string(server.path("token")).unwrap(), token);
}

#[test]
fn sigterm_exits_cleanly_within_5_seconds_and_removes_the_state_file() {
    let mut server = Server::start(&[]);
    assert_eq!(get(server.port, "/health").0, 200);
    let took = server.terminate();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(!server.path("server.json").exists());
    assert!(server.log().contains("SIGTERM"), "{}", server.log());
}

#[test]
fn the_token_comes_from_the_environment_never_from_argv() {
    let server = Server::start_with(&[], &[("MLCREMOTE_TOKEN", "from-env-0123")]);
    assert!(!server.path("token").exists(), "the env token needs no file");
    let out = Command::new(BIN).args(["serve", "--token", "x"]).output().unwrap();
    assert!(!out.status.success(), "a --token flag must not exist");
}

#[test]
fn binds_loopback_by_default_and_warns_otherwise() {
    let server = Server::start(&[]);
    assert!(!server.log().contains("WARN"), "{}", server.log());
    let open = Server::start(&["--bind", "0.0.0.0"]);
    assert!(
        open.log().contains("WARN") && open.log().contains("reachable from the network"),
        "{}",
        open.log()
    );
}

#[test]
fn health_subcommand_prints_the_json_and_exits_0() {
    let server = Server::start(&[]);
    let out = Command::new(BIN)
        .arg("health")
        .arg("--state-file")
        .arg(server.path("server.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["pid"], server.child.id());

    let missing = server.path("nothing.json");
    let out = Command::new(BIN)
        .arg("health")
        .arg("--state-file")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is the server running?"));
}

#[test]
fn version_names_version_target_and_commit() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let json_out = Command::new(BIN).args(["version", "--json"]).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let want = format!(
        "mlcremote {} ({}, commit {})\n",
        json["version"].as_str().unwrap(),
        json["target"].as_str().unwrap(),
        json["commit"].as_str().unwrap()
    );
    assert_eq!(line, want);
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert!(json["target"].as_str().unwrap().starts_with(std::env::consts::ARCH));
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--port", &port, "--token-file"])
        .arg(dir.path().join("t"))
        .arg("--state-file")
        .arg(dir.path().join("s.json"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!dir.path().join("s.json").exists());
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use std::io::{Read, Write};
    let server = Server::start(&["--header-timeout-secs", "1"]);
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap(); // no blank line: headers never end
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 256];
    let closed = match slow.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "the server kept a half-sent request open");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "cut off after {took:?}"
    );
    // Everyone else is still served.
    assert_eq!(get(server.port, "/health").0, 200);
}

/// The log is rotated to `<file>.1` once it passes 10 MiB, while the server runs.
#[test]
fn the_log_file_is_rotated_at_10_mib_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("out.log");
    // Nearly full already: the next lines cross the limit.
    fs::write(&log, vec![b'x'; 10 * 1024 * 1024 - 64]).unwrap();
    let log_arg = log.to_string_lossy().into_owned();
    let server = Server::start(&["--log-file", &log_arg]);
    for _ in 0..5 {
        assert_eq!(get(server.port, "/no-such-route").0, 404);
    }
    let rotated = dir.path().join("out.log.1");
    assert!(rotated.exists(), "not rotated");
    assert!(fs::metadata(&rotated).unwrap().len() <= 10 * 1024 * 1024);
    let fresh = fs::read_to_string(&log).unwrap();
    assert!(fresh.contains("GET /no-such-route 404"), "{fresh}");
    assert!(fresh.len() < 4096, "the new log holds only new lines");
}

/// A full disk under the log: lines are dropped, requests are answered, the server
/// stays up.
#[test]
fn a_full_disk_under_the_log_never_stops_the_server() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(mounted, "cannot mount a tmpfs: run the tests as root (CI does)");
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(self.0).status();
        }
    }
    let _unmount = Unmount(mount.path());
    let log = mount.path().join("out.log");
    let log_arg = log.to_string_lossy().into_owned();
    let server = Server::start(&["--log-file", &log_arg]);
    // Fill the disk.
    let _ = fs::write(mount.path().join("filler"), vec![0u8; 128 * 1024]);
    for _ in 0..200 {
        assert_eq!(get(server.port, "/no-such-route").0, 404);
    }
    assert_eq!(get(server.port, "/health").0, 200);
    let mut server = server;
    assert!(server.child.try_wait().unwrap().is_none(), "the server died");
    server.terminate();
}
