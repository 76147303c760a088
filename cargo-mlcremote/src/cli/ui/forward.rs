//! `/h/<host>/api/…` and `/h/<host>/ws/terminal`: the host's server API, forwarded over
//! a direct-tcpip channel of that host's SSH connection. The browser's cookie, origin and
//! any credentials it sends stay here; the server's token is added here and goes no
//! further back than the host. A WebSocket upgrade is passed through as bytes.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{Path, Request, State},
    http::{HeaderName, StatusCode, header},
    response::{IntoResponse, Response},
};
use hyper_util::rt::TokioIo;
use mlcremote_client::ssh::HttpError;

use crate::cli::ui::{
    ops,
    state::{Ui, error},
};

/// Request headers the host's server gets from the browser; everything else stays here.
const PASSED: &[HeaderName] = &[
    header::ACCEPT,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::UPGRADE,
    header::CONNECTION,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_EXTENSIONS,
];

pub async fn forward(
    State(ui): State<Arc<Ui>>,
    Path((host, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    if !(rest.starts_with("api/") || rest == "ws/terminal") {
        return error(StatusCode::NOT_FOUND, "no such route");
    }
    let Some(mut held) = ui.held(&host).await else {
        return error(StatusCode::CONFLICT, &format!("not connected to {host}: connect first"));
    };
    let mut again = true;
    let (stream, port, token) = loop {
        let Some((port, token)) = held.state.read().await.server.clone() else {
            return error(
                StatusCode::CONFLICT,
                &format!("no server is running on {host}: install or restart it first"),
            );
        };
        match held.session.forward(port).await {
            Ok(stream) => break (stream, port, token),
            // The SSH connection dropped (russh may not call its handle closed yet: a
            // channel that cannot even be asked for says enough): one new connection,
            // then the request again.
            Err(HttpError::Failed(_)) if again => {
                again = false;
                match ops::reconnect(&ui, &host).await {
                    Some(new) => held = new,
                    None => {
                        return error(
                            StatusCode::BAD_GATEWAY,
                            &format!("the connection to {host} dropped and connecting again failed"),
                        );
                    }
                }
            }
            Err(e) => {
                return error(
                    StatusCode::BAD_GATEWAY,
                    &format!("cannot reach the server on {host}: {e}"),
                );
            }
        }
    };
    let (mut sender, connection) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
        Ok(pair) => pair,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("cannot talk to the server on {host}: {e}"),
            );
        }
    };
    tokio::spawn(connection.with_upgrades());

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
    let upstream = upstream
        .header(header::HOST, format!("127.0.0.1:{port}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(body);
    let upstream = match upstream {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("cannot forward this request: {e}")),
    };
    let mut response = match sender.send_request(upstream).await {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_GATEWAY,
                &format!("the server on {host} did not answer: {e}"),
            );
        }
    };

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(browser) = browser_upgrade else {
            return error(
                StatusCode::BAD_REQUEST,
                "the server upgraded a request that asked for none",
            );
        };
        let server = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            if let (Ok(browser), Ok(server)) = (browser.await, server.await) {
                let (mut browser, mut server) = (TokioIo::new(browser), TokioIo::new(server));
                // A channel of a dropped connection may never see its end: watch the
                // connection too, so the page learns of the drop and reconnects.
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
        });
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Body::empty());
    }
    let (mut parts, body) = response.into_parts();
    for hop in [header::CONNECTION, header::TRANSFER_ENCODING, header::UPGRADE] {
        parts.headers.remove(hop);
    }
    parts.headers.remove("keep-alive");
    Response::from_parts(parts, Body::new(body)).into_response()
}
