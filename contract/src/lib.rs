//! The contract between the client (`cargo mlcremote`) and the server binary's `agent`
//! commands on the host, typed once for both sides: the records deploy keeps in the
//! install dir (SPEC §4, §5), what `/health` answers, and the JSON lines the agent
//! prints (progress events, then one outcome). Neither side matches strings: a new
//! variant is a compile error on both.
//!
//! [`VERSION`] says which commands an installed agent has: the client asks an agent for
//! what it needs only when the agent's [`Status::schema`] is at least the version that
//! brought the command, and otherwise says to redeploy (or, for what must work without a
//! working binary, uses its shell fallback).

use std::{io::Read, path::Path};

use serde::{Deserialize, Serialize};

/// The contract's version, reported as [`Status::schema`].
///
/// - 1: `status`, `probe`, `install`, `restart`, `stop`.
/// - 2: `token`, `logs`, `uninstall`, `lock`.
pub const VERSION: u32 = 2;

/// The first version whose agent has `token`, `logs`, `uninstall` and `lock`.
pub const HOST_COMMANDS: u32 = 2;

/// What deploy creates in the install dir (SPEC §5), by name: all that uninstall
/// removes of it, besides the upload leftovers (`.mlcremote.upload-*`,
/// `.mlcremote.part-*`, `server.json.tmp.*`) and a build's folders.
pub const INSTALLED_FILES: &[&str] = &[
    "mlcremote",
    "mlcremote.prev",
    "run.sh",
    "run.sh.prev",
    "run.sh.tmp",
    "token",
    "token.tmp",
    "server.json",
    "install.json",
    "install.json.prev",
    "install.json.tmp",
    "logs/out.log",
    "logs/out.log.1",
    ".lock/pid",
    ".lock/owner",
    "build/build.log",
    "toolchain/rustup-init",
];

/// The install dir's folders uninstall removes with all they hold (a build's).
pub const INSTALLED_TREES: &[&str] = &[
    "build/target",
    "build/docker-target",
    "build/cargo-home",
    "toolchain/rustup",
    "toolchain/cargo",
];

/// Its folders uninstall removes when they are left empty (the trash keeps what the
/// person deleted in the workspace, unless it is empty).
pub const INSTALLED_FOLDERS: &[&str] = &["logs", ".lock", "build", "toolchain", "trash"];

/// How the server is kept running after the SSH connection closes (SPEC §6 step 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMethod {
    Systemd,
    Setsid,
    Nohup,
    Tmux,
    Screen,
}

impl StartMethod {
    /// The order `auto` tries them in.
    pub const ALL: [StartMethod; 5] = [
        StartMethod::Systemd,
        StartMethod::Setsid,
        StartMethod::Nohup,
        StartMethod::Tmux,
        StartMethod::Screen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Systemd => "systemd",
            StartMethod::Setsid => "setsid",
            StartMethod::Nohup => "nohup",
            StartMethod::Tmux => "tmux",
            StartMethod::Screen => "screen",
        }
    }

    /// What the probe reports when this method can work on the host.
    pub fn tool(self) -> &'static str {
        match self {
            StartMethod::Systemd => "systemd-user",
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Option<StartMethod> {
        StartMethod::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// `install.json`, written by a successful install (SPEC §5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallInfo {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub installed_at: String,
    /// A [`StartMethod`] name (kept a string: a later client may know more methods).
    #[serde(default)]
    pub start_method: String,
    /// The server's file root, when it is not the home folder (`deploy --root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

impl InstallInfo {
    pub fn start_method(&self) -> Option<StartMethod> {
        StartMethod::parse(&self.start_method)
    }
}

/// `server.json`: how deploy and `mlcremote health` find the running server (SPEC §4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerState {
    pub pid: u32,
    pub port: u16,
    #[serde(default)]
    pub bind: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub started_at: String,
    /// When the process started, in clock ticks since boot (Linux, `/proc/PID/stat`
    /// field 22): with the pid, it tells this server from a later process that reused
    /// the pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_start: Option<u64>,
}

impl ServerState {
    /// Where to reach the server from the host itself.
    pub fn loopback(&self) -> &str {
        match self.bind.as_str() {
            "0.0.0.0" | "" => "127.0.0.1",
            "::" => "::1",
            other => other,
        }
    }
}

/// What `GET /health` answers (SPEC §4): no secrets, no paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: String,
    pub host: String,
    pub version: String,
    pub target: String,
    pub pid: u32,
    pub uptime_s: u64,
    pub started_at: String,
}

