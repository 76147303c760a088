//! What a config says for one host ([`HostConfig`], as `ssh -G` prints it), and what
//! the command line says over it.

use std::path::PathBuf;

use serde::Serialize;

use super::{local::*, tokens::*};

/// `StrictHostKeyChecking`, printed as `ssh -G` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Strict {
    /// Ask at a terminal (the default).
    #[serde(rename = "ask")]
    Ask,
    /// Refuse unknown keys.
    #[serde(rename = "true")]
    Yes,
    /// Record unknown keys; refuse changed ones.
    #[serde(rename = "accept-new")]
    AcceptNew,
    /// `no`/`off`: OpenSSH records unknown keys and connects despite a changed one. A
    /// changed key is refused here whatever the config says.
    #[serde(rename = "false")]
    No,
}

/// The options deploy uses for one host, as `ssh -G` prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostConfig {
    /// The host as given (`%n`).
    #[serde(skip)]
    pub original: String,
    pub hostname: String,
    pub port: u16,
    pub user: String,
    /// As configured, tokens not yet expanded (as `ssh -G` prints them), or OpenSSH's
    /// default list when none is configured.
    pub identityfile: Vec<String>,
    pub identitiesonly: bool,
    /// Expanded; `none` turns the agent off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identityagent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxyjump: Option<String>,
    /// As configured; tokens are expanded when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxycommand: Option<String>,
    /// Expanded.
    pub userknownhostsfile: Vec<String>,
    /// Expanded; read only, never written.
    #[serde(skip)]
    pub globalknownhostsfile: Vec<String>,
    pub stricthostkeychecking: Strict,
    /// Seconds; `None` prints as `none`.
    #[serde(serialize_with = "none_or_number")]
    pub connecttimeout: Option<u64>,
    /// Seconds between keepalives when the host is silent; `None`: not set (ssh's 0,
    /// off; this client's default is on, see [`crate::ssh::Keepalive`]).
    #[serde(serialize_with = "zero_or_number")]
    pub serveraliveinterval: Option<u64>,
    /// Keepalives unanswered before the connection counts as dead.
    pub serveralivecountmax: u64,
    /// Record new host keys hashed.
    #[serde(skip)]
    pub hashknownhosts: bool,
    /// Whether any `IdentityFile` was given (else the defaults are listed).
    #[serde(skip)]
    pub identityfile_given: bool,
    /// Options we do not implement that change where or how `ssh` would connect.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

pub(super) fn zero_or_number<S: serde::Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(value.unwrap_or(0))
}

pub(super) fn none_or_number<S: serde::Serializer>(value: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_str("none"),
    }
}

/// What the command line says, which wins over every file.
#[derive(Clone, Debug, Default)]
pub struct CommandLine {
    /// `user@` of the destination.
    pub user: Option<String>,
    /// `:port` of the destination.
    pub port: Option<u16>,
    /// `-i FILE`: tried before the config's identity files.
    pub identity_files: Vec<String>,
    /// `--known-hosts FILE`: instead of `UserKnownHostsFile`.
    pub known_hosts: Option<String>,
    /// `--accept-new-host-key`: `StrictHostKeyChecking accept-new`.
    pub accept_new: bool,
    /// `--connect-timeout`, in seconds.
    pub connect_timeout: Option<u64>,
}

#[cfg(unix)]
pub(super) const SSH_DIR: &str = "/etc/ssh";
#[cfg(windows)]
pub(super) const SSH_DIR: &str = r"C:\ProgramData\ssh";

/// The identity files OpenSSH tries when none is configured, in its order.
pub const DEFAULT_IDENTITIES: &[&str] = &[
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_xmss",
    "id_dsa",
];

impl HostConfig {
    /// The configured identity files with their tokens and `~` expanded, for `local`.
    pub fn identity_paths(&self, local: &Local) -> Vec<PathBuf> {
        let tokens = token_table(local, &self.hostname, self.port, &self.user, &self.original);
        self.identityfile
            .iter()
            .map(|f| PathBuf::from(expand_path_with(f, &tokens, &local.home)))
            .collect()
    }

    /// `ProxyCommand` with its tokens (`%h %n %p %r %%`) expanded.
    pub fn proxy_command_line(&self) -> Option<String> {
        let port = self.port.to_string();
        self.proxycommand.as_ref().map(|c| {
            expand_tokens(
                c,
                &[
                    ('h', self.hostname.as_str()),
                    ('n', self.original.as_str()),
                    ('p', port.as_str()),
                    ('r', self.user.as_str()),
                ],
            )
        })
    }

    /// The `ProxyJump` hops, first to last, as `[user@]host[:port]`.
    pub fn jumps(&self) -> Vec<String> {
        self.proxyjump
            .as_deref()
            .map(|j| j.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// `key value` lines as `ssh -G` prints them, for the options we use.
    pub fn to_ssh_g(&self) -> String {
        let mut out = format!(
            "hostname {}\nport {}\nuser {}\nidentitiesonly {}\nstricthostkeychecking {}\n",
            self.hostname,
            self.port,
            self.user,
            if self.identitiesonly { "yes" } else { "no" },
            match self.stricthostkeychecking {
                Strict::Ask => "ask",
                Strict::Yes => "true",
                Strict::AcceptNew => "accept-new",
                Strict::No => "false",
            }
        );
        if let Some(agent) = &self.identityagent {
            out.push_str(&format!("identityagent {agent}\n"));
        }
        for file in &self.identityfile {
            out.push_str(&format!("identityfile {file}\n"));
        }
        out.push_str(&format!("userknownhostsfile {}\n", self.userknownhostsfile.join(" ")));
        match self.connecttimeout {
            Some(t) => out.push_str(&format!("connecttimeout {t}\n")),
            None => out.push_str("connecttimeout none\n"),
        }
        out.push_str(&format!(
            "serveraliveinterval {}\nserveralivecountmax {}\n",
            self.serveraliveinterval.unwrap_or(0),
            self.serveralivecountmax
        ));
        if let Some(jump) = &self.proxyjump {
            out.push_str(&format!("proxyjump {jump}\n"));
        }
        if let Some(command) = &self.proxycommand {
            out.push_str(&format!("proxycommand {command}\n"));
        }
        out
    }
}
