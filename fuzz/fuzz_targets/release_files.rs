//! A release's `SHA256SUMS` and `dist-manifest.json`, as downloaded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlcremote_release::{checksum, manifest::Manifest};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = checksum::parse_sums(&text);
    if let Ok(manifest) = serde_json::from_str::<Manifest>(&text) {
        let _ = manifest.to_json();
    }
});
