# The line a build with the host's own cargo runs. Words: src, cargo_bin, target, cargo.
cd "$src" && PATH="$cargo_bin":"$PATH" CARGO_TARGET_DIR="$target" "$cargo" build --release --locked --offline --package mlcremote --bin mlcremote
