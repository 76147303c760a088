//! Reaching an SSH server: TCP (retried, bounded), or a `ProxyCommand`'s stdin/stdout,
//! then the SSH handshake with the host key checked against known_hosts. An unknown key
//! is put to the person through the delegate; a changed one is always refused.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use russh::{
    client::{self, Handle},
    keys::{HashAlg, PublicKey, PublicKeyOrCertificate},
};

use super::{
    ConnectOptions, Destination, KnownHosts,
    config::Strict,
    known_hosts::{self, Verdict},
};
use crate::{
    delegate::{Answer, Question, Reporter},
    err,
    error::{Error, Result},
};

/// AES-GCM first: with AES instructions (every x86_64 and aarch64 server of the last
/// decade) it is several times faster than ChaCha20, russh's default first choice, and
/// the upload is mostly cipher work (measured by `cargo xtask bench`).
const CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_192_CTR,
    russh::cipher::AES_128_CTR,
];

/// How often a refused or reset connect is tried in all.
const CONNECT_ATTEMPTS: u32 = 3;

/// TCP to the first hop, retried (bounded) with backoff while refused or timing out.
pub(super) async fn tcp_connect(to: &Destination, timeout: Duration) -> Result<QuickAck> {
    let target = format!("{}:{}", to.host, to.port);
    let mut pause = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((to.host.as_str(), to.port))).await;
        let (error, retryable) = match result {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(QuickAck::new(tcp));
            }
            Ok(Err(e)) => {
                let retryable = matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::TimedOut
                );
                (e.to_string(), retryable)
            }
            Err(_) => (format!("no answer within {}", super::shown(timeout)), true),
        };
        if !retryable || attempt >= CONNECT_ATTEMPTS {
            let tries = if attempt > 1 {
                format!(" ({attempt} attempts)")
            } else {
                String::new()
            };
            return Err(err!(Connect, "cannot connect to {target}: {error}{tries}"));
        }
        tokio::time::sleep(jitter(pause)).await;
        pause *= 2;
    }
}

/// The TCP connection to the first hop, acknowledging what arrives at once.
///
/// OpenSSH's sshd leaves Nagle on where no terminal is asked for. Right after the login
/// it writes its host keys, a debug line or two about the key's options, then the answer
/// to the channel the client asked for, each write held until the one before is
/// acknowledged; a client with nothing to send acknowledges late (Linux delays an ACK
/// 40 ms), so every connect waited 40 ms more for its first channel (seen with tcpdump
/// on loopback). Linux's TCP_QUICKACK does not stay set: it is set again after each read.
/// Windows (which waits up to 200 ms) is asked once, when the connection is made.
pub(super) struct QuickAck(tokio::net::TcpStream);

impl QuickAck {
    fn new(tcp: tokio::net::TcpStream) -> QuickAck {
        #[cfg(windows)]
        ack_every_segment(&tcp);
        QuickAck(tcp)
    }
}

