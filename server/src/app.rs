//! The HTTP routes.

use std::{path::PathBuf, sync::Arc, time::Instant};

use axum::{Json, Router, extract::State, routing::get};
use serde_json::{Value, json};

use crate::build_info;

pub struct AppState {
    pub host: String,
    pub pid: u32,
    pub started: Instant,
    pub started_at: String,
    /// Used by the authenticated routes (file API, terminal).
    #[allow(dead_code)]
    pub token: String,
    #[allow(dead_code)]
    pub root: PathBuf,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new().route("/health", get(health)).with_state(state)
}

/// No auth, no secrets, no paths: safe for anyone who can reach the port.
async fn health(State(app): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "host": app.host,
        "version": build_info::VERSION,
        "target": build_info::TARGET,
        "pid": app.pid,
        "uptime_s": app.started.elapsed().as_secs(),
        "started_at": app.started_at,
    }))
}
