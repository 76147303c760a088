# The install exec's receiver: get the binary into the upload file $t — over this
# channel's stdin in one part or (with the part receivers) several, raw, gzip, xz or in
# the .tar.gz it came in; or copied where it was built; or downloaded by the host and checked
# against the release's sha256 — then check it runs here and become its `agent install`.
# The upload's name carries this receiver's pid, so a later deploy can tell one whose
# receiver is gone. A failure removes the upload, and the install dir if this deploy
# made it and it is empty; so does the end of the connection (sshd's hangup, or a write
# to the closed channel).
# Set by the client: d, r (this upload's id), how (copy|download|upload), packing
# (raw|gzip|xz|tgz), inner, from, url, archive_sha, parts, first (the size of the binary or
# archive the first part holds), size, wait, and for the agent: sha, port, methods,
# timeout, owner, holder, root.
t="$d/.mlcremote.upload-$$-$r"
cut="the upload to $d was cut: the connection ended before all of it came"
wrote="the upload to $d could not be written (is the disk full?)"
m=''
[ -d "$d" ] || m=1
untgz() { gzip -dc | tar -xOf - "$inner"; }
fail() {
  code=$1; shift
  rm -f "$t"
  [ -z "$m" ] || rmdir "$d" 2>/dev/null
  printf 'error=%s\n' "$*"
  exit "$code"
}
trap 'kill $rp $wd 2>/dev/null; rm -f "$t" "$t".tar.gz* "$d/.mlcremote.part-$r"-*; exit 1' HUP PIPE TERM
(umask 077; mkdir -p "$d") 2>/dev/null || fail "$st_failed" "cannot create $d: $(mkdir -p "$d" 2>&1 | sed 's/^mkdir: //')"
case "$how" in
copy)
  cp "$from" "$t" || fail "$st_failed" "cannot copy the built binary into $d"
  ;;
download)
  a="$t.tar.gz"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --connect-timeout 10 --speed-time 30 --speed-limit 1 --retry 2 -o "$a" "$url" 2>"$a.err"
  else
    wget -q -T 30 -t 3 -O "$a" "$url" 2>"$a.err"
  fi
  s=$?
  e=$(head -c 300 "$a.err" | tr '\n' ' ')
  rm -f "$a.err"
  [ $s = 0 ] || { rm -f "$a"; fail "$st_download" "the host cannot download $url (status $s${e:+: $e})"; }
  if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum "$a"); else s=$(shasum -a 256 "$a"); fi
  s=${s%% *}
  [ "$s" = "$archive_sha" ] || { rm -f "$a"; fail "$st_mismatch" "checksum mismatch: the archive the host downloaded from $url has sha256 $s, but the release's SHA256SUMS says $archive_sha; refusing it"; }
  gzip -dc "$a" | tar -xOf - "$inner" >"$t"; s=$?
  rm -f "$a"
  { [ $s = 0 ] && [ -s "$t" ]; } || fail "$st_corrupt" "cannot unpack $inner from the archive downloaded from $url (is the disk full?)"
  ;;
*)
  if [ "$parts" -le 1 ]; then
    # A stream that ends early is a cut upload; `cat` fails where it cannot write,
    # unless the watchdog ended it (killed: the link fell silent).
    case "$packing" in
    gzip | xz) recv "$t" "$packing" -dc ;;
    tgz) recv "$t" untgz ;;
    *) recv "$t" cat || { [ $? -gt 128 ] || fail "$st_failed" "$wrote"; false; } ;;
    esac || fail "$st_corrupt" "$cut"
  else
    # Part 0 comes on this channel; the others are added to it in order, each as soon
    # as it is whole, while the later ones still come (compressed parts were unpacked
    # by their receivers). Wait for them while someone writes one (its receiver's pid is
    # in its name) or, for a part whose channel has not started, as long as the client
    # waits for an exec. A receiver that saw its input end early says so (`.cut`): then
    # everything goes at once. `$t` exists from the start: it tells a later deploy, and
    # the parts, whether the receiver of this upload is there.
    p="$d/.mlcremote.part-$r"
    : >"$t"
    case "$packing" in
    gzip | xz) recv "$p-0" "$packing" -dc || { rm -f "$p"-*; fail "$st_corrupt" "$cut"; } ;;
    *) recv "$p-0" cat || { s=$?; rm -f "$p"-*; [ $s -gt 128 ] && fail "$st_corrupt" "$cut"; fail "$st_failed" "$wrote"; } ;;
    esac
    [ "$(mlcr_size "$p-0")" -eq "$first" ] || { rm -f "$p"-*; fail "$st_corrupt" "$cut"; }
    w=$(mlcr_now) k=1
    while [ $k -lt "$parts" ]; do
      if [ -f "$p-$k" ]; then
        cat "$p-$k" >>"$p-0" || { rm -f "$p"-*; fail "$st_failed" "$wrote"; }
        rm -f "$p-$k"
        k=$((k + 1))
        continue
      fi
      for c in "$p"-*.cut; do [ -f "$c" ] && { rm -f "$p"-*; fail "$st_corrupt" "$cut"; }; done
      now=$(mlcr_now)
      for f in "$p"-*.tmp.*; do [ -f "$f" ] && kill -0 "${f##*.}" 2>/dev/null && w=$now; done
      [ $((now - w)) -gt "$wait" ] && { rm -f "$p"-*; fail "$st_corrupt" "the upload's other parts never came"; }
      # Not closer: each look is two processes (the clock, the sleep), and eighteen
      # hosts' receivers looking every 10 ms starved one sshd of the time to start the
      # others' commands.
      sleep 0.05 2>/dev/null || sleep 1
    done
    case "$packing" in
    tgz) untgz <"$p-0" >"$t" ;;
    *) mv -f "$p-0" "$t" ;;
    esac
    s=$?
    rm -f "$p"-*
    [ $s = 0 ] || fail "$st_failed" "$wrote"
  fi
  # Whatever arrived must be the whole binary: a cut upload is found here, not by
  # running half a binary.
  [ "$(mlcr_size "$t")" -eq "$size" ] || fail "$st_corrupt" "$cut"
  ;;
esac
printf 'received=1\n'
chmod 700 "$t" || fail "$st_failed" "cannot chmod $t"
v=$("$t" version --json 2>&1 </dev/null); s=$?
said="the uploaded file is not an mlcremote server (it said: $(printf '%s' "$v" | head -n 3))"
if [ $s != 0 ]; then
  case "$v" in
  *'ermission denied'*) fail "$st_runs" "the new binary does not run in $d: permission denied although it is executable (is the file system mounted noexec? pass --install-dir on another one)" ;;
  *'ormat error'*) fail "$st_runs" "the new binary does not run here: $v (a binary for another kind of machine?)" ;;
  esac
  fail "$st_runs" "$said"
fi
case "$v" in *'"version"'*) ;; *) fail "$st_runs" "$said" ;; esac
set -- --dir "$d" --upload "$t" --sha256 "$sha" --size "$size" --port "$port" \
  --start-methods "$methods" --health-timeout-secs "$timeout" --owner "$owner"
if [ -n "$holder" ]; then set -- "$@" --lock-holder "$holder"; fi
if [ -n "$root" ]; then set -- "$@" --root "$root"; fi
exec "$t" agent install "$@"
