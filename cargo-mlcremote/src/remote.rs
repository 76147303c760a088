//! What runs on the host: the POSIX `sh` scripts deploy sends (pure functions of their
//! inputs, so they can be read and tested without a network) and the parsing of what
//! they print. Scripts print `key=value` lines; `Session::run` frames them.

use std::fmt::Write as _;

use serde::Deserialize;

use crate::ssh::Output;

/// Single-quote `s` for `sh`: nothing inside is expanded.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The install dir as a shell word: `~` and `~/…` become `"$HOME"…`, the rest is quoted.
pub fn dir_word(dir: &str) -> String {
    match dir.strip_prefix('~') {
        Some("") => "\"$HOME\"".into(),
        Some(rest) if rest.starts_with('/') => format!("\"$HOME\"{}", quote(rest)),
        _ => quote(dir),
    }
}

/// Shell helpers every script may use.
pub(crate) const PRELUDE: &str = r#"mlcr_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else echo none; fi
}
mlcr_nap() { sleep 0.05 2>/dev/null || sleep 1; }
# The name of this install's tmux/screen session or systemd user unit: one per install dir.
mlcr_name() { printf 'mlcremote-%s' "$(printf '%s' "$d" | cksum | cut -d' ' -f1)"; }
mlcr_q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
mlcr_pid() { sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1; }
fail() { code=$1; shift; printf 'error=%s\n' "$*"; exit "$code"; }
mlcr_alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  # A zombie (exited, not yet reaped by an init that reaps lazily) is not alive.
  case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
}
"#;

/// SPEC §6 step 2 in one round trip. Changes nothing on the host.
pub fn probe_script(install_dir: &str) -> String {
    let mut s = String::from(PRELUDE);
    let _ = writeln!(s, "d={}", dir_word(install_dir));
    s.push_str(
        r#"printf 'uname=%s\n' "$(uname -s -m 2>/dev/null)"
printf 'home=%s\n' "$HOME"
printf 'dir=%s\n' "$d"
printf 'shell=%s\n' "${SHELL:-}"
for t in systemctl setsid nohup tmux screen sha256sum shasum docker curl wget; do
  if command -v "$t" >/dev/null 2>&1; then printf 'tool=%s\n' "$t"; fi
done
# A cargo the build can use: on PATH, where rustup puts it (not on PATH in a
# non-login session), or the toolchain an earlier `--build remote` bootstrapped.
for c in "$(command -v cargo 2>/dev/null)" "$HOME/.cargo/bin/cargo" "$d/toolchain/cargo/bin/cargo"; do
  if [ -n "$c" ] && [ -x "$c" ]; then printf 'cargo=%s\n' "$c"; break; fi
done
if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then printf 'libc=gnu\n'
elif ls /lib/ld-musl-* >/dev/null 2>&1; then printf 'libc=musl\n'; fi
p="$d"; while [ ! -d "$p" ] && [ "$p" != / ]; do p=$(dirname "$p"); done
printf 'free_kb=%s\n' "$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}')"
if [ -f "$d/mlcremote" ]; then
  printf 'installed_sha256=%s\n' "$(mlcr_sha256 "$d/mlcremote")"
  printf 'installed_version=%s\n' "$("$d/mlcremote" --version 2>/dev/null | head -n 1)"
fi
if [ -f "$d/server.json" ]; then
  printf 'server_json=%s\n' "$(tr -d '\n' <"$d/server.json")"
  if mlcr_alive "$(mlcr_pid "$d/server.json")"; then printf 'server_alive=1\n'; fi
fi
if [ -f "$d/install.json" ]; then printf 'install_json=%s\n' "$(tr -d '\n' <"$d/install.json")"; fi
for f in /etc/systemd/system/mlcremote.service /Library/LaunchDaemons/dev.mlcremote.server.plist; do
  if [ -f "$f" ]; then printf 'system_service=%s\n' "$f"; fi
done
"#,
    );
    s
}

/// What the probe found.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub uname: String,
    pub home: String,
    /// The install dir, absolute.
    pub dir: String,
    pub shell: String,
    pub tools: Vec<String>,
    /// The absolute path of a cargo the remote build can use.
    pub cargo: Option<String>,
    /// Linux only: `gnu` (glibc) or `musl`, where the probe could tell.
    pub libc: Option<String>,
    pub free_kb: Option<u64>,
    pub installed_sha256: Option<String>,
    pub installed_version: Option<String>,
    pub server: Option<ServerState>,
    pub server_alive: bool,
    pub install: Option<InstallInfo>,
    /// A system-wide unit (README, "system-wide install") found on the host.
    pub system_service: Option<String>,
}

/// `install.json`, written by deploy (SPEC §5).
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
pub struct InstallInfo {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub installed_at: String,
    #[serde(default)]
    pub start_method: String,
}

