//! SPEC §6 step 2: what the host is and has, in one round trip.

use std::fmt::Write as _;

use serde::Deserialize;

use super::{Health, PRELUDE, agent::AgentStatus, dir_word};
use crate::ssh::Output;

/// SPEC §6 step 2 in one round trip. Changes nothing on the host.
pub fn probe_script(install_dir: &str) -> String {
    let mut s = String::from(PRELUDE);
    let _ = writeln!(s, "d={}", dir_word(install_dir));
    // An installed binary answers all of it in one process; else the shell finds out.
    s.push_str(
        r#"if [ -x "$d/mlcremote" ] && facts=$("$d/mlcremote" agent probe --dir "$d" 2>/dev/null </dev/null) \
  && [ -n "$facts" ]; then printf '%s\n' "$facts"; exit 0; fi
printf 'uname=%s\n' "$(uname -s -m 2>/dev/null)"
printf 'home=%s\n' "$HOME"
printf 'dir=%s\n' "$d"
printf 'shell=%s\n' "${SHELL:-}"
for t in setsid nohup tmux screen sha256sum shasum docker curl wget gzip tar; do
  if command -v "$t" >/dev/null 2>&1; then printf 'tool=%s\n' "$t"; fi
done
# A systemd user manager this account can use (systemctl alone is not enough).
if command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1; then
  printf 'tool=systemd-user\n'
fi
# A cargo the build can use: on PATH, where rustup puts it (not on PATH in a
# non-login session), or the toolchain an earlier `--build remote` bootstrapped.
for c in "$(command -v cargo 2>/dev/null)" "$HOME/.cargo/bin/cargo" "$d/toolchain/cargo/bin/cargo"; do
  if [ -n "$c" ] && [ -x "$c" ]; then printf 'cargo=%s\n' "$c"; break; fi
done
if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then printf 'libc=gnu\n'
elif ls /lib/ld-musl-* >/dev/null 2>&1; then printf 'libc=musl\n'; fi
p="$d"; while [ ! -d "$p" ] && [ "$p" != / ]; do p=$(dirname "$p"); done
printf 'exists_at=%s\n' "$p"
if [ -w "$p" ]; then printf 'writable=1\n'; fi
# Only the file systems that hold no files matter.
case "$(stat -f -c %T "$p" 2>/dev/null)" in
proc|sysfs|devpts|tmpfs|cgroupfs|cgroup2fs|debugfs|securityfs) printf 'fs=%s\n' "$(stat -f -c %T "$p")" ;;
esac
printf 'free_kb=%s\n' "$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}')"
# The installed binary says itself what it is and how its server is (sha256, version,
# server.json, /health), in this same round trip.
agent=
if [ -x "$d/mlcremote" ]; then agent=$("$d/mlcremote" agent status --dir "$d" 2>/dev/null </dev/null); fi
case "$agent" in
'{'*) printf 'agent=%s\n' "$agent" ;;
*)
  if [ -f "$d/mlcremote" ]; then
    printf 'installed_sha256=%s\n' "$(mlcr_sha256 "$d/mlcremote")"
    printf 'installed_version=%s\n' "$("$d/mlcremote" --version 2>/dev/null | head -n 1)"
  fi
  if [ -f "$d/server.json" ]; then
    printf 'server_json=%s\n' "$(tr -d '\n' <"$d/server.json")"
    if mlcr_alive "$(mlcr_pid "$d/server.json")"; then printf 'server_alive=1\n'; fi
  fi
  ;;
esac
if [ -f "$d/install.json" ]; then printf 'install_json=%s\n' "$(tr -d '\n' <"$d/install.json")"; fi
for f in /etc/systemd/system/mlcremote.service /Library/LaunchDaemons/dev.mlcremote.server.plist; do
  if [ -f "$f" ]; then printf 'system_service=%s\n' "$f"; fi
done
"#,
    );
    s
}

/// Probe output that does not say what it must.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadProbe(pub String);

