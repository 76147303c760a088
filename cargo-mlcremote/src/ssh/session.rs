//! One authenticated connection to a host, reached directly, through a `ProxyCommand`,
//! or through `ProxyJump` hosts. The connections to the jump hosts are shared by every
//! host of a run behind the same ones ([`JumpCache`]): a bastion sees one login, not one
//! per host.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use russh::{Disconnect, client::Handle};

use super::{ConnectOptions, Destination, auth, handshake, handshake::Lost};
use crate::{delegate::Reporter, err, error::Result};

/// An authenticated connection to one host (through its jump hosts, kept open here).
pub struct Session {
    pub(super) handle: Handle<handshake::Client>,
    _jumps: Option<Arc<Chain>>,
    _proxy: Option<tokio::process::Child>,
    pub destination: Destination,
    pub(super) reporter: Reporter,
    pub(super) connect_timeout: Duration,
    pub(super) step_timeout: Duration,
    /// What the last command's channel could have in flight (0: none ran yet).
    pub(super) windows: std::sync::atomic::AtomicU32,
    /// The shortest channel open seen, in microseconds (`u64::MAX`: none yet): about one
    /// round trip, since the server answers an open at once.
    pub(super) round_trip: std::sync::atomic::AtomicU64,
    /// Why the connection ended, once it has.
    lost: Lost,
    keepalive: super::Keepalive,
}

/// Authenticated connections to a row of jump hosts; the last one reaches the host.
pub struct Chain {
    handles: Vec<Handle<handshake::Client>>,
    _proxy: Option<tokio::process::Child>,
}

impl Chain {
    fn is_closed(&self) -> bool {
        self.handles.iter().any(|h| h.is_closed())
    }
}

/// The jump-host connections of a run, shared by the hosts behind the same jump hosts
/// while any of them uses one (then closed).
#[derive(Clone, Default)]
pub struct JumpCache(Arc<tokio::sync::Mutex<Vec<Cached>>>);

/// A chain of jump hosts by what identifies it.
type Cached = (String, Weak<Chain>);

impl std::fmt::Debug for JumpCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JumpCache")
    }
}

impl JumpCache {
    /// The connection through `options.jumps`, made once: hosts that arrive together
    /// wait for the first to make it.
    async fn chain(&self, options: &ConnectOptions, reporter: &Reporter) -> Result<Arc<Chain>> {
        let key = format!(
            "{:?} {:?}",
            options.proxy_command,
            options
                .jumps
                .iter()
                .map(|h| (h.destination.to_string(), &h.login.identities))
                .collect::<Vec<_>>()
        );
        let mut cache = self.0.lock().await;
        cache.retain(|(_, chain)| chain.strong_count() > 0);
        let live = cache
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, chain)| chain.upgrade())
            .filter(|chain| !chain.is_closed());
        if let Some(chain) = live {
            return Ok(chain);
        }
        let chain = Arc::new(connect_jumps(options, reporter).await?);
        cache.retain(|(k, _)| *k != key);
        cache.push((key, Arc::downgrade(&chain)));
        Ok(chain)
    }
}

/// How often a connection the server drops during the handshake is tried in all.
const HANDSHAKE_ATTEMPTS: u32 = 6;

/// TCP (or the `ProxyCommand`) to `to` and the SSH handshake. A server that drops the
/// connection before the handshake is done is tried again, with jittered backoff: sshd
/// does that to connections beyond its `MaxStartups` (10 unauthenticated by default),
/// and so does a busy bastion, when many hosts connect at once.
async fn reach(
    to: &Destination,
    options: &ConnectOptions,
    reporter: &Reporter,
    lost: &Lost,
) -> Result<(Handle<handshake::Client>, Option<tokio::process::Child>)> {
    let timeout = options.connect_timeout;
    let mut pause = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let tried = match &options.proxy_command {
            Some(command) => {
                let (stream, child) = proxy_command(command, to)?;
                handshake::handshake(stream, to, options, reporter, lost)
                    .await
                    .map(|h| (h, Some(child)))
            }
            None => {
                let tcp = handshake::tcp_connect(to, timeout).await?;
                handshake::handshake(tcp, to, options, reporter, lost)
                    .await
                    .map(|h| (h, None))
            }
        };
        match tried {
            Ok(reached) => return Ok(reached),
            Err(failed) if failed.dropped && attempt < HANDSHAKE_ATTEMPTS => {
                tokio::time::sleep(handshake::jitter(pause)).await;
                pause = (pause * 2).min(Duration::from_secs(4));
                attempt += 1;
            }
            Err(failed) if failed.dropped => {
                let message = format!("{} ({attempt} attempts)", failed.error.message());
                return Err(crate::error::Error::new(failed.error.kind(), message));
            }
            Err(failed) => return Err(failed.error),
        }
    }
}

