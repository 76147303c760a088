//! What every row of `cargo xtask bench` is measured with: the link to the sshd (direct or
//! through the shaping proxy), the client run as a user runs it, and the OpenSSH tools
//! doing the same job.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use harness::{User, proxy::Proxy};

/// One row of the table.
pub struct Row {
    pub job: &'static str,
    pub link: &'static str,
    pub ours: Duration,
    pub baseline: Duration,
    pub what: &'static str,
    /// Lower is better: ours / baseline must stay at or under it.
    pub goal: Option<f64>,
    /// Each step of our deploy in round trips of the link (on loopback, in ms).
    pub round_trips: String,
}

#[derive(Clone, Copy)]
pub enum Source<'a> {
    Dist,
    Artifact(&'a Path),
}

#[derive(Clone)]
pub struct Ctx<'a> {
    /// Where the client connects: the server, or the proxy in front of it.
    pub port: u16,
    pub known_hosts: PathBuf,
    pub client: &'a Path,
    pub dist: &'a Path,
    /// The client's HOME: an empty ssh config, no keys of its own.
    pub home: &'a Path,
    pub rtt: Option<Duration>,
    pub runs: usize,
    /// The shaping proxy, when there is one: it counts the bytes that cross the link.
    pub proxy: Option<&'a Proxy>,
}

/// Milliseconds per step of one deploy, in order.
pub type StepTimes = Vec<(String, f64)>;

