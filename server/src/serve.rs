//! `mlcremote serve`: bind, announce in the state file, serve until SIGTERM/SIGINT.

use std::{
    future::IntoFuture,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use tokio::{net::TcpListener, signal::unix::SignalKind};

use crate::{ServeArgs, app, build_info, default_path, log, state::State, time, token};

/// SPEC §4: exit within 5 s of a signal; leave a little for the state-file cleanup.
const DRAIN: Duration = Duration::from_millis(4500);

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    log::init(args.log_format);
    let token_file = args.token_file.map_or_else(|| default_path("token"), Ok)?;
    let state_file = args.state_file.map_or_else(|| default_path("server.json"), Ok)?;
    let root = match args.root {
        Some(root) => root,
        None => std::env::var_os("HOME")
            .map(Into::into)
            .context("HOME is not set; pass --root")?,
    };
    let root = root
        .canonicalize()
        .with_context(|| format!("root {} does not exist", root.display()))?;
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
    };
    let app = app::router(Arc::new(app::AppState {
        host: gethostname::gethostname().to_string_lossy().into_owned(),
        pid: state.pid,
        started: Instant::now(),
        started_at: state.started_at.clone(),
        token,
        root,
        max_upload: args.max_upload_mib.saturating_mul(1024 * 1024),
    }));

    let mut terminate = tokio::signal::unix::signal(SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(SignalKind::interrupt())?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopping = async move {
        tokio::select! {
            _ = terminate.recv() => log::info("SIGTERM: shutting down"),
            _ = interrupt.recv() => log::info("SIGINT: shutting down"),
        }
        let _ = stop_tx.send(true);
    };

    state.write(&state_file)?;
    log::info(&format!(
        "mlcremote {} listening on http://{addr}",
        build_info::VERSION_LINE
    ));

    let server = axum::serve(listener, app).with_graceful_shutdown(stopping);
    let result = drain_within(server, stop_rx, DRAIN).await;
    State::remove_if_ours(&state_file);
    log::info("stopped");
    result
}

/// Run the server; once asked to stop, give in-flight requests `limit` to finish.
async fn drain_within(
    server: impl IntoFuture<Output = std::io::Result<()>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    limit: Duration,
) -> anyhow::Result<()> {
    let server = server.into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return Ok(result?),
        _ = stop.wait_for(|s| *s) => {}
    }
    match tokio::time::timeout(limit, server).await {
        Ok(result) => Ok(result?),
        Err(_) => {
            log::warn("requests still running after the drain limit; exiting anyway");
            Ok(())
        }
    }
}
