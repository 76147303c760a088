//! Where the server keeps its files unless told otherwise: `~/.mlcremote/`.

use std::path::PathBuf;

/// `~/.mlcremote/<name>`, the default home of every file the server reads or writes.
pub fn default_path(name: &str) -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("HOME is not set; pass the path explicitly"))?;
    Ok(PathBuf::from(home).join(".mlcremote").join(name))
}
