//! `mlcremote agent …`: what deploy runs on the host once a binary of ours is there,
//! instead of shell scripts. Typed subcommands (hidden from `--help`), JSON out:
//! progress events one per line, then the outcome.
//!
//! - `status`: what is installed, whether its server runs and answers `/health`;
//! - `probe`: the same with what deploy's probe asks of the host, in one process;
//! - `install`: verify the upload, take the lock (waiting on the host), keep the old
//!   binary as `.prev`, swap by rename, write `run.sh`/`token`/`install.json`, stop the
//!   old server, start the new one, wait for its `/health`, roll back on failure;
//! - `restart`, `stop`: the same start and stop, for the commands around deploy;
//! - `token`, `logs`, `uninstall`, `lock`: the host's side of `tunnel`, `logs`,
//!   `uninstall` and a build on the host (contract version 2).

mod host;
mod install;
mod layout;
mod lock;
mod probe;
mod process;
mod report;
mod start;
mod status;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Subcommand};

use self::{layout::Layout, report::emit, start::Method};

#[derive(Subcommand)]
pub enum Agent {
    /// What is installed in DIR, and how its server is.
    Status {
        #[arg(long)]
        dir: PathBuf,
    },
    /// What deploy's probe asks of the host, as its `key=value` lines, and the status.
    Probe {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Install this binary (the upload) into DIR and start it.
    Install(install::InstallArgs),
    /// Stop the server and start it again.
    Restart(RestartArgs),
    /// Stop the server.
    Stop {
        #[arg(long)]
        dir: PathBuf,
    },
    /// The running server's token.
    Token {
        #[arg(long)]
        dir: PathBuf,
        /// Also the server's answer for the root's listing, where it is small.
        #[arg(long)]
        tree: bool,
    },
    /// The server log's last lines, raw; with --follow, more as they come.
    Logs {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 100)]
        lines: usize,
        #[arg(long)]
        follow: bool,
    },
    /// Stop the server and remove what deploy created.
    Uninstall {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Take the deploy lock and hold it while the output is read (a build on the host).
    Lock {
        #[arg(long)]
        dir: PathBuf,
        /// Who holds it, for anyone who finds it held.
        #[arg(long)]
        owner: String,
    },
}

#[derive(Args)]
pub struct RestartArgs {
    #[arg(long)]
    dir: PathBuf,
    /// Start methods to try, in order [default: the recorded one, then the usual order].
    #[arg(long, value_delimiter = ',', value_parser = start::parse_method)]
    start_methods: Vec<Method>,
    #[arg(long, default_value_t = 60)]
    health_timeout_secs: u64,
}

pub fn run(agent: Agent) -> ExitCode {
    match agent {
        Agent::Status { dir } => {
            if emit(&status::status(&Layout::new(dir))) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Agent::Probe { dir } => {
            if probe::probe(&Layout::new(dir)) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Agent::Install(args) => install::run(args),
        Agent::Restart(args) => install::restart(
            &Layout::new(args.dir),
            &args.start_methods,
            Duration::from_secs(args.health_timeout_secs),
        ),
        Agent::Stop { dir } => install::stop(&Layout::new(dir)),
        Agent::Token { dir, tree } => host::token(&Layout::new(dir), tree),
        Agent::Logs { dir, lines, follow } => host::logs(&Layout::new(dir), lines, follow),
        Agent::Uninstall { dir } => host::uninstall(&Layout::new(dir)),
        Agent::Lock { dir, owner } => host::lock(&Layout::new(dir), &owner),
    }
}
