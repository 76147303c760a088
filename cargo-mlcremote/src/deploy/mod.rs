//! `cargo mlcremote deploy` for one host: SPEC §6 steps 1–10 over one SSH connection.
//!
//! Connect, probe, choose the binary, then make a [`Plan`] ([`plan`]); `--dry-run` stops
//! there, deploy executes the plan's steps in order: take the lock, upload (or build on
//! the host, [`remote_build`]), install and start, verify `/health`. A failure after the
//! new binary is in place puts the previous one back.

pub mod plan;
pub mod remote_build;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;

pub use self::plan::Plan;
use self::plan::{Action, Inputs};
use crate::{
    artifact::{self, BuildWhere, Chosen, DownloadOn, Origin, Payload, Source},
    delegate::{Event, Reporter, Step, StepTime, Steps},
    err,
    error::{Error, Result},
    remote::{
        Health, Probe, StartMethod,
        agent::{self, AgentStep, Event as AgentEvent},
        health, script_error, scripts, start, status, upload,
    },
    ssh::{Hold, Route, Session, random_hex},
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

/// Hosts of one platform get the same verified binary: read, check and hash it (or
/// download or build it) once per run, not once per host. The source bundle a remote
/// build uploads is made once too.
#[derive(Clone, Default)]
pub struct RunCache {
    chosen: Arc<tokio::sync::Mutex<ByPlatform<Arc<Chosen>>>>,
    /// Release archives for hosts to download themselves.
    remote: Arc<tokio::sync::Mutex<ByPlatform<Option<Arc<Chosen>>>>>,
    bundle: Arc<tokio::sync::OnceCell<Arc<mlcremote_release::source::Bundle>>>,
    /// Each binary gzip-compressed (by sha256 and level), or `None` where that does not pay.
    gzipped: Arc<tokio::sync::Mutex<BySha<Compressed>>>,
    /// Where the server's source comes from outside a checkout (`--build`): this
    /// release's source bundle.
    source_release: Option<artifact::release::Release>,
    /// `--artifact`/`--dist` read and hashed while the first host connects.
    loaded: Arc<tokio::sync::OnceCell<Arc<Result<Option<artifact::Loaded>>>>>,
}

impl std::fmt::Debug for RunCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunCache")
    }
}

type ByPlatform<T> = Vec<(mlcremote_release::target::Platform, T)>;
type Bytes = Arc<[u8]>;
/// Keyed by a binary's sha256.
type BySha<T> = Vec<(String, T)>;
/// A binary compressed at a level: the bytes, or `None` where compressing does not pay.
type Compressed = (upload::Level, Option<Bytes>);

impl RunCache {
    /// A cache whose `--build` falls back to `release`'s source bundle outside a checkout.
    pub fn with_source_release(release: Option<artifact::release::Release>) -> RunCache {
        RunCache {
            source_release: release,
            ..RunCache::default()
        }
    }

    /// Start reading what `source` holds, so it is ready when a host's platform is known.
    pub fn prefetch(&self, source: &Source) {
        if let Some(source) = source.local()
            && !self.loaded.initialized()
        {
            let cache = self.clone();
            tokio::spawn(async move {
                cache.load(&source).await;
            });
        }
    }

    async fn load(&self, source: &Source) -> Arc<Result<Option<artifact::Loaded>>> {
        let source = source.clone();
        self.loaded
            .get_or_init(|| async move {
                let loaded = tokio::task::spawn_blocking(move || artifact::load(&source)).await;
                Arc::new(loaded.unwrap_or_else(|e| Err(err!(Other, "reading the artifact crashed: {e}"))))
            })
            .await
            .clone()
    }

