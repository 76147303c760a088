//! What an mlcremote release is, shared by `cargo mlcremote` and `cargo xtask` (SPEC §1,
//! §3): the target table and the `uname` mapping ([`target`]), archive names and their
//! reproducible writing and reading ([`archive`]), checksums ([`checksum`]), the
//! release manifest ([`manifest`]), how to build the server for a target ([`build`]) and
//! the vendored source bundle ([`source`]).
//!
//! No networking and no async here: xtask builds this before anything else.

pub mod archive;
pub mod build;
pub mod checksum;
pub mod manifest;
pub mod source;
pub mod target;
