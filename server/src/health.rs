//! `mlcremote health`: the server's own client, used by deploy when the SSH server
//! refuses TCP forwarding.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::{home::default_path, state::State};

pub async fn check(state_file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state_file = state_file.map_or_else(|| default_path("server.json"), Ok)?;
    let state = State::read(&state_file).context("is the server running?")?;
    let host = match state.bind.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    let body = get(host, state.port, "/health").await?;
    println!("{body}");
    let ok = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v["status"] == "ok");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn get(host: &str, port: u16, path: &str) -> anyhow::Result<String> {
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let body = String::from_utf8_lossy(&body).into_owned();
    anyhow::ensure!(status.is_success(), "GET {path} answered {status}: {body}");
    Ok(body)
}
