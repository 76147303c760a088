//! `mlcremote agent …`, run as deploy runs it on a host: the new binary installs itself
//! into a real dir, starts a real server, and says so in JSON lines.

use crate::common;

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use common::BIN;

/// An install dir inside a temp dir (never the home), and the uploads made into it.
struct Host {
    tmp: tempfile::TempDir,
    /// Extra folders put in front of PATH (stand-ins for tmux, screen...).
    path_prefix: Vec<PathBuf>,
}

impl Host {
    fn new() -> Host {
        Host {
            tmp: tempfile::tempdir().unwrap(),
            path_prefix: Vec::new(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.tmp.path().join("install")
    }

    /// Copy the server binary in as an upload would arrive; its name carries a pid.
    fn upload(&self, pid: u32) -> PathBuf {
        fs::create_dir_all(self.dir()).unwrap();
        let upload = self.dir().join(format!(".mlcremote.upload-{pid}-test"));
        fs::copy(BIN, &upload).unwrap();
        upload
    }

    fn agent(&self, args: &[&str]) -> Output {
        self.agent_command(args).output().unwrap()
    }

    fn agent_command(&self, args: &[&str]) -> Command {
        let path = std::env::join_paths(
            self.path_prefix
                .iter()
                .cloned()
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
        )
        .unwrap();
        let mut command = Command::new(BIN);
        command
            .arg("agent")
            .args(args)
            .env("HOME", self.tmp.path())
            .env("PATH", path)
            .stdin(Stdio::null());
        command
    }

    fn install(&self, extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
        let args = self.install_args(extra);
        let out = self.agent(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let events = lines(&out);
        (out, events)
    }

    /// `install` of a fresh upload into this host's dir, then `extra`.
    fn install_args(&self, extra: &[&str]) -> Vec<String> {
        let upload = self.upload(std::process::id());
        let sha = sha256(&upload);
        let size = fs::metadata(&upload).unwrap().len().to_string();
        let dir = self.dir().to_string_lossy().into_owned();
        let upload = upload.to_string_lossy().into_owned();
        let mut args = vec![
            "install",
            "--dir",
            &dir,
            "--upload",
            &upload,
            "--sha256",
            &sha,
            "--size",
            &size,
            "--health-timeout-secs",
            "10",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect()
    }

    fn status(&self) -> serde_json::Value {
        let out = self.agent(&["status", "--dir", &self.dir().to_string_lossy()]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
    }

    fn stop(&self) -> serde_json::Value {
        let out = self.agent(&["stop", "--dir", &self.dir().to_string_lossy()]);
        lines(&out).pop().unwrap()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn alive(pid: u64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')))
}

#[test]
fn install_swaps_starts_and_reports_then_a_failed_start_rolls_back() {
    let host = Host::new();
    let (out, events) = host.install(&["--start-methods", "setsid"]);
    assert!(out.status.success(), "{out:?}");
    let steps: Vec<&str> = events.iter().filter_map(|e| e["step"].as_str()).collect();
    assert_eq!(steps, ["verify", "lock", "install+start", "health"]);
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done", "{done}");
    assert_eq!(done["start_method"], "setsid");
    assert_eq!(done["health"]["status"], "ok");
    let dir = host.dir();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("mlcremote")), 0o755);
    assert_eq!(mode(&dir.join("token")), 0o600);
    assert!(!dir.join(".lock").exists(), "the lock was left behind");
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mlcremote.upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let install: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(dir.join("install.json")).unwrap()).unwrap();
    assert_eq!(install["sha256"], sha256(&dir.join("mlcremote")));
    let status = host.status();
    assert_eq!(
        (status["running"].as_bool(), &status["health"]["pid"]),
        (Some(true), &done["pid"])
    );
    let first_pid = done["pid"].as_u64().unwrap();

    // A port that is taken: the new server dies at start, the previous one comes back.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let (out, events) = host.install(&["--start-methods", "setsid", "--port", &port]);
    assert!(!out.status.success());
    let failed = events.last().unwrap();
    assert_eq!(failed["failure"], "died_at_start", "{failed}");
    assert!(
        failed["log"]
            .as_str()
            .unwrap()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "only the new server's log: {failed}"
    );
    assert!(
        failed["rollback"]
            .as_str()
            .unwrap()
            .starts_with("rolled back: the previous version"),
        "{failed}"
    );
    assert!(!alive(first_pid), "the old server was stopped for the swap");
    assert!(
        !fs::read_to_string(dir.join("run.sh")).unwrap().contains(&port),
        "run.sh was not rolled back"
    );
    assert_eq!(host.status()["health"]["status"], "ok");
}

#[test]
fn a_corrupt_upload_changes_nothing_and_is_removed() {
    let host = Host::new();
    let upload = host.upload(std::process::id());
    let size = fs::metadata(&upload).unwrap().len().to_string();
    let out = host.agent(&[
        "install",
        "--dir",
        &host.dir().to_string_lossy(),
        "--upload",
        &upload.to_string_lossy(),
        "--sha256",
        &"0".repeat(64),
        "--size",
        &size,
    ]);
    let failed = lines(&out).pop().unwrap();
    assert_eq!(failed["failure"], "corrupt_upload", "{failed}");
    assert!(!upload.exists() && !host.dir().join("mlcremote").exists());
}

#[test]
fn the_home_folder_is_never_an_install_dir() {
    let host = Host::new();
    // HOME is the temp dir; an upload placed right in it.
    let upload = host
        .tmp
        .path()
        .join(format!(".mlcremote.upload-{}-x", std::process::id()));
    fs::copy(BIN, &upload).unwrap();
    let sha = sha256(&upload);
    let size = fs::metadata(&upload).unwrap().len().to_string();
    for dir in [
        host.tmp.path().to_path_buf(),
        host.tmp.path().join("."),
        PathBuf::from("/"),
    ] {
        let out = host.agent(&[
            "install",
            "--dir",
            &dir.to_string_lossy(),
            "--upload",
            &upload.to_string_lossy(),
            "--sha256",
            &sha,
            "--size",
            &size,
        ]);
        let failed = lines(&out).pop().unwrap();
        assert!(
            failed["message"].as_str().unwrap().contains("refusing to use"),
            "{dir:?}: {failed}"
        );
        assert!(!host.tmp.path().join("mlcremote").exists());
    }
}

#[test]
fn a_live_lock_is_waited_for_and_a_stale_one_taken_over() {
    let host = Host::new();
    let lock = host.dir().join(".lock");
    fs::create_dir_all(&lock).unwrap();
    let mut holder = Command::new("sleep").arg("1000").spawn().unwrap();
    fs::write(lock.join("pid"), format!("{}\n", holder.id())).unwrap();
    fs::write(lock.join("owner"), "another deploy since 2026-01-01T00:00:00Z\n").unwrap();
    // The holder lives until the agent says it waits for it; then it is gone (stale).
    let args = host.install_args(&["--start-methods", "setsid"]);
    let mut agent = host
        .agent_command(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut events = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(agent.stdout.take().unwrap())) {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "waiting" {
            holder.kill().unwrap();
            holder.wait().unwrap();
        }
        events.push(event);
    }
    let status = agent.wait().unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(status.success(), "{events:?}");
    assert_eq!(events[1]["event"], "waiting", "{events:?}");
    assert_eq!(events[1]["holder"], "another deploy");
    assert_eq!(events[1]["since"], "2026-01-01T00:00:00Z");
    assert!(!lock.exists());
}

#[test]
fn stop_signals_only_the_proven_server() {
    let host = Host::new();
    let (out, events) = host.install(&["--start-methods", "setsid"]);
    assert!(out.status.success(), "{out:?}");
    let pid = events.last().unwrap()["pid"].as_u64().unwrap();
    // server.json names a process that merely mentions mlcremote in its arguments.
    let mut tail = Command::new("tail")
        .arg("-f")
        .arg(host.dir().join("logs/out.log"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let state_file = host.dir().join("server.json");
    let real = fs::read_to_string(&state_file).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&real).unwrap();
    state["pid"] = tail.id().into();
    fs::write(&state_file, state.to_string()).unwrap();
    assert_eq!(host.stop()["stopped"], serde_json::Value::Null);
    assert!(alive(u64::from(tail.id())), "stop killed a tail -f of the log");
    let _ = tail.kill();
    let _ = tail.wait();
    fs::write(&state_file, real).unwrap();
    assert_eq!(host.stop()["stopped"], pid);
    assert!(!alive(pid));
}

/// Under load, `screen -ls` has been seen to miss a session `screen -dmS` just made.
/// Here a `screen` ahead of the real one on PATH misses it for its first three listings;
/// the start must still wait for the server instead of calling it dead.
#[test]
fn a_session_screen_lists_late_is_not_taken_for_a_dead_server() {
    let real = ["/usr/bin/screen", "/bin/screen"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("screen is missing: apt-get install screen");
    let mut host = Host::new();
    let bin = host.tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    let count = host.tmp.path().join("listings");
    let wrapper = bin.join("screen");
    fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nif [ \"$1\" = -ls ]; then echo x >>'{count}'; [ $(wc -l <'{count}') -le 3 ] && exit 1; fi\n\
             # A server slow to start, so the listings come before it answers.\n\
             if [ \"$1\" = -dmS ]; then exec {real} -dmS \"$2\" sh -c 'sleep 0.5; exec \"$0\"' \"$3\"; fi\n\
             exec {real} \"$@\"\n",
            count = count.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&wrapper, fs::Permissions::from_mode(0o755)).unwrap();
    host.path_prefix.push(bin);
    let (out, events) = host.install(&["--start-methods", "screen"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(events.last().unwrap()["start_method"], "screen");
    assert!(
        fs::read_to_string(&count).unwrap().lines().count() > 3,
        "the late listings were not exercised"
    );
    let _ = host.stop();
    std::thread::sleep(Duration::from_millis(100));
}

/// `token` hands over the running server's token (the client reads it over SSH); the
/// token opens the server's API; with `--tree`, the server's answer for the root's
/// listing comes along when small. Nothing installed: a `failed` line, not a panic.
#[test]
fn token_says_the_servers_token_and_with_tree_the_roots_listing_when_small() {
    let host = Host::new();
    let dir = host.dir().to_string_lossy().into_owned();
    let none = host.agent(&["token", "--dir", &dir]);
    assert!(!none.status.success());
    assert_eq!(lines(&none).pop().unwrap()["failure"], "not_installed");
    let (out, _) = host.install(&["--start-methods", "setsid"]);
    assert!(out.status.success(), "{out:?}");
    let out = host.agent(&["token", "--dir", &dir]);
    assert!(out.status.success(), "{out:?}");
    let events = lines(&out);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "token");
    let token = events[0]["token"].as_str().unwrap();
    assert_eq!(token, fs::read_to_string(host.dir().join("token")).unwrap().trim());
    assert!(token.len() >= 32, "{token}");
    assert!(events[0].get("tree").is_none(), "asked for no listing: {events:?}");

    // With --tree, the server's own answer for the root's listing comes along: the same
    // JSON as the API gives for `GET /api/tree?path=` (the root is HOME here).
    fs::write(host.tmp.path().join("notes.txt"), "hello").unwrap();
    let out = host.agent(&["token", "--dir", &dir, "--tree"]);
    assert!(out.status.success(), "{out:?}");
    let events = lines(&out);
    assert_eq!(events[0]["token"], token, "{events:?}");
    let listed: serde_json::Value = serde_json::from_str(events[0]["tree"].as_str().unwrap()).unwrap();
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(host.dir().join("server.json")).unwrap()).unwrap();
    let port = state["port"].as_u64().unwrap() as u16;
    let bearer = format!("Bearer {token}");
    let (status, body) = common::request(
        port,
        "GET",
        "/api/tree?path=",
        &[("authorization", &bearer)],
        Vec::new(),
    );
    assert_eq!(status, 200);
    assert_eq!(listed, serde_json::from_slice::<serde_json::Value>(&body).unwrap());
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(names.contains(&"notes.txt") && names.contains(&"install"), "{names:?}");

    // A root whose listing is big (over 64 KiB) is left to the API (gzipped there).
    for i in 0..1000 {
        fs::write(
            host.tmp
                .path()
                .join(format!("a-file-with-a-rather-long-name-{i:04}.txt")),
            "",
        )
        .unwrap();
    }
    let out = host.agent(&["token", "--dir", &dir, "--tree"]);
    assert!(out.status.success(), "{out:?}");
    let events = lines(&out);
    assert_eq!(events[0]["token"], token, "{events:?}");
    assert!(
        events[0].get("tree").is_none(),
        "too big to come along: {} bytes",
        out.stdout.len()
    );
}

/// `logs` prints the log's last lines as they are, and with `--follow` what comes after,
/// across a rotation; it ends by itself once its reader has gone, without anything new
/// to write (a closed SSH channel).
#[test]
fn logs_prints_the_last_lines_follows_a_rotation_and_ends_when_the_reader_goes() {
    use std::io::{BufRead, BufReader};
    let host = Host::new();
    let dir = host.dir().to_string_lossy().into_owned();
    let missing = host.agent(&["logs", "--dir", &dir]);
    assert_eq!(missing.status.code(), Some(77), "{missing:?}");
    assert!(missing.stdout.is_empty(), "the output is the log alone");
    let logs = host.dir().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let log = logs.join("out.log");
    fs::write(&log, (1..=5).map(|i| format!("line {i}\n")).collect::<String>()).unwrap();
    let out = host.agent(&["logs", "--dir", &dir, "--lines", "2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "line 4\nline 5\n");

    let mut follow = host
        .agent_command(&["logs", "--dir", &dir, "--lines", "1", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = follow.id();
    let mut read = BufReader::new(follow.stdout.take().unwrap()).lines();
    let mut next = || read.next().unwrap().unwrap();
    assert_eq!(next(), "line 5");
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"line 6\n")
        .unwrap();
    assert_eq!(next(), "line 6");
    // Rotated as the server does: the old file moves aside, a new one starts.
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(b"line 7\n")
        .unwrap();
    fs::rename(&log, logs.join("out.log.1")).unwrap();
    fs::write(&log, "line 8\n").unwrap();
    let (a, b) = (next(), next());
    assert_eq!((a.as_str(), b.as_str()), ("line 7", "line 8"));
    drop(read);
    let status = follow.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!alive(u64::from(pid)));
}

/// `uninstall` stops the server, removes what deploy made (also a build's folders) and
/// keeps what the person put there, naming it; then the dir is gone once it is empty.
#[test]
fn uninstall_stops_the_server_and_removes_only_what_deploy_made() {
    let host = Host::new();
    let dir = host.dir().to_string_lossy().into_owned();
    let (out, events) = host.install(&["--start-methods", "setsid"]);
    assert!(out.status.success(), "{out:?}");
    let pid = events.last().unwrap()["pid"].as_u64().unwrap();
    fs::create_dir_all(host.dir().join("build/target/release")).unwrap();
    fs::write(host.dir().join("build/target/release/mlcremote"), "x").unwrap();
    fs::write(host.dir().join("notes.txt"), "mine").unwrap();
    let out = host.agent(&["uninstall", "--dir", &dir]);
    assert!(out.status.success(), "{out:?}");
    let result = &lines(&out).pop().unwrap()["result"];
    assert_eq!(result["kept"]["others"], serde_json::json!(["notes.txt"]), "{result}");
    assert!(!alive(pid), "the server still runs");
    let mut left: Vec<String> = fs::read_dir(host.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["notes.txt"]);
    fs::remove_file(host.dir().join("notes.txt")).unwrap();
    let out = host.agent(&["uninstall", "--dir", &dir]);
    assert_eq!(lines(&out).pop().unwrap()["result"], "removed");
    assert!(!host.dir().exists());
    let out = host.agent(&["uninstall", "--dir", &dir]);
    assert_eq!(lines(&out).pop().unwrap()["result"], "absent");
    // The home folder is refused, whatever it holds.
    let home = host.tmp.path().to_string_lossy().into_owned();
    let out = host.agent(&["uninstall", "--dir", &home]);
    assert!(!out.status.success());
    let failed = lines(&out).pop().unwrap();
    assert_eq!(failed["failure"], "install_failed", "{failed}");
    assert!(failed["message"].as_str().unwrap().contains("home folder"), "{failed}");
    assert!(host.tmp.path().exists());
}

/// `lock` takes the lock and says so, a second finds it busy (naming the holder) without
/// waiting, and the lock goes the moment the first one's reader does.
#[test]
fn lock_is_held_while_read_and_a_second_finds_it_busy() {
    use std::io::{BufRead, BufReader};
    let host = Host::new();
    let dir = host.dir().to_string_lossy().into_owned();
    let mut first = host
        .agent_command(&["lock", "--dir", &dir, "--owner", "build on desk"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut read = BufReader::new(first.stdout.take().unwrap()).lines();
    let locked: serde_json::Value = serde_json::from_str(&read.next().unwrap().unwrap()).unwrap();
    assert_eq!(locked["event"], "locked");
    assert_eq!(locked["holder"], first.id());
    assert_eq!(mode(&host.dir()), 0o700);
    let second = host.agent(&["lock", "--dir", &dir, "--owner", "another"]);
    assert!(!second.status.success());
    let busy = lines(&second).pop().unwrap();
    assert_eq!(busy["event"], "busy");
    assert!(
        busy["holder"].as_str().unwrap().starts_with("build on desk since "),
        "{busy}"
    );
    assert!(host.dir().join(".lock").exists());
    drop(read);
    assert!(first.wait().unwrap().success());
    assert!(!host.dir().join(".lock").exists(), "the lock outlived its holder");
}
