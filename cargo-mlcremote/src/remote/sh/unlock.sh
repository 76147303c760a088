# Release the shell's deploy lock held by $holder, and only if it still is.
# Set by the client: d (the install dir), holder.
l="$d/.lock"
if [ "$(cat "$l/pid" 2>/dev/null)" = "$holder" ]; then rm -rf "$l"; fi
