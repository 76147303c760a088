//! The SSH transport: one russh connection per host, with host key checking against
//! `known_hosts`, key authentication, remote scripts, SFTP upload and HTTP over a
//! direct-tcpip channel. What is done on the host lives elsewhere (`remote`, `deploy`).

use std::{
    io::IsTerminal,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use russh::{
    ChannelMsg, ChannelOpenFailure, Disconnect,
    client::{self, Handle},
    keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate},
};
use tokio::io::AsyncWriteExt;

use crate::{
    err,
    error::Result,
    host::Destination,
    known_hosts::{self, Verdict},
};

/// How to reach and trust a host; shared by every command.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// `-i FILE` and `IdentityFile`, tried before the default key files.
    pub identities: Vec<PathBuf>,
    /// `--known-hosts FILE`, or `UserKnownHostsFile`: check here (and record in the
    /// first) instead of `~/.ssh/known_hosts`.
    pub known_hosts: Vec<PathBuf>,
    /// `--accept-new-host-key` or `StrictHostKeyChecking accept-new`: trust and record
    /// a key never seen before. A changed key is refused whatever this says.
    pub accept_new_host_key: bool,
    pub connect_timeout: Duration,
    /// From `--password-stdin`: tried after keys, for password and keyboard-interactive.
    pub password: Option<String>,
    /// `ProxyJump` hops, first to last.
    pub jumps: Vec<Destination>,
    /// Ask on the terminal (host keys, passphrases, passwords) when there is one.
    pub interactive: bool,
    /// `-v`: print each remote script and how long it took.
    pub verbose: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            identities: Vec::new(),
            known_hosts: Vec::new(),
            accept_new_host_key: false,
            connect_timeout: Duration::from_secs(15),
            password: None,
            jumps: Vec::new(),
            interactive: std::io::stdin().is_terminal() && std::io::stderr().is_terminal(),
            verbose: false,
        }
    }
}

/// An authenticated connection to one host (through its jump hosts, kept open here).
pub struct Session {
    handle: Handle<Client>,
    _jumps: Vec<Handle<Client>>,
    pub destination: Destination,
    verbose: bool,
}

/// What a remote script printed after its start marker, and how it ended.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: u32,
}

impl Output {
    /// `key=value` lines of stdout, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.stdout.lines().filter_map(|l| l.split_once('='))
    }

    /// The first value for `key`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// A remote process kept alive by an open channel (see [`Session::hold`]). Closing the
