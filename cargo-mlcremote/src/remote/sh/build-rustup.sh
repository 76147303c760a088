# The lines that install a Rust toolchain into the install dir, before build-toolchain.sh:
# rustup-init, pinned by its sha256, with the minimal profile and no change to the
# user's PATH or profile. Words: toolchain, init, url, sha, rustup_home, cargo_home, default_host.
mkdir -p "$toolchain"
if command -v curl >/dev/null 2>&1; then curl --proto '=https' --tlsv1.2 -fsSL -o "$init" "$url"; else wget -q -O "$init" "$url"; fi
if command -v sha256sum >/dev/null 2>&1; then sum=$(sha256sum "$init"); else sum=$(shasum -a 256 "$init"); fi; test "${sum%% *}" = "$sha"
chmod 0755 "$init"
RUSTUP_HOME="$rustup_home" CARGO_HOME="$cargo_home" "$init" -y --no-modify-path --profile minimal --default-toolchain stable --default-host "$default_host"
