//! Building the server for a target on this machine: which builder to use (SPEC §3's
//! auto rule) and the exact command. Shared by `cargo xtask dist` and `deploy --build`.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::{archive::BINARY_NAME, target};

/// How to build for a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Builder {
    Auto,
    Cargo,
    Zigbuild,
    Cross,
}

impl Builder {
    /// SPEC §3 auto rule: host → cargo; else cross if a container engine answers; else
    /// zigbuild if installed; else say how to get one. Never cross without an engine: it
    /// would only fail, after running rustup. The probes run only when needed.
    pub fn resolve(
        self,
        triple: &str,
        engine: impl Fn() -> bool,
        zigbuild: impl Fn() -> bool,
    ) -> Result<Builder, BuildError> {
        match self {
            Builder::Auto if triple == target::host_triple() => Ok(Builder::Cargo),
            Builder::Auto if engine() => Ok(Builder::Cross),
            Builder::Auto if zigbuild() => Ok(Builder::Zigbuild),
            Builder::Auto => Err(BuildError::NoBuilder { triple: triple.into() }),
            Builder::Cross if !engine() => Err(BuildError::NoEngine),
            Builder::Zigbuild if !zigbuild() => Err(BuildError::NoZigbuild),
            other => Ok(other),
        }
    }

    /// The program and arguments that build the server for `triple`.
    pub fn command(self, triple: &str) -> (&'static str, Vec<String>) {
        self.command_for(crate::archive::Product::Server, triple)
    }

    /// The command that builds `product` for `triple` in release mode.
    pub fn command_for(self, product: crate::archive::Product, triple: &str) -> (&'static str, Vec<String>) {
        let (program, sub) = match self {
            Builder::Zigbuild => ("cargo", "zigbuild"),
            Builder::Cross => ("cross", "build"),
            Builder::Cargo | Builder::Auto => ("cargo", "build"),
        };
        let name = product.name();
        let args = [
            sub,
            "--release",
            "--locked",
            "--package",
            name,
            "--bin",
            name,
            "--target",
            triple,
        ];
        (program, args.iter().map(|a| a.to_string()).collect())
    }
}

/// Why the server cannot be built here.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "cannot build {triple} on this machine. Any one of these works:\n  \
         - cargo: `rustup target add {triple}` and a linker for it (host targets only, in practice)\n  \
         - zigbuild: `pip install cargo-zigbuild` (brings zig), then rerun with --builder zigbuild\n  \
         - cross: `cargo install cross` and a running Docker or Podman engine"
    )]
    NoBuilder { triple: String },
    #[error(
        "--builder cross needs a container engine, but neither `docker info` nor `podman info` answered; \
         start one or use --builder zigbuild"
    )]
    NoEngine,
    #[error("--builder zigbuild needs cargo-zigbuild: `pip install cargo-zigbuild`")]
    NoZigbuild,
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("building for {triple} failed ({command})")]
    Failed { triple: String, command: String },
    #[error("--build needs the mlcremote source: {why}")]
    NoSource { why: String },
}

/// Does `docker info` or `podman info` answer?
pub fn container_engine() -> bool {
    ["docker", "podman"]
        .iter()
        .any(|engine| quietly_succeeds(engine, &["info"]))
}

/// Is `cargo-zigbuild` installed?
pub fn zigbuild_installed() -> bool {
    quietly_succeeds("cargo-zigbuild", &["--version"])
}

fn quietly_succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where the build leaves the binary.
pub fn built_binary(workspace: &Path, triple: &str) -> PathBuf {
    target_dir(workspace).join(triple).join("release").join(BINARY_NAME)
}

/// Where a release build of `product` for `target` leaves its binary.
pub fn built_binary_of(product: crate::archive::Product, workspace: &Path, target: &crate::target::Target) -> PathBuf {
    target_dir(workspace)
        .join(target.triple)
        .join("release")
        .join(product.binary_file(target))
}

