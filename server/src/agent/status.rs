//! `agent status`: what is installed and how its server is, in one answer.

use std::time::Duration;

use serde::Serialize;

use super::{
    layout::{InstallInfo, Layout},
    process,
};
use crate::{build_info, state::State};

/// How long the `/health` question may take (a stopped server never answers).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize)]
pub struct Status {
    /// Of this answer's format.
    pub schema: u32,
    /// The installed binary (this one).
    pub version: &'static str,
    pub target: &'static str,
    pub commit: &'static str,
    pub sha256: Option<String>,
    pub install: Option<InstallInfo>,
    /// `server.json`, if there is one.
    pub server: Option<State>,
    /// The server in `server.json` runs, and is this install's.
    pub running: bool,
    /// Its `/health`, if it answered in time.
    pub health: Option<serde_json::Value>,
    /// What went wrong asking `/health`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_error: Option<String>,
}

pub fn status(layout: &Layout) -> Status {
    let binary = layout.binary();
    let server = State::read(&layout.state()).ok();
    let running = server
        .as_ref()
        .is_some_and(|s| process::owned(s, &[&binary, &layout.prev()]));
    let (health, health_error) = match (&server, running) {
        (Some(s), true) => match health(s) {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(format!("{e:#}"))),
        },
        _ => (None, None),
    };
    Status {
        schema: 1,
        version: build_info::VERSION,
        target: build_info::TARGET,
        commit: build_info::COMMIT,
        sha256: sha256_file(&binary).ok(),
        install: layout.install_info(),
        server,
        running,
        health,
        health_error,
    }
}

/// `/health` of the server `state` names, if it says ok.
pub fn health(state: &State) -> anyhow::Result<serde_json::Value> {
    let body = crate::health::get(state.loopback(), state.port, "/health", HEALTH_TIMEOUT)?;
    let value: serde_json::Value = serde_json::from_str(&body)?;
    anyhow::ensure!(value["status"] == "ok", "/health says {value}");
    Ok(value)
}

/// Lowercase hex sha256 of a file, read in chunks.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
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
