//! What the page asks the library to do, over one WebSocket (`/ui/ws`): connect, deploy,
//! status, logs, restart, stop, uninstall. Each operation reports through a
//! [`Delegate`] that turns events and questions into messages to the page, and waits
//! for the page's answers (trust this key? the password?).
//!
//! The protocol is typed both ways ([`Request`], [`Reply`]) and versioned
//! ([`PROTOCOL`]): the first thing the page hears is `{"type":"hello","protocol":N}`,
//! and a page of another version (left open while the client was updated) reloads.
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
    error::{Error, Kind, Result},
    lifecycle::{self, ServerAccess},
    remote::Probe,
    ssh::{self, Flags, Route, Session, config::SshConfig},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::cli::ui::{
    prefs,
    state::{Held, HostState, Pool, Ui},
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

/// The version of the page protocol: a page of another one reloads.
pub const PROTOCOL: u32 = 1;

/// What the page sends.
#[derive(Deserialize)]
#[serde(untagged)]
enum Request {
    Control(Control),
    Op(Op),
}

/// The page's answers to questions, and cancels.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Control {
    /// The answer to question `qid`.
    Answer {
        qid: u64,
        value: Said,
        #[serde(default)]
        secret: Option<String>,
    },
    /// Stop operation `id` (a followed log).
    Cancel { id: u64 },
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Said {
    Yes,
    No,
    Secret,
}

/// What goes to the page.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    /// First, once: which protocol this is.
    Hello { protocol: u32 },
    /// Progress of operation `id` (a library event).
    Event { id: u64, data: Value },
    /// A question; the page answers with `qid`.
    Ask { id: u64, qid: u64, data: Question },
    /// Bytes of a log, as text.
    Log { id: u64, data: String },
    /// The operation's result.
    Done { id: u64, data: Value },
    /// Why it failed: message, detail, exit code.
    Failed { id: u64, data: Value },
}

type Outbox = mpsc::UnboundedSender<Reply>;

async fn serve(ui: Arc<Ui>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            let Ok(text) = serde_json::to_string(&reply) else {
                continue;
            };
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    let _ = tx.send(Reply::Hello { protocol: PROTOCOL });
    let asks = Arc::new(Asks::default());
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else { continue };
        match serde_json::from_str::<Request>(&text) {
            Ok(Request::Control(Control::Answer { qid, value, secret })) => {
                let answer = match value {
                    Said::Yes => Answer::Yes,
                    Said::Secret => Answer::Secret(secret.unwrap_or_default()),
                    Said::No => Answer::No,
                };
                let waiting = asks.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&qid);
                if let Some(waiting) = waiting {
                    let _ = waiting.send(answer);
                }
            }
            Ok(Request::Control(Control::Cancel { id })) => {
                let cancel = asks.cancels.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                if let Some(cancel) = cancel {
                    let _ = cancel.send(());
                }
            }
            Ok(Request::Op(op)) => {
                let (ui, tx, asks) = (ui.clone(), tx.clone(), asks.clone());
                tokio::spawn(async move {
                    let id = op.id;
                    let reply = match run(&ui, op, &tx, &asks).await {
                        Ok(data) => Reply::Done { id, data },
                        Err(e) => Reply::Failed { id, data: failure(&e) },
                    };
                    let _ = tx.send(reply);
                });
            }
            Err(_) => {
                // Which request it was, if it says.
                let id = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["id"].as_u64())
                    .unwrap_or(0);
                let data = json!({"message": "unknown request"});
                let _ = tx.send(Reply::Failed { id, data });
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

/// An operation on a host.
#[derive(Deserialize)]
struct Op {
    id: u64,
    host: String,
    #[serde(flatten)]
    what: What,
}

/// Which operation, with what it takes.
#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum What {
    Connect {
        /// A key file typed into the new-host form.
        #[serde(default)]
        identity: Option<String>,
        /// A password typed into the page: for this login only, never stored.
        #[serde(default)]
        password: Option<String>,
    },
    Deploy {
        #[serde(default)]
        force: bool,
        /// `deploy --root`: the folder the server serves.
        #[serde(default)]
        root: Option<String>,
    },
    Status,
    Stop,
    Restart,
    Uninstall,
    Logs {
        #[serde(default)]
        lines: Option<u32>,
        #[serde(default)]
        follow: bool,
    },
    /// A port on the host's loopback, to open here.
    Forward {
        #[serde(default)]
        port: u16,
    },
}

/// Turns the library's reports and questions into messages to the page.
struct Page {
    id: u64,
    tx: Outbox,
    asks: Arc<Asks>,
}

