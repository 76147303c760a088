//! Project automation: `cargo xtask <command>`. One file per command.

mod bench;
mod combine;
mod demo;
mod dist;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xshell::Shell;

/// The project's own tasks: release archives, the demo, the benchmark.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cross-compile the server and package checksummed release archives.
    Dist(dist::Dist),
    /// Time deploy, upload and the server against the OpenSSH tools; write BENCHMARKS.md.
    Bench(bench::Bench),
    /// Merge per-target dist folders into one SHA256SUMS and dist-manifest.json.
    Combine(combine::Combine),
    /// Throwaway sshd on loopback, deploy the freshly built server into it, print /health.
    Demo(demo::Demo),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One shell for the whole run, at the root of the checkout it runs in.
    let shell = Shell::new().inspect(|sh| sh.change_dir(checkout()));
    let result = shell.map_err(anyhow::Error::from).and_then(|sh| match cli.command {
        Command::Dist(cmd) => cmd.run(&sh).map(|_| ()),
        Command::Demo(cmd) => cmd.run(&sh),
        Command::Combine(cmd) => cmd.run(),
        Command::Bench(cmd) => cmd.run(&sh),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The checkout `cargo xtask` runs in: the nearest folder at or above the current one
/// with this project's `xtask/`, else the one this binary was built from. (A binary built
/// in one checkout and run in another, as the workflow test does, works on the other.)
fn checkout() -> std::path::PathBuf {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            cwd.ancestors()
                .find(|dir| dir.join("xtask/src/main.rs").is_file() && dir.join("Cargo.toml").is_file())
                .map(std::path::Path::to_path_buf)
        })
        .unwrap_or_else(harness::workspace_root)
}
