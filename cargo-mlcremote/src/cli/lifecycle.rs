//! `status`, `stop`, `restart`, `uninstall` (one host or many), and `logs`, `tunnel`, `forward`,
//! `probe` (one host).

use std::{future::Future, process::ExitCode, sync::Arc, time::Duration};

use clap::Args;
use mlcremote_client::{
    delegate::Reporter,
    err,
    error::{Error, Kind, Result},
    lifecycle::{self, Status, Uninstalled},
    remote::Health,
    ssh::{Route, Stream},
};

use super::{
    ConnectArgs, HostArg, HostsArgs, StartChoice, fail, output, parse_duration, parse_start_method,
    terminal::{self, Display, Terminal},
};

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print JSON on stdout (one object per host).
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct StopArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How to start it again [default: the method it was started with].
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = parse_start_method)]
    pub start_method: StartChoice,
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub health_timeout: Duration,
}

#[derive(Args)]
pub struct UninstallArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Do not ask (required when not at a terminal).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args)]
pub struct LogsArgs {
    #[command(flatten)]
    pub host: HostArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// How many lines from the end.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub lines: u32,
    /// Keep printing new lines until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
}

#[derive(Args)]
pub struct TunnelArgs {
    #[command(flatten)]
    pub host: HostArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Local port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub local_port: u16,
}

#[derive(Args)]
pub struct ForwardArgs {
    #[command(flatten)]
    pub host: HostArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The port on the host's loopback (127.0.0.1) to reach.
    #[arg(value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Local port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub local_port: u16,
}

#[derive(Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub host: HostArg,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// What one host's command came to, for the table and JSON.
enum Done {
    Status(Box<Status>),
    Stopped(Option<u32>),
    Restarted(Health),
    Uninstalled { dir: String, what: Uninstalled },
}

/// The commands that take several hosts.
pub enum Many {
    Status(StatusArgs),
    Stop(StopArgs),
    Restart(RestartArgs),
    Uninstall(UninstallArgs),
}

impl Many {
    fn parts(&self) -> (&HostsArgs, &ConnectArgs) {
        match self {
            Many::Status(a) => (&a.hosts, &a.connect),
            Many::Stop(a) => (&a.hosts, &a.connect),
            Many::Restart(a) => (&a.hosts, &a.connect),
            Many::Uninstall(a) => (&a.hosts, &a.connect),
        }
    }

    fn json(&self) -> bool {
        matches!(self, Many::Status(a) if a.json)
    }
}

pub async fn run_many(command: Many) -> ExitCode {
    let verbose = command.parts().1.verbose;
    match many(command).await {
        Ok(code) => code,
        Err(e) => fail(&e, verbose),
    }
}

async fn many(command: Many) -> Result<ExitCode> {
    let (hosts_args, connect) = command.parts();
    let hosts = hosts_args.list()?;
    if let Many::Uninstall(a) = &command
        && !a.yes
        && !terminal::confirm(&format!(
            "Stop mlcremote and remove {} on {}?",
            connect.install_dir,
            hosts.join(", ")
        ))
    {
        return Err(err!(Usage, "not confirmed; pass --yes to uninstall without asking"));
    }
    let terminal = Terminal::new(Display::Quiet, connect.verbose, !connect.password_stdin);
    let routes = super::routes(connect, &hosts, &|w| terminal.line(&format!("warning: {w}")))?;
    let limit = Arc::new(tokio::sync::Semaphore::new(usize::from(hosts_args.jobs)));
    let command = Arc::new(command);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, route) in routes.into_iter().enumerate() {
        let (command, limit) = (command.clone(), limit.clone());
        let reporter = Reporter::new(route.name.as_str(), terminal.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let result = one(&command, &route, &reporter).await;
            (index, route.name.clone(), result)
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.map_err(|e| err!(Other, "a task crashed: {e}"))?);
    }
    results.sort_by_key(|r| r.0);
    let verbose = command.parts().1.verbose;
    let single = results.len() == 1;
    let mut failed = 0;
    for (_, host, result) in &results {
        match result {
            Ok(done) if command.json() => {
                if let Done::Status(status) = done {
                    output::json(status)?;
                }
            }
            Ok(done) => print_done(host, done),
            Err(e) if single => return Ok(fail(e, verbose)),
            Err(e) => {
                failed += 1;
                if command.json() {
                    output::json(&serde_json::json!({
                        "host": host, "result": "failed", "error": e.message(), "exit_code": e.exit_code()
                    }))?;
                } else {
                    output::error(&format!("{host}: {}", e.message()), e.detail(), verbose);
                }
            }
        }
    }
    if !single && !command.json() {
        print_table(&results);
    }
    Ok(if failed > 0 {
        ExitCode::from(Kind::SomeHostsFailed.exit_code())
    } else {
        ExitCode::SUCCESS
    })
}

