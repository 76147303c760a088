//! `agent install`, `restart` and `stop`: SPEC §6 steps 5–9 on the host, in one process.

use std::{
    fs,
    io::{Read, Seek},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::Args;

use super::{
    layout::{InstallInfo, Layout, write_atomic},
    lock::{Lock, NotLocked},
    process,
    report::{Event, Failure, Step, emit, ms},
    start::{self, Method, Started},
    status::{self, sha256_file},
};
use crate::{
    build_info,
    state::{self, State},
};
use mlcremote_contract::Health;

#[derive(Args)]
pub struct InstallArgs {
    /// The install dir (absolute).
    #[arg(long)]
    dir: PathBuf,
    /// This binary as uploaded: checked, then renamed into place.
    #[arg(long)]
    upload: PathBuf,
    /// What the client sent: the upload must have this sha256 and size.
    #[arg(long)]
    sha256: String,
    #[arg(long)]
    size: u64,
    /// Port for the server on loopback (0: any free).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The server's file root: a folder on the host, relative to `$HOME` unless absolute
    /// [default: $HOME]. Kept in `install.json` and `run.sh`.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Start methods to try, in order [default: those that work here].
    #[arg(long, value_delimiter = ',', value_parser = start::parse_method)]
    start_methods: Vec<Method>,
    #[arg(long, default_value_t = 60)]
    health_timeout_secs: u64,
    /// Who deploys, for anyone waiting for the lock.
    #[arg(long, default_value = "a deploy")]
    owner: String,
    /// The lock is held by this process (the client's own holder, for a build on the
    /// host): take it as ours.
    #[arg(long)]
    lock_holder: Option<u32>,
}

/// The outcome, the last line of output: [`Event::Done`] or [`Event::Failed`].
type Outcome = Event;

pub(super) struct Failed {
    failure: Failure,
    message: String,
    step: Step,
    log: Option<String>,
}

pub(super) fn fail(failure: Failure, step: Step, message: impl Into<String>) -> Failed {
    Failed {
        failure,
        message: message.into(),
        step,
        log: None,
    }
}

pub fn run(args: InstallArgs) -> ExitCode {
    let layout = Layout::new(args.dir.clone());
    let outcome = install(&args, &layout);
    // Whatever happened, the upload is not left behind.
    let _ = fs::remove_file(&args.upload);
    finish(outcome)
}

pub(super) fn finish(outcome: Outcome) -> ExitCode {
    let code = match &outcome {
        Event::Failed { .. } | Event::Busy { .. } => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    };
    let _ = emit(&outcome);
    code
}

fn install(args: &InstallArgs, layout: &Layout) -> Outcome {
    let mut clock = Instant::now();
    let mut step = |name: Step| {
        let heard = emit(&Event::Step {
            step: name,
            ms: ms(clock),
        });
        clock = Instant::now();
        heard
    };
    let root = match args.root.as_deref().map(file_root).transpose() {
        Ok(root) => root,
        Err(f) => return failed(f, None),
    };
    if let Err(f) = own_dir(&layout.dir).and_then(|()| verify(&args.upload, &args.sha256, args.size)) {
        return failed(f, None);
    }
    // A deploy whose client went away before the swap stops there, having changed nothing.
    let gone = |step| {
        failed(
            fail(
                Failure::InstallFailed,
                step,
                "the deploy went away; nothing was changed",
            ),
            None,
        )
    };
    if !step(Step::Verify) {
        return gone(Step::Verify);
    }
    let lock = match Lock::take(&layout.dir, &args.owner, args.lock_holder) {
        Ok(lock) => lock,
        Err(why) => return failed(not_locked(layout, why), None),
    };
    if !step(if args.lock_holder.is_none() {
        Step::Lock
    } else {
        Step::Locked
    }) {
        return gone(Step::Lock);
    }
    clean_uploads(layout, &args.upload);
    let old = running_server(layout);
    let methods = if args.start_methods.is_empty() {
        start::available()
    } else {
        args.start_methods.clone()
    };
    let outcome = match swap(args, layout, root.as_deref()) {
        Err(f) => failed(f, None),
        Ok(()) => {
            let stopped = old.as_ref().map(|s| {
                stop_server(layout, s);
                s.pid
            });
            match start_and_wait(
                layout,
                &methods,
                Duration::from_secs(args.health_timeout_secs),
                &mut step,
            ) {
                Ok((method, state, health)) => {
                    record(layout, &args.sha256, method, root);
                    Event::Done {
                        version: build_info::VERSION.into(),
                        target: build_info::TARGET.into(),
                        pid: state.pid,
                        port: state.port,
                        start_method: method,
                        health,
                        stopped,
                    }
                }
                Err(f) => {
                    let rollback = roll_back(layout, Duration::from_secs(args.health_timeout_secs));
                    failed(f, rollback)
                }
            }
        }
    };
    drop(lock);
    outcome
}

pub(super) fn failed(f: Failed, rollback: Option<String>) -> Outcome {
    Event::Failed {
        failure: f.failure,
        message: f.message,
        step: f.step,
        log: f.log,
        rollback,
    }
}

/// The install dir is ours alone (0700), and never the home folder, `/`, or a folder
/// that holds the home, however it was spelled (`~//`, `/home/ann/.`, a symlink).
/// `--root` as the server will open it: absolute, links resolved, and a folder (checked
/// before anything is changed, so a typo costs nothing).
fn file_root(root: &Path) -> Result<PathBuf, Failed> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let full = match root.strip_prefix("~") {
        Ok(rest) => home.join(rest),
        Err(_) => home.join(root),
    };
    match full.canonicalize() {
        Ok(real) if real.is_dir() => Ok(real),
        Ok(_) => Err(fail(
            Failure::InstallFailed,
            Step::Install,
            format!("--root {} is not a folder on the host; pass a folder", full.display()),
        )),
        Err(e) => Err(fail(
            Failure::InstallFailed,
            Step::Install,
            format!(
                "--root {} cannot be used on the host ({e}); create it or pass another folder",
                full.display()
            ),
        )),
    }
}

