//! The server's own `/health` client: `mlcremote health`, and the agent's wait for a
//! server it started. Loopback only, every read bounded.

use std::{
    io::{Read, Write},
    net::{TcpStream, ToSocketAddrs},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use anyhow::{Context, bail};

use crate::{home::default_path, state};

/// `mlcremote health`: GET /health of the server the state file names, print it.
pub fn check(state_file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let state_file = state_file.map_or_else(|| default_path("server.json"), Ok)?;
    let state = state::read(&state_file).context("is the server running?")?;
    let body = get(state.loopback(), state.port, "/health", Duration::from_secs(5))?;
    println!("{body}");
    let ok = serde_json::from_str::<serde_json::Value>(&body).is_ok_and(|v| v["status"] == "ok");
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The most of a `/health` answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// `GET path` on `host:port`, the whole exchange bounded by `timeout`; the body of a 2xx.
pub fn get(host: &str, port: u16, path: &str, timeout: Duration) -> anyhow::Result<String> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("cannot connect to {host}:{port}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .with_context(|| format!("no answer from {host}:{port} within {timeout:?}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").context("not an HTTP answer")?;
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') {
        bail!("GET {path} answered {status}: {body}");
    }
    Ok(body.to_string())
}
