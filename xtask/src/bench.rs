//! `cargo xtask bench`: speed measured against what a user would do instead, in the same
//! run on the same machine, on loopback and through links shaped like real networks (a
//! delaying, bandwidth-limiting proxy from the harness). Starts its own sshd (and
//! Dropbear); runs the release build of the client, as `cargo install` installs it;
//! prints the tables and writes them to BENCHMARKS.md.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, ensure};
use harness::{
    Sshd, User,
    proxy::{Link, Proxy},
};
use xshell::{Shell, cmd};

use crate::dist::Dist;

mod link;
mod page;

use self::link::{Ctx, KeepAlive, Row, Source, secs};

#[derive(clap::Args)]
pub struct Bench {
    /// Runs per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Length of the server load phase (RSS under load); 0 skips it.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub load_seconds: u64,
    /// Link profiles to run, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub profiles: Vec<String>,
    /// Leave out the page's rows (they need Chromium: apt-get install chromium chromium-driver).
    #[arg(long)]
    pub no_page: bool,
    /// Leave out the CLI's rows (deploys, status, Dropbear) and the UI's memory: only the
    /// page's calls, for working on them.
    #[arg(long, conflicts_with = "no_page")]
    pub no_cli: bool,
    /// Where to write the tables.
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
}

/// A link to measure over.
struct Profile {
    name: &'static str,
    /// `None`: straight to the server on loopback.
    link: Option<Link>,
}

fn profiles() -> Vec<Profile> {
    vec![
        Profile {
            name: "loopback",
            link: None,
        },
        Profile {
            name: "50ms",
            link: Some(Link::new(50, None)),
        },
        Profile {
            name: "200ms",
            link: Some(Link::new(200, None)),
        },
        Profile {
            name: "100ms+20Mbit",
            link: Some(Link::new(100, Some(20))),
        },
    ]
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
            ("dropbear", "dropbear-bin"),
        ] {
            harness::require(tool, package)?;
        }
        eprintln!("building the server (release, static) and the client (release, as installed)...");
        let dist = tempfile::tempdir()?;
        let manifest = Dist {
            targets: vec![static_target().into()],
            builder: crate::dist::Builder::Cargo,
            ..Dist::host(dist.path())
        }
        .run(sh)?;
        cmd!(sh, "cargo build --quiet --release --locked --package cargo-mlcremote").run()?;
        let client = sh.current_dir().join("target/release/cargo-mlcremote");
        let artifact = &manifest.artifacts[0];
        let server_binary = sh
            .current_dir()
            .join(format!("target/{}/release/mlcremote", static_target()));

        // A 20 MiB binary, as big real ones are: the server followed by copies of its own
        // machine code (it still runs). gzip, with its 32 KiB window, finds nothing to
        // gain in the repetition: it shrinks as the server does, to about half.
        let big_dir = tempfile::tempdir()?;
        let big = big_dir.path().join("mlcremote");
        let server = std::fs::read(&server_binary)?;
        let data: Vec<u8> = server.iter().copied().cycle().take(20 << 20).collect();
        std::fs::write(&big, &data)?;

        let sshd = Sshd::start()?;
        let users: Vec<User> = (0..7).map(|_| sshd.user()).collect::<Result<_>>()?;
        let dropbear = Sshd::start_dropbear()?;
        let db_user = dropbear.user()?;
        let home = tempfile::tempdir()?;
        std::fs::create_dir_all(home.path().join(".ssh"))?;
        std::fs::write(home.path().join(".ssh/config"), "")?;

        // The page's user: a server installed once, the files the page opens.
        let page_user = sshd.user()?;
        // The browser starts when the page's rows come, after the first link's CLI rows:
        // started here, its first seconds (a busy Chromium) landed in those rows.
        let mut browser = None;
        if !self.no_page {
            page::prepare(&page_user, self.runs)?;
        }
        let mut page_rows = Vec::new();

        let wanted: Vec<Profile> = profiles()
            .into_iter()
            .filter(|p| self.profiles.is_empty() || self.profiles.iter().any(|n| n == p.name))
            .collect();
        let mut rows = Vec::new();
        for profile in &wanted {
            eprintln!("link {}:", profile.name);
            let proxy = profile.link.map(|link| Proxy::start(sshd.port(), link)).transpose()?;
            let port = proxy.as_ref().map_or(sshd.port(), Proxy::port);
            let ctx = Ctx {
                port,
                known_hosts: sshd.known_hosts_for(port)?,
                client: &client,
                dist: dist.path(),
                home: home.path(),
                rtt: profile.link.map(|l| l.rtt),
                runs: self.runs,
                proxy: proxy.as_ref(),
            };
            let link = profile.name;
            if !self.no_cli {
                rows.extend(cli_rows(&ctx, link, &users, &server_binary, &big)?);
            }

            if !self.no_page {
                eprintln!("  the page...");
                let b = match &mut browser {
                    Some(b) => b,
                    None => browser.insert(harness::browser::Browser::start()?),
                };
                if page_rows.is_empty() {
                    page::deploy_once(&ctx, &page_user)?;
                }
                page_rows.extend(page::rows(&ctx, b, &page_user, link)?);
                if ctx.rtt.is_none() && !self.no_cli {
                    eprintln!(
                        "  the UI's memory, {} hosts × {} terminals...",
                        page::HOSTS,
                        page::TERMINALS
                    );
                    page_rows.push(page::memory_row(&ctx, b, &page_user, link)?);
                }
            }

            if link == "200ms" && !self.no_cli {
                eprintln!("  Dropbear (24 KiB channel window)...");
                let proxy = Proxy::start(dropbear.port(), Link::new(200, None))?;
                let ctx = Ctx {
                    port: proxy.port(),
                    known_hosts: dropbear.known_hosts_for(proxy.port())?,
                    proxy: Some(&proxy),
                    ..ctx
                };
                let (ours, steps) = ctx.median_steps(|| {
                    db_user.reset()?;
                    ctx.deploy(&[&db_user], Source::Dist)
                })?;
                let base = ctx.median(|| {
                    db_user.reset()?;
                    ctx.openssh_cold(&db_user, &server_binary)
                })?;
                rows.push(ctx.row(
                    "Dropbear: cold deploy",
                    link,
                    (ours, &steps),
                    (base, "ssh+scp script"),
                    Some(0.3),
                ));
            }
        }
        drop(sshd);
        drop(dropbear);

        let server_rows = server_rows(&server_binary, artifact.size, self.load_seconds)?;

        drop(browser);
        let mut table = render(&rows, &server_rows, self.runs);
        if !page_rows.is_empty() {
            table.push('\n');
            table.push_str(&page::render(&page_rows, self.runs));
        }
        println!("{table}");
        std::fs::write(
            sh.current_dir().join(&self.out),
            format!(
                "# Benchmarks\n\nThe latest `cargo xtask bench`: medians of {} runs, the release client against \
                 an sshd (and a Dropbear) on this machine, straight on loopback or through the harness's proxy \
                 that delays every byte by half the round trip each way and caps the bandwidth. The OpenSSH \
                 tools do the same job through the same proxy in the same run. In the page's table, \
                 \"mlcremote\" is from the click to what it shows; \"its host call alone\" is the request \
                 the action makes, from the page's resource timing: the link and the host without the \
                 page's own work (the editor's setup is about 10 ms of a file's open here).\n\n{}\n{table}",
                self.runs,
                machine()
            ),
        )?;
        eprintln!("wrote {}", self.out.display());
        Ok(())
    }
}