pub(super) fn own_dir(dir: &Path) -> Result<(), Failed> {
    let real = not_home(dir, Step::Install)?;
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).map_err(|e| {
        fail(
            Failure::InstallFailed,
            Step::Install,
            format!("cannot make {} private: {e}", dir.display()),
        )
    })
}

/// Why the deploy lock was not taken, as a failure of that step.
pub(super) fn not_locked(layout: &Layout, why: NotLocked) -> Failed {
    match why {
        NotLocked::Busy { holder } => fail(
            Failure::Locked,
            Step::Lock,
            format!(
                "{}/.lock is still held by {holder} after {} s; if that deploy is gone, remove {0}/.lock",
                layout.dir.display(),
                super::lock::LOCK_WAIT.as_secs()
            ),
        ),
        NotLocked::Io(e) => fail(
            Failure::InstallFailed,
            Step::Lock,
            format!("cannot lock {}: {e}", layout.dir.display()),
        ),
    }
}

/// Nothing is installed in the layout's dir.
pub(super) fn not_installed(layout: &Layout, step: Step) -> Failed {
    fail(
        Failure::NotInstalled,
        step,
        format!("mlcremote is not installed in {}", layout.dir.display()),
    )
}

/// `dir`, resolved, unless it is `/`, the home folder or a folder that holds it.
pub(super) fn not_home(dir: &Path, step: Step) -> Result<PathBuf, Failed> {
    let real = dir.canonicalize().map_err(|e| {
        fail(
            Failure::InstallFailed,
            step,
            format!("cannot use {}: {e}", dir.display()),
        )
    })?;
    let home = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok());
    if real == Path::new("/") || home.is_some_and(|h| h.starts_with(&real)) {
        return Err(fail(
            Failure::InstallFailed,
            step,
            format!(
                "refusing to use {} as the install dir: it is your home folder or holds it; pass --install-dir ~/.mlcremote",
                dir.display()
            ),
        ));
    }
    Ok(real)
}

