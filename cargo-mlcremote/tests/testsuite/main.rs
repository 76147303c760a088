//! The integration tests, one binary (cargo's own `tests/testsuite` layout): the world is
//! linked once instead of once per file, and all the files' tests run side by side.

mod auth;
mod common;
mod completions;
mod deploy;
mod faults;
mod hostile;
mod hosts;
mod lifecycle;
mod papercuts;
mod release;
mod remote_build;
mod ssh_config;
mod ui;
mod workspace;
