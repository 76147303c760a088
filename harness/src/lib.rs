//! Throwaway SSH servers on loopback, for the tests, `cargo xtask demo` and
//! `cargo xtask bench`.
//!
//! [`Sshd::start`] runs a real OpenSSH `sshd` on `127.0.0.1` with its own host key and
//! config in a temp dir. [`Sshd::user`] gives an account to deploy into: as root a fresh
//! throwaway user (removed on drop, with every process it left running); as anyone else
//! the current user, with a temp install dir so the real `~/.mlcremote` is never touched.
//! Nothing here is a mock: the client under test talks to the real daemon.

use std::{
    ffi::OsStr,
    fs,
    io::Read,
    net::{SocketAddr, TcpListener, TcpStream},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};

pub mod browser;
pub mod proxy;

/// Which SSH server to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    OpenSsh,
    Dropbear,
}

/// A running `sshd` (or dropbear), stopped (by its pid) when dropped.
pub struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    users: Mutex<Vec<String>>,
}

/// An account the SSH server lets in with [`User::key`].
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub home: PathBuf,
    /// Private key (no passphrase) that the server accepts for this user.
    pub key: PathBuf,
    /// Where deploy should install: `None` means the default `~/.mlcremote`; set when the
    /// harness runs unprivileged and the account is the developer's own.
    pub install_dir: Option<PathBuf>,
}

impl User {
    /// The install dir deploy will use for this user.
    pub fn mlcremote_dir(&self) -> PathBuf {
        self.install_dir.clone().unwrap_or_else(|| self.home.join(".mlcremote"))
    }

    /// Hand `paths` (made by the test, as root) to this account, as if it had made them
    /// itself: its server may then move and change them as their owner can.
    pub fn own(&self, paths: &[&Path]) -> Result<()> {
        if !is_root() {
            return Ok(());
        }
        let status = std::process::Command::new("chown")
            .arg("-R")
            .arg(format!("{}:", self.name))
            .args(paths)
            .status()?;
        anyhow::ensure!(status.success(), "chown -R {} {paths:?}: {status}", self.name);
        Ok(())
    }

    /// Back to "nothing installed": stop the deployed server and remove its dir.
    pub fn reset(&self) -> Result<()> {
        let dir = self.mlcremote_dir();
        kill_server(&dir.join("server.json"));
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { geteuid() == 0 }
}

unsafe extern "C" {
    fn geteuid() -> u32;
}

/// Find a program or say how to get it. In CI a missing tool fails the test, never skips it.
pub fn require(program: &str, package: &str) -> Result<PathBuf> {
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&dirs)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .with_context(|| format!("`{program}` not found: install it with `apt-get install {package}` (Debian/Ubuntu)"))
}

impl Sshd {
    /// Start OpenSSH `sshd` on a free loopback port.
    pub fn start() -> Result<Sshd> {
        Sshd::start_with(Daemon::OpenSsh, "")
    }

    /// Start Dropbear on a free loopback port (root only: it reads
    /// `~user/.ssh/authorized_keys`, and only throwaway users get one written).
    pub fn start_dropbear() -> Result<Sshd> {
        ensure!(
            is_root(),
            "dropbear tests need root: they write ~/.ssh/authorized_keys of throwaway users"
        );
        Sshd::start_with(Daemon::Dropbear, "")
    }

