//! The deploy lock (SPEC §5 `.lock/`): `mkdir` is atomic; the holder writes its pid,
//! who it is and since when. A lock whose holder is gone is stale and taken over. A
//! deploy that finds it held waits here on the host, so a contended deploy never sends
//! its payload twice.

use std::{
    fs,
    path::PathBuf,
    time::{Duration, Instant},
};

use super::{
    process,
    report::{Event, emit},
};

/// How long to wait for another deploy's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(300);

/// How long `agent lock` holds the lock for a build on the host, at most.
pub const HOLD_AT_MOST: Duration = Duration::from_secs(3 * 3600);

/// The lock, held until dropped.
pub struct Lock {
    dir: PathBuf,
    /// Taken over from the client's own holder (a build on the host): not ours to remove.
    inherited: bool,
}

/// Why the lock was not taken.
pub enum NotLocked {
    /// Still held by `holder` after the wait.
    Busy {
        holder: String,
    },
    Io(std::io::Error),
}

impl Lock {
    /// Take `<install dir>/.lock`, waiting (bounded) while a live holder has it. A lock
    /// held by `inherit_from` (the client's own lock holder) counts as ours.
    pub fn take(install_dir: &std::path::Path, owner: &str, inherit_from: Option<u32>) -> Result<Lock, NotLocked> {
        Lock::take_within(install_dir, owner, inherit_from, LOCK_WAIT)
    }

    /// The same, waiting at most `wait` for a live holder (zero: not at all).
    pub fn take_within(
        install_dir: &std::path::Path,
        owner: &str,
        inherit_from: Option<u32>,
        wait: Duration,
    ) -> Result<Lock, NotLocked> {
        let dir = install_dir.join(".lock");
        let deadline = Instant::now() + wait;
        let mut told = false;
        loop {
            match fs::create_dir(&dir) {
                Ok(()) => {
                    let now = crate::time::rfc3339(std::time::SystemTime::now());
                    let written = fs::write(dir.join("pid"), format!("{}\n", std::process::id()))
                        .and_then(|()| fs::write(dir.join("owner"), format!("{owner} since {now}\n")));
                    if let Err(e) = written {
                        let _ = fs::remove_dir_all(&dir);
                        return Err(NotLocked::Io(e));
                    }
                    return Ok(Lock { dir, inherited: false });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(NotLocked::Io(e)),
            }
            let holder: Option<u32> = fs::read_to_string(dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok());
            if holder.is_some() && holder == inherit_from {
                return Ok(Lock { dir, inherited: true });
            }
            match holder {
                Some(pid) if process::alive(pid) => {
                    let owner = fs::read_to_string(dir.join("owner")).unwrap_or_default();
                    let owner = owner.trim();
                    if Instant::now() >= deadline {
                        return Err(NotLocked::Busy {
                            holder: owner.to_string(),
                        });
                    }
                    if !told && !wait.is_zero() {
                        let (who, since) = owner.rsplit_once(" since ").unwrap_or((owner, "?"));
                        let _ = emit(&Event::Waiting {
                            holder: who.into(),
                            since: since.into(),
                        });
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                // A holder that is gone (or a lock being written right now: give it a
                // moment before calling it stale).
                _ => {
                    let age = fs::metadata(&dir)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .unwrap_or(Duration::MAX);
                    if holder.is_some() || age > Duration::from_secs(2) {
                        take_over(&dir, holder);
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    }
}

/// Remove the stale lock `dir` whose holder was `seen`, one deploy at a time: two that
/// both found the holder gone must not both remove it, or the second removes the lock
/// the first has just taken, and both install at once.
fn take_over(dir: &std::path::Path, seen: Option<u32>) {
    let guard = dir.with_file_name(".lock.takeover");
    match fs::create_dir(&guard) {
        Ok(()) => {
            let now: Option<u32> = fs::read_to_string(dir.join("pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok());
            if now == seen {
                let _ = fs::remove_dir_all(dir);
            }
            let _ = fs::remove_dir(&guard);
        }
        Err(_) => {
            // Another deploy is taking it over; one that died doing so left this long ago
            // (a takeover takes microseconds).
            let old = fs::metadata(&guard)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(10));
            if old {
                let _ = fs::remove_dir(&guard);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if self.inherited {
            return;
        }
        // Only while it is still ours.
        let ours = fs::read_to_string(self.dir.join("pid")).is_ok_and(|p| p.trim() == std::process::id().to_string());
        if ours {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_lock_is_taken_over_and_the_lock_goes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".lock");
        fs::create_dir(&lock).unwrap();
        fs::write(lock.join("pid"), "999999999\n").unwrap();
        {
            let Ok(_held) = Lock::take(dir.path(), "test", None) else {
                panic!("a stale lock was not taken over");
            };
            assert_eq!(
                fs::read_to_string(lock.join("pid")).unwrap().trim(),
                std::process::id().to_string()
            );
            assert!(
                fs::read_to_string(lock.join("owner"))
                    .unwrap()
                    .starts_with("test since ")
            );
        }
        assert!(!lock.exists());
    }

    #[test]
    fn a_lock_held_by_the_clients_own_holder_is_inherited_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".lock");
        fs::create_dir(&lock).unwrap();
        let holder = std::process::id();
        fs::write(lock.join("pid"), format!("{holder}\n")).unwrap();
        drop(Lock::take(dir.path(), "test", Some(holder)).ok().unwrap());
        assert!(lock.exists(), "an inherited lock is the holder's to remove");
    }
}
