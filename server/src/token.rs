//! The access token: from `MLCREMOTE_TOKEN` or a 0600 file, never from argv (argv is
//! visible to every user in `ps`).

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io::{ErrorKind, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::Path,
};

use anyhow::{Context, bail};

pub fn load_or_create(path: &Path) -> anyhow::Result<String> {
    if let Ok(token) = std::env::var("MLCREMOTE_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(token.trim().to_string());
    }
    match fs::read_to_string(path) {
        Ok(text) => {
            let token = text.trim();
            if token.is_empty() {
                bail!(
                    "token file {} is empty; delete it to have a new token made",
                    path.display()
                );
            }
            Ok(token.to_string())
        }
        Err(err) if err.kind() == ErrorKind::NotFound => create(path),
        Err(err) => Err(err).with_context(|| format!("cannot read token file {}", path.display())),
    }
}

fn create(path: &Path) -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no random source: {e}"))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => {
            file.write_all(token.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            Ok(token)
        }
        // Another process made it first: use theirs.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => load_or_create(path),
        Err(err) => Err(err).with_context(|| format!("cannot create token file {}", path.display())),
    }
}

/// `mkdir -p` with mode 0700 for what it creates.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn creates_a_private_token_once_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/token");
        let first = create(&path).unwrap();
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read_to_string(&path).unwrap().trim(), first);
    }

    #[test]
    fn refuses_an_empty_token_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        fs::write(&path, "\n").unwrap();
        let err = load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("is empty"), "{err}");
    }
}
