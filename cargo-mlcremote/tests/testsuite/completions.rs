//! `cargo mlcremote completions <shell>`: the scripts the release archives carry
//! (`cargo-mlcremote/completions/`) are what the client prints, and they complete in
//! the real shells.

use std::{path::PathBuf, process::Command};

/// The committed file for each shell the archives carry.
const FILES: [(&str, &str); 4] = [
    ("bash", "cargo-mlcremote.bash"),
    ("zsh", "_cargo-mlcremote"),
    ("fish", "cargo-mlcremote.fish"),
    ("powershell", "_cargo-mlcremote.ps1"),
];

fn committed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("completions").join(name)
}

fn client() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-mlcremote"))
}

#[test]
fn the_committed_completions_are_what_the_client_prints() {
    for (shell, file) in FILES {
        let out = Command::new(client()).args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        let kept = std::fs::read_to_string(committed(file)).unwrap_or_default();
        assert!(
            printed == kept,
            "completions/{file} is not what `cargo mlcremote completions {shell}` prints; \
             regenerate it: cargo mlcr completions {shell} > cargo-mlcremote/completions/{file}"
        );
    }
    let bad = Command::new(client()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a shell we cannot complete is a usage error"
    );
}

#[test]
fn bash_and_fish_complete_the_commands_and_their_options() {
    let bash = harness::require("bash", "bash").unwrap();
    let script = format!(
        "source {}; f=$(complete -p cargo-mlcremote | sed 's/.*-F \\([^ ]*\\).*/\\1/'); \
         COMP_WORDS=(cargo-mlcremote de); COMP_CWORD=1; $f cargo-mlcremote de cargo-mlcremote; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
         COMP_WORDS=(cargo-mlcremote deploy --inst); COMP_CWORD=2; $f cargo-mlcremote --inst deploy; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        committed("cargo-mlcremote.bash").display()
    );
    let out = Command::new(bash).args(["-c", &script]).output().unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(words.lines().any(|w| w == "deploy"), "{words}");
    assert!(words.lines().any(|w| w == "--install-dir"), "{words}");

    let fish = harness::require("fish", "fish").unwrap();
    let script = format!(
        "source {}; complete -C 'cargo-mlcremote tu'; complete -C 'cargo-mlcremote deploy --hos'",
        committed("cargo-mlcremote.fish").display()
    );
    let out = Command::new(fish)
        .args(["--no-config", "-c", &script])
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(words.lines().any(|w| w.starts_with("tunnel\t")), "{words}");
    assert!(words.lines().any(|w| w.starts_with("--host")), "{words}");

    let zsh = harness::require("zsh", "zsh").unwrap();
    let out = Command::new(zsh)
        .arg("-n")
        .arg(committed("_cargo-mlcremote"))
        .output()
        .unwrap();
    assert!(out.status.success(), "zsh cannot read it: {out:?}");
}
