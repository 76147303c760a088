//! `cargo mlcremote deploy` for one host: SPEC §6 steps 1–10 over one SSH connection.
//!
//! Connect, probe, choose the binary, then make a [`Plan`] ([`plan`]); `--dry-run` stops
//! there, deploy executes the plan's steps in order: take the lock, upload (or build on
//! the host, [`remote_build`]), install and start, verify `/health`. A failure after the
//! new binary is in place puts the previous one back.

mod cache;
mod install;
mod lock;
pub mod plan;
pub mod remote_build;

use std::{sync::Arc, time::Duration};

use serde::Serialize;

use self::plan::{Action, Inputs};
pub use self::{cache::RunCache, plan::Plan};
use crate::{
    artifact::{BuildWhere, Chosen, DownloadOn, Origin, Payload, Source},
    delegate::{Reporter, Step, StepTime, Steps},
    err,
    error::{Error, Result},
    remote::{Health, Probe, StartMethod, agent::Event as AgentEvent, health, start, upload},
    ssh::{Route, Session},
};

/// Everything deploy needs besides the host.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    pub source: Source,
    /// `--install-dir`, `~/.mlcremote` by default; `~/` is the remote home.
    pub install_dir: String,
    /// `--server-port`, 0 = any free port.
    pub server_port: u16,
    /// `--root`: the server's file root on the host (`None`: the home folder).
    pub root: Option<String>,
    /// `None` = auto: the SPEC order among those that work on the host.
    pub start_method: Option<StartMethod>,
    pub health_timeout: Duration,
    /// Reinstall even when the installed binary is identical and healthy.
    pub force: bool,
    /// Plan and change nothing.
    pub dry_run: bool,
    /// `--yes`: consent to what the remote build asks for (installing a toolchain).
    pub yes: bool,
    /// Who downloads a release archive.
    pub download_on: DownloadOn,
    /// What this run made once for all its hosts.
    pub cache: RunCache,
}

pub const DEFAULT_INSTALL_DIR: &str = "~/.mlcremote";

impl DeployOptions {
    pub fn new(source: Source) -> DeployOptions {
        DeployOptions {
            source,
            install_dir: DEFAULT_INSTALL_DIR.into(),
            server_port: 0,
            root: None,
            start_method: None,
            health_timeout: Duration::from_secs(60),
            force: false,
            dry_run: false,
            yes: false,
            download_on: DownloadOn::Auto,
            cache: RunCache::default(),
        }
    }
}

/// How a deploy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Outcome {
    #[serde(rename = "installed")]
    Installed,
    #[serde(rename = "up to date")]
    UpToDate,
    /// `--dry-run`.
    #[serde(rename = "planned")]
    Planned,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Installed => "installed",
            Outcome::UpToDate => "up to date",
            Outcome::Planned => "planned",
        }
    }
}

/// What happened, for the final report (and `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The host as the user named it.
    pub host: String,
    /// Where that resolved to: `user@host:port`.
    pub destination: String,
    pub result: Outcome,
    pub target: String,
    /// Where the binary came from: a file here, or "built on <host> with <way>".
    pub artifact: String,
    pub origin: Origin,
    pub version: Option<String>,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub start_method: Option<StartMethod>,
    pub install_dir: String,
    /// `/health` as the server answered it.
    pub health: Option<Health>,
    /// Each step and how long it took, in order.
    pub steps: Vec<StepTime>,
    /// What went over the wire to the host, when the client uploaded the binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<Sent>,
    /// What was planned (the whole of a `--dry-run`).
    pub plan: Plan,
}

/// An upload: how many bytes, and in what form.
#[derive(Clone, Debug, Serialize)]
pub struct Sent {
    pub bytes: u64,
    /// `tar.gz` (the archive it came in, as it is), `xz` or `gzip` (compressed here) or
    /// `raw`.
    #[serde(rename = "as")]
    pub packing: &'static str,
}

/// Deploy to one host.
pub async fn deploy(route: &Route, options: &DeployOptions, reporter: &Reporter) -> Result<Report> {
    options.cache.prefetch(&options.source);
    let mut steps = Steps::new(reporter.clone());
    steps.start(Step::Connect);
    let session = Session::connect(&route.destination, &route.options, reporter)
        .await
        .map_err(|e| steps.failed(e))?;
    steps.done(Step::Connect);
    let result = deploy_on(&session, route, options, &mut steps).await;
    session.close().await;
    result.map_err(|e| steps.failed(e))
}

