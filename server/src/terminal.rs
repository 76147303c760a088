//! Terminal sessions (SPEC §4): a shell on a PTY that outlives its WebSocket. The first
//! frame of `/ws/terminal` is `{"type":"session","id"}`; PTY output goes out as binary
//! frames, binary or text frames go in as input (except `{"type":"resize",…}`). When the
//! socket closes the shell keeps running, its output kept in a ring buffer, until it
//! exits, is deleted (`DELETE /api/terminals/<id>`), or stays detached longer than
//! `--detach-timeout`. `?session=<id>` attaches again: the buffered output, then live.
//! One socket is attached at a time: a second one takes the session over, and the first
//! is told (`{"type":"taken"}`); a shell that exits says so (`{"type":"exit","status"}`).
//! Nothing respawns. A server has at most `--max-terminals` sessions.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    extract::{
        Path, Query, State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc},
};

use crate::{
    api::{ApiError, AppState},
    log,
};

/// Output kept for a session while no socket is attached (and replayed on attach).
const RING: usize = 1024 * 1024;
/// Messages queued for an attached socket; a socket that falls this far behind is
/// detached (it attaches again and gets the ring's replay).
const QUEUE: usize = 256;
/// Pings unanswered (nothing at all heard from the client) before a socket is detached.
const MISSED_PINGS: u32 = 3;

/// Every session of this server.
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    /// Numbers the sessions in the order they started.
    started: std::sync::atomic::AtomicU64,
    permits: Arc<Semaphore>,
    max: usize,
    detach_timeout: Duration,
    ping: Duration,
}

struct Session {
    id: String,
    order: u64,
    pid: u32,
    command: String,
    started_at: String,
    input: mpsc::Sender<Input>,
    /// Ends the session (DELETE, shutdown).
    end: Notify,
    /// Attached or detached: the session's deadline changed.
    changed: Notify,
    shared: Mutex<Shared>,
}

struct Shared {
    ring: VecDeque<u8>,
    cols: u16,
    rows: u16,
    /// The attached socket: its number and its queue.
    attached: Option<(u64, mpsc::Sender<Out>)>,
    next_attach: u64,
    detached_since: Option<Instant>,
}

enum Input {
    Data(Vec<u8>),
    Resize(u16, u16),
}

enum Out {
    Data(Vec<u8>),
    /// Another socket attached.
    Taken,
    /// The shell ended, with its exit status when it exited by itself.
    Exit(Option<i32>),
}

/// One row of `GET /api/terminals`.
#[derive(Serialize)]
pub struct Listed {
    id: String,
    pid: u32,
    command: String,
    started_at: String,
    attached: bool,
    cols: u16,
    rows: u16,
}

impl Sessions {
    pub fn new(max: usize, detach_timeout: Duration, ping: Duration) -> Arc<Sessions> {
        Arc::new(Sessions {
            map: Mutex::new(HashMap::new()),
            started: std::sync::atomic::AtomicU64::new(0),
            permits: Arc::new(Semaphore::new(max)),
            max,
            detach_timeout,
            ping,
        })
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// End every session (the server is stopping): each shell's groups get SIGHUP, then
    /// SIGKILL, as when its terminal closes.
    pub fn end_all(&self) {
        let pids: Vec<u32> = self.lock().values().map(|s| s.pid).collect();
        for &pid in &pids {
            signal_session(pid as i32, libc::SIGHUP);
        }
        if !pids.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in pids {
            signal_session(pid as i32, libc::SIGKILL);
        }
    }

    /// Start `shell` on a new PTY; its task runs until the session ends.
    fn spawn(
        self: &Arc<Self>,
        shell: &str,
        cwd: &std::path::Path,
        (cols, rows): (u16, u16),
        permit: OwnedSemaphorePermit,
    ) -> anyhow::Result<Arc<Session>> {
        let (pty, pts) = pty_process::open()?;
        pty.resize(pty_process::Size::new(rows, cols))?;
        let mut command = pty_process::Command::new(shell)
            .current_dir(cwd)
            .env("TERM", "xterm-256color");
        if let Some(lang) = utf8_locale() {
            command = command.env("LANG", lang);
        }
        let child = command.spawn(pts)?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("the shell exited at once"))?;
        let mut id = [0u8; 12];
        getrandom::fill(&mut id).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
        let (input, inputs) = mpsc::channel(64);
        let session = Arc::new(Session {
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            order: self.started.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            pid,
            command: shell.to_string(),
            started_at: crate::time::rfc3339(std::time::SystemTime::now()),
            input,
            end: Notify::new(),
            changed: Notify::new(),
            shared: Mutex::new(Shared {
                ring: VecDeque::new(),
                cols,
                rows,
                attached: None,
                next_attach: 0,
                detached_since: Some(Instant::now()),
            }),
        });
        self.lock().insert(session.id.clone(), session.clone());
        let (sessions, running) = (self.clone(), session.clone());
        tokio::spawn(async move {
            let status = running.drive(pty, child, inputs, sessions.detach_timeout).await;
            sessions.lock().remove(&running.id);
            if let Some((_, socket)) = running.shared().attached.take() {
                let _ = socket.try_send(Out::Exit(status));
            }
            drop(permit);
        });
        Ok(session)
    }
}