/// `agent status`: what is installed, and how its server is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// The contract [`VERSION`] of the installed agent (absent: 1).
    #[serde(default = "first")]
    pub schema: u32,
    /// The installed binary (the agent itself).
    pub version: String,
    pub target: String,
    #[serde(default)]
    pub commit: String,
    pub sha256: Option<String>,
    pub install: Option<InstallInfo>,
    /// `server.json`, if there is one.
    pub server: Option<ServerState>,
    /// The server in `server.json` runs and is proven to be this install's.
    pub running: bool,
    /// Its `/health`, if it answered in time.
    pub health: Option<Health>,
    /// What went wrong asking `/health`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
}

fn first() -> u32 {
    1
}

impl Status {
    /// `mlcremote 0.1.0 (x86_64-unknown-linux-musl, commit abc1234)`, as `--version` says.
    pub fn version_line(&self) -> String {
        format!("mlcremote {} ({}, commit {})", self.version, self.target, self.commit)
    }
}

/// Why an agent command failed; the client maps each to a SPEC exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The upload is not what the client sent (size or sha256).
    CorruptUpload,
    /// Another deploy held the lock for too long.
    Locked,
    /// Writing into the install dir failed (permission, full disk), or it is refused
    /// (the home folder, the root).
    InstallFailed,
    /// None of the start methods works here.
    NoStartMethod,
    /// The new server exited right after starting.
    DiedAtStart,
    /// The new server did not answer `/health` in time.
    Unhealthy,
    /// Nothing is installed there.
    NotInstalled,
    /// A failure this client does not know (a newer agent's).
    #[serde(other)]
    Other,
}

/// The steps of the agent's commands, as events and failures name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The upload checked against what the client sent.
    Verify,
    /// The deploy lock taken.
    Lock,
    /// The deploy lock, held by the client's own holder (a build on the host), taken as ours.
    Locked,
    /// Files written into the install dir.
    Install,
    /// Swapped in, the old server stopped and the new one started.
    #[serde(rename = "install+start")]
    InstallStart,
    Start,
    /// The new server answered `/health`.
    Health,
    Restart,
    Stop,
    Uninstall,
    Token,
    Logs,
    /// A step this client does not know (a newer agent's).
    #[serde(other)]
    Other,
}

/// What `uninstall` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Uninstalled {
    /// The install dir is gone.
    Removed,
    /// Our files are gone; the dir stays because it holds these others (the first few).
    Kept { others: Vec<String> },
    /// Nothing was installed there.
    Absent,
}

/// One line the agent prints: progress, then one outcome.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Another deploy holds the lock; the agent waits for it on the host.
    Waiting { holder: String, since: String },
    /// A step done, and how long it took.
    Step { step: Step, ms: u64 },
    /// `install`, `restart`: the new server runs and is healthy.
    Done {
        version: String,
        target: String,
        pid: u32,
        port: u16,
        start_method: StartMethod,
        health: Health,
        /// The server that was stopped, if one ran.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped: Option<u32>,
    },
    /// What failed, the new server's log, and how the rollback went.
    Failed {
        failure: Failure,
        message: String,
        /// The step that failed.
        step: Step,
        /// The new server's log since it started (last 100 lines).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        log: Option<String>,
        /// What the rollback did, when there was one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rollback: Option<String>,
    },
    /// `stop`: the pid stopped, if one ran.
    Stopped { stopped: Option<u32> },
    /// `token`: the running server's token (it travels over SSH only); with `--tree`,
    /// the server's JSON answer for the root's listing, where it is small.
    Token {
        token: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tree: Option<String>,
    },
    /// `uninstall`: what is left.
    Uninstalled { result: Uninstalled },
    /// `lock`: the deploy lock is held by `holder` (the agent's pid) until its output
    /// is no longer read.
    Locked { holder: u32 },
    /// `lock`: another live deploy holds it.
    Busy { holder: String },
}