/// What the probe found.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub uname: String,
    pub home: String,
    /// The install dir, absolute.
    pub dir: String,
    pub shell: String,
    pub tools: Vec<String>,
    /// The absolute path of a cargo the remote build can use.
    pub cargo: Option<String>,
    /// Linux only: `gnu` (glibc) or `musl`, where the probe could tell.
    pub libc: Option<String>,
    pub free_kb: Option<u64>,
    pub installed_sha256: Option<String>,
    pub installed_version: Option<String>,
    pub server: Option<ServerState>,
    pub server_alive: bool,
    pub install: Option<InstallInfo>,
    /// A system-wide unit (README, "system-wide install") found on the host.
    pub system_service: Option<String>,
    /// The nearest folder of the install dir that exists, whether this account can
    /// write there, and its file system type (where `stat -f` tells).
    pub exists_at: String,
    pub writable: bool,
    pub fs: Option<String>,
    /// What the installed binary said of itself (`agent status`), when it could.
    pub agent: Option<AgentStatus>,
    /// The running server's `/health`, asked in the probe.
    pub health: Option<Health>,
}

/// `install.json`, written by deploy (SPEC §5).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct InstallInfo {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub installed_at: String,
    #[serde(default)]
    pub start_method: String,
    /// The server's file root, when it is not the home folder (`deploy --root`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// `server.json` as the server writes it (SPEC §4).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ServerState {
    pub pid: u32,
    pub port: u16,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub target: String,
}

impl Probe {
    /// Run the probe on the host (SPEC §6 step 2).
    pub async fn run(session: &crate::ssh::Session, install_dir: &str) -> crate::error::Result<Probe> {
        Probe::run_on(session, None, install_dir).await
    }

    /// [`Probe::run`] on a channel opened already.
    pub async fn run_on(
        session: &crate::ssh::Session,
        channel: Option<crate::ssh::Channel>,
        install_dir: &str,
    ) -> crate::error::Result<Probe> {
        let timeout = session.step_timeout();
        let out = session
            .run_on(channel, &probe_script(install_dir), timeout, &mut |_| {})
            .await?;
        Probe::parse(&out).map_err(|e| crate::err!(Other, "{e}").with_detail(out.stderr.clone()))
    }

    /// Why nothing can be installed in the dir, if the probe can tell: the cause, so the
    /// hint fits it.
    pub fn dir_problem(&self) -> Option<String> {
        const PSEUDO: &[&str] = &[
            "proc",
            "sysfs",
            "devtmpfs",
            "devpts",
            "cgroup",
            "cgroup2fs",
            "debugfs",
            "securityfs",
        ];
        if let Some(fs) = self.fs.as_deref().filter(|fs| PSEUDO.contains(fs)) {
            return Some(format!(
                "cannot install into {}: {} is on a {fs} file system, which holds no files; pass --install-dir under your home (default ~/.mlcremote)",
                self.dir, self.exists_at
            ));
        }
        let installed = self.installed_sha256.is_some() || self.installed_version.is_some();
        if !self.writable && !installed && !self.exists_at.is_empty() && self.exists_at != self.dir {
            return Some(format!(
                "cannot create {}: {} is not writable by this account; pass --install-dir under your home (default ~/.mlcremote)",
                self.dir, self.exists_at
            ));
        }
        None
    }

    pub fn parse(out: &Output) -> Result<Probe, BadProbe> {
        let mut probe = Probe::default();
        for (key, value) in out.fields() {
            let value = value.trim();
            match key {
                "uname" => probe.uname = value.into(),
                "home" => probe.home = value.into(),
                "dir" => probe.dir = value.into(),
                "shell" => probe.shell = value.into(),
                "tool" => probe.tools.push(value.into()),
                "cargo" => probe.cargo = Some(value.into()).filter(|c: &String| c.starts_with('/')),
                "libc" => probe.libc = Some(value.into()),
                "free_kb" => probe.free_kb = value.parse().ok(),
                "installed_sha256" => probe.installed_sha256 = Some(value.into()).filter(|v: &String| v.len() == 64),
                "installed_version" => probe.installed_version = Some(value.into()).filter(|v: &String| !v.is_empty()),
                "server_json" => probe.server = serde_json::from_str(value).ok(),
                "server_alive" => probe.server_alive = value == "1",
                "install_json" => probe.install = serde_json::from_str(value).ok(),
                "system_service" => probe.system_service = Some(value.into()),
                "exists_at" => probe.exists_at = value.into(),
                "writable" => probe.writable = value == "1",
                "fs" => probe.fs = Some(value.to_string()).filter(|f| !f.is_empty()),
                "agent" => probe.agent = serde_json::from_str(value).ok(),
                _ => {}
            }
        }
        if let Some(agent) = &probe.agent {
            probe.installed_sha256 = agent.sha256.clone();
            probe.installed_version = Some(agent.version_line());
            probe.server = agent.server.clone();
            probe.server_alive = agent.running;
            probe.health = agent.health.clone();
            if probe.install.is_none() {
                probe.install = agent.install.clone();
            }
        }
        if probe.dir.is_empty() || !probe.dir.starts_with('/') {
            return Err(BadProbe(format!(
                "the probe did not resolve the install dir (got {:?}); is HOME set on the host?",
                probe.dir
            )));
        }
        Ok(probe)
    }

