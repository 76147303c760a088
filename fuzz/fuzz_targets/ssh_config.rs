//! ssh_config text → resolve a few hosts as deploy would. `Match exec` runs commands and
//! `Include` reads any file, so inputs naming either are skipped (not parsed).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mlcremote_client::ssh::config::{CommandLine, Local, SshConfig};

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"))
}

fuzz_target!(|data: &[u8]| {
    let lower = data.to_ascii_lowercase();
    if lower.windows(4).any(|w| w == b"exec") || lower.windows(7).any(|w| w == b"include") {
        return;
    }
    let path = scratch().path().join("config");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let Ok(config) = SshConfig::load(Some(&path)) else {
        return;
    };
    let config = config.with_local(Local {
        user: "ann".into(),
        home: scratch().path().to_path_buf(),
        uid: "1000".into(),
        hostname: "desk".into(),
    });
    for host in ["box", "10.0.0.1", "web1.prod", "a"] {
        if let Ok(resolved) = config.resolve(host, &CommandLine::default()) {
            let _ = resolved.to_ssh_g();
        }
    }
});