/// `server.json` as the server writes it (SPEC §4).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ServerState {
    pub pid: u32,
    pub port: u16,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub target: String,
}

impl Probe {
    /// Run the probe on the host (SPEC §6 step 2).
    pub async fn run(session: &crate::ssh::Session, install_dir: &str) -> crate::error::Result<Probe> {
        let out = session.run(&probe_script(install_dir)).await?;
        Probe::parse(&out).map_err(|e| crate::err!(Other, "{e}").detail(out.stderr.clone()))
    }

    pub fn parse(out: &Output) -> Result<Probe, String> {
        let mut probe = Probe::default();
        for (key, value) in out.fields() {
            let value = value.trim();
            match key {
                "uname" => probe.uname = value.into(),
                "home" => probe.home = value.into(),
                "dir" => probe.dir = value.into(),
                "shell" => probe.shell = value.into(),
                "tool" => probe.tools.push(value.into()),
                "cargo" => probe.cargo = Some(value.into()).filter(|c: &String| c.starts_with('/')),
                "libc" => probe.libc = Some(value.into()),
                "free_kb" => probe.free_kb = value.parse().ok(),
                "installed_sha256" => probe.installed_sha256 = Some(value.into()).filter(|v: &String| v.len() == 64),
                "installed_version" => probe.installed_version = Some(value.into()).filter(|v: &String| !v.is_empty()),
                "server_json" => probe.server = serde_json::from_str(value).ok(),
                "server_alive" => probe.server_alive = value == "1",
                "install_json" => probe.install = serde_json::from_str(value).ok(),
                "system_service" => probe.system_service = Some(value.into()),
                _ => {}
            }
        }
        if probe.dir.is_empty() || !probe.dir.starts_with('/') {
            return Err(format!(
                "the probe did not resolve the install dir (got {:?}); is HOME set on the host?",
                probe.dir
            ));
        }
        Ok(probe)
    }

    pub fn has(&self, tool: &str) -> bool {
        self.tools.iter().any(|t| t == tool)
    }

    /// The running server, if `server.json` names a live process.
    pub fn running_server(&self) -> Option<&ServerState> {
        self.server.as_ref().filter(|_| self.server_alive)
    }
}

/// How the server is kept running after the SSH connection closes (SPEC §6 step 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod {
    Systemd,
    Setsid,
    Nohup,
    Tmux,
    Screen,
}

impl StartMethod {
    /// The auto order.
    pub const ALL: [StartMethod; 5] = [
        StartMethod::Systemd,
        StartMethod::Setsid,
        StartMethod::Nohup,
        StartMethod::Tmux,
        StartMethod::Screen,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Systemd => "systemd",
            StartMethod::Setsid => "setsid",
            StartMethod::Nohup => "nohup",
            StartMethod::Tmux => "tmux",
            StartMethod::Screen => "screen",
        }
    }

    /// The program the probe looks for.
    pub fn tool(self) -> &'static str {
        match self {
            StartMethod::Systemd => "systemctl",
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Option<StartMethod> {
        StartMethod::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Shell functions `mlcr_start_<name>` (start `run.sh` this way, or return 1 if it
    /// cannot) and `mlcr_running_<name>` (is it still up).
    fn shell_functions(self) -> &'static str {
        match self {
            StartMethod::Systemd => {
                r#"mlcr_start_systemd() {
  command -v systemctl >/dev/null 2>&1 && systemctl --user show-environment >/dev/null 2>&1 || return 1
  u=$(mlcr_name); ud="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
  mkdir -p "$ud" || return 1
  printf '[Unit]
Description=mlcremote server (%s)

[Service]
ExecStart=%s/run.sh
Restart=on-failure

[Install]
WantedBy=default.target
' "$d" "$d" >"$ud/$u.service" || return 1
  systemctl --user daemon-reload && systemctl --user enable "$u" >/dev/null 2>&1 && systemctl --user restart "$u" || return 1
  loginctl enable-linger "$(id -un)" >/dev/null 2>&1 || true
}
mlcr_running_systemd() { systemctl --user is-active --quiet "$(mlcr_name)"; }"#
            }
            StartMethod::Setsid => {
                r#"mlcr_start_setsid() { command -v setsid >/dev/null 2>&1 || return 1; setsid "$d/run.sh" </dev/null >/dev/null 2>&1 & pid=$!; }
mlcr_running_setsid() { mlcr_alive "$pid"; }"#
            }
            StartMethod::Nohup => {
                r#"mlcr_start_nohup() { command -v nohup >/dev/null 2>&1 || return 1; nohup "$d/run.sh" </dev/null >/dev/null 2>&1 & pid=$!; }
mlcr_running_nohup() { mlcr_alive "$pid"; }"#
            }
            StartMethod::Tmux => {
                r#"mlcr_start_tmux() {
  command -v tmux >/dev/null 2>&1 || return 1
  tmux kill-session -t "$(mlcr_name)" >/dev/null 2>&1
  tmux new-session -d -s "$(mlcr_name)" "exec $(mlcr_q "$d/run.sh")" </dev/null >/dev/null 2>&1
}
mlcr_running_tmux() { tmux has-session -t "$(mlcr_name)" >/dev/null 2>&1; }"#
            }
            StartMethod::Screen => {
                r#"mlcr_start_screen() {
  command -v screen >/dev/null 2>&1 || return 1
  screen -dmS "$(mlcr_name)" "$d/run.sh" </dev/null >/dev/null 2>&1
}
mlcr_running_screen() { screen -ls 2>/dev/null | grep -q "[.]$(mlcr_name)[[:space:]]"; }"#
            }
        }
    }
}

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

