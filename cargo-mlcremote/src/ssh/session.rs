//! One authenticated connection to a host, reached directly, through a `ProxyCommand`,
//! or through `ProxyJump` hosts (whose connections it keeps open).

use std::time::Duration;

use russh::{Disconnect, client::Handle};

use super::{ConnectOptions, Destination, Hop, auth, handshake};
use crate::{delegate::Reporter, err, error::Result};

/// An authenticated connection to one host (through its jump hosts, kept open here).
pub struct Session {
    pub(super) handle: Handle<handshake::Client>,
    _jumps: Vec<Handle<handshake::Client>>,
    _proxy: Option<tokio::process::Child>,
    pub destination: Destination,
    pub(super) reporter: Reporter,
    pub(super) connect_timeout: Duration,
    pub(super) step_timeout: Duration,
    /// What the last command's channel could have in flight (0: none ran yet).
    pub(super) windows: std::sync::atomic::AtomicU32,
}

impl Session {
    /// Connect (through a `ProxyCommand` and any `ProxyJump` hosts), verify each host
    /// key, authenticate.
    pub async fn connect(destination: &Destination, options: &ConnectOptions, reporter: &Reporter) -> Result<Session> {
        let target = Hop {
            destination: destination.clone(),
            login: options.login.clone(),
        };
        let mut hops: Vec<&Hop> = options.jumps.iter().collect();
        hops.push(&target);
        let first = hops[0];
        let timeout = options.connect_timeout;
        let known = &options.known_hosts;
        let (mut handle, proxy) = match &options.proxy_command {
            Some(command) => {
                let (stream, child) = proxy_command(command, &first.destination)?;
                (
                    handshake::handshake(stream, &first.destination, known, timeout, reporter).await?,
                    Some(child),
                )
            }
            None => {
                let tcp = handshake::tcp_connect(&first.destination, timeout).await?;
                (
                    handshake::handshake(tcp, &first.destination, known, timeout, reporter).await?,
                    None,
                )
            }
        };
        auth::authenticate(&mut handle, &first.destination, &first.login, reporter).await?;
        let mut jumps = Vec::new();
        let mut via = &first.destination;
        for hop in hops.into_iter().skip(1) {
            let to = &hop.destination;
            let channel = handle
                .channel_open_direct_tcpip(to.host.clone(), u32::from(to.port), "127.0.0.1", 0)
                .await
                .map_err(|e| {
                    err!(
                        Connect,
                        "cannot reach {}:{} through the jump host {via}: {e}",
                        to.host,
                        to.port
                    )
                })?;
            let mut next = handshake::handshake(channel.into_stream(), to, known, timeout, reporter).await?;
            auth::authenticate(&mut next, to, &hop.login, reporter).await?;
            jumps.push(std::mem::replace(&mut handle, next));
            via = to;
        }
        Ok(Session {
            handle,
            _jumps: jumps,
            _proxy: proxy,
            destination: destination.clone(),
            reporter: reporter.clone(),
            connect_timeout: timeout,
            step_timeout: options.step_timeout,
            windows: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// How long one remote command may take, unless the step says otherwise.
    pub fn step_timeout(&self) -> Duration {
        self.step_timeout
    }

    /// The reporter this session tells about remote commands.
    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// Say goodbye politely; errors here change nothing.
    pub async fn close(self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "", "en").await;
    }
}

/// Run a `ProxyCommand` (with the platform's shell) and speak SSH over its stdin/stdout.
fn proxy_command(
    command: &str,
    to: &Destination,
) -> Result<(
    impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    tokio::process::Child,
)> {
    #[cfg(unix)]
    let mut cmd = {
        let mut c = tokio::process::Command::new("/bin/sh");
        c.arg("-c").arg(format!("exec {command}"));
        c
    };
    #[cfg(windows)]
    let mut cmd = {
        let mut c = tokio::process::Command::new("cmd");
        c.arg("/C").arg(command);
        c
    };
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| err!(Connect, "cannot run the ProxyCommand for {to} ({command}): {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(err!(Connect, "the ProxyCommand for {to} has no stdin/stdout"));
    };
    Ok((tokio::io::join(stdout, stdin), child))
}