async fn deploy_on(session: &Session, route: &Route, options: &DeployOptions, steps: &mut Steps) -> Result<Report> {
    steps.start(Step::Probe);
    // The probe's channel and the upload's open together: one round trip for all.
    let wanted = if options.dry_run { 1 } else { 1 + UPLOAD_CHANNELS };
    let mut channels = session.open_channels(wanted).await?;
    let probe_channel = channels.remove(0);
    let round_trip = session.round_trip();
    if !options.dry_run && upload::compress_for(round_trip) {
        let small_window = session.small_window();
        let _detached = options.cache.speculate(&options.source, move |len| {
            upload::upload_parts(len, small_window, round_trip, UPLOAD_CHANNELS)
        });
    }
    let probe = Probe::run_on(session, Some(probe_channel), &options.install_dir).await?;
    let platform = mlcremote_release::target::Platform::from_uname(&probe.uname)?;
    steps.done(Step::Probe);
    if let Some(problem) = probe.dir_problem() {
        return Err(Error::new(crate::error::Kind::Install, problem));
    }
    let methods = start::start_methods(options.start_method, &probe)?;
    let destination = route.destination.to_string();
    let inputs = |health| Inputs {
        host: &route.name,
        destination: &destination,
        probe: &probe,
        health,
        start_methods: methods.clone(),
        port: options.server_port,
        root: options.root.as_deref(),
        health_timeout_s: options.health_timeout.as_secs(),
        force: options.force,
    };

    // `--build remote|auto`: build on the host when it has a way to.
    if let Source::Build(mode @ (BuildWhere::Remote | BuildWhere::Auto)) = options.source {
        let docker = remote_build::docker_answers(session, &probe).await?;
        let ways = remote_build::methods(mode, &probe, docker);
        if !ways.is_empty() {
            let target = platform.targets().first().map_or("", |t| t.triple);
            let build = remote_build::plan(&probe, &ways, &mlcremote_release::source::stem());
            let plan = Plan::build_on_host(inputs(None), target, env!("CARGO_PKG_VERSION"), build);
            return Executor::new(session, route, options, steps, probe.clone(), plan, None, ways)
                .run(channels)
                .await;
        }
    }

    steps.start(Step::Choose);
    let chosen = choose(options, &probe, &platform, steps.reporter()).await?;
    steps.done(Step::Choose);
    // A server runs: does it answer? The probe asked it already where the installed
    // binary has an agent; else once more, through the SSH connection.
    let health = match (probe.running_server(), &probe.agent) {
        (Some(_), Some(_)) => probe.health.clone(),
        (Some(server), None) => health::once(session, &probe.dir, server.port).await.ok(),
        (None, _) => None,
    };
    let plan = Plan::install(inputs(health.as_ref()), &chosen);
    if plan.action == Action::UpToDate {
        let mut report = Report::new(route, &probe, &plan, &chosen.from, chosen.origin, Outcome::UpToDate);
        report.fill_from_health(health);
        report.port = probe.running_server().map(|s| s.port);
        report.start_method = probe.install.as_ref().and_then(|i| i.start_method());
        report.steps = steps.take();
        return Ok(report);
    }
    Executor::new(
        session,
        route,
        options,
        steps,
        probe.clone(),
        plan,
        Some(chosen),
        Vec::new(),
    )
    .run(channels)
    .await
}

/// The binary for this host: for a release, the archive the host downloads itself when
/// it can (`--download-on auto|host`), else the one this machine downloads and uploads.
/// With no source given, `dist/` first when it has an archive for the host.
async fn choose(
    options: &DeployOptions,
    probe: &Probe,
    platform: &mlcremote_release::target::Platform,
    reporter: &Reporter,
) -> Result<Arc<Chosen>> {
    let release = match &options.source {
        Source::Release(release) => release,
        Source::Default { release, .. } => {
            if let Some(local) = options.source.local()
                && let Ok(chosen) = options.cache.get(&local, platform, reporter).await
            {
                return Ok(chosen);
            }
            release
        }
        other => return options.cache.get(other, platform, reporter).await,
    };
    if options.download_on != DownloadOn::Client {
        let host_only = options.download_on == DownloadOn::Host;
        match probe.cannot_download() {
            Some(why) if host_only => {
                return Err(err!(
                    Artifact,
                    "--download-on host: {why}, so it cannot download the release; install one, or pass --download-on client"
                ));
            }
            Some(_) => {}
            None => match options.cache.remote(release, platform).await {
                Ok(Some(chosen)) => return Ok(chosen),
                Ok(None) if host_only => {
                    return Err(err!(
                        Artifact,
                        "--download-on host: release {} of {} has no .tar.gz archive described in its dist-manifest.json, \
                         so the host cannot check what it downloads; pass --download-on client",
                        release.tag,
                        release.repo
                    ));
                }
                Ok(None) => {}
                Err(e) => return Err(not_released(&options.source, e)),
            },
        }
    }
    options
        .cache
        .get(&Source::Release(release.clone()), platform, reporter)
        .await
        .map_err(|e| not_released(&options.source, e))
}

