//! `cargo mlcremote`: deploy and manage the mlcremote server on hosts over SSH.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::{Args, Parser, Subcommand};
use mlcremote_client::{
    artifact::{BuildWhere, Source},
    deploy::{self, DeployOptions, Lines, Progress, Report, Silent},
    err,
    error::{Error, Kind},
    host::Destination,
    lifecycle,
    release::Release,
    remote::StartMethod,
    ssh::ConnectOptions,
};

/// Invoked by cargo as `cargo-mlcremote mlcremote …`; also works as `cargo-mlcremote …`.
#[derive(Parser)]
#[command(name = "cargo mlcremote", bin_name = "cargo mlcremote", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install, start and verify the server on one or more hosts.
    Deploy(DeployArgs),
    /// Installed version, running or not, pid, port, start method, /health.
    Status(StatusArgs),
    /// Show the server log.
    Logs(LogsArgs),
    /// Stop the server (SIGTERM, then SIGKILL).
    Stop(HostArgs),
    /// Stop and start the server, then verify /health.
    Restart(RestartArgs),
    /// Stop the server and remove its install dir.
    Uninstall(UninstallArgs),
    /// Forward a local port to the server over SSH and print its URL; Ctrl-C ends.
    Tunnel(TunnelArgs),
    /// What the host is: os, arch, target, shell, home, free disk, tools.
    Probe(StatusArgs),
}

#[derive(Args)]
struct HostArgs {
    /// `[user@]host[:port]`.
    #[arg(long = "host", value_name = "H")]
    host: String,
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    target: HostArgs,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LogsArgs {
    #[command(flatten)]
    target: HostArgs,
    /// How many lines from the end.
    #[arg(short = 'n', long, default_value_t = 100)]
    lines: u32,
    /// Keep printing new lines until Ctrl-C.
    #[arg(short, long)]
    follow: bool,
}

#[derive(Args)]
struct RestartArgs {
    #[command(flatten)]
    target: HostArgs,
    /// How to start it again [default: the method it was started with].
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = parse_start_method)]
    start_method: StartChoice,
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    health_timeout: Duration,
}

