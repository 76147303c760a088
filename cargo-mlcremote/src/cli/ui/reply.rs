//! The shape of the UI's own errors: a JSON body, as the host's server writes them.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// A JSON error body `{"error": message}` with its status.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}
