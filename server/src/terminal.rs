//! `/ws/terminal`: a WebSocket backed by a PTY running the user's shell. PTY output goes
//! out as binary frames; binary or text frames go in as input, except a text frame
//! `{"type":"resize","cols":N,"rows":N}`. Closing the socket ends the shell's whole
//! process group, and so does a client that vanished: the socket is pinged, and three
//! pings without any answer end it. A server has at most `--max-terminals` open.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{
        Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{
    api::{ApiError, AppState},
    log,
};

#[derive(Deserialize)]
pub struct TerminalQuery {
    cols: Option<u16>,
    rows: Option<u16>,
    shell: Option<String>,
}

pub async fn upgrade(
    State(app): State<Arc<AppState>>,
    Query(q): Query<TerminalQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let shell = match choose_shell(q.shell.as_deref()) {
        Ok(shell) => shell,
        Err(e) => return e.into_response(),
    };
    let Ok(permit) = app.terminals.clone().try_acquire_owned() else {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{} terminals are open already; close one first", app.max_terminals),
        )
        .into_response();
    };
    let size = pty_process::Size::new(q.rows.unwrap_or(24).max(1), q.cols.unwrap_or(80).max(1));
    let root = app.root.path().to_path_buf();
    let ping = app.terminal_ping;
    ws.on_upgrade(move |socket| async move {
        if let Err(e) = run(socket, &shell, &root, size, ping).await {
            log::warn(&format!("terminal: {e}"));
        }
        drop(permit);
    })
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

/// Pings unanswered (nothing at all heard from the client) before a terminal is ended.
const MISSED_PINGS: u32 = 3;

async fn run(
    mut socket: WebSocket,
    shell: &str,
    cwd: &std::path::Path,
    size: pty_process::Size,
    ping: Duration,
) -> anyhow::Result<()> {
    let (pty, pts) = pty_process::open()?;
    pty.resize(size)?;
    let mut child = pty_process::Command::new(shell)
        .current_dir(cwd)
        .env("TERM", "xterm-256color")
        .spawn(pts)?;
    // The shell is a session leader: its pid is its process group.
    let group = child.id().map(|id| id as i32);
    let (mut reader, mut writer) = pty.into_split();
    let mut buf = vec![0u8; 16 * 1024];
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping, ping);
    let mut unanswered = 0;
    // A client that stopped reading holds a send no longer than it may stay silent.
    let send_limit = ping * MISSED_PINGS;
    loop {
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break, // the shell exited (EIO on Linux)
                Ok(n) => {
                    let sent = tokio::time::timeout(send_limit, socket.send(Message::Binary(buf[..n].to_vec().into()))).await;
                    if !matches!(sent, Ok(Ok(()))) { break }
                }
            },
            _ = pings.tick() => {
                if unanswered >= MISSED_PINGS {
                    log::warn("terminal: the client stopped answering; ending its shell");
                    break;
                }
                unanswered += 1;
                let sent = tokio::time::timeout(send_limit, socket.send(Message::Ping(Vec::new().into()))).await;
                if !matches!(sent, Ok(Ok(()))) { break }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Binary(data))) => { unanswered = 0; writer.write_all(&data).await? }
                Some(Ok(Message::Text(text))) => {
                    unanswered = 0;
                    match crate::resize::parse(text.as_str()) {
                        Some((cols, rows)) => writer.resize(pty_process::Size::new(rows, cols))?,
                        None => writer.write_all(text.as_bytes()).await?,
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => unanswered = 0,
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
        }
    }
    end_group(group, &mut child).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(Message::Close(None))).await;
    Ok(())
}

/// SIGHUP the shell's process group and every job it started (an interactive shell puts
/// each job in a group of its own, all in the shell's session), as a closing terminal
/// does; then SIGKILL whatever ignored it. Finding the groups scans `/proc`: that runs
/// on the blocking pool, never on the workers that serve requests.
async fn end_group(group: Option<i32>, child: &mut tokio::process::Child) {
    if let Some(sid) = group {
        let signal = |signal| tokio::task::spawn_blocking(move || signal_session(sid, signal));
        let _ = signal(libc::SIGHUP).await;
        let _ = tokio::time::timeout(Duration::from_millis(500), child.wait()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = signal(libc::SIGKILL).await;
    }
    let _ = child.wait().await;
}

fn signal_session(sid: i32, signal: i32) {
    let mut groups = vec![sid];
    groups.extend(session_groups(sid));
    groups.sort_unstable();
    groups.dedup();
    for pgid in groups {
        // SAFETY: killpg has no memory-safety preconditions; a gone group is ESRCH.
        unsafe { libc::killpg(pgid, signal) };
    }
}

/// Process groups in session `sid` (Linux: from /proc; elsewhere only the leader's).
fn session_groups(sid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| {
            // After the `(comm)` field: state ppid pgrp session ...
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let (pgrp, session) = (fields.get(2)?.parse().ok()?, fields.get(3)?.parse::<i32>().ok()?);
            (session == sid).then_some(pgrp)
        })
        .collect()
}