    /// Start a daemon; `extra` is OpenSSH config that wins over the defaults
    /// (`PasswordAuthentication yes`, `AllowTcpForwarding no`, ...).
    pub fn start_with(daemon: Daemon, extra: &str) -> Result<Sshd> {
        let program = match daemon {
            Daemon::OpenSsh => {
                require("ssh-keygen", "openssh-client")?;
                require("sshd", "openssh-server")?
            }
            Daemon::Dropbear => {
                require("dropbearkey", "dropbear-bin")?;
                require("dropbear", "dropbear-bin")?
            }
        };
        let dir = tempfile::Builder::new().prefix("mlcremote-sshd-").tempdir()?;
        // Throwaway users' homes live in here: they must be able to walk into it.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        fs::create_dir(dir.path().join("authorized_keys"))?;
        fs::set_permissions(dir.path().join("authorized_keys"), fs::Permissions::from_mode(0o755))?;
        let host_key = dir.path().join("ssh_host_ed25519_key");
        match daemon {
            Daemon::OpenSsh => keygen(&host_key)?,
            Daemon::Dropbear => {
                run(Command::new("dropbearkey").args(["-t", "ed25519", "-f"]).arg(&host_key))?;
                let out = Command::new("dropbearkey")
                    .arg("-y")
                    .arg("-f")
                    .arg(&host_key)
                    .output()?;
                let text = String::from_utf8_lossy(&out.stdout);
                let public = text
                    .lines()
                    .find(|l| l.starts_with("ssh-"))
                    .context("dropbearkey -y printed no key")?;
                fs::write(dir.path().join("ssh_host_ed25519_key.pub"), format!("{public}\n"))?;
            }
        }
        if is_root() {
            // Privilege separation needs it; a fresh container lacks it.
            fs::create_dir_all("/run/sshd")?;
        }

        let mut last_err = None;
        for _ in 0..5 {
            let port = free_port()?;
            let log = dir.path().join("sshd.log");
            let mut command = Command::new(&program);
            match daemon {
                Daemon::OpenSsh => {
                    let config = dir.path().join("sshd_config");
                    fs::write(&config, format!("{extra}\n{}", sshd_config(dir.path(), port)))?;
                    command.arg("-D").arg("-e").arg("-f").arg(&config);
                }
                Daemon::Dropbear => {
                    command
                        .args(["-F", "-E", "-s", "-p", &format!("127.0.0.1:{port}"), "-r"])
                        .arg(&host_key)
                        .arg("-P")
                        .arg(dir.path().join("dropbear.pid"));
                }
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log)?)
                .spawn()
                .with_context(|| format!("cannot run {}", program.display()))?;
            match wait_ready(&mut child, port, &log) {
                Ok(()) => {
                    return Ok(Sshd {
                        child,
                        port,
                        dir,
                        users: Mutex::new(Vec::new()),
                    });
                }
                Err(err) => {
                    // Most likely another process took the port between our probe and the bind.
                    last_err = Some(err);
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("the SSH server did not start")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `known_hosts` file that trusts this server, as `ssh` would have written it.
    pub fn known_hosts(&self) -> Result<PathBuf> {
        self.known_hosts_for(self.port)
    }

    /// The same, for this server reached on another port (through a proxy).
    pub fn known_hosts_for(&self, port: u16) -> Result<PathBuf> {
        let public = fs::read_to_string(self.dir.path().join("ssh_host_ed25519_key.pub"))?;
        let key: Vec<&str> = public.split_whitespace().take(2).collect();
        let path = self.dir.path().join(format!("known_hosts-{}", unique()));
        fs::write(&path, format!("[127.0.0.1]:{port} {}\n", key.join(" ")))?;
        Ok(path)
    }

    /// The host's key fingerprint line as `ssh-keygen -lf` prints it (for messages).
    pub fn host_public_key(&self) -> Result<String> {
        Ok(fs::read_to_string(self.dir.path().join("ssh_host_ed25519_key.pub"))?
            .trim()
            .to_string())
    }

    /// `user@127.0.0.1:port`, what a user passes to `--host`.
    pub fn destination(&self, user: &User) -> String {
        format!("{}@127.0.0.1:{}", user.name, self.port)
    }

    /// What sshd logged: handy in assertion messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An account whose login shell is `shell` and whose start-up files all print noise,
    /// as real ones often do (root only). Deploy must not be confused by it.
    pub fn noisy_user(&self, shell: &str) -> Result<User> {
        ensure!(
            is_root(),
            "accounts with other login shells need root (throwaway users)"
        );
        let user = self.user_with_shell(shell)?;
        for file in [
            ".bashrc",
            ".profile",
            ".zshenv",
            ".cshrc",
            ".tcshrc",
            ".config/fish/config.fish",
        ] {
            let path = user.home.join(file);
            fs::create_dir_all(path.parent().context("rc file has a folder")?)?;
            fs::write(&path, format!("echo 'Welcome! (noise from {file})'\n"))?;
        }
        run(Command::new("chown")
            .arg("-R")
            .arg(format!("{0}:{0}", user.name))
            .arg(&user.home))?;
        Ok(user)
    }

    /// An account to deploy into; see the module docs for root vs. unprivileged.
    pub fn user(&self) -> Result<User> {
        self.user_with_shell("/bin/sh")
    }

    /// Like [`Sshd::user`], with the given login shell (root only: otherwise the shell is
    /// the developer's own).
    pub fn user_with_shell(&self, shell: &str) -> Result<User> {
        if !is_root() {
            return self.own_account();
        }
        let (key, public) = self.new_key()?;
        let user = {
            let name = format!("mlcr{}", &unique()[..8]);
            let home = self.dir.path().join("home").join(&name);
            fs::create_dir_all(home.parent().context("home has a parent")?)?;
            fs::set_permissions(
                home.parent().context("home has a parent")?,
                fs::Permissions::from_mode(0o755),
            )?;
            let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            run(Command::new("useradd")
                .args(["--create-home", "--home-dir"])
                .arg(&home)
                .args(["--shell", shell, "--password", "*", "--user-group"])
                .arg(&name))?;
            self.users.lock().unwrap_or_else(|e| e.into_inner()).push(name.clone());
            // Dropbear reads only ~/.ssh/authorized_keys.
            let ssh_dir = home.join(".ssh");
            fs::create_dir_all(&ssh_dir)?;
            fs::write(ssh_dir.join("authorized_keys"), &public)?;
            fs::set_permissions(ssh_dir.join("authorized_keys"), fs::Permissions::from_mode(0o600))?;
            run(Command::new("chown")
                .arg("-R")
                .arg(format!("{name}:{name}"))
                .arg(&ssh_dir))?;
            User {
                name,
                home,
                key,
                install_dir: None,
            }
        };
        self.authorize(&user, &public)?;
        Ok(user)
    }

    /// The account the tests run as (root included), with its own home and tools (such
    /// as the developer's cargo) and a temp install dir, so the real `~/.mlcremote` is
    /// never touched.
    pub fn own_account(&self) -> Result<User> {
        let (key, public) = self.new_key()?;
        let name = match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
            Ok(name) => name,
            Err(_) if is_root() => "root".into(),
            Err(_) => bail!("USER is not set"),
        };
        let home = PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?);
        let install_dir = self.dir.path().join(format!("install-{}", unique()));
        let user = User {
            name,
            home,
            key,
            install_dir: Some(install_dir),
        };
        self.authorize(&user, &public)?;
        Ok(user)
    }

    /// A fresh key pair in our dir: the private key's path and the public key's line.
    fn new_key(&self) -> Result<(PathBuf, String)> {
        let key = self.dir.path().join(format!("id_ed25519-{}", unique()));
        keygen(&key)?;
        let public = fs::read_to_string(format!("{}.pub", key.display()))?;
        Ok((key, public))
    }

    /// Let `public` log in as `user` (sshd reads `authorized_keys/<user>` in our dir).
    fn authorize(&self, user: &User, public: &str) -> Result<()> {
        let authorized = self.dir.path().join("authorized_keys").join(&user.name);
        let mut keys = fs::read_to_string(&authorized).unwrap_or_default();
        keys.push_str(public);
        fs::write(&authorized, keys)?;
        fs::set_permissions(&authorized, fs::Permissions::from_mode(0o644))?;
        Ok(())
    }
}

/// Wait until the daemon sends its SSH banner (bounded).
pub fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = || fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("the SSH server exited with {status}: {}", log());
        }
        if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut banner = [0u8; 7];
            if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                return Ok(());
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the SSH server did not answer on port {port} within 10 s: {}",
            log()
        );
        thread::sleep(Duration::from_millis(25));
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let users = std::mem::take(&mut *self.users.lock().unwrap_or_else(|e| e.into_inner()));
        for name in users {
            remove_account(&name);
        }
        if !is_root() {
            // The developer's own account: stop only the servers deployed into our temp dirs.
            if let Ok(entries) = fs::read_dir(self.dir.path()) {
                for entry in entries.flatten() {
                    kill_server(&entry.path().join("server.json"));
                }
            }
        }
    }
}

