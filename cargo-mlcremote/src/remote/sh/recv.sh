# `recv FILE COMMAND…`: COMMAND reads the payload (this channel's stdin, fd 3) into FILE,
# and is ended once FILE has not grown for $idle seconds (a link that went silent without
# a FIN leaves a reader waiting until sshd notices, which can be hours). Its status is
# COMMAND's, above 128 where the watchdog ended it (the receivers call that a cut, not a
# failure to write); $rp is its pid and $wd its watchdog's while it runs, and the
# watchdog (with its `sleep`) is gone when it returns. Set by the client: idle.
rp='' wd=''
exec 3<&0
recv() {
  o=$1; shift
  "$@" <&3 >"$o" & rp=$!
  (
    trap 'kill $z 2>/dev/null; exit 0' TERM
    n=-1 i=0
    while kill -0 "$rp" 2>/dev/null; do
      s=$(wc -c <"$o" 2>/dev/null)
      if [ "$s" = "$n" ]; then i=$((i + 1)); [ "$i" -gt "$idle" ] && kill "$rp" 2>/dev/null; else i=0; n=$s; fi
      sleep 1 & z=$!; wait $z
    done
  ) >/dev/null 2>&1 & wd=$!
  { wait "$rp"; } 2>/dev/null; s=$?
  kill "$wd" 2>/dev/null; wait "$wd" 2>/dev/null
  rp='' wd=''
  return $s
}
# The byte count of a file, as a number (BSD wc pads it with spaces).
mlcr_size() { echo $(($(wc -c <"$1"))); }
mlcr_now() { date +%s; }
