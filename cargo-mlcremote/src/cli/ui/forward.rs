//! `/h/<host>/api/…` and `/h/<host>/ws/terminal`: the host's server API, forwarded over
//! a direct-tcpip channel of that host's SSH connection. The browser's cookie, key,
//! origin and any credentials it sends stay here; the server's token is added here and
//! goes no further back than the host. A WebSocket upgrade is passed through as bytes.
//!
//! What comes back is untrusted data (a host can be compromised, its server replaced):
//! only an allowlist of headers passes (no `Set-Cookie`, no redirect), every answer is
//! sandboxed by its CSP, and anything but JSON is an attachment of opaque bytes, so
//! nothing a host sends can run as this page.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::Response,
};
use hyper_util::rt::TokioIo;
use mlcremote_client::ssh::HttpError;

use crate::cli::ui::{
    ops,
    reply::Failure,
    state::{Held, Pool, Sender, Ui, handshake},
};

/// Request headers the host's server gets from the browser; everything else stays here.
const PASSED: &[HeaderName] = &[
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::RANGE,
    header::IF_MATCH,
    header::IF_NONE_MATCH,
    header::UPGRADE,
    header::CONNECTION,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

/// Response headers the browser gets from the host's server (see [`untrusted`]).
const RETURNED: &[HeaderName] = &[
    header::CONTENT_LENGTH,
    header::LAST_MODIFIED,
    header::ETAG,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
];
/// The same, for the answer that upgrades to a WebSocket.
const UPGRADED: &[HeaderName] = &[header::UPGRADE, header::CONNECTION, header::SEC_WEBSOCKET_ACCEPT];

/// Whatever a host answered, nothing in it may act as this page (SPEC §9).
const SANDBOX: &str = "default-src 'none'; sandbox";

pub async fn forward(
    State(ui): State<Arc<Ui>>,
    Path((host, rest)): Path<(String, String)>,
    request: Request,
) -> Result<Response, Failure> {
    if !(rest.starts_with("api/") || rest == "ws/terminal" || rest == "ws/watch" || rest == "health") {
        return Err(Failure::new(StatusCode::NOT_FOUND, "no such route"));
    }
    let mut held = ui
        .held(&host)
        .await
        .ok_or_else(|| Failure::new(StatusCode::CONFLICT, format!("not connected to {host}: connect first")))?;

    let (upstream, browser_upgrade) = upstream(request, &rest)?;
    if let Some(listing) = held.first_listing(&upstream) {
        return untrusted(listing);
    }
    let upgrade = upstream.headers().contains_key(header::UPGRADE);

    let (mut response, port, sender) = match on_pooled(&held, &host, upstream).await? {
        Ok(sent) => sent,
        Err(upstream) => on_new(&ui, &host, &mut held, upstream).await?,
    };
    // An upgrade takes its connection for good; any other request gives it back. Either
    // way, more are opened ahead of the next requests.
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    if !upgrade && !upgraded {
        held.pool.keep(port, sender);
    }
    Pool::warm(&held, port);

    if upgraded {
        let browser = browser_upgrade.ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "the server upgraded a request that asked for none",
            )
        })?;
        let server = hyper::upgrade::on(&mut response);
        tokio::spawn(pass_through(browser, server, held));
        return untrusted(response.map(|_| Body::empty()));
    }
    untrusted(response.map(Body::new))
}

type Sent = (hyper::Response<hyper::body::Incoming>, u16, Sender);

/// `upstream` on a connection to the server that is open already: one round trip.
/// `Ok(Err(upstream))` gives the request back when none is ready, or the one taken
/// closed before the request went out, for a new connection to carry.
async fn on_pooled(
    held: &Arc<Held>,
    host: &str,
    mut upstream: hyper::Request<Body>,
) -> Result<Result<Sent, hyper::Request<Body>>, Failure> {
    let Some((port, token)) = held.state.read().await.server.clone() else {
        return Ok(Err(upstream));
    };
    let Some(mut sender) = held.pool.take(port) else {
        return Ok(Err(upstream));
    };
    address(&mut upstream, port, &token);
    match sender.try_send_request(upstream).await {
        Ok(response) => Ok(Ok((response, port, sender))),
        Err(mut e) => match e.take_message() {
            Some(back) => Ok(Err(back)),
            None => Err(did_not_answer(held, host, e.error())),
        },
    }
}

/// `upstream` on a new connection to the server: a channel opened first (one round trip
/// more).
async fn on_new(
    ui: &Arc<Ui>,
    host: &str,
    held: &mut Arc<Held>,
    mut upstream: hyper::Request<Body>,
) -> Result<Sent, Failure> {
    let (stream, port, token) = open(ui, host, held).await?;
    let mut sender = handshake(stream).await.map_err(|e| {
        Failure::new(
            StatusCode::BAD_GATEWAY,
            format!("cannot talk to the server on {host}: {e}"),
        )
    })?;
    address(&mut upstream, port, &token);
    let response = sender
        .send_request(upstream)
        .await
        .map_err(|e| did_not_answer(held, host, &e))?;
    Ok((response, port, sender))
}

