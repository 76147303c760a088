//! One line per event on stderr, as text or JSON. The start wrapper sends it to
//! `~/.mlcremote/logs/out.log`. Never log the token.

use std::{sync::OnceLock, time::SystemTime};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

static FORMAT: OnceLock<Format> = OnceLock::new();

pub fn init(format: Format) {
    let _ = FORMAT.set(format);
}

pub fn info(msg: &str) {
    emit("INFO", msg);
}

pub fn warn(msg: &str) {
    emit("WARN", msg);
}

fn emit(level: &str, msg: &str) {
    let ts = crate::time::rfc3339(SystemTime::now());
    match FORMAT.get().copied().unwrap_or(Format::Text) {
        Format::Text => eprintln!("{ts} {level} {msg}"),
        Format::Json => eprintln!("{}", serde_json::json!({ "ts": ts, "level": level, "msg": msg })),
    }
}
