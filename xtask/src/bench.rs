//! `cargo xtask bench`: speed measured against what a user would do instead, in the same
//! run on the same machine. Starts its own sshd on loopback; prints a table of medians
//! with the ratio to each baseline and writes it to BENCHMARKS.md.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use harness::{Sshd, User};
use xshell::{Shell, cmd};

use crate::dist::Dist;

#[derive(clap::Args)]
pub struct Bench {
    /// Runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Length of the server load phase (RSS under load).
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub load_seconds: u64,
    /// Where to write the table.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
}

/// One row of the table.
struct Row {
    job: &'static str,
    ours: String,
    baseline: String,
    ratio: Option<f64>,
    goal: String,
    met: Option<bool>,
}

impl Bench {
    pub fn run(self, sh: &Shell) -> Result<()> {
        ensure!(
            harness::is_root(),
            "the benchmark makes throwaway users: run it as root"
        );
        for (tool, package) in [
            ("sshd", "openssh-server"),
            ("ssh", "openssh-client"),
            ("scp", "openssh-client"),
        ] {
            harness::require(tool, package)?;
        }
        eprintln!("building the server (release) and the client (release)...");
        let dist = tempfile::tempdir()?;
        let manifest = Dist::host(dist.path()).run(sh)?;
        cmd!(sh, "cargo build --quiet --release --locked --package cargo-mlcremote").run()?;
        let client = sh.current_dir().join("target/release/cargo-mlcremote");
        let artifact = &manifest.artifacts[0];
        let server_binary = sh.current_dir().join(format!(
            "target/{}/release/mlcremote",
            artifact.target.as_deref().unwrap_or_default()
        ));

        let sshd = Sshd::start()?;
        let users: Vec<User> = (0..7).map(|_| sshd.user()).collect::<Result<_>>()?;
        let main = &users[0];
        let known_hosts = sshd.known_hosts()?;
        let ctx = Ctx {
            sshd: &sshd,
            known_hosts: &known_hosts,
            client: &client,
            dist: dist.path(),
        };
        let mut rows = Vec::new();

        eprintln!("cold deploy...");
        let ours = ctx.median(self.runs, || {
            main.reset()?;
            ctx.deploy(&[main])
        })?;
        let binary = server_binary.clone();
        let base = ctx.median(self.runs, || {
            main.reset()?;
            ctx.openssh_cold(main, &binary)
        })?;
        rows.push(Row::ratio(
            "cold deploy (nothing installed → healthy)",
            ours,
            base,
            "ssh+scp script",
            0.3,
        ));

        eprintln!("warm redeploy...");
        ctx.deploy(&[main])?;
        let ours = ctx.median(self.runs, || ctx.deploy(&[main]))?;
        let base = ctx.median(self.runs, || ctx.ssh(main, "true"))?;
        rows.push(Row::ratio(
            "warm redeploy (identical, healthy)",
            ours,
            base,
            "`ssh host true`",
            0.6,
        ));

        eprintln!("upload 20 MiB...");
        // The server binary with incompressible bytes after it (still a valid ELF that
        // runs): a cold deploy of it is the upload as users pay for it.
        let big_dir = tempfile::tempdir()?;
        let big = big_dir.path().join("mlcremote");
        let mut data = std::fs::read(&server_binary)?;
        let mut padding = vec![0u8; 20 * 1024 * 1024 - data.len().min(20 * 1024 * 1024)];
        getrandom_fill(&mut padding);
        data.extend_from_slice(&padding);
        std::fs::write(&big, &data)?;
        let ours = ctx.median(self.runs, || {
            main.reset()?;
            ctx.deploy_artifact(main, &big)
        })?;
        let base = ctx.median(self.runs, || ctx.scp(main, &big))?;
        let mib_s = |d: Duration| 20.0 / d.as_secs_f64();
        rows.push(Row {
            job: "upload 20 MiB (cold deploy of a 20 MiB binary vs scp of it)",
            ours: format!("{} ({:.0} MiB/s)", secs(ours), mib_s(ours)),
            baseline: format!("{} ({:.0} MiB/s) `scp`", secs(base), mib_s(base)),
            ratio: Some(base.as_secs_f64() / ours.as_secs_f64()),
            goal: "≥ 2× scp speed".into(),
            met: Some(base.as_secs_f64() / ours.as_secs_f64() >= 2.0),
        });

        eprintln!("6 hosts at once...");
        let six: Vec<&User> = users[1..].iter().collect();
        let ours = ctx.median(self.runs, || {
            six.iter().try_for_each(|u| u.reset())?;
            ctx.deploy(&six)
        })?;
        let one = ctx.median(self.runs, || {
            six[0].reset()?;
            ctx.deploy(&six[..1])
        })?;
        rows.push(Row::ratio(
            "6 hosts with -j 6 (cold) vs 1 host",
            ours,
            one,
            "one host",
            2.0,
        ));
        drop(sshd);

        eprintln!("server under load for {} s...", self.load_seconds);
        let server = server_numbers(&server_binary, Duration::from_secs(self.load_seconds))?;
        let size = std::fs::metadata(&server_binary)?.len();
        let target = artifact.target.clone().unwrap_or_default();
        let mut server_rows = vec![
            format!(
                "| binary size ({target}) | {} bytes ({:.2} MiB) | ≤ 4 MiB |",
                size,
                size as f64 / 1048576.0
            ),
            format!("| archive size | {} bytes |  |", artifact.size),
            format!("| idle RSS | {} KiB | ≤ 8 MiB |", server.idle_kib),
        ];
        server_rows.push(format!(
            "| RSS after {} s of /health + 1 MiB file reads ({} requests) | {} KiB (peak {} KiB) | stable |",
            self.load_seconds, server.load_requests, server.after_kib, server.peak_kib
        ));
        server_rows.push(format!(
            "| `/health` requests per second (4 connections, in-process client) | {:.0} |  |",
            server.health_rps
        ));

        let table = render(&rows, &server_rows, self.runs);
        println!("{table}");
        let machine = machine();
        std::fs::write(
            sh.current_dir().join(&self.out),
            format!(
                "# Benchmarks\n\nThe latest `cargo xtask bench` (medians of {} runs; loopback sshd started by the bench).\n\n{machine}\n{table}",
                self.runs
            ),
        )?;
        eprintln!("wrote {}", self.out.display());
        Ok(())
    }
}

