//! The few scripts that stay shell, kept in `sh/*.sh` (checked with shellcheck in a
//! test): the probe where no binary of ours is installed yet, and, where no agent of
//! contract version 2 is, the lock of a build on the host and the uninstall (which must
//! work when the binary does not). They say what the agent would, in its words.
//! Everything else runs as the server binary's own `agent` commands.

use mlcremote_contract::{INSTALLED_FILES, INSTALLED_FOLDERS, INSTALLED_TREES};

use super::{StartMethod, dir_word, quote, status};

/// Shell helpers every script may use.
pub(crate) const PRELUDE: &str = include_str!("sh/prelude.sh");

/// The line that starts once a lock is held, in the shell's words and the agent's.
pub const LOCKED: &str = r#"{"event":"locked","#;

/// A script: the exit codes and `words` (name, shell word) set, the prelude, `body`.
pub fn script(words: &[(&str, String)], body: &str) -> String {
    let mut s = head(words);
    s.push_str(PRELUDE);
    s.push_str(body);
    s
}

/// An upload's receiver (`body`: `sh/receive.sh` or `sh/part.sh`): the exit codes and
/// `words` set, `sh/recv.sh`, `body`. No prelude: it rides in every deploy's exec.
pub fn receiver(words: &[(&str, String)], body: &str) -> String {
    let mut s = head(words);
    s.push_str(include_str!("sh/recv.sh"));
    s.push_str(body);
    s
}

/// The exit codes ([`status`]) and `words` as shell assignments.
fn head(words: &[(&str, String)]) -> String {
    use status::*;
    // Not every script uses every code.
    let mut s = format!(
        "# shellcheck disable=SC2034\n{{ st_failed={INSTALL_FAILED}; st_locked={LOCKED}; st_not_installed={NOT_INSTALLED}; \
         st_runs={DOES_NOT_RUN}; st_download={DOWNLOAD_FAILED}; st_mismatch={CHECKSUM_MISMATCH}; st_corrupt={CORRUPT_UPLOAD}; \
         st_build={BUILD_FAILED}; }}\n"
    );
    for (name, word) in words {
        s.push_str(name);
        s.push('=');
        s.push_str(word);
        s.push('\n');
    }
    s
}

/// SPEC §6 step 2 in one round trip, changing nothing on the host: `sh/probe.sh`.
pub fn probe_script(install_dir: &str) -> String {
    script(&[("d", dir_word(install_dir))], include_str!("sh/probe.sh"))
}

/// The deploy lock (SPEC §5 `.lock/`) where no agent is installed: `sh/lock.sh`.
pub fn lock_script(dir: &str, owner: &str) -> String {
    script(
        &[("d", quote(dir)), ("owner", quote(owner))],
        include_str!("sh/lock.sh"),
    )
}

/// Release the shell's deploy lock held by `holder` (and only if it still is).
pub fn unlock_script(dir: &str, holder: u32) -> String {
    script(
        &[("d", quote(dir)), ("holder", holder.to_string())],
        include_str!("sh/unlock.sh"),
    )
}

/// `cargo mlcremote uninstall` where no agent can: `sh/uninstall.sh`.
pub fn uninstall_script(dir: &str, start_method: Option<StartMethod>) -> String {
    let words = |names: &[&str]| quote(&names.join(" "));
    script(
        &[
            ("d", quote(dir)),
            ("method", quote(start_method.map_or("", StartMethod::name))),
            ("files", words(INSTALLED_FILES)),
            ("trees", words(INSTALLED_TREES)),
            ("folders", words(INSTALLED_FOLDERS)),
        ],
        include_str!("sh/uninstall.sh"),
    )
}

/// The last `lines` lines of a file on the host, if it exists: `sh/tail.sh`.
pub fn tail_script(file: &str, lines: u32) -> String {
    script(
        &[("f", quote(file)), ("lines", lines.to_string())],
        include_str!("sh/tail.sh"),
    )
}

/// Whether a Docker engine answers on the host: `sh/docker.sh`.
pub fn docker_script() -> String {
    script(&[], include_str!("sh/docker.sh"))
}

