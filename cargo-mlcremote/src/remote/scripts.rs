//! The scripts that install, start, stop, roll back and remove the server.

use std::fmt::Write as _;

use super::{PRELUDE, StartMethod, quote, status};

/// `run.sh`: the one way the server is started, whatever the start method (SPEC §5).
pub fn run_sh(dir: &str, port: u16) -> String {
    format!(
        r#"#!/bin/sh
# Written by `cargo mlcremote deploy`: starts the server, logging to logs/out.log.
DIR={dir}
LOG="$DIR/logs/out.log"
mkdir -p "$DIR/logs"
if [ -f "$LOG" ] && [ "$(wc -c <"$LOG")" -gt 10485760 ]; then mv -f "$LOG" "$LOG.1"; fi
exec "$DIR/mlcremote" serve --bind 127.0.0.1 --port {port} --token-file "$DIR/token" --state-file "$DIR/server.json" >>"$LOG" 2>&1
"#,
        dir = quote(dir)
    )
}

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
  if mlcr_alive "$holder"; then printf 'busy=%s\n' "$(cat "$l/owner" 2>/dev/null)"; exit {locked}; fi
  rm -rf "$l"
  mkdir "$l" 2>/dev/null || {{ printf 'busy=another deploy\n'; exit {locked}; }}
  printf 'stale=%s\n' "$holder"
fi
printf '%s\n' "$$" >"$l/pid"
printf '%s\n' "$owner" >"$l/owner"
printf 'holder=%s\n' "$$"
# Remove the lock only while it is still ours: the client may have released it already.
trap '[ "$(cat "$l/pid" 2>/dev/null)" = "$$" ] && rm -rf "$l"' EXIT
trap 'exit 0' HUP PIPE TERM INT
rm -f "$d"/.mlcremote.upload-* 2>/dev/null
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

/// Everything SPEC §6 steps 5–7 do after the upload, in one round trip: verify the
/// upload, check it runs here, keep the old binary as `.prev`, rename into place, write
/// `run.sh`, `token` and `install.json`, stop the old server, start the new one, wait
/// for its `server.json`. The old server runs until the new binary is in place.
pub struct Install<'a> {
    pub dir: &'a str,
    pub upload: &'a str,
    pub sha256: &'a str,
    pub target: &'a str,
    pub port: u16,
    pub methods: &'a [StartMethod],
    pub old_pid: Option<u32>,
    pub wait_ticks: u32,
}

