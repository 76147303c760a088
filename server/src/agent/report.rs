//! What the agent says: one JSON object a line on stdout, progress events then the
//! outcome.

use std::io::Write;

use serde::Serialize;

pub use mlcremote_contract::{Event, Failure, Step};

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
