//! What deploy will do on one host, as data: made from the probe, the chosen binary and
//! the options (a pure function, table-tested without a network), printed by
//! `--dry-run` (as text, or JSON with `--json`), and executed step by step by deploy, so
//! the two cannot disagree.

use std::fmt;

use serde::Serialize;

use crate::{
    artifact::{Chosen, Origin},
    delegate::Step,
    remote::{Health, Probe, StartMethod},
};

/// The plan for one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The host as the user named it.
    pub host: String,
    /// Where that resolved to: `user@host:port`.
    pub destination: String,
    pub uname: String,
    pub install_dir: String,
    pub artifact: PlannedArtifact,
    /// What is on the host now.
    pub installed: Option<Installed>,
    pub action: Action,
    /// The steps deploy takes, in order (after connect, probe and choose).
    pub steps: Vec<Step>,
    /// Tried in this order; the first that works starts the server.
    pub start_methods: Vec<StartMethod>,
    /// 0: any free port.
    pub port: u16,
    /// The server's file root on the host, absolute; `None` is the home folder.
    pub root: Option<String>,
    pub health_timeout_s: u64,
    /// For a build on the host: each way, with the exact commands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildPlan>,
}

/// The binary to install.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedArtifact {
    pub origin: Origin,
    /// A path here, or what the build will be.
    pub from: String,
    pub target: String,
    /// The server version inside, where it can be read before it runs.
    pub version: Option<String>,
    /// `None` for a build on the host (known once built).
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// What the host has installed and running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub version: Option<String>,
    pub sha256: Option<String>,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub healthy: bool,
}

/// What deploy will do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The same binary runs and answers `/health`: nothing to do.
    UpToDate,
    /// Upload this binary and install it.
    Install,
    /// Build on the host (falling back to building here), then install.
    BuildOnHost,
}

/// A build on the host: the ways to try, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildPlan {
    /// Where the source bundle goes.
    pub dir: String,
    pub log: String,
    pub ways: Vec<BuildWay>,
}

/// One way to build on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BuildWay {
    pub name: String,
    /// The exact shell lines.
    pub commands: Vec<String>,
    /// Why this way is not possible here (then there are no commands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_possible: Option<String>,
    /// Asked about first (a toolchain install), unless `--yes`.
    pub asks_first: bool,
}

/// What planning needs besides the probe.
pub struct Inputs<'a> {
    pub host: &'a str,
    pub destination: &'a str,
    pub probe: &'a Probe,
    /// The running server's answer, when the probe found one.
    pub health: Option<&'a Health>,
    pub start_methods: Vec<StartMethod>,
    pub port: u16,
    /// `--root` as given (`~/…` and relative paths are under the host's home).
    pub root: Option<&'a str>,
    pub health_timeout_s: u64,
    pub force: bool,
}

fn installed_root(probe: &Probe) -> Option<String> {
    probe.install.as_ref().and_then(|i| i.root.clone())
}

/// The root the server will have: `--root` when given, else the one installed (an
/// upgrade never changes what is served; `--root ~` goes back to the home folder).
fn planned_root(inputs: &Inputs<'_>) -> Option<String> {
    match inputs.root {
        Some(_) => file_root(&inputs.probe.home, inputs.root),
        None => installed_root(inputs.probe),
    }
}

/// `--root` as an absolute path on the host, or `None` for the home folder (the
/// server's default), so that `--root ~` and no `--root` are the same install.
pub fn file_root(home: &str, root: Option<&str>) -> Option<String> {
    let root = root?.trim_end_matches('/');
    let home = home.trim_end_matches('/');
    let full = match root.strip_prefix('~') {
        Some("") => home.to_string(),
        Some(rest) if rest.starts_with('/') => format!("{home}{rest}"),
        _ if root.starts_with('/') => root.to_string(),
        _ if root.is_empty() => return Some("/".into()),
        _ => format!("{home}/{root}"),
    };
    (full != home).then_some(full)
}