    pub fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// Why the host cannot download and check a release archive itself, if it cannot.
    pub fn cannot_download(&self) -> Option<String> {
        const NEEDS: [(&str, &[&str]); 4] = [
            ("curl or wget", &["curl", "wget"]),
            ("sha256sum or shasum", &["sha256sum", "shasum"]),
            ("gzip", &["gzip"]),
            ("tar", &["tar"]),
        ];
        let missing: Vec<&str> = NEEDS
            .iter()
            .filter(|(_, tools)| !tools.iter().any(|t| self.has(t)))
            .map(|(name, _)| *name)
            .collect();
        (!missing.is_empty()).then(|| format!("the host has no {}", missing.join(", no ")))
    }

    /// The running server, if `server.json` names a live process.
    pub fn running_server(&self) -> Option<&ServerState> {
        self.server.as_ref().filter(|_| self.server_alive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_probe() {
        let out = Output {
            stdout: "uname=Linux x86_64\nhome=/home/ann\ndir=/home/ann/.mlcremote\nshell=/bin/bash\ntool=setsid\n\
                     tool=nohup\nfree_kb=1024\ninstalled_sha256=abc\n\
                     server_json={\"pid\":42,\"port\":8080,\"bind\":\"127.0.0.1\",\"version\":\"0.1.0\",\"target\":\"t\",\"started_at\":\"x\"}\n\
                     server_alive=1\n"
                .into(),
            stderr: String::new(),
            status: 0,
        };
        let probe = Probe::parse(&out).unwrap();
        assert_eq!(probe.uname, "Linux x86_64");
        assert!(probe.has("setsid") && !probe.has("tmux"));
        assert_eq!(probe.free_kb, Some(1024));
        assert_eq!(probe.installed_sha256, None, "a malformed digest is no digest");
        assert_eq!(probe.running_server().map(|s| (s.pid, s.port)), Some((42, 8080)));
    }

    /// The installed binary's answer and the shell's agree on every fact of the host.
    #[test]
    fn the_agent_and_the_shell_find_the_same_host() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".mlcremote");
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("mlcremote");
        std::fs::copy(harness::server_binary().unwrap(), &binary).unwrap();
        let run = || {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(probe_script(&dir.to_string_lossy()))
                .env("HOME", home.path())
                .output()
                .unwrap();
            Probe::parse(&Output {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::new(),
                status: 0,
            })
            .unwrap()
        };
        let agent = run();
        assert!(agent.agent.is_some(), "the installed binary did not answer: {agent:?}");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o644)).unwrap();
        let shell = run();
        assert!(shell.agent.is_none());
        let facts = |p: &Probe| {
            let mut tools = p.tools.clone();
            tools.sort();
            (
                p.uname.clone(),
                p.home.clone(),
                p.dir.clone(),
                p.shell.clone(),
                tools,
                p.cargo.clone(),
                p.libc.clone(),
                (p.exists_at.clone(), p.writable, p.fs.clone()),
                p.system_service.clone(),
            )
        };
        assert_eq!(facts(&agent), facts(&shell));
        let (a, b) = (agent.free_kb.unwrap(), shell.free_kb.unwrap());
        assert!(a.abs_diff(b) <= a / 10 + 1024, "{a} vs {b} KiB free");
    }
}
