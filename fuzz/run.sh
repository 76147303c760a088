#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20), new inputs kept in fuzz/work/
# (the committed seeds in fuzz/corpus/ stay as they are). Prints the executions per
# target; a crash stops the run with libFuzzer's report and the input in fuzz/artifacts/.
# Needs nightly and cargo-fuzz: rustup toolchain install nightly; cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
targets=$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^mlcremote-fuzz$')
cargo +nightly fuzz build
for target in $targets; do
  mkdir -p "work/$target"
  log="work/$target.log"
  if ! cargo +nightly fuzz run "$target" "work/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1)
  printf '%-14s %s in %ss\n' "$target" "${runs:-?}" "$seconds"
done
