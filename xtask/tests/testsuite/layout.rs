//! The code's shape: no module of any crate depends on a module that depends back on it.

#[test]
fn no_crate_has_import_circles() {
    let root = harness::workspace_root();
    let mut found = Vec::new();
    for krate in ["contract", "server", "release", "cargo-mlcremote", "xtask", "harness"] {
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
    // `super::` inside an inline module names the file's own module, not its parent.
    std::fs::write(
        src.join("b.rs"),
        "pub fn helper() {}\n#[cfg(test)]\nmod tests {\n    use super::helper;\n    mod deeper {\n        use super::super::helper;\n    }\n}\n",
    )
    .unwrap();
    assert_eq!(harness::module_cycles(src).unwrap(), Vec::<String>::new());
    std::fs::write(src.join("b.rs"), "mod tests {\n    use super::super::a::Thing;\n}\n").unwrap();
    assert!(
        harness::module_cycles(src).unwrap().iter().any(|c| c.contains("b")),
        "a circle through an inline module's super::super is still found"
    );
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

fn tree(package: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "tree",
            "--locked",
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "-p",
            package,
        ])
        .current_dir(harness::workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", harness::describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn has(tree: &str, name: &str) -> bool {
    tree.lines().any(|l| l.split_whitespace().next() == Some(name))
}

/// xtask builds before anything else: no SSH and no async runtime in it. The client
/// has one crypto backend (ring, for SSH and TLS alike).
#[test]
fn xtask_stays_small_and_the_client_has_one_crypto_backend() {
    let xtask = tree("xtask");
    for heavy in ["tokio", "russh", "hyper", "cargo-mlcremote"] {
        assert!(!has(&xtask, heavy), "xtask depends on {heavy}:\n{xtask}");
    }
    let client = tree("cargo-mlcremote");
    assert!(has(&client, "ring"), "{client}");
    for other in ["aws-lc-rs", "aws-lc-sys", "openssl", "native-tls"] {
        assert!(!has(&client, other), "the client depends on {other} as well as ring");
    }
}

/// `third_party/russh` is russh as crates.io publishes it plus `third_party/russh.patch`,
/// nothing else (third_party/README.md): the one change to other people's code stays one
/// diff to read. It downloads the published crate (static.crates.io).
#[test]
fn the_patched_russh_is_the_published_crate_plus_our_patch() {
    let third_party = harness::workspace_root().join("third_party");
    let sums = std::fs::read_to_string(third_party.join("russh.sha256")).unwrap();
    let file = sums
        .split_whitespace()
        .nth(1)
        .expect("russh.sha256: `<sha256>  <file>.crate`");
    let unpacked = file.trim_end_matches(".crate");
    let dir = tempfile::tempdir().unwrap();
    let here = |program: &str, args: &[&str]| {
        let out = std::process::Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let url = format!("https://static.crates.io/crates/russh/{file}");
    here("curl", &["-fsSL", "--max-time", "120", "-o", file, &url]);
    std::fs::write(dir.path().join("russh.sha256"), &sums).unwrap();
    here("sha256sum", &["--check", "--quiet", "russh.sha256"]);
    here("tar", &["xzf", file]);
    let patch = third_party.join("russh.patch");
    here("git", &["-C", unpacked, "apply", "-p1", &patch.to_string_lossy()]);
    let theirs = dir.path().join(unpacked);
    let out = std::process::Command::new("diff")
        .arg("-r")
        .arg(&theirs)
        .arg(third_party.join("russh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "third_party/russh differs from {file} + third_party/russh.patch (remake the patch: third_party/README.md):\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
