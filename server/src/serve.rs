//! `mlcremote serve`: bind, announce in the state file, serve until SIGTERM/SIGINT.

use std::{
    future::Future,
    net::IpAddr,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use tokio::{net::TcpListener, signal::unix::SignalKind};

use crate::{api::AppState, app, build_info, home::default_path, log, state::State, time, token};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback is logged as a warning.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Directory the file API is confined to [default: $HOME].
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// File holding the access token, created (0600) when missing [default: ~/.mlcremote/token].
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Where to write {"pid","port",...} after binding [default: ~/.mlcremote/server.json].
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: log::Format,
    /// Log to this file, rotated to `<file>.1` above 10 MiB [default: stderr].
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Close a connection that has not sent its request headers within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// End an upload (PUT /api/file) that sends no byte for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..), hide = true)]
    pub body_idle_secs: u64,
    /// Where deleted files go (default ~/.mlcremote/trash).
    #[arg(long, value_name = "DIR", hide = true)]
    pub trash_dir: Option<PathBuf>,
    /// Largest file accepted by PUT /api/file, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_upload_mib: u64,
    /// Connections open at once (fewer where the file descriptor limit says so).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(8..))]
    pub max_connections: u64,
    /// Terminals open at once.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_terminals: usize,
    /// How long a terminal session with no page attached keeps its shell (e.g. 8h, 30m, 90s).
    #[arg(long, value_name = "DURATION", default_value = "8h", value_parser = parse_duration)]
    pub detach_timeout: Seconds,
    /// Seconds between WebSocket pings on a terminal; three unanswered detach it.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..), hide = true)]
    pub terminal_ping_secs: u64,
}

/// SPEC §4: exit within 5 s of a signal; leave a little for the state-file cleanup.
const DRAIN: Duration = Duration::from_millis(4500);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    log::init(args.log_format, args.log_file.clone());
    let token_file = args.token_file.map_or_else(|| default_path("token"), Ok)?;
    let state_file = args.state_file.map_or_else(|| default_path("server.json"), Ok)?;
    let root = match args.root {
        Some(root) => root,
        None => std::env::var_os("HOME")
            .map(Into::into)
            .context("HOME is not set; pass --root")?,
    };
    let root = crate::beneath::Root::open(&root)
        .with_context(|| format!("root {} is not a folder we can open", root.display()))?;
    let token = token::load_or_create(&token_file)?;

    let listener = TcpListener::bind((args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let addr = listener.local_addr()?;
    if !args.bind.is_loopback() {
        log::warn(&format!(
            "listening on {addr}, which is reachable from the network; use an SSH tunnel and 127.0.0.1"
        ));
    }

    let now = SystemTime::now();
    let state = State {
        pid: std::process::id(),
        port: addr.port(),
        bind: args.bind.to_string(),
        version: build_info::VERSION.into(),
        target: build_info::TARGET.into(),
        started_at: time::rfc3339(now),
        proc_start: crate::state::proc_start(std::process::id()),
    };
    let sessions = crate::sessions::Sessions::new(
        args.max_terminals,
        args.detach_timeout.0,
        Duration::from_secs(args.terminal_ping_secs),
    );
    let app = app::router(Arc::new(AppState {
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        pid: state.pid,
        port: state.port,
        started: Instant::now(),
        started_at: state.started_at.clone(),
        token,
        root,
        max_upload: args.max_upload_mib.saturating_mul(1024 * 1024),
        body_idle: Duration::from_secs(args.body_idle_secs),
        trash: args.trash_dir.clone().or_else(|| default_path("trash").ok()),
        sessions: sessions.clone(),
    }));

    let mut terminate = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(SignalKind::interrupt())?;
    let stopping = async move {
        tokio::select! {
            _ = terminate.recv() => log::info("SIGTERM: shutting down"),
            _ = interrupt.recv() => log::info("SIGINT: shutting down"),
        }
    };

    crate::state::write(&state, &state_file)?;
    log::info(&format!(
        "mlcremote {} listening on http://{addr}",
        build_info::VERSION_LINE
    ));

    let limits = Limits {
        header_timeout: Duration::from_secs(args.header_timeout_secs),
        connections: connection_limit(args.max_connections),
    };
    let result = serve_until(listener, app, stopping, limits).await;
    // The shells end with the server (as when their terminals close).
    tokio::task::spawn_blocking(move || sessions.end_all()).await.ok();
    crate::state::remove_if_ours(&state_file);
    log::info("stopped");
    result
}

/// What bounds the connections.
struct Limits {
    /// A client must send its request headers within this (each request).
    header_timeout: Duration,
    /// Connections open at once.
    connections: usize,
}

/// File descriptors kept free of connections: files, terminals, the log.
const FD_RESERVE: u64 = 128;

/// Raise the soft file descriptor limit to the hard one (as Go's runtime does), and keep
/// connections below it with room to spare, so they can never take the last fds.
fn connection_limit(wanted: u64) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    // macOS refuses more than OPEN_MAX (10240) even where the hard limit is "unlimited".
    let target = limit.maximum.map_or(10240, |hard| hard.min(1 << 20));
    if limit.current.is_some_and(|soft| soft < target) {
        let raised = rustix::process::Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = getrlimit(Resource::Nofile);
        }
    }
    let soft = limit.current.unwrap_or(u64::MAX);
    let usable = soft.saturating_sub(FD_RESERVE).max(8);
    usize::try_from(wanted.min(usable)).unwrap_or(usize::MAX)
}