/// Stop every process a throwaway account left (deployed servers included), then remove it.
fn remove_account(name: &str) {
    let _guard = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let _ = Command::new("pkill").args(["-KILL", "-u", name]).status();
    for _ in 0..50 {
        let alive = Command::new("pgrep").args(["-u", name]).stdout(Stdio::null()).status();
        if !alive.is_ok_and(|s| s.success()) {
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = Command::new("userdel").arg(name).stderr(Stdio::null()).status();
}

/// Stop the server a `server.json` names (SIGTERM), waiting (bounded) until it is gone.
pub fn kill_server(state_file: &Path) {
    let Ok(text) = fs::read_to_string(state_file) else {
        return;
    };
    let pid = text
        .split("\"pid\":")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|pid| pid.parse::<u32>().ok());
    if let Some(pid) = pid {
        let _ = Command::new("kill").arg(pid.to_string()).status();
        // Wait (bounded) until it is gone or a zombie.
        for _ in 0..250 {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat
                .rsplit(')')
                .next()
                .is_none_or(|r| r.trim_start().is_empty() || r.trim_start().starts_with('Z'))
            {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// useradd/userdel lock /etc/passwd; tests in one process must take turns.
static ACCOUNTS: Mutex<()> = Mutex::new(());

fn sshd_config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "Port {port}
ListenAddress 127.0.0.1
HostKey {d}/ssh_host_ed25519_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys/%u
UsePAM no
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
MaxStartups 64
MaxSessions 64
Subsystem sftp internal-sftp
LogLevel VERBOSE
"
    )
}

fn keygen(path: &Path) -> Result<()> {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "mlcremote-test", "-f"])
        .arg(path))
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Write a shell script a test puts on PATH (a stand-in or a wrapper), executable.
pub fn write_script(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// A name no other test in this run uses.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{:08x}{:04x}{n:04x}",
        nanos ^ std::process::id().rotate_left(16),
        std::process::id() & 0xffff
    )
}