/// The rows of the CLI on one link: cold and warm deploy, status, a 20 MiB binary, six
/// hosts at once; each against what the OpenSSH tools take for the same.
fn cli_rows(ctx: &Ctx, link: &'static str, users: &[User], server_binary: &Path, big: &Path) -> Result<Vec<Row>> {
    let main = &users[0];
    let mut rows = Vec::new();

    eprintln!("  cold deploy...");
    let (ours, steps) = ctx.median_steps(|| {
        main.reset()?;
        ctx.deploy(&[main], Source::Dist)
    })?;
    let base = ctx.median(|| {
        main.reset()?;
        ctx.openssh_cold(main, server_binary)
    })?;
    // The goals are issue 26's: tighter where the link is the shortest and the longest.
    let goal = if matches!(link, "loopback" | "200ms") {
        0.25
    } else {
        0.3
    };
    rows.push(ctx.row(
        "cold deploy (nothing installed → healthy)",
        link,
        (ours, &steps),
        (base, "ssh+scp script"),
        Some(goal),
    ));

    eprintln!("  warm redeploy...");
    ctx.deploy(&[main], Source::Dist)?;
    let (ours, steps) = ctx.median_steps(|| ctx.deploy(&[main], Source::Dist))?;
    let base = ctx.median(|| ctx.ssh(main, "true"))?;
    let goal = match link {
        "loopback" => Some(0.55),
        "200ms" => Some(0.8),
        _ => None,
    };
    rows.push(ctx.row(
        "warm redeploy (identical, healthy)",
        link,
        (ours, &steps),
        (base, "`ssh host true`"),
        goal,
    ));

    eprintln!("  a tunnel...");
    let file = main.home.join(link::TUNNEL_FILE);
    std::fs::write(&file, link::source_text())?;
    main.own(&[&file])?;
    let ours = ctx.median(|| ctx.tunnel(main))?;
    let base = ctx.median(|| ctx.ssh_tunnel(main))?;
    rows.push(ctx.row(
        "`tunnel`: 50 reads of a 14 KiB file, one connection",
        link,
        (ours, &[]),
        (base, "`ssh -N -L`"),
        // Through a link each read is a round trip for both: the goal is where the
        // client's own costs show.
        (link == "loopback").then_some(1.0),
    ));

    eprintln!("  status...");
    let ours = ctx.median(|| ctx.status(main))?;
    let base = ctx.median(|| ctx.ssh(main, "true"))?;
    rows.push(ctx.row("status", link, (ours, &[]), (base, "`ssh host true`"), None));

    eprintln!("  upload 20 MiB...");
    let (ours, steps) = ctx.median_steps(|| {
        main.reset()?;
        ctx.deploy(&[main], Source::Artifact(big))
    })?;
    let base = ctx.median(|| ctx.scp(main, big))?;
    rows.push(ctx.row(
        "cold deploy of a 20 MiB binary vs scp of it",
        link,
        (ours, &steps),
        (base, "`scp`"),
        Some(if link == "100ms+20Mbit" { 0.4 } else { 1.0 }),
    ));

    eprintln!("  6 hosts at once...");
    let six: Vec<&User> = users[1..].iter().collect();
    let ours = ctx.median(|| {
        six.iter().try_for_each(|u| u.reset())?;
        ctx.deploy(&six, Source::Dist).map(|(d, _)| d)
    })?;
    let one = ctx.median(|| {
        six[0].reset()?;
        ctx.deploy(&six[..1], Source::Dist).map(|(d, _)| d)
    })?;
    rows.push(ctx.row(
        "6 hosts with -j 6 (cold) vs 1 host",
        link,
        (ours, &[]),
        (one, "one host"),
        Some(2.0),
    ));
    Ok(rows)
}

