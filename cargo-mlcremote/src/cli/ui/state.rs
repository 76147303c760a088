//! What every part of the UI shares: its state (who may use it, the connections it
//! holds).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use mlcremote_client::{
    remote::Probe,
    ssh::{Route, Session},
};

use crate::cli::{ConnectArgs, ui::access::Access};

/// One host the page has connected to: its SSH connection, kept open while the UI runs
/// (a file open is a request on it, not a handshake), and what is known of it.
pub struct Held {
    pub session: Session,
    pub state: tokio::sync::RwLock<HostState>,
    /// HTTP connections to its server, kept open between requests.
    pub pool: Pool,
    /// The root's listing that came with the connect, and when it came.
    first_listing: Mutex<Option<(Instant, String)>>,
}

/// How long the root's listing that came with a connect answers the page's first ask
/// for it: a page shows its tree right after the connect; one that asks later gets the
/// host's answer of then.
const FIRST_LISTING_FRESH: Duration = Duration::from_secs(10);

impl Held {
    pub fn new(session: Session, state: HostState) -> Held {
        Held {
            session,
            state: tokio::sync::RwLock::new(state),
            pool: Pool::default(),
            first_listing: Mutex::new(None),
        }
    }

    /// Keep the root's listing (the server's JSON answer) that came with the connect.
    pub fn keep_first_listing(&self, json: String) {
        if let Ok(mut kept) = self.first_listing.lock() {
            *kept = Some((Instant::now(), json));
        }
    }

    /// The answer to `request` when it is the page's first ask for the root's listing
    /// (`GET /api/tree?path=`) and one came with the connect less than
    /// [`FIRST_LISTING_FRESH`] ago: the server's own answer of then, once. The first
    /// screen then waits for no round trip after the connect's.
    pub fn first_listing<B>(&self, request: &hyper::Request<B>) -> Option<axum::response::Response> {
        let asks = request.method() == hyper::Method::GET
            && request
                .uri()
                .path_and_query()
                .is_some_and(|p| p.as_str() == "/api/tree?path=");
        if !asks {
            return None;
        }
        let (at, json) = self.first_listing.lock().ok()?.take()?;
        (at.elapsed() < FIRST_LISTING_FRESH).then(|| {
            axum::response::Response::builder()
                .header(hyper::header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(json))
                .ok()
        })?
    }
}

/// A host server's HTTP/1 connections that are open, by server port, each over a
/// direct-tcpip channel of the held SSH connection: a request on one takes one round
/// trip, where a new one takes two (the channel's open, then the request). Some are kept
/// open ahead of need ([`Pool::warm`]), so a request seldom waits for a channel.
#[derive(Default)]
pub struct Pool {
    open: Mutex<Vec<(u16, Sender)>>,
    /// A connection is being opened ahead of need (one at a time).
    warming: std::sync::atomic::AtomicBool,
}

pub type Sender = hyper::client::conn::http1::SendRequest<axum::body::Body>;

/// As many as a browser keeps to one origin.
const POOLED: usize = 6;
/// Ready ahead of need: a save's echo from the watch relists a folder or two at once,
/// and the click that follows should still find one.
const SPARE: usize = 2;

impl Pool {
    /// An open connection to `port` that is not busy (a response still coming keeps it).
    pub fn take(&self, port: u16) -> Option<Sender> {
        let mut open = self.open.lock().ok()?;
        open.retain(|(_, s)| !s.is_closed());
        let at = open.iter().position(|(p, s)| *p == port && s.is_ready())?;
        Some(open.swap_remove(at).1)
    }

    /// Keep `sender` for later requests (it is ready again once its response is read).
    pub fn keep(&self, port: u16, sender: Sender) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|(_, s)| !s.is_closed());
            if open.len() < POOLED {
                open.push((port, sender));
            }
        }
    }

    /// How many connections to open so that [`SPARE`] to `port` are ready (none when
    /// the pool is full).
    fn wanted(&self, port: u16) -> usize {
        self.open.lock().map_or(0, |open| {
            let live = open.iter().filter(|(_, s)| !s.is_closed());
            let ready = live.clone().filter(|(p, s)| *p == port && s.is_ready()).count();
            SPARE.saturating_sub(ready).min(POOLED.saturating_sub(live.count()))
        })
    }

    /// Open connections to `port`, the server of `held`, in the background until
    /// [`SPARE`] are ready, so the next requests take one round trip: called when a host
    /// is held and after each request. Nothing is said when it fails: a request that then
    /// finds none opens its own, and says why that failed.
    pub fn warm(held: &Arc<Held>, port: u16) {
        use std::sync::atomic::Ordering;
        let wanted = held.pool.wanted(port);
        if wanted == 0 || held.pool.warming.swap(true, Ordering::SeqCst) {
            return;
        }
        let held = held.clone();
        tokio::spawn(async move {
            let one = || async {
                let sender = handshake(held.session.forward(port).await.ok()?).await.ok()?;
                held.pool.keep(port, sender);
                Some(())
            };
            futures_util::future::join_all((0..wanted).map(|_| one())).await;
            held.pool.warming.store(false, Ordering::SeqCst);
        });
    }
}

/// An HTTP/1 connection to a host's server over `stream` (a channel to its port), driven
/// in the background, upgrades allowed.
pub async fn handshake(
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
) -> hyper::Result<Sender> {
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection.with_upgrades());
    Ok(sender)
}

/// What the last probe of a held host said.
pub struct HostState {
    pub probe: Probe,
    /// The server's port on the host's loopback and its token (never sent to the page).
    pub server: Option<(u16, String)>,
}

/// The UI's state.
pub struct Ui {
    /// Who may use the page: launch token, cookie, key (the guard's own state too).
    pub access: Arc<Access>,
    pub connect: ConnectArgs,
    /// Connected hosts, by the name the page uses.
    pub held: tokio::sync::Mutex<HashMap<String, Arc<Held>>>,
    /// How each host was reached (with a typed password, in memory only).
    pub routes: Mutex<HashMap<String, Route>>,
    /// `open --host H`: the host the page connects to (installing if needed) and opens.
    pub open: Option<String>,
    /// `open --host H`: the connection to H begun at start, while the browser loads the
    /// page; the page's first connect to H takes it.
    pub early: Mutex<
        Option<(
            String,
            tokio::task::JoinHandle<mlcremote_client::error::Result<serde_json::Value>>,
        )>,
    >,
    /// Ports of a host opened from the page: (host, port on the host) → local port.
    pub ports: Arc<Mutex<HashMap<(String, u16), u16>>>,
}

impl Ui {
    pub async fn held(&self, host: &str) -> Option<Arc<Held>> {
        self.held.lock().await.get(host).cloned()
    }
}
