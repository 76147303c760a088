#!/bin/sh
# Build the editor the UI embeds (codemirror.mjs) from the exact npm versions pinned in
# codemirror/package-lock.json (npm ci checks every tarball's integrity), bundled and
# minified by the pinned esbuild into one ES module. Run it after changing a version in
# codemirror/package.json (then `npm install --package-lock-only` there), then
# `cargo test -p cargo-mlcremote vendored` and commit. Needs node and npm; `cargo build`
# never does: the output is committed, with the licences of everything bundled.
set -eu
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp codemirror/package.json codemirror/package-lock.json codemirror/entry.mjs "$work/"
(cd "$work" && npm ci --silent --no-fund --no-audit --ignore-scripts >/dev/null \
    && node node_modules/esbuild/bin/esbuild entry.mjs --bundle --format=esm --minify \
        --target=es2020 --legal-comments=none --metafile=meta.json --outfile=codemirror.mjs --log-level=warning)
cp "$work/codemirror.mjs" codemirror.mjs
# The licences of every package the bundle holds, each under its name and version.
node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1];
const meta = JSON.parse(fs.readFileSync(path.join(dir, "meta.json")));
const pkgs = new Set(Object.keys(meta.inputs).map((f) => f.match(/node_modules\/((@[^/]+\/)?[^/]+)/)?.[1]).filter(Boolean));
let out = "";
for (const name of [...pkgs].sort()) {
  const root = path.join(dir, "node_modules", name);
  const { version, license } = JSON.parse(fs.readFileSync(path.join(root, "package.json")));
  const file = fs.readdirSync(root).find((f) => /^(LICEN[CS]E|COPYING)/i.test(f));
  if (!file) throw new Error(`${name} has no licence file`);
  out += `==== ${name} ${version} (${license})\n\n${fs.readFileSync(path.join(root, file), "utf8").trim()}\n\n`;
}
fs.writeFileSync("LICENSE-codemirror", out);
' "$work"
sha256sum xterm.mjs xterm.css addon-fit.mjs codemirror.mjs > SHA256SUMS
