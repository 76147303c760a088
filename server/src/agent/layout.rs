//! The install dir (SPEC §5): every file deploy keeps there, by name.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

/// Paths in one install dir.
pub struct Layout {
    pub dir: PathBuf,
}

pub use mlcremote_contract::InstallInfo;

impl Layout {
    pub fn new(dir: PathBuf) -> Layout {
        Layout { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn binary(&self) -> PathBuf {
        self.path("mlcremote")
    }

    pub fn prev(&self) -> PathBuf {
        self.path("mlcremote.prev")
    }

    pub fn run_sh(&self) -> PathBuf {
        self.path("run.sh")
    }

    pub fn state(&self) -> PathBuf {
        self.path("server.json")
    }

    pub fn log(&self) -> PathBuf {
        self.path("logs/out.log")
    }

    pub fn install_info(&self) -> Option<InstallInfo> {
        serde_json::from_str(&fs::read_to_string(self.path("install.json")).ok()?).ok()
    }

    /// The tmux/screen session or systemd user unit of this install: one per dir. The
    /// number is POSIX `cksum` of the dir, as the shell side computes it.
    pub fn session_name(&self) -> String {
        format!("mlcremote-{}", cksum(self.dir.as_os_str().as_encoded_bytes()))
    }

    /// `run.sh`: the one way the server is started, whatever the start method. Its stdin
    /// stays what the method gave it: under tmux and screen that is the terminal, and
    /// closing their last hold on it would hang the session up (SIGHUP).
    pub fn run_sh_text(&self, port: u16, root: Option<&Path>) -> String {
        let root = root.map_or_else(String::new, |r| format!(" --root {}", sh_quote(&r.to_string_lossy())));
        format!(
            r#"#!/bin/sh
# Written by `cargo mlcremote deploy`: starts the server, logging to logs/out.log.
DIR={dir}
LOG="$DIR/logs/out.log"
mkdir -p "$DIR/logs"
exec "$DIR/mlcremote" serve --bind 127.0.0.1 --port {port} --token-file "$DIR/token" --state-file "$DIR/server.json" --log-file "$LOG"{root} >/dev/null 2>>"$LOG"
"#,
            dir = sh_quote(&self.dir.to_string_lossy())
        )
    }
}

/// Write `bytes` to `path` through a temp file beside it and a rename, with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written.and_then(|()| {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
    }) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Single-quote for `sh`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// POSIX `cksum` (CRC-32/CKSUM over the bytes, then their length).
pub fn cksum(data: &[u8]) -> u32 {
    fn feed(mut crc: u32, byte: u8) -> u32 {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
        crc
    }
    let mut crc = data.iter().fold(0u32, |c, b| feed(c, *b));
    let mut len = data.len();
    while len > 0 {
        crc = feed(crc, (len & 0xff) as u8);
        len >>= 8;
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cksum_matches_the_posix_tool() {
        for input in ["", "a", "/home/ann/.mlcremote", "/tmp/x y/'q'"] {
            let out = std::process::Command::new("cksum")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    child.stdin.take().unwrap().write_all(input.as_bytes())?;
                    child.wait_with_output()
                })
                .unwrap();
            let tool: u32 = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(cksum(input.as_bytes()), tool, "{input:?}");
        }
    }

    #[test]
    fn run_sh_quotes_the_dir_and_never_carries_the_token() {
        let text = Layout::new("/home/a b/it's".into()).run_sh_text(0, None);
        assert!(text.contains(r"DIR='/home/a b/it'\''s'"), "{text}");
        assert!(text.contains("--token-file \"$DIR/token\"") && text.contains("--bind 127.0.0.1"));
        assert!(!text.contains("--root"), "{text}");
        let text = Layout::new("/d".into()).run_sh_text(0, Some(Path::new("/srv/it's")));
        assert!(text.contains(r"--root '/srv/it'\''s'"), "{text}");
    }
}
