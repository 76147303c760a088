//! `cargo mlcremote deploy` for one host: SPEC §6 steps 1–10 over one SSH connection.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::{
    artifact::{self, BuildWhere, Chosen, Payload, Source},
    err,
    error::{Error, Kind, Result},
    host::Destination,
    remote::{self, Install, Probe, StartMethod, status},
    remote_build,
    source::Bundle,
    ssh::{ConnectOptions, HttpError, Session, random_hex},
    target::Platform,
};

/// Everything deploy needs besides the host.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    pub connect: ConnectOptions,
    pub source: Source,
    /// `--install-dir`, `~/.mlcremote` by default; `~/` is the remote home.
    pub install_dir: String,
    /// `--server-port`, 0 = any free port.
    pub server_port: u16,
    /// `None` = auto: the SPEC order among those that exist.
    pub start_method: Option<StartMethod>,
    pub health_timeout: Duration,
    /// Reinstall even when the installed binary is identical and healthy.
    pub force: bool,
    /// Print the plan and change nothing.
    pub dry_run: bool,
    /// `--yes`: consent to what the remote build asks for (installing a toolchain).
    pub yes: bool,
    /// What this run made once for all its hosts.
    pub cache: RunCache,
}

/// Hosts of one platform get the same verified binary: read, check and hash it (or
/// download or build it) once per run, not once per host. The source bundle a remote
/// build uploads is made once too.
#[derive(Clone, Default, Debug)]
pub struct RunCache {
    chosen: Arc<tokio::sync::Mutex<ChosenByPlatform>>,
    bundle: Arc<tokio::sync::OnceCell<Arc<Bundle>>>,
}

type ChosenByPlatform = Vec<(Platform, Arc<Chosen>)>;

impl RunCache {
    /// `host` and `ui` show a download's progress, on the bar of the host that asked first.
    async fn get(&self, source: &Source, platform: &Platform, host: &str, ui: &dyn Progress) -> Result<Arc<Chosen>> {
        // Held while choosing, so hosts that arrive together wait for one choice.
        let mut cache = self.chosen.lock().await;
        if let Some((_, chosen)) = cache.iter().find(|(p, _)| p == platform) {
            return Ok(chosen.clone());
        }
        // Choosing may download or build: keep that off the async workers.
        let (source, on) = (source.clone(), platform.clone());
        let (tx, mut rx) = tokio::sync::watch::channel((0, 0));
        let task = tokio::task::spawn_blocking(move || {
            artifact::choose(&source, &on, &mut |done, total| {
                let _ = tx.send((done, total));
            })
        });
        // Ends when the chooser is done and drops its sender.
        while rx.changed().await.is_ok() {
            let (done, total) = *rx.borrow_and_update();
            ui.download(host, done, total);
        }
        let chosen = task
            .await
            .map_err(|e| err!(Other, "choosing the artifact crashed: {e}"))??;
        let chosen = Arc::new(chosen);
        cache.push((platform.clone(), chosen.clone()));
        Ok(chosen)
    }

    /// The source bundle of the tree we run in, made on first use.
    async fn bundle(&self) -> Result<Arc<Bundle>> {
        let made = self.bundle.get_or_try_init(|| async {
            let bundle = tokio::task::spawn_blocking(|| {
                let workspace = crate::build::workspace().map_err(|e| err!(Usage, "{e}"))?;
                crate::source::bundle(&workspace, 0)
                    .map_err(|e| err!(Artifact, "cannot make the source bundle for the remote build: {e}"))
            });
            match bundle.await {
                Ok(bundle) => Ok(Arc::new(bundle?)),
                Err(e) => Err(err!(Other, "making the source bundle crashed: {e}")),
            }
        });
        made.await.cloned()
    }
}

