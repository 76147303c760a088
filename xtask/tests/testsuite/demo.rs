//! The README's first command, as a user runs it.

use std::process::Command;

#[test]
fn demo_deploys_prints_health_cleans_up_and_says_what_next() {
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let out = Command::new(xtask)
        .arg("demo")
        .current_dir(harness::workspace_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", harness::describe(&out));
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in ["building the server", "started sshd", "cleaning up", "Next:"] {
        assert!(stderr.contains(step), "no {step:?} in: {stderr}");
    }
}

/// `cargo xtask` shows cargo's progress while xtask compiles (a fresh clone takes a
/// while), and describes itself in `--help`.
#[test]
fn the_alias_is_not_quiet_and_help_says_what_xtask_is() {
    let config = std::fs::read_to_string(harness::workspace_root().join(".cargo/config.toml")).unwrap();
    let alias = config.lines().find(|l| l.starts_with("xtask")).unwrap();
    assert!(!alias.contains("--quiet") && !alias.contains(" -q"), "{alias}");
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let out = Command::new(xtask).arg("--help").output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("The project's own tasks"),
        "{}",
        harness::describe(&out)
    );
}
