//! What a host sends back: `uname` output, the probe's `key=value` lines, the agent's
//! JSON lines, a `/health` body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlcremote_client::{
    remote::{Probe, agent::Event, health},
    ssh::Output,
};
use mlcremote_release::target::Platform;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Platform::from_uname(&text);
    let out = Output {
        stdout: text.to_string(),
        stderr: String::new(),
        status: 0,
    };
    if let Ok(probe) = Probe::parse(&out) {
        let _ = probe.cannot_download();
        let _ = probe.dir_problem();
        let _ = Platform::from_uname(&probe.uname);
    }
    for line in text.lines() {
        let _ = Event::parse(line);
    }
    let _ = Event::outcome(&out.stdout);
    let _ = health::parse(&text);
});
