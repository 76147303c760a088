//! `cargo mlcremote config --host H`: the options deploy would use for `H`, resolved
//! from the command line and the ssh config without connecting, in the spirit of
//! `ssh -G` (same names and forms, for the options mlcremote uses).

use std::process::ExitCode;

use clap::Args;
use mlcremote_client::{
    error::Result,
    ssh::{self, Flags, config::SshConfig},
};

use super::{fail, output, parse_duration};

#[derive(Args)]
pub struct ConfigArgs {
    /// `[user@]host[:port]` or a Host alias from ~/.ssh/config.
    #[arg(long = "host", value_name = "H")]
    pub host: String,
    /// ssh config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config (`none`: no file).
    #[arg(short = 'F', long = "ssh-config", value_name = "FILE")]
    pub ssh_config: Option<std::path::PathBuf>,
    /// Private key file (as deploy's -i): listed first.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    pub identity: Vec<std::path::PathBuf>,
    /// known_hosts file (as deploy's --known-hosts).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<std::path::PathBuf>,
    /// As deploy's --accept-new-host-key.
    #[arg(long)]
    pub accept_new_host_key: bool,
    /// As deploy's --connect-timeout.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub connect_timeout: Option<std::time::Duration>,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ConfigArgs) -> ExitCode {
    match config(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, false),
    }
}

fn config(args: &ConfigArgs) -> Result<()> {
    let config = SshConfig::load(args.ssh_config.as_deref())?;
    let flags = Flags {
        identities: args.identity.clone(),
        known_hosts: args.known_hosts.clone(),
        accept_new_host_key: args.accept_new_host_key,
        connect_timeout: args.connect_timeout,
        password: None,
        jump_cache: Default::default(),
    };
    let route = ssh::route(&config, &args.host, &flags)?;
    for warning in &route.warnings {
        output::error(&format!("warning: {warning}"), None, false);
    }
    if args.json {
        return output::json(&route.config);
    }
    for line in route.config.to_ssh_g().lines() {
        output::out(line);
    }
    Ok(())
}
