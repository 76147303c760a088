//! `cargo mlcremote ui` (SPEC §9): the browser front end. A small HTTP server on
//! 127.0.0.1 serves the page, runs the library's operations for it over one WebSocket
//! ([`ops`]), and forwards `/h/<host>/…` to each host's server through that host's SSH
//! connection ([`forward`]). The browser never sees a server token.
//!
//! Who may talk to it: [`access`] (SPEC §9: launch file, cookie and key, Host and Origin).

mod access;
mod assets;
mod forward;
mod ops;
mod prefs;
mod reply;
mod state;

use std::{process::ExitCode, sync::Arc};

use self::{
    access::{Access, LaunchFile},
    reply::error,
    state::{Held, Ui},
};
use super::{ConnectArgs, output};
use axum::{
    Router,
    http::StatusCode,
    middleware,
    routing::{any, get},
};
use clap::Args;

#[derive(Args)]
pub struct UiArgs {
    /// Port on 127.0.0.1 [default: any free port].
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub port: u16,
    /// Print the launch URL but do not open a browser.
    #[arg(long)]
    pub no_browser: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Args)]
pub struct OpenArgs {
    /// `[user@]host[:port]` or a Host alias from ~/.ssh/config.
    #[arg(long = "host", value_name = "H")]
    pub host: String,
    #[command(flatten)]
    pub ui: UiArgs,
}

/// `cargo mlcremote open --host H`: the UI, straight to `H`'s workspace (deploying first
/// when no healthy server runs there).
pub async fn open(args: OpenArgs) -> ExitCode {
    serve(args.ui, Some(args.host)).await
}

pub async fn run(args: UiArgs) -> ExitCode {
    serve(args, None).await
}

async fn serve(args: UiArgs, open: Option<String>) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => {
            output::error(
                &format!(
                    "cannot listen on 127.0.0.1:{}: {e}; pass another --port, or none for any free port",
                    args.port
                ),
                None,
                false,
            );
            return ExitCode::from(mlcremote_client::error::Kind::Usage.exit_code());
        }
    };
    let port = match listener.local_addr() {
        Ok(a) => a.port(),
        Err(e) => {
            output::error(&format!("cannot read the UI's address: {e}"), None, false);
            return ExitCode::FAILURE;
        }
    };
    let ui = Arc::new(Ui {
        access: Arc::new(Access::new(port)),
        connect: args.connect,
        held: Default::default(),
        routes: Default::default(),
        open: open.clone(),
        early: Default::default(),
        ports: Default::default(),
    });
    if let Some(host) = open {
        let early = tokio::spawn(ops::connect_early(ui.clone(), host.clone()));
        *ui.early.lock().unwrap_or_else(|e| e.into_inner()) = Some((host, early));
    }
    let url = ui.access.launch_url();
    output::out(&format!("mlcremote ui: {url}"));
    if !args.no_browser && has_display() {
        open_browser(&ui.access, &url);
    }
    let app = router(ui.clone());
    // Every answer goes out at once (no Nagle wait for the ACK of its headers).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    // Every SSH connection the UI holds ends with it.
    let held: Vec<Arc<Held>> = ui.held.lock().await.drain().map(|(_, h)| h).collect();
    for h in held {
        if let Ok(h) = Arc::try_unwrap(h) {
            h.session.close().await;
        }
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            output::error(&format!("the UI server failed: {e}"), None, false);
            ExitCode::FAILURE
        }
    }
}

/// Open the browser on a 0600 file that forwards to `url`: the launch token goes on no
/// command line (the opener's and the browser's argv are readable by every local user).
fn open_browser(access: &Access, url: &str) {
    let file = match LaunchFile::write(url) {
        Ok(f) => f,
        Err(e) => {
            output::warn(&format!("cannot write the launch file ({e}); open the URL above"));
            return;
        }
    };
    if let Err(e) = open::that_detached(file.path()) {
        output::warn(&format!("cannot open a browser ({e}); open the URL above"));
    }
    access.keep_file(file);
}

/// Whether a browser could show anything: on Linux and BSD, a display to show it on.
fn has_display() -> bool {
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()))
}

pub fn router(ui: Arc<Ui>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/markdown.html", get(assets::markdown))
        .route("/assets/{name}", get(assets::asset))
        .route("/ui/hosts", get(ops::hosts))
        .route("/ui/prefs", get(prefs::get).put(prefs::put))
        .route("/ui/ws", get(ops::socket))
        .route("/h/{host}/{*rest}", any(forward::forward))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn_with_state(ui.access.clone(), access::guard))
        .with_state(ui)
}