#[derive(Args)]
struct UninstallArgs {
    #[command(flatten)]
    target: HostArgs,
    /// Do not ask (required when not at a terminal).
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
struct TunnelArgs {
    #[command(flatten)]
    target: HostArgs,
    /// Local port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    local_port: u16,
}

#[derive(Args)]
struct ConnectArgs {
    /// Private key file to log in with (repeatable); tried before ~/.ssh/id_*.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    identity: Vec<PathBuf>,
    /// known_hosts file to check (and record) host keys in [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE")]
    known_hosts: Option<PathBuf>,
    /// Trust and record a host key never seen before (a changed key is always refused).
    #[arg(long)]
    accept_new_host_key: bool,
    /// Where the server lives on the host.
    #[arg(long, value_name = "DIR", default_value = deploy::DEFAULT_INSTALL_DIR)]
    install_dir: String,
    /// Give up connecting after this long [default: ConnectTimeout from ssh config, else 15s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    connect_timeout: Option<Duration>,
    /// ssh config file to read [default: ~/.ssh/config].
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    ssh_config: Option<PathBuf>,
    /// Read a password from the first line of stdin (for password and keyboard-interactive).
    #[arg(long)]
    password_stdin: bool,
    /// Show each remote command with its timing, and details of failures.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Args)]
struct DeployArgs {
    /// `[user@]host[:port]` (repeatable).
    #[arg(long = "host", value_name = "H", required_unless_present = "hosts_file")]
    hosts: Vec<String>,
    /// A file with one host per line (blank lines and `#` comments ignored).
    #[arg(long, value_name = "FILE")]
    hosts_file: Option<PathBuf>,
    /// Hosts deployed to at once.
    #[arg(short = 'j', long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// A .tar.gz or bare binary to deploy.
    #[arg(long, value_name = "PATH", conflicts_with = "dist")]
    artifact: Option<PathBuf>,
    /// A `cargo xtask dist` output folder [default: dist].
    #[arg(long, value_name = "DIR", conflicts_with = "release")]
    dist: Option<PathBuf>,
    /// Build the server from the source tree we run in: here (cross-compiling), on the
    /// host (Docker, cargo, or a rustup bootstrap you agree to; else here), or auto (on the
    /// host when it has Docker or cargo, else here).
    #[arg(long, value_enum, value_name = "WHERE", conflicts_with_all = ["artifact", "dist", "release"])]
    build: Option<BuildWhere>,
    /// Consent to what `--build remote` asks first (installing a Rust toolchain on the host).
    #[arg(long)]
    yes: bool,
    /// Deploy a published release: download its archive, verified against SHA256SUMS.
    #[arg(long, value_name = "TAG", conflicts_with = "artifact")]
    release: Option<String>,
    /// GitHub OWNER/NAME of the release [default: `repo` in [workspace.metadata.mlcremote]].
    #[arg(long, value_name = "OWNER/NAME", requires = "release")]
    repo: Option<String>,
    /// Where releases are downloaded from (a mirror laid out like GitHub works).
    #[arg(long, value_name = "URL", default_value = "https://github.com", requires = "release")]
    base_url: String,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Port the server listens on, on the host's loopback (0 = any free).
    #[arg(long, value_name = "N", default_value_t = 0)]
    server_port: u16,
    /// How to keep the server running: auto tries systemd (user unit), setsid, nohup, tmux, screen.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = parse_start_method)]
    start_method: StartChoice,
    /// How long to wait for /health to say ok.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    health_timeout: Duration,
    /// Reinstall and restart even when the installed server is identical and healthy.
    #[arg(long)]
    force: bool,
    /// Print the plan for each host and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON object per host on stdout.
    #[arg(long)]
    json: bool,
    /// Print only the result.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Clone, Copy)]
struct StartChoice(Option<StartMethod>);

fn parse_start_method(s: &str) -> Result<StartChoice, String> {
    if s == "auto" {
        return Ok(StartChoice(None));
    }
    StartMethod::parse(s).map(|m| StartChoice(Some(m))).ok_or_else(|| {
        let names: Vec<&str> = StartMethod::ALL.iter().map(|m| m.name()).collect();
        format!("unknown start method `{s}`; use auto, {}", names.join(", "))
    })
}

/// `60s`, `2m`, `500ms`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("bad duration `{s}`; use e.g. 60s, 2m, 500ms"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("bad duration unit in `{s}`; use ms, s, m or h")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    // cargo runs us as `cargo-mlcremote mlcremote <args>`: drop its subcommand name.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "mlcremote") {
        args.remove(1);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Kind::Usage.exit_code() } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Deploy(args) => runtime.block_on(run_deploy(args)),
        other => runtime.block_on(run_lifecycle(other)),
    }
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn run_lifecycle(command: Command) -> ExitCode {
    let target = match &command {
        Command::Status(a) | Command::Probe(a) => &a.target,
        Command::Logs(a) => &a.target,
        Command::Stop(a) => a,
        Command::Restart(a) => &a.target,
        Command::Uninstall(a) => &a.target,
        Command::Tunnel(a) => &a.target,
        Command::Deploy(_) => return ExitCode::FAILURE,
    };
    let verbose = target.connect.verbose;
    let (destination, connect) = match resolve_hosts(&target.connect, std::slice::from_ref(&target.host)) {
        Ok(mut resolved) if resolved.len() == 1 => resolved.remove(0),
        Ok(_) => return fail(&err!(Usage, "one --host, please"), verbose),
        Err(e) => return fail(&e, verbose),
    };
    if let Command::Uninstall(a) = &command
        && !a.yes
        && !deploy::confirm(&format!(
            "Stop mlcremote and remove {} on {destination}?",
            target.connect.install_dir
        ))
    {
        return fail(
            &err!(Usage, "not confirmed; pass --yes to uninstall without asking"),
            verbose,
        );
    }
    let opened = lifecycle::open(&destination, &connect, &target.connect.install_dir).await;
    let (session, probe) = match opened {
        Ok(x) => x,
        Err(e) => return fail(&e, verbose),
    };
    let result: Result<(), Error> = match command {
        Command::Status(a) => {
            let status = lifecycle::status(&session, &probe).await;
            if a.json {
                println!("{}", serde_json::to_string(&status).unwrap_or_default());
            } else {
                print_status(&status);
            }
            Ok(())
        }
        Command::Probe(a) => {
            let report = lifecycle::probe_report(&destination, &probe);
            if a.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                println!(
                    "{}: {} ({})",
                    report.host,
                    report.uname,
                    report.target.as_deref().unwrap_or("unsupported")
                );
                println!(
                    "  shell {}, home {}, install dir {}",
                    report.shell, report.home, report.install_dir
                );
                println!(
                    "  free {} MiB",
                    report.free_kb.map_or("?".into(), |k| (k / 1024).to_string())
                );
                println!("  start methods: {}", report.start_methods.join(", "));
                println!(
                    "  build tools: {}",
                    if report.build_tools.is_empty() {
                        "none".into()
                    } else {
                        report.build_tools.join(", ")
                    }
                );
                if let Some(v) = &report.installed_version {
                    println!("  installed: {v}");
                }
            }
            Ok(())
        }
        Command::Logs(a) => lifecycle::logs(&session, &probe, a.lines, a.follow, ctrl_c()).await,
        Command::Stop(_) => lifecycle::stop(&session, &probe).await.map(|pid| match pid {
            Some(pid) => println!("{destination}: stopped mlcremote (pid {pid})"),
            None => println!("{destination}: mlcremote was not running"),
        }),
        Command::Restart(a) => lifecycle::restart(&session, &probe, a.start_method.0, a.health_timeout)
            .await
            .map(|h| {
                println!(
                    "{destination}: restarted mlcremote {}, pid {}",
                    h["version"].as_str().unwrap_or("?"),
                    h["pid"]
                );
            }),
        Command::Uninstall(_) => lifecycle::uninstall(&session, &probe)
            .await
            .map(|()| println!("{destination}: removed {}", probe.dir)),
        Command::Tunnel(a) => {
            let ready = |url: &str| {
                println!("{url}");
                eprintln!("forwarding to mlcremote on {destination}; Ctrl-C ends the tunnel");
            };
            return match lifecycle::tunnel(session, &probe, a.local_port, ready, ctrl_c()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e, verbose),
            };
        }
        Command::Deploy(_) => Ok(()),
    };
    session.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, verbose),
    }
}