impl Event {
    /// One line of agent output; `None` for anything else (a shell line).
    pub fn parse(line: &str) -> Option<Event> {
        let line = line.trim();
        line.starts_with('{').then(|| serde_json::from_str(line).ok()).flatten()
    }

    /// Progress, not an outcome.
    pub fn is_progress(&self) -> bool {
        matches!(self, Event::Waiting { .. } | Event::Step { .. })
    }

    /// The outcome of a command's output: its last event that is not progress.
    pub fn outcome(stdout: &str) -> Option<Event> {
        stdout.lines().rev().filter_map(Event::parse).find(|e| !e.is_progress())
    }
}

/// Lowercase hex sha256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `Accept-Encoding` header values take gzip: a `gzip` entry whose weight is not
/// zero (`gzip;q=0` refuses it). The server compresses its big JSON answers for such a
/// client, and the UI serves its own files gzipped to it.
pub fn takes_gzip<'a>(accept_encoding: impl IntoIterator<Item = &'a str>) -> bool {
    accept_encoding.into_iter().flat_map(|v| v.split(',')).any(|entry| {
        let mut parts = entry.split(';').map(str::trim);
        parts.next().is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
            && !parts.any(|p| {
                p.strip_prefix("q=")
                    .or_else(|| p.strip_prefix("Q="))
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines are what agents already deployed print and clients already read.
    #[test]
    fn events_read_and_write_the_lines_of_the_wire() {
        let line = r#"{"event":"step","step":"install+start","ms":12}"#;
        let event = Event::parse(line).unwrap();
        assert!(matches!(
            event,
            Event::Step {
                step: Step::InstallStart,
                ms: 12
            }
        ));
        assert_eq!(serde_json::to_string(&event).unwrap(), line);
        let failed = r#"{"event":"failed","failure":"died_at_start","message":"m","step":"start"}"#;
        assert!(matches!(
            Event::parse(failed),
            Some(Event::Failed {
                failure: Failure::DiedAtStart,
                step: Step::Start,
                ..
            })
        ));
        let newer = r#"{"event":"failed","failure":"gremlins","message":"m","step":"dance"}"#;
        assert!(matches!(
            Event::parse(newer),
            Some(Event::Failed {
                failure: Failure::Other,
                step: Step::Other,
                ..
            })
        ));
        let out = format!("{line}\nnoise\n{failed}\n");
        assert!(matches!(Event::outcome(&out), Some(Event::Failed { .. })));
        assert!(Event::parse("token=abc").is_none(), "a shell line is no event");
    }

    #[test]
    fn a_status_without_a_schema_is_version_one() {
        let status: Status = serde_json::from_str(
            r#"{"version":"0.1.0","target":"t","sha256":null,"install":null,"server":null,"running":false,"health":null}"#,
        )
        .unwrap();
        assert_eq!(status.schema, 1);
        assert!(status.schema < HOST_COMMANDS);
    }

    #[test]
    fn install_and_server_records_keep_their_names() {
        let info: InstallInfo = serde_json::from_str(r#"{"start_method":"tmux","root":"/srv"}"#).unwrap();
        assert_eq!(info.start_method(), Some(StartMethod::Tmux));
        let state: ServerState = serde_json::from_str(r#"{"pid":7,"port":8,"bind":"::"}"#).unwrap();
        assert_eq!(state.loopback(), "::1");
        for m in StartMethod::ALL {
            assert_eq!(StartMethod::parse(m.name()), Some(m));
            assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{}\"", m.name()));
        }
    }

    #[test]
    fn a_file_hashes_as_sha256sum_says() {
        let dir = std::env::temp_dir().join(format!("contract-sha-{}", std::process::id()));
        std::fs::write(&dir, b"abc").unwrap();
        let sum = sha256_file(&dir).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(sum, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn gzip_is_taken_unless_absent_or_weighed_zero() {
        assert!(takes_gzip(["gzip, deflate, br, zstd"]));
        assert!(takes_gzip(["br", "GZIP;q=0.5"]));
        assert!(!takes_gzip(["br, deflate"]));
        assert!(!takes_gzip(["gzip;q=0, br"]));
        assert!(!takes_gzip(["gzip; q=0.000"]));
        assert!(!takes_gzip(["x-gzip"]));
        assert!(!takes_gzip([]));
    }
}
