//! Commands on session channels, at the speed of the network: the command, its input
//! and the end of input go out together, without waiting for the exec's reply (a
//! refused exec is retried on a fresh channel), and independent channels open at once.
//!
//! Scripts are POSIX `sh` on stdin (`sh -s`), so the login shell (bash, fish, csh…)
//! never parses them; only output between a random start marker and the end line
//! counts, so start-up noise from rc files is ignored and a login shell that lingers
//! after the script cannot hold the answer back. What a host sends back is bounded.
//!
//! A script followed by a payload cannot go to `sh -s`: dash reads stdin ahead and the
//! payload would be lost. Those run as [`BOOTSTRAP`]: `read` takes exactly one line
//! (the script), and the payload that follows stays on stdin for the script.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, client::Msg};

use super::Session;
use crate::{delegate::Event, err, error::Result};

/// A session channel, opened and not yet used.
pub type Channel = russh::Channel<Msg>;

/// The most a script's stdout or stderr may bring back; a host sending more (a login
/// script printing endlessly, say) fails the step instead of filling memory.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// The command that runs a one-line script read from stdin, leaving the rest of stdin
/// to it. Only characters every login shell passes through unchanged (no `\`, `!`,
/// `$` outside single quotes), so fish, csh and tcsh run it as sh does.
pub const BOOTSTRAP: &str = "sh -c 'IFS= read -r l; eval \"$l\"'";

/// What a remote script printed between its markers, and how it ended.
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

/// How a script meant to hold a lock ended (see [`Session::hold`]).
pub enum Hold {
    Held(Held),
    /// The script ended before its ready line.
    Ended(Output),
}

/// Which output of a remote command bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What goes to a command's stdin.
#[derive(Clone)]
pub struct Input {
    /// Sent first (a script, a script line).
    pub head: Arc<[u8]>,
    /// Sent after it (a payload), counted for progress.
    pub body: Arc<[u8]>,
    /// Bytes of bodies sent so far, shared by the channels of one upload.
    pub sent: Option<Arc<AtomicU64>>,
}

impl Input {
    fn script(text: String) -> Input {
        Input {
            head: Arc::from(text.into_bytes()),
            body: Arc::from(Vec::new()),
            sent: None,
        }
    }
}

/// A command started on a channel: read its output with [`Started::next`].
pub struct Started {
    /// Output that came before the exec's reply was read, then the rest.
    early: std::collections::VecDeque<ChannelMsg>,
    read: ChannelReadHalf,
    write: Arc<ChannelWriteHalf<Msg>>,
    sender: tokio::task::JoinHandle<Result<(), russh::Error>>,
}

