//! Shared by the client's integration tests: the plugin run as a user runs it.

use std::{
    fs,
    net::TcpStream,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use harness::{Sshd, User};

pub mod ui;

/// A client-side home with no keys or known_hosts of its own, like a fresh machine.
pub struct Client {
    pub home: tempfile::TempDir,
}

impl Client {
    pub fn new() -> Client {
        let home = tempfile::tempdir().unwrap();
        // A user config of its own, empty: with it, `-F` keeps the machine's
        // /etc/ssh/ssh_config (HashKnownHosts and the like) out of the tests.
        fs::create_dir_all(home.path().join(".ssh")).unwrap();
        fs::write(home.path().join(".ssh/config"), "").unwrap();
        Client { home }
    }

    /// `-F <this client's ~/.ssh/config>`.
    pub fn config_args(&self) -> [String; 2] {
        [
            "-F".into(),
            self.home.path().join(".ssh/config").to_string_lossy().into_owned(),
        ]
    }

    /// `cargo mlcremote` as cargo invokes the plugin, with this client's HOME and no agent.
    pub fn plugin(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-mlcremote"));
        command
            .arg("mlcremote")
            .env("HOME", self.home.path())
            .env_remove("SSH_AUTH_SOCK");
        command
    }

    /// `cargo mlcremote <args>`, stdin not a TTY.
    pub fn run(&self, args: &[&str]) -> Output {
        self.plugin().args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// `deploy --host` into `user` with its key and a known_hosts that trusts `sshd`.
    pub fn deploy(&self, sshd: &Sshd, user: &User, extra: &[&str]) -> Output {
        let known_hosts = sshd.known_hosts().unwrap();
        self.deploy_with(sshd, user, &known_hosts, extra)
    }

    pub fn deploy_with(&self, sshd: &Sshd, user: &User, known_hosts: &Path, extra: &[&str]) -> Output {
        let dest = sshd.destination(user);
        let key = user.key.to_string_lossy().into_owned();
        let kh = known_hosts.to_string_lossy().into_owned();
        let [f, config] = self.config_args();
        let mut args = vec![
            "deploy",
            "--host",
            &dest,
            "-i",
            &key,
            "--known-hosts",
            &kh,
            "--health-timeout",
            "20s",
            &f,
            &config,
        ];
        let dir;
        if let Some(install_dir) = &user.install_dir {
            dir = install_dir.to_string_lossy().into_owned();
            args.extend(["--install-dir", &dir]);
        }
        args.extend_from_slice(extra);
        self.run(&args)
    }
}

pub fn text(out: &Output) -> String {
    harness::describe(out)
}

pub fn server() -> String {
    harness::server_binary().unwrap().to_string_lossy().into_owned()
}

pub fn server_json(user: &User) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(user.mlcremote_dir().join("server.json")).unwrap()).unwrap()
}

