//! What the page asks the library to do, over one WebSocket (`/ui/ws`): connect, deploy,
//! status, logs, restart, stop, uninstall. Each operation reports through a
//! [`Delegate`] that turns events and questions into messages to the page, and waits
//! for the page's answers (trust this key? the password?).
//!
//! Page → here: `{"id":N,"op":"connect","host":H,…}`, `{"type":"answer","qid":Q,
//! "value":"yes"|"no"|"secret","secret":S}`, `{"type":"cancel","id":N}`.
//! Here → page: `{"id":N,"type":"event"|"ask"|"log"|"done"|"failed","data":…}`.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json,
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt};
use mlcremote_client::{
    delegate::{Answer, Asking, Delegate, Event, Question, Reporter},
    deploy::{self, DeployOptions, RunCache},
    err,
    error::{Error, Result},
    lifecycle,
    remote::Probe,
    ssh::{self, Flags, Route, Session, config::SshConfig},
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::cli::ui::{
    prefs,
    state::{Held, HostState, Ui},
};

/// `GET /ui/hosts`: the ssh config's aliases (no patterns), then hosts used before.
pub async fn hosts(State(ui): State<Arc<Ui>>) -> Json<Value> {
    let mut list: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let config = SshConfig::load(ui.connect.ssh_config.as_deref());
    if let Ok(config) = &config {
        for alias in config.aliases() {
            if seen.insert(alias.clone()) {
                list.push(json!({ "name": alias, "from": "ssh config" }));
            }
        }
    }
    for host in recent() {
        if seen.insert(host.clone()) {
            list.push(json!({ "name": host, "from": "used before" }));
        }
    }
    let warning = config.err().map(|e| e.to_string());
    Json(json!({ "hosts": list, "warning": warning, "open": ui.open }))
}

/// Hosts connected to before, as the user named them (no secrets), newest first.
fn recent_file() -> Option<PathBuf> {
    prefs::config_file("ui-hosts.json")
}

fn recent() -> Vec<String> {
    recent_file()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn remember(host: &str) {
    let Some(file) = recent_file() else { return };
    let mut hosts = recent();
    hosts.retain(|h| h != host);
    hosts.insert(0, host.to_string());
    hosts.truncate(20);
    let _ = prefs::save_json(&file, &hosts);
}

pub async fn socket(State(ui): State<Arc<Ui>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| serve(ui, socket))
}

/// Questions waiting for the page's answer, by question id.
#[derive(Default)]
struct Asks {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    /// Operations that can be cancelled (a log being followed), by operation id.
    cancels: Mutex<HashMap<u64, oneshot::Sender<()>>>,
}

type Outbox = mpsc::UnboundedSender<Value>;

async fn serve(ui: Arc<Ui>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        while let Some(message) = rx.recv().await {
            if sink.send(Message::Text(message.to_string().into())).await.is_err() {
                break;
            }
        }
    });
    let asks = Arc::new(Asks::default());
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        let Ok(request) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match request["type"].as_str() {
            Some("answer") => {
                let qid = request["qid"].as_u64().unwrap_or(u64::MAX);
                let answer = match request["value"].as_str() {
                    Some("yes") => Answer::Yes,
                    Some("secret") => Answer::Secret(request["secret"].as_str().unwrap_or_default().to_string()),
                    _ => Answer::No,
                };
                let waiting = asks.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&qid);
                if let Some(waiting) = waiting {
                    let _ = waiting.send(answer);
                }
            }
            Some("cancel") => {
                let id = request["id"].as_u64().unwrap_or(u64::MAX);
                let cancel = asks.cancels.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                if let Some(cancel) = cancel {
                    let _ = cancel.send(());
                }
            }
            _ => {
                let Ok(op) = serde_json::from_value::<Op>(request.clone()) else {
                    let id = request["id"].as_u64().unwrap_or(0);
                    let _ = tx.send(json!({"id": id, "type": "failed", "data": {"message": "unknown request"}}));
                    continue;
                };
                let (ui, tx, asks) = (ui.clone(), tx.clone(), asks.clone());
                tokio::spawn(async move {
                    let id = op.id;
                    let message = match run(&ui, op, &tx, &asks).await {
                        Ok(data) => json!({"id": id, "type": "done", "data": data}),
                        Err(e) => json!({"id": id, "type": "failed", "data": failure(&e)}),
                    };
                    let _ = tx.send(message);
                });
            }
        }
    }
    // The page went away: its questions are answered no, its follows end.
    asks.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    asks.cancels.lock().unwrap_or_else(|e| e.into_inner()).clear();
    drop(tx);
    let _ = writer.await;
}