struct Ctx<'a> {
    sshd: &'a Sshd,
    known_hosts: &'a Path,
    client: &'a Path,
    dist: &'a Path,
}

impl Ctx<'_> {
    fn median(&self, runs: usize, mut f: impl FnMut() -> Result<Duration>) -> Result<Duration> {
        let mut times = (0..runs.max(1)).map(|_| f()).collect::<Result<Vec<_>>>()?;
        times.sort();
        Ok(times[times.len() / 2])
    }

    /// `cargo mlcremote deploy` to these users at once, timed as a user sees it.
    fn deploy(&self, users: &[&User]) -> Result<Duration> {
        self.deploy_from(users, &["--dist".as_ref(), self.dist.as_os_str()])
    }

    fn deploy_artifact(&self, user: &User, artifact: &Path) -> Result<Duration> {
        self.deploy_from(&[user], &["--artifact".as_ref(), artifact.as_os_str()])
    }

    fn deploy_from(&self, users: &[&User], source: &[&std::ffi::OsStr]) -> Result<Duration> {
        let mut cmd = Command::new(self.client);
        cmd.args(["mlcremote", "deploy", "-q", "--known-hosts"])
            .arg(self.known_hosts)
            .args(source);
        cmd.args(["-j", &users.len().to_string()]);
        for user in users {
            cmd.arg("--host")
                .arg(self.sshd.destination(user))
                .arg("-i")
                .arg(&user.key);
        }
        let start = Instant::now();
        let out = cmd.stdin(Stdio::null()).output()?;
        let took = start.elapsed();
        ensure!(
            out.status.success(),
            "deploy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(took)
    }

    fn ssh_options(&self, user: &User) -> Vec<String> {
        vec![
            "-i".into(),
            user.key.to_string_lossy().into_owned(),
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

    fn ssh(&self, user: &User, command: &str) -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new("ssh")
            .args(self.ssh_options(user))
            .args([
                "-p",
                &self.sshd.port().to_string(),
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

    fn scp(&self, user: &User, file: &Path) -> Result<Duration> {
        let start = Instant::now();
        let out = Command::new("scp")
            .args(self.ssh_options(user))
            .args(["-q", "-P", &self.sshd.port().to_string()])
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
    fn openssh_cold(&self, user: &User, binary: &Path) -> Result<Duration> {
        let start = Instant::now();
        self.ssh(
            user,
            "uname -s -m; echo $HOME; command -v setsid; mkdir -p ~/.mlcremote/logs && chmod 700 ~/.mlcremote",
        )?;
        let out = Command::new("scp")
            .args(self.ssh_options(user))
            .args(["-q", "-P", &self.sshd.port().to_string()])
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

impl Row {
    fn ratio(job: &'static str, ours: Duration, base: Duration, what: &str, goal: f64) -> Row {
        let ratio = ours.as_secs_f64() / base.as_secs_f64();
        Row {
            job,
            ours: secs(ours),
            baseline: format!("{} {what}", secs(base)),
            ratio: Some(ratio),
            goal: format!("≤ {goal}×"),
            met: Some(ratio <= goal),
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn render(rows: &[Row], server: &[String], runs: usize) -> String {
    let mut t =
        format!("| job (median of {runs}) | mlcremote | baseline | ratio | goal | met |\n|---|---|---|---|---|---|\n");
    for r in rows {
        let ratio = r.ratio.map_or(String::new(), |x| format!("{x:.2}×"));
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        t.push_str(&format!(
            "| {} | {} | {} | {ratio} | {} | {met} |\n",
            r.job, r.ours, r.baseline, r.goal
        ));
    }
    t.push_str("\n| server | measured | budget |\n|---|---|---|\n");
    for line in server {
        t.push_str(line);
        t.push('\n');
    }
    t
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = harness::output("uname", &["-sr"]).unwrap_or_default();
    let ssh = Command::new("ssh")
        .arg("-V")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        .unwrap_or_default();
    let date = harness::output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    format!(
        "Machine: {cores} cores, {cpu}, {} · {ssh} · run {}\n",
        kernel.trim(),
        date.trim()
    )
}

fn getrandom_fill(buf: &mut [u8]) {
    // Incompressible data, so neither side gains from compression.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in buf.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
}

struct ServerNumbers {
    idle_kib: u64,
    after_kib: u64,
    peak_kib: u64,
    health_rps: f64,
    load_requests: u64,
}

/// Start the server locally, read its RSS idle, drive `/health` and file reads, read it again.
fn server_numbers(binary: &Path, load: Duration) -> Result<ServerNumbers> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("one-mib.bin");
    let mut data = vec![0u8; 1024 * 1024];
    getrandom_fill(&mut data);
    std::fs::write(&file, &data)?;
    let child = Command::new(binary)
        .arg("serve")
        .arg("--root")
        .arg(dir.path())
        .arg("--token-file")
        .arg(dir.path().join("token"))
        .arg("--state-file")
        .arg(dir.path().join("server.json"))
        .stderr(Stdio::null())
        .spawn()?;
    // Stopped by its pid however this function ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = Stop(child);
    let state = dir.path().join("server.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state.exists() {
        ensure!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state)?)?;
    let port = json["port"].as_u64().context("no port")? as u16;
    let token = std::fs::read_to_string(dir.path().join("token"))?.trim().to_string();
    let pid = child.0.id();
    std::thread::sleep(Duration::from_millis(500));
    let idle_kib = rss(pid, "VmRSS")?;

    let (health_requests, health_time) = drive(port, &token, Duration::from_secs(5), false)?;
    let (load_requests, _) = drive(port, &token, load, true)?;
    let after_kib = rss(pid, "VmRSS")?;
    let peak_kib = rss(pid, "VmHWM")?;
    drop(child);
    Ok(ServerNumbers {
        idle_kib,
        after_kib,
        peak_kib,
        health_rps: health_requests as f64 / health_time.as_secs_f64(),
        load_requests,
    })
}

fn rss(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field}"))?;
    Ok(line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Four keep-alive connections, each sending requests back to back for `length`: a
/// plain HTTP/1.1 client on threads, so the client's cost stays out of the numbers.
fn drive(port: u16, token: &str, length: Duration, with_files: bool) -> Result<(u64, Duration)> {
    let start = Instant::now();
    let workers: Vec<_> = (0..4u64)
        .map(|worker| {
            let token = token.to_string();
            std::thread::spawn(move || -> Result<u64> {
                let mut conn = KeepAlive::connect(port)?;
                let mut n = 0u64;
                while start.elapsed() < length {
                    let path = if with_files && (n + worker).is_multiple_of(2) {
                        "/api/file?path=one-mib.bin"
                    } else {
                        "/health"
                    };
                    let status = conn.get(path, &token)?;
                    ensure!((200..300).contains(&status), "{path} answered {status}");
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.join().map_err(|_| anyhow::anyhow!("a load worker panicked"))??;
    }
    Ok((total, start.elapsed()))
}

/// One keep-alive HTTP/1.1 connection: GET, read the status, headers and the body.
struct KeepAlive {
    reader: std::io::BufReader<std::net::TcpStream>,
}

impl KeepAlive {
    fn connect(port: u16) -> Result<KeepAlive> {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(KeepAlive {
            reader: std::io::BufReader::new(stream),
        })
    }

    fn get(&mut self, path: &str, token: &str) -> Result<u16> {
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
