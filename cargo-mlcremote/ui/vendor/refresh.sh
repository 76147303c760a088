#!/bin/sh
# Refresh the browser libraries the UI embeds, from the npm registry, each tarball checked
# against the sha256 pinned below. To move to a new version: change VERSION and SHA256
# (from `curl -sL URL | sha256sum` after reading the release notes), run this, then
# `cargo test -p cargo-mlcremote vendored` (it checks SHA256SUMS) and commit.
set -eu
cd "$(dirname "$0")"
fetch() { # name version sha256 then: source-path:dest ...
    name=$1 version=$2 sum=$3; shift 3
    url="https://registry.npmjs.org/@xterm/$name/-/$name-$version.tgz"
    tmp=$(mktemp -d)
    curl -fsSL "$url" -o "$tmp/p.tgz"
    echo "$sum  $tmp/p.tgz" | sha256sum -c - >/dev/null
    tar -xzf "$tmp/p.tgz" -C "$tmp"
    for pair in "$@"; do cp "$tmp/package/${pair%%:*}" "${pair#*:}"; done
    rm -rf "$tmp"
}
fetch xterm 6.0.0 908e66e04af6c8dc6b00dd3b54de088e2e81e5ed866284fd6c2fb3c2d1c7a3f6 \
    lib/xterm.mjs:xterm.mjs css/xterm.css:xterm.css LICENSE:LICENSE-xterm
fetch addon-fit 0.11.0 26003b4517a132b64e4ff228fd88a5fda3fff5e606c76093f6dcff772e9ecec0 \
    lib/addon-fit.mjs:addon-fit.mjs LICENSE:LICENSE-addon-fit
sha256sum xterm.mjs xterm.css addon-fit.mjs > SHA256SUMS