/// channel ends it; so does a lost connection.
pub struct Held {
    /// What the script printed up to its ready line.
    pub output: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Held {
    /// Close the channel and wait until it is closed.
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Why a GET through the SSH connection did not answer.
#[derive(Debug)]
pub enum HttpError {
    /// The SSH server refuses TCP forwarding (`AllowTcpForwarding no`).
    ForwardingRefused,
    /// Nothing listens there yet, or the request failed.
    Failed(String),
}

impl Session {
    /// Connect (through any `ProxyJump` hosts), verify each host key, authenticate.
    pub async fn connect(destination: &Destination, options: &ConnectOptions) -> Result<Session> {
        let first = options.jumps.first().unwrap_or(destination);
        let tcp = tcp_connect(first, options.connect_timeout).await?;
        let mut handle = handshake(tcp, first, options).await?;
        authenticate(&mut handle, first, options).await?;
        let mut jumps = Vec::new();
        if !options.jumps.is_empty() {
            let hops: Vec<&Destination> = options
                .jumps
                .iter()
                .skip(1)
                .chain(std::iter::once(destination))
                .collect();
            let mut via = first;
            for hop in hops {
                let channel = handle
                    .channel_open_direct_tcpip(hop.host.clone(), u32::from(hop.port), "127.0.0.1", 0)
                    .await
                    .map_err(|e| {
                        err!(
                            Connect,
                            "cannot reach {}:{} through the jump host {via}: {e}",
                            hop.host,
                            hop.port
                        )
                    })?;
                let mut next = handshake(channel.into_stream(), hop, options).await?;
                authenticate(&mut next, hop, options).await?;
                jumps.push(std::mem::replace(&mut handle, next));
                via = hop;
            }
        }
        Ok(Session {
            handle,
            _jumps: jumps,
            destination: destination.clone(),
            verbose: options.verbose,
        })
    }

    /// Run a POSIX `sh` script on the host. The script goes on stdin to `sh -s`, so the
    /// login shell (bash, fish, csh…) never parses it, and only output after a random
    /// start marker counts, so start-up noise from rc files is ignored.
    pub async fn run(&self, script: &str) -> Result<Output> {
        let started = std::time::Instant::now();
        let output = self.run_quietly(script).await;
        if self.verbose {
            let dest = &self.destination;
            let outcome = match &output {
                Ok(out) => format!("exit {}", out.status),
                Err(e) => format!("failed: {e}"),
            };
            eprintln!("[{dest}] $ sh -s <<'SCRIPT'\n{}\nSCRIPT", script.trim_end());
            eprintln!("[{dest}] {outcome} in {} ms", started.elapsed().as_millis());
        }
        output
    }

    async fn run_quietly(&self, script: &str) -> Result<Output> {
        let (marker, mut channel) = self.start_script(script).await?;
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    return Err(err!(Other, "remote script killed by signal {signal_name:?}"));
                }
                _ => {}
            }
        }
        let Some(after) = after_marker(&stdout, &marker) else {
            return Err(
                err!(Other, "the remote shell did not run the script (no output marker)").detail(format!(
                    "stdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                )),
            );
        };
        Ok(Output {
            stdout: String::from_utf8_lossy(after).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            status: status.ok_or_else(|| err!(Other, "the remote script ended without an exit status"))?,
        })
    }

    /// Start `script` under `sh -s` on a new channel; returns the marker that precedes
    /// its output.
    async fn start_script(&self, script: &str) -> Result<(String, russh::Channel<client::Msg>)> {
        let marker = format!("mlcremote-{}", random_hex(12));
        // One compound command: sh parses it all before running any of it, so nothing
        // the script runs can swallow the rest of the script from stdin.
        let framed =
            format!("mlcremote_main() {{\n{script}\n}}\nprintf '%s\\n' '{marker}'\nmlcremote_main </dev/null\n");
        let channel = self.exec_channel("sh -s").await?;
        channel.data(framed.as_bytes()).await.map_err(lost)?;
        channel.eof().await.map_err(lost)?;
        Ok((marker, channel))
    }

    /// Run a script that prints `ready_line` and then keeps running for as long as its
    /// channel is open (a lock holder). Returns the holder, or the script's output if it
    /// ended without getting there.
    pub async fn hold(&self, script: &str, ready_line: &str) -> Result<Result<Held, Output>> {
        let (marker, mut channel) = self.start_script(script).await?;
        let (mut stdout, mut stderr, mut status) = (Vec::new(), Vec::new(), None);
        let ready = format!("{ready_line}\n");
        loop {
            match channel.wait().await {
                Some(ChannelMsg::Data { data }) => {
                    stdout.extend_from_slice(&data);
                    if after_marker(&stdout, &marker).is_some_and(|after| find(after, ready.as_bytes()).is_some()) {
                        break;
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => stderr.extend_from_slice(&data),
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(_) => {}
                None => {
                    let after = after_marker(&stdout, &marker).unwrap_or_default();
                    return Ok(Err(Output {
                        stdout: String::from_utf8_lossy(after).into_owned(),
                        stderr: String::from_utf8_lossy(&stderr).into_owned(),
                        status: status.unwrap_or(255),
                    }));
                }
            }
        }
        let output = String::from_utf8_lossy(after_marker(&stdout, &marker).unwrap_or_default()).into_owned();
        // Keep reading, or the connection's channel buffer would fill and stall it.
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        let _ = channel.close().await;
                        break;
                    }
                    msg = channel.wait() => if msg.is_none() { break },
                }
            }
        });
        Ok(Ok(Held {
            output,
            stop: Some(stop),
            task,
        }))
    }

    /// Open a session channel and start `command`. Dropbear has been seen to refuse a
    /// channel right after an SFTP channel closed on the same connection: retry, bounded.
    async fn exec_channel(&self, command: &str) -> Result<russh::Channel<client::Msg>> {
        let mut last = None;
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            match self.handle.channel_open_session().await {
                Ok(mut channel) => match channel.exec(true, command).await {
                    // Send nothing before the server says the command runs: data sent
                    // earlier can be lost (seen with dropbear right after SFTP).
                    Ok(()) => match wait_for_reply(&mut channel).await {
                        Ok(()) => return Ok(channel),
                        Err(e) => last = Some(e),
                    },
                    Err(e) => last = Some(e),
                },
                Err(e) => last = Some(e),
            }
            if self.handle.is_closed() {
                break;
            }
        }
        Err(err!(
            Connect,
            "cannot run a command on {}: {}",
            self.destination,
            last.map(|e| e.to_string()).unwrap_or_default()
        ))
    }

    /// Upload `bytes` to `remote_path` over SFTP, calling `progress(sent)` as it goes.
    pub async fn upload(&self, bytes: &[u8], remote_path: &str, mut progress: impl FnMut(u64)) -> Result<()> {
        let channel = self.handle.channel_open_session().await.map_err(lost)?;
        channel.request_subsystem(true, "sftp").await.map_err(lost)?;
        let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
            .await
            .map_err(|e| err!(Install, "cannot start SFTP on {}: {e}", self.destination))?;
        let failed = |e: &dyn std::fmt::Display| err!(Install, "upload to {remote_path} failed: {e}");
        let mut file = sftp.create(remote_path).await.map_err(|e| failed(&e))?;
        for chunk in bytes.chunks(256 * 1024) {
            file.write_all(chunk).await.map_err(|e| failed(&e))?;
            progress(chunk.len() as u64);
        }
        file.shutdown().await.map_err(|e| failed(&e))?;
        drop(file);
        let _ = sftp.close().await;
        Ok(())
    }

    /// `GET path` from `127.0.0.1:port` on the host, through a direct-tcpip channel:
    /// no port is opened to the network. Returns the status code and body.
    pub async fn http_get(&self, port: u16, path: &str) -> Result<(u16, String), HttpError> {
        let channel = match self
            .handle
            .channel_open_direct_tcpip("127.0.0.1", u32::from(port), "127.0.0.1", 0)
            .await
        {
            Ok(channel) => channel,
            Err(russh::Error::ChannelOpenFailure(ChannelOpenFailure::AdministrativelyProhibited)) => {
                return Err(HttpError::ForwardingRefused);
            }
            Err(e) => return Err(HttpError::Failed(e.to_string())),
        };
        let failed = |e: &dyn std::fmt::Display| HttpError::Failed(e.to_string());
        let io = TokioIo::new(channel.into_stream());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| failed(&e))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(&e))?;
        let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| failed(&e))?.to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A byte stream to `127.0.0.1:port` on the host, through a direct-tcpip channel.
    pub async fn forward(
        &self,
        port: u16,
    ) -> Result<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + use<>, HttpError> {
        match self
            .handle
            .channel_open_direct_tcpip("127.0.0.1", u32::from(port), "127.0.0.1", 0)
            .await
        {
            Ok(channel) => Ok(channel.into_stream()),
            Err(russh::Error::ChannelOpenFailure(ChannelOpenFailure::AdministrativelyProhibited)) => {
                Err(HttpError::ForwardingRefused)
            }
            Err(e) => Err(HttpError::Failed(e.to_string())),
        }
    }

    /// Like [`Session::run`], but hands stdout to `output` as it arrives (for `logs
    /// --follow`). Ends when the script ends, or when `stop` resolves.
    pub async fn run_streaming(
        &self,
        script: &str,
        mut output: impl FnMut(&[u8]),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<u32> {
        let (marker, mut channel) = self.start_script(script).await?;
        let mut pending: Option<Vec<u8>> = Some(Vec::new());
        let mut status = None;
        tokio::pin!(stop);
        loop {
            let msg = tokio::select! {
                msg = channel.wait() => msg,
                () = &mut stop => { let _ = channel.close().await; return Ok(0) }
            };
            match msg {
                Some(ChannelMsg::Data { data }) => match pending.as_mut() {
                    // Drop everything up to the marker (shell start-up noise).
                    Some(buf) => {
                        buf.extend_from_slice(&data);
                        if let Some(rest) = after_marker(buf, &marker).map(<[u8]>::to_vec) {
                            pending = None;
                            output(&rest);
                        }
                    }
                    None => output(&data),
                },
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => {
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), &data);
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(_) => {}
                None => break,
            }
        }
        status.ok_or_else(|| err!(Other, "the remote command ended without an exit status"))
    }

    /// Say goodbye politely; errors here change nothing.
    pub async fn close(self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "", "en").await;
    }
}

