//! What this binary is: version, target triple, commit (baked in by build.rs).

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const TARGET: &str = env!("MLCREMOTE_TARGET");
pub const COMMIT: &str = env!("MLCREMOTE_COMMIT");
/// What clap prints after the name: `0.1.0 (x86_64-unknown-linux-musl, commit abc1234)`.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MLCREMOTE_TARGET"),
    ", commit ",
    env!("MLCREMOTE_COMMIT"),
    ")"
);

/// The version line with a prefix of its own, kept in the binary, so a client can read
/// which server a file holds without running it (the target may not run there).
#[used]
static VERSION_MARK: &str = concat!(
    "\0mlcremote-version ",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MLCREMOTE_TARGET"),
    ", commit ",
    env!("MLCREMOTE_COMMIT"),
    ")\0"
);

pub fn json() -> serde_json::Value {
    serde_json::json!({ "version": VERSION, "target": TARGET, "commit": COMMIT })
}