/// The upload must be exactly what the client sent: this binary checks its own bytes.
fn verify(upload: &Path, sha256: &str, size: u64) -> Result<(), Failed> {
    let got_size = fs::metadata(upload).map(|m| m.len()).unwrap_or(0);
    if got_size != size {
        return Err(fail(
            Failure::CorruptUpload,
            Step::Verify,
            format!("the upload has {got_size} bytes, expected {size}; the transfer was cut or the disk is full"),
        ));
    }
    match sha256_file(upload) {
        Ok(got) if got == sha256 => Ok(()),
        Ok(got) => Err(fail(
            Failure::CorruptUpload,
            Step::Verify,
            format!("the uploaded file has sha256 {got}, expected {sha256}"),
        )),
        Err(e) => Err(fail(
            Failure::CorruptUpload,
            Step::Verify,
            format!("cannot read the upload: {e}"),
        )),
    }
}

/// Remove what interrupted deploys left: uploads whose receiving process is gone
/// (`.mlcremote.upload-<pid>-<id>`, and `….tar.gz` a host download left); parts of split
/// uploads still coming (`.mlcremote.part-<id>-<k>.tmp.<pid>`) whose writer is gone;
/// whole parts (`.mlcremote.part-<id>-<k>`) and cut marks (`….cut`) whose receiver is
/// gone; and whole parts with no receiver last written two minutes ago or earlier (a
/// receiver may be about to start; a cut mark without one is over at once).
fn clean_uploads(layout: &Layout, ours: &Path) {
    let Ok(entries) = fs::read_dir(&layout.dir) else { return };
    let entries: Vec<fs::DirEntry> = entries.flatten().collect();
    let name = |e: &fs::DirEntry| e.file_name().to_string_lossy().into_owned();
    // Upload id → whether its receiver still runs.
    let mut receivers: Vec<(String, bool)> = Vec::new();
    for entry in &entries {
        let Some(rest) = name(entry).strip_prefix(".mlcremote.upload-").map(str::to_owned) else {
            continue;
        };
        let mut fields = rest.splitn(2, '-');
        let pid: Option<u32> = fields.next().and_then(|p| p.parse().ok());
        let id = fields.next().unwrap_or("").split('.').next().unwrap_or("").to_string();
        let alive = pid.is_some_and(process::alive) || entry.path() == ours;
        receivers.push((id, alive));
        if !alive {
            let _ = fs::remove_file(entry.path());
        }
    }
    for entry in &entries {
        let Some(rest) = name(entry).strip_prefix(".mlcremote.part-").map(str::to_owned) else {
            continue;
        };
        let id = rest.split('-').next().unwrap_or("");
        let receiver = receivers.iter().find(|(r, _)| r == id).map(|(_, alive)| *alive);
        let writer = rest
            .rsplit_once(".tmp.")
            .map(|(_, pid)| pid.parse::<u32>().is_ok_and(process::alive));
        let old = || {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > std::time::Duration::from_secs(120)))
        };
        let stale = match (writer, receiver) {
            (Some(alive), _) => !alive,
            (None, Some(alive)) => !alive,
            (None, None) => rest.ends_with(".cut") || old(),
        };
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The server `server.json` names, if it runs and is this install's.
pub(super) fn running_server(layout: &Layout) -> Option<State> {
    state::read(&layout.state())
        .ok()
        .filter(|s| process::owned(s, &[&layout.binary(), &layout.prev()]))
}

