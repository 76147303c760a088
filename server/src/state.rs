//! `server.json`: how deploy and `mlcremote health` find the running server.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;

/// `server.json`, as the contract types it.
pub use mlcremote_contract::ServerState as State;

/// A process's start time in ticks since boot, where the system says (Linux).
pub fn proc_start(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the `(comm)` field: state ppid ... field 22 (starttime) is the 20th after it.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// `server.json` at `path`.
pub fn read(path: &Path) -> anyhow::Result<State> {
    let text = fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a server state file", path.display()))
}

/// Write `state` through a temp file and rename, so a reader never sees half a file.
pub fn write(state: &State, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        crate::token::create_private_dir(dir)?;
    }
    let tmp = PathBuf::from(format!("{}.tmp.{}", path.display(), state.pid));
    let mut file = fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(serde_json::to_string(state)?.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Remove the file if it still describes this process (a newer server may own it).
pub fn remove_if_ours(path: &Path) {
    if read(path).is_ok_and(|s| s.pid == std::process::id()) {
        let _ = fs::remove_file(path);
    }
}