/// What a framed script printed after its marker line (before it: shell start-up noise).
fn after_marker<'a>(stdout: &'a [u8], marker: &str) -> Option<&'a [u8]> {
    let line = format!("{marker}\n");
    find(stdout, line.as_bytes()).map(|at| &stdout[at + line.len()..])
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Wait for the answer to a `want_reply` request on a fresh channel.
async fn wait_for_reply(channel: &mut russh::Channel<client::Msg>) -> Result<(), russh::Error> {
    loop {
        match channel.wait().await {
            Some(ChannelMsg::Success) => return Ok(()),
            Some(ChannelMsg::Failure) => return Err(russh::Error::RequestDenied),
            Some(ChannelMsg::Close | ChannelMsg::Eof) | None => {
                return Err(russh::Error::ChannelOpenFailure(ChannelOpenFailure::ConnectFailed));
            }
            Some(_) => {}
        }
    }
}

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

/// TCP to the first hop, retried (bounded) with backoff while refused or timing out.
async fn tcp_connect(to: &Destination, timeout: Duration) -> Result<tokio::net::TcpStream> {
    let target = format!("{}:{}", to.host, to.port);
    let mut pause = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((to.host.as_str(), to.port))).await;
        let (error, retryable) = match result {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
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
            Err(_) => (format!("no answer within {timeout:?}"), true),
        };
        if !retryable || attempt >= 3 {
            let tries = if attempt > 1 {
                format!(" ({attempt} attempts)")
            } else {
                String::new()
            };
            return Err(err!(Connect, "cannot connect to {target}: {error}{tries}"));
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// The SSH handshake on `stream`, with `to`'s host key checked against known_hosts.
async fn handshake<S>(stream: S, to: &Destination, options: &ConnectOptions) -> Result<Handle<Client>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let problem = Arc::new(Mutex::new(None));
    let handler = Client {
        host: to.host.clone(),
        port: to.port,
        known_hosts: options.known_hosts.clone(),
        accept_new: options.accept_new_host_key,
        interactive: options.interactive,
        problem: problem.clone(),
    };
    let config = Arc::new(client::Config {
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 4,
        nodelay: true,
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(CIPHERS),
            ..Default::default()
        },
        ..Default::default()
    });
    let target = format!("{}:{}", to.host, to.port);
    match tokio::time::timeout(options.connect_timeout, client::connect_stream(config, stream, handler)).await {
        Ok(Ok(handle)) => Ok(handle),
        Ok(Err(e)) => {
            let problem = problem.lock().unwrap_or_else(|p| p.into_inner()).take();
            Err(problem.unwrap_or_else(|| err!(Connect, "SSH handshake with {target} failed: {e}")))
        }
        Err(_) => Err(err!(Connect, "SSH handshake with {target} timed out")),
    }
}

