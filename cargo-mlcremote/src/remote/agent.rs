//! The server binary's own `agent` subcommands, as the client runs and reads them:
//! `status` (in the probe), `install` (after the upload, in the same exec), `restart`
//! and `stop`. They print one JSON object a line: progress events, then the outcome.

use serde::Deserialize;

use super::{Health, InstallInfo, ServerState, quote};
use crate::{
    error::{Error, Kind},
    ssh::Output,
};

/// `agent status`: what is installed, and how its server is.
#[derive(Clone, Debug, Deserialize)]
pub struct AgentStatus {
    pub version: String,
    pub target: String,
    #[serde(default)]
    pub commit: String,
    pub sha256: Option<String>,
    pub install: Option<InstallInfo>,
    pub server: Option<ServerState>,
    /// The server in `server.json` runs and is proven to be this install's.
    pub running: bool,
    pub health: Option<Health>,
    #[serde(default)]
    pub health_error: Option<String>,
}

impl AgentStatus {
    /// `mlcremote 0.1.0 (x86_64-unknown-linux-musl, commit abc1234)`, as `--version` says.
    pub fn version_line(&self) -> String {
        format!("mlcremote {} ({}, commit {})", self.version, self.target, self.commit)
    }
}

/// One line of `agent install`/`restart`/`stop` output.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentEvent {
    /// Another deploy holds the lock; the agent waits for it on the host.
    Waiting { holder: String, since: String },
    /// A step done on the host.
    Step { step: String, ms: u64 },
    /// The new server runs and is healthy.
    Done {
        version: String,
        target: String,
        pid: u32,
        port: u16,
        start_method: String,
        health: Health,
        stopped: Option<u32>,
    },
    /// What failed, the new server's log, and how the rollback went.
    Failed {
        failure: String,
        message: String,
        step: String,
        log: Option<String>,
        rollback: Option<String>,
    },
    /// `agent stop`: the pid stopped, if one ran.
    Stopped { stopped: Option<u32> },
}

impl AgentEvent {
    /// Parse one line of agent output; `None` for anything else (shell lines).
    pub fn parse(line: &str) -> Option<AgentEvent> {
        let line = line.trim();
        line.starts_with('{').then(|| serde_json::from_str(line).ok()).flatten()
    }

    /// The outcome of a run: its last event, if it is one.
    pub fn outcome(out: &Output) -> Option<AgentEvent> {
        out.stdout
            .lines()
            .rev()
            .filter_map(AgentEvent::parse)
            .find(|e| !matches!(e, AgentEvent::Waiting { .. } | AgentEvent::Step { .. }))
    }
}

/// A failure the agent reported, as an error with the SPEC exit code; the new server's
/// log (if any) goes in the detail, the rollback's outcome on the message.
pub fn failure_error(
    failure: &str,
    message: &str,
    step: &str,
    dir: &str,
    log: Option<&str>,
    rollback: Option<&str>,
) -> Error {
    let kind = match failure {
        "died_at_start" | "unhealthy" => Kind::Unhealthy,
        "not_installed" => Kind::Other,
        _ => Kind::Install,
    };
    let mut error = Error::new(kind, message);
    if let Some(log) = log {
        let log = if log.trim().is_empty() {
            "(the log is empty)"
        } else {
            log
        };
        error = error.with_detail(format!("failed step: {step}\nlast lines of {dir}/logs/out.log:\n{log}"));
    }
    if let Some(rollback) = rollback {
        error = error.append(rollback);
    }
    error
}

/// `"$d/mlcremote" agent …` of the installed binary, as a script line.
pub fn agent_command(dir: &str, args: &str) -> String {
    format!("{q}/mlcremote agent {args} --dir {q}", q = quote(dir))
}