/// Windows delays an ACK up to 200 ms (where Linux waits 40, see [`QuickAck`]); asked
/// once, a socket acknowledges every segment (`SIO_TCP_SET_ACK_FREQUENCY`, Windows 10 and
/// later). A failure (an older Windows, Wine) only leaves the usual delayed ACK. macOS has
/// no such option per socket.
#[cfg(windows)]
fn ack_every_segment(tcp: &tokio::net::TcpStream) {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{SIO_TCP_SET_ACK_FREQUENCY, SOCKET, WSAIoctl};
    let every: u32 = 1;
    let mut returned: u32 = 0;
    // SAFETY: an open socket; the input is a u32 given as a pointer and its size, there is
    // no output buffer, and the call is synchronous (no overlapped structure).
    unsafe {
        WSAIoctl(
            tcp.as_raw_socket() as SOCKET,
            SIO_TCP_SET_ACK_FREQUENCY,
            std::ptr::from_ref(&every).cast(),
            std::mem::size_of::<u32>() as u32,
            std::ptr::null_mut(),
            0,
            &mut returned,
            std::ptr::null_mut(),
            None,
        );
    }
}

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        #[cfg(target_os = "linux")]
        if matches!(polled, std::task::Poll::Ready(Ok(()))) && buf.filled().len() > before {
            use std::os::fd::AsRawFd;
            let one: libc::c_int = 1;
            // SAFETY: an open socket, and an int option given as a pointer to an int and
            // its size. A failure only leaves the kernel's usual delayed ACK.
            unsafe {
                libc::setsockopt(
                    self.0.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_QUICKACK,
                    std::ptr::from_ref(&one).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = before;
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `pause` plus up to half of it again, so hosts retrying together spread out.
pub(super) fn jitter(pause: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    pause + pause.mul_f64(f64::from(byte[0]) / 510.0)
}

/// A handshake that failed, and whether the server dropped the connection before it was
/// done (worth another try a moment later).
pub(super) struct Failed {
    pub error: Error,
    pub dropped: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Failed {
        Failed { error, dropped: false }
    }
}

/// The server closed or reset the connection: what sshd does past `MaxStartups`.
fn dropped(e: &russh::Error) -> bool {
    match e {
        russh::Error::Disconnect | russh::Error::HUP => true,
        russh::Error::IO(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe
        ),
        _ => false,
    }
}

/// Why a connection ended, once it has (see [`Client::disconnected`]).
pub(super) type Lost = Arc<Mutex<Option<String>>>;

/// The SSH handshake on `stream`, with `to`'s host key checked against known_hosts; the
/// connection keeps itself alive as `options.keepalive` says, and `lost` learns why it
/// ended.
pub(super) async fn handshake<S>(
    stream: S,
    to: &Destination,
    options: &ConnectOptions,
    reporter: &Reporter,
    lost: &Lost,
) -> std::result::Result<Handle<Client>, Failed>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let timeout = options.connect_timeout;
    let problem = Arc::new(Mutex::new(None));
    let handler = Client {
        host: to.host.clone(),
        port: to.port,
        known: options.known_hosts.clone(),
        reporter: reporter.clone(),
        problem: problem.clone(),
        keepalive: options.keepalive,
        lost: lost.clone(),
    };
    let config = Arc::new(client::Config {
        keepalive_interval: options.keepalive.interval,
        // russh gives up when a keepalive finds more than this many unanswered: after
        // (max + 1) intervals of silence; ssh after `ServerAliveCountMax` intervals.
        keepalive_max: options.keepalive.count_max.saturating_sub(1).max(1) as usize,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(CIPHERS),
            ..Default::default()
        },
        ..Default::default()
    });
    let target = format!("{}:{}", to.host, to.port);
    // Time spent answering the host key question does not count against the timeout.
    match super::within(timeout, reporter, client::connect_stream(config, stream, handler)).await {
        Some(Ok(handle)) => Ok(handle),
        Some(Err(e)) => {
            let problem = problem.lock().unwrap_or_else(|p| p.into_inner()).take();
            Err(match problem {
                Some(error) => Failed::from(error),
                None => Failed {
                    error: err!(Connect, "SSH handshake with {target} failed: {e}"),
                    dropped: dropped(&e),
                },
            })
        }
        None => Err(err!(
            Connect,
            "SSH handshake with {target} timed out after {}",
            super::shown(timeout)
        )
        .into()),
    }
}

/// Holds only what host key checking needs.
pub(super) struct Client {
    host: String,
    port: u16,
    known: KnownHosts,
    reporter: Reporter,
    /// Why the key was refused, for the caller to report with exit code 5.
    problem: Arc<Mutex<Option<Error>>>,
    keepalive: super::Keepalive,
    /// Why the connection ended, for every operation still waiting on it.
    lost: Lost,
}

impl Client {
    fn refuse(&self, error: Error) -> bool {
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        false
    }

    async fn verify(&self, key: &PublicKey) -> bool {
        let entry = known_hosts::host_entry(&self.host, self.port);
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let algorithm = key.algorithm();
        let mut files: Vec<PathBuf> = self.known.user.clone();
        files.extend(self.known.global.iter().cloned());
        let verdict = match known_hosts::check(&files, &self.host, self.port, key) {
            Ok(v) => v,
            Err(e) => return self.refuse(err!(HostKey, "cannot check the host key of {entry}: {e}")),
        };
        match verdict {
            Verdict::Known => true,
            Verdict::Changed { path, line } => self.refuse(err!(
                HostKey,
                "the host key of {entry} has CHANGED (now {algorithm} {fingerprint}); it may be an attack. \
                 If the change is expected, remove line {line} of {}",
                path.display()
            )),
            Verdict::Revoked { path, line } => self.refuse(err!(
                HostKey,
                "the host key of {entry} is revoked ({}:{line}); refusing to connect",
                path.display()
            )),
            Verdict::Unknown => {
                let accepted = match self.known.strict {
                    Strict::AcceptNew | Strict::No => true,
                    Strict::Yes => false,
                    Strict::Ask => {
                        self.reporter.can_ask()
                            && self
                                .reporter
                                .ask(Question::TrustHostKey {
                                    host: entry.clone(),
                                    algorithm: algorithm.to_string(),
                                    fingerprint: fingerprint.to_string(),
                                })
                                .await
                                == Answer::Yes
                    }
                };
                if !accepted {
                    let hint = if self.known.strict == Strict::Yes {
                        "StrictHostKeyChecking is yes for this host; add the key to known_hosts yourself"
                    } else {
                        "check it, then rerun with --accept-new-host-key to record it"
                    };
                    return self.refuse(err!(
                        HostKey,
                        "the host key of {entry} is unknown ({algorithm} {fingerprint}); {hint}"
                    ));
                }
                let Some(path) = self.known.user.first() else {
                    return self.refuse(err!(
                        HostKey,
                        "no known_hosts file to record {entry} in; pass --known-hosts"
                    ));
                };
                match known_hosts::record(path, &self.host, self.port, key, self.known.hash) {
                    Ok(()) => {
                        self.reporter.note(format!(
                            "Recorded the host key of {entry} ({fingerprint}) in {}",
                            path.display()
                        ));
                        true
                    }
                    Err(e) => self.refuse(err!(HostKey, "cannot record the host key of {entry}: {e}")),
                }
            }
        }
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    /// The session ended: say why in words, for whatever still waits on it.
    async fn disconnected(&mut self, reason: client::DisconnectReason<Self::Error>) -> Result<(), Self::Error> {
        let (why, result) = match reason {
            client::DisconnectReason::ReceivedDisconnect(info) => {
                (format!("the host ended the session ({})", info.message.trim()), Ok(()))
            }
            client::DisconnectReason::Error(e) => (self.keepalive.explain(&e), Err(e)),
        };
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
        result
    }

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(key).await,
            PublicKeyOrCertificate::Certificate(_) => self.refuse(err!(
                HostKey,
                "{} presented a host certificate; certificate host keys are not supported yet",
                self.host
            )),
        })
    }
}