impl DeployOptions {
    pub fn new(source: Source) -> DeployOptions {
        DeployOptions {
            connect: ConnectOptions::default(),
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

pub const DEFAULT_INSTALL_DIR: &str = "~/.mlcremote";

/// What happened, for the final report (and `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub host: String,
    /// `installed`, `up to date` or `planned` (dry run).
    pub result: String,
    pub target: String,
    /// Where the binary came from: a file here, or "built on <host> with <way>".
    pub artifact: String,
    pub version: String,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub start_method: Option<String>,
    pub install_dir: String,
    /// `/health` as the server answered it.
    pub health: Option<serde_json::Value>,
    /// Each step and how long it took, in order.
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub ms: u128,
}

/// Where progress lines go: a line per finished step, or nothing.
pub trait Progress: Send + Sync {
    fn step(&self, host: &str, step: &str, took: Duration);
    fn upload(&self, _host: &str, _sent: u64, _total: u64) {}
    /// A release archive coming in (`total` 0 when the server did not say).
    fn download(&self, _host: &str, _done: u64, _total: u64) {}
    /// Something to read on the way: a fallback taken, a failed build's log.
    fn note(&self, host: &str, message: &str) {
        eprintln!("[{host}] {message}");
    }
    /// A yes/no question; no one answers by default.
    fn ask(&self, _question: &str) -> bool {
        false
    }
}

/// Prints nothing, asks nothing.
pub struct Silent;
impl Progress for Silent {
    fn step(&self, _: &str, _: &str, _: Duration) {}
    fn note(&self, _: &str, _: &str) {}
}

/// Ask on a terminal; anywhere else the answer is no. Hosts deployed in parallel take turns.
pub fn confirm(question: &str) -> bool {
    use std::io::IsTerminal;
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

struct Steps<'a> {
    host: String,
    progress: &'a dyn Progress,
    last: Instant,
    done: Vec<Step>,
}

impl Steps<'_> {
    fn done(&mut self, name: &'static str) {
        let took = self.last.elapsed();
        self.progress.step(&self.host, name, took);
        self.done.push(Step {
            name,
            ms: took.as_millis(),
        });
        self.last = Instant::now();
    }
}

/// Deploy to one host.
pub async fn deploy(destination: &Destination, options: &DeployOptions, progress: &dyn Progress) -> Result<Report> {
    let mut steps = Steps {
        host: destination.to_string(),
        progress,
        last: Instant::now(),
        done: Vec::new(),
    };
    let session = Session::connect(destination, &options.connect).await?;
    steps.done("connect");
    let result = deploy_on(&session, options, &mut steps).await;
    session.close().await;
    result
}

async fn deploy_on(session: &Session, options: &DeployOptions, steps: &mut Steps<'_>) -> Result<Report> {
    // 2. Probe.
    let probe = Probe::run(session, &options.install_dir).await?;
    let platform = Platform::from_uname(&probe.uname).map_err(|e| err!(Artifact, "{e}"))?;
    steps.done("probe");

    // `--build remote|auto`: build on the host, under the lock (one build dir per host).
    if let Source::Build(mode @ (BuildWhere::Remote | BuildWhere::Auto)) = options.source {
        let docker = remote_build::docker_answers(session, &probe).await?;
        let on_host = remote_build::methods(mode, &probe, docker);
        if !on_host.is_empty() {
            return build_on_host(session, probe, &platform, &on_host, options, steps).await;
        }
    }

    // 3. Choose the artifact (once per platform in a multi-host run).
    let host = session.destination.to_string();
    let chosen = options
        .cache
        .get(&options.source, &platform, &host, steps.progress)
        .await?;
    let chosen = chosen.as_ref();
    steps.done("choose");
    let mut report = Report::new(session, &probe, chosen.target.triple, &chosen.origin);

    // 4. Skip when identical and healthy.
    if let Some(report) = up_to_date(session, &probe, chosen, options, steps, &mut report).await {
        return Ok(report);
    }

    let methods = start_methods(options.start_method, &probe)?;
    if options.dry_run {
        let artifact = format!(
            "  artifact  {} ({}, {} bytes, sha256 {})\n",
            chosen.origin, chosen.target.triple, chosen.size, chosen.sha256
        );
        return Ok(planned(session, &probe, &artifact, &methods, options, steps, report));
    }
    enough_space(&probe, chosen)?;

    // 5. Lock; if another deploy held it, what is installed may have changed meanwhile.
    let (held, waited) = lock(session, &probe.dir, options).await?;
    steps.done("lock");
    let mut probe = probe;
    if waited {
        probe = Probe::run(session, &options.install_dir).await?;
        if let Some(report) = up_to_date(session, &probe, chosen, options, steps, &mut report).await {
            unlock(session, &probe.dir, held).await;
            return Ok(report);
        }
    }
    let result = install(session, &probe, chosen, &methods, options, steps, report).await;
    unlock(session, &probe.dir, held).await;
    result
}

/// `--build remote|auto` on a host with a way to build: lock, build there (falling back to
/// building here), then install as usual.
async fn build_on_host(
    session: &Session,
    probe: Probe,
    platform: &Platform,
    on_host: &[remote_build::Method],
    options: &DeployOptions,
    steps: &mut Steps<'_>,
) -> Result<Report> {
    let methods = start_methods(options.start_method, &probe)?;
    if options.dry_run {
        let target = platform.targets().first().map_or("", |t| t.triple);
        let report = Report::new(session, &probe, target, "built on the host (planned)");
        let artifact = remote_build::plan(&probe, on_host, &crate::source::stem());
        return Ok(planned(session, &probe, &artifact, &methods, options, steps, report));
    }
    // The bundle first: without it there is nothing to build, and nothing to lock for.
    let bundle = options.cache.bundle().await?;
    let dir = probe.dir.clone();
    let (held, waited) = lock(session, &dir, options).await?;
    steps.done("lock");
    let probe = match waited {
        true => Probe::run(session, &options.install_dir).await,
        false => Ok(probe),
    };
    let result = match probe {
        Ok(probe) => build_and_install(session, &probe, on_host, &methods, &bundle, options, steps).await,
        Err(e) => Err(e),
    };
    unlock(session, &dir, held).await;
    result
}

async fn build_and_install(
    session: &Session,
    probe: &Probe,
    on_host: &[remote_build::Method],
    methods: &[StartMethod],
    bundle: &Bundle,
    options: &DeployOptions,
    steps: &mut Steps<'_>,
) -> Result<Report> {
    let platform = &Platform::from_uname(&probe.uname).map_err(|e| err!(Artifact, "{e}"))?;
    let built = remote_build::build(session, probe, platform, on_host, options, bundle, steps.progress).await?;
    let chosen = match built {
        Ok(chosen) => Arc::new(chosen),
        Err(reasons) => {
            let host = session.destination.to_string();
            steps.progress.note(
                &host,
                &format!("cannot build on the host ({}); building here", reasons.join("; ")),
            );
            let local = options
                .cache
                .get(&Source::Build(BuildWhere::Local), platform, &host, steps.progress)
                .await;
            local.map_err(|e| {
                let detail = format!("building on the host: {}", reasons.join("; "));
                let detail = match e.detail.clone() {
                    Some(more) => format!("{more}\n{detail}"),
                    None => detail,
                };
                e.detail(detail)
            })?
        }
    };
    steps.done("build");
    let mut report = Report::new(session, probe, chosen.target.triple, &chosen.origin);
    if let Some(report) = up_to_date(session, probe, &chosen, options, steps, &mut report).await {
        return Ok(report);
    }
    enough_space(probe, &chosen)?;
    install(session, probe, &chosen, methods, options, steps, report).await
}

impl Report {
    fn new(session: &Session, probe: &Probe, target: &str, artifact: &str) -> Report {
        Report {
            host: session.destination.to_string(),
            result: String::new(),
            target: target.into(),
            artifact: artifact.into(),
            version: String::new(),
            pid: None,
            port: None,
            start_method: None,
            install_dir: probe.dir.clone(),
            health: None,
            steps: Vec::new(),
        }
    }
}

/// `--dry-run`: print the plan, report "planned".
fn planned(
    session: &Session,
    probe: &Probe,
    artifact: &str,
    methods: &[StartMethod],
    options: &DeployOptions,
    steps: &mut Steps<'_>,
    mut report: Report,
) -> Report {
    report.result = "planned".into();
    report.start_method = methods.first().map(|m| m.name().to_string());
    eprint!("{}", plan(&session.destination, probe, artifact, methods, options));
    report.steps = std::mem::take(&mut steps.done);
    report
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
        let _ = session.run(&remote::unlock_script(dir, holder)).await;
    }
    held.release().await;
}

