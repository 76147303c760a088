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
    let body = get_with(host, port, path, None, MAX_ANSWER, timeout)?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// [`get`] with the server's token, of an answer of at most `max` bytes: the body of a
/// 2xx, whole (as long as its `Content-Length` says; not chunked), else an error.
pub fn get_with(
    host: &str,
    port: u16,
    path: &str,
    token: Option<&str>,
    max: u64,
    timeout: Duration,
) -> anyhow::Result<Vec<u8>> {
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("cannot connect to {host}:{port}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    // The head (a few hundred bytes) comes on top of the body.
    let mut answer = Vec::new();
    stream
        .take(max + 4096)
        .read_to_end(&mut answer)
        .with_context(|| format!("no answer from {host}:{port} within {timeout:?}"))?;
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("not an HTTP answer")?;
    let head = String::from_utf8_lossy(&answer[..at]).into_owned();
    let body = answer.split_off(at + 4);
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with('2') {
        bail!("GET {path} answered {status}: {}", String::from_utf8_lossy(&body));
    }
    let field = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    if field("transfer-encoding").is_some() {
        bail!("GET {path}: a chunked answer is not read here");
    }
    let whole = field("content-length").is_none_or(|n| n.parse() == Ok(body.len()));
    if !whole || body.len() as u64 > max {
        bail!("GET {path}: the answer is over {max} bytes or was cut short");
    }
    Ok(body)
}
