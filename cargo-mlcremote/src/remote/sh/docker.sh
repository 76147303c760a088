# Does a Docker engine answer for this account (a client without its engine does not
# count)? Prints docker=ok if so.
if docker info >/dev/null 2>&1; then printf 'docker=ok\n'; fi