impl Started {
    async fn next(&mut self) -> Option<ChannelMsg> {
        match self.early.pop_front() {
            Some(msg) => Some(msg),
            None => self.read.wait().await,
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

/// The lines of a framed script's output, handed over as they come (for streaming
/// events), and what is collected.
struct Framed {
    marker: String,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<u32>,
}

impl Framed {
    fn new(marker: String) -> Framed {
        Framed {
            marker,
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: None,
        }
    }

    fn start(&self) -> String {
        format!("{}\n", self.marker)
    }

    fn end(&self) -> String {
        format!("\n{} end ", self.marker)
    }

    /// Take one message; an error when the host sends too much.
    fn take(&mut self, msg: ChannelMsg, host: &str) -> Result<()> {
        let (buf, data) = match msg {
            ChannelMsg::Data { data } => (&mut self.stdout, data),
            ChannelMsg::ExtendedData { data, ext: 1 } => (&mut self.stderr, data),
            ChannelMsg::ExitStatus { exit_status } => {
                self.status = Some(exit_status);
                return Ok(());
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                return Err(err!(Other, "remote command killed by signal {signal_name:?}"));
            }
            _ => return Ok(()),
        };
        if buf.len() + data.len() > MAX_OUTPUT {
            return Err(err!(
                Other,
                "{host} sent more than {} MiB in answer to one command; is a login script (.bashrc, \
                 config.fish...) printing without end?",
                MAX_OUTPUT >> 20
            ));
        }
        buf.extend_from_slice(&data);
        Ok(())
    }

    /// The output after the start marker, if it has come.
    fn body(&self) -> Option<&[u8]> {
        let start = self.start();
        find(&self.stdout, start.as_bytes()).map(|at| &self.stdout[at + start.len()..])
    }

    /// The script's status, once its end line has come.
    fn end_status(&self) -> Option<u32> {
        let body = self.body()?;
        let end = self.end();
        let rest = &body[find(body, end.as_bytes())? + end.len()..];
        let line = &rest[..find(rest, b"\n")?];
        std::str::from_utf8(line).ok()?.trim().parse().ok()
    }
}

/// Wrap `script` so that its output is framed and its `exit` ends only itself.
fn frame(marker: &str, script: &str) -> String {
    format!(
        "mlcremote_main() {{\n{script}\n}}\nprintf '%s\\n' '{marker}'\n(mlcremote_main) </dev/null\n\
         mlcr_status=$?\nprintf '\\n%s end %s\\n' '{marker}' \"$mlcr_status\"\nexit \"$mlcr_status\"\n"
    )
}

/// The same for a one-line script run by [`BOOTSTRAP`] (its stdin stays its own).
fn frame_line(marker: &str, line: &str) -> String {
    format!(
        "printf '%s\\n' '{marker}'; ({line}); mlcr_status=$?; printf '\\n%s end %s\\n' '{marker}' \"$mlcr_status\"; \
         exit \"$mlcr_status\"\n"
    )
}

impl Session {
    /// Whether this server's channels take little data in flight (Dropbear's 24 KiB
    /// window, as seen on a command that ran): then an upload goes over several at once.
    pub fn small_window(&self) -> bool {
        let seen = self.windows.load(std::sync::atomic::Ordering::Relaxed);
        seen != 0 && seen < 32 * 1024
    }

    /// Open `n` session channels at once: one round trip for all of them.
    pub async fn open_channels(&self, n: usize) -> Result<Vec<Channel>> {
        let opened = futures_util::future::join_all((0..n).map(|_| self.handle.channel_open_session())).await;
        opened
            .into_iter()
            .map(|c| c.map_err(|e| err!(Connect, "cannot open a channel to {}: {e}", self.destination)))
            .collect()
    }

    /// Run a POSIX `sh` script on the host (see the module docs), bounded by the
    /// session's step timeout.
    pub async fn run(&self, script: &str) -> Result<Output> {
        self.run_for(script, self.step_timeout).await
    }

    /// [`Session::run`] for a script that may take up to `timeout` (a build, a wait).
    pub async fn run_for(&self, script: &str, timeout: Duration) -> Result<Output> {
        self.run_on(None, script, timeout, &mut |_| {}).await
    }

    /// [`Session::run`] on an already opened channel, handing each line of output to
    /// `on_line` as it comes.
    pub async fn run_on(
        &self,
        channel: Option<Channel>,
        script: &str,
        timeout: Duration,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Output> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        let input = Input::script(frame(&marker, script));
        let started = Instant::now();
        let output = match self.start(channel, "sh -s", &input).await {
            Ok(running) => self.collect(running, Framed::new(marker), timeout, on_line).await,
            Err(e) => Err(e),
        };
        self.report(script, &output, started);
        output
    }

    /// Run a one-line script that reads `payload` from its stdin (through
    /// [`BOOTSTRAP`]), on `channel`; lines of output go to `on_line` as they come.
    pub async fn run_with_payload(
        &self,
        channel: Option<Channel>,
        line: &str,
        payload: Arc<[u8]>,
        sent: Arc<AtomicU64>,
        timeout: Duration,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Output> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        let input = Input {
            head: Arc::from(frame_line(&marker, line).into_bytes()),
            body: payload,
            sent: Some(sent),
        };
        let started = Instant::now();
        let output = match self.start(channel, BOOTSTRAP, &input).await {
            Ok(running) => self.collect(running, Framed::new(marker), timeout, on_line).await,
            Err(e) => Err(e),
        };
        self.report(line, &output, started);
        output
    }

    fn report(&self, script: &str, output: &Result<Output>, started: Instant) {
        let outcome = match output {
            Ok(out) => format!("exit {}", out.status),
            Err(e) => format!("failed: {e}"),
        };
        self.reporter.event(Event::Remote {
            script: script.trim_end().to_string(),
            outcome,
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }

    /// Start `command` with `input`: the exec request, the input and its end go out at
    /// once. If the server refuses the exec, try again on a fresh channel (bounded).
    async fn start(&self, channel: Option<Channel>, command: &str, input: &Input) -> Result<Started> {
        let mut channel = channel;
        let mut last = None;
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let fresh = match channel.take() {
                Some(c) => Ok(c),
                None => self.handle.channel_open_session().await,
            };
            let (mut read, write) = match fresh {
                Ok(c) => c.split(),
                Err(e) => {
                    last = Some(e.to_string());
                    if self.handle.is_closed() {
                        break;
                    }
                    continue;
                }
            };
            if let Err(e) = write.exec(true, command).await {
                last = Some(e.to_string());
                continue;
            }
            let write = Arc::new(write);
            let sender = tokio::spawn(send_input(write.clone(), input.clone()));
            let mut early = Vec::new();
            let replied = loop {
                match tokio::time::timeout(self.connect_timeout, read.wait()).await {
                    Ok(Some(ChannelMsg::Success)) => break Ok(()),
                    Ok(Some(ChannelMsg::Failure)) => break Err("the server refused to run the command".to_string()),
                    Ok(Some(ChannelMsg::Close | ChannelMsg::Eof)) | Ok(None) => {
                        break Err("the server closed the channel".to_string());
                    }
                    // Output may come before the reply is read: keep it.
                    Ok(Some(other)) => early.push(other),
                    Err(_) => break Err(format!("no answer within {}", super::shown(self.connect_timeout))),
                }
            };
            match replied {
                Ok(()) => {
                    return Ok(Started {
                        early: early.into(),
                        read,
                        write,
                        sender,
                    });
                }
                Err(why) => {
                    sender.abort();
                    let _ = write.close().await;
                    last = Some(why);
                    if self.handle.is_closed() {
                        break;
                    }
                }
            }
        }
        Err(err!(
            Connect,
            "cannot run a command on {}: {}",
            self.destination,
            last.unwrap_or_default()
        ))
    }

    /// Read a framed command's output until its end line (or the channel closes),
    /// bounded: the login shell's start-up by the connect timeout, the script by
    /// `timeout`.
    async fn collect(
        &self,
        mut running: Started,
        mut framed: Framed,
        timeout: Duration,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Output> {
        let host = self.destination.to_string();
        let mut deadline = tokio::time::Instant::now() + self.connect_timeout;
        let mut started = false;
        let mut handed = 0;
        let status = loop {
            let msg = match tokio::time::timeout_at(deadline, running.next()).await {
                Ok(Some(msg)) => msg,
                Ok(None) => break None,
                Err(_) if started => {
                    return Err(err!(
                        Connect,
                        "{host} did not finish a command within {}; is the host overloaded?",
                        super::shown(timeout)
                    ));
                }
                Err(_) => {
                    return Err(err!(
                        Connect,
                        "{host} did not start a command within {}; does a login script (.bashrc, \
                         config.fish...) wait for something?",
                        super::shown(self.connect_timeout)
                    ));
                }
            };
            framed.take(msg, &host)?;
            if !started && framed.body().is_some() {
                started = true;
                deadline = tokio::time::Instant::now() + timeout;
            }
            // Whole lines, as they come.
            if let Some(body) = framed.body() {
                let end = framed.end();
                let upto = find(body, end.as_bytes()).unwrap_or(body.len());
                while let Some(nl) = body[handed..upto].iter().position(|b| *b == b'\n') {
                    on_line(&String::from_utf8_lossy(&body[handed..handed + nl]));
                    handed += nl + 1;
                }
            }
            if let Some(status) = framed.end_status() {
                // How much a channel here may have in flight (seen once a command ran).
                let window = running.write.writable_packet_size().await;
                self.windows.store(
                    window.min(u32::MAX as usize) as u32,
                    std::sync::atomic::Ordering::Relaxed,
                );
                let _ = running.write.close().await;
                break Some(status);
            }
        };
        if status.is_none()
            && running.sender.is_finished()
            && let Ok(Err(e)) = (&mut running.sender).await
        {
            return Err(err!(Connect, "sending to {host} failed: {e}"));
        }
        let Some(body) = framed.body() else {
            return Err(
                err!(Other, "the remote shell did not run the script (no output marker)").with_detail(format!(
                    "stdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&framed.stdout),
                    String::from_utf8_lossy(&framed.stderr)
                )),
            );
        };
        let Some(status) = status.or(framed.status) else {
            return Err(err!(Other, "the remote script ended without an exit status"));
        };
        let end = framed.end();
        let body = find(body, end.as_bytes()).map_or(body, |at| &body[..at]);
        Ok(Output {
            stdout: String::from_utf8_lossy(body).into_owned(),
            stderr: String::from_utf8_lossy(&framed.stderr).into_owned(),
            status,
        })
    }

    /// Run a script that prints `ready_line` and then keeps running for as long as its
    /// channel is open (a lock holder). Returns the holder, or the script's output if it
    /// ended without getting there.
    pub async fn hold(&self, script: &str, ready_line: &str) -> Result<Hold> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        let input = Input::script(frame(&marker, script));
        let mut running = self.start(None, "sh -s", &input).await?;
        let mut framed = Framed::new(marker);
        let host = self.destination.to_string();
        let ready = format!("{ready_line}\n");
        let wait = async {
            loop {
                match running.next().await {
                    Some(msg) => {
                        framed.take(msg, &host)?;
                        if framed.body().is_some_and(|b| find(b, ready.as_bytes()).is_some()) {
                            return Ok(true);
                        }
                        if framed.end_status().is_some() {
                            return Ok(false);
                        }
                    }
                    None => return Ok::<bool, crate::error::Error>(false),
                }
            }
        };
        let ready_seen = tokio::time::timeout(self.step_timeout, wait).await.map_err(|_| {
            err!(
                Connect,
                "{host} did not answer within {}",
                super::shown(self.step_timeout)
            )
        })??;
        let body = framed.body().unwrap_or_default();
        let end = framed.end();
        let upto = find(body, end.as_bytes()).unwrap_or(body.len());
        let output = String::from_utf8_lossy(&body[..upto]).into_owned();
        if !ready_seen {
            return Ok(Hold::Ended(Output {
                stdout: output,
                stderr: String::from_utf8_lossy(&framed.stderr).into_owned(),
                status: framed.end_status().or(framed.status).unwrap_or(255),
            }));
        }
        // Keep reading, or the connection's channel buffer would fill and stall it.
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut stopped => {
                        let _ = running.write.close().await;
                        break;
                    }
                    msg = running.next() => if msg.is_none() { break },
                }
            }
        });
        Ok(Hold::Held(Held {
            output,
            stop: Some(stop),
            task,
        }))
    }