/// SPEC §6 step 4: the installed binary is this one and its server answers: nothing to do.
async fn up_to_date(
    session: &Session,
    probe: &Probe,
    chosen: &Chosen,
    options: &DeployOptions,
    steps: &mut Steps<'_>,
    report: &mut Report,
) -> Option<Report> {
    if options.force || probe.installed_sha256.as_deref() != Some(chosen.sha256.as_str()) {
        return None;
    }
    let server = probe.running_server()?;
    let health = health_once(session, &probe.dir, server.port).await.ok()?;
    steps.done("health");
    report.result = "up to date".into();
    fill_from_health(report, &health);
    report.port = Some(server.port);
    report.start_method = probe
        .install
        .as_ref()
        .map(|i| i.start_method.clone())
        .filter(|m| !m.is_empty());
    report.health = Some(health);
    report.steps = std::mem::take(&mut steps.done);
    Some(report.clone())
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
        match session.hold(&remote::lock_script(dir, &owner), "locked=1").await? {
            Ok(held) => return Ok((held, waited)),
            Err(out) if out.status == status::LOCKED && Instant::now() < deadline => {
                if !waited {
                    let holder = out.field("busy").unwrap_or("another deploy");
                    eprintln!(
                        "[{}] waiting for the deploy lock in {dir} (held by {holder})",
                        session.destination
                    );
                }
                waited = true;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(out) if out.status == status::LOCKED => {
                let holder = out.field("busy").unwrap_or("another deploy");
                return Err(err!(
                    Install,
                    "{dir}/.lock is still held by {holder} after {LOCK_WAIT:?}; if that deploy is gone, remove {dir}/.lock"
                ));
            }
            Err(out) => return Err(script_error(&out, dir)),
        }
    }
}

