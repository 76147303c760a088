//! The few scripts that stay shell: the client-held lock of a build on the host, the
//! uninstall (which must work when the binary does not), the token for `tunnel`, the
//! log for `logs`. Everything else runs as the server binary's own `agent` commands.

use std::fmt::Write as _;

use super::{PRELUDE, StartMethod, quote, status};

/// The deploy lock (SPEC §5 `.lock/`): make the install dir (0700), take the lock,
/// clean what an interrupted deploy left, print `locked=1`, then hold the lock for as
/// long as this script's channel is open. A lock whose holder process is gone is stale
/// and taken over. Prints `busy=<owner>` and exits [`status::LOCKED`] if it is held.
pub fn lock_script(dir: &str, owner: &str) -> String {
    format!(
        r#"{PRELUDE}d={d}
owner={owner}
mkdir -p "$d" || fail {failed} "cannot create $d"
mlcr_own_dir "$d"
chmod 700 "$d" || fail {failed} "cannot make $d private"
l="$d/.lock"
if ! mkdir "$l" 2>/dev/null; then
  holder=$(cat "$l/pid" 2>/dev/null)
  # A lock with no pid yet may be being written: give it a moment, as the agent does.
  [ -n "$holder" ] || {{ sleep 2; holder=$(cat "$l/pid" 2>/dev/null); }}
  if mlcr_alive "$holder"; then printf 'busy=%s\n' "$(cat "$l/owner" 2>/dev/null)"; exit {locked}; fi
  # One deploy at a time takes a stale lock over, as the agent does: two that both saw
  # the holder gone must not remove each other's fresh lock.
  if mkdir "$l.takeover" 2>/dev/null; then
    [ "$(cat "$l/pid" 2>/dev/null)" = "$holder" ] && rm -rf "$l"
    rmdir "$l.takeover"
  fi
  mkdir "$l" 2>/dev/null || {{ printf 'busy=another deploy\n'; exit {locked}; }}
  printf 'stale=%s\n' "$holder"
fi
printf '%s\n' "$$" >"$l/pid"
printf '%s since %s\n' "$owner" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$l/owner"
printf 'holder=%s\n' "$$"
# Remove the lock only while it is still ours: the client may have released it already.
trap '[ "$(cat "$l/pid" 2>/dev/null)" = "$$" ] && rm -rf "$l"' EXIT
trap 'exit 0' HUP PIPE TERM INT
printf 'locked=1\n'
while printf '.\n' 2>/dev/null; do mlcr_nap; mlcr_nap; mlcr_nap; mlcr_nap; done
"#,
        d = quote(dir),
        owner = quote(owner),
        failed = status::INSTALL_FAILED,
        locked = status::LOCKED,
    )
}

/// Release the deploy lock held by `holder` (and only if it still is).
pub fn unlock_script(dir: &str, holder: &str) -> String {
    format!(
        "l={}/.lock\nif [ \"$(cat \"$l/pid\" 2>/dev/null)\" = {} ]; then rm -rf \"$l\"; fi\n",
        quote(dir),
        quote(holder)
    )
}

fn with_dir(dir: &str) -> String {
    format!(
        "{PRELUDE}d={}\n[ -x \"$d/mlcremote\" ] || fail {} \"mlcremote is not installed in $d\"\n",
        quote(dir),
        status::NOT_INSTALLED
    )
}

/// What deploy creates in the install dir (SPEC §5), by name: all uninstall removes.
pub const INSTALLED_FILES: &[&str] = &[
    "mlcremote",
    "mlcremote.prev",
    "run.sh",
    "run.sh.prev",
    "run.sh.tmp",
    "token",
    "token.tmp",
    "server.json",
    "install.json",
    "install.json.prev",
    "install.json.tmp",
    "logs/out.log",
    "logs/out.log.1",
    ".lock/pid",
    ".lock/owner",
    "build/build.log",
    "toolchain/rustup-init",
];

