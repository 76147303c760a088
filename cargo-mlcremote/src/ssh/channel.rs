//! Remote scripts on session channels: a POSIX `sh` script goes on stdin to `sh -s`, so
//! the login shell (bash, fish, csh…) never parses it, and only output after a random
//! start marker counts, so start-up noise from rc files is ignored. What a host sends
//! back is bounded.

use std::time::{Duration, Instant};

use russh::{ChannelMsg, ChannelOpenFailure, client};

use super::Session;
use crate::{delegate::Event, err, error::Result};

/// The most a script's stdout or stderr may bring back; a host sending more (a login
/// script printing endlessly, say) fails the step instead of filling memory.
pub const MAX_OUTPUT: usize = 16 * 1024 * 1024;

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

/// How a script that did not end well ended (see [`Session::hold`]).
pub enum Hold {
    Held(Held),
    /// The script ended before its ready line.
    Ended(Output),
}

/// stdout and stderr of a script being read, bounded by [`MAX_OUTPUT`].
#[derive(Default)]
struct Collected {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<u32>,
}

impl Collected {
    fn take(&mut self, msg: ChannelMsg, host: &str) -> Result<()> {
        let (buf, data) = match msg {
            ChannelMsg::Data { data } => (&mut self.stdout, data),
            ChannelMsg::ExtendedData { data, ext: 1 } => (&mut self.stderr, data),
            ChannelMsg::ExitStatus { exit_status } => {
                self.status = Some(exit_status);
                return Ok(());
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                return Err(err!(Other, "remote script killed by signal {signal_name:?}"));
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
}

impl Session {
    /// Run a POSIX `sh` script on the host (see the module docs), bounded by the
    /// session's step timeout.
    pub async fn run(&self, script: &str) -> Result<Output> {
        self.run_for(script, self.step_timeout).await
    }

    /// [`Session::run`] for a script that may take up to `timeout` (a build, a wait).
    pub async fn run_for(&self, script: &str, timeout: Duration) -> Result<Output> {
        let started = Instant::now();
        let output = self.run_quietly(script, timeout).await;
        let outcome = match &output {
            Ok(out) => format!("exit {}", out.status),
            Err(e) => format!("failed: {e}"),
        };
        self.reporter.event(Event::Remote {
            script: script.trim_end().to_string(),
            outcome,
            ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        output
    }

    async fn run_quietly(&self, script: &str, timeout: Duration) -> Result<Output> {
        let (marker, mut channel) = self.start_script(script).await?;
        let mut got = Collected::default();
        let host = self.destination.to_string();
        let (start, end) = (format!("{marker}\n"), format!("\n{marker} end "));
        // Until the start marker: the login shell's start-up, bounded like connecting.
        // After it: the script, bounded by `timeout`. The end line ends the wait even
        // when the login shell lingers after the script.
        let mut deadline = tokio::time::Instant::now() + self.connect_timeout;
        let mut started = false;
        let status = loop {
            let msg = match tokio::time::timeout_at(deadline, channel.wait()).await {
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
            got.take(msg, &host)?;
            if !started && find(&got.stdout, start.as_bytes()).is_some() {
                started = true;
                deadline = tokio::time::Instant::now() + timeout;
            }
            if let Some(status) = end_status(&got.stdout, &start, &end) {
                let _ = channel.close().await;
                break Some(status);
            }
        };
        let Some(at) = find(&got.stdout, start.as_bytes()) else {
            return Err(
                err!(Other, "the remote shell did not run the script (no output marker)").with_detail(format!(
                    "stdout: {}\nstderr: {}",
                    String::from_utf8_lossy(&got.stdout),
                    String::from_utf8_lossy(&got.stderr)
                )),
            );
        };
        let after = &got.stdout[at + start.len()..];
        let Some(status) = status.or(got.status) else {
            return Err(err!(Other, "the remote script ended without an exit status"));
        };
        let body = find(after, end.as_bytes()).map_or(after, |at| &after[..at]);
        Ok(Output {
            stdout: String::from_utf8_lossy(body).into_owned(),
            stderr: String::from_utf8_lossy(&got.stderr).into_owned(),
            status,
        })
    }

    /// Start `script` under `sh -s` on a new channel; returns the marker that precedes
    /// its output.
    async fn start_script(&self, script: &str) -> Result<(String, russh::Channel<client::Msg>)> {
        let marker = format!("mlcremote-{}", super::random_hex(12));
        // One compound command: sh parses it all before running any of it, so nothing
        // the script runs can swallow the rest of the script from stdin.
        // The script runs in a subshell (its `exit` ends only that), and the end line
        // carries its status, so a login shell that lingers after it cannot hold the
        // answer back.
        let framed = format!(
            "mlcremote_main() {{\n{script}\n}}\nprintf '%s\\n' '{marker}'\n(mlcremote_main) </dev/null\n\
             mlcr_status=$?\nprintf '\\n%s end %s\\n' '{marker}' \"$mlcr_status\"\nexit \"$mlcr_status\"\n"
        );
        let channel = self.exec_channel("sh -s").await?;
        channel.data(framed.as_bytes()).await.map_err(super::lost)?;
        channel.eof().await.map_err(super::lost)?;
        Ok((marker, channel))
    }

    /// Run a script that prints `ready_line` and then keeps running for as long as its
    /// channel is open (a lock holder). Returns the holder, or the script's output if it
    /// ended without getting there.
    pub async fn hold(&self, script: &str, ready_line: &str) -> Result<Hold> {
        let (marker, mut channel) = self.start_script(script).await?;
        let mut got = Collected::default();
        let host = self.destination.to_string();
        let ready = format!("{ready_line}\n");
        let wait = async {
            loop {
                match channel.wait().await {
                    Some(msg) => {
                        got.take(msg, &host)?;
                        if after_marker(&got.stdout, &marker)
                            .is_some_and(|after| find(after, ready.as_bytes()).is_some())
                        {
                            return Ok(true);
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
        let after = String::from_utf8_lossy(after_marker(&got.stdout, &marker).unwrap_or_default()).into_owned();
        if !ready_seen {
            return Ok(Hold::Ended(Output {
                stdout: after,
                stderr: String::from_utf8_lossy(&got.stderr).into_owned(),
                status: got.status.unwrap_or(255),
            }));
        }
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
        Ok(Hold::Held(Held {
            output: after,
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
                    // Drop everything up to the marker (shell start-up noise), bounded.
                    Some(buf) => {
                        buf.extend_from_slice(&data);
                        if let Some(rest) = after_marker(buf, &marker).map(<[u8]>::to_vec) {
                            pending = None;
                            output(Stream::Stdout, &rest);
                        } else if buf.len() > MAX_OUTPUT {
                            return Err(err!(
                                Other,
                                "the remote shell printed too much before running the command"
                            ));
                        }
                    }
                    None => output(Stream::Stdout, &data),
                },
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => output(Stream::Stderr, &data),
                Some(ChannelMsg::ExitStatus { exit_status }) => status = Some(exit_status),
                Some(_) => {}
                None => break,
            }
        }
        status.ok_or_else(|| err!(Other, "the remote command ended without an exit status"))
    }

    /// Open a session channel and start `command`. Dropbear has been seen to refuse a
    /// channel right after an SFTP channel closed on the same connection: retry, bounded.
    pub(super) async fn exec_channel(&self, command: &str) -> Result<russh::Channel<client::Msg>> {
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
}

/// Which output of a remote command bytes came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The status on the end line of a framed script, once it has arrived.
fn end_status(stdout: &[u8], start: &str, end: &str) -> Option<u32> {
    let after = &stdout[find(stdout, start.as_bytes())? + start.len()..];
    let rest = &after[find(after, end.as_bytes())? + end.len()..];
    let line = &rest[..find(rest, b"\n")?];
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

/// What a framed script printed after its marker line (before it: shell start-up noise).
fn after_marker<'a>(stdout: &'a [u8], marker: &str) -> Option<&'a [u8]> {
    let line = format!("{marker}\n");
    find(stdout, line.as_bytes()).map(|at| &stdout[at + line.len()..])
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
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
