//! `server.json`: how deploy and `mlcremote health` find the running server.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub pid: u32,
    pub port: u16,
    pub bind: String,
    pub version: String,
    pub target: String,
    pub started_at: String,
    /// When the process started, in clock ticks since boot (Linux, `/proc/PID/stat`
    /// field 22): with the pid, it tells this server from a later process that reused
    /// the pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc_start: Option<u64>,
}

/// A process's start time in ticks since boot, where the system says (Linux).
pub fn proc_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the `(comm)` field: state ppid ... field 22 (starttime) is the 20th after it.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

impl State {
    /// Where to reach the server from the host itself.
    pub fn loopback(&self) -> &str {
        match self.bind.as_str() {
            "0.0.0.0" => "127.0.0.1",
            "::" => "::1",
            other => other,
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<State> {
        let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a server state file", path.display()))
    }

    /// Write through a temp file and rename, so a reader never sees half a file.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            crate::token::create_private_dir(dir)?;
        }
        let tmp = PathBuf::from(format!("{}.tmp.{}", path.display(), self.pid));
        let mut file = fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(serde_json::to_string(self)?.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Remove the file if it still describes this process (a newer server may own it).
    pub fn remove_if_ours(path: &Path) {
        if State::read(path).is_ok_and(|s| s.pid == std::process::id()) {
            let _ = fs::remove_file(path);
        }
    }
}
