//! `/ws/watch` (SPEC §4): the page says which folders (and files) it shows, `{"watch":
//! [paths]}` / `{"unwatch":[paths]}`, and hears what changes in them: `{"type":"changed",
//! "path","kind":"create|modify|remove|rename"}`, debounced (one line per path and
//! burst). Native notification (inotify, kqueue) through the `notify` crate, polling
//! where none works. Each path is resolved beneath the root as the file API does, and
//! the watch is checked to be on that very folder afterwards; at most `MAX_WATCHES` a
//! socket. A path that cannot be watched is answered `{"type":"error","path","error"}`;
//! each request ends with `{"type":"watching","paths"}` (those now watched), after which
//! changes there are heard.

use std::{
    collections::{BTreeMap, HashMap},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use axum::{
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    response::Response,
};
use notify::{EventKind, RecursiveMode, Watcher, event::ModifyKind};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::api::AppState;

/// Paths one socket may watch at once.
const MAX_WATCHES: usize = 512;
/// Changes are gathered this long before they are sent.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Events queued from the watcher; past it they are dropped (a burst says enough).
const QUEUE: usize = 4096;
/// Where native notification is missing: how often the poller looks.
const POLL: Duration = Duration::from_secs(2);

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    watch: Vec<String>,
    #[serde(default)]
    unwatch: Vec<String>,
}

pub async fn upgrade(State(app): State<Arc<AppState>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| run(socket, app))
}

/// A native watcher, or a polling one where the platform has none.
fn watcher(tx: mpsc::Sender<notify::Event>) -> notify::Result<Box<dyn Watcher + Send>> {
    let send = move |tx: &mpsc::Sender<notify::Event>, event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let _ = tx.try_send(event);
        }
    };
    let native = {
        let tx = tx.clone();
        notify::recommended_watcher(move |e| send(&tx, e))
    };
    match native {
        Ok(w) => Ok(Box::new(w)),
        Err(_) => {
            let config = notify::Config::default().with_poll_interval(POLL);
            Ok(Box::new(notify::PollWatcher::new(move |e| send(&tx, e), config)?))
        }
    }
}

async fn run(mut socket: WebSocket, app: Arc<AppState>) {
    let (tx, mut events) = mpsc::channel(QUEUE);
    let mut watcher = match watcher(tx) {
        Ok(w) => w,
        Err(e) => {
            let _ = socket.send(error_line("", &format!("cannot watch here: {e}"))).await;
            return;
        }
    };
    // Absolute folder or file watched → its path relative to the root.
    let mut watched: HashMap<PathBuf, Vec<u8>> = HashMap::new();
    let mut pending: BTreeMap<Vec<u8>, &'static str> = BTreeMap::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let flush = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let Ok(request) = serde_json::from_str::<Request>(text.as_str()) else {
                        if socket.send(error_line("", "not a watch request: send {\"watch\":[paths]} or {\"unwatch\":[paths]}")).await.is_err() { break }
                        continue;
                    };
                    for raw in request.unwatch {
                        let rel = raw.into_bytes();
                        watched.retain(|abs, r| {
                            let gone = *r == rel;
                            if gone { let _ = watcher.unwatch(abs); }
                            !gone
                        });
                    }
                    let mut now = Vec::new();
                    for raw in request.watch {
                        match watch(&app, &mut *watcher, &mut watched, raw.as_bytes()).await {
                            Ok(()) => now.push(raw),
                            Err(e) => if socket.send(error_line(&raw, &e)).await.is_err() { return },
                        }
                    }
                    // Done: from here on, changes there are heard.
                    let done = serde_json::json!({"type": "watching", "paths": now}).to_string();
                    if socket.send(Message::Text(done.into())).await.is_err() { break }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
            },
            Some(event) = events.recv() => {
                let Some(kind) = kind_of(&event.kind) else { continue };
                for path in &event.paths {
                    if let Some(rel) = relative(&watched, path) {
                        pending.entry(rel).or_insert(kind);
                    }
                }
                if !pending.is_empty() && flush_at.is_none() {
                    flush_at = Some(tokio::time::Instant::now() + DEBOUNCE);
                }
            },
            () = flush => {
                flush_at = None;
                for (rel, kind) in std::mem::take(&mut pending) {
                    let mut line = serde_json::json!({
                        "type": "changed",
                        "path": String::from_utf8_lossy(&rel),
                        "kind": kind,
                    });
                    if std::str::from_utf8(&rel).is_err() {
                        line["raw_path"] = crate::files::percent_encode(&rel).into();
                    }
                    if socket.send(Message::Text(line.to_string().into())).await.is_err() { return }
                }
            },
        }
    }
}

/// Watch `raw` (relative to the root): resolved beneath it, then checked to be the same
/// folder or file once the watch is set (a link swapped in meanwhile is refused).
async fn watch(
    app: &Arc<AppState>,
    watcher: &mut (dyn Watcher + Send),
    watched: &mut HashMap<PathBuf, Vec<u8>>,
    raw: &[u8],
) -> Result<(), String> {
    if watched.len() >= MAX_WATCHES {
        return Err(format!("at most {MAX_WATCHES} paths are watched at once"));
    }
    let (app2, raw) = (app.clone(), raw.to_vec());
    let located = tokio::task::spawn_blocking(move || app2.root.locate(&raw, true))
        .await
        .map_err(|_| "the watch failed".to_string())?
        .map_err(|e| crate::files::refused(e).message)?;
    let abs = app.root.absolute(&located);
    if watched.contains_key(&abs) {
        return Ok(());
    }
    let held = match &located.name {
        None => rustix::fs::fstat(&located.dir),
        Some(name) => rustix::fs::statat(&located.dir, name.as_os_str(), rustix::fs::AtFlags::empty()),
    }
    .map_err(|e| format!("cannot watch it: {e}"))?;
    watcher
        .watch(&abs, RecursiveMode::NonRecursive)
        .map_err(|e| format!("cannot watch it: {e}"))?;
    let same = std::fs::metadata(&abs).is_ok_and(|m| m.dev() == held.st_dev as u64 && m.ino() == held.st_ino as u64);
    if !same {
        let _ = watcher.unwatch(&abs);
        return Err("it changed while being watched; ask again".into());
    }
    watched.insert(abs, located.rel);
    Ok(())
}

/// What the page hears of a change; access and other events are not changes.
fn kind_of(kind: &EventKind) -> Option<&'static str> {
    match kind {
        EventKind::Create(_) => Some("create"),
        EventKind::Modify(ModifyKind::Name(_)) => Some("rename"),
        EventKind::Modify(_) => Some("modify"),
        EventKind::Remove(_) => Some("remove"),
        _ => None,
    }
}

/// A changed path as the page knows it: a watched path itself, or a name in a watched folder.
fn relative(watched: &HashMap<PathBuf, Vec<u8>>, path: &Path) -> Option<Vec<u8>> {
    if let Some(rel) = watched.get(path) {
        return Some(rel.clone());
    }
    let parent = watched.get(path.parent()?)?;
    let name = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::as_bytes(path.file_name()?);
    let mut rel = parent.clone();
    if !rel.is_empty() {
        rel.push(b'/');
    }
    rel.extend_from_slice(name);
    Some(rel)
}

fn error_line(path: &str, error: &str) -> Message {
    Message::Text(
        serde_json::json!({"type": "error", "path": path, "error": error})
            .to_string()
            .into(),
    )
}