/// The release profile's size tuning (fat LTO, one codegen unit, `opt-level = "s"`) left
/// out, as environment for cargo: for builds the tests run that stay real cargo builds
/// along the real path, of the real server, which must come up healthy, but whose tuning
/// is most of a build's time and no part of what is tested. Never for a target whose
/// release build in the checkout's own target dir other tests share (it would be rebuilt
/// back and forth); build scripts and proc macros keep their own settings, so they are
/// not rebuilt.
pub const QUICK_BUILD: [(&str, &str); 3] = [
    ("CARGO_PROFILE_RELEASE_LTO", "off"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "64"),
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
];

/// The server binary to deploy in tests: built once per test process with the same
/// cargo that runs the tests, so it is never stale.
pub fn server_binary() -> Result<PathBuf> {
    binary("mlcremote", "mlcremote")
}

/// A workspace binary, built (debug) once per process by the cargo running the tests.
/// Only for another package's binaries: a package's own tests run
/// `env!("CARGO_BIN_EXE_…")`, which cargo built with the test run's features; building
/// it again here (with the package's own features) relinks that same file while tests
/// running beside this one use it.
pub fn binary(package: &str, bin: &str) -> Result<PathBuf> {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(name, _)| name == bin) {
        return Ok(path.clone());
    }
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(&cargo)
        .current_dir(&root)
        .args(["build", "--quiet", "--package", package, "--bin", bin]))?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let path = target_dir.join("debug").join(bin);
    ensure!(path.is_file(), "built {bin} but {} is missing", path.display());
    built.push((bin.to_string(), path.clone()));
    Ok(path)
}

