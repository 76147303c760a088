#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20), as many at once as there are
# cores (libFuzzer uses one); new inputs are kept in fuzz/work/ (the committed seeds in
# fuzz/corpus/ stay as they are). Prints the executions per target; a crash fails the run
# with libFuzzer's report and the input in fuzz/artifacts/.
# Needs nightly and cargo-fuzz: rustup toolchain install nightly; cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
mapfile -t targets < <(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | grep -v '^mlcremote-fuzz$')
at_once=$(nproc)
cargo +nightly fuzz build

fuzz() {
  local target=$1 log="work/$1.log" runs
  mkdir -p "work/$target"
  if ! cargo +nightly fuzz run "$target" "work/$target" "corpus/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    return 1
  fi
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1)
  printf '%-14s %s in %ss\n' "$target" "${runs:-?}" "$seconds"
}

failed=0
set -- "${targets[@]}"
while [ $# -gt 0 ]; do
  pids=()
  while [ $# -gt 0 ] && [ ${#pids[@]} -lt "$at_once" ]; do
    fuzz "$1" &
    pids+=($!)
    shift
  done
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
done
exit "$failed"
