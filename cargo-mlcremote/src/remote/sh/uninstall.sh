# `cargo mlcremote uninstall` where the installed binary is not an agent that can
# (contract version 2), or does not run: stop the server, then remove what deploy
# created, by name, and the install dir only if that leaves it empty; in `agent
# uninstall`'s words. Refuses a dir that is the home or holds it, however it is spelled.
# Set by the client: d (the install dir), method (the recorded start method), files,
# trees and folders (what deploy creates: names without spaces).
if [ ! -d "$d" ]; then printf '{"event":"uninstalled","result":"absent"}\n'; exit 0; fi
mlcr_own_dir "$d"
# The agent stops only a process it can prove is this install's server.
if [ -x "$d/mlcremote" ]; then "$d/mlcremote" agent stop --dir "$d" >/dev/null 2>&1; fi
# Only the session the server was started with: asking tmux or screen about a session
# that never was leaves their socket folders behind.
case "$method" in
systemd)
  ud="${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user"
  if [ -f "$ud/$(mlcr_name "$d").service" ]; then
    systemctl --user disable --now "$(mlcr_name "$d")" >/dev/null 2>&1
    rm -f "$ud/$(mlcr_name "$d").service"
    systemctl --user daemon-reload >/dev/null 2>&1
  fi
  ;;
tmux) tmux kill-session -t "$(mlcr_name "$d")" >/dev/null 2>&1 ;;
screen) screen -S "$(mlcr_name "$d")" -X quit >/dev/null 2>&1 ;;
esac
for f in $files; do
  rm -f "${d:?}/$f" || fail "$st_failed" "cannot remove the files in $d"
done
rm -f "$d"/server.json.tmp.* "$d"/.mlcremote.upload-* "$d"/.mlcremote.part-* || fail "$st_failed" "cannot remove the files in $d"
for t in $trees; do rm -rf "${d:?}/$t"; done
rm -rf "$d/build"/mlcremote-*-src
for sub in $folders; do rmdir "$d/$sub" 2>/dev/null; done
if rmdir "$d" 2>/dev/null; then
  printf '{"event":"uninstalled","result":"removed"}\n'
else
  others='' n=0
  for o in "$d"/* "$d"/.[!.]* "$d"/..?*; do
    [ -e "$o" ] || [ -L "$o" ] || continue
    n=$((n + 1)); [ "$n" -le 5 ] || break
    others="$others${others:+,}$(mlcr_json "${o##*/}")"
  done
  printf '{"event":"uninstalled","result":{"kept":{"others":[%s]}}}\n' "$others"
fi
