fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=MLCREMOTE_HOST_TRIPLE={target}");
}
