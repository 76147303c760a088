//! The integration tests, one binary (cargo's own `tests/testsuite` layout): the world is
//! linked once instead of once per file, and all the files' tests run side by side.

mod agent;
mod api;
mod common;
mod serve;
