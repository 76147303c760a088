//! `agent status`: what is installed and how its server is, in one answer.

use std::time::Duration;

use mlcremote_contract::Health;

use super::{layout::Layout, process};
use crate::{
    build_info,
    state::{self, State},
};

/// How long the `/health` question may take (a stopped server never answers).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

pub use mlcremote_contract::{Status, sha256_file};

pub fn status(layout: &Layout) -> Status {
    let binary = layout.binary();
    let server = state::read(&layout.state()).ok();
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
        schema: mlcremote_contract::VERSION,
        version: build_info::VERSION.into(),
        target: build_info::TARGET.into(),
        commit: build_info::COMMIT.into(),
        sha256: sha256_file(&binary).ok(),
        install: layout.install_info(),
        server,
        running,
        health,
        health_error,
    }
}

/// `/health` of the server `state` names, if it says ok.
pub fn health(state: &State) -> anyhow::Result<Health> {
    let body = crate::health::get(state.loopback(), state.port, "/health", HEALTH_TIMEOUT)?;
    let health: Health = serde_json::from_str(&body)?;
    anyhow::ensure!(health.status == "ok", "/health says {body}");
    Ok(health)
}