/// A default deploy whose release cannot be had says what to do instead.
fn not_released(source: &Source, error: Error) -> Error {
    let Source::Default { dist, release } = source else {
        return error;
    };
    let message = format!(
        "{}. With no --artifact, --dist, --release or --build, deploy uses {}/ when it has an archive \
         for the host, else release {} of {}: in a checkout, run `cargo xtask dist` first (or pass --build \
         local), or point MLCREMOTE_RELEASE_BASE_URL at a mirror",
        error.message(),
        dist.display(),
        release.tag,
        release.repo
    );
    let renamed = Error::new(error.kind(), message);
    match error.detail() {
        Some(detail) => renamed.with_detail(detail.to_string()),
        None => renamed,
    }
}

impl Report {
    fn new(route: &Route, probe: &Probe, plan: &Plan, from: &str, origin: Origin, result: Outcome) -> Report {
        Report {
            host: route.name.clone(),
            destination: route.destination.to_string(),
            result,
            target: plan.artifact.target.clone(),
            artifact: from.to_string(),
            origin,
            version: None,
            pid: None,
            port: None,
            start_method: None,
            install_dir: probe.dir.clone(),
            health: None,
            steps: Vec::new(),
            sent: None,
            plan: plan.clone(),
        }
    }

    fn fill_from_health(&mut self, health: Option<Health>) {
        if let Some(h) = &health {
            self.version = Some(h.version.clone());
            self.pid = Some(h.pid);
        }
        self.health = health;
    }
}

/// Carries out a plan's steps in order; holds what one step leaves for the next.
struct Executor<'a> {
    session: &'a Session,
    route: &'a Route,
    options: &'a DeployOptions,
    steps: &'a mut Steps,
    probe: Probe,
    plan: Plan,
    chosen: Option<Arc<Chosen>>,
    /// For a build on the host: the ways to try.
    ways: Vec<remote_build::Method>,
    /// The host could not download the release archive (then auto uploads it instead).
    host_could_not_download: bool,
}

/// What the install exec came to.
struct Installed {
    health: Health,
    port: u16,
    start_method: Option<StartMethod>,
    sent: Option<Sent>,
}

