//! The server binary's own `agent` subcommands, as the client runs and reads them:
//! `status` (in the probe), `install` (after the upload, in the same exec), `restart`,
//! `stop`, and from contract version 2 `token`, `logs`, `uninstall` and `lock`. They
//! print one JSON object a line ([`Event`]): progress, then the outcome.

pub use mlcremote_contract::{Event, Failure, Status as AgentStatus, Step as AgentStep};

use super::{Probe, quote, script_error};
use crate::{
    err,
    error::{Error, Kind, Result},
    ssh::Output,
};

/// A failure the agent reported, as an error with the SPEC exit code; the new server's
/// log (if any) goes in the detail, the rollback's outcome on the message.
pub fn failure_error(
    failure: Failure,
    message: &str,
    step: AgentStep,
    dir: &str,
    log: Option<&str>,
    rollback: Option<&str>,
) -> Error {
    let kind = match failure {
        Failure::DiedAtStart | Failure::Unhealthy => Kind::Unhealthy,
        Failure::NotInstalled | Failure::Other => Kind::Other,
        Failure::CorruptUpload | Failure::Locked | Failure::InstallFailed | Failure::NoStartMethod => Kind::Install,
    };
    let mut error = Error::new(kind, message);
    if let Some(log) = log {
        let log = if log.trim().is_empty() {
            "(the log is empty)"
        } else {
            log
        };
        let step = serde_json::to_string(&step).unwrap_or_default();
        error = error.with_detail(format!(
            "failed step: {}\nlast lines of {dir}/logs/out.log:\n{log}",
            step.trim_matches('"')
        ));
    }
    if let Some(rollback) = rollback {
        error = error.append(rollback);
    }
    error
}

/// The outcome of an agent command's output: its event, or the error it (or the shell
/// around it) reported.
pub fn outcome(out: &Output, dir: &str) -> Result<Event> {
    match Event::outcome(&out.stdout) {
        Some(Event::Failed {
            failure,
            message,
            step,
            log,
            rollback,
        }) => Err(failure_error(
            failure,
            &message,
            step,
            dir,
            log.as_deref(),
            rollback.as_deref(),
        )),
        Some(event) => Ok(event),
        None if out.status != 0 => Err(script_error(out, dir)),
        None => Err(err!(Other, "the command on the host ended without saying how").with_detail(out.stdout.clone())),
    }
}

/// `"$d/mlcremote" agent …` of the installed binary, as a script line.
pub fn agent_command(dir: &str, args: &str) -> String {
    format!("{q}/mlcremote agent {args} --dir {q}", q = quote(dir))
}

/// [`agent_command`] in the install dir as the user gave it (`~/…` is the host's home),
/// for a command sent before the probe has said where that is.
pub fn agent_command_in(install_dir: &str, args: &str) -> String {
    format!("{d}/mlcremote agent {args} --dir {d}", d = super::dir_word(install_dir))
}

/// The server's own health client, for hosts that refuse TCP forwarding.
pub fn health_command(dir: &str) -> String {
    format!("{q}/mlcremote health --state-file {q}/server.json", q = quote(dir))
}

/// Whether the installed agent has `token`, `logs`, `uninstall` and `lock`.
pub fn has_host_commands(probe: &Probe) -> bool {
    probe
        .agent
        .as_ref()
        .is_some_and(|a| a.schema >= mlcremote_contract::HOST_COMMANDS)
}

/// The agent's command `args`, where the installed agent has it; else the error that
/// says to update it.
pub fn host_command(probe: &Probe, args: &str) -> Result<String> {
    if has_host_commands(probe) {
        return Ok(agent_command(&probe.dir, args));
    }
    Err(err!(
        Other,
        "the mlcremote installed in {} is older than this client (it cannot {}); run `cargo mlcremote deploy` to update it",
        probe.dir,
        args.split_whitespace().next().unwrap_or(args)
    ))
}