/// `LANG` for a shell started without one: a UTF-8 locale the host has, so non-ASCII
/// output is not escaped. None when the server's own environment names a locale.
fn utf8_locale() -> Option<&'static str> {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if set("LANG") || set("LC_ALL") || set("LC_CTYPE") {
        return None;
    }
    ["/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"]
        .iter()
        .any(|p| std::path::Path::new(p).exists())
        .then_some("C.UTF-8")
}

impl Session {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pump the PTY until the shell exits, the session is ended, or it stays detached
    /// past `timeout`; then end its process groups. The shell's exit status if it exited.
    async fn drive(
        &self,
        pty: pty_process::Pty,
        mut child: tokio::process::Child,
        mut inputs: mpsc::Receiver<Input>,
        timeout: Duration,
    ) -> Option<i32> {
        let (mut reader, mut writer) = pty.into_split();
        let mut buf = vec![0u8; 16 * 1024];
        let exited = loop {
            let deadline = self.shared().detached_since.map(|t| t + timeout);
            let expire = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break true, // the shell exited (EIO on Linux)
                    Ok(n) => self.output(&buf[..n]),
                },
                input = inputs.recv() => match input {
                    Some(Input::Data(data)) => if writer.write_all(&data).await.is_err() { break true },
                    Some(Input::Resize(cols, rows)) => {
                        let _ = writer.resize(pty_process::Size::new(rows, cols));
                        let mut shared = self.shared();
                        (shared.cols, shared.rows) = (cols, rows);
                    }
                    None => break false,
                },
                () = self.end.notified() => break false,
                () = self.changed.notified() => {}
                () = expire => {
                    log::info("terminal: detached past --detach-timeout; ending its shell");
                    break false;
                }
            }
        };
        end_group(Some(self.pid as i32), &mut child).await;
        let status = child.try_wait().ok().flatten();
        exited.then(|| status.and_then(|s| s.code())).flatten()
    }

    /// Output of the shell: kept in the ring, and sent to the attached socket (one that
    /// cannot keep up is detached).
    fn output(&self, data: &[u8]) {
        let mut shared = self.shared();
        shared.ring.extend(data);
        let excess = shared.ring.len().saturating_sub(RING);
        shared.ring.drain(..excess);
        let full = match &shared.attached {
            Some((_, socket)) => socket.try_send(Out::Data(data.to_vec())).is_err(),
            None => false,
        };
        if full {
            shared.attached = None;
            shared.detached_since = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    /// Attach a socket: its number, the output so far, and its queue. A socket attached
    /// before is told it was taken over.
    fn attach(&self) -> (u64, Vec<u8>, mpsc::Receiver<Out>) {
        let mut shared = self.shared();
        let number = shared.next_attach;
        shared.next_attach += 1;
        let (tx, rx) = mpsc::channel(QUEUE);
        if let Some((_, before)) = shared.attached.replace((number, tx)) {
            let _ = before.try_send(Out::Taken);
        }
        shared.detached_since = None;
        let replay = shared.ring.make_contiguous().to_vec();
        self.changed.notify_one();
        (number, replay, rx)
    }

    /// The socket `number` went away: the session waits, detached, if it was the one.
    fn detach(&self, number: u64) {
        let mut shared = self.shared();
        if shared.attached.as_ref().is_some_and(|(n, _)| *n == number) {
            shared.attached = None;
            shared.detached_since = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    fn listed(&self) -> Listed {
        let shared = self.shared();
        Listed {
            id: self.id.clone(),
            pid: self.pid,
            command: self.command.clone(),
            started_at: self.started_at.clone(),
            attached: shared.attached.is_some(),
            cols: shared.cols,
            rows: shared.rows,
        }
    }
}

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
