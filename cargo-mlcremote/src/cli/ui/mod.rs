//! `cargo mlcremote ui` (SPEC §9): the browser front end. A small HTTP server on
//! 127.0.0.1 serves the page, runs the library's operations for it over one WebSocket
//! ([`ops`]), and forwards `/h/<host>/…` to each host's server through that host's SSH
//! connection ([`forward`]). The browser never sees a server token.
//!
//! Who may talk to it: the one-time launch link sets the `mlcremote_ui` cookie; every
//! other request needs it (401). A foreign `Host` is refused (DNS rebinding), and so is a
//! foreign `Origin` on anything that changes state or upgrades to a WebSocket (403).

mod assets;
mod forward;
mod ops;
mod state;

use std::{
    process::ExitCode,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{any, get},
};
use clap::Args;
use mlcremote_client::ssh::random_hex;

use self::state::{Held, Ui, error};
use super::{ConnectArgs, output};

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

/// The cookie the launch link sets.
const COOKIE: &str = "mlcremote_ui";

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
    let launch = random_hex(32);
    let ui = Arc::new(Ui {
        hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        launch: Mutex::new(Some(launch.clone())),
        cookie: random_hex(32),
        connect: args.connect,
        held: Default::default(),
        routes: Default::default(),
        open,
    });
    let url = format!("http://127.0.0.1:{port}/?launch={launch}");
    output::out(&format!("mlcremote ui: {url}"));
    if !args.no_browser
        && has_display()
        && let Err(e) = open::that_detached(&url)
    {
        output::warn(&format!("cannot open a browser ({e}); open the URL above"));
    }
    let app = router(ui.clone());
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
        .route("/assets/{name}", get(assets::asset))
        .route("/ui/hosts", get(ops::hosts))
        .route("/ui/ws", get(ops::socket))
        .route("/h/{host}/{*rest}", any(forward::forward))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn_with_state(ui.clone(), guard))
        .with_state(ui)
}

/// The rules of SPEC §9, before any route runs.
async fn guard(State(ui): State<Arc<Ui>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !ui.hosts.iter().any(|h| h == host) {
        return error(
            StatusCode::FORBIDDEN,
            "this UI answers only http://127.0.0.1:<port> and http://localhost:<port>",
        );
    }
    if request.uri().path() == "/"
        && let Some(token) = query_value(request.uri().query(), "launch")
    {
        return exchange(&ui, &token);
    }
    if !has_cookie(headers, &ui.cookie) {
        return error(
            StatusCode::UNAUTHORIZED,
            "open the link `cargo mlcremote ui` printed (it works once per start)",
        );
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD) || headers.contains_key(header::UPGRADE);
    if changes {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("");
        let own = ui
            .hosts
            .iter()
            .any(|h| origin.strip_prefix("http://") == Some(h.as_str()));
        if !own {
            return error(
                StatusCode::FORBIDDEN,
                "requests that change something must come from the UI's own page",
            );
        }
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The launch link: once, for the cookie and a redirect to `/` (the token leaves the
/// address bar and the history).
fn exchange(ui: &Ui, token: &str) -> Response {
    let mut launch = ui.launch.lock().unwrap_or_else(|e| e.into_inner());
    let valid = launch.as_deref().is_some_and(|l| same(l.as_bytes(), token.as_bytes()));
    if !valid {
        return error(
            StatusCode::UNAUTHORIZED,
            "this launch link was used already or is wrong; start `cargo mlcremote ui` again for a new one",
        );
    }
    *launch = None;
    let cookie = format!("{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/", ui.cookie);
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/")
        .header(header::SET_COOKIE, cookie)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn has_cookie(headers: &HeaderMap, value: &str) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .any(|(name, v)| name == COOKIE && same(v.as_bytes(), value.as_bytes()))
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `name`'s value in a query string (values here are hex: no decoding needed).
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_queries() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; mlcremote_ui=abc; b=2"));
        assert!(has_cookie(&headers, "abc"));
        assert!(!has_cookie(&headers, "abd"));
        assert!(!has_cookie(&headers, "ab"));
        assert_eq!(query_value(Some("x=1&launch=ff"), "launch").as_deref(), Some("ff"));
        assert_eq!(query_value(Some("launchx=1"), "launch"), None);
    }
}
