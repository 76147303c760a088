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
    artifact::{self, BuildWhere, Chosen, Origin, Payload, Source},
    delegate::{Event, Reporter, Step, StepTime, Steps},
    err,
    error::{Error, Result},
    remote::{
        self, Health, Probe, StartMethod, health, script_error,
        scripts::{self, Install},
        start, status,
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
    /// `None` = auto: the SPEC order among those that work on the host.
    pub start_method: Option<StartMethod>,
    pub health_timeout: Duration,
    /// Reinstall even when the installed binary is identical and healthy.
    pub force: bool,
    /// Plan and change nothing.
    pub dry_run: bool,
    /// `--yes`: consent to what the remote build asks for (installing a toolchain).
    pub yes: bool,
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
            start_method: None,
            health_timeout: Duration::from_secs(60),
            force: false,
            dry_run: false,
            yes: false,
            cache: RunCache::default(),
        }
    }
}

/// Hosts of one platform get the same verified binary: read, check and hash it (or
/// download or build it) once per run, not once per host. The source bundle a remote
/// build uploads is made once too.
#[derive(Clone, Default, Debug)]
pub struct RunCache {
    chosen: Arc<tokio::sync::Mutex<ChosenByPlatform>>,
    bundle: Arc<tokio::sync::OnceCell<Arc<mlcremote_release::source::Bundle>>>,
}

type ChosenByPlatform = Vec<(mlcremote_release::target::Platform, Arc<Chosen>)>;

