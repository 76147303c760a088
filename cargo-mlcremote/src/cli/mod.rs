//! The command line: arguments shared by every command, resolving hosts through the ssh
//! config, and one module per group of commands. Everything the user sees is printed
//! here or in [`terminal`]; the library only reports through the delegate.
// The terminal lives here (the library is kept from it by clippy.toml).
#![allow(clippy::disallowed_methods)]

pub mod config;
pub mod deploy;
pub mod lifecycle;
pub mod output;
pub mod terminal;
pub mod ui;

use std::{collections::BTreeSet, path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use mlcremote_client::{
    deploy::DEFAULT_INSTALL_DIR,
    err,
    error::{Error, Result},
    remote::StartMethod,
    ssh::{self, Flags, Route, config::SshConfig},
};

/// How to reach hosts: the same on every command (SPEC §6).
#[derive(Args, Clone)]
pub struct ConnectArgs {
    /// Private key file to log in with (repeatable); tried before the ssh config's and ~/.ssh/id_*.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// known_hosts file to check (and record) host keys in [default: UserKnownHostsFile, else ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Trust and record a host key never seen before (a changed key is always refused).
    #[arg(long)]
    pub accept_new_host_key: bool,
    /// Where the server lives on the host.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_INSTALL_DIR, value_parser = parse_install_dir)]
    pub install_dir: String,
    /// Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<Duration>,
    /// ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file).
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<PathBuf>,
    /// Read a password from the first line of stdin (for password and keyboard-interactive).
    #[arg(long)]
    pub password_stdin: bool,
    /// Show each remote command with its timing, and details of failures.
    #[arg(short, long)]
    pub verbose: bool,
}

impl ConnectArgs {
    /// The connection flags as the library takes them (no password yet).
    pub fn flags(&self) -> Flags {
        Flags {
            identities: self.identity.clone(),
            known_hosts: self.known_hosts.clone(),
            accept_new_host_key: self.accept_new_host_key,
            connect_timeout: self.connect_timeout,
            password: None,
            jump_cache: Default::default(),
        }
    }
}

/// One or more hosts, run several at once.
#[derive(Args, Clone)]
pub struct HostsArgs {
    /// `[user@]host[:port]` or a Host alias from ~/.ssh/config (repeatable).
    #[arg(long = "host", value_name = "H", required_unless_present = "hosts_file")]
    pub hosts: Vec<String>,
    /// A file with one host per line (blank lines and `#` comments ignored).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
    /// Hosts handled at once.
    #[arg(short = 'j', long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
}

impl HostsArgs {
    /// `--host`s, then the hosts file's, in order, each once.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut hosts = self.hosts.clone();
        if let Some(file) = &self.hosts_file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| err!(Usage, "cannot read --hosts-file {}: {e}", file.display()))?;
            hosts.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            );
        }
        let mut seen = BTreeSet::new();
        hosts.retain(|h| seen.insert(h.clone()));
        if hosts.is_empty() {
            return Err(err!(Usage, "no hosts: pass --host or a non-empty --hosts-file"));
        }
        Ok(hosts)
    }
}

/// One host.
#[derive(Args, Clone)]
pub struct HostArg {
    /// `[user@]host[:port]` or a Host alias from ~/.ssh/config.
    #[arg(long = "host", value_name = "H")]
    pub host: String,
}

/// `--start-method`: `auto` or one method.
#[derive(Clone, Copy)]
pub struct StartChoice(pub Option<StartMethod>);

pub fn parse_start_method(s: &str) -> Result<StartChoice, String> {
    if s == "auto" {
        return Ok(StartChoice(None));
    }
    StartMethod::parse(s).map(|m| StartChoice(Some(m))).ok_or_else(|| {
        let names: Vec<&str> = StartMethod::ALL.iter().map(|m| m.name()).collect();
        format!("unknown start method `{s}`; use auto, {}", names.join(", "))
    })
}

/// The longest wait a flag may ask for.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// `60s`, `2m`, `500ms`, `1h`, or plain seconds; at most a day.
/// An install dir: any characters a file name may have, except line breaks (a path
/// with one would be cut in run.sh, a systemd unit or a log line) and NUL.
pub fn parse_install_dir(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("the install dir is empty".into());
    }
    if s.contains(['\n', '\r', '\0']) {
        return Err("the install dir must not contain a newline, carriage return or NUL".into());
    }
    Ok(s.to_string())
}

pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("bad duration `{s}`; use e.g. 60s, 2m, 500ms"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in `{s}`; use ms, s, m or h")),
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err(format!("duration `{s}` is out of range (at most 24h)")),
    }
}

/// Every host resolved through the ssh config (warnings about options we ignore are
/// shown once), with the password from stdin when asked for.
pub fn routes(args: &ConnectArgs, hosts: &[String], warn: &dyn Fn(&str)) -> Result<Vec<Route>> {
    let mut flags = args.flags();
    if args.password_stdin {
        flags.password = Some(read_password()?);
    }
    let config = SshConfig::load(args.ssh_config.as_deref())?;
    let mut warned = BTreeSet::new();
    hosts
        .iter()
        .map(|host| {
            let route = ssh::route(&config, host, &flags)?;
            for warning in &route.warnings {
                if warned.insert(warning.clone()) {
                    warn(warning);
                }
            }
            Ok(route)
        })
        .collect()
}

fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| err!(Usage, "cannot read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_string();
    if password.is_empty() {
        return Err(err!(Usage, "--password-stdin: stdin held no password"));
    }
    Ok(password)
}

/// Report `error` and turn it into the process exit code.
pub fn fail(error: &Error, verbose: bool) -> ExitCode {
    output::error(error.message(), error.detail(), verbose);
    ExitCode::from(error.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("99999999999999999999999").is_err());
        assert!(parse_duration("10000000000000000000").is_err());
        assert!(parse_duration("25h").is_err());
    }
}