impl Plan {
    /// Install `chosen` (or find it already there).
    pub fn install(inputs: Inputs<'_>, chosen: &Chosen) -> Plan {
        let up_to_date = !inputs.force
            && inputs.probe.installed_sha256.as_deref() == Some(chosen.sha256.as_str())
            && inputs.health.is_some()
            && installed_root(inputs.probe) == planned_root(&inputs);
        let (action, steps) = if up_to_date {
            (Action::UpToDate, Vec::new())
        } else {
            let place = match chosen.payload {
                crate::artifact::Payload::Bytes(_) => Step::Upload,
                crate::artifact::Payload::OnHost(_) => Step::Copy,
                crate::artifact::Payload::Url(_) => Step::Download,
            };
            // The upload comes first and the lock is taken on the host after it, so a
            // deploy waiting for another's lock never sends its payload twice.
            (
                Action::Install,
                vec![place, Step::Lock, Step::InstallStart, Step::Health],
            )
        };
        let artifact = PlannedArtifact {
            origin: chosen.origin,
            from: chosen.from.clone(),
            target: chosen.target.triple.to_string(),
            version: chosen.version.clone(),
            sha256: Some(chosen.sha256.clone()),
            size: Some(chosen.size),
        };
        Plan::new(inputs, artifact, action, steps, None)
    }

    /// Build on the host from the source bundle, then install.
    pub fn build_on_host(inputs: Inputs<'_>, target: &str, version: &str, build: BuildPlan) -> Plan {
        let artifact = PlannedArtifact {
            origin: Origin::BuiltOnHost,
            from: format!("the source bundle, built on {}", inputs.host),
            target: target.to_string(),
            version: Some(version.to_string()),
            sha256: None,
            size: None,
        };
        let steps = vec![Step::Lock, Step::Build, Step::Copy, Step::InstallStart, Step::Health];
        Plan::new(inputs, artifact, Action::BuildOnHost, steps, Some(build))
    }