impl Delegate for Page {
    fn event(&self, _host: &str, event: Event) {
        let data = serde_json::to_value(event).unwrap_or_default();
        let _ = self.tx.send(Reply::Event { id: self.id, data });
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
        let _ = self.tx.send(Reply::Ask {
            id: self.id,
            qid,
            data: question,
        });
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
    match &op.what {
        What::Connect { identity, password } => {
            if identity.is_none() && password.is_none() {
                let early = ui.early.lock().unwrap_or_else(|e| e.into_inner()).take();
                match early {
                    Some((host, early)) if host == op.host => match early.await {
                        Ok(Ok(status)) => {
                            remember(&op.host);
                            return Ok(status);
                        }
                        // Trying again now would fail the same way.
                        Ok(Err(e)) if e.kind() == Kind::Connect => return Err(e),
                        // A question to ask (a host key, a password): the page asks.
                        _ => {}
                    },
                    other => *ui.early.lock().unwrap_or_else(|e| e.into_inner()) = other,
                }
            }
            let status = connect(ui, &op.host, identity.as_deref(), password.as_deref(), &reporter).await?;
            remember(&op.host);
            Ok(status)
        }
        What::Deploy { force, root } => {
            let route = known_route(ui, &op)?;
            let (source, release) = mlcremote_client::artifact::default_source(None, None);
            let data = json!({"event": "source", "text": source.to_string()});
            let _ = tx.send(Reply::Event { id: op.id, data });
            let options = DeployOptions {
                force: *force,
                root: root.clone(),
                cache: RunCache::with_source_release(release),
                install_dir: ui.connect.install_dir.clone(),
                ..DeployOptions::new(source)
            };
            let report = deploy::deploy(&route, &options, &reporter).await?;
            let status = refresh(ui, &op, &reporter).await?;
            Ok(json!({"report": report, "status": status}))
        }
        What::Status => refresh(ui, &op, &reporter).await,
        What::Stop => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            lifecycle::stop(&held.session, &probe).await?;
            refresh(ui, &op, &reporter).await
        }
        What::Restart => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            lifecycle::restart(&held.session, &probe, None, Duration::from_secs(60)).await?;
            refresh(ui, &op, &reporter).await
        }
        What::Uninstall => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            let done = lifecycle::uninstall(&held.session, &probe).await?;
            let status = refresh(ui, &op, &reporter).await?;
            Ok(json!({"uninstalled": done, "status": status}))
        }
        What::Logs { lines, follow } => {
            let held = connected(ui, &op.host).await?;
            let probe = held.state.read().await.probe.clone();
            let (cancel, cancelled) = oneshot::channel();
            asks.cancels
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(op.id, cancel);
            let (id, out) = (op.id, tx.clone());
            let sink = move |_: ssh::Stream, bytes: &[u8]| {
                let data = String::from_utf8_lossy(bytes).into_owned();
                let _ = out.send(Reply::Log { id, data });
            };
            let stop = async move {
                let _ = cancelled.await;
            };
            let lines = lines.unwrap_or(100).min(10_000);
            lifecycle::logs(&held.session, &probe, lines, *follow, sink, stop).await?;
            Ok(json!({}))
        }
        What::Forward { port: 0 } => Err(err!(Usage, "say which port on the host to open")),
        What::Forward { port } => forward(ui, &op.host, *port).await,
    }
}

/// How to reach `host`: the ssh config's resolution, with the page's key file and
/// password (if any) in memory for this login only.
fn resolve(ui: &Ui, host: &str, identity: Option<&str>, password: Option<&str>) -> Result<Route> {
    let args = &ui.connect;
    let mut flags = Flags {
        // The page asks about an unknown host key; it is never taken silently.
        accept_new_host_key: false,
        password: password.filter(|p| !p.is_empty()).map(str::to_owned),
        ..args.flags()
    };
    if let Some(key) = identity.filter(|k| !k.trim().is_empty()) {
        flags.identities.insert(0, PathBuf::from(key.trim()));
    }
    let config = SshConfig::load(args.ssh_config.as_deref())?;
    ssh::route(&config, host, &flags)
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
        None => resolve(ui, &op.host, None, None),
    }
}

/// `open --host H`: connect to H and hold the connection while the browser loads the
/// page, asking nothing (no one could answer yet): a host key to trust, a passphrase or
/// a password makes it give up, and the page's connect then asks.
pub async fn connect_early(ui: Arc<Ui>, host: String) -> Result<Value> {
    connect(&ui, &host, None, None, &Reporter::silent(host.as_str())).await
}

/// Connect to `host`, keep how it was reached, and hold the connection.
async fn connect(
    ui: &Ui,
    host: &str,
    identity: Option<&str>,
    password: Option<&str>,
    reporter: &Reporter,
) -> Result<Value> {
    let route = resolve(ui, host, identity, password)?;
    let (session, probe, token) = lifecycle::open_with_token(&route, &ui.connect.install_dir, reporter).await?;
    ui.routes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(host.to_string(), route);
    hold(ui, host, session, probe, token).await
}

/// The held connection to `host` dropped (network, sleep, sshd restart): connect again
/// the way the page did, without asking anything (the key is known by now), and hold
/// the new connection. `None` when that fails too.
pub async fn reconnect(ui: &Ui, host: &str) -> Option<Arc<Held>> {
    let route = ui.routes.lock().unwrap_or_else(|e| e.into_inner()).get(host).cloned()?;
    let reporter = Reporter::silent(host);
    let (session, probe, token) = lifecycle::open_with_token(&route, &ui.connect.install_dir, &reporter)
        .await
        .ok()?;
    hold(ui, host, session, probe, token).await.ok()?;
    ui.held(host).await
}