/// The server's own rows: its size, its archive's, and (with `load_seconds`) its memory
/// and requests per second under load.
fn server_rows(server_binary: &Path, archive_size: u64, load_seconds: u64) -> Result<Vec<String>> {
    let mut server_rows = Vec::new();
    let size = std::fs::metadata(server_binary)?.len();
    server_rows.push(format!(
        "| binary size ({}) | {} bytes ({:.2} MiB) | ≤ 4 MiB |",
        static_target(),
        size,
        size as f64 / 1048576.0
    ));
    server_rows.push(format!("| archive size | {} bytes |  |", archive_size));
    if load_seconds > 0 {
        eprintln!("server under load for {} s...", load_seconds);
        let server = server_numbers(server_binary, Duration::from_secs(load_seconds))?;
        server_rows.push(format!("| idle RSS | {} KiB | ≤ 8 MiB |", server.idle_kib));
        server_rows.push(format!(
            "| RSS after {} s of /health + 1 MiB file reads, 4 connections ({} requests) | {} KiB (peak {} KiB) | stable |",
            load_seconds, server.load_requests, server.after_kib, server.peak_kib
        ));
        server_rows.push(format!(
            "| `/health` requests per second (4 connections) | {:.0} |  |",
            server.health_rps
        ));
    }
    Ok(server_rows)
}

/// The static server build for this machine's architecture.
fn static_target() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "aarch64-unknown-linux-musl",
        _ => "x86_64-unknown-linux-musl",
    }
}

fn render(rows: &[Row], server: &[String], runs: usize) -> String {
    let mut t = format!(
        "| job (median of {runs}) | link | mlcremote | baseline | ratio | goal | met | round trips per step (loopback: ms) |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let ratio = r.ours.as_secs_f64() / r.baseline.as_secs_f64();
        let (goal, met) = match r.goal {
            Some(g) => (format!("≤ {g}×"), if ratio <= g { "yes" } else { "NO" }),
            None => (String::new(), ""),
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} {} | {ratio:.2}× | {goal} | {met} | {} |\n",
            r.job,
            r.link,
            secs(r.ours),
            secs(r.baseline),
            r.what,
            r.round_trips
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

/// Incompressible bytes, so neither side gains from compression.
fn noise(buf: &mut [u8]) {
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
    noise(&mut data);
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