impl Install<'_> {
    pub fn script(&self) -> String {
        use status::*;
        let mut s = String::from(PRELUDE);
        let _ = writeln!(
            s,
            "d={}\ntmp={}\nwant={}",
            quote(self.dir),
            quote(self.upload),
            quote(self.sha256)
        );
        let _ = writeln!(
            s,
            "fail() {{ code=$1; shift; printf 'error=%s\\n' \"$*\"; rm -f \"$tmp\"; exit \"$code\"; }}"
        );
        let _ = writeln!(
            s,
            r#"got=$(mlcr_sha256 "$tmp")
[ "$got" = "$want" ] || [ "$got" = none ] || fail {CORRUPT_UPLOAD} "the uploaded file has sha256 $got, expected $want"
chmod 755 "$tmp" || fail {INSTALL_FAILED} "cannot chmod $tmp"
v=$("$tmp" version --json 2>&1 </dev/null) || fail {DOES_NOT_RUN} "the new binary does not run in $d: $v"
printf 'version_json=%s\n' "$v"
version=$(printf '%s' "$v" | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p')
if [ -f "$d/mlcremote" ]; then
  ln -f "$d/mlcremote" "$d/mlcremote.prev" 2>/dev/null || cp -p "$d/mlcremote" "$d/mlcremote.prev" || fail {INSTALL_FAILED} "cannot keep the old binary as $d/mlcremote.prev"
  for f in run.sh install.json; do if [ -f "$d/$f" ]; then cp -p "$d/$f" "$d/$f.prev"; else rm -f "$d/$f.prev"; fi; done
else
  rm -f "$d/mlcremote.prev" "$d/run.sh.prev" "$d/install.json.prev"
fi
mv -f "$tmp" "$d/mlcremote" || fail {INSTALL_FAILED} "cannot move the new binary into $d"
printf 'swapped=1\n'
cat >"$d/run.sh.tmp" <<'MLCREMOTE_RUN_SH'
{run_sh}MLCREMOTE_RUN_SH
chmod 755 "$d/run.sh.tmp" && mv -f "$d/run.sh.tmp" "$d/run.sh" || fail {INSTALL_FAILED} "cannot write $d/run.sh"
if [ ! -s "$d/token" ]; then
  (umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$d/token.tmp" && mv -f "$d/token.tmp" "$d/token") || fail {INSTALL_FAILED} "cannot write $d/token"
fi
chmod 600 "$d/token"
mkdir -p "$d/logs" || fail {INSTALL_FAILED} "cannot create $d/logs""#,
            run_sh = run_sh(self.dir, self.port),
        );
        if let Some(pid) = self.old_pid {
            s.push_str(&stop_snippet(&pid.to_string()));
        }
        s.push_str(&start_snippet(self.methods, self.wait_ticks));
        let _ = writeln!(
            s,
            r#"printf '{{"version":"%s","target":"%s","sha256":"%s","installed_at":"%s","start_method":"%s"}}\n' \
  "$version" {target} "$want" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$started" >"$d/install.json.tmp" && mv -f "$d/install.json.tmp" "$d/install.json""#,
            target = quote(self.target),
        );
        s
    }
}

/// Stop the server `pid` (if it is still an mlcremote): SIGTERM, up to 6 s, SIGKILL.
/// Waits tick in 50 ms naps (`mlcr_nap`).
fn stop_snippet(pid: &str) -> String {
    format!(
        r#"if command -v systemctl >/dev/null 2>&1 && systemctl --user is-active --quiet "$(mlcr_name)" 2>/dev/null; then
  systemctl --user stop "$(mlcr_name)" && printf 'stopped=%s\n' {pid}
fi
old={pid}
if mlcr_alive "$old" && ps -p "$old" -o args= 2>/dev/null | grep -q mlcremote; then
  kill -TERM "$old" 2>/dev/null; i=0
  while mlcr_alive "$old" && [ $i -lt 120 ]; do mlcr_nap; i=$((i+1)); done
  if mlcr_alive "$old"; then kill -KILL "$old" 2>/dev/null; printf 'killed=%s\n' "$old"; fi
  printf 'stopped=%s\n' "$old"
fi
"#
    )
}

/// How long (in 50 ms naps) a start method may take to show its server as running.
const START_GRACE_TICKS: u32 = 40;

/// Start `run.sh` with the first method that works and wait for its `server.json`.
/// Sets `$started`; prints `start_method=` and `server_json=`.
fn start_snippet(methods: &[StartMethod], wait_ticks: u32) -> String {
    use status::*;
    let mut s = String::new();
    for method in methods {
        let _ = writeln!(s, "{}", method.shell_functions());
    }
    let names: Vec<&str> = methods.iter().map(|m| m.name()).collect();
    let _ = writeln!(
        s,
        r#"rm -f "$d/server.json"
mkdir -p "$d/logs"
started=
pid=
for m in {methods}; do if "mlcr_start_$m"; then started=$m; break; fi; done
[ -n "$started" ] || fail {NO_START_METHOD} "none of these start methods works here: {methods}"
printf 'start_method=%s\n' "$started"
i=0
seen=
# tmux and screen list a new session a moment after they return (seen under load), so
# "not running" means died only once it ran, or after {grace} naps.
while [ ! -s "$d/server.json" ]; do
  if "mlcr_running_$started"; then seen=1
  elif [ ! -s "$d/server.json" ] && {{ [ -n "$seen" ] || [ $i -ge {grace} ]; }}; then fail {DIED_AT_START} "the server exited right after starting"; fi
  i=$((i+1)); [ $i -gt {wait} ] && fail {NO_STATE_FILE} "the server wrote no $d/server.json within {secs} s"
  mlcr_nap
done
printf 'server_json=%s\n' "$(tr -d '\n' <"$d/server.json")""#,
        methods = names.join(" "),
        wait = wait_ticks,
        secs = wait_ticks / 20,
        grace = START_GRACE_TICKS,
    );
    s
}

fn with_dir(dir: &str) -> String {
    format!(
        "{PRELUDE}d={}\n[ -x \"$d/mlcremote\" ] || fail {} \"mlcremote is not installed in $d\"\n",
        quote(dir),
        status::NOT_INSTALLED
    )
}

/// `cargo mlcremote stop`.
pub fn stop_script(dir: &str, pid: Option<u32>) -> String {
    let mut s = with_dir(dir);
    if let Some(pid) = pid {
        s.push_str(&stop_snippet(&pid.to_string()));
    }
    s.push_str("rm -f \"$d/server.json\"\n");
    s
}

/// `cargo mlcremote restart`: stop, start again, record the start method.
pub fn restart_script(dir: &str, pid: Option<u32>, methods: &[StartMethod], wait_ticks: u32) -> String {
    let mut s = stop_script(dir, pid);
    s.push_str(&start_snippet(methods, wait_ticks));
    s.push_str(
        r#"if [ -f "$d/install.json" ]; then
  sed "s/\"start_method\":\"[^\"]*\"/\"start_method\":\"$started\"/" "$d/install.json" >"$d/install.json.tmp" && mv -f "$d/install.json.tmp" "$d/install.json"
fi
"#,
    );
    s
}

/// Put the previous binary (with its `run.sh` and `install.json`) back after a failed
/// start, stop whatever the failed attempt left, and start the old one again.
pub fn rollback_script(dir: &str, methods: &[StartMethod], wait_ticks: u32) -> String {
    let mut s = format!("{PRELUDE}d={}\n", quote(dir));
    let _ = writeln!(
        s,
        "[ -f \"$d/mlcremote.prev\" ] || fail {} \"no previous binary to roll back to\"",
        status::INSTALL_FAILED
    );
    s.push_str(&stop_snippet("$(mlcr_pid \"$d/server.json\")"));
    s.push_str(
        r#"mv -f "$d/mlcremote.prev" "$d/mlcremote" || fail 70 "cannot put the previous binary back"
for f in run.sh install.json; do if [ -f "$d/$f.prev" ]; then mv -f "$d/$f.prev" "$d/$f"; fi; done
printf 'rolled_back=1\n'
"#,
    );
    s.push_str(&start_snippet(methods, wait_ticks));
    s
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
pub fn uninstall_script(dir: &str, pid: Option<u32>, start_method: Option<StartMethod>) -> String {
    use status::*;
    let mut s = format!("{PRELUDE}d={}\n", quote(dir));
    let _ = writeln!(
        s,
        r#"if [ ! -d "$d" ]; then printf 'absent=1\n'; exit 0; fi
mlcr_own_dir "$d""#
    );
    if let Some(pid) = pid {
        s.push_str(&stop_snippet(&pid.to_string()));
    }
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
        r#"rm -f {files} "$d"/server.json.tmp.* "$d"/.mlcremote.upload-* || fail {INSTALL_FAILED} "cannot remove the files in $d"
if [ -f "$d/build/build.log" ] || [ -d "$d/build/target" ]; then
  rm -rf "$d/build/target" "$d/build/docker-target" "$d/build/cargo-home" "$d/build"/mlcremote-*-src
fi
rm -rf "$d/toolchain/rustup" "$d/toolchain/cargo"
for sub in logs .lock build toolchain; do rmdir "$d/$sub" 2>/dev/null; done
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

/// The last `lines` lines of the server log, for failure reports.
pub fn log_tail_script(dir: &str, lines: u32) -> String {
    tail_script(&format!("{dir}/logs/out.log"), lines)
}

/// Copy a binary already on the host (built there) to the upload name install expects.
pub fn copy_script(from: &str, to: &str) -> String {
    format!(
        "{PRELUDE}cp {} {} || fail {} \"cannot copy the built binary into place\"\n",
        quote(from),
        quote(to),
        status::INSTALL_FAILED
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

    #[test]
    fn run_sh_never_carries_the_token() {
        let text = run_sh("/home/a b/.mlcremote", 0);
        assert!(text.contains("DIR='/home/a b/.mlcremote'"));
        assert!(text.contains("--token-file \"$DIR/token\""));
        assert!(text.contains("--bind 127.0.0.1"));
    }

    #[test]
    fn install_script_stops_the_old_server_only_after_the_swap() {
        let script = Install {
            dir: "/h/.mlcremote",
            upload: "/h/.mlcremote/.mlcremote.upload-1",
            sha256: "00",
            target: "t",
            port: 0,
            methods: &StartMethod::ALL,
            old_pid: Some(7),
            wait_ticks: 100,
        }
        .script();
        let swap = script.find("mv -f \"$tmp\" \"$d/mlcremote\"").unwrap();
        let kill = script.find("kill -TERM").unwrap();
        let start = script.find("mlcr_start_$m").unwrap();
        assert!(swap < kill && kill < start);
        assert!(script.contains("for m in systemd setsid nohup tmux screen;"));
    }

    /// Under load, `screen -ls` has been seen to miss a session `screen -dmS` just made.
    /// Here a `screen` ahead of the real one on PATH misses it for its first three
    /// listings; the start must still wait for the server instead of calling it dead.
    #[test]
    fn a_session_screen_lists_late_is_not_taken_for_a_dead_server() {
        let real = harness::require("screen", "screen").unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("install");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        harness::write_script(
            &d.join("run.sh"),
            "#!/bin/sh\nsleep 0.5\nprintf '{\"pid\": %s}\\n' $$ >\"$(dirname \"$0\")/server.json\"\nexec sleep 30\n",
        )
        .unwrap();
        let count = tmp.path().join("listings");
        harness::write_script(
            &bin.join("screen"),
            &format!(
                "#!/bin/sh\nif [ \"$1\" = -ls ]; then echo x >>{count}; [ $(wc -l <{count}) -le 3 ] && exit 1; fi\nexec {real} \"$@\"\n",
                count = quote(&count.to_string_lossy()),
                real = quote(&real.to_string_lossy()),
            ),
        )
        .unwrap();
        let script = format!(
            "{PRELUDE}d={}\n{}",
            quote(&d.to_string_lossy()),
            start_snippet(&[StartMethod::Screen], 200)
        );
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", &path)
            .output()
            .unwrap();
        let quit = format!(
            "{PRELUDE}d={}\nscreen -S \"$(mlcr_name)\" -X quit",
            quote(&d.to_string_lossy())
        );
        let _ = std::process::Command::new("sh").arg("-c").arg(quit).output();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains("start_method=screen") && stdout.contains("server_json={\"pid\""),
            "{stdout}"
        );
        assert!(
            std::fs::read_to_string(&count).unwrap().lines().count() > 3,
            "the late listings were not exercised"
        );
    }
}
