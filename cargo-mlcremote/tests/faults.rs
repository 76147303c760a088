//! Faults a deploy must survive: a cut upload, a full disk, a noexec install dir.

mod common;

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{Client, connection_args, pid_alive, server, server_json, text};
use harness::{Sshd, User};
use mlcremote_release::checksum::sha256_file;

/// A tmpfs owned by `user`, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(user: &User, options: &str) -> Tmpfs {
        assert!(
            harness::is_root(),
            "mounting a tmpfs needs root (CI runs the tests as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        let uid = harness::output("id", &["-u", &user.name]).unwrap();
        let gid = harness::output("id", &["-g", &user.name]).unwrap();
        let opts = format!("{options},uid={},gid={},mode=700", uid.trim(), gid.trim());
        harness::output(
            "mount",
            &["-t", "tmpfs", "-o", &opts, "tmpfs", &dir.path().to_string_lossy()],
        )
        .unwrap_or_else(|e| panic!("cannot mount a tmpfs (is this a container without CAP_SYS_ADMIN?): {e}"));
        Tmpfs(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Stop whatever runs from it first, or the unmount fails.
        harness::kill_server(&self.0.path().join("server.json"));
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

#[test]
fn a_full_disk_is_exit_7_and_says_what_to_do() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let tiny = Tmpfs::mount(&user, "size=1m");
    let dir = tiny.path().to_string_lossy().into_owned();
    let out = Client::new().deploy(&sshd, &user, &["--artifact", &server(), "--install-dir", &dir]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not enough space") && stderr.contains("--install-dir"),
        "{stderr}"
    );
    assert!(!tiny.path().join("mlcremote").exists());
}

#[test]
fn a_noexec_install_dir_is_exit_7_and_says_so() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let noexec = Tmpfs::mount(&user, "size=256m,noexec");
    let dir = noexec.path().to_string_lossy().into_owned();
    let out = Client::new().deploy(&sshd, &user, &["--artifact", &server(), "--install-dir", &dir]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not run") && stderr.contains("noexec"), "{stderr}");
    assert!(
        !noexec.path().join("mlcremote").exists(),
        "a binary that cannot run was installed"
    );
    let leftovers: Vec<_> = fs::read_dir(noexec.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".mlcremote.upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// What an upload writes before the binary is in place: the upload, or one of the
/// parts it arrives in over several channels.
fn upload_file(name: &str) -> bool {
    name.starts_with(".mlcremote.upload") || name.starts_with(".mlcremote.part")
}

#[test]
fn a_cut_upload_leaves_the_old_binary_and_server_and_the_next_deploy_cleans_up() {
    // OpenSSH, then Dropbear (whose small channel window splits the upload finely).
    for sshd in [Sshd::start().unwrap(), Sshd::start_dropbear().unwrap()] {
        cut_upload(&sshd);
    }
}

fn cut_upload(sshd: &Sshd) {
    let user = sshd.user().unwrap();
    let client = Client::new();
    assert!(client.deploy(sshd, &user, &["--artifact", &server()]).status.success());
    let dir = user.mlcremote_dir();
    let before_sha = sha256_file(&dir.join("mlcremote")).unwrap();
    let before_pid = server_json(&user)["pid"].as_u64().unwrap();

    // A new, large binary (ELF ignores trailing bytes), so the upload takes a while. The
    // bytes added are random: zeros would compress to nothing on the way.
    let big = client.home.path().join("mlcremote");
    let mut bytes = fs::read(server()).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..(400 * 1024 * 1024 / 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(&big, &bytes).unwrap();
    drop(bytes);
    let mut args = vec!["mlcremote".to_string(), "deploy".into()];
    args.extend(connection_args(sshd, &user));
    args.extend(["--artifact".to_string(), big.to_string_lossy().into_owned()]);
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_cargo-mlcremote"))
        .args(&args)
        .env("HOME", client.home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Cut it once the upload is under way.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let uploading = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .any(|e| upload_file(&e.file_name().to_string_lossy()) && e.metadata().is_ok_and(|m| m.len() > 1 << 20));
        if uploading {
            break;
        }
        assert!(
            deploy.try_wait().unwrap().is_none(),
            "the deploy ended before the upload was cut"
        );
        assert!(Instant::now() < deadline, "the upload never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    deploy.kill().unwrap();
    deploy.wait().unwrap();

    assert_eq!(
        sha256_file(&dir.join("mlcremote")).unwrap(),
        before_sha,
        "the installed binary changed"
    );
    assert!(pid_alive(before_pid), "the old server was stopped");
    let status = client.command(sshd, &user, "status", &["--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        (status["healthy"].as_bool(), status["pid"].as_u64()),
        (Some(true), Some(before_pid)),
        "{status}"
    );

    // The next deploy is not blocked by the dead deploy's lock and removes its leftovers.
    let out = client.deploy(sshd, &user, &["--artifact", &server(), "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| upload_file(n))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(!dir.join(".lock").exists());
}
