//! A known_hosts file's bytes → check a host key against it (plain, hashed, patterns,
//! markers, ports).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mlcremote_client::ssh::known_hosts;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"))
}

fn key() -> &'static russh::keys::PublicKey {
    static KEY: OnceLock<russh::keys::PublicKey> = OnceLock::new();
    KEY.get_or_init(|| {
        russh::keys::PublicKey::from_openssh(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        )
        .expect("a valid key")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().path().join("known_hosts");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let files = [path];
    for (host, port) in [("box.example", 22), ("127.0.0.1", 2222), ("*", 22)] {
        let _ = known_hosts::check(&files, host, port, key());
    }
});