fn print_status(s: &lifecycle::Status) {
    if !s.installed {
        println!("{}: not installed in {}", s.host, s.install_dir);
        return;
    }
    let version = s.binary_version.clone().unwrap_or_else(|| "unknown version".into());
    println!("{}: {version} in {}", s.host, s.install_dir);
    match (s.running, s.pid, s.port) {
        (true, Some(pid), Some(port)) => {
            let health = if s.healthy { "healthy" } else { "NOT answering /health" };
            println!("  running, pid {pid}, port {port}, {health}");
        }
        _ => println!("  not running"),
    }
    if let Some(install) = &s.install {
        println!(
            "  started with {}, installed {}",
            install.start_method, install.installed_at
        );
    }
    if let Some(unit) = &s.system_service {
        println!("  system-wide service: {unit}");
    }
}

/// `repo` from `[workspace.metadata.mlcremote]` of the workspace we run in, if any.
fn workspace_repo() -> Option<String> {
    let metadata = cargo_metadata::MetadataCommand::new().no_deps().exec().ok()?;
    metadata.workspace_metadata["mlcremote"]["repo"]
        .as_str()
        .map(str::to_owned)
}

/// Every `--host` resolved through the ssh config, with the connection options for it.
fn resolve_hosts(args: &ConnectArgs, hosts: &[String]) -> Result<Vec<(Destination, ConnectOptions)>, Error> {
    let mut base = ConnectOptions {
        identities: args.identity.clone(),
        known_hosts: args.known_hosts.iter().cloned().collect(),
        accept_new_host_key: args.accept_new_host_key,
        verbose: args.verbose,
        ..ConnectOptions::default()
    };
    if let Some(timeout) = args.connect_timeout {
        base.connect_timeout = timeout;
    }
    if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| err!(Usage, "cannot read the password from stdin: {e}"))?;
        let password = line.trim_end_matches(['\r', '\n']).to_string();
        if password.is_empty() {
            return Err(err!(Usage, "--password-stdin: stdin held no password"));
        }
        base.password = Some(password);
        // stdin is spoken for: nobody is there to answer prompts.
        base.interactive = false;
    }
    let config =
        mlcremote_client::host::config::Config::load(args.ssh_config.as_deref()).map_err(|e| err!(Usage, "{e}"))?;
    hosts
        .iter()
        .map(|h| {
            config
                .resolve(h, &base, args.connect_timeout.is_some())
                .map_err(|e| err!(Usage, "{e}"))
        })
        .collect()
}

