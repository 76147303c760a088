//! One line per event, as text or JSON, to the log file (rotated at 10 MiB while the
//! server runs, SPEC §5) or to stderr. A write that fails (a full disk) is dropped: the
//! log never stops the server. Never log the token.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    path::PathBuf,
    sync::{Mutex, OnceLock},
    time::SystemTime,
};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Rotate the log file above this size (SPEC §5).
pub const ROTATE_AT: u64 = 10 * 1024 * 1024;

struct Sink {
    format: Format,
    file: Option<LogFile>,
}

struct LogFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
}

static SINK: OnceLock<Mutex<Sink>> = OnceLock::new();

/// Log in `format`, to `file` (appended to, rotated to `<file>.1`) or else to stderr.
pub fn init(format: Format, file: Option<PathBuf>) {
    let file = file.map(|path| {
        let file = open(&path);
        let size = file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
        LogFile { path, file, size }
    });
    let _ = SINK.set(Mutex::new(Sink { format, file }));
}

fn open(path: &PathBuf) -> Option<File> {
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    OpenOptions::new().create(true).append(true).open(path).ok()
}

pub fn info(msg: &str) {
    emit("INFO", msg);
}

pub fn warn(msg: &str) {
    emit("WARN", msg);
}

fn emit(level: &str, msg: &str) {
    let ts = crate::time::rfc3339(SystemTime::now());
    let Some(sink) = SINK.get() else {
        let _ = writeln!(std::io::stderr(), "{ts} {level} {msg}");
        return;
    };
    let mut sink = sink.lock().unwrap_or_else(|e| e.into_inner());
    let line = match sink.format {
        Format::Text => format!("{ts} {level} {msg}\n"),
        Format::Json => format!("{}\n", serde_json::json!({ "ts": ts, "level": level, "msg": msg })),
    };
    match &mut sink.file {
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        Some(log) => log.write(line.as_bytes()),
    }
}

impl LogFile {
    fn write(&mut self, line: &[u8]) {
        if self.size + line.len() as u64 > ROTATE_AT {
            let rotated = PathBuf::from(format!("{}.1", self.path.display()));
            let _ = fs::rename(&self.path, rotated);
            self.file = open(&self.path);
            self.size = 0;
        }
        if self.file.is_none() {
            self.file = open(&self.path);
        }
        if let Some(file) = &mut self.file
            && file.write_all(line).is_ok()
        {
            self.size += line.len() as u64;
        }
    }
}