    fn new(
        inputs: Inputs<'_>,
        artifact: PlannedArtifact,
        action: Action,
        steps: Vec<Step>,
        build: Option<BuildPlan>,
    ) -> Plan {
        let probe = inputs.probe;
        let root = planned_root(&inputs);
        let server = probe.running_server();
        let installed = (probe.installed_sha256.is_some() || probe.installed_version.is_some()).then(|| Installed {
            version: probe.installed_version.clone(),
            sha256: probe.installed_sha256.clone(),
            pid: server.map(|s| s.pid),
            port: server.map(|s| s.port),
            healthy: inputs.health.is_some(),
        });
        Plan {
            host: inputs.host.to_string(),
            destination: inputs.destination.to_string(),
            uname: probe.uname.clone(),
            install_dir: probe.dir.clone(),
            artifact,
            installed,
            action,
            steps,
            start_methods: inputs.start_methods,
            port: inputs.port,
            root,
            health_timeout_s: inputs.health_timeout_s,
            build,
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = &self.install_dir;
        writeln!(f, "plan for {} ({}, {}):", self.host, self.destination, self.uname)?;
        let a = &self.artifact;
        let version = a.version.as_deref().unwrap_or("version unknown until it runs");
        match (&a.sha256, a.size) {
            (Some(sha), Some(size)) => writeln!(
                f,
                "  artifact  {} ({}, {version}, {size} bytes, sha256 {sha})",
                a.from, a.target
            )?,
            _ => writeln!(f, "  artifact  {} ({}, {version})", a.from, a.target)?,
        }
        match &self.installed {
            Some(i) => writeln!(
                f,
                "  installed {} {}",
                i.version.as_deref().unwrap_or("an unknown version"),
                match (i.pid, i.port) {
                    (Some(pid), Some(port)) if i.healthy => format!("running (pid {pid}, port {port}), healthy"),
                    (Some(pid), Some(port)) => format!("running (pid {pid}, port {port}), NOT answering /health"),
                    _ => "not running".to_string(),
                }
            )?,
            None => writeln!(f, "  installed nothing in {dir}")?,
        }
        if self.action == Action::UpToDate {
            return writeln!(
                f,
                "  nothing to do: the same binary runs and is healthy (--force reinstalls)"
            );
        }
        let methods: Vec<&str> = self.start_methods.iter().map(|m| m.name()).collect();
        let port = if self.port == 0 {
            "any free port".to_string()
        } else {
            format!("port {}", self.port)
        };
        let stop = match &self.installed {
            Some(Installed {
                pid: Some(pid),
                port: Some(port),
                ..
            }) => format!("stop the running server (pid {pid}, port {port})"),
            _ => "no server is running".into(),
        };
        for step in &self.steps {
            match step {
                Step::Lock => writeln!(
                    f,
                    "  lock      {dir}/.lock (waiting on the host while another deploy holds it)"
                )?,
                Step::Upload => writeln!(
                    f,
                    "  upload    the binary (in its .tar.gz as it came, else compressed where it pays: xz, or gzip where the host has no xz-utils) to {dir}/.mlcremote.upload-*, check it runs there"
                )?,
                Step::Copy => writeln!(f, "  copy      the binary built on the host into place")?,
                Step::Download => writeln!(
                    f,
                    "  download  the release archive on the host from {} (curl or wget), refuse it unless its sha256 is the one SHA256SUMS lists, unpack the binary to {dir}/.mlcremote.upload-*, check it runs there",
                    self.artifact.from
                )?,
                Step::Build => {
                    if let Some(build) = &self.build {
                        write_build(f, build)?;
                    }
                }
                Step::InstallStart => {
                    writeln!(
                        f,
                        "  install   verify its sha256, keep {dir}/mlcremote as mlcremote.prev, rename into {dir}/mlcremote; \
                         write run.sh, token, install.json"
                    )?;
                    writeln!(f, "  stop      {stop}")?;
                    writeln!(f, "  start     first that works of: {}; {port}", methods.join(", "))?;
                    let root = self.root.as_deref().unwrap_or("the home folder");
                    writeln!(f, "  files     the file API serves {root} and what is under it")?;
                }
                Step::Health => writeln!(
                    f,
                    "  verify    GET /health on the host's loopback, up to {}s; roll back to the previous binary if it fails",
                    self.health_timeout_s
                )?,
                other => writeln!(f, "  {other}")?,
            }
        }
        Ok(())
    }
}

fn write_build(f: &mut fmt::Formatter<'_>, build: &BuildPlan) -> fmt::Result {
    writeln!(
        f,
        "  build     upload the source bundle to {}, then try in order (log: {}):",
        build.dir, build.log
    )?;
    for way in &build.ways {
        match &way.not_possible {
            None => {
                let consent = if way.asks_first {
                    " (asks first; --yes consents)"
                } else {
                    ""
                };
                writeln!(f, "    {}{consent}:", way.name)?;
                for line in &way.commands {
                    writeln!(f, "      {line}")?;
                }
            }
            Some(why) => writeln!(f, "    {}: not possible: {why}", way.name)?,
        }
    }
    writeln!(f, "    else build here and upload")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        artifact::Payload,
        remote::{InstallInfo, ServerState},
    };

    fn probe(installed: Option<&str>, running: bool) -> Probe {
        Probe {
            uname: "Linux x86_64".into(),
            dir: "/home/ann/.mlcremote".into(),
            tools: vec!["setsid".into(), "nohup".into()],
            installed_sha256: installed.map(str::to_owned),
            installed_version: installed.map(|_| "mlcremote 0.1.0 (x86_64-unknown-linux-musl, commit x)".into()),
            server: running.then(|| ServerState {
                pid: 42,
                port: 8080,
                version: "0.1.0".into(),
                target: "x86_64-unknown-linux-musl".into(),
                ..ServerState::default()
            }),
            server_alive: running,
            install: installed.map(|_| InstallInfo {
                start_method: "setsid".into(),
                ..InstallInfo::default()
            }),
            ..Probe::default()
        }
    }

    fn chosen(sha: &str) -> Chosen {
        Chosen {
            target: mlcremote_release::target::Target::get("x86_64-unknown-linux-musl").unwrap(),
            sha256: sha.into(),
            size: 1000,
            payload: Payload::Bytes(vec![0; 1000].into()),
            packed: None,
            origin: Origin::Artifact,
            from: "/tmp/mlcremote".into(),
            version: Some("0.1.0".into()),
        }
    }

