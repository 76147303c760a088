//! `mlcremote`: the server that runs on the remote host (SPEC §4).

mod agent;
mod api;
mod app;
mod beneath;
mod body;
mod build_info;
mod files;
mod health;
mod home;
mod log;
mod manage;
mod ports;
mod query;
mod resize;
mod search;
mod serve;
mod sessions;
mod state;
mod terminal;
mod time;
mod token;
mod walk;
mod watch;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mlcremote", version = build_info::VERSION_LINE, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Print version, target triple and commit.
    Version {
        /// Print as JSON: {"version","target","commit"}.
        #[arg(long)]
        json: bool,
    },
    /// What deploy runs on the host (JSON out).
    #[command(subcommand, hide = true)]
    Agent(agent::Agent),
    /// GET /health of the running server, print it, exit 0 if it says ok.
    Health {
        /// The state file the server wrote [default: ~/.mlcremote/server.json].
        #[arg(long)]
        state_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version { json } => {
            if json {
                println!("{}", build_info::json());
            } else {
                println!("mlcremote {}", build_info::VERSION_LINE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { state_file } => health::check(state_file),
        Command::Agent(agent) => Ok(agent::run(agent)),
        Command::Serve(args) => runtime()
            .and_then(|rt| rt.block_on(serve::run(args)))
            .map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|err| {
        eprintln!("mlcremote: {err:#}");
        ExitCode::FAILURE
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
