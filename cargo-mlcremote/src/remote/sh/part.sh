# Channel k's receiver (1…) of a split upload: store its part of the payload, under a
# name with this receiver's pid while it comes; a compressed part (unz=gzip|xz: whole
# members) is unpacked as it comes, beside the other parts, so the host does not unpack
# the whole binary on one core after the last byte came. Cut short, it is removed, and
# the main receiver told (`.cut`, taken back once the main receiver is gone, which may
# have looked before the mark came) so that it stops waiting; a part whose main receiver
# never started removes itself too (one whose receiver took it already is done).
# Set by the client: d, r (the upload's id), k, size (of the binary or archive this part
# holds), unz, wait.
p="$d/.mlcremote.part-$r"
f="$p-$k.tmp.$$"
c="$p-$k.cut"
main() {
  for m in "$d"/.mlcremote.upload-*-"$r"; do [ -f "$m" ] && return 0; done
  return 1
}
trap 'kill $rp $wd 2>/dev/null; rm -f "$f" "$c"; main || rm -f "$p-$k"; exit 1' HUP PIPE TERM
nowhere() {
  rm -f "$f"
  printf 'error=cannot write to %s (is the disk full?)\n' "$d"
  exit "$st_failed"
}
mkdir -p "$d" || nowhere
ok=1
if [ -n "$unz" ]; then
  # A compressed stream that ends early is a cut upload, as a short part is.
  recv "$f" "$unz" -dc || ok=''
else
  # `cat` fails where it cannot write, unless the watchdog ended it (a silent link).
  recv "$f" cat || { [ $? -gt 128 ] || nowhere; ok=''; }
fi
if [ -z "$ok" ] || [ "$(mlcr_size "$f")" -ne "$size" ]; then
  rm -f "$f"
  main && : >"$c"
  w=$(mlcr_now)
  while main && [ -f "$c" ] && [ $(($(mlcr_now) - w)) -le "$wait" ]; do sleep 0.05 2>/dev/null || sleep 1; done
  rm -f "$c"
  printf 'error=the upload to %s was cut: the connection ended before all of it came\n' "$d"
  exit "$st_corrupt"
fi
mv -f "$f" "$p-$k" || exit "$st_failed"
w=$(mlcr_now)
until main || [ ! -f "$p-$k" ]; do
  [ $(($(mlcr_now) - w)) -gt "$wait" ] && { rm -f "$p-$k"; exit "$st_corrupt"; }
  sleep 0.05 2>/dev/null || sleep 1
done
