//! `cargo xtask demo`: the whole job on an embedded default. Build the server for this
//! machine, package it as a release would, start a throwaway sshd on loopback, deploy
//! into it with the client as a user runs it, print the `/health` JSON, clean up.

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::dist::Dist;

#[derive(clap::Args)]
pub struct Demo {}

impl Demo {
    pub fn run(self, sh: &Shell) -> Result<()> {
        ensure_sshd(sh)?;
        let out = tempfile::tempdir()?;
        eprintln!("building the server for this machine and packaging it (as `cargo xtask dist` does)...");
        Dist::host(out.path()).run(sh)?;
        eprintln!("building the client (cargo-mlcremote)...");
        cmd!(sh, "cargo build --locked --package cargo-mlcremote").run()?;
        let client = harness::workspace_root().join("target/debug/cargo-mlcremote");

        let sshd = harness::Sshd::start()?;
        let user = sshd.user()?;
        eprintln!(
            "started sshd (pid {}) on 127.0.0.1:{}; deploying as {}",
            sshd.pid(),
            sshd.port(),
            user.name
        );
        let home = tempfile::tempdir()?;
        let mut deploy = std::process::Command::new(&client);
        deploy
            .args([
                "mlcremote",
                "deploy",
                "--json",
                "--host",
                &sshd.destination(&user),
                "-i",
            ])
            .arg(&user.key)
            .arg("--known-hosts")
            .arg(sshd.known_hosts()?)
            .arg("--dist")
            .arg(out.path())
            .env("HOME", home.path())
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit());
        if let Some(dir) = &user.install_dir {
            deploy.arg("--install-dir").arg(dir);
        }
        let output = deploy.output().context("cannot run the client")?;
        if !output.status.success() {
            bail!("the deploy failed (exit {:?})", output.status.code());
        }
        let report: serde_json::Value =
            serde_json::from_slice(&output.stdout).context("the client printed no report")?;
        println!("{}", serde_json::to_string_pretty(&report["health"])?);
        eprintln!("cleaning up: stopping the server and sshd, removing the throwaway account");
        drop(sshd);
        eprintln!(
            "\nNext: install the client with `cargo install --path cargo-mlcremote --locked`, then\n  \
             cargo mlcremote deploy --host you@your-host"
        );
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
