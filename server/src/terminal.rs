//! `/ws/terminal` and `/api/terminals` (SPEC §4): terminal sessions (`sessions.rs`) over
//! HTTP. The first frame of `/ws/terminal` is `{"type":"session","id"}`; PTY output goes
//! out as binary frames, binary or text frames go in as input (except
//! `{"type":"resize",…}`). When the socket closes the shell keeps running, its output
//! kept, until it exits, is deleted (`DELETE /api/terminals/<id>`), or stays detached
//! longer than `--detach-timeout`. `?session=<id>` attaches again: the kept output, then
//! live. One socket is attached at a time: a second one takes the session over, and the
//! first is told (`{"type":"taken"}`); a shell that exits says so
//! (`{"type":"exit","status"}`). Nothing respawns. At most `--max-terminals` sessions.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    extract::{
        Path, Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use crate::{
    api::{ApiError, AppState},
    log,
    sessions::{Input, Listed, Out, Session},
};

/// Pings unanswered (nothing at all heard from the client) before a socket is detached.
const MISSED_PINGS: u32 = 3;

#[derive(Deserialize)]
pub struct TerminalQuery {
    cols: Option<u16>,
    rows: Option<u16>,
    shell: Option<String>,
    session: Option<String>,
}

/// `GET /ws/terminal`: a new session, or `?session=<id>` to attach to one (404 if it
/// ended).
pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    Query(q): Query<TerminalQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let sessions = app.sessions.clone();
    if let Some(id) = q.session.filter(|id| !id.is_empty()) {
        let Some(session) = sessions.get(&id) else {
            return ApiError::new(StatusCode::NOT_FOUND, "no such terminal session: it ended").into_response();
        };
        return ws.on_upgrade(move |socket| serve(socket, session, sessions.ping));
    }
    let shell = match choose_shell(q.shell.as_deref()) {
        Ok(shell) => shell,
        Err(e) => return e.into_response(),
    };
    let Ok(permit) = sessions.permits.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{} terminals are open already; close one first", sessions.max),
        )
        .into_response();
    };
    let size = (q.cols.unwrap_or(80).max(1), q.rows.unwrap_or(24).max(1));
    let root = app.root.path().to_path_buf();
    ws.on_upgrade(move |socket| async move {
        match sessions.spawn(&shell, &root, size, permit) {
            Ok(session) => serve(socket, session, sessions.ping).await,
            Err(e) => log::warn(&format!("terminal: cannot start {shell}: {e}")),
        }
    })
}

/// `GET /api/terminals`: every session, oldest first.
pub async fn list(State(app): State<Arc<AppState>>) -> Json<Vec<Listed>> {
    let mut all: Vec<Arc<Session>> = app.sessions.lock().values().cloned().collect();
    all.sort_by_key(|s| s.order);
    Json(all.iter().map(|s| s.listed()).collect())
}

/// `DELETE /api/terminals/<id>`: end the session's process groups.
pub async fn delete(State(app): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match app.sessions.get(&id) {
        Some(session) => {
            session.end.notify_one();
            StatusCode::NO_CONTENT.into_response()
        }
        None => ApiError::new(StatusCode::NOT_FOUND, "no such terminal session").into_response(),
    }
}

/// One socket attached to `session` until either ends.
async fn serve(mut socket: WebSocket, session: Arc<Session>, ping: Duration) {
    let (number, replay, mut outputs) = session.attach();
    let hello = serde_json::json!({"type": "session", "id": session.id}).to_string();
    // A client that stopped reading holds a send no longer than it may stay silent.
    let limit = ping * MISSED_PINGS;
    let mut open = send(&mut socket, Message::Text(hello.into()), limit).await;
    for part in replay.chunks(64 * 1024) {
        if !open {
            break;
        }
        open = send(&mut socket, Message::Binary(part.to_vec().into()), limit).await;
    }
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping, ping);
    let mut unanswered = 0;
    while open {
        tokio::select! {
            out = outputs.recv() => match out {
                Some(Out::Data(data)) => open = send(&mut socket, Message::Binary(data.into()), limit).await,
                Some(Out::Taken) => {
                    let _ = send(&mut socket, Message::Text(r#"{"type":"taken"}"#.into()), limit).await;
                    open = false;
                }
                Some(Out::Exit(status)) => {
                    let exit = serde_json::json!({"type": "exit", "status": status}).to_string();
                    let _ = send(&mut socket, Message::Text(exit.into()), limit).await;
                    open = false;
                }
                None => open = false,
            },
            _ = pings.tick() => {
                if unanswered >= MISSED_PINGS {
                    log::warn("terminal: the client stopped answering; detaching it");
                    break;
                }
                unanswered += 1;
                open = send(&mut socket, Message::Ping(Vec::new().into()), limit).await;
            },
            incoming = socket.recv() => {
                let input = match incoming {
                    Some(Ok(Message::Binary(data))) => Some(Input::Data(data.to_vec())),
                    Some(Ok(Message::Text(text))) => Some(match crate::resize::parse(text.as_str()) {
                        Some((cols, rows)) => Input::Resize(cols, rows),
                        None => Input::Data(text.as_bytes().to_vec()),
                    }),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => { open = false; None }
                };
                unanswered = 0;
                if let Some(input) = input {
                    open = session.input.send(input).await.is_ok();
                }
            },
        }
    }
    session.detach(number);
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(None))).await;
}

/// Send within `limit`: false when the socket is gone or the client stopped reading.
async fn send(socket: &mut WebSocket, message: Message, limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, socket.send(message)).await, Ok(Ok(())))
}

/// The requested shell if it is a login shell listed in /etc/shells, else `$SHELL`, else /bin/sh.
fn choose_shell(requested: Option<&str>) -> Result<String, ApiError> {
    let listed = std::fs::read_to_string("/etc/shells").unwrap_or_default();
    let allowed = |s: &str| listed.lines().map(str::trim).any(|l| l == s) && std::path::Path::new(s).is_file();
    match requested.filter(|s| !s.is_empty()) {
        Some(shell) if allowed(shell) => Ok(shell.to_string()),
        Some(shell) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{shell} is not a shell listed in /etc/shells"),
        )),
        None => Ok(std::env::var("SHELL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into())),
    }
}