    fn health() -> Health {
        Health {
            status: "ok".into(),
            host: "box".into(),
            version: "0.1.0".into(),
            target: "x86_64-unknown-linux-musl".into(),
            pid: 42,
            uptime_s: 1,
            started_at: "x".into(),
        }
    }

    fn plan(probe: &Probe, health: Option<&Health>, sha: &str, force: bool) -> Plan {
        Plan::install(
            Inputs {
                host: "box",
                destination: "ann@box",
                probe,
                health,
                start_methods: vec![StartMethod::Setsid, StartMethod::Nohup],
                port: 0,
                root: None,
                health_timeout_s: 60,
                force,
            },
            &chosen(sha),
        )
    }

    #[test]
    fn planning_from_what_the_probe_found() {
        let sha = "a".repeat(64);
        let other = "b".repeat(64);
        let install = vec![Step::Upload, Step::Lock, Step::InstallStart, Step::Health];
        let h = health();
        // (what is installed, running and healthy?, forced) → (action, steps)
        for (probe, health, force, action, steps) in [
            (probe(None, false), None, false, Action::Install, install.clone()),
            (probe(Some(&sha), true), Some(&h), false, Action::UpToDate, vec![]),
            (
                probe(Some(&sha), true),
                Some(&h),
                true,
                Action::Install,
                install.clone(),
            ),
            (probe(Some(&sha), true), None, false, Action::Install, install.clone()),
            (probe(Some(&sha), false), None, false, Action::Install, install.clone()),
            (
                probe(Some(&other), true),
                Some(&h),
                false,
                Action::Install,
                install.clone(),
            ),
        ] {
            let p = plan(&probe, health, &sha, force);
            assert_eq!((p.action, &p.steps), (action, &steps), "{probe:?} {force}");
        }
    }

    #[test]
    fn a_root_other_than_the_installed_one_reinstalls() {
        let sha = "a".repeat(64);
        let h = health();
        let mut p = probe(Some(&sha), true);
        p.home = "/home/ann".into();
        for (given, installed, action) in [
            (None, None, Action::UpToDate),
            (Some("~"), None, Action::UpToDate),
            (Some("/home/ann/"), None, Action::UpToDate),
            (Some("proj"), None, Action::Install),
            (Some("proj"), Some("/home/ann/proj"), Action::UpToDate),
            (Some("~/proj/"), Some("/home/ann/proj"), Action::UpToDate),
            (Some("/srv/data"), Some("/home/ann/proj"), Action::Install),
            (None, Some("/home/ann/proj"), Action::UpToDate),
            (Some("~"), Some("/home/ann/proj"), Action::Install),
            (Some("/"), None, Action::Install),
        ] {
            p.install = Some(InstallInfo {
                root: installed.map(str::to_owned),
                ..InstallInfo::default()
            });
            let planned = Plan::install(
                Inputs {
                    host: "box",
                    destination: "ann@box",
                    probe: &p,
                    health: Some(&h),
                    start_methods: vec![StartMethod::Setsid],
                    port: 0,
                    root: given,
                    health_timeout_s: 60,
                    force: false,
                },
                &chosen(&sha),
            );
            assert_eq!(planned.action, action, "{given:?} over {installed:?}");
        }
        assert_eq!(file_root("/home/ann", Some("/")).as_deref(), Some("/"));
        assert_eq!(file_root("/home/ann", Some("a/b")).as_deref(), Some("/home/ann/a/b"));
    }

    #[test]
    fn the_text_names_each_step_and_what_runs_now() {
        let sha = "a".repeat(64);
        let text = plan(&probe(Some(&"b".repeat(64)), true), Some(&health()), &sha, false).to_string();
        assert!(text.starts_with("plan for box (ann@box, Linux x86_64):"), "{text}");
        assert!(text.contains("0.1.0, 1000 bytes"), "{text}");
        assert!(text.contains("rename into /home/ann/.mlcremote/mlcremote"), "{text}");
        assert!(text.contains("stop the running server (pid 42, port 8080)"), "{text}");
        assert!(
            text.contains("first that works of: setsid, nohup; any free port"),
            "{text}"
        );
        let text = plan(&probe(Some(&sha), true), Some(&health()), &sha, false).to_string();
        assert!(text.contains("nothing to do"), "{text}");
    }
}
