//! The HTTP routes, the auth gate in front of `/api/` and `/ws/`, and request logging.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};

use crate::{
    api::{ApiError, AppState},
    build_info, files, log, manage, terminal,
};

/// Requests other than the terminal and file transfers must finish within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/tree", get(files::tree))
        .route("/stat", get(files::stat))
        .route("/file", get(files::read).put(files::write).delete(files::delete))
        .route("/rename", post(files::rename))
        .route("/mkdir", post(files::mkdir))
        .route("/copy", post(manage::copy))
        .route("/chmod", post(manage::chmod))
        .route("/trash", post(manage::trash))
        .route("/untrash", post(manage::untrash))
        .route("/archive", get(manage::archive))
        .route("/search", get(crate::search::search))
        .route("/find", get(crate::search::find))
        .route("/ports", get(crate::ports::list))
        .route("/terminals", get(terminal::list))
        .route("/terminals/{id}", axum::routing::delete(terminal::delete))
        .route_layer(middleware::from_fn(timeout));
    let ws = Router::new()
        .route("/terminal", get(terminal::upgrade))
        .route("/watch", get(crate::watch::upgrade));
    let guarded = Router::new()
        .nest("/api", api)
        .nest("/ws", ws)
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .merge(guarded)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// No auth, no secrets, no paths: safe for anyone who can reach the port.
async fn health(State(app): State<Arc<AppState>>) -> Json<mlcremote_contract::Health> {
    Json(mlcremote_contract::Health {
        status: "ok".into(),
        host: app.host.clone(),
        version: build_info::VERSION.into(),
        target: build_info::TARGET.into(),
        pid: app.pid,
        uptime_s: app.started.elapsed().as_secs(),
        started_at: app.started_at.clone(),
    })
}

/// `Authorization: Bearer`, `X-Auth-Token`, or (WebSocket only, since browsers cannot set
/// headers there) `?token=`. Compared in constant time.
async fn require_token(State(app): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let header_token = headers.get("x-auth-token").and_then(|v| v.to_str().ok());
    let query_token = if request.uri().path().starts_with("/ws/") {
        request.uri().query().and_then(|q| {
            q.split('&')
                .find_map(|pair| pair.strip_prefix("token="))
                .map(crate::query::percent_decode)
        })
    } else {
        None
    };
    let offered = bearer
        .map(str::to_owned)
        .or(header_token.map(str::to_owned))
        .or(query_token);
    match offered {
        Some(token) if constant_time_eq(token.trim().as_bytes(), app.token.as_bytes()) => next.run(request).await,
        _ => ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong token").into_response(),
    }
}

/// Equal-length comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

async fn timeout(request: Request, next: Next) -> Response {
    // File transfers stream for as long as they take; everything else is bounded.
    if ["/file", "/api/file", "/archive", "/api/archive"].contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(StatusCode::REQUEST_TIMEOUT, "request took too long").into_response(),
    }
}

/// One line per request: method, path (never the query: it may hold the token), status, time.
/// A `/health` that answers ok is not logged: deploy and status ask it often, and anyone
/// on the host may, so it would only bury what matters.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    if path == "/health" && response.status().is_success() {
        return response;
    }
    log::info(&format!(
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        start.elapsed().as_secs_f64() * 1e3
    ));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