/// SPEC §6 step 1 auth order: ssh-agent, identity files (asking for passphrases at a
/// terminal), then password and keyboard-interactive. The error names what was tried.
async fn authenticate(handle: &mut Handle<Client>, to: &Destination, options: &ConnectOptions) -> Result<()> {
    let user = to.user.clone();
    let lost = |e: russh::Error| err!(Connect, "connection to {to} lost during authentication: {e}");
    let mut tried = Vec::new();

    match agent_auth(handle, &user).await {
        AgentOutcome::Accepted => return Ok(()),
        AgentOutcome::Refused(n) => tried.push(format!("ssh-agent ({n} key{})", if n == 1 { "" } else { "s" })),
        AgentOutcome::Unavailable(Some(why)) => tried.push(format!("ssh-agent ({why})")),
        AgentOutcome::Unavailable(None) => {}
    }

    for path in identity_files(options) {
        let shown = path.display().to_string();
        let key = match russh::keys::load_secret_key(&path, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) if options.interactive => {
                let prompt = format!("Enter passphrase for key '{shown}': ");
                match rpassword::prompt_password(prompt).map(|p| russh::keys::load_secret_key(&path, Some(&p))) {
                    Ok(Ok(key)) => key,
                    _ => {
                        tried.push(format!("{shown} (wrong passphrase)"));
                        continue;
                    }
                }
            }
            Err(russh::keys::Error::KeyIsEncrypted) => {
                tried.push(format!(
                    "{shown} (has a passphrase and there is no terminal to ask; load it into ssh-agent)"
                ));
                continue;
            }
            Err(e) => {
                tried.push(format!("{shown} (unreadable: {e})"));
                continue;
            }
        };
        let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        if handle
            .authenticate_publickey(user.clone(), key)
            .await
            .map_err(lost)?
            .success()
        {
            return Ok(());
        }
        tried.push(shown);
    }

    let password = match &options.password {
        Some(p) => Some(p.clone()),
        None if options.interactive => rpassword::prompt_password(format!("{to}'s password: "))
            .ok()
            .filter(|p| !p.is_empty()),
        None => None,
    };
    if let Some(password) = password {
        if handle
            .authenticate_password(user.clone(), password.clone())
            .await
            .map_err(lost)?
            .success()
        {
            return Ok(());
        }
        tried.push("password".into());
        if keyboard_interactive(handle, &user, &password).await.map_err(lost)? {
            return Ok(());
        }
        tried.push("keyboard-interactive".into());
    }
    if tried.is_empty() {
        return Err(err!(
            Auth,
            "cannot log in to {to}: nothing to offer; pass -i FILE, start ssh-agent, or use --password-stdin"
        ));
    }
    Err(err!(
        Auth,
        "cannot log in to {to}: nothing was accepted (tried {})",
        tried.join(", ")
    ))
}

