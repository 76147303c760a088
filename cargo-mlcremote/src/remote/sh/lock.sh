# The deploy lock (SPEC §5 `.lock/`) where no agent is installed, by the agent's rules
# and in its words (`agent lock`): make the install dir (0700), take the lock, say
# {"event":"locked","holder":PID}, then hold it for as long as this script's channel is
# open. A lock whose holder process is gone is stale and taken over; one with no pid yet
# may be being written and gets 2 s. Held by a live process: {"event":"busy",...}, exit
# st_locked. Set by the client: d (the install dir), owner.
mkdir -p "$d" || fail "$st_failed" "cannot create $d"
mlcr_own_dir "$d"
chmod 700 "$d" || fail "$st_failed" "cannot make $d private"
l="$d/.lock"
if ! mkdir "$l" 2>/dev/null; then
  holder=$(cat "$l/pid" 2>/dev/null)
  [ -n "$holder" ] || { sleep 2; holder=$(cat "$l/pid" 2>/dev/null); }
  if mlcr_alive "$holder"; then
    printf '{"event":"busy","holder":%s}\n' "$(mlcr_json "$(cat "$l/owner" 2>/dev/null)")"
    exit "$st_locked"
  fi
  # One deploy at a time takes a stale lock over: two that both saw the holder gone
  # must not remove each other's fresh lock.
  if mkdir "$l.takeover" 2>/dev/null; then
    [ "$(cat "$l/pid" 2>/dev/null)" = "$holder" ] && rm -rf "$l"
    rmdir "$l.takeover"
  fi
  mkdir "$l" 2>/dev/null || { printf '{"event":"busy","holder":"another deploy"}\n'; exit "$st_locked"; }
fi
printf '%s\n' "$$" >"$l/pid"
printf '%s since %s\n' "$owner" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$l/owner"
# Remove the lock only while it is still ours: the client may have released it already.
trap '[ "$(cat "$l/pid" 2>/dev/null)" = "$$" ] && rm -rf "$l"' EXIT
trap 'exit 0' HUP PIPE TERM INT
printf '{"event":"locked","holder":%s}\n' "$$"
while printf '.\n' 2>/dev/null; do mlcr_nap; mlcr_nap; mlcr_nap; mlcr_nap; done