async fn run_deploy(args: DeployArgs) -> ExitCode {
    let mut hosts = args.hosts.clone();
    if let Some(file) = &args.hosts_file {
        match std::fs::read_to_string(file) {
            Ok(text) => hosts.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned),
            ),
            Err(e) => {
                return fail(
                    &err!(Usage, "cannot read --hosts-file {}: {e}", file.display()),
                    args.connect.verbose,
                );
            }
        }
    }
    if hosts.is_empty() {
        return fail(
            &err!(Usage, "no hosts: pass --host or a non-empty --hosts-file"),
            args.connect.verbose,
        );
    }
    let destinations = match resolve_hosts(&args.connect, &hosts) {
        Ok(d) => d,
        Err(e) => return fail(&e, args.connect.verbose),
    };
    let source = match (&args.artifact, &args.dist, &args.release) {
        _ if let Some(build) = args.build => Source::Build(build),
        (Some(path), _, _) => Source::Artifact(path.clone()),
        (None, Some(dir), _) => Source::Dist(dir.clone()),
        (None, None, Some(tag)) => {
            let Some(repo) = args.repo.clone().or_else(workspace_repo) else {
                return fail(
                    &err!(
                        Usage,
                        "--release needs --repo OWNER/NAME (or `repo` in [workspace.metadata.mlcremote])"
                    ),
                    args.connect.verbose,
                );
            };
            Source::Release(Release {
                tag: tag.clone(),
                repo,
                base_url: args.base_url.clone(),
            })
        }
        (None, None, None) => Source::Dist(PathBuf::from("dist")),
    };
    let options = Arc::new(DeployOptions {
        connect: ConnectOptions::default(),
        source,
        install_dir: args.connect.install_dir.clone(),
        server_port: args.server_port,
        start_method: args.start_method.0,
        health_timeout: args.health_timeout,
        force: args.force,
        dry_run: args.dry_run,
        yes: args.yes,
        cache: Default::default(),
    });
    let bars = (!args.quiet && !args.json && std::io::stderr().is_terminal()).then(|| {
        let bars = Arc::new(Bars::default());
        for (destination, _) in &destinations {
            bars.bar(&destination.to_string()).set_message("connecting");
        }
        bars
    });
    let progress: Arc<dyn Progress> = match (&bars, args.quiet || args.json) {
        (Some(bars), _) => bars.clone(),
        (None, true) => Arc::new(Silent),
        (None, false) => Arc::new(Lines),
    };

    let limit = Arc::new(tokio::sync::Semaphore::new(usize::from(args.jobs)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, (destination, connect)) in destinations.into_iter().enumerate() {
        let (progress, limit) = (progress.clone(), limit.clone());
        let options = DeployOptions {
            connect,
            ..(*options).clone()
        };
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let started = std::time::Instant::now();
            let result = deploy::deploy(&destination, &options, progress.as_ref()).await;
            (index, destination, result, started.elapsed())
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => return fail(&err!(Other, "a deploy task crashed: {e}"), args.connect.verbose),
        }
    }
    results.sort_by_key(|r| r.0);
    if let Some(bars) = &bars {
        bars.clear();
    }

    let single = results.len() == 1;
    let mut failed = 0;
    for (_, destination, result, took) in &results {
        match result {
            Ok(report) if args.json => println!("{}", serde_json::to_string(report).unwrap_or_default()),
            Ok(report) if !args.quiet || single => print_report(report, *took),
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                if args.json {
                    let json = serde_json::json!({ "host": destination.to_string(), "result": "failed", "error": e.message, "exit_code": e.kind.exit_code() });
                    println!("{json}");
                }
                if single {
                    return fail(e, args.connect.verbose);
                }
                print_error(
                    &format!("{destination}: {}", e.message),
                    e.detail.as_deref(),
                    args.connect.verbose,
                );
            }
        }
    }
    if !single && !args.json {
        print_summary(&results);
    }
    if failed > 0 {
        return ExitCode::from(Kind::SomeHostsFailed.exit_code());
    }
    ExitCode::SUCCESS
}

