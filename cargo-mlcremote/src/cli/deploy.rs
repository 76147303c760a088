//! `cargo mlcremote deploy`: flags, local checks before any connection, hosts run in
//! parallel, then the report (a line per host, a table for several, or JSON).

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Args;
use mlcremote_client::{
    artifact::{
        self, BuildWhere, DownloadOn, Source,
        release::{self, Release},
    },
    delegate::Reporter,
    deploy::{self, DeployOptions, Outcome, Report, RunCache},
    err,
    error::{Error, Kind, Result},
};

use super::{
    ConnectArgs, HostsArgs, StartChoice, fail, output, parse_duration, parse_start_method,
    terminal::{Display, Terminal},
};

#[derive(Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub hosts: HostsArgs,
    /// A .tar.gz, .zip or bare binary to deploy.
    #[arg(long, value_name = "PATH", conflicts_with = "dist")]
    pub artifact: Option<PathBuf>,
    /// A `cargo xtask dist` output folder [default: dist].
    #[arg(long, value_name = "DIR", conflicts_with = "release")]
    pub dist: Option<PathBuf>,
    /// Build the server from the source tree we run in: here (cross-compiling), on the
    /// host (Docker, cargo, or a rustup bootstrap you agree to; else here), or auto (on the
    /// host when it has Docker or cargo, else here).
    #[arg(long, value_enum, value_name = "WHERE", conflicts_with_all = ["artifact", "dist", "release"])]
    pub build: Option<BuildWhere>,
    /// Consent to what `--build remote` asks first (installing a Rust toolchain on the host).
    #[arg(long)]
    pub yes: bool,
    /// Deploy a published release: download its archive, verified against SHA256SUMS.
    #[arg(long, value_name = "TAG", conflicts_with = "artifact")]
    pub release: Option<String>,
    /// GitHub OWNER/NAME of the release [default: `repo` in [workspace.metadata.mlcremote],
    /// else the repository this client was built from].
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: Option<String>,
    /// Where releases are downloaded from: a mirror laid out like GitHub works
    /// [default: $MLCREMOTE_RELEASE_BASE_URL, else https://github.com].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Who downloads a release: the host itself when it has curl or wget and reaches the
    /// URL (auto), only the host, or this machine, which then uploads the binary.
    #[arg(long, value_enum, value_name = "WHO", default_value = "auto")]
    pub download_on: DownloadOn,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Port the server listens on, on the host's loopback (0 = any free).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub server_port: u16,
    /// The folder the server's file API serves, on the host (`~/…` or relative: under the
    /// home folder) [default: the one installed, else the home folder; `~` goes back to it].
    /// Kept in install.json; changing it restarts the server.
    #[arg(long, value_name = "DIR")]
    pub root: Option<String>,
    /// How to keep the server running: auto tries systemd (user unit), setsid, nohup, tmux, screen.
    #[arg(long, value_name = "METHOD", default_value = "auto", value_parser = parse_start_method)]
    pub start_method: StartChoice,
    /// How long to wait for /health to say ok.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub health_timeout: Duration,
    /// Reinstall and restart even when the installed server is identical and healthy.
    #[arg(long)]
    pub force: bool,
    /// Print the plan for each host and change nothing (with --json: the plan as JSON).
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object per host on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print only the result.
    #[arg(short, long)]
    pub quiet: bool,
}

pub async fn run(args: DeployArgs) -> ExitCode {
    let verbose = args.connect.verbose;
    match deploy(args).await {
        Ok(code) => code,
        Err(e) => fail(&e, verbose),
    }
}

/// Check what is local before connecting anywhere: a usage error costs milliseconds.
/// With it, the release of this client's own version where the source may need it (the
/// default, and `--build` outside a checkout): finding it asks `cargo metadata` about the
/// workspace we run in (~0.1 s), which `--artifact` and `--dist` never wait for.
fn source(args: &DeployArgs) -> Result<(Source, Option<Release>)> {
    let own = || artifact::default_source(args.base_url.clone(), args.repo.clone());
    if let Some(build) = args.build {
        return Ok((Source::Build(build), own().1));
    }
    if let Some(path) = &args.artifact {
        let meta = std::fs::metadata(path).map_err(|e| err!(Usage, "--artifact {}: {e}", path.display()))?;
        if !meta.is_file() {
            return Err(err!(Usage, "--artifact {} is not a file", path.display()));
        }
        mlcremote_release::archive::check_kind(path)?;
        return Ok((Source::Artifact(path.clone()), None));
    }
    if let Some(dir) = &args.dist {
        if !dir.is_dir() {
            return Err(err!(Usage, "--dist {} is not a folder", dir.display()));
        }
        return Ok((Source::Dist(dir.clone()), None));
    }
    let (default, own) = own();
    if let Some(tag) = &args.release {
        // `own`'s repo is --repo, else the workspace's, else the one this client was
        // built from.
        let repo = args
            .repo
            .clone()
            .or_else(|| own.as_ref().map(|r| r.repo.clone()))
            .or_else(release::workspace_repo)
            .ok_or_else(|| err!(Usage, "--release needs --repo OWNER/NAME"))?;
        let release = Release {
            tag: tag.clone(),
            repo,
            base_url: release::base_url(args.base_url.clone()),
        };
        return Ok((Source::Release(release), own));
    }
    Ok((default, own))
}

