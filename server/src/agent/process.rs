//! Processes: alive or not, proven to be this install's server or not, stopped.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use crate::state::{State, proc_start};

/// Whether `pid` runs (a zombie, exited but not yet reaped, does not).
pub fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } != 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EPERM) {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        // No /proc (macOS): kill said it exists.
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// Whether `state` describes a server of this install that runs now: its pid lives,
/// started when the server recorded (where the system tells), from one of `binaries`.
/// A pid reused by another program (a `tail -f` of the log, say) is not ours.
pub fn owned(state: &State, binaries: &[&Path]) -> bool {
    if !alive(state.pid) {
        return false;
    }
    if let (Some(recorded), Some(now)) = (state.proc_start, proc_start(state.pid))
        && recorded != now
    {
        return false;
    }
    exe_is_one_of(state.pid, binaries)
}

#[cfg(target_os = "linux")]
fn exe_is_one_of(pid: u32, binaries: &[&Path]) -> bool {
    use std::os::unix::fs::MetadataExt;
    // The running file, even if it was renamed or replaced since (stat follows the link
    // to the inode the process runs).
    let Ok(exe) = std::fs::metadata(format!("/proc/{pid}/exe")) else {
        return false;
    };
    binaries
        .iter()
        .any(|b| std::fs::metadata(b).is_ok_and(|m| m.dev() == exe.dev() && m.ino() == exe.ino()))
}

#[cfg(not(target_os = "linux"))]
fn exe_is_one_of(pid: u32, binaries: &[&Path]) -> bool {
    // `ps` names the program; the start time check is not available here.
    let Ok(out) = std::process::Command::new("ps")
        .args(["-o", "comm=", "-p", &pid.to_string()])
        .output()
    else {
        return false;
    };
    let comm = String::from_utf8_lossy(&out.stdout);
    let comm = comm.trim();
    binaries
        .iter()
        .any(|b| Path::new(comm) == *b || b.file_name().is_some_and(|n| comm.ends_with(&*n.to_string_lossy())))
}

/// How long a server gets to stop after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(6);

/// SIGTERM, up to [`STOP_GRACE`], then SIGKILL; waits (bounded) until it is gone.
/// Returns whether it had to be killed.
pub fn stop(pid: u32) -> bool {
    let Ok(id) = i32::try_from(pid) else { return false };
    // SAFETY: sending a signal has no memory-safety preconditions.
    unsafe { libc::kill(id, libc::SIGTERM) };
    let deadline = Instant::now() + STOP_GRACE;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(25));
    }
    if !alive(pid) {
        return false;
    }
    // SAFETY: as above.
    unsafe { libc::kill(id, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(2);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_merely_mentions_mlcremote_is_not_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("mlcremote");
        std::fs::copy("/bin/sleep", &binary).unwrap();
        let mut ours = std::process::Command::new(&binary).arg("30").spawn().unwrap();
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .arg(dir.path().join("mlcremote/logs/out.log"))
            .spawn()
            .unwrap();
        let state = |pid| State {
            pid,
            port: 1,
            bind: "127.0.0.1".into(),
            version: "0".into(),
            target: "t".into(),
            started_at: "x".into(),
            proc_start: proc_start(pid),
        };
        assert!(owned(&state(ours.id()), &[&binary]));
        assert!(
            !owned(&state(other.id()), &[&binary]),
            "another program was taken for the server"
        );
        let mut reused = state(ours.id());
        reused.proc_start = reused.proc_start.map(|t| t + 1);
        assert!(!owned(&reused, &[&binary]), "a reused pid was taken for the server");
        assert!(!stop(other.id()), "sleep stops on SIGTERM");
        let _ = other.wait();
        let _ = ours.kill();
        let _ = ours.wait();
        assert!(!alive(ours.id()));
    }
}
