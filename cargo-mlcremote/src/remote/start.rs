//! How the server outlives the SSH session (SPEC §6 step 7): the start methods, which of
//! them to try on a host, and their shell functions.

use super::Probe;
use crate::{err, error::Result};

/// How the server is kept running after the SSH connection closes (SPEC §6 step 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartMethod {
    Systemd,
    Setsid,
    Nohup,
    Tmux,
    Screen,
}

impl StartMethod {
    /// The auto order.
    pub const ALL: [StartMethod; 5] = [
        StartMethod::Systemd,
        StartMethod::Setsid,
        StartMethod::Nohup,
        StartMethod::Tmux,
        StartMethod::Screen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Systemd => "systemd",
            StartMethod::Setsid => "setsid",
            StartMethod::Nohup => "nohup",
            StartMethod::Tmux => "tmux",
            StartMethod::Screen => "screen",
        }
    }

    /// What the probe reports when this method can work on the host.
    pub fn tool(self) -> &'static str {
        match self {
            StartMethod::Systemd => "systemd-user",
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Option<StartMethod> {
        StartMethod::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Shell functions `mlcr_start_<name>` (start `run.sh` this way, or return 1 if it
    /// cannot) and `mlcr_running_<name>` (is it still up).
    pub(super) fn shell_functions(self) -> &'static str {
        match self {
            StartMethod::Systemd => {
                r#"mlcr_start_systemd() {
  command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1 || return 1
  u=$(mlcr_name); ud="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
  mkdir -p "$ud" || return 1
  printf '[Unit]
Description=mlcremote server (%s)

[Service]
ExecStart=%s/run.sh
Restart=on-failure

[Install]
WantedBy=default.target
' "$d" "$d" >"$ud/$u.service" || return 1
  systemctl --user daemon-reload && systemctl --user enable "$u" >/dev/null 2>&1 && systemctl --user restart "$u" || return 1
  loginctl enable-linger "$(id -un)" >/dev/null 2>&1 || true
}
mlcr_running_systemd() { systemctl --user is-active --quiet "$(mlcr_name)"; }"#
            }
            StartMethod::Setsid => {
                r#"mlcr_start_setsid() { command -v setsid >/dev/null 2>&1 || return 1; setsid "$d/run.sh" </dev/null >/dev/null 2>&1 & pid=$!; }
mlcr_running_setsid() { mlcr_alive "$pid"; }"#
            }
            StartMethod::Nohup => {
                r#"mlcr_start_nohup() { command -v nohup >/dev/null 2>&1 || return 1; nohup "$d/run.sh" </dev/null >/dev/null 2>&1 & pid=$!; }
mlcr_running_nohup() { mlcr_alive "$pid"; }"#
            }
            StartMethod::Tmux => {
                r#"mlcr_start_tmux() {
  command -v tmux >/dev/null 2>&1 || return 1
  tmux kill-session -t "$(mlcr_name)" >/dev/null 2>&1
  tmux new-session -d -s "$(mlcr_name)" "exec $(mlcr_q "$d/run.sh")" </dev/null >/dev/null 2>&1
}
mlcr_running_tmux() { tmux has-session -t "$(mlcr_name)" >/dev/null 2>&1; }"#
            }
            StartMethod::Screen => {
                r#"mlcr_start_screen() {
  command -v screen >/dev/null 2>&1 || return 1
  screen -dmS "$(mlcr_name)" "$d/run.sh" </dev/null >/dev/null 2>&1
}
mlcr_running_screen() { screen -ls 2>/dev/null | grep -q "[.]$(mlcr_name)[[:space:]]"; }"#
            }
        }
    }
}

/// The start methods to try, the one recorded in `install.json` first (SPEC order after).
pub fn recorded_first(given: Option<StartMethod>, probe: &Probe) -> Result<Vec<StartMethod>> {
    let recorded = probe.install.as_ref().and_then(|i| StartMethod::parse(&i.start_method));
    let mut methods = start_methods(given.or(recorded), probe)?;
    if given.is_none()
        && let Some(first) = recorded
    {
        methods.extend(start_methods(None, probe)?.into_iter().filter(|m| *m != first));
    }
    Ok(methods)
}

/// Which start methods to try, in order (SPEC §6 step 7).
pub fn start_methods(given: Option<StartMethod>, probe: &Probe) -> Result<Vec<StartMethod>> {
    let methods: Vec<StartMethod> = match given {
        Some(method) => vec![method],
        None => StartMethod::ALL.into_iter().filter(|m| probe.has(m.tool())).collect(),
    };
    if methods.is_empty() {
        let names: Vec<&str> = StartMethod::ALL.iter().map(|m| m.name()).collect();
        return Err(err!(
            Install,
            "none of the start methods exists on the host ({}); install one of them",
            names.join(", ")
        ));
    }
    Ok(methods)
}
