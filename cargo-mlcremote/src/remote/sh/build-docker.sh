# The lines a build with Docker runs (build.sh runs them one by one; the plan shows them
# with the words filled in). Words: build, workdir, image.
docker run --rm --user "$(id -u):$(id -g)" -v "$build":/build -w "$workdir" -e CARGO_HOME=/build/cargo-home -e CARGO_TARGET_DIR=/build/docker-target "$image" cargo build --release --locked --offline --package mlcremote --bin mlcremote
