//! The code's shape: no module of any crate depends on a module that depends back on it.

#[test]
fn no_crate_has_import_circles() {
    let root = harness::workspace_root();
    let mut found = Vec::new();
    for krate in ["server", "release", "cargo-mlcremote", "xtask", "harness"] {
        for cycle in harness::module_cycles(&root.join(krate).join("src")).unwrap() {
            found.push(format!("{krate}: {cycle}"));
        }
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// The checker itself: a circle made on purpose is found, a parent re-exporting its
/// children is not one.
#[test]
fn the_checker_finds_a_circle_made_on_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\npub use a::Thing;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod inner;\npub use self::inner::Thing;\nuse crate::b::helper;\n",
    )
    .unwrap();
    std::fs::write(src.join("a/inner.rs"), "use super::super::b;\npub struct Thing;\n").unwrap();
    std::fs::write(src.join("b.rs"), "pub fn helper() {}\n").unwrap();
    assert_eq!(harness::module_cycles(src).unwrap(), Vec::<String>::new());
    std::fs::write(
        src.join("b.rs"),
        "use crate::{x, a::inner::Thing};\npub fn helper() {}\n",
    )
    .unwrap();
    let cycles = harness::module_cycles(src).unwrap();
    assert!(
        cycles.iter().any(|c| c.contains("a::inner") && c.contains("b")),
        "{cycles:?}"
    );
}