    /// The binary for `platform`; a download or build shows on `reporter`'s host.
    async fn get(
        &self,
        source: &Source,
        platform: &mlcremote_release::target::Platform,
        reporter: &Reporter,
    ) -> Result<Arc<Chosen>> {
        if matches!(source, Source::Artifact(_) | Source::Dist(_)) {
            let loaded = self.load(source).await;
            return match loaded.as_ref() {
                Ok(Some(loaded)) => artifact::pick(loaded, platform).map(Arc::new),
                Ok(None) => Err(err!(Other, "nothing was read from {source:?}")),
                Err(e) => Err(Error::new(e.kind(), e.message()).with_detail(e.detail().unwrap_or_default())),
            };
        }
        // Held while choosing, so hosts that arrive together wait for one choice.
        let mut cache = self.chosen.lock().await;
        if let Some((_, chosen)) = cache.iter().find(|(p, _)| p == platform) {
            return Ok(chosen.clone());
        }
        // A build here needs a source tree: the checkout, or the release's bundle.
        let workspace = match source {
            Source::Build(_) => Some(self.workspace(reporter).await?),
            _ => None,
        };
        // Choosing may download or build: keep that off the async workers.
        let (source, on) = (source.clone(), platform.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let task = tokio::task::spawn_blocking(move || {
            let mut report = |progress: artifact::Progress<'_>| {
                let event = match progress {
                    artifact::Progress::Download { done, total } => Event::Download { done, total },
                    artifact::Progress::Build(line) => Event::BuildOutput { line: line.to_string() },
                };
                let _ = tx.send(event);
            };
            if let Some(workspace) = &workspace {
                return artifact::build_here(workspace, &on, &mut report);
            }
            artifact::choose(&source, &on, &mut report)
        });
        // Ends when the chooser is done and drops its sender.
        while let Some(event) = rx.recv().await {
            reporter.event(event);
        }
        let chosen = task
            .await
            .map_err(|e| err!(Other, "choosing the artifact crashed: {e}"))??;
        let chosen = Arc::new(chosen);
        cache.push((platform.clone(), chosen.clone()));
        Ok(chosen)
    }

    /// The release archive for `platform` for the host to download itself, as the
    /// release's `SHA256SUMS` and `dist-manifest.json` describe it; `None` when they do
    /// not say enough.
    async fn remote(
        &self,
        release: &artifact::release::Release,
        platform: &mlcremote_release::target::Platform,
    ) -> Result<Option<Arc<Chosen>>> {
        let mut cache = self.remote.lock().await;
        if let Some((_, chosen)) = cache.iter().find(|(p, _)| p == platform) {
            return Ok(chosen.clone());
        }
        let (release, candidates) = (release.clone(), platform.targets());
        let remote = tokio::task::spawn_blocking(move || release.remote(&candidates))
            .await
            .map_err(|e| err!(Other, "reading the release crashed: {e}"))??;
        let chosen = remote.map(|r| Arc::new(Chosen::remote(r)));
        cache.push((platform.clone(), chosen.clone()));
        Ok(chosen)
    }

    /// What goes over the wire for `chosen`'s bytes: the archive they came in when the
    /// host can unpack it, else compressed once a run, not once a host.
    async fn payload(
        &self,
        chosen: &Chosen,
        bytes: &Arc<[u8]>,
        probe: &Probe,
        level: Option<upload::Level>,
    ) -> upload::Payload {
        let raw = || upload::Payload {
            data: bytes.clone(),
            packing: upload::Packing::Raw,
        };
        if !probe.has("gzip") {
            return raw();
        }
        // Already compressed: sending it as it is costs this machine nothing, on any link.
        if let Some(packed) = &chosen.packed
            && probe.has("tar")
        {
            return upload::Payload {
                data: packed.archive.clone(),
                packing: upload::Packing::TarGz {
                    inner: packed.inner.clone(),
                },
            };
        }
        let Some(level) = level else {
            return raw();
        };
        // Held while compressing, so hosts that arrive together wait for one compression.
        let mut cache = self.gzipped.lock().await;
        let gzipped = match cache.iter().find(|(sha, (l, _))| *sha == chosen.sha256 && *l == level) {
            Some((_, (_, gzipped))) => gzipped.clone(),
            None => {
                let input = bytes.clone();
                let gzipped = tokio::task::spawn_blocking(move || upload::gzipped(&input, level))
                    .await
                    .ok()
                    .flatten()
                    .map(Arc::from);
                cache.push((chosen.sha256.clone(), (level, gzipped.clone())));
                gzipped
            }
        };
        match gzipped {
            Some(data) => upload::Payload {
                data,
                packing: upload::Packing::Gzip,
            },
            None => raw(),
        }
    }

