# SPEC §6 step 2 in one round trip, changing nothing: what the host is and has, as
# `key=value` lines. An installed binary answers all of it in one process (`agent
# probe`); else the shell finds out. Set by the client: d (the install dir).
if [ -x "$d/mlcremote" ] && facts=$("$d/mlcremote" agent probe --dir "$d" 2>/dev/null </dev/null) \
  && [ -n "$facts" ]; then printf '%s\n' "$facts"; exit 0; fi
printf 'uname=%s\n' "$(uname -s -m 2>/dev/null)"
printf 'home=%s\n' "$HOME"
printf 'dir=%s\n' "$d"
printf 'shell=%s\n' "${SHELL:-}"
for t in setsid nohup tmux screen sha256sum shasum docker curl wget gzip tar; do
  if command -v "$t" >/dev/null 2>&1; then printf 'tool=%s\n' "$t"; fi
done
# xz-utils' xz (BusyBox's has no --robot, and cannot undo the x86 filter deploy uses).
if xz --robot --version >/dev/null 2>&1 </dev/null; then printf 'tool=xz\n'; fi
# A systemd user manager this account can use: its socket is there and it answers (as
# `agent probe` asks; systemctl alone takes ~30 ms to say there is none).
if [ -S "${XDG_RUNTIME_DIR:-/nonexistent}/systemd/private" ] && command -v systemctl >/dev/null 2>&1 \
  && systemctl --user show-environment >/dev/null 2>&1; then
  printf 'tool=systemd-user\n'
fi
# A cargo the build can use: on PATH, where rustup puts it (not on PATH in a
# non-login session), or the toolchain an earlier `--build remote` bootstrapped.
for c in "$(command -v cargo 2>/dev/null)" "$HOME/.cargo/bin/cargo" "$d/toolchain/cargo/bin/cargo"; do
  if [ -n "$c" ] && [ -x "$c" ]; then printf 'cargo=%s\n' "$c"; break; fi
done
if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then printf 'libc=gnu\n'
elif ls /lib/ld-musl-* >/dev/null 2>&1; then printf 'libc=musl\n'; fi
p="$d"; while [ ! -d "$p" ]; do p=${p%/*}; p=${p:-/}; done
printf 'exists_at=%s\n' "$p"
if [ -w "$p" ]; then printf 'writable=1\n'; fi
# `fs_facts FREE_BLOCKS BLOCK_SIZE TYPE…`: GNU stat's three fields, in one process; from
# another stat (or none) df says the free space. Only the file systems that hold no files
# matter.
fs_facts() {
  case "${1:-x}${2:-x}" in
  *[!0-9]*)
    printf 'free_kb=%s\n' "$(df -Pk "$p" 2>/dev/null | awk 'NR==2 {print $4}')"
    return
    ;;
  esac
  b=$1 s=$2
  shift 2
  case "$*" in
  proc|sysfs|devpts|tmpfs|cgroupfs|cgroup2fs|debugfs|securityfs) printf 'fs=%s\n' "$*" ;;
  esac
  printf 'free_kb=%s\n' $((b * s / 1024))
}
# shellcheck disable=SC2046 # the words are stat's three fields
fs_facts $(stat -f -c '%a %S %T' "$p" 2>/dev/null)
# The installed binary says itself what it is and how its server is (sha256, version,
# server.json, /health), in this same round trip.
agent=
if [ -x "$d/mlcremote" ]; then agent=$("$d/mlcremote" agent status --dir "$d" 2>/dev/null </dev/null); fi
case "$agent" in
'{'*) printf 'agent=%s\n' "$agent" ;;
*)
  if [ -f "$d/mlcremote" ]; then
    printf 'installed_sha256=%s\n' "$(mlcr_sha256 "$d/mlcremote")"
    printf 'installed_version=%s\n' "$("$d/mlcremote" --version 2>/dev/null | head -n 1)"
  fi
  if [ -f "$d/server.json" ]; then
    printf 'server_json=%s\n' "$(tr -d '\n' <"$d/server.json")"
    if mlcr_alive "$(mlcr_pid "$d/server.json")"; then printf 'server_alive=1\n'; fi
  fi
  ;;
esac
if [ -f "$d/install.json" ]; then printf 'install_json=%s\n' "$(tr -d '\n' <"$d/install.json")"; fi
for f in /etc/systemd/system/mlcremote.service /Library/LaunchDaemons/dev.mlcremote.server.plist; do
  if [ -f "$f" ]; then printf 'system_service=%s\n' "$f"; fi
done
