//! SPEC §6 step 2: what the host is and has, in one round trip.

use super::{Health, agent::AgentStatus};
use crate::ssh::Output;

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

pub use mlcremote_contract::{InstallInfo, ServerState};

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
            .run_on(
                channel,
                &super::scripts::probe_script(install_dir),
                timeout,
                &mut |_| {},
            )
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

    /// The installed binary's answer and the shell's agree on every fact of the host,
    /// also where the `xz` on PATH is BusyBox's, which neither calls xz (it cannot undo
    /// the x86 filter an upload may use).
    #[test]
    fn the_agent_and_the_shell_find_the_same_host() {
        use std::os::unix::fs::PermissionsExt;
        harness::require("xz", "xz-utils").unwrap();
        let busybox = harness::require("busybox", "busybox").unwrap();
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".mlcremote");
        std::fs::create_dir_all(&dir).unwrap();
        let binary = dir.join("mlcremote");
        std::fs::copy(harness::server_binary().unwrap(), &binary).unwrap();
        let busybox_xz = home.path().join("busybox-xz");
        std::fs::create_dir(&busybox_xz).unwrap();
        std::os::unix::fs::symlink(&busybox, busybox_xz.join("xz")).unwrap();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let with_busybox_xz =
            std::env::join_paths(std::iter::once(busybox_xz.clone()).chain(std::env::split_paths(&path))).unwrap();
        let probe = |path: &std::ffi::OsStr| {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(crate::remote::scripts::probe_script(&dir.to_string_lossy()))
                .env("HOME", home.path())
                .env("PATH", path)
                .output()
                .unwrap();
            Probe::parse(&Output {
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::new(),
                status: 0,
            })
            .unwrap()
        };
        for (path, xz) in [(path.as_os_str(), true), (with_busybox_xz.as_os_str(), false)] {
            std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
            let run = || probe(path);
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
            assert_eq!(shell.has("xz"), xz, "{path:?}: {shell:?}");
            let (a, b) = (agent.free_kb.unwrap(), shell.free_kb.unwrap());
            assert!(a.abs_diff(b) <= a / 10 + 1024, "{a} vs {b} KiB free");
        }
    }
}