/// The repository's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Run a program and return its stdout, failing with its stderr.
pub fn output(program: impl AsRef<OsStr>, args: &[&str]) -> Result<String> {
    let out = Command::new(program.as_ref())
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    ensure!(
        out.status.success(),
        "{} {args:?} failed: {}",
        program.as_ref().to_string_lossy(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A finished command's status, stdout and stderr, for assertion messages.
pub fn describe(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Import circles between the modules of the crate whose sources are in `src`: each
/// circle as `a -> b -> a`. A module's edges are the `crate::`, `super::` and `self::`
/// paths its file names (a path counts for the deepest module it names); `mod` lines
/// and a parent's `pub use` of its own children are declarations, not dependencies.
pub fn module_cycles(src: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    collect_rs(src, &mut files)?;
    let module_of = |path: &Path| -> Vec<String> {
        let rel = path.strip_prefix(src).unwrap_or(path);
        let mut parts: Vec<String> = rel
            .iter()
            .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
            .collect();
        if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
            parts.pop();
        }
        parts
    };
    let modules: Vec<Vec<String>> = files.iter().map(|f| module_of(f)).collect();
    let mut edges: Vec<(usize, usize)> = Vec::new();
    for (from, file) in files.iter().enumerate() {
        let text = flatten_inline_modules(&fs::read_to_string(file)?);
        let here = &modules[from];
        // A child module is named without `self::` too: `child::item`.
        let children: Vec<&String> = modules
            .iter()
            .filter(|m| m.len() == here.len() + 1 && m.starts_with(here))
            .filter_map(|m| m.last())
            .collect();
        for path in paths_in(&text, &children) {
            let mut segments: Vec<String> = Vec::new();
            let mut rest = path.as_str();
            if let Some(r) = rest.strip_prefix("crate::") {
                rest = r;
            } else if rest.starts_with("super::") || rest.starts_with("self::") {
                segments = here.clone();
                while let Some(r) = rest.strip_prefix("super::") {
                    segments.pop();
                    rest = r;
                }
                rest = rest.strip_prefix("self::").unwrap_or(rest);
            } else {
                continue;
            }
            segments.extend(rest.split("::").map(str::to_string));
            // The deepest module the path names.
            let target = (0..=segments.len())
                .rev()
                .find_map(|n| modules.iter().position(|m| m[..] == segments[..n]));
            if let Some(to) = target
                && to != from
            {
                edges.push((from, to));
            }
        }
    }
    edges.sort_unstable();
    edges.dedup();
    let name = |i: usize| {
        if modules[i].is_empty() {
            "crate".to_string()
        } else {
            modules[i].join("::")
        }
    };
    let mut cycles = Vec::new();
    for start in 0..modules.len() {
        // Depth-first from `start`, looking for a way back to it.
        let mut stack = vec![(start, vec![start])];
        let mut seen = vec![false; modules.len()];
        while let Some((at, trail)) = stack.pop() {
            for &(_, to) in edges.iter().filter(|(f, _)| *f == at) {
                if to == start {
                    let mut names: Vec<String> = trail.iter().map(|&i| name(i)).collect();
                    names.push(name(start));
                    cycles.push(names.join(" -> "));
                } else if !seen[to] && to > start {
                    seen[to] = true;
                    let mut next = trail.clone();
                    next.push(to);
                    stack.push((to, next));
                }
            }
        }
    }
    Ok(cycles)
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    Ok(())
}

/// The file's text with `super::` paths inside inline modules (`mod tests { … }`)
/// rewritten relative to the file's own module: `super::x` one level in is `self::x`.
fn flatten_inline_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut opened_at: Vec<i64> = Vec::new();
    let mut depth = 0i64;
    for line in text.lines() {
        out.push_str(&rewrite_supers(line, opened_at.len()));
        out.push('\n');
        let trimmed = line.trim_start();
        let declaration = trimmed
            .strip_prefix("pub(crate) ")
            .or_else(|| trimmed.strip_prefix("pub "))
            .unwrap_or(trimmed);
        if declaration.starts_with("mod ") && trimmed.trim_end().ends_with('{') {
            opened_at.push(depth);
        }
        let code = line.split("//").next().unwrap_or_default();
        depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
        while opened_at.last().is_some_and(|&at| depth <= at) {
            opened_at.pop();
        }
    }
    out
}

/// `line` with each run of `k` leading `super::` written as seen from `inline` levels out.
fn rewrite_supers(line: &str, inline: usize) -> String {
    if inline == 0 {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("super::") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if out
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
        {
            out.push_str("super::");
            rest = &rest["super::".len()..];
            continue;
        }
        let mut k = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            k += 1;
            rest = r;
        }
        if k <= inline {
            out.push_str("self::");
        } else {
            out.push_str(&"super::".repeat(k - inline));
        }
    }
    out.push_str(rest);
    out
}

/// `crate::a::b`, `super::x`, `self::y` and `child::z` paths in Rust source: `use`
/// trees expanded whole (`use crate::{a, b::c}`), paths in code found by their root.
/// Comments, `mod` lines and `pub use` re-exports are skipped.
fn paths_in(text: &str, children: &[&String]) -> Vec<String> {
    let mut code = String::new();
    let mut uses = Vec::new();
    let mut statement: Option<(bool, String)> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("//") || trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ") {
            continue;
        }
        if statement.is_none() {
            let reexport = trimmed.starts_with("pub use ") || trimmed.starts_with("pub(crate) use ");
            if let Some(rest) = trimmed
                .strip_prefix("use ")
                .or_else(|| reexport.then(|| trimmed.split_once("use ").map_or("", |(_, r)| r)))
            {
                statement = Some((reexport, String::new()));
                if let Some((_, text)) = statement.as_mut() {
                    text.push_str(rest);
                }
            } else {
                code.push_str(line);
                code.push('\n');
                continue;
            }
        } else if let Some((_, text)) = statement.as_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
        if let Some((reexport, text)) = statement.take_if(|(_, t)| t.trim_end().ends_with(';'))
            && !reexport
        {
            uses.push(text.trim_end().trim_end_matches(';').to_string());
        }
    }
    let roots = ["crate::".to_string(), "super::".into(), "self::".into()];
    let child_roots: Vec<String> = children.iter().map(|c| format!("{c}::")).collect();
    let rooted = |path: String| -> Option<String> {
        if roots.iter().any(|r| path.starts_with(r.as_str())) {
            Some(path)
        } else if child_roots.iter().any(|r| path.starts_with(r.as_str())) {
            Some(format!("self::{path}"))
        } else {
            None
        }
    };
    let mut out = Vec::new();
    for tree in uses {
        let mut found = Vec::new();
        expand(tree.trim(), &mut found);
        out.extend(found.into_iter().filter_map(rooted));
    }
    for root in roots.iter().chain(&child_roots) {
        let mut from = 0;
        while let Some(at) = code[from..].find(root.as_str()) {
            let start = from + at;
            from = start + root.len();
            let before = code[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut found = Vec::new();
            expand(&code[start..], &mut found);
            out.extend(found.into_iter().filter_map(rooted));
        }
    }
    out
}

/// One path at the start of `s`, with a `{…}` group expanded into several.
fn expand(s: &str, out: &mut Vec<String>) {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    let head = &s[..end];
    if !s[end..].starts_with('{') {
        out.push(head.trim_end_matches(':').to_string());
        return;
    }
    // Match the braces, then split the group on top-level commas.
    let body = &s[end + 1..];
    let mut depth = 1;
    let mut close = body.len();
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = i;
                    break;
                }
            }
            _ => {}
        }
    }
    let group = &body[..close];
    let mut depth = 0;
    let mut part = String::new();
    for c in group.chars().chain(std::iter::once(',')) {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item = part.split_whitespace().next().unwrap_or_default();
                if !item.is_empty() {
                    let joined = if item == "self" {
                        head.trim_end_matches(':').to_string()
                    } else {
                        format!("{head}{item}")
                    };
                    expand(&joined, out);
                }
                part.clear();
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
}