async fn one(command: &Many, route: &Route, reporter: &Reporter) -> Result<Done> {
    let install_dir = &command.parts().1.install_dir;
    let (session, probe) = lifecycle::open(route, install_dir, reporter).await?;
    let done = match command {
        Many::Status(_) => Ok(Done::Status(Box::new(
            lifecycle::status(&session, &probe, &route.name).await,
        ))),
        Many::Stop(_) => lifecycle::stop(&session, &probe).await.map(Done::Stopped),
        Many::Restart(a) => lifecycle::restart(&session, &probe, a.start_method.0, a.health_timeout)
            .await
            .map(Done::Restarted),
        Many::Uninstall(_) => lifecycle::uninstall(&session, &probe)
            .await
            .map(|what| Done::Uninstalled {
                dir: probe.dir.clone(),
                what,
            }),
    };
    session.close().await;
    done
}

fn print_done(host: &str, done: &Done) {
    let lines = match done {
        Done::Status(s) => status_lines(s),
        Done::Stopped(Some(pid)) => vec![format!("{host}: stopped mlcremote (pid {pid})")],
        Done::Stopped(None) => vec![format!("{host}: mlcremote was not running")],
        Done::Restarted(h) => vec![format!("{host}: restarted mlcremote {}, pid {}", h.version, h.pid)],
        Done::Uninstalled {
            dir,
            what: Uninstalled::Removed,
        } => vec![format!("{host}: removed {dir}")],
        Done::Uninstalled {
            dir,
            what: Uninstalled::Kept { others },
        } => vec![format!(
            "{host}: removed mlcremote from {dir}; kept the folder, which holds other files ({})",
            others.join(", ")
        )],
        Done::Uninstalled {
            dir,
            what: Uninstalled::Absent,
        } => vec![format!("{host}: nothing installed in {dir}")],
    };
    for line in lines {
        output::out(&output::sanitize(&line));
    }
}

fn status_lines(s: &Status) -> Vec<String> {
    if !s.installed {
        return vec![format!("{}: not installed in {}", s.host, s.install_dir)];
    }
    let version = s.binary_version.clone().unwrap_or_else(|| "unknown version".into());
    let mut lines = vec![format!("{}: {version} in {}", s.host, s.install_dir)];
    match (s.running, s.pid, s.port) {
        (true, Some(pid), Some(port)) => {
            let health = if s.healthy { "healthy" } else { "NOT answering /health" };
            lines.push(format!("  running, pid {pid}, port {port}, {health}"));
        }
        _ => lines.push("  not running".into()),
    }
    if let Some(install) = &s.install {
        lines.push(format!(
            "  started with {}, installed {}",
            install.start_method, install.installed_at
        ));
    }
    if let Some(unit) = &s.system_service {
        lines.push(format!("  system-wide service: {unit}"));
    }
    lines
}

