//! The SSH transport: one russh connection per host, reached directly, through
//! `ProxyJump` hosts or a `ProxyCommand`, with host keys checked against known_hosts and
//! the SPEC's auth order. [`Session`] runs remote scripts ([`channel`]) and moves bytes
//! ([`transfer`]); what is done on the host lives elsewhere ([`crate::remote`]).
//!
//! Where to connect comes from the command line and `~/.ssh/config`, read as OpenSSH
//! reads it ([`config`]): [`route`] turns a host as the user named it into a
//! [`Destination`] and the [`ConnectOptions`] to reach it.

mod auth;
mod channel;
pub mod config;
mod destination;
mod handshake;
pub mod known_hosts;
pub mod pattern;
mod session;
mod transfer;

use std::{path::PathBuf, time::Duration};

use self::config::{CommandLine, HostConfig, SshConfig, Strict};
pub use self::{
    channel::{Channel, Held, Hold, MAX_OUTPUT, Output, Progress, Stream, command_for},
    destination::{Destination, DestinationError, HostSpec},
    session::{JumpCache, Session},
    transfer::HttpError,
};
use crate::{err, error::Result};

/// Which ssh-agent to ask for keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Agent {
    /// `SSH_AUTH_SOCK` (Unix) or the OpenSSH agent's pipe (Windows).
    FromEnvironment,
    /// `IdentityAgent PATH`.
    Socket(PathBuf),
    /// `IdentityAgent none`.
    None,
}

/// How to log in to one SSH server.
#[derive(Clone, Debug)]
pub struct Login {
    /// Key files in the order they are offered.
    pub identities: Vec<PathBuf>,
    /// `IdentitiesOnly yes`: offer only these files, not the agent's keys.
    pub identities_only: bool,
    pub agent: Agent,
    /// From `--password-stdin`: tried after keys, for password and keyboard-interactive.
    pub password: Option<String>,
}

/// Which host keys to trust, and what to do with a new one.
#[derive(Clone, Debug)]
pub struct KnownHosts {
    /// Checked, and the first one is where a new key is recorded.
    pub user: Vec<PathBuf>,
    /// Checked only (`GlobalKnownHostsFile`).
    pub global: Vec<PathBuf>,
    pub strict: Strict,
    /// `HashKnownHosts yes`: record new keys hashed.
    pub hash: bool,
}

/// One server on the way to the host.
#[derive(Clone, Debug)]
pub struct Hop {
    pub destination: Destination,
    pub login: Login,
}

/// How to reach and trust a host; shared by every command.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub login: Login,
    pub known_hosts: KnownHosts,
    /// `ProxyJump` hops, first to last.
    pub jumps: Vec<Hop>,
    /// `ProxyCommand` (tokens expanded): its stdin/stdout reach the first hop.
    pub proxy_command: Option<String>,
    /// The TCP connect and the SSH handshake, each; also how long a login shell may take
    /// to start a command.
    pub connect_timeout: Duration,
    /// How long one remote command may take, unless the step says otherwise.
    pub step_timeout: Duration,
    /// How a silent host is found dead.
    pub keepalive: Keepalive,
    /// Connections to jump hosts, shared with the other hosts of the run.
    pub jump_cache: JumpCache,
}

/// `work`'s result, unless it takes longer than `limit`, not counting the time the
/// person spends answering questions meanwhile (a host key, a passphrase): `None` then.
async fn within<T>(
    limit: Duration,
    reporter: &crate::delegate::Reporter,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    let answering = reporter.answering();
    let started = tokio::time::Instant::now();
    tokio::pin!(work);
    loop {
        let deadline = started + limit + reporter.answering().saturating_sub(answering);
        tokio::select! {
            done = &mut work => return Some(done),
            () = tokio::time::sleep_until(deadline) => {
                if started + limit + reporter.answering().saturating_sub(answering) <= tokio::time::Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// `ServerAliveInterval` and `ServerAliveCountMax`: when the host has been silent for
/// `interval`, ask it for an answer; `count_max` questions unanswered in a row and the
/// connection is dead, and so fails every operation waiting on it. Unlike `ssh`, on by
/// default (15 s × 3: a dead link is found within 45 s); `ServerAliveInterval 0` turns it
/// off, as in `ssh`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    pub interval: Option<Duration>,
    pub count_max: u32,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            interval: Some(Duration::from_secs(15)),
            count_max: 3,
        }
    }
}

impl Keepalive {
    /// From an ssh config's values (`None`: not set).
    pub fn from_config(interval: Option<u64>, count_max: u64) -> Keepalive {
        Keepalive {
            interval: match interval {
                None => Keepalive::default().interval,
                Some(0) => None,
                Some(secs) => Some(Duration::from_secs(secs)),
            },
            count_max: u32::try_from(count_max).unwrap_or(u32::MAX).max(1),
        }
    }

    /// Why a connection ended, in words, from the error that ended it.
    pub fn explain(&self, e: &russh::Error) -> String {
        match e {
            russh::Error::KeepaliveTimeout => match self.interval {
                Some(every) => format!(
                    "the host stopped answering (no reply to {} keepalives, one every {}; ServerAliveInterval and \
                     ServerAliveCountMax set this)",
                    self.count_max,
                    shown(every)
                ),
                None => "the host stopped answering keepalives".to_string(),
            },
            russh::Error::Disconnect | russh::Error::HUP => "the host or the network closed the connection".to_string(),
            russh::Error::IO(io) => match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    "the connection was reset".to_string()
                }
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe => {
                    "the host or the network closed the connection".to_string()
                }
                _ => format!("network error: {io}"),
            },
            other => other.to_string(),
        }
    }
}

