//! What every route handler shares: the server's state, and the JSON error answer.

use std::time::Instant;

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

pub struct AppState {
    pub host: String,
    pub pid: u32,
    /// The port this server listens on (left out of `/api/ports`).
    pub port: u16,
    pub started: Instant,
    pub started_at: String,
    pub token: String,
    /// Every file path is resolved beneath it.
    pub root: crate::beneath::Root,
    /// Largest accepted `PUT /api/file` body, in bytes.
    pub max_upload: u64,
    /// A request body that sends no byte for this long ends (and its temp file goes).
    pub body_idle: std::time::Duration,
    /// Where deleted files go until restored or removed (`~/.mlcremote/trash`).
    pub trash: Option<std::path::PathBuf>,
    /// The terminal sessions (at most `--max-terminals`).
    pub sessions: std::sync::Arc<crate::sessions::Sessions>,
}

/// A JSON error body `{"error": "..."}` with its status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}
