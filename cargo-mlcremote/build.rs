//! The UI's files (`ui/*`, `ui/vendor/*`) gzipped once here, so the binary carries them
//! compressed and the page gets them with `Content-Encoding: gzip` as they are
//! (see `src/cli/ui/assets.rs`). Deterministic: no timestamps, no names in the streams.

use std::{env, fs, io::Write, path::Path};

fn main() {
    let out = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let mut list = String::from(
        "/// Name, content type, gzipped bytes, from a vendored library.\npub const FILES: &[(&str, &str, &[u8], bool)] = &[\n",
    );
    for (dir, vendor) in [("ui", false), ("ui/vendor", true)] {
        println!("cargo::rerun-if-changed={dir}");
        let mut names: Vec<_> = fs::read_dir(dir)
            .expect("the ui folder")
            .map(|e| {
                e.expect("a ui file")
                    .file_name()
                    .into_string()
                    .expect("ui names are UTF-8")
            })
            .collect();
        names.sort();
        for name in names {
            let kind = match Path::new(&name).extension().and_then(|e| e.to_str()) {
                Some("js" | "mjs") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                _ => continue, // index.html is served on its own; licences, scripts stay out
            };
            let path = format!("{dir}/{name}");
            println!("cargo::rerun-if-changed={path}");
            let bytes = fs::read(&path).expect("a ui file");
            let mut gz = flate2::GzBuilder::new()
                .mtime(0)
                .write(Vec::new(), flate2::Compression::best());
            gz.write_all(&bytes).expect("gzip in memory");
            let packed = gz.finish().expect("gzip in memory");
            let target = Path::new(&out).join(format!("{name}.gz"));
            fs::write(&target, packed).expect("OUT_DIR is writable");
            list.push_str(&format!(
                "    ({name:?}, {kind:?}, include_bytes!({target:?}), {vendor}),\n",
                target = target.display().to_string()
            ));
        }
    }
    list.push_str("];\n");
    fs::write(Path::new(&out).join("assets.rs"), list).expect("OUT_DIR is writable");
}