async fn deploy(args: DeployArgs) -> Result<ExitCode> {
    let hosts = args.hosts.list()?;
    let (source, source_release) = source(&args)?;
    let display = if args.quiet || args.json {
        Display::Quiet
    } else {
        Display::Bars
    };
    let terminal = Terminal::new(display, args.connect.verbose, !args.connect.password_stdin);
    let routes = super::routes(&args.connect, &hosts, &|w| terminal.line(&format!("warning: {w}")))?;
    let options = DeployOptions {
        source,
        install_dir: args.connect.install_dir.clone(),
        server_port: args.server_port,
        root: args.root.clone(),
        start_method: args.start_method.0,
        health_timeout: args.health_timeout,
        force: args.force,
        dry_run: args.dry_run,
        yes: args.yes,
        download_on: args.download_on,
        cache: RunCache::with_source_release(source_release),
    };
    terminal.hosts(&hosts);
    let options = Arc::new(options);
    let limit = Arc::new(tokio::sync::Semaphore::new(usize::from(args.hosts.jobs)));
    let mut tasks = tokio::task::JoinSet::new();
    for (index, route) in routes.into_iter().enumerate() {
        let (options, limit) = (options.clone(), limit.clone());
        let reporter = Reporter::new(route.name.as_str(), terminal.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let started = std::time::Instant::now();
            let result = deploy::deploy(&route, &options, &reporter).await;
            (index, route.name.clone(), result, started.elapsed())
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.map_err(|e| err!(Other, "a deploy task crashed: {e}"))?);
    }
    results.sort_by_key(|r| r.0);
    terminal.clear();

    let single = results.len() == 1;
    let mut failed = 0;
    for (_, host, result, took) in &results {
        match result {
            Ok(report) if args.json => output::json(report)?,
            Ok(report) => {
                if report.result == Outcome::Planned {
                    eprint_plan(report);
                }
                if !args.quiet || single {
                    print_report(report, *took);
                }
            }
            Err(e) => {
                failed += 1;
                if args.json {
                    output::json(&serde_json::json!({
                        "host": host, "result": "failed", "error": e.message(), "exit_code": e.exit_code()
                    }))?;
                }
                if single {
                    return Ok(fail(e, args.connect.verbose));
                }
                output::error(&format!("{host}: {}", e.message()), e.detail(), args.connect.verbose);
            }
        }
    }
    if !single && !args.json {
        print_summary(&results);
    }
    if failed > 0 {
        return Ok(ExitCode::from(Kind::SomeHostsFailed.exit_code()));
    }
    Ok(ExitCode::SUCCESS)
}

fn eprint_plan(report: &Report) {
    use std::io::Write;
    let _ = write!(std::io::stderr(), "{}", output::sanitize(&report.plan.to_string()));
}

fn print_report(report: &Report, took: Duration) {
    let version = report.version.as_deref().unwrap_or("");
    let mut line = format!(
        "{}: {} mlcremote {version} ({})",
        report.host,
        report.result.name(),
        report.target
    );
    if let Some(pid) = report.pid {
        line.push_str(&format!(", pid {pid}"));
    }
    if let Some(port) = report.port {
        line.push_str(&format!(", port {port}"));
    }
    if let Some(method) = report.start_method {
        line.push_str(&format!(", started with {}", method.name()));
    }
    output::out(&output::sanitize(&line));
    let steps: Vec<String> = report.steps.iter().map(|s| format!("{} {} ms", s.name, s.ms)).collect();
    output::out(&format!("  {} (total {} ms)", steps.join(", "), took.as_millis()));
}

type HostResult = (usize, String, Result<Report, Error>, Duration);

fn print_summary(results: &[HostResult]) {
    let width = results.iter().map(|r| r.1.len()).max().unwrap_or(4).max(4);
    output::out(&format!(
        "{:<width$}  {:<12}  {:<10}  time",
        "host", "result", "version"
    ));
    for (_, host, result, took) in results {
        let (outcome, version) = match result {
            Ok(r) => (
                r.result.name().to_string(),
                r.version.clone().unwrap_or_else(|| "-".into()),
            ),
            Err(e) => (format!("failed ({})", e.exit_code()), "-".into()),
        };
        output::out(&output::sanitize(&format!(
            "{host:<width$}  {outcome:<12}  {version:<10}  {:.1}s",
            took.as_secs_f64()
        )));
    }
}
