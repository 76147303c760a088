//! How the running server is: `/health` through the SSH connection (a direct-tcpip
//! channel, so no port is opened to the network), or, where the SSH server refuses
//! forwarding, with the server's own `mlcremote health` on the host.

use std::time::Duration;

use crate::{
    error::Result,
    ssh::{HttpError, Session},
};

pub use mlcremote_contract::Health;

/// Why `/health` did not say ok.
#[derive(Debug, thiserror::Error)]
pub enum Unhealthy {
    #[error("/health is not what mlcremote answers: {0}")]
    NotOurs(#[source] serde_json::Error),
    #[error("/health says status {0:?}")]
    Status(String),
    #[error("/health answered {status}: {body}")]
    Http { status: u16, body: String },
    #[error("mlcremote health failed: {0}")]
    OnHost(String),
    /// No answer: nothing listens yet, the request failed, or the SSH channel did.
    #[error("{0}")]
    NoAnswer(String),
}

/// Parse a `/health` body; only `"status": "ok"` counts as healthy.
pub fn parse(body: &str) -> Result<Health, Unhealthy> {
    let health: Health = serde_json::from_str(body.trim()).map_err(Unhealthy::NotOurs)?;
    if health.status == "ok" {
        Ok(health)
    } else {
        Err(Unhealthy::Status(health.status))
    }
}

/// How long one `/health` request may take.
pub const HEALTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One `/health` check of the server on the host's `port`.
pub async fn once(session: &Session, dir: &str, port: u16) -> Result<Health, Unhealthy> {
    let body = match session.http_get(port, "/health", HEALTH_REQUEST_TIMEOUT).await {
        Ok((200, body)) => body,
        Ok((status, body)) => {
            return Err(Unhealthy::Http {
                status,
                body: body.chars().take(200).collect(),
            });
        }
        Err(HttpError::ForwardingRefused) => {
            let out = session
                .run_for(&super::agent::health_command(dir), HEALTH_REQUEST_TIMEOUT)
                .await
                .map_err(|e| Unhealthy::NoAnswer(e.to_string()))?;
            if out.status != 0 {
                return Err(Unhealthy::OnHost(format!("{}{}", out.stdout, out.stderr)));
            }
            out.stdout
        }
        Err(HttpError::Failed(e)) => return Err(Unhealthy::NoAnswer(e)),
    };
    parse(&body)
}