/// Connections that have not sent a request yet, oldest first. Past a quarter of the
/// connection limit the oldest is closed to make room: idle connections, however many,
/// cannot keep `/health` or the API out.
#[derive(Default)]
struct Waiting {
    next: u64,
    queue: std::collections::VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>,
}

impl Waiting {
    /// Close the connection that has waited longest; `false` when none waits.
    fn evict_oldest(&mut self) -> bool {
        match self.queue.pop_front() {
            Some((_, evict)) => {
                let _ = evict.send(());
                true
            }
            None => false,
        }
    }

    /// A new connection; closes the oldest waiting one first when `cap` are waiting.
    fn add(&mut self, cap: usize) -> (u64, tokio::sync::oneshot::Receiver<()>) {
        while self.queue.len() >= cap && self.evict_oldest() {}
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = self.next;
        self.next += 1;
        self.queue.push_back((id, tx));
        (id, rx)
    }

    /// Connection `id` made a request, or ended: it is not waiting any more.
    fn remove(&mut self, id: u64) {
        self.queue.retain(|(i, _)| *i != id);
    }
}

/// Accept connections until `stopping` resolves, then give in-flight requests
/// [`DRAIN`] to finish. A client must send its request headers within
/// `header_timeout`, so idle or trickling connections cannot pile up; past the
/// connection limit the oldest connection that has not sent a request is closed, and
/// when none is left to close, the new one is.
async fn serve_until(
    listener: TcpListener,
    app: axum::Router,
    stopping: impl Future<Output = ()>,
    limits: Limits,
) -> anyhow::Result<()> {
    use hyper_util::{
        rt::{TokioIo, TokioTimer},
        service::TowerToHyperService,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let mut connections = tokio::task::JoinSet::new();
    let waiting = Arc::new(std::sync::Mutex::new(Waiting::default()));
    let waiting_cap = (limits.connections / 4).max(4);
    tokio::pin!(stopping);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                // Out of file descriptors and the like: wait a moment rather than spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue }
            },
            () = &mut stopping => break,
        };
        // Small answers (headers, then a file's bytes) go out at once: with Nagle's
        // algorithm the second write waits for the ACK of the first, which the client
        // delays by up to 40 ms.
        let _ = stream.set_nodelay(true);
        while connections.try_join_next().is_some() {}
        let (id, evicted) = {
            let mut waiting = waiting.lock().unwrap_or_else(|e| e.into_inner());
            // At the limit, the oldest idle connection makes room for this one.
            if connections.len() >= limits.connections && !waiting.evict_oldest() {
                drop(stream);
                continue;
            }
            waiting.add(waiting_cap)
        };
        let engaged = {
            let waiting = waiting.clone();
            move || waiting.lock().unwrap_or_else(|e| e.into_inner()).remove(id)
        };
        let service = {
            let engaged = engaged.clone();
            app.clone().layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    engaged();
                    next.run(request)
                },
            ))
        };
        let connection = http
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // Closed to make room: it never sent a request.
                Ok(()) = evicted => {}
                _ = stop.changed() => {
                    // Finish the request in flight, then close.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            engaged();
        });
    }
    drop(listener);
    let _ = stop_tx.send(());
    let drained = tokio::time::timeout(DRAIN, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        log::warn("requests still running after the drain limit; exiting anyway");
    }
    Ok(())
}

/// A duration given as `<n>[s|m|h]` (plain digits are seconds).
#[derive(Clone, Copy, Debug)]
pub struct Seconds(pub Duration);

fn parse_duration(text: &str) -> Result<Seconds, String> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 90s, 30m or 8h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    if secs == 0 {
        return Err("the duration must be more than 0".into());
    }
    Ok(Seconds(Duration::from_secs(secs)))
}
