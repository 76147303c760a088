# Helpers every script may use. Set before this by the client (remote/scripts.rs):
# the exit codes st_failed, st_locked, st_not_installed.
mlcr_sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  elif command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r "$1" | cut -d' ' -f1
  else echo none; fi
}
mlcr_nap() { sleep 0.05 2>/dev/null || sleep 1; }
# The name of the tmux/screen session or systemd user unit of the install dir $1.
mlcr_name() { printf 'mlcremote-%s' "$(printf '%s' "$1" | cksum | cut -d' ' -f1)"; }
mlcr_pid() { sed -n 's/.*"pid": *\([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1; }
fail() { code=$1; shift; printf 'error=%s\n' "$*"; exit "$code"; }
# A JSON string of $1: backslashes and quotes escaped, control characters dropped.
mlcr_json() { printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/[\\"]/\\&/g')"; }
# Refuse an install dir that is / or the home folder or holds it, however it is spelled.
mlcr_own_dir() {
  real=$(cd "$1" 2>/dev/null && pwd -P) || fail "$st_failed" "cannot enter $1"
  home=$(cd "$HOME" 2>/dev/null && pwd -P)
  [ "$real" = / ] && fail "$st_failed" "refusing to use $1 as the install dir: it is the root folder"
  case "$home/" in "$real"/*) fail "$st_failed" "refusing to use $1 as the install dir: it is your home folder or holds it; pass --install-dir ~/.mlcremote" ;; esac
  return 0
}
mlcr_alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  # A zombie (exited, not yet reaped by an init that reaps lazily) is not alive.
  case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*) return 1 ;; esac
}