/// A spinner per host on a terminal, turned into a byte bar while downloading or uploading.
#[derive(Default)]
struct Bars {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<Vec<(String, indicatif::ProgressBar)>>,
}

impl Bars {
    fn bar(&self, host: &str) -> indicatif::ProgressBar {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, bar)) = bars.iter().find(|(h, _)| h == host) {
            return bar.clone();
        }
        let bar = self.multi.add(indicatif::ProgressBar::new_spinner());
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(host.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        bars.push((host.to_string(), bar.clone()));
        bar
    }

    /// A byte count against a bar on the host's line.
    fn transfer(&self, host: &str, what: &str, done: u64, total: u64) {
        let bar = self.bar(host);
        let total = total.max(done);
        if bar.length() != Some(total) || bar.message() != what {
            let template =
                format!("{{spinner}} {{prefix}} {what} [{{bar:30}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}");
            bar.set_length(total);
            bar.set_message(what.to_string());
            if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
        }
        bar.set_position(done);
    }

    fn clear(&self) {
        for (_, bar) in self.bars.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn step(&self, host: &str, step: &str, took: Duration) {
        let bar = self.bar(host);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}") {
            bar.set_style(style);
        }
        bar.set_message(format!("{step} done ({} ms)", took.as_millis()));
    }

    fn upload(&self, host: &str, sent: u64, total: u64) {
        self.transfer(host, "uploading", sent, total);
    }

    fn download(&self, host: &str, done: u64, total: u64) {
        self.transfer(host, "downloading", done, total);
    }

    fn note(&self, host: &str, message: &str) {
        self.multi.suspend(|| eprintln!("[{host}] {message}"));
    }

    fn ask(&self, question: &str) -> bool {
        self.multi.suspend(|| deploy::confirm(question))
    }
}

fn print_report(report: &Report, took: Duration) {
    let mut line = format!(
        "{}: {} mlcremote {} ({})",
        report.host, report.result, report.version, report.target
    );
    if let Some(pid) = report.pid {
        line.push_str(&format!(", pid {pid}"));
    }
    if let Some(port) = report.port {
        line.push_str(&format!(", port {port}"));
    }
    if let Some(method) = &report.start_method {
        line.push_str(&format!(", started with {method}"));
    }
    println!("{line}");
    let steps: Vec<String> = report.steps.iter().map(|s| format!("{} {} ms", s.name, s.ms)).collect();
    println!("  {} (total {} ms)", steps.join(", "), took.as_millis());
}

fn print_summary(results: &[(usize, Destination, Result<Report, Error>, Duration)]) {
    let width = results.iter().map(|r| r.1.to_string().len()).max().unwrap_or(4).max(4);
    println!("{:<width$}  {:<12}  {:<10}  time", "host", "result", "version");
    for (_, destination, result, took) in results {
        let (outcome, version) = match result {
            Ok(r) => (r.result.clone(), r.version.clone()),
            Err(e) => (format!("failed ({})", e.kind.exit_code()), "-".into()),
        };
        println!(
            "{:<width$}  {outcome:<12}  {version:<10}  {:.1}s",
            destination.to_string(),
            took.as_secs_f64()
        );
    }
}

fn print_error(message: &str, detail: Option<&str>, verbose: bool) {
    eprintln!("error: {message}");
    // Remote logs are what the user needs to act on a failed start, so they always show.
    if let Some(detail) = detail
        && (verbose || detail.contains("logs/out.log"))
    {
        for line in detail.lines() {
            eprintln!("  {line}");
        }
    }
}

fn fail(error: &Error, verbose: bool) -> ExitCode {
    print_error(&error.message, error.detail.as_deref(), verbose);
    ExitCode::from(error.kind.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
