//! Commands on session channels, at the speed of the network: the command, its input
//! and the end of input go out together, without waiting for the exec's reply (a
//! refused exec is retried on a fresh channel), and independent channels open at once.
//!
//! Scripts are POSIX `sh`, carried in the exec command as `sh -c '…'` with every
//! character a login shell treats specially inside single quotes (sh, csh and fish
//! differ there) turned into a control byte that `tr` turns back ([`command_for`]): the
//! login shell (bash, fish, csh…) passes the text through untouched, and no round trip
//! is spent waiting for the channel's window to send the script on stdin (OpenSSH opens
//! session channels with none). Stdin carries only payloads. Only output between a
//! random start marker and the end line counts, so start-up noise from rc files is
//! ignored and a login shell that lingers after the script cannot hold the answer back.
//! What a host sends back is bounded.

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

/// The characters a login shell may treat specially inside single quotes (`'` ends
/// them, fish reads `\\`, csh `!` and newlines), and those the decoding itself needs
/// kept out of its double quotes (`$`, `` ` ``, `"`), each sent as this control byte.
const ENCODED: [(char, u8); 7] = [('\'', 1), ('\\', 2), ('\n', 3), ('!', 4), ('$', 5), ('`', 6), ('"', 7)];

/// `sh -c '…'` running `script`, as a command string every login shell passes to sh
/// unchanged (see the module docs). Scripts never hold the control bytes 1–7 themselves.
pub fn command_for(script: &str) -> String {
    let mut encoded = String::with_capacity(script.len());
    for c in script.chars() {
        match ENCODED.iter().find(|(from, _)| *from == c) {
            Some((_, byte)) => encoded.push(char::from(*byte)),
            None => encoded.push(c),
        }
    }
    format!(
        "sh -c 'eval \"$(printf %s \"{encoded}\" | tr \"\\001\\002\\003\\004\\005\\006\\007\" \"\\047\\134\\012\\041\\044\\140\\042\")\"'"
    )
}

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

/// What goes to a command's stdin: a payload (or nothing), counted as it goes.
#[derive(Clone, Default)]
struct Input {
    body: Option<bytes::Bytes>,
    progress: Option<Progress>,
}