/// The server's state file if there is one now (a swap removes it for a moment: the old
/// server's clean exit, then the new one's start).
pub fn server_json_now(user: &User) -> Option<serde_json::Value> {
    let text = fs::read_to_string(user.mlcremote_dir().join("server.json")).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn report(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().next().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

/// The names of the steps a deploy report lists, in order.
pub fn step_names(report: &serde_json::Value) -> Vec<&str> {
    report["steps"]
        .as_array()
        .map(|steps| steps.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default()
}

impl Client {
    /// Run `cargo mlcremote <args>` on a pseudo-terminal (`script`), typing `input`.
    pub fn on_a_terminal(&self, args: &[String], input: &str) -> Output {
        self.on_a_terminal_with(args, input, &[])
    }

    /// The same with extra environment (such as [`toolchain_env`]).
    pub fn on_a_terminal_with(&self, args: &[String], input: &str, env: &[(&str, String)]) -> Output {
        use std::io::Write;
        harness::require("script", "bsdutils").unwrap();
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let command = format!(
            "HOME='{}' {} mlcremote {}",
            self.home.path().display(),
            env!("CARGO_BIN_EXE_cargo-mlcremote"),
            quoted.join(" ")
        );
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env_remove("SSH_AUTH_SOCK")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The screen as it comes; the input is typed once a question shows (a line that
        // ends in `?`, `:` or `[y/N]`), as a person would, or never if the command ends
        // first.
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut screen = Vec::new();
        if !input.is_empty() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            loop {
                let text = String::from_utf8_lossy(&screen);
                if text.trim_end().ends_with(['?', ':', ']']) {
                    let _ = stdin.write_all(input.as_bytes());
                    break;
                }
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(chunk) => screen.extend_from_slice(&chunk),
                    Err(_) => break, // ended (or never asked): nothing to type
                }
            }
        }
        let status = child.wait().unwrap();
        drop(stdin);
        reader.join().unwrap();
        screen.extend(rx.try_iter().flatten());
        let mut stderr = Vec::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_end(&mut e, &mut stderr);
        }
        Output {
            status,
            stdout: screen,
            stderr,
        }
    }

    /// `cargo mlcremote <args>` with extra environment and `stdin` fed in.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
        use std::io::Write;
        let mut child = self
            .plugin()
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// `cargo mlcremote <command> --host … -i … --known-hosts …` for `user`.
    pub fn command(&self, sshd: &Sshd, user: &User, command: &str, extra: &[&str]) -> Output {
        let args = connection_args(sshd, user);
        let mut all: Vec<&str> = vec![command];
        all.extend(args.iter().map(String::as_str));
        all.extend_from_slice(extra);
        self.run(&all)
    }

    /// The same, as a child process with piped stdout (for tunnel and logs --follow).
    pub fn spawn(&self, sshd: &Sshd, user: &User, command: &str, extra: &[&str]) -> std::process::Child {
        self.plugin()
            .arg(command)
            .args(connection_args(sshd, user))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// `CARGO_HOME` and `RUSTUP_HOME` as they are for the tests: the client's HOME is a
/// throwaway, but a build (`--build`) needs the developer's toolchain and crates. The
/// cache dir too: cargo-zigbuild keeps its compiler wrappers there, and wrappers at
/// another path would make cargo rebuild everything.
pub fn toolchain_env() -> Vec<(&'static str, String)> {
    let home = std::env::var("HOME").unwrap();
    vec![
        (
            "XDG_CACHE_HOME",
            std::env::var("XDG_CACHE_HOME").unwrap_or_else(|_| format!("{home}/.cache")),
        ),
        (
            "CARGO_HOME",
            std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo")),
        ),
        (
            "RUSTUP_HOME",
            std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{home}/.rustup")),
        ),
    ]
}

impl Client {
    /// `deploy` for `user` with `extra`, able to build (see [`toolchain_env`]).
    pub fn deploy_building(&self, sshd: &Sshd, user: &User, extra: &[&str]) -> Output {
        let mut args = vec!["deploy".to_string()];
        args.extend(connection_args(sshd, user));
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env = toolchain_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.run_with(&args, &env, "")
    }
}

pub fn connection_args(sshd: &Sshd, user: &User) -> Vec<String> {
    let mut args = vec![
        "--host".to_string(),
        sshd.destination(user),
        "-i".into(),
        user.key.to_string_lossy().into_owned(),
        "--known-hosts".into(),
        sshd.known_hosts().unwrap().to_string_lossy().into_owned(),
    ];
    if let Some(dir) = &user.install_dir {
        args.extend(["--install-dir".to_string(), dir.to_string_lossy().into_owned()]);
    }
    args
}

pub fn pid_alive(pid: u64) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')))
}

/// One HTTP/1.1 request to `127.0.0.1:port` with a real client (hyper); returns the
/// status and body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> anyhow::Result<(u16, Vec<u8>)> {
    use http_body_util::{BodyExt, Full};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = sender
            .send_request(request.body(Full::new(hyper::body::Bytes::from(body)))?)
            .await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body.to_vec()))
    })
}

/// What a terminal showed, piece by piece, with when each piece arrived.
type Screen = std::sync::Arc<std::sync::Mutex<Vec<(std::time::Instant, Vec<u8>)>>>;

/// `cargo mlcremote` on a pseudo-terminal (`script`), driven as a person would: wait for
/// something to show, look at the screen, type.
pub struct Pty {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    /// Everything shown so far, and when each piece arrived.
    screen: Screen,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Client {
    pub fn pty(&self, args: &[String]) -> Pty {
        harness::require("script", "bsdutils").unwrap();
        let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
        let command = format!(
            "HOME='{}' {} mlcremote {}",
            self.home.path().display(),
            env!("CARGO_BIN_EXE_cargo-mlcremote"),
            quoted.join(" ")
        );
        let mut child = Command::new("script")
            .args(["-qfec", &command, "/dev/null"])
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().unwrap();
        let screen = Screen::default();
        let shown = screen.clone();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                shown
                    .lock()
                    .unwrap()
                    .push((std::time::Instant::now(), buf[..n].to_vec()));
            }
        });
        Pty {
            child,
            stdin,
            screen,
            reader: Some(reader),
        }
    }
}

impl Pty {
    /// All output so far.
    pub fn text(&self) -> String {
        let screen = self.screen.lock().unwrap();
        String::from_utf8_lossy(&screen.iter().flat_map(|(_, b)| b.clone()).collect::<Vec<u8>>()).into_owned()
    }

