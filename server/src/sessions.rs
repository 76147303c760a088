//! The terminal sessions themselves (SPEC §4): each a task that owns its PTY and shell,
//! keeps the last output in a ring buffer, and feeds the one socket attached to it, if
//! any. `terminal.rs` serves them over HTTP and WebSocket.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc},
};

use crate::log;

/// Output kept for a session while no socket is attached (and replayed on attach).
const RING: usize = 1024 * 1024;
/// Messages queued for an attached socket; a socket that falls this far behind is
/// detached (it attaches again and gets the ring's replay).
const QUEUE: usize = 256;
/// Every session of this server.
pub struct Sessions {
    map: Mutex<HashMap<String, Arc<Session>>>,
    /// Numbers the sessions in the order they started.
    started: std::sync::atomic::AtomicU64,
    pub(crate) permits: Arc<Semaphore>,
    pub(crate) max: usize,
    detach_timeout: Duration,
    pub(crate) ping: Duration,
}

pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) order: u64,
    pid: u32,
    command: String,
    started_at: String,
    pub(crate) input: mpsc::Sender<Input>,
    /// Ends the session (DELETE, shutdown).
    pub(crate) end: Notify,
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

pub(crate) enum Input {
    Data(Vec<u8>),
    Resize(u16, u16),
}

pub(crate) enum Out {
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

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
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
    pub(crate) fn spawn(
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
    pub(crate) fn attach(&self) -> (u64, Vec<u8>, mpsc::Receiver<Out>) {
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
    pub(crate) fn detach(&self, number: u64) {
        let mut shared = self.shared();
        if shared.attached.as_ref().is_some_and(|(n, _)| *n == number) {
            shared.attached = None;
            shared.detached_since = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    pub(crate) fn listed(&self) -> Listed {
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
