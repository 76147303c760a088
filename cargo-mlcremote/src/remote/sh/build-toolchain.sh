# The line a build with the toolchain deploy installed runs: its cargo, with its homes.
# Words: src, cargo_bin, rustup_home, cargo_home, target, cargo.
cd "$src" && PATH="$cargo_bin":"$PATH" RUSTUP_HOME="$rustup_home" CARGO_HOME="$cargo_home" CARGO_TARGET_DIR="$target" "$cargo" build --release --locked --offline --package mlcremote --bin mlcremote
