//! The server's file API input: a raw query string → the `path` value (percent-decoded
//! to bytes) → resolved beneath a root holding links to inside and outside; the terminal's
//! resize frame. Whatever resolves must be inside the root.
#![no_main]

// Partly used here: the server uses the rest.
#[allow(dead_code)]
#[path = "../../server/src/beneath.rs"]
mod beneath;
#[allow(dead_code)]
#[path = "../../server/src/query.rs"]
mod query;
#[path = "../../server/src/resize.rs"]
mod resize;

use std::{
    os::unix::{ffi::OsStrExt, fs::symlink},
    path::PathBuf,
    sync::OnceLock,
};

use libfuzzer_sys::fuzz_target;

struct Tree {
    _dir: tempfile::TempDir,
    root: beneath::Root,
    root_path: PathBuf,
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let base = dir.path().canonicalize().expect("canonical");
        let root_path = base.join("root");
        std::fs::create_dir_all(root_path.join("a/b")).expect("dirs");
        std::fs::create_dir_all(base.join("outside")).expect("dirs");
        std::fs::write(root_path.join("a/file"), "x").expect("file");
        symlink("a/b", root_path.join("in")).expect("link");
        symlink("../outside", root_path.join("out")).expect("link");
        symlink(base.join("outside"), root_path.join("out_abs")).expect("link");
        symlink(root_path.join("a"), root_path.join("in_abs")).expect("link");
        symlink("loop", root_path.join("loop")).expect("link");
        let root = beneath::Root::open(&root_path).expect("root");
        Tree {
            _dir: dir,
            root,
            root_path,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = resize::parse(&text);
    // A Range header: any part it names lies inside the file.
    for size in [0u64, 1, 1000] {
        if let query::Ranged::Part(start, end) = query::byte_range(&text, size) {
            assert!(start <= end && end < size, "{text:?} on {size} bytes: {start}-{end}");
        }
    }
    let raw = query::value(&text, "path").unwrap_or_else(|| query::percent_decode_bytes(&text));
    let tree = tree();
    for follow in [false, true] {
        if let Ok(at) = tree.root.locate(&raw, follow) {
            // What it names is the root or a name in a folder we hold: inside.
            let rel = std::path::Path::new(std::ffi::OsStr::from_bytes(&at.rel));
            assert!(rel.is_relative(), "{raw:?} resolved to {rel:?}");
            assert!(
                !rel.components().any(|c| matches!(c, std::path::Component::ParentDir)),
                "{raw:?} resolved to {rel:?}"
            );
            assert!(tree.root_path.join(rel).starts_with(&tree.root_path));
        }
    }
});
