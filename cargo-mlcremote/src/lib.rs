//! The library behind `cargo mlcremote`: everything the command line and the browser UI
//! share. It never talks to the terminal; it reports and asks through a
//! [`delegate::Delegate`] the front end implements.
//!
//! - [`ssh`]: the transport (connect, host keys, auth, `~/.ssh/config`, remote scripts);
//! - [`remote`]: what runs on the host (probe, install, start, stop) and its answers;
//! - [`artifact`]: choosing and verifying the server binary for a host;
//! - [`deploy`]: the plan for a host and its execution; [`lifecycle`]: the commands around it;
//! - [`error`]: one error type, mapped to the SPEC exit codes in one place.
//!
//! What release tooling shares with it (targets, archives, checksums, the manifest)
//! lives in the `mlcremote-release` crate.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod artifact;
pub mod delegate;
pub mod deploy;
pub mod error;
pub mod lifecycle;
pub mod remote;
pub mod ssh;