impl RunCache {
    /// The binary for `platform`; a download or build shows on `reporter`'s host.
    async fn get(
        &self,
        source: &Source,
        platform: &mlcremote_release::target::Platform,
        reporter: &Reporter,
    ) -> Result<Arc<Chosen>> {
        // Held while choosing, so hosts that arrive together wait for one choice.
        let mut cache = self.chosen.lock().await;
        if let Some((_, chosen)) = cache.iter().find(|(p, _)| p == platform) {
            return Ok(chosen.clone());
        }
        // Choosing may download or build: keep that off the async workers.
        let (source, on) = (source.clone(), platform.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let task = tokio::task::spawn_blocking(move || {
            artifact::choose(&source, &on, &mut |progress| {
                let event = match progress {
                    artifact::Progress::Download { done, total } => Event::Download { done, total },
                    artifact::Progress::Build(line) => Event::BuildOutput { line: line.to_string() },
                };
                let _ = tx.send(event);
            })
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

    /// The source bundle of the tree we run in, made on first use.
    async fn bundle(&self) -> Result<Arc<mlcremote_release::source::Bundle>> {
        let made = self.bundle.get_or_try_init(|| async {
            let bundle = tokio::task::spawn_blocking(|| -> Result<_> {
                let here = std::env::current_dir()?;
                let workspace = mlcremote_release::build::workspace_at(&here)?;
                Ok(mlcremote_release::source::bundle(&workspace, 0)?)
            });
            match bundle.await {
                Ok(bundle) => Ok(Arc::new(bundle?)),
                Err(e) => Err(err!(Other, "making the source bundle crashed: {e}")),
            }
        });
        made.await.cloned()
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
    /// What was planned (the whole of a `--dry-run`).
    pub plan: Plan,
}

/// Deploy to one host.
pub async fn deploy(route: &Route, options: &DeployOptions, reporter: &Reporter) -> Result<Report> {
    let mut steps = Steps::new(reporter.clone());
    steps.start(Step::Connect);
    let session = Session::connect(&route.destination, &route.options, reporter).await?;
    steps.done(Step::Connect);
    let result = deploy_on(&session, route, options, &mut steps).await;
    session.close().await;
    result
}

async fn deploy_on(session: &Session, route: &Route, options: &DeployOptions, steps: &mut Steps) -> Result<Report> {
    steps.start(Step::Probe);
    let probe = Probe::run(session, &options.install_dir).await?;
    let platform = mlcremote_release::target::Platform::from_uname(&probe.uname)?;
    steps.done(Step::Probe);
    let methods = start::start_methods(options.start_method, &probe)?;
    let destination = route.destination.to_string();
    let inputs = |health| Inputs {
        host: &route.name,
        destination: &destination,
        probe: &probe,
        health,
        start_methods: methods.clone(),
        port: options.server_port,
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
            let chosen = None;
            return Executor::new(session, route, options, steps, probe.clone(), plan, chosen, ways)
                .run()
                .await;
        }
    }

    steps.start(Step::Choose);
    let chosen = options.cache.get(&options.source, &platform, steps.reporter()).await?;
    steps.done(Step::Choose);
    // A server runs: does it answer? (The same binary healthy is "up to date".)
    let health = match probe.running_server() {
        Some(server) => {
            steps.start(Step::Health);
            let health = health::once(session, &probe.dir, server.port).await.ok();
            let same = probe.installed_sha256.as_deref() == Some(chosen.sha256.as_str());
            if health.is_some() && same && !options.force {
                steps.done(Step::Health);
            }
            health
        }
        None => None,
    };
    let plan = Plan::install(inputs(health.as_ref()), &chosen);
    if plan.action == Action::UpToDate {
        let mut report = Report::new(route, &probe, &plan, &chosen.from, chosen.origin, Outcome::UpToDate);
        report.fill_from_health(health);
        report.port = probe.running_server().map(|s| s.port);
        report.start_method = probe.install.as_ref().and_then(|i| StartMethod::parse(&i.start_method));
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
    .run()
    .await
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
    /// Where the binary waits to be installed, once uploaded, copied or built.
    upload: Option<String>,
    /// The install script put the new binary in place (a failure now rolls back).
    swapped: bool,
    port: Option<u16>,
    start_method: Option<StartMethod>,
    version: Option<String>,
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
            upload: None,
            swapped: false,
            port: None,
            start_method: None,
            version: None,
        }
    }

    async fn run(mut self) -> Result<Report> {
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
        // The bundle first: without it there is nothing to build, and nothing to lock for.
        let bundle = match self.plan.action {
            Action::BuildOnHost => Some(self.options.cache.bundle().await?),
            _ => None,
        };
        let mut lock = None;
        let mut health = None;
        let mut result = Ok(());
        let mut index = 0;
        while let Some(&step) = self.plan.steps.get(index) {
            index += 1;
            self.steps.start(step);
            let done = match step {
                Step::Lock => match self.lock().await {
                    Ok((held, waited)) => {
                        lock = Some(held);
                        if waited && self.again_up_to_date().await? {
                            self.steps.done(step);
                            break;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Step::Upload | Step::Copy => self.place().await,
                Step::Build => match &bundle {
                    Some(bundle) => self.build(bundle).await,
                    None => Err(err!(Other, "a build step without a source bundle")),
                },
                Step::InstallStart => self.install().await,
                Step::Health => match self.verify().await {
                    Ok(h) => {
                        health = Some(h);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                other => Err(err!(Other, "deploy has no step {other}")),
            };
            match done {
                // A step may have changed the plan (a build fell back to building here).
                Ok(()) => self.steps.done(self.plan.steps[index - 1]),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        if let Some(held) = lock {
            unlock(self.session, &self.probe.dir, held).await;
        }
        result?;
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
        match health {
            Some(h) => report.fill_from_health(Some(h)),
            // Another deploy installed the same binary while we waited for the lock.
            None => {
                report.result = Outcome::UpToDate;
                let server = self.probe.running_server().cloned();
                if let Some(server) = server {
                    report.port = Some(server.port);
                    report.fill_from_health(health::once(self.session, &self.probe.dir, server.port).await.ok());
                }
            }
        }
        if report.port.is_none() {
            report.port = self.port;
        }
        report.start_method = self.start_method.or(report.start_method);
        report.steps = self.steps.take();
        Ok(report)
    }

    /// After waiting for another deploy's lock: is what we came to install there now?
    async fn again_up_to_date(&mut self) -> Result<bool> {
        self.probe = Probe::run(self.session, &self.options.install_dir).await?;
        let (Some(chosen), Some(server)) = (&self.chosen, self.probe.running_server()) else {
            return Ok(false);
        };
        if self.options.force || self.probe.installed_sha256.as_deref() != Some(chosen.sha256.as_str()) {
            return Ok(false);
        }
        Ok(health::once(self.session, &self.probe.dir, server.port).await.is_ok())
    }

    async fn lock(&self) -> Result<(crate::ssh::Held, bool)> {
        lock(self.session, &self.probe.dir, self.options).await
    }

    /// Upload the chosen binary (or copy it where it was built) to a temp name.
    async fn place(&mut self) -> Result<()> {
        let chosen = self
            .chosen
            .clone()
            .ok_or_else(|| err!(Other, "nothing was chosen to upload"))?;
        let upload = format!("{}/.mlcremote.upload-{}", self.probe.dir, random_hex(6));
        match &chosen.payload {
            Payload::Bytes(bytes) => {
                let mut sent = 0;
                let reporter = self.steps.reporter().clone();
                self.session
                    .upload(bytes, &upload, |n| {
                        sent += n;
                        reporter.event(Event::Upload {
                            sent,
                            total: chosen.size,
                        });
                    })
                    .await?;
            }
            Payload::OnHost(built) => {
                let out = self.session.run(&scripts::copy_script(built, &upload)).await?;
                if out.status != 0 {
                    return Err(script_error(&out, &self.probe.dir));
                }
            }
        }
        self.upload = Some(upload);
        Ok(())
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

    /// SPEC §6 steps 5–7 after the upload: verify, swap, write run.sh/token/install.json,
    /// stop the old server, start the new one.
    async fn install(&mut self) -> Result<()> {
        let chosen = self
            .chosen
            .clone()
            .ok_or_else(|| err!(Other, "nothing was chosen to install"))?;
        let upload = self
            .upload
            .clone()
            .ok_or_else(|| err!(Other, "nothing was uploaded to install"))?;
        let dir = self.probe.dir.clone();
        let install = Install {
            dir: &dir,
            upload: &upload,
            sha256: &chosen.sha256,
            target: chosen.target.triple,
            port: self.options.server_port,
            methods: &self.plan.start_methods,
            old_pid: self.probe.running_server().map(|s| s.pid),
            wait_ticks: wait_ticks(self.options.health_timeout),
        };
        let out = self
            .session
            .run_for(&install.script(), self.options.health_timeout + Duration::from_secs(30))
            .await?;
        self.swapped = out.field("swapped").is_some();
        if out.status != 0 {
            let error = script_error(&out, &dir);
            return Err(self.undo(error, "install/start").await);
        }
        self.version = out
            .field("version_json")
            .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            .and_then(|v| v["version"].as_str().map(str::to_owned));
        let state: Option<remote::ServerState> = out.field("server_json").and_then(|j| serde_json::from_str(j).ok());
        let Some(state) = state else {
            let error = err!(Unhealthy, "the server wrote an unreadable server.json");
            return Err(health::with_log(self.session, &dir, error, "start").await);
        };
        self.start_method = out.field("start_method").and_then(StartMethod::parse);
        self.port = Some(state.port);
        Ok(())
    }

    /// SPEC §6 step 8: `/health` through the SSH connection, the version checked.
    async fn verify(&mut self) -> Result<Health> {
        let dir = self.probe.dir.clone();
        let port = self
            .port
            .ok_or_else(|| err!(Other, "no server was started to verify"))?;
        let health = match health::wait(self.session, &dir, port, self.options.health_timeout).await {
            Ok(health) => health,
            Err(e) => return Err(health::with_log(self.session, &dir, e, "health").await),
        };
        if let Some(version) = &self.version
            && &health.version != version
        {
            let e = err!(
                Unhealthy,
                "the server on port {port} reports version {}, expected {version}",
                health.version
            );
            return Err(health::with_log(self.session, &dir, e, "health").await);
        }
        Ok(health)
    }

    /// A failure after the new binary was swapped in: show the log, then put the previous
    /// binary back and start it again, so a failed deploy never leaves the host without
    /// the server it had. The error keeps its exit code and says how the rollback went.
    async fn undo(&self, error: Error, step: &str) -> Error {
        let probe = &self.probe;
        let error = health::with_log(self.session, &probe.dir, error, step).await;
        if !self.swapped || probe.installed_sha256.is_none() {
            return error;
        }
        let Ok(methods) = start::recorded_first(None, probe) else {
            return error;
        };
        let wait = wait_ticks(self.options.health_timeout);
        let timeout = self.options.health_timeout + Duration::from_secs(30);
        let outcome = match self
            .session
            .run_for(&scripts::rollback_script(&probe.dir, &methods, wait), timeout)
            .await
        {
            Ok(out) if out.status == 0 => {
                let port = out
                    .field("server_json")
                    .and_then(|j| serde_json::from_str::<remote::ServerState>(j).ok())
                    .map(|s| s.port);
                match port {
                    Some(port) => match health::wait(self.session, &probe.dir, port, self.options.health_timeout).await
                    {
                        Ok(health) => format!(
                            "rolled back: the previous version {} is running again (pid {})",
                            health.version, health.pid
                        ),
                        Err(e) => format!("rolled back the binary, but it is not healthy either: {e}"),
                    },
                    None => "rolled back the binary, but it wrote no server.json".to_string(),
                }
            }
            Ok(out) => format!("the rollback failed too: {}", script_error(&out, &probe.dir)),
            Err(e) => format!("the rollback failed too: {e}"),
        };
        error.append(outcome)
    }
}

/// The install script waits in 50 ms naps: how many fit in `timeout` (bounded).
pub fn wait_ticks(timeout: Duration) -> u32 {
    u32::try_from((timeout.as_millis() / 50).clamp(20, 12_000)).unwrap_or(12_000)
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

/// Remove the lock now (so the next deploy need not wait), then let its holder go.
async fn unlock(session: &Session, dir: &str, held: crate::ssh::Held) {
    if let Some(holder) = held.output.lines().find_map(|l| l.strip_prefix("holder=")) {
        let _ = session.run(&scripts::unlock_script(dir, holder)).await;
    }
    held.release().await;
}

/// How long to wait for another deploy's lock on the same host.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// Take the deploy lock, waiting (bounded) while another live deploy holds it.
/// Returns the holder and whether we had to wait.
async fn lock(session: &Session, dir: &str, options: &DeployOptions) -> Result<(crate::ssh::Held, bool)> {
    let owner = format!(
        "cargo-mlcremote pid {} on {} since {}",
        std::process::id(),
        local_host_name(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    );
    let deadline = Instant::now() + LOCK_WAIT.max(options.health_timeout);
    let mut waited = false;
    loop {
        match session.hold(&scripts::lock_script(dir, &owner), "locked=1").await? {
            Hold::Held(held) => return Ok((held, waited)),
            Hold::Ended(out) if out.status == status::LOCKED && Instant::now() < deadline => {
                if !waited {
                    let holder = out.field("busy").unwrap_or("another deploy");
                    session
                        .reporter()
                        .note(format!("waiting for the deploy lock in {dir} (held by {holder})"));
                }
                waited = true;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Hold::Ended(out) if out.status == status::LOCKED => {
                let holder = out.field("busy").unwrap_or("another deploy");
                return Err(err!(
                    Install,
                    "{dir}/.lock is still held by {holder} after {}; if that deploy is gone, remove {dir}/.lock",
                    crate::ssh::shown(LOCK_WAIT)
                ));
            }
            Hold::Ended(out) => return Err(script_error(&out, dir)),
        }
    }
}

fn local_host_name() -> String {
    crate::ssh::config::Local::current().hostname
}
