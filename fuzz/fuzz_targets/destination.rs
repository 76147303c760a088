//! What a user types as a host: `[user@]host[:port]`, ssh-config aliases.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlcremote_client::ssh::{Destination, HostSpec};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = HostSpec::parse(&text);
    let _ = Destination::parse(&text);
});
