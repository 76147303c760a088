# Put the uploaded source bundle (this channel's stdin, .tar.gz) in place: a fresh source
# tree each time (mtimes set to now, so cargo sees what changed), the target dir kept so
# a rebuild is incremental, an empty log. Set by the client: b (the build folder),
# stem (the bundle's top folder), log.
mkdir -p "$b" || { printf 'error=cannot create %s\n' "$b"; exit "$st_build"; }
if ! { cd "$b" && rm -rf "$stem" && gzip -dc | tar -xmf - && : >"$log"; }; then
  printf 'error=cannot unpack the source bundle in %s\n' "$b"
  exit "$st_build"
fi