/// Run shellcheck (POSIX sh, every level) on `script` as sent; panics with its findings.
/// A missing shellcheck fails with how to install it.
#[cfg(test)]
pub(crate) fn shellcheck(name: &str, script: &str) {
    let shellcheck = harness::require("shellcheck", "shellcheck").unwrap();
    let path = std::env::temp_dir().join(format!("mlcremote-{}-{name}", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let out = std::process::Command::new(&shellcheck)
        .args(["-s", "sh", "-S", "style"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{name}:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[cfg(test)]
mod tests {
    use std::{fs, process::Command};

    use super::*;
    use crate::remote::agent::Event as AgentEvent;
    use mlcremote_contract::Uninstalled;

    /// Every script the client sends, as it sends it.
    fn all_scripts() -> Vec<(&'static str, String)> {
        vec![
            ("probe.sh", probe_script("~/.mlcremote")),
            ("lock.sh", lock_script("/h/.mlcremote", "cargo-mlcremote pid 7 on desk")),
            ("unlock.sh", unlock_script("/h/.mlcremote", 7)),
            (
                "uninstall.sh",
                uninstall_script("/h/.mlcremote", Some(StartMethod::Systemd)),
            ),
            ("tail.sh", tail_script("/h/.mlcremote/build/build.log", 100)),
            ("docker.sh", docker_script()),
        ]
    }

    /// `sh/*.sh` pass shellcheck as POSIX sh, each as it is sent (with what the client
    /// sets before it). A missing shellcheck fails the test with how to install it.
    #[test]
    fn the_scripts_pass_shellcheck() {
        // The prelude and recv.sh are in the scripts that use them; the upload's
        // receivers are checked in upload.rs, in each way they receive, and a build's
        // scripts in remote_build.rs, for each way to build.
        let elsewhere = [
            "prelude.sh",
            "recv.sh",
            "receive.sh",
            "part.sh",
            "build.sh",
            "build-docker.sh",
            "build-cargo.sh",
            "build-toolchain.sh",
            "build-rustup.sh",
            "unpack.sh",
        ];
        let files: Vec<String> = fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/remote/sh"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !elsewhere.contains(&n.as_str()))
            .collect();
        let scripts = all_scripts();
        for file in &files {
            assert!(scripts.iter().any(|(f, _)| f == file), "{file} is not checked");
        }
        for (name, script) in scripts {
            shellcheck(name, &script);
        }
    }

    fn sh(script: &str, home: &std::path::Path) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("HOME", home)
            .output()
            .unwrap()
    }

    /// Run by `sh` for real: the lock says who holds it and since when, in the agent's
    /// words; a second one finds it busy; unlock removes it only for its holder.
    #[test]
    fn the_shell_lock_names_its_holder_and_speaks_as_the_agent() {
        use std::io::BufRead;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("install");
        let dir_s = dir.to_string_lossy().into_owned();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(lock_script(&dir_s, "cargo-mlcremote pid 7 on \"desk\""))
            .env("HOME", tmp.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read on, as the client does: a holder whose reader is gone lets go.
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let holder = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| match AgentEvent::parse(&l) {
                Some(AgentEvent::Locked { holder }) => Some(holder),
                _ => None,
            });
        assert_eq!(holder, Some(child.id()), "the holder is the script");
        let owner = fs::read_to_string(dir.join(".lock/owner")).unwrap_or_default();
        let (who, since) = owner.trim().rsplit_once(" since ").unwrap();
        assert_eq!(who, "cargo-mlcremote pid 7 on \"desk\"");
        assert!(
            since.len() == 20 && since.starts_with("20") && since.ends_with('Z') && since.contains('T'),
            "{since}"
        );
        let busy = sh(&lock_script(&dir_s, "another"), tmp.path());
        assert_eq!(busy.status.code(), Some(status::LOCKED as i32));
        match AgentEvent::outcome(&String::from_utf8_lossy(&busy.stdout)) {
            Some(AgentEvent::Busy { holder }) => assert!(holder.starts_with(who), "{holder}"),
            other => panic!("{other:?}"),
        }
        assert!(sh(&unlock_script(&dir_s, 1), tmp.path()).status.success());
        assert!(dir.join(".lock").exists(), "not the holder: the lock stays");
        assert!(sh(&unlock_script(&dir_s, child.id()), tmp.path()).status.success());
        assert!(!dir.join(".lock").exists());
        drop(lines);
        let _ = child.wait();
    }

    /// Run by `sh` for real: what deploy made goes, what the person put there stays
    /// (and is named), in the agent's words; the home folder is refused.
    #[test]
    fn the_shell_uninstall_removes_what_deploy_made_and_names_what_it_keeps() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(".mlcremote");
        for file in INSTALLED_FILES {
            let path = dir.join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        fs::create_dir_all(dir.join("build/target/release")).unwrap();
        fs::write(dir.join(".mlcremote.upload-1-ab"), "x").unwrap();
        fs::write(dir.join("my \"notes\".txt"), "mine").unwrap();
        let out = sh(
            &uninstall_script(&dir.to_string_lossy(), Some(StartMethod::Tmux)),
            tmp.path(),
        );
        assert!(out.status.success(), "{out:?}");
        match AgentEvent::outcome(&String::from_utf8_lossy(&out.stdout)) {
            Some(AgentEvent::Uninstalled {
                result: Uninstalled::Kept { others },
            }) => assert_eq!(others, ["my \"notes\".txt"]),
            other => panic!("{other:?}"),
        }
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["my \"notes\".txt"]);
        fs::remove_file(dir.join("my \"notes\".txt")).unwrap();
        let out = sh(&uninstall_script(&dir.to_string_lossy(), None), tmp.path());
        assert!(
            out.stdout.starts_with(br#"{"event":"uninstalled","result":"removed"}"#),
            "{out:?}"
        );
        assert!(!dir.exists());
        let out = sh(&uninstall_script(&dir.to_string_lossy(), None), tmp.path());
        assert!(
            out.stdout.starts_with(br#"{"event":"uninstalled","result":"absent"}"#),
            "{out:?}"
        );
        let home = sh(&uninstall_script(&tmp.path().to_string_lossy(), None), tmp.path());
        assert_eq!(home.status.code(), Some(status::INSTALL_FAILED as i32), "{home:?}");
        assert!(String::from_utf8_lossy(&home.stdout).contains("home folder"));
    }
}
