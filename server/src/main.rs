//! `mlcremote`: the server that runs on the remote host (SPEC §4).

mod app;
mod build_info;
mod files;
mod health;
mod log;
mod serve;
mod state;
mod terminal;
mod time;
mod token;

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mlcremote", version = build_info::VERSION_LINE, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Print version, target triple and commit.
    Version {
        /// Print as JSON: {"version","target","commit"}.
        #[arg(long)]
        json: bool,
    },
    /// GET /health of the running server, print it, exit 0 if it says ok.
    Health {
        /// The state file the server wrote [default: ~/.mlcremote/server.json].
        #[arg(long)]
        state_file: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on; anything but loopback is logged as a warning.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Directory the file API is confined to [default: $HOME].
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// File holding the access token, created (0600) when missing [default: ~/.mlcremote/token].
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Where to write {"pid","port",...} after binding [default: ~/.mlcremote/server.json].
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: log::Format,
    /// Close a connection that has not sent its request headers within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_secs: u64,
    /// Largest file accepted by PUT /api/file, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub max_upload_mib: u64,
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
        Command::Health { state_file } => runtime().and_then(|rt| rt.block_on(health::check(state_file))),
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

/// `~/.mlcremote/<name>`, the default home of every file the server reads or writes.
pub fn default_path(name: &str) -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow::anyhow!("HOME is not set; pass the path explicitly"))?;
    Ok(PathBuf::from(home).join(".mlcremote").join(name))
}
