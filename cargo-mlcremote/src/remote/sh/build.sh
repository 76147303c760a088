# Build the server on the host: run the command lines of a build-*.sh one by one (the plan
# showed them, words filled in, before anyone agreed), each echoed into the log as shown
# with its output; stop at the first that fails. Then report the binary: path, sha256,
# size, its own --version. Set by the client: log, method, bin, n, the lines line_1 …
# line_n, each as shown (shown_1 … shown_n), and the words the lines use.
printf '== building with %s\n' "$method" >>"$log"
i=1 l='' shown=''
while [ "$i" -le "$n" ]; do
  eval "l=\$line_$i shown=\$shown_$i"
  printf '+ %s\n' "$shown" >>"$log"
  { eval "$l"; } >>"$log" 2>&1 </dev/null || fail "$st_build" "building with $method failed"
  i=$((i + 1))
done
[ -x "$bin" ] || fail "$st_build" "the build left no binary at $bin"
printf 'binary=%s\n' "$bin"
printf 'sha256=%s\n' "$(mlcr_sha256 "$bin")"
printf 'size=%s\n' "$(wc -c <"$bin" | tr -d ' ')"
printf 'version=%s\n' "$("$bin" --version 2>>"$log" | head -n 1)"
