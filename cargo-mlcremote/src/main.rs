//! `cargo mlcremote`: deploy and manage the mlcremote server on hosts over SSH.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use mlcremote_client::error::Kind;

use cli::{config, deploy, lifecycle, ui};

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
    Deploy(deploy::DeployArgs),
    /// Installed version, running or not, pid, port, start method, /health.
    Status(lifecycle::StatusArgs),
    /// Show the server log.
    Logs(lifecycle::LogsArgs),
    /// Stop the server (SIGTERM, then SIGKILL).
    Stop(lifecycle::StopArgs),
    /// Stop and start the server, then verify /health.
    Restart(lifecycle::RestartArgs),
    /// Stop the server and remove what deploy installed.
    Uninstall(lifecycle::UninstallArgs),
    /// Forward a local port to the server over SSH and print its URL; Ctrl-C ends.
    Tunnel(lifecycle::TunnelArgs),
    /// Forward a local port to any port on the host's loopback (a dev server) and print its
    /// URL; Ctrl-C ends.
    Forward(lifecycle::ForwardArgs),
    /// What the host is: os, arch, target, shell, home, free disk, tools.
    Probe(lifecycle::ProbeArgs),
    /// The ssh options used for a host, from ~/.ssh/config, without connecting (like `ssh -G`).
    Config(config::ConfigArgs),
    /// The browser UI on 127.0.0.1: pick a host, install, then files and terminals.
    Ui(ui::UiArgs),
    /// The browser UI on one host's workspace, deploying first if no healthy server runs.
    Open(ui::OpenArgs),
    /// Print the shell completion script for `cargo-mlcremote` (the release archives
    /// carry them in completions/).
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    // cargo runs us as `cargo-mlcremote mlcremote <args>`: drop its subcommand name.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "mlcremote") {
        args.remove(1);
    }
    // Started with no arguments and no terminal to type into (double-clicked; on Windows
    // a double-click gets a fresh console no one types commands into): the UI.
    use std::io::IsTerminal;
    #[allow(clippy::disallowed_methods)] // the front end, not the library
    let typed_at = std::io::stdin().is_terminal();
    if args.len() == 1 && (cfg!(windows) || !typed_at) {
        args.push("ui".into());
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Kind::Usage.exit_code() } else { 0 });
        }
    };
    match cli.command {
        Command::Config(args) => return config::run(args),
        Command::Completions { shell } => {
            let mut command = Cli::command().name("cargo-mlcremote").bin_name("cargo-mlcremote");
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "cargo-mlcremote", &mut script);
            let mut script = String::from_utf8_lossy(&script).into_owned();
            if shell == clap_complete::Shell::Bash {
                // clap_complete 4.6 names a subcommand's state from its bin name with the
                // `-` replaced after the spaces, `cargo__subcmd__mlcremote__subcmd__deploy`,
                // but enters it as `cargo__mlcremote__subcmd__deploy`: options after a
                // subcommand never complete. One name for both.
                script = script.replace("cargo__subcmd__mlcremote", "cargo__mlcremote");
            }
            cli::output::out(script.strip_suffix('\n').unwrap_or(&script));
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            cli::output::error(&format!("cannot start the async runtime: {e}"), None, false);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Deploy(args) => deploy::run(args).await,
            Command::Status(args) => lifecycle::run_many(lifecycle::Many::Status(args)).await,
            Command::Stop(args) => lifecycle::run_many(lifecycle::Many::Stop(args)).await,
            Command::Restart(args) => lifecycle::run_many(lifecycle::Many::Restart(args)).await,
            Command::Uninstall(args) => lifecycle::run_many(lifecycle::Many::Uninstall(args)).await,
            Command::Logs(args) => lifecycle::logs(args).await,
            Command::Tunnel(args) => lifecycle::tunnel(args).await,
            Command::Forward(args) => lifecycle::forward(args).await,
            Command::Probe(args) => lifecycle::probe(args).await,
            Command::Config(args) => config::run(args),
            Command::Completions { .. } => ExitCode::SUCCESS,
            Command::Ui(args) => ui::run(args).await,
            Command::Open(args) => ui::open(args).await,
        }
    })
}