/// The browser's request as it goes to the host's server: its method, path and query,
/// the allowlisted headers and its body; and its upgrade, if it asks for one.
fn upstream(
    request: Request,
    rest: &str,
) -> Result<(hyper::Request<Body>, Option<hyper::upgrade::OnUpgrade>), Failure> {
    let (mut parts, body) = request.into_parts();
    let browser_upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let path = match parts.uri.query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    };
    let mut upstream = hyper::Request::builder().method(parts.method).uri(path);
    for name in PASSED {
        for value in parts.headers.get_all(name) {
            upstream = upstream.header(name, value);
        }
    }
    // The host's server compresses big JSON (a folder of thousands of names) for a
    // client that takes gzip; the browser unpacks it. Nothing else is asked for.
    if crate::cli::ui::assets::takes_gzip(&parts.headers) {
        upstream = upstream.header(header::ACCEPT_ENCODING, "gzip");
    }
    let upstream = upstream
        .body(body)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("cannot forward this request: {e}")))?;
    Ok((upstream, browser_upgrade))
}

/// A new channel to the host's server over `held`'s connection, and the server's port
/// and token; where the connection dropped, after connecting again once (`held` is
/// then the new one).
async fn open(
    ui: &Arc<Ui>,
    host: &str,
    held: &mut Arc<Held>,
) -> Result<
    (
        impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + use<>,
        u16,
        String,
    ),
    Failure,
> {
    let mut again = true;
    loop {
        let (port, token) = held.state.read().await.server.clone().ok_or_else(|| {
            Failure::new(
                StatusCode::CONFLICT,
                format!("no server is running on {host}: install or restart it first"),
            )
        })?;
        match held.session.forward(port).await {
            Ok(stream) => return Ok((stream, port, token)),
            // The SSH connection dropped (russh may not call its handle closed yet: a
            // channel that cannot even be asked for says enough): one new connection,
            // then the request again.
            Err(HttpError::Failed(_)) if again => {
                again = false;
                *held = ops::reconnect(ui, host).await.ok_or_else(|| {
                    Failure::new(
                        StatusCode::BAD_GATEWAY,
                        format!("the connection to {host} dropped and connecting again failed"),
                    )
                })?;
            }
            Err(e) => {
                return Err(Failure::new(
                    StatusCode::BAD_GATEWAY,
                    format!("cannot reach the server on {host}: {e}"),
                ));
            }
        }
    }
}

/// An upgraded request (a terminal, the watch): bytes both ways until either side ends
/// or the SSH connection drops (a channel of a dropped connection may never see its
/// end: the page must learn of the drop to reconnect).
async fn pass_through(browser: hyper::upgrade::OnUpgrade, server: hyper::upgrade::OnUpgrade, held: Arc<Held>) {
    if let (Ok(browser), Ok(server)) = (browser.await, server.await) {
        let (mut browser, mut server) = (TokioIo::new(browser), TokioIo::new(server));
        let dropped = async {
            while !held.session.is_closed() {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut browser, &mut server) => {}
            () = dropped => {}
        }
    }
}

/// Where the request goes on the host, and the server's token (replacing any).
fn address(request: &mut hyper::Request<Body>, port: u16, token: &str) {
    let headers = request.headers_mut();
    if let Ok(host) = HeaderValue::from_str(&format!("127.0.0.1:{port}")) {
        headers.insert(header::HOST, host);
    }
    if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {token}")) {
        headers.insert(header::AUTHORIZATION, bearer);
    }
}

/// The request went out and no answer came: the connection may have died under it.
fn did_not_answer(held: &Held, host: &str, e: &hyper::Error) -> Failure {
    let why = held.session.lost().map_or_else(
        || format!("the server on {host} did not answer: {e}"),
        |lost| lost.to_string(),
    );
    Failure::new(StatusCode::BAD_GATEWAY, why)
}

/// A host's answer made safe to hand to the page: its status (a redirect becomes an
/// error: the page follows none from a host), the allowlisted headers, JSON as JSON and
/// everything else as an attachment of opaque bytes, under a sandboxing CSP.
fn untrusted(response: Response) -> Result<Response, Failure> {
    let (parts, body) = response.into_parts();
    if parts.status.is_redirection() {
        return Err(Failure::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the host's server answered with a redirect ({}); not followed",
                parts.status
            ),
        ));
    }
    // Only what was asked for: gzip, which the browser unpacks (or nothing).
    let encoding = parts.headers.get(header::CONTENT_ENCODING);
    let gzipped = match encoding {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"gzip") => true,
        Some(v) => {
            return Err(Failure::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the host's server answered in an encoding not asked for ({}); not passed on",
                    String::from_utf8_lossy(v.as_bytes())
                ),
            ));
        }
    };
    let mut out = Response::new(body);
    *out.status_mut() = parts.status;
    let upgraded = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    let headers = out.headers_mut();
    for name in if upgraded { UPGRADED } else { RETURNED } {
        for value in parts.headers.get_all(name) {
            headers.append(name, value.clone());
        }
    }
    let json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if json {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    } else if !upgraded {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"));
    }
    if gzipped {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(SANDBOX));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(out)
}
