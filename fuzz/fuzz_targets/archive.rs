//! An artifact's bytes read as a `.tar.gz` and as a `.zip`, as deploy reads them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlcremote_release::archive;

fuzz_target!(|data: &[u8]| {
    let _ = archive::read_tar_gz_from(data, "fuzz.tar.gz");
    let _ = archive::read_zip_from(std::io::Cursor::new(data), "fuzz.zip");
});
