//! The shape of the UI's own errors: a JSON body, as the host's server writes them.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};

/// A request the UI could not serve: its status and why, answered as JSON. Handlers
/// return `Result<Response, Failure>` and use `?`.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// A JSON error body `{"error": message}` with its status.
pub fn error(status: StatusCode, message: &str) -> Response {
    Failure::new(status, message).into_response()
}