/// Connect and log in to each jump host in turn, each through the one before.
async fn connect_jumps(options: &ConnectOptions, reporter: &Reporter) -> Result<Chain> {
    let Some((first, rest)) = options.jumps.split_first() else {
        return Err(err!(Other, "no jump hosts to connect to"));
    };
    // A jump host's end shows as the end of the connections through it.
    let lost = Lost::default();
    let (mut handle, proxy) = reach(&first.destination, options, reporter, &lost).await?;
    auth::authenticate(
        &mut handle,
        &first.destination,
        &first.login,
        reporter,
        &lost,
        options.connect_timeout,
    )
    .await?;
    let mut handles = vec![handle];
    for hop in rest {
        let mut next = through(&handles, &hop.destination, options, reporter, &lost).await?;
        auth::authenticate(
            &mut next,
            &hop.destination,
            &hop.login,
            reporter,
            &lost,
            options.connect_timeout,
        )
        .await?;
        handles.push(next);
    }
    Ok(Chain { handles, _proxy: proxy })
}

/// The SSH handshake with `to` over a direct-tcpip channel of the last of `handles`.
async fn through(
    handles: &[Handle<handshake::Client>],
    to: &Destination,
    options: &ConnectOptions,
    reporter: &Reporter,
    lost: &Lost,
) -> Result<Handle<handshake::Client>> {
    let Some(via) = handles.last() else {
        return Err(err!(Other, "no jump host to go through"));
    };
    let channel = via
        .channel_open_direct_tcpip(to.host.clone(), u32::from(to.port), "127.0.0.1", 0)
        .await
        .map_err(|e| err!(Connect, "cannot reach {}:{} through a jump host: {e}", to.host, to.port))?;
    handshake::handshake(channel.into_stream(), to, options, reporter, lost)
        .await
        .map_err(|failed| failed.error)
}

impl Session {
    /// Connect (through a `ProxyCommand` and any `ProxyJump` hosts), verify each host
    /// key, authenticate.
    pub async fn connect(destination: &Destination, options: &ConnectOptions, reporter: &Reporter) -> Result<Session> {
        let lost = Lost::default();
        let (mut handle, jumps, proxy) = if options.jumps.is_empty() {
            let (handle, proxy) = reach(destination, options, reporter, &lost).await?;
            (handle, None, proxy)
        } else {
            let chain = options.jump_cache.chain(options, reporter).await?;
            let handle = through(&chain.handles, destination, options, reporter, &lost).await?;
            (handle, Some(chain), None)
        };
        auth::authenticate(
            &mut handle,
            destination,
            &options.login,
            reporter,
            &lost,
            options.connect_timeout,
        )
        .await?;
        Ok(Session {
            handle,
            _jumps: jumps,
            _proxy: proxy,
            destination: destination.clone(),
            reporter: reporter.clone(),
            connect_timeout: options.connect_timeout,
            step_timeout: options.step_timeout,
            windows: std::sync::atomic::AtomicU32::new(0),
            round_trip: std::sync::atomic::AtomicU64::new(u64::MAX),
            lost,
            keepalive: options.keepalive,
        })
    }

    /// How long one remote command may take, unless the step says otherwise.
    pub fn step_timeout(&self) -> Duration {
        self.step_timeout
    }

    /// How long connecting, and an exec's answer, may take.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long this client waits on a host that fell silent before it calls the
    /// connection dead (the keepalives, then a connect timeout's grace; ten minutes with
    /// keepalives off): what the host may wait for this client, at most.
    pub fn dead_after(&self) -> Duration {
        match self.keepalive.interval {
            Some(every) => every * self.keepalive.count_max + self.connect_timeout,
            None => Duration::from_secs(600),
        }
    }

    /// The reporter this session tells about remote commands.
    pub fn reporter(&self) -> &Reporter {
        &self.reporter
    }

    /// Whether the connection has ended (the host, the network or a jump host dropped it).
    pub fn is_closed(&self) -> bool {
        self.handle.is_closed() || self._jumps.as_ref().is_some_and(|j| j.is_closed())
    }

    /// If the connection has ended: the error every operation on it fails with (exit 3),
    /// saying why it ended.
    pub fn lost(&self) -> Option<crate::error::Error> {
        if !self.is_closed() {
            return None;
        }
        let why = self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let why = why.unwrap_or_else(|| "the connection ended".to_string());
        Some(err!(Connect, "lost the connection to {}: {why}", self.destination))
    }

    /// `e`, or the lost connection behind it: an operation that failed because the
    /// connection ended says so (exit 3), whatever the channel saw.
    pub fn or_lost(&self, e: crate::error::Error) -> crate::error::Error {
        self.lost().unwrap_or(e)
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