/// Keep the old binary (and its run.sh, install.json) as `.prev`, rename the upload
/// into place, write run.sh and the token. The old server keeps running.
fn swap(args: &InstallArgs, layout: &Layout, root: Option<&Path>) -> Result<(), Failed> {
    let io =
        |what: String| move |e: std::io::Error| fail(Failure::InstallFailed, Step::Install, format!("{what}: {e}"));
    let binary = layout.binary();
    if binary.exists() {
        let prev = layout.prev();
        let _ = fs::remove_file(&prev);
        fs::hard_link(&binary, &prev)
            .or_else(|_| fs::copy(&binary, &prev).map(|_| ()))
            .map_err(io(format!("cannot keep the old binary as {}", prev.display())))?;
        for name in ["run.sh", "install.json"] {
            let (from, to) = (layout.path(name), layout.path(&format!("{name}.prev")));
            if from.exists() {
                fs::copy(&from, &to).map_err(io(format!("cannot keep {}", from.display())))?;
            } else {
                let _ = fs::remove_file(&to);
            }
        }
    } else {
        for name in ["mlcremote.prev", "run.sh.prev", "install.json.prev"] {
            let _ = fs::remove_file(layout.path(name));
        }
    }
    fs::set_permissions(&args.upload, fs::Permissions::from_mode(0o755))
        .map_err(io(format!("cannot chmod {}", args.upload.display())))?;
    fs::rename(&args.upload, &binary)
        .map_err(io(format!("cannot move the new binary into {}", layout.dir.display())))?;
    write_atomic(&layout.run_sh(), layout.run_sh_text(args.port, root).as_bytes(), 0o755)
        .map_err(io(format!("cannot write {}", layout.run_sh().display())))?;
    let token = layout.path("token");
    if fs::metadata(&token).map(|m| m.len()).unwrap_or(0) == 0 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| fail(Failure::InstallFailed, Step::Install, format!("no random source: {e}")))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_atomic(&token, hex.as_bytes(), 0o600).map_err(io(format!("cannot write {}", token.display())))?;
    }
    fs::set_permissions(&token, fs::Permissions::from_mode(0o600))
        .map_err(io("cannot make the token private".into()))?;
    fs::create_dir_all(layout.path("logs")).map_err(io("cannot create the logs folder".into()))?;
    Ok(())
}

/// Stop a server of this install (and its unit or session).
pub(super) fn stop_server(layout: &Layout, server: &State) {
    if let Some(method) = layout.install_info().and_then(|i| i.start_method()) {
        start::stop_session(layout, method);
    }
    if process::alive(server.pid) {
        process::stop(server.pid);
    }
    if state::read(&layout.state()).is_ok_and(|s| s.pid == server.pid) {
        let _ = fs::remove_file(layout.state());
    }
}

/// Start with the first method that works, then wait for `server.json` and `/health`
/// (the version must be this one). On failure the new server is stopped.
fn start_and_wait(
    layout: &Layout,
    methods: &[Method],
    timeout: Duration,
    step: &mut impl FnMut(Step) -> bool,
) -> Result<(Method, State, Health), Failed> {
    let _ = fs::remove_file(layout.state());
    let log_from = fs::metadata(layout.log()).map(|m| m.len()).unwrap_or(0);
    // From here the install finishes whether or not anyone still listens.
    let _ = step(Step::InstallStart);
    let with_log = |mut f: Failed| {
        f.log = Some(log_since(&layout.log(), log_from));
        f
    };
    let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
    let Some((method, mut started)) = start::start(layout, methods) else {
        return Err(fail(
            Failure::NoStartMethod,
            Step::Start,
            format!("none of these start methods works here: {}", names.join(" ")),
        ));
    };
    let started_at = Instant::now();
    let deadline = started_at + timeout;
    let mut pause = Pause::new();
    let mut seen_running = false;
    let mut last_error = String::from("no server.json yet");
    loop {
        if let Ok(state) = state::read(&layout.state()) {
            match status::health(&state) {
                Ok(health) if health.version == build_info::VERSION => {
                    let _ = step(Step::Health);
                    return Ok((method, state, health));
                }
                Ok(health) => {
                    last_error = format!(
                        "the server reports version {}, expected {}",
                        health.version,
                        build_info::VERSION
                    )
                }
                Err(e) => last_error = format!("{e:#}"),
            }
        }
        let exited = match started.running(layout) {
            Some(true) => {
                seen_running = true;
                false
            }
            // Our own child: we know exactly.
            Some(false) if matches!(started, Started::Child(_)) => true,
            // tmux and screen list a new session a moment after they return (seen under
            // load): "not running" means it died only once it ran, or after 2 s.
            _ => seen_running || started_at.elapsed() > Duration::from_secs(2),
        };
        if exited {
            return Err(with_log(fail(
                Failure::DiedAtStart,
                Step::Start,
                "the server exited right after starting",
            )));
        }
        if Instant::now() >= deadline {
            stop_new(layout, method);
            return Err(with_log(fail(
                Failure::Unhealthy,
                Step::Health,
                format!(
                    "the server did not become healthy within {} s: {last_error}",
                    timeout.as_secs()
                ),
            )));
        }
        pause.sleep();
    }
}