/// Exit codes of the install script, mapped to SPEC exit codes by deploy.
pub mod status {
    pub const INSTALL_FAILED: u32 = 70;
    pub const DOES_NOT_RUN: u32 = 71;
    pub const NO_START_METHOD: u32 = 72;
    pub const DIED_AT_START: u32 = 73;
    pub const NO_STATE_FILE: u32 = 74;
    pub const CORRUPT_UPLOAD: u32 = 76;
    pub const NOT_INSTALLED: u32 = 77;
    pub const LOCKED: u32 = 75;
    pub const BUILD_FAILED: u32 = 78;
}

/// The deploy lock (SPEC §5 `.lock/`): make the install dir (0700), take the lock,
/// clean what an interrupted deploy left, print `locked=1`, then hold the lock for as
/// long as this script's channel is open. A lock whose holder process is gone is stale
/// and taken over. Prints `busy=<owner>` and exits [`status::LOCKED`] if it is held.
pub fn lock_script(dir: &str, owner: &str) -> String {
    format!(
        r#"{PRELUDE}d={d}
owner={owner}
mkdir -p "$d" && chmod 700 "$d" || fail {failed} "cannot create $d"
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

/// `cargo mlcremote uninstall`: stop, then remove the install dir (never `$HOME` or `/`).
pub fn uninstall_script(dir: &str, pid: Option<u32>) -> String {
    let mut s = stop_script(dir, pid);
    let _ = writeln!(
        s,
        r#"case "$d" in /|"$HOME"|"$HOME/") fail {} "refusing to remove $d" ;; esac
ud="${{XDG_CONFIG_HOME:-$HOME/.config}}/systemd/user"
if [ -f "$ud/$(mlcr_name).service" ]; then
  systemctl --user disable "$(mlcr_name)" >/dev/null 2>&1; rm -f "$ud/$(mlcr_name).service"; systemctl --user daemon-reload >/dev/null 2>&1
fi
tmux kill-session -t "$(mlcr_name)" >/dev/null 2>&1; screen -S "$(mlcr_name)" -X quit >/dev/null 2>&1
rm -rf "$d" || fail {} "cannot remove $d"
printf 'removed=%s
' "$d""#,
        status::INSTALL_FAILED,
        status::INSTALL_FAILED
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
    fn quoting() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's $HOME"), r#"'it'\''s $HOME'"#);
        assert_eq!(dir_word("~/.mlcremote"), r#""$HOME"'/.mlcremote'"#);
        assert_eq!(dir_word("~"), r#""$HOME""#);
        assert_eq!(dir_word("/opt/x y"), "'/opt/x y'");
        assert_eq!(dir_word("~other/x"), "'~other/x'");
    }

    #[test]
    fn parses_a_probe() {
        let out = Output {
            stdout: "uname=Linux x86_64\nhome=/home/ann\ndir=/home/ann/.mlcremote\nshell=/bin/bash\ntool=setsid\n\
                     tool=nohup\nfree_kb=1024\ninstalled_sha256=abc\n\
                     server_json={\"pid\":42,\"port\":8080,\"bind\":\"127.0.0.1\",\"version\":\"0.1.0\",\"target\":\"t\",\"started_at\":\"x\"}\n\
                     server_alive=1\n"
                .into(),
            stderr: String::new(),
            status: 0,
        };
        let probe = Probe::parse(&out).unwrap();
        assert_eq!(probe.uname, "Linux x86_64");
        assert!(probe.has("setsid") && !probe.has("tmux"));
        assert_eq!(probe.free_kb, Some(1024));
        assert_eq!(probe.installed_sha256, None, "a malformed digest is no digest");
        assert_eq!(probe.running_server().map(|s| (s.pid, s.port)), Some((42, 8080)));
    }

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