impl Ctx<'_> {
    pub fn median(&self, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
        let mut times = (0..self.runs.max(1)).map(|_| f()).collect::<Result<Vec<_>>>()?;
        times.sort();
        Ok(times[times.len() / 2])
    }

    /// The median time, and each step's mean time over the runs.
    pub fn median_steps(&self, mut f: impl FnMut() -> Result<(Duration, StepTimes)>) -> Result<(Duration, StepTimes)> {
        let mut times = Vec::new();
        let mut steps: BTreeMap<String, (usize, f64, usize)> = BTreeMap::new();
        for _ in 0..self.runs.max(1) {
            let (took, run) = f()?;
            times.push(took);
            for (order, (name, ms)) in run.into_iter().enumerate() {
                let entry = steps.entry(name).or_insert((order, 0.0, 0));
                entry.1 += ms;
                entry.2 += 1;
            }
        }
        times.sort();
        let mut mean: Vec<(usize, String, f64)> = steps
            .into_iter()
            .map(|(name, (order, total, n))| (order, name, total / n as f64))
            .collect();
        mean.sort_by_key(|(order, ..)| *order);
        Ok((
            times[times.len() / 2],
            mean.into_iter().map(|(_, n, ms)| (n, ms)).collect(),
        ))
    }

    pub fn row(
        &self,
        job: &'static str,
        link: &'static str,
        (ours, steps): (Duration, &[(String, f64)]),
        (baseline, what): (Duration, &'static str),
        goal: Option<f64>,
    ) -> Row {
        // In round trips of the link; on loopback, where a round trip is next to nothing,
        // in milliseconds.
        let round_trips = steps
            .iter()
            .map(|(name, ms)| match self.rtt {
                Some(rtt) => format!("{name} {:.1}", ms / (rtt.as_secs_f64() * 1000.0)),
                None => format!("{name} {ms:.0} ms"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        Row {
            job,
            link,
            ours,
            baseline,
            what,
            goal,
            round_trips,
        }
    }

    pub fn destination(&self, user: &User) -> String {
        format!("{}@127.0.0.1:{}", user.name, self.port)
    }

    pub fn client(&self) -> Command {
        let mut cmd = Command::new(self.client);
        cmd.arg("mlcremote")
            .env("HOME", self.home)
            .env_remove("SSH_AUTH_SOCK")
            .stdin(Stdio::null());
        cmd
    }

    /// `cargo mlcremote deploy` to these users at once, timed as a user sees it; the
    /// steps of the first host's report.
    pub fn deploy(&self, users: &[&User], source: Source<'_>) -> Result<(Duration, StepTimes)> {
        let mut cmd = self.client();
        cmd.args(["deploy", "--json", "-F"])
            .arg(self.home.join(".ssh/config"))
            .arg("--known-hosts")
            .arg(&self.known_hosts)
            .args(["-j", &users.len().to_string()]);
        match source {
            Source::Dist => cmd.arg("--dist").arg(self.dist),
            Source::Artifact(path) => cmd.arg("--artifact").arg(path),
        };
        for user in users {
            cmd.arg("--host").arg(self.destination(user)).arg("-i").arg(&user.key);
        }
        let start = Instant::now();
        let out = cmd.output()?;
        let took = start.elapsed();
        ensure!(
            out.status.success(),
            "deploy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first = String::from_utf8_lossy(&out.stdout);
        let report: serde_json::Value =
            serde_json::from_str(first.lines().next().unwrap_or_default()).context("no report")?;
        let steps = report["steps"]
            .as_array()
            .map(|steps| {
                steps
                    .iter()
                    .filter_map(|s| Some((s["name"].as_str()?.to_string(), s["ms"].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok((took, steps))
    }

    pub fn status(&self, user: &User) -> Result<Duration> {
        let start = Instant::now();
        let out = self
            .client()
            .args(["status", "--json", "--host", &self.destination(user), "-F"])
            .arg(self.home.join(".ssh/config"))
            .arg("-i")
            .arg(&user.key)
            .arg("--known-hosts")
            .arg(&self.known_hosts)
            .output()?;
        let took = start.elapsed();
        ensure!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("\"healthy\":true"),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(took)
    }

    pub fn ssh_options(&self, user: &User) -> Vec<String> {
        vec![
            "-i".into(),
            user.key.to_string_lossy().into_owned(),
            "-F".into(),
            "none".into(),
            "-o".into(),
            format!("UserKnownHostsFile={}", self.known_hosts.display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
            "-o".into(),
            "BatchMode=yes".into(),
            "-o".into(),
            "LogLevel=ERROR".into(),
        ]
    }

    pub fn ssh(&self, user: &User, command: &str) -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new("ssh")
            .args(self.ssh_options(user))
            .args([
                "-p",
                &self.port.to_string(),
                &format!("{}@127.0.0.1", user.name),
                command,
            ])
            .stdin(Stdio::null())
            .output()?;
        ensure!(
            out.status.success(),
            "ssh {command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(start.elapsed())
    }

    pub fn scp(&self, user: &User, file: &Path) -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new("scp")
            .args(self.ssh_options(user))
            .args(["-q", "-P", &self.port.to_string()])
            .arg(file)
            .arg(format!("{}@127.0.0.1:upload.bin", user.name))
            .stdin(Stdio::null())
            .output()?;
        ensure!(
            out.status.success(),
            "scp failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(start.elapsed())
    }

    /// What a user would script with the OpenSSH tools for the same job: probe, upload,
    /// install and start, poll health. Each step is its own ssh/scp connection.
    pub fn openssh_cold(&self, user: &User, binary: &Path) -> Result<Duration> {
        let start = Instant::now();
        self.ssh(
            user,
            "uname -s -m; echo $HOME; command -v setsid; mkdir -p ~/.mlcremote/logs && chmod 700 ~/.mlcremote",
        )?;
        let out = Command::new("scp")
            .args(self.ssh_options(user))
            .args(["-q", "-P", &self.port.to_string()])
            .arg(binary)
            .arg(format!("{}@127.0.0.1:.mlcremote/.upload", user.name))
            .output()?;
        ensure!(
            out.status.success(),
            "scp failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.ssh(
            user,
            "cd ~/.mlcremote && sha256sum .upload >/dev/null && chmod 755 .upload && mv -f .upload mlcremote && \
             { test -s token || (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \\n' > token); } && \
             setsid ./mlcremote serve --token-file ~/.mlcremote/token --state-file ~/.mlcremote/server.json \
               >>logs/out.log 2>&1 </dev/null & \
             i=0; while [ ! -s ~/.mlcremote/server.json ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done",
        )?;
        self.ssh(
            user,
            "~/.mlcremote/mlcremote health --state-file ~/.mlcremote/server.json >/dev/null",
        )?;
        Ok(start.elapsed())
    }
}

/// Requests each forwarding row sends, one after the other on one connection.
pub const TUNNEL_REQUESTS: usize = 50;

impl Ctx<'_> {
    /// [`TUNNEL_REQUESTS`] reads of a 14 KiB file through `cargo mlcremote tunnel`, from
    /// the first request to the last answer (the tunnel's own start is not counted).
    pub fn tunnel(&self, user: &User) -> Result<Duration> {
        let mut tunnel = self
            .client()
            .args(["tunnel", "--host", &self.destination(user), "-F"])
            .arg(self.home.join(".ssh/config"))
            .arg("-i")
            .arg(&user.key)
            .arg("--known-hosts")
            .arg(&self.known_hosts)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let result = (|| {
            // Its first line is the API's URL, once it listens (or nothing: it ended).
            let mut first = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(tunnel.stdout.as_mut().context("no stdout")?),
                &mut first,
            )?;
            let port = first
                .trim()
                .strip_prefix("http://127.0.0.1:")
                .and_then(|rest| rest.split('/').next()?.parse().ok())
                .with_context(|| format!("tunnel printed {first:?}"))?;
            requests(port, &server_of(user)?.1)
        })();
        let _ = tunnel.kill();
        let _ = tunnel.wait();
        result
    }

    /// The same through `ssh -N -L` to the server's port.
    pub fn ssh_tunnel(&self, user: &User) -> Result<Duration> {
        let (remote, token) = server_of(user)?;
        let local = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut ssh = Command::new("ssh")
            .args(self.ssh_options(user))
            .args([
                "-N",
                "-o",
                "ExitOnForwardFailure=yes",
                "-p",
                &self.port.to_string(),
                "-L",
            ])
            .arg(format!("{local}:127.0.0.1:{remote}"))
            .arg(format!("{}@127.0.0.1", user.name))
            .stdin(Stdio::null())
            .spawn()?;
        let result = (|| {
            // ssh says nothing once it forwards: its port is looked at until it answers.
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(("127.0.0.1", local)).is_err() {
                ensure!(ssh.try_wait()?.is_none(), "ssh -L ended");
                ensure!(Instant::now() < deadline, "ssh -L did not listen within 30 s");
                std::thread::sleep(Duration::from_millis(10));
            }
            requests(local, &token)
        })();
        let _ = ssh.kill();
        let _ = ssh.wait();
        result
    }
}

/// The running server's port and its token, as the host has them.
fn server_of(user: &User) -> Result<(u16, String)> {
    let dir = user.mlcremote_dir();
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("server.json"))?)?;
    let port = state["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .context("server.json has no port")?;
    Ok((port, std::fs::read_to_string(dir.join("token"))?.trim().to_string()))
}

/// [`TUNNEL_REQUESTS`] reads of the bench's 14 KiB file at `port`, on one connection.
fn requests(port: u16, token: &str) -> Result<Duration> {
    let mut conn = KeepAlive::connect(port)?;
    let start = Instant::now();
    for _ in 0..TUNNEL_REQUESTS {
        let status = conn.get(&format!("/api/file?path={TUNNEL_FILE}"), token)?;
        ensure!(status == 200, "{TUNNEL_FILE} answered {status}");
    }
    Ok(start.elapsed())
}

/// The file the forwarding rows read, in the user's home.
pub const TUNNEL_FILE: &str = "tunnel.rs";

/// A 14 KiB source file (600 short functions): what the tunnel reads and the page opens.
pub fn source_text() -> String {
    (0..600).map(|i| format!("fn f{i}() -> u32 {{ {i} }}\n")).collect()
}

pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// One keep-alive HTTP/1.1 connection: GET, read the status, headers and the body.
pub struct KeepAlive {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    pub fn connect(port: u16) -> Result<KeepAlive> {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(KeepAlive {
            reader: std::io::BufReader::new(stream),
        })
    }

    pub fn get(&mut self, path: &str, token: &str) -> Result<u16> {
        use std::io::{BufRead, Read, Write};
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nX-Auth-Token: {token}\r\n\r\n");
        self.reader.get_mut().write_all(request.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP answer: {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
        }
        std::io::copy(&mut (&mut self.reader).take(length as u64), &mut std::io::sink())?;
        Ok(status)
    }
}