/// The pause between two looks at a server that was just started: short at first (it
/// is usually up within a few milliseconds, and each look is a file read and a request
/// on loopback), then every 20 ms.
struct Pause(Duration);

impl Pause {
    fn new() -> Pause {
        Pause(Duration::from_millis(2))
    }

    fn sleep(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(Duration::from_millis(20));
    }
}

/// Stop a server that was just started and is not healthy.
fn stop_new(layout: &Layout, method: Method) {
    start::stop_session(layout, method);
    if let Ok(state) = state::read(&layout.state())
        && process::owned(&state, &[&layout.binary()])
    {
        process::stop(state.pid);
    }
}

/// The previous binary (with its run.sh and install.json) back, started again the way
/// it ran; what happened, in words.
fn roll_back(layout: &Layout, timeout: Duration) -> Option<String> {
    let prev = layout.prev();
    if !prev.exists() {
        return None;
    }
    if let Ok(state) = state::read(&layout.state())
        && process::owned(&state, &[&layout.binary(), &prev])
    {
        process::stop(state.pid);
    }
    if let Err(e) = fs::rename(&prev, layout.binary()) {
        return Some(format!(
            "the rollback failed too: cannot put the previous binary back: {e}"
        ));
    }
    for name in ["run.sh", "install.json"] {
        let _ = fs::rename(layout.path(&format!("{name}.prev")), layout.path(name));
    }
    let recorded = layout.install_info().and_then(|i| i.start_method());
    let mut methods: Vec<Method> = recorded.into_iter().collect();
    methods.extend(start::available().into_iter().filter(|m| Some(*m) != recorded));
    let _ = fs::remove_file(layout.state());
    let Some((_, mut started)) = start::start(layout, &methods) else {
        return Some("rolled back the binary, but none of the start methods works".into());
    };
    let deadline = Instant::now() + timeout;
    let mut pause = Pause::new();
    loop {
        if let Ok(state) = state::read(&layout.state())
            && let Ok(health) = status::health(&state)
        {
            return Some(format!(
                "rolled back: the previous version {} is running again (pid {})",
                health.version, health.pid
            ));
        }
        if started.running(layout) == Some(false) && matches!(started, Started::Child(_)) {
            return Some("rolled back the binary, but it exited right after starting too".into());
        }
        if Instant::now() >= deadline {
            return Some("rolled back the binary, but it is not healthy either".into());
        }
        pause.sleep();
    }
}

/// `install.json` for what now runs.
fn record(layout: &Layout, sha256: &str, method: Method, root: Option<PathBuf>) {
    let info = InstallInfo {
        version: build_info::VERSION.into(),
        target: build_info::TARGET.into(),
        sha256: sha256.into(),
        installed_at: crate::time::rfc3339(std::time::SystemTime::now()),
        start_method: method.name().into(),
        root: root.map(|r| r.to_string_lossy().into_owned()),
    };
    if let Ok(text) = serde_json::to_string(&info) {
        let _ = write_atomic(&layout.path("install.json"), format!("{text}\n").as_bytes(), 0o644);
    }
}

/// The last 100 lines of `log` written after byte `from`.
fn log_since(log: &Path, from: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(log) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        // A log rotated meanwhile starts again at 0.
        let from = if from > len { 0 } else { from };
        let start = from.max(len.saturating_sub(256 * 1024));
        if file.seek(std::io::SeekFrom::Start(start)).is_ok() {
            let mut bytes = Vec::new();
            let _ = file.take(256 * 1024).read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(100)..].join("\n")
}