    /// The source bundle of the checkout we run in, made on first use; outside a
    /// checkout, the release's, downloaded and verified.
    async fn bundle(&self, reporter: &Reporter) -> Result<Arc<mlcremote_release::source::Bundle>> {
        let release = self.source_release.clone();
        let reporter = reporter.clone();
        let made = self.bundle.get_or_try_init(|| async move {
            let bundle = tokio::task::spawn_blocking(move || -> Result<_> {
                let here = std::env::current_dir()?;
                match (mlcremote_release::build::workspace_at(&here), release) {
                    (Ok(workspace), _) => Ok(mlcremote_release::source::bundle(&workspace, 0)?),
                    (Err(_), Some(release)) => {
                        reporter.note(format!(
                            "not in an mlcremote checkout: building from the source bundle of release {} of {}",
                            release.tag, release.repo
                        ));
                        release.source_bundle(&mut |done, total| reporter.event(Event::Download { done, total }))
                    }
                    (Err(e), None) => Err(e.into()),
                }
            });
            match bundle.await {
                Ok(bundle) => Ok(Arc::new(bundle?)),
                Err(e) => Err(err!(Other, "making the source bundle crashed: {e}")),
            }
        });
        made.await.cloned()
    }

    /// A source tree to build in here: the checkout we run in, or the release's source
    /// bundle unpacked under the user cache dir.
    async fn workspace(&self, reporter: &Reporter) -> Result<std::path::PathBuf> {
        let here = std::env::current_dir()?;
        if let Ok(workspace) = mlcremote_release::build::workspace_at(&here) {
            return Ok(workspace);
        }
        let bundle = self.bundle(reporter).await?;
        let cache = dirs::cache_dir()
            .ok_or_else(|| err!(Other, "no user cache dir on this machine"))?
            .join("mlcremote")
            .join("src");
        let unpacked = tokio::task::spawn_blocking(move || bundle.unpack(&cache)).await;
        match unpacked {
            Ok(tree) => Ok(tree?),
            Err(e) => Err(err!(Other, "unpacking the source bundle crashed: {e}")),
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
    /// `tar.gz` (the archive it came in, as it is), `gzip` (compressed here) or `raw`.
    #[serde(rename = "as")]
    pub packing: &'static str,
}

/// Over how many channels `len` bytes go up: as many as keep the link full. A channel
/// has at most its window in flight, which on a long link is less than the link carries
/// in a round trip. Dropbear's 24 KiB is that already on a LAN: always split. OpenSSH's
/// 2 MiB keeps 1 Gbit/s full up to 16 ms: on a shorter link one channel keeps up, and
/// every other part would cost the host a shell and a wait.
fn upload_parts(len: usize, small_window: bool, round_trip: Option<Duration>, channels: usize) -> usize {
    /// The fastest link planned for: 1 Gbit/s.
    const BYTES_PER_SEC: f64 = 125e6;
    let channels = channels.max(1);
    if small_window {
        return len.div_ceil(24 << 10).clamp(1, channels);
    }
    let window = 1 << 20;
    // Unknown: as if long.
    let in_flight = round_trip.map_or(f64::INFINITY, |rtt| rtt.as_secs_f64() * BYTES_PER_SEC);
    let for_link = (in_flight / window as f64).ceil().clamp(1.0, channels as f64) as usize;
    len.div_ceil(window).clamp(1, for_link)
}

/// Channels opened beside the probe's, for the upload: a server with a small channel
/// window (Dropbear's 24 KiB) gets the payload over several at once.
const UPLOAD_CHANNELS: usize = 8;

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
        let (held, _) = lock(self.session, &self.probe, self.options).await?;
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
        unlock(self.session, &self.probe, held, holder).await;
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

    /// SPEC §6 steps 5–8 in one exec: the binary goes up (or is copied where it was
    /// built), checks it runs, and its own `agent install` takes the lock on the host,
    /// swaps, starts, waits for `/health` and rolls back on failure. Each step is marked
    /// done as its line arrives.
    async fn install(&mut self, mut channels: Vec<crate::ssh::Channel>, lock_holder: Option<u32>) -> Result<Installed> {
        let chosen = self
            .chosen
            .clone()
            .ok_or_else(|| err!(Other, "nothing was chosen to install"))?;
        let dir = self.probe.dir.clone();
        let nothing = || upload::Payload::new(Vec::new().into(), false);
        let (payload, receive, place) = match &chosen.payload {
            Payload::Bytes(bytes) => {
                let level = upload::Level::for_link(self.session.round_trip());
                let payload = self.options.cache.payload(&chosen, bytes, &self.probe, level).await;
                let parts = upload_parts(
                    payload.data.len(),
                    self.session.small_window(),
                    self.session.round_trip(),
                    channels.len(),
                );
                let receive = upload::Receive::Upload {
                    parts: payload.parts(parts).len(),
                    packing: payload.packing.clone(),
                    total: payload.data.len(),
                };
                (payload, receive, Step::Upload)
            }
            Payload::OnHost(from) => (nothing(), upload::Receive::Copy { from }, Step::Copy),
            Payload::Url(remote) => {
                let receive = upload::Receive::Download {
                    url: &remote.url,
                    archive_sha256: &remote.archive_sha256,
                    inner: &remote.inner,
                };
                (nothing(), receive, Step::Download)
            }
        };
        let ranges = match &receive {
            upload::Receive::Upload { parts, .. } => payload.parts(*parts),
            _ => Vec::new(),
        };
        let id = random_hex(6);
        let owner = format!(
            "cargo-mlcremote pid {} on {}",
            std::process::id(),
            crate::ssh::config::Local::current().hostname
        );
        // The host reports steps as they end; each one's end starts the next, so a front
        // end always knows which step runs (and which one failed).
        let locked_already = lock_holder.is_some();
        let install = upload::Install {
            dir: &dir,
            id: &id,
            receive,
            sha256: &chosen.sha256,
            size: chosen.size,
            port: self.options.server_port,
            root: self.plan.root.as_deref(),
            methods: &self.plan.start_methods,
            health_timeout_secs: self.options.health_timeout.as_secs(),
            owner: &owner,
            lock_holder,
            wait_secs: self.session.connect_timeout().as_secs().max(1),
            idle_secs: self.session.dead_after().as_secs().max(1),
        };
        let timeout = self.options.health_timeout + LOCK_WAIT + Duration::from_secs(3600);
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let total = payload.data.len() as u64;
        let session = self.session;
        let reporter = self.steps.reporter().clone();

        // Progress of the bytes, shown while they go.
        let ticker = {
            let (sent, reporter) = (sent.clone(), reporter.clone());
            tokio::spawn(async move {
                let mut last = u64::MAX;
                loop {
                    let now = sent.load(std::sync::atomic::Ordering::Relaxed);
                    if now != last {
                        reporter.event(Event::Upload { sent: now, total });
                        last = now;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let mut extra = channels.split_off(1.min(channels.len()));
        let main_channel = channels.pop();
        let parts_done = futures_util::future::join_all(ranges.iter().enumerate().skip(1).map(|(k, range)| {
            let channel = (!extra.is_empty()).then(|| extra.remove(0));
            let data: Arc<[u8]> = Arc::from(&payload.data[range.clone()]);
            let line = install.part_line(k);
            let sent = sent.clone();
            async move {
                session
                    .run_with_payload(channel, &line, data, sent, timeout, &mut |_| {})
                    .await
            }
        }));
        let main_data: Arc<[u8]> = Arc::from(&payload.data[ranges.first().cloned().unwrap_or(0..0)]);
        let main_line = install.main_line();
        let steps = &mut *self.steps;
        steps.start(place);
        let mut on_line = |line: &str| {
            if line == "received=1" {
                steps.done(place);
                steps.start(if locked_already { Step::InstallStart } else { Step::Lock });
                return;
            }
            match AgentEvent::parse(line) {
                Some(AgentEvent::Waiting { holder, since }) => {
                    reporter.note(format!(
                        "waiting for the deploy lock in {dir} (held by {holder} since {since})"
                    ));
                }
                Some(AgentEvent::Step { step, .. }) => match step {
                    AgentStep::Lock => {
                        steps.done(Step::Lock);
                        steps.start(Step::InstallStart);
                    }
                    AgentStep::InstallStart => {
                        steps.done(Step::InstallStart);
                        steps.start(Step::Health);
                    }
                    AgentStep::Health => steps.done(Step::Health),
                    _ => {}
                },
                _ => {}
            }
        };
        let main = session.run_with_payload(main_channel, &main_line, main_data, sent.clone(), timeout, &mut on_line);
        let (main, parts) = futures_util::future::join(main, parts_done).await;
        ticker.abort();
        drop(extra);
        let out = main?;
        for part in parts {
            let part = part?;
            if part.status != 0 {
                return Err(script_error(&part, &self.probe.dir));
            }
        }
        if matches!(install.receive, upload::Receive::Download { .. }) && out.status == status::DOWNLOAD_FAILED {
            self.host_could_not_download = true;
        }
        match agent::outcome(&out, &self.probe.dir)? {
            AgentEvent::Done {
                health,
                port,
                start_method,
                ..
            } => Ok(Installed {
                health,
                port,
                start_method: Some(start_method),
                sent: matches!(install.receive, upload::Receive::Upload { .. }).then(|| Sent {
                    bytes: payload.data.len() as u64,
                    packing: payload.packing.name(),
                }),
            }),
            _ => Err(script_error(&out, &self.probe.dir)),
        }
    }
}

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

/// Let the lock's holder go. The agent removes the lock the moment its channel closes;
/// the shell's holder notices only when it next writes, so its lock is removed first
/// (only while it is still this holder's), and the next deploy need not wait.
async fn unlock(session: &Session, probe: &Probe, held: crate::ssh::Held, holder: Option<u32>) {
    if !agent::has_host_commands(probe)
        && let Some(holder) = holder
    {
        let _ = session.run(&scripts::unlock_script(&probe.dir, holder)).await;
    }
    held.release().await;
}

/// How long to wait for another deploy's lock on the same host.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// Take the deploy lock, waiting (bounded) while another live deploy holds it: with
/// the installed agent's `lock`, or where there is none the shell's, which keeps the
/// same rules and says the same lines. Returns the holder and whether we had to wait.
async fn lock(session: &Session, probe: &Probe, options: &DeployOptions) -> Result<(crate::ssh::Held, bool)> {
    let dir = &probe.dir;
    // The host adds when (`since 2026-11-25T16:10:51Z`), by its own clock.
    let owner = format!("cargo-mlcremote pid {} on {}", std::process::id(), local_host_name());
    let script = if agent::has_host_commands(probe) {
        agent::agent_command(dir, &format!("lock --owner {}", crate::remote::quote(&owner)))
    } else {
        scripts::lock_script(dir, &owner)
    };
    let deadline = Instant::now() + LOCK_WAIT.max(options.health_timeout);
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
                    crate::ssh::shown(LOCK_WAIT)
                ));
            }
            _ => return Err(script_error(&out, dir)),
        }
    }
}

fn local_host_name() -> String {
    crate::ssh::config::Local::current().hostname
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::upload_parts;

    #[test]
    fn an_upload_is_split_only_where_one_channel_cannot_fill_the_link() {
        let mib = 1 << 20;
        let ms = Duration::from_millis;
        // OpenSSH's window: one channel on loopback or a LAN, more as the link gets longer.
        assert_eq!(upload_parts(20 * mib, false, Some(Duration::from_micros(300)), 8), 1);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(5)), 8), 1);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(50)), 8), 6);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(200)), 8), 8);
        assert_eq!(upload_parts(20 * mib, false, None, 8), 8, "unknown: as if long");
        // Never more parts than the payload has windows, nor than channels.
        assert_eq!(upload_parts(mib + 1, false, Some(ms(200)), 8), 2);
        assert_eq!(upload_parts(100, false, Some(ms(200)), 8), 1);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(200)), 0), 1);
        // Dropbear's 24 KiB window: split even on loopback.
        assert_eq!(upload_parts(2 * mib, true, Some(Duration::from_micros(300)), 8), 8);
        assert_eq!(upload_parts(30 << 10, true, Some(ms(1)), 8), 2);
    }
}