fn failure(e: &Error) -> Value {
    json!({"message": e.message(), "detail": e.detail(), "exit_code": e.exit_code()})
}

#[derive(Deserialize)]
struct Op {
    id: u64,
    op: String,
    host: String,
    /// A key file typed into the new-host form.
    #[serde(default)]
    identity: Option<String>,
    /// A password typed into the page: for this login only, never stored.
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    force: bool,
    /// `deploy --root`: the folder the server serves.
    #[serde(default)]
    root: Option<String>,
    #[serde(default)]
    lines: Option<u32>,
    #[serde(default)]
    follow: bool,
    /// `forward`: the port on the host's loopback.
    #[serde(default)]
    port: Option<u16>,
}

/// Turns the library's reports and questions into messages to the page.
struct Page {
    id: u64,
    tx: Outbox,
    asks: Arc<Asks>,
}

impl Delegate for Page {
    fn event(&self, _host: &str, event: Event) {
        let _ = self.tx.send(json!({"id": self.id, "type": "event", "data": event}));
    }

    fn can_ask(&self) -> bool {
        true
    }

    fn ask(&self, _host: &str, question: Question) -> Asking {
        let qid = self.asks.next.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.asks
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(qid, answer);
        let _ = self
            .tx
            .send(json!({"id": self.id, "type": "ask", "qid": qid, "data": question}));
        Box::pin(async move { answered.await.unwrap_or(Answer::No) })
    }
}

async fn run(ui: &Ui, op: Op, tx: &Outbox, asks: &Arc<Asks>) -> Result<Value> {
    let reporter = Reporter::new(
        op.host.as_str(),
        Arc::new(Page {
            id: op.id,
            tx: tx.clone(),
            asks: asks.clone(),
        }),
    );
    match op.op.as_str() {
        "connect" => {
            let route = resolve(ui, &op)?;
            let (session, probe) = lifecycle::open(&route, &ui.connect.install_dir, &reporter).await?;
            remember(&op.host);
            ui.routes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(op.host.clone(), route);
            hold(ui, &op.host, session, probe).await
        }
        "deploy" => {
            let route = known_route(ui, &op)?;
            let (source, release) = mlcremote_client::artifact::default_source(None, None);
            let _ =
                tx.send(json!({"id": op.id, "type": "event", "data": {"event": "source", "text": source.to_string()}}));
            let options = DeployOptions {
                force: op.force,
                root: op.root.clone(),
                cache: RunCache::with_source_release(release),
                install_dir: ui.connect.install_dir.clone(),
                ..DeployOptions::new(source)
            };
            let report = deploy::deploy(&route, &options, &reporter).await?;
            let status = refresh(ui, &op, &reporter).await?;
            Ok(json!({"report": report, "status": status}))
        }
        "status" => refresh(ui, &op, &reporter).await,
        "stop" => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            lifecycle::stop(&held.session, &probe).await?;
            refresh(ui, &op, &reporter).await
        }
        "restart" => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            lifecycle::restart(&held.session, &probe, None, Duration::from_secs(60)).await?;
            refresh(ui, &op, &reporter).await
        }
        "uninstall" => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            let done = lifecycle::uninstall(&held.session, &probe).await?;
            let status = refresh(ui, &op, &reporter).await?;
            Ok(json!({"uninstalled": done, "status": status}))
        }
        "logs" => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            let (cancel, cancelled) = oneshot::channel();
            asks.cancels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(op.id, cancel);
            let (id, out) = (op.id, tx.clone());
            let sink = move |_: ssh::Stream, bytes: &[u8]| {
                let _ = out.send(json!({"id": id, "type": "log", "data": String::from_utf8_lossy(bytes)}));
            };
            let stop = async move {
                let _ = cancelled.await;
            };
            let lines = op.lines.unwrap_or(100).min(10_000);
            lifecycle::logs(&held.session, &probe, lines, op.follow, sink, stop).await?;
            Ok(json!({}))
        }
        "forward" => {
            let port = op
                .port
                .filter(|p| *p > 0)
                .ok_or_else(|| err!(Usage, "say which port on the host to open"))?;
            forward(ui, &op.host, port).await
        }
        other => Err(err!(Usage, "unknown operation `{other}`")),
    }
}