/// How an upload's bytes are counted as they go: into `sent`, shared by the channels of
/// one upload, where this channel's body counts as `counts_as` bytes (a compressed part
/// as the bytes of the binary it holds), added in step with what went.
#[derive(Clone)]
pub struct Progress {
    pub sent: Arc<AtomicU64>,
    pub counts_as: u64,
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

/// How long a command's channel may stay open after its end marker before it is closed
/// from here (something it left behind can hold its output open).
const LINGER: Duration = Duration::from_millis(300);

impl Started {
    /// Let the server close the channel first: its command's exit and the close follow
    /// the end marker at once. Closing it from here while the last bytes are on their
    /// way crashes Dropbear (2022.83: "Failed assertion `!channel->sent_close`"), which
    /// ends the whole connection. Bounded by [`LINGER`].
    async fn server_closes(&mut self) {
        let _ = tokio::time::timeout(LINGER, async {
            while let Some(msg) = self.next().await {
                if matches!(msg, ChannelMsg::Close) {
                    break;
                }
            }
        })
        .await;
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

/// The lines of a framed script's output, handed over as they come (for streaming
/// events), and what is collected. Searched incrementally: each byte is looked at a
/// bounded number of times, however the host splits its output. Noise before the start
/// marker (a login script's) is counted and thrown away.
struct Framed {
    marker: String,
    /// Before the start marker, only a tail that may hold the start of a split marker;
    /// after it, the body.
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<u32>,
    started: bool,
    /// Bytes of noise thrown away before the start marker.
    noise: usize,
    /// Where the search for the end line resumes in the body.
    end_from: usize,
    /// Where the end line starts in the body, once it came.
    end_at: Option<usize>,
}

impl Framed {
    fn new(marker: String) -> Framed {
        Framed {
            marker,
            stdout: Vec::new(),
            stderr: Vec::new(),
            status: None,
            started: false,
            noise: 0,
            end_from: 0,
            end_at: None,
        }
    }

    fn start(&self) -> String {
        format!("{}\n", self.marker)
    }

    /// The end line begins with a byte no text output holds (RS, 0x1e), not with a
    /// newline: so a streamed line's own newline is never held back as a possible start
    /// of the end (a followed log passes each line on whole, `| grep` sees it at once).
    fn end(&self) -> String {
        format!("\u{1e}{} end ", self.marker)
    }

    /// Take one message; an error when the host sends too much.
    fn take(&mut self, msg: ChannelMsg, host: &str) -> Result<()> {
        let too_much = || {
            err!(
                Other,
                "{host} sent more than {} MiB in answer to one command; is a login script (.bashrc, \
                 config.fish...) printing without end?",
                MAX_OUTPUT >> 20
            )
        };
        let data = match msg {
            ChannelMsg::Data { data } => data,
            ChannelMsg::ExtendedData { data, ext: 1 } => {
                if self.stderr.len() + data.len() > MAX_OUTPUT {
                    return Err(too_much());
                }
                self.stderr.extend_from_slice(&data);
                return Ok(());
            }
            ChannelMsg::ExitStatus { exit_status } => {
                self.status = Some(exit_status);
                return Ok(());
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                return Err(err!(Other, "remote command killed by signal {signal_name:?}"));
            }
            _ => return Ok(()),
        };
        if self.stdout.len() + data.len() > MAX_OUTPUT || self.noise > MAX_OUTPUT {
            return Err(too_much());
        }
        self.stdout.extend_from_slice(&data);
        if !self.started {
            let start = self.start();
            match find(&self.stdout, start.as_bytes()) {
                Some(at) => {
                    self.noise += at;
                    self.stdout.drain(..at + start.len());
                    self.started = true;
                }
                None => {
                    let drop = self.stdout.len().saturating_sub(start.len());
                    self.noise += drop;
                    self.stdout.drain(..drop);
                    return Ok(());
                }
            }
        }
        if self.end_at.is_none() {
            let end = self.end();
            let from = self.end_from.saturating_sub(end.len());
            self.end_at = find(&self.stdout[from..], end.as_bytes()).map(|at| from + at);
            self.end_from = self.stdout.len();
        }
        Ok(())
    }

    /// The output after the start marker, if it has come.
    fn body(&self) -> Option<&[u8]> {
        self.started.then_some(&self.stdout[..])
    }

    /// The script's own output: the body up to the end line.
    fn output(&self) -> &[u8] {
        let body = self.body().unwrap_or_default();
        &body[..self.end_at.unwrap_or(body.len())]
    }

    /// The script's status, once its end line has come.
    fn end_status(&self) -> Option<u32> {
        let rest = &self.stdout[self.end_at? + self.end().len()..];
        let line = &rest[..find(rest, b"\n")?];
        std::str::from_utf8(line).ok()?.trim().parse().ok()
    }
}

/// Wrap `script` so that its output is framed and its `exit` ends only itself. Its
/// stdin is the payload, or nothing.
fn frame(marker: &str, script: &str, payload: bool) -> String {
    let stdin = if payload { "" } else { " </dev/null" };
    format!(
        "mlcremote_main() {{\n{script}\n}}\nprintf '%s\\n' '{marker}'\n(mlcremote_main){stdin}\n\
         mlcr_status=$?\nprintf '\\036%s end %s\\n' '{marker}' \"$mlcr_status\"\nexit \"$mlcr_status\"\n"
    )
}

impl Session {
    /// Whether this server's channels take little data in flight (Dropbear's 24 KiB
    /// window, as seen on a command that ran): then an upload goes over several at once.
    pub fn small_window(&self) -> bool {
        let seen = self.windows.load(std::sync::atomic::Ordering::Relaxed);
        seen != 0 && seen < 32 * 1024
    }

    /// About one round trip to the host: the quickest answer seen to a channel open or
    /// an exec (`None` before the first).
    pub fn round_trip(&self) -> Option<std::time::Duration> {
        let micros = self.round_trip.load(std::sync::atomic::Ordering::Relaxed);
        (micros != u64::MAX).then(|| std::time::Duration::from_micros(micros))
    }

    /// An answer came to what was asked at `asked`: a round trip at most.
    fn answered(&self, asked: Instant) {
        let took = u64::try_from(asked.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        self.round_trip.fetch_min(took, std::sync::atomic::Ordering::Relaxed);
    }

    /// Open `n` session channels at once: one round trip for all of them.
    pub async fn open_channels(&self, n: usize) -> Result<Vec<Channel>> {
        // The first answer times the round trip; the last also waits for the server to
        // handle every open before it.
        let started = Instant::now();
        let opened = futures_util::future::join_all((0..n).map(|_| async {
            let channel = self.handle.channel_open_session().await;
            self.answered(started);
            channel
        }))
        .await;
        opened
            .into_iter()
            .map(|c| c.map_err(|e| self.or_lost(err!(Connect, "cannot open a channel to {}: {e}", self.destination))))
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
        let command = command_for(&frame(&marker, script, false));
        let started = Instant::now();
        let output = match self.start(channel, &command, &Input::default()).await {
            Ok(running) => self.collect(running, Framed::new(marker), timeout, on_line).await,
            Err(e) => Err(e),
        };
        let output = output.map_err(|e| self.or_lost(e));
        self.report(script, &output, started);
        output
    }

    /// Run a script that reads `payload` from its stdin, on `channel`; lines of output
    /// go to `on_line` as they come.
    pub async fn run_with_payload(
        &self,
        channel: Option<Channel>,
        script: &str,
        payload: bytes::Bytes,
        progress: Progress,
        timeout: Duration,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Output> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        let command = command_for(&frame(&marker, script, true));
        let input = Input {
            body: Some(payload),
            progress: Some(progress),
        };
        let started = Instant::now();
        let output = match self.start(channel, &command, &input).await {
            Ok(running) => self.collect(running, Framed::new(marker), timeout, on_line).await,
            Err(e) => Err(e),
        };
        let output = output.map_err(|e| self.or_lost(e));
        self.report(script, &output, started);
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
    /// once (the input as soon as the channel's window lets it). If the server refuses
    /// the exec, try again on a fresh channel (bounded).
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
            let asked = Instant::now();
            if let Err(e) = write.exec(true, command).await {
                last = Some(e.to_string());
                continue;
            }
            let write = Arc::new(write);
            let sender = tokio::spawn(send_input(write.clone(), input.clone()));
            let mut early = Vec::new();
            let replied = loop {
                match tokio::time::timeout(self.connect_timeout, read.wait()).await {
                    Ok(Some(ChannelMsg::Success)) => {
                        // The server answers an exec once it started the command: about
                        // a round trip (a channel's first open also waits for the
                        // server's session set-up: OpenSSH's takes ~45 ms on loopback).
                        self.answered(asked);
                        break Ok(());
                    }
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
            // Checked by the clock, not only when the host falls silent: a host that
            // never stops sending must not hold the step past its bound either.
            let next = if tokio::time::Instant::now() < deadline {
                tokio::time::timeout_at(deadline, running.next()).await.ok()
            } else {
                None
            };
            let msg = match next {
                Some(Some(msg)) => msg,
                Some(None) => break None,
                None if started => {
                    return Err(err!(
                        Connect,
                        "{host} did not finish a command within {}; is the host overloaded?",
                        super::shown(timeout)
                    ));
                }
                None => {
                    return Err(err!(
                        Connect,
                        "{host} did not start a command within {}; does a login script (.bashrc, \
                         config.fish...) wait for something, or print without end?",
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
            if framed.body().is_some() {
                let output = framed.output();
                while let Some(nl) = output[handed..].iter().position(|b| *b == b'\n') {
                    on_line(&String::from_utf8_lossy(&output[handed..handed + nl]));
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
                running.server_closes().await;
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
        if framed.body().is_none() {
            return Err(
                err!(Other, "the remote shell did not run the script (no output marker)").with_detail(format!(
                    "stdout ({} bytes before this): {}\nstderr: {}",
                    framed.noise,
                    String::from_utf8_lossy(&framed.stdout),
                    String::from_utf8_lossy(&framed.stderr)
                )),
            );
        }
        let Some(status) = status.or(framed.status) else {
            return Err(err!(Other, "the remote script ended without an exit status"));
        };
        Ok(Output {
            stdout: String::from_utf8_lossy(framed.output()).into_owned(),
            stderr: String::from_utf8_lossy(&framed.stderr).into_owned(),
            status,
        })
    }

    /// Run a script that prints a line starting with `ready` and then keeps running for
    /// as long as its channel is open (a lock holder). Returns the holder, or the
    /// script's output if it ended without getting there.
    pub async fn hold(&self, script: &str, ready: &str) -> Result<Hold> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        let command = command_for(&frame(&marker, script, false));
        let mut running = self
            .start(None, &command, &Input::default())
            .await
            .map_err(|e| self.or_lost(e))?;
        let mut framed = Framed::new(marker);
        let host = self.destination.to_string();
        let ready = ready.as_bytes();
        let wait = async {
            loop {
                match running.next().await {
                    Some(msg) => {
                        framed.take(msg, &host)?;
                        if framed.body().is_some_and(|b| has_line_starting(b, ready)) {
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
        let ready_seen = tokio::time::timeout(self.step_timeout, wait)
            .await
            .map_err(|_| {
                err!(
                    Connect,
                    "{host} did not answer within {}",
                    super::shown(self.step_timeout)
                )
            })
            .and_then(|r| r)
            .map_err(|e| self.or_lost(e))?;
        if !ready_seen && let Some(lost) = self.lost() {
            return Err(lost);
        }
        let output = String::from_utf8_lossy(framed.output()).into_owned();
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
        let command = command_for(&frame(&marker, script, false));
        let mut running = self
            .start(None, &command, &Input::default())
            .await
            .map_err(|e| self.or_lost(e))?;
        let framed = Framed::new(marker);
        let (start, end) = (framed.start(), framed.end());
        let mut pending: Vec<u8> = Vec::new();
        let mut past_start = false;
        let mut noise = 0usize;
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
                            None => {
                                // Keep only what may be the start of a split marker.
                                let drop = pending.len().saturating_sub(start.len());
                                pending.drain(..drop);
                                noise += drop;
                                if noise > MAX_OUTPUT {
                                    return Err(err!(
                                        Other,
                                        "the remote shell printed more than {} MiB before running the command; \
                                         is a login script printing without end?",
                                        MAX_OUTPUT >> 20
                                    ));
                                }
                                continue;
                            }
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
                    // Keep back only what could be the start of the end line (at most a
                    // newline and part of the marker), so a followed log shows each line
                    // as it comes.
                    let keep = held_back(&pending, end.as_bytes());
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
        Err(self.or_lost(err!(Other, "the remote command ended without an exit status")))
    }
}

/// How many bytes at the end of `pending` could begin `end`: the longest suffix of one
/// that is a prefix of the other.
fn held_back(pending: &[u8], end: &[u8]) -> usize {
    (1..=end.len().min(pending.len()))
        .rev()
        .find(|&n| end.starts_with(&pending[pending.len() - n..]))
        .unwrap_or(0)
}

/// Send `input` on `write`, then the end of input; bytes are counted as they go.
async fn send_input(write: Arc<ChannelWriteHalf<Msg>>, input: Input) -> Result<(), russh::Error> {
    if let Some(body) = &input.body {
        let (mut went, mut counted) = (0u64, 0u64);
        for chunk in body.chunks(64 * 1024) {
            write.data(chunk).await?;
            went += chunk.len() as u64;
            if let Some(progress) = &input.progress {
                let now = (u128::from(progress.counts_as) * u128::from(went) / body.len() as u128) as u64;
                progress.sent.fetch_add(now - counted, Ordering::Relaxed);
                counted = now;
            }
        }
    }
    write.eof().await
}

/// Whether a whole line (one that has ended) of `text` starts with `prefix`.
fn has_line_starting(text: &[u8], prefix: &[u8]) -> bool {
    let whole = text
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(&[][..], |end| &text[..end]);
    whole.split(|b| *b == b'\n').any(|line| line.starts_with(prefix))
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A streamed line is held back only while it could be the end marker's start; a
    /// whole line, newline and all, never is.
    #[test]
    fn only_a_possible_start_of_the_end_line_is_held_back() {
        let end = Framed::new("mlcremote-abc".into()).end();
        let end = end.as_bytes();
        assert_eq!(held_back(b"a line written while followed", end), 0);
        assert_eq!(held_back(b"a line\n", end), 0);
        assert_eq!(held_back(b"a line\n\x1emlcre", end), 6);
        assert_eq!(
            held_back(b"mlcremote-abc", end),
            0,
            "no separator before it: not the end line"
        );
        assert_eq!(held_back(b"", end), 0);
    }

    /// Each login shell deploy may meet passes the command to sh unchanged, whatever
    /// the script holds.
    #[test]
    fn every_login_shell_runs_the_script_as_sh_would() {
        let script = "x='it'\\''s \"quoted\" \\\\ back $HOME `echo tick` !bang'\nprintf '%s\\n' \"$x\"\n\
                      printf 'tab\\there %s\\n' \"$(echo sub)\"\necho \"non-ascii: é\"";
        let want = "it's \"quoted\" \\\\ back $HOME `echo tick` !bang\ntab\there sub\nnon-ascii: é\n";
        let command = command_for(script);
        for (shell, package) in [
            ("/bin/sh", "dash"),
            ("/bin/bash", "bash"),
            ("/usr/bin/zsh", "zsh"),
            ("/usr/bin/fish", "fish"),
            ("/usr/bin/tcsh", "tcsh"),
        ] {
            assert!(
                std::path::Path::new(shell).exists(),
                "{shell} is missing: apt-get install {package}"
            );
            let out = std::process::Command::new(shell)
                .arg("-c")
                .arg(&command)
                .env("HOME", "/nowhere")
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{shell}: {out:?}");
        }
        // BusyBox (Alpine's sh, tr and printf).
        let busybox = harness::require("busybox", "busybox").unwrap();
        let dir = tempfile::tempdir().unwrap();
        for tool in ["sh", "tr", "printf"] {
            std::os::unix::fs::symlink(&busybox, dir.path().join(tool)).unwrap();
        }
        let out = std::process::Command::new(dir.path().join("sh"))
            .arg("-c")
            .arg(&command)
            .env("PATH", dir.path())
            .env("HOME", "/nowhere")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "busybox: {out:?}");
    }
}
