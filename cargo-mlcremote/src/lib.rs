//! The library behind `cargo mlcremote` and `cargo xtask dist`.
//!
//! What both the plugin and xtask need lives here once (SPEC §1): the target table
//! ([`target`]), archive names and formats ([`archive`]), checksums ([`checksum`]) and
//! the release manifest ([`manifest`]). The rest is deploy: the SSH transport ([`ssh`],
//! [`known_hosts`]), what runs on the host ([`remote`]), choosing the binary
//! ([`artifact`]) the steps themselves ([`deploy`]) and the
//! commands around it ([`lifecycle`]). Errors carry the SPEC exit
//! codes ([`error`]).

pub mod archive;
pub mod artifact;
pub mod build;
pub mod checksum;
pub mod deploy;
pub mod error;
pub mod host;
pub mod known_hosts;
pub mod lifecycle;
pub mod manifest;
pub mod release;
pub mod remote;
pub mod remote_build;
pub mod source;
pub mod ssh;
pub mod target;