async fn connected(ui: &Ui, host: &str) -> Result<Arc<Held>> {
    ui.held(host)
        .await
        .ok_or_else(|| err!(Other, "not connected to {host}: connect first"))
}

/// Keep `session` for `host`, with its status and (when healthy) its server's token
/// and root listing (`access`: read already).
async fn hold(ui: &Ui, host: &str, session: Session, probe: Probe, access: Option<ServerAccess>) -> Result<Value> {
    let listing = access.as_ref().and_then(|a| Some((a.port, a.root_listing.clone()?)));
    let (state, status) = state_of(&session, probe, host, access.map(|a| (a.port, a.token))).await;
    let server = state.server.as_ref().map(|(port, _)| *port);
    let held = Arc::new(Held::new(session, state));
    // The page's first request after a connect finds a connection to the server open,
    // and its first ask for the root's listing the answer that came with the probe.
    if let Some(port) = server {
        Pool::warm(&held, port);
        if let Some((_, json)) = listing.filter(|(p, _)| *p == port) {
            held.keep_first_listing(json);
        }
    }
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
        while let Ok((browser, _)) = listener.accept().await {
            // The connection it went through is gone: so is this address.
            let Some(held) = held.upgrade() else { break };
            tokio::spawn(async move { lifecycle::carry(browser, &held.session, port).await });
        }
        ports.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
    });
    Ok(json!({"url": format!("http://127.0.0.1:{local}/")}))
}

async fn refresh(ui: &Ui, op: &Op, reporter: &Reporter) -> Result<Value> {
    let Some(held) = ui.held(&op.host).await else {
        let route = known_route(ui, op)?;
        let (session, probe, token) = lifecycle::open_with_token(&route, &ui.connect.install_dir, reporter).await?;
        return hold(ui, &op.host, session, probe, token).await;
    };
    let probe = Probe::run(&held.session, &ui.connect.install_dir).await?;
    let (state, status) = state_of(&held.session, probe, &op.host, None).await;
    let server = state.server.as_ref().map(|(port, _)| *port);
    *held.state.write().await = state;
    if let Some(port) = server {
        Pool::warm(&held, port);
    }
    Ok(status)
}

async fn state_of(session: &Session, probe: Probe, host: &str, token: Option<(u16, String)>) -> (HostState, Value) {
    let status = lifecycle::status(session, &probe, host).await;
    let server = match token {
        _ if !status.healthy => None,
        Some((port, token)) if Some(port) == status.port => Some((port, token)),
        _ => lifecycle::server_token(session, &probe).await.ok(),
    };
    let value = serde_json::to_value(&status).unwrap_or(Value::Null);
    (HostState { probe, server }, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages the page sends (net.js) read as what they are; anything else is no
    /// request at all.
    #[test]
    fn the_pages_messages_read_as_typed_requests() {
        let read = |text: &str| serde_json::from_str::<Request>(text);
        assert!(matches!(
            read(r#"{"type":"answer","qid":3,"value":"secret","secret":"pw"}"#),
            Ok(Request::Control(Control::Answer {
                qid: 3,
                value: Said::Secret,
                secret: Some(_)
            }))
        ));
        assert!(matches!(
            read(r#"{"type":"cancel","id":9}"#),
            Ok(Request::Control(Control::Cancel { id: 9 }))
        ));
        let Ok(Request::Op(op)) = read(r#"{"id":1,"op":"connect","host":"devbox","identity":"~/.ssh/k"}"#) else {
            panic!("connect");
        };
        assert!(op.id == 1 && op.host == "devbox");
        assert!(matches!(
            op.what,
            What::Connect {
                identity: Some(_),
                password: None
            }
        ));
        let Ok(Request::Op(op)) = read(r#"{"id":2,"op":"logs","host":"h","lines":50,"follow":true}"#) else {
            panic!("logs");
        };
        assert!(matches!(
            op.what,
            What::Logs {
                lines: Some(50),
                follow: true
            }
        ));
        let Ok(Request::Op(op)) = read(r#"{"id":3,"op":"status","host":"h"}"#) else {
            panic!("status");
        };
        assert!(matches!(op.what, What::Status));
        assert!(read(r#"{"id":4,"op":"format_disk","host":"h"}"#).is_err());
        assert!(read(r#"{"type":"answer","qid":"x"}"#).is_err());
        let hello = serde_json::to_value(Reply::Hello { protocol: PROTOCOL }).unwrap();
        assert_eq!(hello, json!({"type": "hello", "protocol": PROTOCOL}));
        let log = serde_json::to_value(Reply::Log {
            id: 2,
            data: "x".into(),
        })
        .unwrap();
        assert_eq!(log, json!({"type": "log", "id": 2, "data": "x"}));
    }
}
