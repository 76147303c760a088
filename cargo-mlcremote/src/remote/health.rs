//! How the running server is: `/health` through the SSH connection (a direct-tcpip
//! channel, so no port is opened to the network), or, where the SSH server refuses
//! forwarding, with the server's own `mlcremote health` on the host.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::scripts;
use crate::{
    err,
    error::Result,
    ssh::{HttpError, Session},
};

/// What `GET /health` answers (SPEC §4).
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

impl Health {
    /// Parse a `/health` body; only `"status": "ok"` counts as healthy.
    pub fn parse(body: &str) -> Result<Health, String> {
        let health: Health =
            serde_json::from_str(body.trim()).map_err(|e| format!("/health is not what mlcremote answers: {e}"))?;
        if health.status == "ok" {
            Ok(health)
        } else {
            Err(format!("/health says status {:?}", health.status))
        }
    }
}

/// How long one `/health` request may take.
pub const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One `/health` check of the server on the host's `port`.
pub async fn once(session: &Session, dir: &str, port: u16) -> Result<Health, String> {
    let body = match session.http_get(port, "/health", HEALTH_REQUEST_TIMEOUT).await {
        Ok((200, body)) => body,
        Ok((status, body)) => {
            return Err(format!(
                "/health answered {status}: {}",
                body.chars().take(200).collect::<String>()
            ));
        }
        Err(HttpError::ForwardingRefused) => {
            let out = session
                .run_for(&scripts::health_script(dir), HEALTH_REQUEST_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            if out.status != 0 {
                return Err(format!("mlcremote health failed: {}{}", out.stdout, out.stderr));
            }
            out.stdout
        }
        Err(HttpError::Failed(e)) => return Err(e),
    };
    Health::parse(&body)
}

/// Poll `/health` with backoff until it says ok, or `timeout` passes.
pub async fn wait(session: &Session, dir: &str, port: u16, timeout: Duration) -> Result<Health> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        match once(session, dir, port).await {
            Ok(health) => return Ok(health),
            Err(last) if Instant::now() + pause >= deadline => {
                return Err(err!(
                    Unhealthy,
                    "the server did not become healthy within {}: {last}",
                    crate::ssh::shown(timeout)
                ));
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}