/// `agent restart`: stop the server, start it again, wait for `/health`.
pub fn restart(layout: &Layout, methods: &[Method], timeout: Duration) -> ExitCode {
    if !layout.binary().exists() {
        return finish(failed(not_installed(layout, Step::Restart), None));
    }
    let old = running_server(layout);
    let recorded = layout.install_info().and_then(|i| i.start_method());
    let methods: Vec<Method> = if methods.is_empty() {
        let mut all: Vec<Method> = recorded.into_iter().collect();
        all.extend(start::available().into_iter().filter(|m| Some(*m) != recorded));
        all
    } else {
        methods.to_vec()
    };
    let stopped = old.as_ref().map(|s| {
        stop_server(layout, s);
        s.pid
    });
    let mut clock = Instant::now();
    let mut step = |name: Step| {
        let heard = emit(&Event::Step {
            step: name,
            ms: ms(clock),
        });
        clock = Instant::now();
        heard
    };
    match start_and_wait(layout, &methods, timeout, &mut step) {
        Ok((method, state, health)) => {
            if let Some(mut info) = layout.install_info() {
                info.start_method = method.name().into();
                if let Ok(text) = serde_json::to_string(&info) {
                    let _ = write_atomic(&layout.path("install.json"), format!("{text}\n").as_bytes(), 0o644);
                }
            }
            finish(Event::Done {
                version: build_info::VERSION.into(),
                target: build_info::TARGET.into(),
                pid: state.pid,
                port: state.port,
                start_method: method,
                health,
                stopped,
            })
        }
        Err(f) => finish(failed(f, None)),
    }
}

/// `agent stop`: stop this install's server, if it runs.
pub fn stop(layout: &Layout) -> ExitCode {
    if !layout.binary().exists() {
        return finish(failed(not_installed(layout, Step::Stop), None));
    }
    let server = running_server(layout);
    if let Some(server) = &server {
        stop_server(layout, server);
    } else if let Some(method) = layout.install_info().and_then(|i| i.start_method()) {
        start::stop_session(layout, method);
    }
    if server.is_none() {
        // A stale server.json (its process gone or someone else's) goes too.
        let _ = fs::remove_file(layout.state());
    }
    let _ = emit(&Event::Stopped {
        stopped: server.map(|s| s.pid),
    });
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What cut deploys left goes; what a live deploy (or one just starting) writes stays.
    #[test]
    fn clean_uploads_removes_what_dead_deploys_left_and_keeps_live_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path().to_path_buf());
        let me = std::process::id();
        // A pid that is not running: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let files = [
            format!(".mlcremote.upload-{dead}-aaa"),
            format!(".mlcremote.upload-{dead}-aaa.tar.gz"),
            ".mlcremote.part-aaa-1".to_string(),
            format!(".mlcremote.part-aaa-2.tmp.{dead}"),
            ".mlcremote.part-aaa-3.cut".to_string(),
            format!(".mlcremote.upload-{me}-bbb"),
            ".mlcremote.part-bbb-1".to_string(),
            format!(".mlcremote.part-bbb-2.tmp.{me}"),
            ".mlcremote.part-ccc-1".to_string(),
            format!(".mlcremote.part-ccc-2.tmp.{dead}"),
            ".mlcremote.part-ccc-3.cut".to_string(),
            format!(".mlcremote.part-eee-1.tmp.{me}"),
            ".mlcremote.part-ddd-1".to_string(),
            "mlcremote".to_string(),
        ];
        for f in &files {
            fs::write(tmp.path().join(f), b"x").unwrap();
        }
        // ddd's parts have no receiver and were last written long ago.
        let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
        fs::File::options()
            .write(true)
            .open(tmp.path().join(".mlcremote.part-ddd-1"))
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        let ours = tmp.path().join(".mlcremote.upload-1-zzz");
        clean_uploads(&layout, &ours);
        let mut left: Vec<String> = fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected = vec![
            format!(".mlcremote.upload-{me}-bbb"),
            ".mlcremote.part-bbb-1".to_string(),
            format!(".mlcremote.part-bbb-2.tmp.{me}"),
            ".mlcremote.part-ccc-1".to_string(),
            format!(".mlcremote.part-eee-1.tmp.{me}"),
            "mlcremote".to_string(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }
}