impl<'a> Executor<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        session: &'a Session,
        route: &'a Route,
        options: &'a DeployOptions,
        steps: &'a mut Steps,
        probe: Probe,
        plan: Plan,
        chosen: Option<Arc<Chosen>>,
        ways: Vec<remote_build::Method>,
    ) -> Executor<'a> {
        Executor {
            session,
            route,
            options,
            steps,
            probe,
            plan,
            chosen,
            ways,
            host_could_not_download: false,
        }
    }

    /// Run the plan; `channels` are open already for the upload.
    async fn run(mut self, channels: Vec<crate::ssh::Channel>) -> Result<Report> {
        let (from, origin) = match &self.chosen {
            Some(c) => (c.from.clone(), c.origin),
            None => (self.plan.artifact.from.clone(), Origin::BuiltOnHost),
        };
        if self.options.dry_run {
            let mut report = Report::new(self.route, &self.probe, &self.plan, &from, origin, Outcome::Planned);
            report.start_method = self.plan.start_methods.first().copied();
            report.steps = self.steps.take();
            return Ok(report);
        }
        if let Some(chosen) = &self.chosen {
            enough_space(&self.probe, chosen)?;
        }
        let result = match self.plan.action {
            Action::BuildOnHost => self.build_then_install(channels).await,
            _ => match self.install(channels, None).await {
                Err(e) if self.host_could_not_download && self.options.download_on == DownloadOn::Auto => {
                    self.upload_instead(e).await
                }
                result => result,
            },
        };
        let installed = result?;
        let chosen_from = self.chosen.as_ref().map_or(from, |c| c.from.clone());
        let origin = self.chosen.as_ref().map_or(origin, |c| c.origin);
        let mut report = Report::new(
            self.route,
            &self.probe,
            &self.plan,
            &chosen_from,
            origin,
            Outcome::Installed,
        );
        if let Some(chosen) = &self.chosen {
            report.target = chosen.target.triple.to_string();
        }
        report.port = Some(installed.port);
        report.start_method = installed.start_method;
        report.sent = installed.sent;
        report.fill_from_health(Some(installed.health));
        report.steps = self.steps.take();
        Ok(report)
    }

    /// `--build remote`: under the client's lock (the build folder is shared), build on
    /// the host (or here), then install with the lock handed to the agent.
    async fn build_then_install(&mut self, channels: Vec<crate::ssh::Channel>) -> Result<Installed> {
        // The bundle first: without it there is nothing to build, and nothing to lock for.
        let bundle = self.options.cache.bundle(self.steps.reporter()).await?;
        self.steps.start(Step::Lock);
        let wait = lock::LOCK_WAIT.max(self.options.health_timeout);
        let (held, _) = lock::lock(self.session, &self.probe, wait).await?;
        self.steps.done(Step::Lock);
        let holder = held.output.lines().find_map(|l| match AgentEvent::parse(l) {
            Some(AgentEvent::Locked { holder }) => Some(holder),
            _ => None,
        });
        self.steps.start(Step::Build);
        let result = match self.build(&bundle).await {
            Ok(()) => {
                self.steps.done(Step::Build);
                self.install(channels, holder).await
            }
            Err(e) => Err(e),
        };
        lock::unlock(self.session, &self.probe, held, holder).await;
        result
    }

    /// Build on the host, falling back to building here (then the binary is uploaded
    /// instead of copied, and the plan says so).
    async fn build(&mut self, bundle: &mlcremote_release::source::Bundle) -> Result<()> {
        let platform = mlcremote_release::target::Platform::from_uname(&self.probe.uname)?;
        let reporter = self.steps.reporter().clone();
        let built = remote_build::build(
            self.session,
            &self.probe,
            &platform,
            &self.ways,
            self.options.yes,
            bundle,
            &reporter,
        )
        .await?;
        let chosen = match built {
            remote_build::Built::Binary(chosen) => Arc::new(chosen),
            remote_build::Built::NotPossible(reasons) => {
                reporter.note(format!(
                    "cannot build on the host ({}); building here",
                    reasons.join("; ")
                ));
                let local = self
                    .options
                    .cache
                    .get(&Source::Build(BuildWhere::Local), &platform, &reporter)
                    .await;
                local.map_err(|e| {
                    let detail = format!("building on the host: {}", reasons.join("; "));
                    let detail = match e.detail() {
                        Some(more) => format!("{more}\n{detail}"),
                        None => detail,
                    };
                    e.with_detail(detail)
                })?
            }
        };
        enough_space(&self.probe, &chosen)?;
        self.plan.artifact.sha256 = Some(chosen.sha256.clone());
        self.plan.artifact.size = Some(chosen.size);
        self.plan.artifact.target = chosen.target.triple.to_string();
        if matches!(chosen.payload, Payload::Bytes(_)) {
            for step in &mut self.plan.steps {
                if *step == Step::Copy {
                    *step = Step::Upload;
                }
            }
        }
        self.chosen = Some(chosen);
        Ok(())
    }

    /// `--download-on auto`: the host could not download the release archive; download it
    /// here and upload it. Nothing on the host has changed yet.
    async fn upload_instead(&mut self, why: Error) -> Result<Installed> {
        let reporter = self.steps.reporter().clone();
        reporter.note(format!("{}; downloading it here and uploading it", why.message()));
        let platform = mlcremote_release::target::Platform::from_uname(&self.probe.uname)?;
        self.steps.start(Step::Choose);
        let chosen = self
            .options
            .cache
            .get(&self.options.source, &platform, &reporter)
            .await?;
        self.steps.done(Step::Choose);
        enough_space(&self.probe, &chosen)?;
        for step in &mut self.plan.steps {
            if *step == Step::Download {
                *step = Step::Upload;
            }
        }
        self.plan.artifact.from = chosen.from.clone();
        self.chosen = Some(chosen);
        let channels = self.session.open_channels(UPLOAD_CHANNELS).await?;
        self.install(channels, None).await
    }
}

/// Channels opened beside the probe's, for the upload: a server with a small channel
/// window (Dropbear's 24 KiB) gets the payload over several at once.
const UPLOAD_CHANNELS: usize = 8;

/// Room for the upload and the old binary kept beside it.
fn enough_space(probe: &Probe, chosen: &Chosen) -> Result<()> {
    match probe.free_kb {
        Some(free) if free.saturating_mul(1024) < chosen.size * 2 => Err(err!(
            Install,
            "not enough space in {}: {} KiB free, {} KiB needed; free some space or pass --install-dir",
            probe.dir,
            free,
            chosen.size * 2 / 1024
        )),
        _ => Ok(()),
    }
}
