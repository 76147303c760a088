//! What the agent says: one JSON object a line on stdout, progress events then the
//! outcome.

use std::io::Write;

use serde::Serialize;

/// Why an agent command failed, as the client maps it to an exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// The upload is not what the client sent (size or sha256).
    CorruptUpload,
    /// Another deploy held the lock for too long.
    Locked,
    /// Writing into the install dir failed (permission, full disk).
    InstallFailed,
    /// None of the start methods works here.
    NoStartMethod,
    /// The new server exited right after starting.
    DiedAtStart,
    /// The new server did not answer `/health` in time.
    Unhealthy,
    /// Nothing is installed there.
    NotInstalled,
}

/// A progress event or the outcome, one JSON object a line on stdout.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// Waiting for another deploy's lock.
    Waiting { holder: &'a str, since: &'a str },
    /// A step done, and how long it took.
    Step { step: &'a str, ms: u64 },
}

/// Print one event line; whether anyone still reads (a deploy whose client vanished
/// before the swap stops there; after it, the install is finished regardless).
pub fn emit(value: &impl Serialize) -> bool {
    let Ok(line) = serde_json::to_string(value) else {
        return true;
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_ok()
}

/// Milliseconds since `since`, for step timings.
pub fn ms(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}