fn local_host_name() -> String {
    ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "this machine".into())
}

/// SPEC §6 steps 5–8 under the lock: upload, install, stop, start, verify.
async fn install(
    session: &Session,
    probe: &Probe,
    chosen: &Chosen,
    methods: &[StartMethod],
    options: &DeployOptions,
    steps: &mut Steps<'_>,
    mut report: Report,
) -> Result<Report> {
    let upload = format!("{}/.mlcremote.upload-{}", probe.dir, random_hex(6));
    match &chosen.payload {
        Payload::Bytes(bytes) => {
            let mut sent = 0;
            let host = session.destination.to_string();
            session
                .upload(bytes, &upload, |n| {
                    sent += n;
                    steps.progress.upload(&host, sent, chosen.size);
                })
                .await?;
            steps.done("upload");
        }
        Payload::OnHost(built) => {
            let out = session.run(&remote::copy_script(built, &upload)).await?;
            if out.status != 0 {
                return Err(script_error(&out, &probe.dir));
            }
            steps.done("copy");
        }
    }

    // 6–7. Install, stop the old server, start the new one.
    let install = Install {
        dir: &probe.dir,
        upload: &upload,
        sha256: &chosen.sha256,
        target: chosen.target.triple,
        port: options.server_port,
        methods,
        old_pid: probe.server.as_ref().map(|s| s.pid),
        wait_ticks: (options.health_timeout.as_millis() / 50).clamp(20, 12000) as u32,
    };
    let out = session.run(&install.script()).await?;
    let swapped = out.field("swapped").is_some();
    if out.status != 0 {
        let error = script_error(&out, &probe.dir);
        return Err(undo(session, probe, error, "install/start", swapped, options).await);
    }
    let version = out
        .field("version_json")
        .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let state: Option<remote::ServerState> = out.field("server_json").and_then(|j| serde_json::from_str(j).ok());
    let Some(state) = state else {
        return Err(with_log(
            session,
            &probe.dir,
            err!(Unhealthy, "the server wrote an unreadable server.json"),
            "start",
        )
        .await);
    };
    report.start_method = out.field("start_method").map(str::to_owned);
    report.port = Some(state.port);
    steps.done("install+start");

    // 8. Verify through the SSH connection.
    let health = match wait_healthy(session, &probe.dir, state.port, options.health_timeout).await {
        Ok(health) => health,
        Err(e) => return Err(with_log(session, &probe.dir, e, "health").await),
    };
    if health["version"].as_str() != Some(version.as_str()) {
        let seen = health["version"].as_str().unwrap_or("?");
        let e = err!(
            Unhealthy,
            "the server on port {} reports version {seen}, expected {version}",
            state.port
        );
        return Err(with_log(session, &probe.dir, e, "health").await);
    }
    steps.done("health");
    report.result = "installed".into();
    fill_from_health(&mut report, &health);
    report.health = Some(health);
    report.steps = std::mem::take(&mut steps.done);
    Ok(report)
}