/// How to reach `op.host`: the ssh config's resolution, with the page's key file and
/// password (if any) in memory for this login only.
fn resolve(ui: &Ui, op: &Op) -> Result<Route> {
    let args = &ui.connect;
    let mut flags = Flags {
        // The page asks about an unknown host key; it is never taken silently.
        accept_new_host_key: false,
        password: op.password.clone().filter(|p| !p.is_empty()),
        ..args.flags()
    };
    if let Some(key) = op.identity.as_deref().filter(|k| !k.trim().is_empty()) {
        flags.identities.insert(0, PathBuf::from(key.trim()));
    }
    let config = SshConfig::load(args.ssh_config.as_deref())?;
    ssh::route(&config, &op.host, &flags)
}

fn known_route(ui: &Ui, op: &Op) -> Result<Route> {
    let known = ui
        .routes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&op.host)
        .cloned();
    match known {
        Some(route) => Ok(route),
        None => resolve(ui, op),
    }
}

/// The held connection to `host` dropped (network, sleep, sshd restart): connect again
/// the way the page did, without asking anything (the key is known by now), and hold
/// the new connection. `None` when that fails too.
pub async fn reconnect(ui: &Ui, host: &str) -> Option<Arc<Held>> {
    let route = ui.routes.lock().unwrap_or_else(|e| e.into_inner()).get(host).cloned()?;
    let reporter = Reporter::silent(host);
    let (session, probe) = lifecycle::open(&route, &ui.connect.install_dir, &reporter).await.ok()?;
    hold(ui, host, session, probe).await.ok()?;
    ui.held(host).await
}

async fn connected(ui: &Ui, host: &str) -> Result<Arc<Held>> {
    ui.held(host)
        .await
        .ok_or_else(|| err!(Other, "not connected to {host}: connect first"))
}

/// Keep `session` for `host`, with its status and (when healthy) its server's token.
async fn hold(ui: &Ui, host: &str, session: Session, probe: Probe) -> Result<Value> {
    let (state, status) = state_of(&session, probe, host).await;
    let held = Arc::new(Held {
        session,
        state: tokio::sync::RwLock::new(state),
        pool: Default::default(),
    });
    let old = ui.held.lock().await.insert(host.to_string(), held);
    if let Some(old) = old.and_then(|o| Arc::try_unwrap(o).ok()) {
        old.session.close().await;
    }
    Ok(status)
}

/// Probe again over the held connection (or connect anew) after something changed.
/// A port of the host on a local origin of its own (SPEC §9): a `127.0.0.1` listener that
/// carries each connection through the held SSH connection, kept while that connection
/// lives; the same port asked again gets the same address.
async fn forward(ui: &Ui, host: &str, port: u16) -> Result<Value> {
    let key = (host.to_string(), port);
    let known = ui.ports.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied();
    if let Some(local) = known {
        return Ok(json!({"url": format!("http://127.0.0.1:{local}/")}));
    }
    let held = connected(ui, host).await?;
    lifecycle::reachable(&held.session, port).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let local = listener.local_addr()?.port();
    ui.ports
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.clone(), local);
    let (held, ports) = (Arc::downgrade(&held), ui.ports.clone());
    tokio::spawn(async move {
        while let Ok((mut browser, _)) = listener.accept().await {
            // The connection it went through is gone: so is this address.
            let Some(held) = held.upgrade() else { break };
            tokio::spawn(async move {
                if let Ok(mut remote) = held.session.forward(port).await {
                    let _ = tokio::io::copy_bidirectional(&mut browser, &mut remote).await;
                }
            });
        }
        ports.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    });
    Ok(json!({"url": format!("http://127.0.0.1:{local}/")}))
}

async fn refresh(ui: &Ui, op: &Op, reporter: &Reporter) -> Result<Value> {
    let Some(held) = ui.held(&op.host).await else {
        let route = known_route(ui, op)?;
        let (session, probe) = lifecycle::open(&route, &ui.connect.install_dir, reporter).await?;
        return hold(ui, &op.host, session, probe).await;
    };
    let probe = Probe::run(&held.session, &ui.connect.install_dir).await?;
    let (state, status) = state_of(&held.session, probe, &op.host).await;
    *held.state.write().await = state;
    Ok(status)
}

async fn state_of(session: &Session, probe: Probe, host: &str) -> (HostState, Value) {
    let status = lifecycle::status(session, &probe, host).await;
    let server = if status.healthy {
        lifecycle::server_token(session, &probe).await.ok()
    } else {
        None
    };
    let value = serde_json::to_value(&status).unwrap_or(Value::Null);
    (HostState { probe, server }, value)
}