    /// Like [`Session::run`], but hands stdout and stderr to `output` as they arrive
    /// (for `logs --follow`). Ends when the script ends, or when `stop` resolves.
    pub async fn run_streaming(
        &self,
        script: &str,
        mut output: impl FnMut(Stream, &[u8]),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<u32> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        let input = Input::script(frame(&marker, script));
        let mut running = self.start(None, "sh -s", &input).await?;
        let framed = Framed::new(marker);
        let (start, end) = (framed.start(), framed.end());
        let mut pending: Vec<u8> = Vec::new();
        let mut past_start = false;
        tokio::pin!(stop);
        loop {
            let msg = tokio::select! {
                msg = running.next() => msg,
                () = &mut stop => { let _ = running.write.close().await; return Ok(0) }
            };
            match msg {
                Some(ChannelMsg::Data { data }) => {
                    pending.extend_from_slice(&data);
                    if !past_start {
                        // Drop everything up to the marker (shell start-up noise), bounded.
                        match find(&pending, start.as_bytes()) {
                            Some(at) => {
                                pending.drain(..at + start.len());
                                past_start = true;
                            }
                            None if pending.len() > MAX_OUTPUT => {
                                return Err(err!(
                                    Other,
                                    "the remote shell printed too much before running the command"
                                ));
                            }
                            None => continue,
                        }
                    }
                    if let Some(at) = find(&pending, end.as_bytes()) {
                        output(Stream::Stdout, &pending[..at]);
                        let rest = &pending[at + end.len()..];
                        let status = std::str::from_utf8(rest)
                            .ok()
                            .and_then(|r| r.split_whitespace().next()?.parse().ok())
                            .unwrap_or(0);
                        let _ = running.write.close().await;
                        return Ok(status);
                    }
                    // Keep back what could be the start of the end line.
                    let keep = end.len().min(pending.len());
                    let flush = pending.len() - keep;
                    if flush > 0 {
                        output(Stream::Stdout, &pending[..flush]);
                        pending.drain(..flush);
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => output(Stream::Stderr, &data),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    output(Stream::Stdout, &pending);
                    return Ok(exit_status);
                }
                Some(_) => {}
                None => break,
            }
        }
        Err(err!(Other, "the remote command ended without an exit status"))
    }
}

/// Send `input` on `write`, then the end of input; bytes of the body are counted.
async fn send_input(write: Arc<ChannelWriteHalf<Msg>>, input: Input) -> Result<(), russh::Error> {
    if !input.head.is_empty() {
        write.data(&input.head[..]).await?;
    }
    for chunk in input.body.chunks(64 * 1024) {
        write.data(chunk).await?;
        if let Some(sent) = &input.sent {
            sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    }
    write.eof().await
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}