/// Answer keyboard-interactive prompts with the password (hidden prompts) or nothing.
async fn keyboard_interactive(handle: &mut Handle<Client>, user: &str, password: &str) -> Result<bool, russh::Error> {
    use russh::client::KeyboardInteractiveAuthResponse as R;
    let mut response = handle.authenticate_keyboard_interactive_start(user, None).await?;
    for _ in 0..5 {
        match response {
            R::Success => return Ok(true),
            R::Failure { .. } => return Ok(false),
            R::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| if p.echo { String::new() } else { password.to_string() })
                    .collect();
                response = handle.authenticate_keyboard_interactive_respond(answers).await?;
            }
        }
    }
    Ok(false)
}

enum AgentOutcome {
    Accepted,
    /// The agent offered this many keys; none was accepted.
    Refused(usize),
    /// No agent (with why, when one was configured but failed).
    Unavailable(Option<String>),
}

#[cfg(unix)]
async fn agent_auth(handle: &mut Handle<Client>, user: &str) -> AgentOutcome {
    if std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return AgentOutcome::Unavailable(None);
    }
    match russh::keys::agent::client::AgentClient::connect_env().await {
        Ok(agent) => offer_agent_keys(handle, user, agent).await,
        Err(e) => AgentOutcome::Unavailable(Some(format!("cannot reach it: {e}"))),
    }
}

/// The Windows OpenSSH agent listens on a named pipe.
#[cfg(windows)]
async fn agent_auth(handle: &mut Handle<Client>, user: &str) -> AgentOutcome {
    match russh::keys::agent::client::AgentClient::connect_named_pipe(r"\\.\pipe\openssh-ssh-agent").await {
        Ok(agent) => offer_agent_keys(handle, user, agent).await,
        Err(_) => AgentOutcome::Unavailable(None),
    }
}

