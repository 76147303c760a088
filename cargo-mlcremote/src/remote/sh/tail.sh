# The last $lines lines of the file $f on the host (a build's log), if it exists.
# Set by the client: f, lines.
if [ -f "$f" ]; then tail -n "$lines" "$f"; fi
