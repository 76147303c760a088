//! The deploy lock a build on the host holds (SPEC §5 `.lock/`): the installed agent's
//! `lock`, or the shell's where there is none.

use std::time::{Duration, Instant};

use crate::{
    err,
    error::Result,
    remote::{
        Probe,
        agent::{self, Event as AgentEvent},
        script_error, scripts,
    },
    ssh::{Hold, Session},
};

/// Let the lock's holder go. The agent removes the lock the moment its channel closes;
/// the shell's holder notices only when it next writes, so its lock is removed first
/// (only while it is still this holder's), and the next deploy need not wait.
pub(super) async fn unlock(session: &Session, probe: &Probe, held: crate::ssh::Held, holder: Option<u32>) {
    if !agent::has_host_commands(probe)
        && let Some(holder) = holder
    {
        let _ = session.run(&scripts::unlock_script(&probe.dir, holder)).await;
    }
    held.release().await;
}

/// How long to wait for another deploy's lock on the same host.
pub(super) const LOCK_WAIT: Duration = Duration::from_secs(300);

/// Take the deploy lock, waiting (at most `wait`) while another live deploy holds it: with
/// the installed agent's `lock`, or where there is none the shell's, which keeps the
/// same rules and says the same lines. Returns the holder and whether we had to wait.
pub(super) async fn lock(session: &Session, probe: &Probe, wait: Duration) -> Result<(crate::ssh::Held, bool)> {
    let dir = &probe.dir;
    let owner = owner();
    let script = if agent::has_host_commands(probe) {
        agent::agent_command(dir, &format!("lock --owner {}", crate::remote::quote(&owner)))
    } else {
        scripts::lock_script(dir, &owner)
    };
    let deadline = Instant::now() + wait;
    let mut waited = false;
    loop {
        let out = match session.hold(&script, scripts::LOCKED).await? {
            Hold::Held(held) => return Ok((held, waited)),
            Hold::Ended(out) => out,
        };
        match agent::outcome(&out, dir)? {
            AgentEvent::Busy { holder } if Instant::now() < deadline => {
                if !waited {
                    session
                        .reporter()
                        .note(format!("waiting for the deploy lock in {dir} (held by {holder})"));
                }
                waited = true;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            AgentEvent::Busy { holder } => {
                return Err(err!(
                    Install,
                    "{dir}/.lock is still held by {holder} after {}; if that deploy is gone, remove {dir}/.lock",
                    crate::ssh::shown(wait)
                ));
            }
            _ => return Err(script_error(&out, dir)),
        }
    }
}

/// Who deploys, for anyone who finds the lock held; the host adds when (`since
/// 2026-11-25T16:10:51Z`), by its own clock.
pub(super) fn owner() -> String {
    format!(
        "cargo-mlcremote pid {} on {}",
        std::process::id(),
        crate::ssh::config::Local::current().hostname
    )
}