async fn offer_agent_keys<S>(
    handle: &mut Handle<Client>,
    user: &str,
    mut agent: russh::keys::agent::client::AgentClient<S>,
) -> AgentOutcome
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let identities = match agent.request_identities().await {
        Ok(ids) => ids,
        Err(e) => return AgentOutcome::Unavailable(Some(format!("cannot list its keys: {e}"))),
    };
    let mut offered = 0;
    for identity in identities {
        let russh::keys::agent::AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        offered += 1;
        let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
        if let Ok(result) = handle.authenticate_publickey_with(user, key, hash, &mut agent).await
            && result.success()
        {
            return AgentOutcome::Accepted;
        }
    }
    AgentOutcome::Refused(offered)
}

fn lost(e: russh::Error) -> crate::error::Error {
    err!(Connect, "SSH connection lost: {e}")
}

/// `-i` files first, then the defaults `ssh` tries.
fn identity_files(options: &ConnectOptions) -> Vec<PathBuf> {
    let mut files = options.identities.clone();
    if let Some(ssh) = std::env::home_dir().map(|h| h.join(".ssh")) {
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = ssh.join(name);
            if path.is_file() && !files.contains(&path) {
                files.push(path);
            }
        }
    }
    files
}

/// Random lowercase hex, `bytes` long in bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom only fails where the OS has no random source at all.
    getrandom::fill(&mut buf).unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        buf.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (t >> (i % 16 * 8)) as u8 ^ std::process::id() as u8);
    });
    hex::encode(buf)
}

/// Holds only what host key checking needs.
struct Client {
    host: String,
    port: u16,
    known_hosts: Vec<PathBuf>,
    accept_new: bool,
    interactive: bool,
    /// Why the key was refused, for the caller to report with exit code 5.
    problem: Arc<Mutex<Option<crate::error::Error>>>,
}

impl Client {
    fn files(&self) -> Vec<PathBuf> {
        if !self.known_hosts.is_empty() {
            return self.known_hosts.clone();
        }
        std::env::home_dir()
            .map(|h| vec![h.join(".ssh/known_hosts"), h.join(".ssh/known_hosts2")])
            .unwrap_or_default()
    }

    fn refuse(&self, error: crate::error::Error) -> bool {
        *self.problem.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        false
    }

    fn verify(&self, key: &PublicKey) -> bool {
        let files = self.files();
        let entry = known_hosts::host_entry(&self.host, self.port);
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let algorithm = key.algorithm();
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
                let record_to = files.first().cloned();
                let accepted = self.accept_new
                    || (self.interactive && ask_to_trust(&entry, algorithm.as_ref(), &fingerprint.to_string()));
                if !accepted {
                    return self.refuse(err!(
                        HostKey,
                        "the host key of {entry} is unknown ({algorithm} {fingerprint}); check it, then rerun with \
                         --accept-new-host-key to record it"
                    ));
                }
                match record_to.map(|path| known_hosts::record(&path, &self.host, self.port, key).map(|()| path)) {
                    Some(Ok(path)) => {
                        eprintln!("Recorded the host key of {entry} ({fingerprint}) in {}", path.display());
                        true
                    }
                    Some(Err(e)) => self.refuse(err!(HostKey, "cannot record the host key of {entry}: {e}")),
                    None => self.refuse(err!(
                        HostKey,
                        "no known_hosts file to record {entry} in; pass --known-hosts"
                    )),
                }
            }
        }
    }
}

/// Like `ssh`: show the fingerprint and ask, but only when a person is there to answer.
fn ask_to_trust(entry: &str, algorithm: &str, fingerprint: &str) -> bool {
    eprint!(
        "The authenticity of host '{entry}' can't be established.\n{algorithm} key fingerprint is {fingerprint}.\n\
         Are you sure you want to continue connecting (yes/no)? "
    );
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim().eq_ignore_ascii_case("yes")
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.verify(key),
            PublicKeyOrCertificate::Certificate(_) => self.refuse(err!(
                HostKey,
                "{} presented a host certificate; certificate host keys are not supported yet",
                self.host
            )),
        })
    }
}