/// `cargo mlcremote uninstall`: stop the server, then remove what deploy created, by
/// name, and the install dir only if that leaves it empty. Refuses a dir that is the
/// home or holds it, however it is spelled (`~//`, `/home/ann/.`, a symlink...).
pub fn uninstall_script(dir: &str, start_method: Option<StartMethod>) -> String {
    use status::*;
    let mut s = format!("{PRELUDE}d={}\n", quote(dir));
    let _ = writeln!(
        s,
        r#"if [ ! -d "$d" ]; then printf 'absent=1\n'; exit 0; fi
mlcr_own_dir "$d""#
    );
    // The agent stops only a process it can prove is this install's server.
    s.push_str("if [ -x \"$d/mlcremote\" ]; then \"$d/mlcremote\" agent stop --dir \"$d\" >/dev/null 2>&1; fi\n");
    // Only the session the server was started with: asking tmux or screen about a
    // session that never was leaves their socket folders behind.
    match start_method {
        Some(StartMethod::Systemd) => s.push_str(
            r#"ud="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
if [ -f "$ud/$(mlcr_name).service" ]; then
  systemctl --user disable --now "$(mlcr_name)" >/dev/null 2>&1; rm -f "$ud/$(mlcr_name).service"; systemctl --user daemon-reload >/dev/null 2>&1
fi
"#,
        ),
        Some(StartMethod::Tmux) => s.push_str("tmux kill-session -t \"$(mlcr_name)\" >/dev/null 2>&1\n"),
        Some(StartMethod::Screen) => s.push_str("screen -S \"$(mlcr_name)\" -X quit >/dev/null 2>&1\n"),
        _ => {}
    }
    let files: Vec<String> = INSTALLED_FILES.iter().map(|f| format!("\"$d/{f}\"")).collect();
    let _ = writeln!(
        s,
        r#"rm -f {files} "$d"/server.json.tmp.* "$d"/.mlcremote.upload-* "$d"/.mlcremote.part-* || fail {INSTALL_FAILED} "cannot remove the files in $d"
if [ -f "$d/build/build.log" ] || [ -d "$d/build/target" ]; then
  rm -rf "$d/build/target" "$d/build/docker-target" "$d/build/cargo-home" "$d/build"/mlcremote-*-src
fi
rm -rf "$d/toolchain/rustup" "$d/toolchain/cargo"
# The trash holds what the person deleted in the workspace: kept unless empty.
for sub in logs .lock build toolchain trash; do rmdir "$d/$sub" 2>/dev/null; done
if rmdir "$d" 2>/dev/null; then printf 'removed=%s\n' "$d"
else printf 'kept=%s\n' "$d"; ls -A "$d" 2>/dev/null | head -n 5 | sed 's/^/left=/'; fi"#,
        files = files.join(" "),
    );
    s
}

/// The server's token, for `tunnel` to hand to the user (it travels over SSH only).
pub fn token_script(dir: &str) -> String {
    format!("{}printf 'token=%s\n' \"$(cat \"$d/token\")\"\n", with_dir(dir))
}

/// The last `lines` lines of the server log, following it with `follow`.
pub fn logs_script(dir: &str, lines: u32, follow: bool) -> String {
    let f = if follow { " -f" } else { "" };
    format!(
        "{}[ -f \"$d/logs/out.log\" ] || fail {} \"no log yet in $d/logs\"\nexec tail -n {lines}{f} \"$d/logs/out.log\"\n",
        with_dir(dir),
        status::NOT_INSTALLED
    )
}

/// The last `lines` lines of a file on the host, if it exists.
pub fn tail_script(file: &str, lines: u32) -> String {
    format!("f={}\nif [ -f \"$f\" ]; then tail -n {lines} \"$f\"; fi\n", quote(file))
}

/// The server's own health client, for hosts that refuse TCP forwarding.
pub fn health_script(dir: &str) -> String {
    format!(
        "d={}\n\"$d/mlcremote\" health --state-file \"$d/server.json\"\n",
        quote(dir)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run by `sh` for real: the lock says who holds it and since when, readably.
    #[test]
    fn the_lock_names_its_holder_and_when_it_was_taken() {
        use std::io::BufRead;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("install");
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(lock_script(&dir.to_string_lossy(), "cargo-mlcremote pid 7 on desk"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let locked = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l == "locked=1");
        let owner = std::fs::read_to_string(dir.join(".lock/owner")).unwrap_or_default();
        let _ = child.kill();
        let _ = child.wait();
        assert!(locked);
        let (who, since) = owner.trim().rsplit_once(" since ").unwrap();
        assert_eq!(who, "cargo-mlcremote pid 7 on desk");
        assert!(
            since.len() == 20 && since.starts_with("20") && since.ends_with('Z') && since.contains('T'),
            "{since}"
        );
    }

    #[test]
    fn uninstall_names_what_it_removes_and_asks_the_agent_to_stop() {
        let script = uninstall_script("/h/.mlcremote", Some(StartMethod::Tmux));
        assert!(script.contains("agent stop"), "{script}");
        assert!(script.contains("tmux kill-session"), "{script}");
        assert!(
            !script.contains("screen -S"),
            "only the session it was started with: {script}"
        );
        assert!(!script.contains("rm -rf \"$d\""), "never the whole dir: {script}");
        for file in INSTALLED_FILES {
            assert!(script.contains(&format!("\"$d/{file}\"")), "{file}");
        }
    }
}
