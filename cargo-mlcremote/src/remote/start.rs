//! How the server outlives the SSH session (SPEC §6 step 7): the start methods and which
//! of them to try on a host (the server's agent carries them out).

use super::Probe;
use crate::{err, error::Result};

pub use mlcremote_contract::StartMethod;

/// The start methods to try, the one recorded in `install.json` first (SPEC order after).
pub fn recorded_first(given: Option<StartMethod>, probe: &Probe) -> Result<Vec<StartMethod>> {
    let recorded = probe.install.as_ref().and_then(|i| i.start_method());
    let mut methods = start_methods(given.or(recorded), probe)?;
    if given.is_none()
        && let Some(first) = recorded
    {
        methods.extend(start_methods(None, probe)?.into_iter().filter(|m| *m != first));
    }
    Ok(methods)
}

/// Which start methods to try, in order (SPEC §6 step 7).
pub fn start_methods(given: Option<StartMethod>, probe: &Probe) -> Result<Vec<StartMethod>> {
    let methods: Vec<StartMethod> = match given {
        Some(method) => vec![method],
        None => StartMethod::ALL.into_iter().filter(|m| probe.has(m.tool())).collect(),
    };
    if methods.is_empty() {
        let names: Vec<&str> = StartMethod::ALL.iter().map(|m| m.name()).collect();
        return Err(err!(
            Install,
            "none of the start methods exists on the host ({}); install one of them",
            names.join(", ")
        ));
    }
    Ok(methods)
}