fn target_dir(workspace: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from)
}

/// Build the server for `triple` in `workspace` (the mlcremote source tree); returns
/// the binary. Every line the build prints goes to `log`, the command first.
pub fn build(
    workspace: &Path,
    builder: Builder,
    triple: &str,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, BuildError> {
    let builder = builder.resolve(triple, container_engine, zigbuild_installed)?;
    let (program, args) = builder.command(triple);
    let shown = format!("{program} {}", args.join(" "));
    log(&format!("building mlcremote for {triple}: {shown}"));
    let mut child = Command::new(program)
        .args(&args)
        .current_dir(workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::Spawn {
            program: program.into(),
            source,
        })?;
    // cargo writes to stderr, a build script may write to stdout: read both as they come.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream).split(b'\n').map_while(Result::ok) {
                let _ = tx.send(String::from_utf8_lossy(&line).trim_end().to_string());
            }
        })
    })
    .collect();
    drop(tx);
    for line in rx {
        log(&line);
    }
    for reader in readers {
        let _ = reader.join();
    }
    let status = child.wait().map_err(|source| BuildError::Spawn {
        program: program.into(),
        source,
    })?;
    if !status.success() {
        return Err(BuildError::Failed {
            triple: triple.into(),
            command: shown,
        });
    }
    Ok(built_binary(workspace, triple))
}

/// `[workspace.metadata.mlcremote]` of the workspace `dir` is in, if any (SPEC §7).
pub fn project_defaults(dir: &Path) -> Option<serde_json::Value> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(dir)
        .no_deps()
        .exec()
        .ok()?;
    Some(metadata.workspace_metadata["mlcremote"].clone()).filter(|v| !v.is_null())
}

/// The mlcremote source tree `dir` is in (a workspace with a `mlcremote` package).
pub fn workspace_at(dir: &Path) -> Result<PathBuf, BuildError> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .current_dir(dir)
        .no_deps()
        .exec()
        .map_err(|e| {
            // cargo's own last line says why (no Cargo.toml here or above, usually).
            let said = e.to_string();
            let why = said
                .trim()
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_string();
            BuildError::NoSource {
                why: format!("run it inside the repository ({why})"),
            }
        })?;
    if !metadata.packages.iter().any(|p| p.name.as_str() == "mlcremote") {
        return Err(BuildError::NoSource {
            why: "run it inside the mlcremote repository".into(),
        });
    }
    Ok(metadata.workspace_root.into_std_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_follows_the_spec_order_and_never_picks_cross_without_an_engine() {
        let host = target::host_triple();
        let other = "aarch64-unknown-linux-musl";
        assert_eq!(
            Builder::Auto
                .resolve(host, || panic!("no probe needed"), || panic!())
                .ok(),
            Some(Builder::Cargo)
        );
        assert_eq!(
            Builder::Auto.resolve(other, || true, || true).ok(),
            Some(Builder::Cross)
        );
        assert_eq!(
            Builder::Auto.resolve(other, || false, || true).ok(),
            Some(Builder::Zigbuild)
        );
        let err = Builder::Auto
            .resolve(other, || false, || false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cargo-zigbuild") && err.contains("cargo install cross") && err.contains("rustup target add")
        );
        assert!(
            Builder::Cross
                .resolve(other, || false, || true)
                .unwrap_err()
                .to_string()
                .contains("container engine")
        );
    }

    #[test]
    fn commands_a_release_manager_would_type() {
        let args = "--release --locked --package mlcremote --bin mlcremote --target aarch64-unknown-linux-musl";
        for (builder, line) in [
            (Builder::Cargo, "cargo build"),
            (Builder::Zigbuild, "cargo zigbuild"),
            (Builder::Cross, "cross build"),
        ] {
            let (program, a) = builder.command("aarch64-unknown-linux-musl");
            assert_eq!(format!("{program} {}", a.join(" ")), format!("{line} {args}"));
        }
    }
}