/// What a person means by `--connect-timeout` when they did not give one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            login: Login {
                identities: Vec::new(),
                identities_only: false,
                agent: Agent::FromEnvironment,
                password: None,
            },
            known_hosts: KnownHosts {
                user: std::env::home_dir()
                    .map(|h| vec![h.join(".ssh/known_hosts"), h.join(".ssh/known_hosts2")])
                    .unwrap_or_default(),
                global: Vec::new(),
                strict: Strict::Ask,
                hash: false,
            },
            jumps: Vec::new(),
            proxy_command: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            step_timeout: Duration::from_secs(120),
            keepalive: Keepalive::default(),
            jump_cache: JumpCache::default(),
        }
    }
}

/// What the command line says about connecting, beside the host.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    /// `-i FILE`, in order.
    pub identities: Vec<PathBuf>,
    pub known_hosts: Option<PathBuf>,
    pub accept_new_host_key: bool,
    pub connect_timeout: Option<Duration>,
    pub password: Option<String>,
    /// Shared by every host routed with these flags.
    pub jump_cache: JumpCache,
}

/// A host as the user named it, resolved: where to connect and how.
#[derive(Clone, Debug)]
pub struct Route {
    /// As given: `devbox`, `ann@10.0.0.5:2222`. Reports name hosts this way.
    pub name: String,
    pub destination: Destination,
    pub options: ConnectOptions,
    /// What `ssh -G` would print for it.
    pub config: HostConfig,
    /// Options in the config that we do not implement and ignore.
    pub warnings: Vec<String>,
}

/// How deep `ProxyJump` hosts may themselves have jump hosts.
const MAX_JUMP_DEPTH: usize = 8;

/// Resolve `spec` (`[user@]host[:port]` or an ssh config alias) as `ssh` would.
pub fn route(config: &SshConfig, spec: &str, flags: &Flags) -> Result<Route> {
    let parsed = HostSpec::parse(spec)?;
    let timeout_secs = flags.connect_timeout.map(|t| t.as_secs().max(1));
    let cmdline = CommandLine {
        user: parsed.user.clone(),
        port: parsed.port,
        identity_files: flags.identities.iter().map(|p| p.display().to_string()).collect(),
        known_hosts: flags.known_hosts.as_ref().map(|p| p.display().to_string()),
        accept_new: flags.accept_new_host_key,
        connect_timeout: timeout_secs,
    };
    let host = config.resolve(&parsed.host, &cmdline)?;
    let warnings = host.warnings.clone();
    let local = config.local();
    let login = login_for(&host, local, flags);
    let known_hosts = KnownHosts {
        user: host
            .userknownhostsfile
            .iter()
            .filter(|f| *f != "/dev/null" && *f != "none")
            .map(PathBuf::from)
            .collect(),
        global: host
            .globalknownhostsfile
            .iter()
            .filter(|f| *f != "/dev/null" && *f != "none")
            .map(PathBuf::from)
            .collect(),
        strict: host.stricthostkeychecking,
        hash: host.hashknownhosts,
    };
    let mut jumps = Vec::new();
    let mut proxy_command = host.proxy_command_line();
    let hops = host.jumps();
    for (index, hop) in hops.iter().enumerate() {
        // The first hop is reached as `ssh` reaches it, its own jump hosts included.
        let (mut before, hop, command) = hop_route(config, hop, flags, if index == 0 { 0 } else { MAX_JUMP_DEPTH })?;
        if index == 0 {
            proxy_command = command;
        }
        jumps.append(&mut before);
        jumps.push(hop);
    }
    Ok(Route {
        name: spec.to_string(),
        destination: Destination {
            user: host.user.clone(),
            host: host.hostname.clone(),
            port: host.port,
        },
        options: ConnectOptions {
            login,
            known_hosts,
            jumps,
            proxy_command,
            connect_timeout: flags
                .connect_timeout
                .or(host.connecttimeout.map(Duration::from_secs))
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            step_timeout: Duration::from_secs(120),
            keepalive: Keepalive::from_config(host.serveraliveinterval, host.serveralivecountmax),
            jump_cache: flags.jump_cache.clone(),
        },
        config: host,
        warnings,
    })
}