fn fill_from_health(report: &mut Report, health: &serde_json::Value) {
    report.version = health["version"].as_str().unwrap_or_default().into();
    report.pid = health["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
}

/// A failure after the new binary was swapped in: show the log, then put the previous
/// binary back and start it again, so a failed deploy never leaves the host without the
/// server it had. The error keeps its exit code and says how the rollback went.
async fn undo(
    session: &Session,
    probe: &Probe,
    error: Error,
    step: &str,
    swapped: bool,
    options: &DeployOptions,
) -> Error {
    let mut error = with_log(session, &probe.dir, error, step).await;
    if !swapped || probe.installed_sha256.is_none() {
        return error;
    }
    let Ok(methods) = recorded_first(None, probe) else {
        return error;
    };
    let wait = (options.health_timeout.as_millis() / 50).clamp(20, 12000) as u32;
    let outcome = match session.run(&remote::rollback_script(&probe.dir, &methods, wait)).await {
        Ok(out) if out.status == 0 => {
            let port = out
                .field("server_json")
                .and_then(|j| serde_json::from_str::<remote::ServerState>(j).ok())
                .map(|s| s.port);
            match port {
                Some(port) => match wait_healthy(session, &probe.dir, port, options.health_timeout).await {
                    Ok(health) => format!(
                        "rolled back: the previous version {} is running again (pid {})",
                        health["version"].as_str().unwrap_or("?"),
                        health["pid"]
                    ),
                    Err(e) => format!("rolled back the binary, but it is not healthy either: {}", e.message),
                },
                None => "rolled back the binary, but it wrote no server.json".to_string(),
            }
        }
        Ok(out) => format!("the rollback failed too: {}", script_error(&out, &probe.dir).message),
        Err(e) => format!("the rollback failed too: {}", e.message),
    };
    error.message = format!("{}; {outcome}", error.message);
    error
}

/// The start methods to try, the one recorded in `install.json` first (SPEC order after).
pub(crate) fn recorded_first(given: Option<StartMethod>, probe: &Probe) -> Result<Vec<StartMethod>> {
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
pub(crate) fn start_methods(given: Option<StartMethod>, probe: &Probe) -> Result<Vec<StartMethod>> {
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

/// The plan `--dry-run` prints: what deploy would do on this host.
pub fn plan(
    dest: &Destination,
    probe: &Probe,
    artifact: &str,
    methods: &[StartMethod],
    options: &DeployOptions,
) -> String {
    let dir = &probe.dir;
    let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
    let stop = match probe.running_server() {
        Some(s) => format!("stop the running server (pid {}, port {})", s.pid, s.port),
        None => "no server is running".into(),
    };
    format!(
        "plan for {dest} ({uname}):\n{artifact}  upload    the binary to {dir}/.mlcremote.upload-*, verify sha256, chmod 0755\n  \
         install   keep {dir}/mlcremote as mlcremote.prev, rename into {dir}/mlcremote; write run.sh, token, install.json\n  \
         stop      {stop}\n  start     first that works of: {methods}; port {port}\n  verify    GET /health through the SSH connection, up to {timeout:?}\n",
        uname = probe.uname,
        methods = names.join(", "),
        port = if options.server_port == 0 {
            "any free".to_string()
        } else {
            options.server_port.to_string()
        },
        timeout = options.health_timeout,
    )
}

/// One `/health` check: through a direct-tcpip channel, or, where the SSH server refuses
/// forwarding, with the server's own `mlcremote health` on the host.
pub(crate) async fn health_once(session: &Session, dir: &str, port: u16) -> Result<serde_json::Value, String> {
    let body = match session.http_get(port, "/health").await {
        Ok((200, body)) => body,
        Ok((status, body)) => return Err(format!("/health answered {status}: {body}")),
        Err(HttpError::ForwardingRefused) => {
            let out = session.run(&remote::health_script(dir)).await.map_err(|e| e.message)?;
            if out.status != 0 {
                return Err(format!("mlcremote health failed: {}{}", out.stdout, out.stderr));
            }
            out.stdout
        }
        Err(HttpError::Failed(e)) => return Err(e),
    };
    let health: serde_json::Value =
        serde_json::from_str(body.trim()).map_err(|e| format!("/health is not JSON: {e}"))?;
    if health["status"] == "ok" {
        Ok(health)
    } else {
        Err(format!("/health says {health}"))
    }
}

/// Poll `/health` with backoff until it says ok, or `timeout` passes.
pub(crate) async fn wait_healthy(
    session: &Session,
    dir: &str,
    port: u16,
    timeout: Duration,
) -> Result<serde_json::Value> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        match health_once(session, dir, port).await {
            Ok(health) => return Ok(health),
            Err(last) if Instant::now() + pause >= deadline => {
                return Err(err!(
                    Unhealthy,
                    "the server did not become healthy within {timeout:?}: {last}"
                ));
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Map a failed remote script to the SPEC exit code and its message.
pub(crate) fn script_error(out: &crate::ssh::Output, dir: &str) -> Error {
    let message = out.field("error").map_or_else(
        || format!("remote command failed with status {}", out.status),
        str::to_owned,
    );
    let kind = match out.status {
        status::INSTALL_FAILED | status::DOES_NOT_RUN | status::CORRUPT_UPLOAD => Kind::Install,
        status::NO_START_METHOD | status::BUILD_FAILED => Kind::Install,
        status::DIED_AT_START | status::NO_STATE_FILE => Kind::Unhealthy,
        _ => Kind::Other,
    };
    let hint = match out.status {
        status::DOES_NOT_RUN => " (is the file system mounted noexec? pass --install-dir on another one)",
        _ => "",
    };
    let mut error = Error::new(kind, format!("{message}{hint}"));
    if !out.stderr.trim().is_empty() {
        error = error.detail(format!("stderr on the host ({dir}):\n{}", out.stderr.trim_end()));
    }
    error
}

/// SPEC §6 step 9: add the last 100 lines of the server log and the failed step.
pub(crate) async fn with_log(session: &Session, dir: &str, error: Error, step: &str) -> Error {
    let log = match session.run(&remote::log_tail_script(dir, 100)).await {
        Ok(out) if !out.stdout.trim().is_empty() => out.stdout,
        _ => "(the log is empty)\n".into(),
    };
    let mut detail = format!("failed step: {step}\nlast lines of {dir}/logs/out.log:\n{log}");
    if let Some(more) = &error.detail {
        detail = format!("{more}\n{detail}");
    }
    Error {
        detail: Some(detail),
        ..error
    }
}

/// Plain progress lines on stderr: `[host] step (12 ms)`.
pub struct Lines;

impl Progress for Lines {
    fn step(&self, host: &str, step: &str, took: Duration) {
        eprintln!("[{host}] {step} ({} ms)", took.as_millis());
    }

    fn ask(&self, question: &str) -> bool {
        confirm(question)
    }
}
