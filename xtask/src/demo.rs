//! `cargo xtask demo`: the whole job on an embedded default. Build the server for this
//! machine, package it as a release would, start a throwaway sshd on loopback, deploy
//! into it over real SSH, print the `/health` JSON, clean everything up.

use anyhow::{Context, Result, bail};
use mlcremote_client::{
    artifact::Source,
    deploy::{self, DeployOptions, Lines},
    host::Destination,
};
use xshell::{Shell, cmd};

use crate::dist::Dist;

#[derive(clap::Args)]
pub struct Demo {}

impl Demo {
    pub fn run(self, sh: &Shell) -> Result<()> {
        ensure_sshd(sh)?;
        let out = tempfile::tempdir()?;
        Dist::host(out.path()).run(sh)?;

        let sshd = harness::Sshd::start()?;
        let user = sshd.user()?;
        eprintln!(
            "started sshd (pid {}) on 127.0.0.1:{}; deploying as {}",
            sshd.pid(),
            sshd.port(),
            user.name
        );
        let mut options = DeployOptions::new(Source::Dist(out.path().into()));
        options.connect.identities = vec![user.key.clone()];
        options.connect.known_hosts = vec![sshd.known_hosts()?];
        if let Some(dir) = &user.install_dir {
            options.install_dir = dir.to_string_lossy().into_owned();
        }
        let destination = Destination::parse(&sshd.destination(&user)).map_err(anyhow::Error::msg)?;
        let runtime = tokio::runtime::Runtime::new()?;
        let report = runtime
            .block_on(deploy::deploy(&destination, &options, &Lines))
            .map_err(|e| anyhow::anyhow!("{}\n{}", e.message, e.detail.unwrap_or_default()))?;
        let health = report.health.context("deploy reported no health")?;
        println!("{}", serde_json::to_string_pretty(&health)?);
        eprintln!("cleaning up: stopping the server and sshd, removing the throwaway account");
        Ok(())
    }
}

/// sshd is the one thing the demo needs from the system: install it where we can.
fn ensure_sshd(sh: &Shell) -> Result<()> {
    if harness::require("sshd", "openssh-server").is_ok() {
        return Ok(());
    }
    let apt = harness::require("apt-get", "apt").is_ok();
    if harness::is_root() && apt {
        eprintln!("sshd is missing; installing openssh-server with apt-get");
        cmd!(sh, "apt-get update -qq").run()?;
        cmd!(sh, "apt-get install -y -qq openssh-server")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()?;
        return Ok(());
    }
    bail!(
        "the demo needs OpenSSH's sshd; install it with `sudo apt-get install openssh-server` \
         (Fedora: `sudo dnf install openssh-server`, macOS: it is built in), then rerun `cargo xtask demo`"
    )
}
