//! The integration tests, one binary (cargo's own `tests/testsuite` layout): the world is
//! linked once instead of once per file, and all the files' tests run side by side.

mod auth;
// First after auth: libtest starts tests in name order, and these builds are the
// suite's longest; started last, they alone would be running at its end.
mod builds;
mod common;
mod completions;
mod deploy;
mod faults;
mod hostile;
mod hosts;
mod lifecycle;
mod papercuts;
mod release;
mod ssh_config;
mod ui;
mod workspace;