    /// Wait (bounded) until `text` is on screen; when it showed.
    pub fn wait_for(&self, text: &str, within: std::time::Duration) -> std::time::Instant {
        let deadline = std::time::Instant::now() + within;
        loop {
            {
                let screen = self.screen.lock().unwrap();
                let mut seen = Vec::new();
                for (at, bytes) in screen.iter() {
                    seen.extend_from_slice(bytes);
                    if String::from_utf8_lossy(&seen).contains(text) {
                        return *at;
                    }
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "`{text}` never showed; the screen:\n{}",
                self.text()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// What was drawn after `since`.
    pub fn drawn_after(&self, since: std::time::Instant) -> String {
        let screen = self.screen.lock().unwrap();
        let after: Vec<u8> = screen
            .iter()
            .filter(|(at, _)| *at > since)
            .flat_map(|(_, b)| b.clone())
            .collect();
        String::from_utf8_lossy(&after).into_owned()
    }

    pub fn type_in(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Wait for the program to end; its exit code and everything it showed.
    pub fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        drop(self.stdin.take());
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status.code(), self.text())
    }
}

/// `python3 -m http.server` on 127.0.0.1, stopped by pid on drop.
pub struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    pub fn serve(root: &Path) -> HttpServer {
        let (child, port) = python_on_a_free_port("the HTTP server", |port, python| {
            python
                .args([
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    &port.to_string(),
                    "--directory",
                ])
                .arg(root);
        });
        HttpServer { child, port }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A release `v0.1.0` of `acme/mlcremote` as GitHub lays it out, made by `cargo xtask dist`.
pub fn publish(root: &Path) -> std::path::PathBuf {
    publish_as(root, "acme/mlcremote", "v0.1.0", false)
}

/// `cargo xtask dist` of the test server for this machine into `dir` (made if missing);
/// with `source`, the vendored source bundle too.
pub fn dist_into(dir: &Path, source: bool) {
    fs::create_dir_all(dir).unwrap();
    let xtask = harness::binary("xtask", "xtask").unwrap();
    let out = Command::new(xtask)
        .args([
            "dist",
            "--target",
            mlcremote_release::target::host_triple(),
            "--prebuilt",
            &server(),
            "--out",
        ])
        .arg(dir)
        .args(source.then_some("--source"))
        .current_dir(harness::workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

/// A release of `repo` at `tag` as `publish` makes one; with `source`, the source bundle too.
pub fn publish_as(root: &Path, repo: &str, tag: &str, source: bool) -> std::path::PathBuf {
    let dir = root.join(repo).join("releases/download").join(tag);
    dist_into(&dir, source);
    dir
}

/// The live processes of `uid` but `except` (and its children), as `pid command` lines.
pub fn processes_of(uid: &str, except: u64) -> Vec<String> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u64>() else {
            continue;
        };
        let status = fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
        };
        let zombie = field("State:").is_some_and(|s| s == "Z");
        if field("Uid:").as_deref() != Some(uid)
            || zombie
            || pid == except
            || field("PPid:") == Some(except.to_string())
        {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        found.push(format!(
            "{pid} {}",
            String::from_utf8_lossy(&cmdline).replace('\0', " ")
        ));
    }
    found
}

/// `tests/testsuite/common/ws_echo.py` on 127.0.0.1 (a web app on the host: a page at `/`, a
/// WebSocket echo elsewhere), stopped on drop.
pub struct WebApp {
    child: Child,
    pub port: u16,
}

impl WebApp {
    pub fn start() -> WebApp {
        let (child, port) = python_on_a_free_port("the web app", |port, python| {
            python
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testsuite/common/ws_echo.py"))
                .arg(port.to_string());
        });
        WebApp { child, port }
    }
}

/// `python3` with the arguments `args` gives it for a free loopback port, until it
/// listens there.
fn python_on_a_free_port(what: &str, args: impl FnOnce(u16, &mut Command)) -> (Child, u16) {
    let python = harness::require("python3", "python3").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(python);
    args(port, &mut command);
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

impl Drop for WebApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One text message over a WebSocket to `127.0.0.1:port` (a plain client: handshake,
/// one masked frame, one frame back); the answer.
pub fn websocket_echo(port: u16, text: &str) -> String {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let mut frame = vec![0x81, 0x80 | text.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(text.as_bytes());
    s.write_all(&frame).unwrap();
    let mut top = [0u8; 2];
    s.read_exact(&mut top).unwrap();
    let mut body = vec![0u8; usize::from(top[1] & 0x7f)];
    s.read_exact(&mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}