fn print_table(results: &[(usize, String, Result<Done, Error>)]) {
    let width = results.iter().map(|r| r.1.len()).max().unwrap_or(4).max(4);
    output::out(&format!("{:<width$}  result", "host"));
    for (_, host, result) in results {
        let outcome = match result {
            Ok(Done::Status(s)) if s.healthy => {
                format!("healthy ({})", s.health.as_ref().map_or("?", |h| h.version.as_str()))
            }
            Ok(Done::Status(s)) if s.running => "running, not healthy".into(),
            Ok(Done::Status(s)) if s.installed => "not running".into(),
            Ok(Done::Status(_)) => "not installed".into(),
            Ok(Done::Stopped(Some(_))) => "stopped".into(),
            Ok(Done::Stopped(None)) => "was not running".into(),
            Ok(Done::Restarted(h)) => format!("restarted ({})", h.version),
            Ok(Done::Uninstalled { what, .. }) => match what {
                Uninstalled::Removed => "removed".into(),
                Uninstalled::Kept { .. } => "removed (folder kept)".into(),
                Uninstalled::Absent => "nothing installed".into(),
            },
            Err(e) => format!("failed ({}): {}", e.exit_code(), e.message()),
        };
        output::out(&output::sanitize(&format!("{host:<width$}  {outcome}")));
    }
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Connect to the one host of `logs`, `tunnel` or `probe`.
async fn open_one(
    host: &HostArg,
    connect: &ConnectArgs,
) -> Result<(Route, mlcremote_client::ssh::Session, mlcremote_client::remote::Probe)> {
    let terminal = Terminal::new(Display::Quiet, connect.verbose, !connect.password_stdin);
    let mut routes = super::routes(connect, std::slice::from_ref(&host.host), &|w| {
        terminal.line(&format!("warning: {w}"))
    })?;
    let route = routes.pop().ok_or_else(|| err!(Usage, "no host"))?;
    let reporter = Reporter::new(route.name.as_str(), terminal);
    let (session, probe) = lifecycle::open(&route, &connect.install_dir, &reporter).await?;
    Ok((route, session, probe))
}

async fn with_one<F, Fut>(host: &HostArg, connect: &ConnectArgs, body: F) -> ExitCode
where
    F: FnOnce(Route, mlcremote_client::ssh::Session, mlcremote_client::remote::Probe) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let result = match open_one(host, connect).await {
        Ok((route, session, probe)) => body(route, session, probe).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, connect.verbose),
    }
}

pub async fn logs(args: LogsArgs) -> ExitCode {
    with_one(&args.host, &args.connect, |_, session, probe| async move {
        let sink = |stream: Stream, bytes: &[u8]| match stream {
            Stream::Stdout => output::host_bytes(bytes),
            Stream::Stderr => {
                use std::io::Write;
                let _ = std::io::stderr().write_all(output::sanitize(&String::from_utf8_lossy(bytes)).as_bytes());
            }
        };
        let result = lifecycle::logs(&session, &probe, args.lines, args.follow, sink, ctrl_c()).await;
        session.close().await;
        result
    })
    .await
}

pub async fn tunnel(args: TunnelArgs) -> ExitCode {
    with_one(&args.host, &args.connect, |route, session, probe| async move {
        // The API base and the header to send: what the URL opens without the header is
        // 401, so printing one URL "with the token" would not be true.
        let ready = |url: &str, token: &str| {
            output::out(url);
            output::out(&format!("Authorization: Bearer {token}"));
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "forwarding to mlcremote on {}: send that header with each request (WebSockets: ?token=); Ctrl-C ends the tunnel",
                route.name
            );
        };
        lifecycle::tunnel(session, &probe, args.local_port, ready, ctrl_c()).await
    })
    .await
}

/// `forward --host H PORT`: the first line says where to point the browser.
pub async fn forward(args: ForwardArgs) -> ExitCode {
    let remote = args.port;
    with_one(&args.host, &args.connect, |route, session, _probe| async move {
        let ready = |port: u16| {
            output::out(&format!(
                "forwarding http://127.0.0.1:{port}/ -> {}:{remote}",
                route.name
            ));
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "Ctrl-C ends the forwarding");
        };
        lifecycle::forward(std::sync::Arc::new(session), remote, args.local_port, ready, ctrl_c()).await
    })
    .await
}

pub async fn probe(args: ProbeArgs) -> ExitCode {
    let json = args.json;
    with_one(&args.host, &args.connect, |route, session, probe| async move {
        session.close().await;
        let report = lifecycle::probe_report(&route.name, &probe);
        if json {
            return output::json(&report);
        }
        let lines = [
            format!(
                "{}: {}, {}",
                report.host,
                report.uname,
                report
                    .target
                    .as_deref()
                    .map_or_else(|| "no release target fits".to_string(), |t| format!("deploy picks {t}"))
            ),
            format!(
                "  shell {}, home {}, install dir {}",
                report.shell, report.home, report.install_dir
            ),
            format!(
                "  free {} MiB",
                report.free_kb.map_or("?".into(), |k| (k / 1024).to_string())
            ),
            format!("  start methods: {}", report.start_methods.join(", ")),
            format!(
                "  build tools: {}",
                if report.build_tools.is_empty() {
                    "none".into()
                } else {
                    report.build_tools.join(", ")
                }
            ),
        ];
        for line in lines {
            output::out(&output::sanitize(&line));
        }
        if let Some(v) = &report.installed_version {
            output::out(&output::sanitize(&format!("  installed: {v}")));
        }
        Ok(())
    })
    .await
}