/// A jump host resolved through the config: the hops before it (its own `ProxyJump`),
/// itself, and the `ProxyCommand` that reaches the first of them.
fn hop_route(config: &SshConfig, spec: &str, flags: &Flags, depth: usize) -> Result<(Vec<Hop>, Hop, Option<String>)> {
    let parsed = HostSpec::parse(spec)?;
    let cmdline = CommandLine {
        user: parsed.user.clone(),
        port: parsed.port,
        identity_files: flags.identities.iter().map(|p| p.display().to_string()).collect(),
        ..CommandLine::default()
    };
    let host = config.resolve(&parsed.host, &cmdline)?;
    let hop = Hop {
        destination: Destination {
            user: host.user.clone(),
            host: host.hostname.clone(),
            port: host.port,
        },
        login: login_for(&host, config.local(), flags),
    };
    let mut before = Vec::new();
    let mut command = host.proxy_command_line();
    if depth < MAX_JUMP_DEPTH {
        for (index, inner) in host.jumps().iter().enumerate() {
            let (mut hops, inner_hop, inner_command) = hop_route(
                config,
                inner,
                flags,
                if index == 0 { depth + 1 } else { MAX_JUMP_DEPTH },
            )?;
            if index == 0 {
                command = inner_command;
            }
            before.append(&mut hops);
            before.push(inner_hop);
        }
    } else if !host.jumps().is_empty() {
        return Err(err!(
            Usage,
            "ProxyJump hosts nest more than {MAX_JUMP_DEPTH} deep at {spec}; is there a loop in ~/.ssh/config?"
        ));
    }
    Ok((before, hop, command))
}

fn login_for(host: &HostConfig, local: &config::Local, flags: &Flags) -> Login {
    let mut identities: Vec<PathBuf> = flags.identities.clone();
    let configured = host.identity_paths(local);
    if host.identityfile_given {
        identities.extend(configured.into_iter().filter(|p| !flags.identities.contains(p)));
    } else {
        // SPEC §6: the default key files we can use, in the SPEC's order, those that exist.
        let ssh = local.home.join(".ssh");
        for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
            let path = ssh.join(name);
            if path.is_file() && !identities.contains(&path) {
                identities.push(path);
            }
        }
    }
    let agent = match host.identityagent.as_deref() {
        None | Some("SSH_AUTH_SOCK") => Agent::FromEnvironment,
        Some("none") => Agent::None,
        Some(path) => Agent::Socket(PathBuf::from(path)),
    };
    Login {
        identities,
        identities_only: host.identitiesonly,
        agent,
        password: flags.password.clone(),
    }
}

/// A duration as a person writes it: `15s`, `500ms`, `2m`.
pub fn shown(d: Duration) -> String {
    if d.subsec_millis() != 0 && d < Duration::from_secs(10) {
        format!("{}ms", d.as_millis())
    } else if d.as_secs().is_multiple_of(60) && d.as_secs() >= 60 {
        format!("{}m", d.as_secs() / 60)
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Random lowercase hex, `bytes` long in bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom only fails where the OS has no random source at all.
    getrandom::fill(&mut buf).unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        buf.iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (t >> (i % 16 * 8)) as u8 ^ std::process::id() as u8);
    });
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_on_unless_the_config_turns_it_off() {
        assert_eq!(Keepalive::from_config(None, 3), Keepalive::default());
        assert_eq!(Keepalive::default().interval, Some(Duration::from_secs(15)));
        assert_eq!(
            Keepalive::from_config(Some(0), 3).interval,
            None,
            "ServerAliveInterval 0"
        );
        let k = Keepalive::from_config(Some(5), 0);
        assert_eq!((k.interval, k.count_max), (Some(Duration::from_secs(5)), 1));
        let why = k.explain(&russh::Error::KeepaliveTimeout);
        assert!(why.contains("no reply to 1 keepalives, one every 5s"), "{why}");
    }
}
