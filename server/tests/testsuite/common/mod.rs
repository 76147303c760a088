//! Shared by the server's integration tests: the server as a process, and a real HTTP
//! client (hyper) to talk to it.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_mlcremote");

pub struct Server {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Server {
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(extra, &[])
    }

    pub fn start_with(extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_under(&[], extra, env)
    }

    /// Started by `wrapper` (e.g. `prlimit --nofile=256:256 --`), then the server.
    pub fn start_under(wrapper: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(BIN);
                cmd
            }
            None => Command::new(BIN),
        };
        cmd.arg("serve")
            .arg("--token-file")
            .arg(dir.path().join("token"))
            .arg("--state-file")
            .arg(dir.path().join("server.json"))
            .arg("--root")
            .arg(dir.path())
            .arg("--trash-dir")
            .arg(dir.path().join("trash"))
            .args(extra)
            .env_remove("MLCREMOTE_TOKEN")
            .stdout(Stdio::null())
            .stderr(fs::File::create(dir.path().join("log")).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let state = dir.path().join("server.json");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !state.exists() {
            assert!(
                Instant::now() < deadline,
                "no state file: {}",
                fs::read_to_string(dir.path().join("log")).unwrap()
            );
            thread::sleep(Duration::from_millis(10));
        }
        let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(&state).unwrap()).unwrap();
        let port = json["port"].as_u64().unwrap() as u16;
        Server { child, dir, port }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// SIGTERM and wait; returns how long it took to exit.
    pub fn terminate(&mut self) -> Duration {
        let start = Instant::now();
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}: {}", self.log());
        start.elapsed()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn get(port: u16, path: &str) -> (u16, String) {
    let (status, body) = request(port, "GET", path, &[], Vec::new());
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One HTTP/1.1 request with a real client (hyper). The server's tests stand alone, like
/// the server: its source bundle builds with nothing else from the workspace.
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Vec<u8>) {
    let (status, _, body) = exchange(port, method, path, headers, body);
    (status, body)
}

/// [`request`], with the answer's headers.
pub fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = sender
            .send_request(req.body(Full::new(hyper::body::Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (
            status,
            headers,
            res.into_body().collect().await.unwrap().to_bytes().to_vec(),
        )
    })
}
