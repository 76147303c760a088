//! `cargo xtask dist`: build the server per target and package reproducible,
//! checksummed archives plus `SHA256SUMS` and `dist-manifest.json` (SPEC §3).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
pub use mlcremote_release::build::Builder;
use mlcremote_release::{
    archive::{self, Entry, Format, Product},
    build, checksum,
    manifest::{self, Manifest},
    target::{self, Target},
};
use xshell::{Shell, cmd};

#[derive(clap::Args)]
pub struct Dist {
    /// Target triple to build (repeatable) [default: `targets` in
    /// `[workspace.metadata.mlcremote]`, else the host's].
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
    /// The six default release targets.
    #[arg(long, conflicts_with = "targets")]
    pub all: bool,
    /// How to build for a target other than the host.
    #[arg(long, value_enum, default_value = "auto")]
    pub builder: Builder,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub out: PathBuf,
    /// Archive formats, comma-separated: tar.gz, zip [default: `formats` in the
    /// workspace metadata, else tar.gz].
    #[arg(long, value_name = "FORMATS", value_delimiter = ',')]
    pub format: Vec<String>,
    /// Also write `mlcremote-<version>-src.tar.gz`: the server's workspace with every
    /// dependency vendored, buildable with `cargo build --offline --locked`.
    #[arg(long)]
    pub source: bool,
    /// Package this already-built binary instead of building (one --target only).
    #[arg(long, value_name = "PATH", requires = "targets")]
    pub prebuilt: Option<PathBuf>,
    /// Build and package the client instead (`cargo-mlcremote-<triple>.tar.gz`, `.zip`
    /// for Windows); `--all` means the client's release targets.
    #[arg(long)]
    pub client: bool,
}

impl Dist {
    /// This machine's target only, built with plain cargo, as `tar.gz` into `out`.
    pub fn host(out: &Path) -> Dist {
        Dist {
            targets: Vec::new(),
            all: false,
            builder: Builder::Cargo,
            out: out.into(),
            format: vec!["tar.gz".into()],
            source: false,
            prebuilt: None,
            client: false,
        }
    }

    fn product(&self) -> Product {
        if self.client { Product::Client } else { Product::Server }
    }

    /// Build and package; returns the manifest written to `--out`.
    pub fn run(self, sh: &Shell) -> Result<Manifest> {
        let defaults = Defaults::read(sh)?;
        let targets = self.targets(&defaults)?;
        let formats = if self.format.is_empty() {
            defaults.formats.clone()
        } else {
            self.format.clone()
        };
        let formats = formats
            .iter()
            .map(|f| Format::parse(f.trim()).with_context(|| format!("unknown format `{f}`; use tar.gz or zip")))
            .collect::<Result<Vec<_>>>()?;
        if self.prebuilt.is_some() && targets.len() != 1 {
            bail!("--prebuilt packages one binary: pass exactly one --target");
        }
        let out = sh.current_dir().join(&self.out);
        sh.create_dir(&out)?;
        let epoch = source_date_epoch(sh);
        let commit = cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().ok();

        let product = self.product();
        let mut artifacts = Vec::new();
        for target in &targets {
            let binary = match &self.prebuilt {
                Some(path) => path.clone(),
                None => build(sh, self.builder, product, target, epoch)?,
            };
            // SPEC §3: a client for Windows ships as a .zip, the others as .tar.gz.
            let formats = match product {
                Product::Client if target.is_windows() => vec![Format::Zip],
                Product::Client => vec![Format::TarGz],
                Product::Server => formats.clone(),
            };
            artifacts.extend(package(sh, product, target, &binary, &formats, &out, epoch)?);
        }
        if self.source {
            let bundle = mlcremote_release::source::bundle(&sh.current_dir(), epoch)?;
            let mut artifact = write_artifact(&out, &bundle.file_name(), &bundle.data)?;
            artifact.kind = manifest::Kind::Source;
            artifacts.push(artifact);
        }

        let manifest = Manifest {
            schema: 1,
            name: "mlcremote".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit,
            source_date_epoch: epoch,
            artifacts,
        };
        write_manifest(&out, &manifest)?;
        eprintln!(
            "wrote {} archive(s), {} and {} to {}",
            manifest.artifacts.len(),
            manifest::SUMS_NAME,
            manifest::MANIFEST_NAME,
            out.display()
        );
        Ok(manifest)
    }

    fn targets(&self, defaults: &Defaults) -> Result<Vec<Target>> {
        if self.client {
            return self.client_targets();
        }
        if self.all {
            return Ok(target::default_targets().to_vec());
        }
        let triples = if self.targets.is_empty() {
            &defaults.targets
        } else {
            &self.targets
        };
        if triples.is_empty() {
            let host = target::host_triple();
            return Target::get(host)
                .map(|t| vec![t])
                .with_context(|| format!("the host {host} is not a release target; pass --target"));
        }
        triples
            .iter()
            .map(|t| {
                Target::get(t).with_context(|| {
                    let known: Vec<_> = target::TARGETS.iter().map(|t| t.triple).collect();
                    format!("unknown target `{t}`; known: {}", known.join(", "))
                })
            })
            .collect()
    }
}

impl Dist {
    /// `--client`: the given targets, the client's release set with `--all`, else this
    /// machine's.
    fn client_targets(&self) -> Result<Vec<Target>> {
        if self.all {
            return Ok(target::default_client_targets().to_vec());
        }
        let host = target::host_triple();
        let triples = if self.targets.is_empty() {
            vec![host.to_string()]
        } else {
            self.targets.clone()
        };
        triples
            .iter()
            .map(|t| {
                Target::client(t).with_context(|| {
                    let known: Vec<_> = target::CLIENT_TARGETS.iter().map(|t| t.triple).collect();
                    format!("the client is not built for `{t}`; its targets: {}", known.join(", "))
                })
            })
            .collect()
    }
}

/// `[workspace.metadata.mlcremote]` (SPEC §7), read with cargo_metadata.
#[derive(Default)]
struct Defaults {
    targets: Vec<String>,
    formats: Vec<String>,
}

impl Defaults {
    /// `[workspace.metadata.mlcremote]` out of the workspace metadata.
    fn from_metadata(metadata: &serde_json::Value) -> Defaults {
        let table = &metadata["mlcremote"];
        let list = |key: &str| -> Vec<String> {
            table[key]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let formats = list("formats");
        Defaults {
            targets: list("targets"),
            formats: if formats.is_empty() {
                vec!["tar.gz".into()]
            } else {
                formats
            },
        }
    }

    fn read(sh: &Shell) -> Result<Defaults> {
        let table = mlcremote_release::build::project_defaults(&sh.current_dir()).unwrap_or_default();
        Ok(Defaults::from_metadata(&serde_json::json!({ "mlcremote": table })))
    }
}

/// `SHA256SUMS` over every artifact and `dist-manifest.json`, both sorted by name.
pub fn write_manifest(out: &Path, manifest: &Manifest) -> Result<()> {
    let mut manifest = manifest.clone();
    manifest.artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    let sums = checksum::sums_file(manifest.artifacts.iter().map(|a| (a.sha256.as_str(), a.name.as_str())));
    archive::write_atomic(&out.join(manifest::SUMS_NAME), sums.as_bytes())?;
    archive::write_atomic(&out.join(manifest::MANIFEST_NAME), manifest.to_json()?.as_bytes())?;
    Ok(())
}

/// SPEC §3: `SOURCE_DATE_EPOCH`, else the HEAD commit time, else 1.
pub fn source_date_epoch(sh: &Shell) -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| {
            cmd!(sh, "git log -1 --format=%ct")
                .quiet()
                .ignore_stderr()
                .read()
                .ok()?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(1)
}

/// Build with the library's choice of builder and command (shared with `deploy --build`).
fn build(sh: &Shell, builder: Builder, product: Product, target: &Target, epoch: u64) -> Result<PathBuf> {
    let triple = target.triple;
    let builder = builder.resolve(triple, build::container_engine, build::zigbuild_installed)?;
    let (program, args) = builder.command_for(product, triple);
    eprintln!("building {} for {triple} with {builder:?}", product.name());
    cmd!(sh, "{program} {args...}")
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .run()
        .with_context(|| format!("building for {triple} failed"))?;
    Ok(build::built_binary_of(product, &sh.current_dir(), target))
}

/// The client's completion scripts, in `cargo-mlcremote/completions/` and the archives.
const COMPLETIONS: [&str; 4] = [
    "cargo-mlcremote.bash",
    "_cargo-mlcremote",
    "cargo-mlcremote.fish",
    "_cargo-mlcremote.ps1",
];

/// Check the binary's header against the target, then write its archives.
fn package(
    sh: &Shell,
    product: Product,
    target: &Target,
    binary: &Path,
    formats: &[Format],
    out: &Path,
    epoch: u64,
) -> Result<Vec<manifest::Artifact>> {
    let bytes = std::fs::read(binary).with_context(|| format!("the build left no {}", binary.display()))?;
    target
        .check_binary(&bytes)
        .map_err(|why| anyhow::anyhow!("refusing to package {}: {why}", binary.display()))?;
    let readme = sh.read_binary_file("README.md")?;
    let license = sh.read_binary_file("LICENSE")?;
    let binary_file = product.binary_file(target);
    // The client's shell completions (committed: `cargo mlcremote completions` prints them,
    // and a test keeps the two equal), whatever the target: a binary built for another
    // machine cannot print them here.
    let completions: Vec<(String, Vec<u8>)> = if product == Product::Client {
        COMPLETIONS
            .iter()
            .map(|file| {
                let data = sh.read_binary_file(format!("cargo-mlcremote/completions/{file}"))?;
                Ok((format!("completions/{file}"), data))
            })
            .collect::<Result<_>>()?
    } else {
        Vec::new()
    };
    let mut entries = vec![
        Entry {
            name: &binary_file,
            data: &bytes,
            mode: 0o755,
        },
        Entry {
            name: "README.md",
            data: &readme,
            mode: 0o644,
        },
        Entry {
            name: "LICENSE",
            data: &license,
            mode: 0o644,
        },
    ];
    entries.extend(completions.iter().map(|(name, data)| Entry {
        name,
        data,
        mode: 0o644,
    }));
    let stem = product.stem(target.triple);
    let binary_info = manifest::Binary {
        path: format!("{stem}/{binary_file}"),
        size: bytes.len() as u64,
        sha256: checksum::sha256_hex(&bytes),
    };
    let mut artifacts = Vec::new();
    for format in formats {
        let data = match format {
            Format::TarGz => archive::write_tar_gz(&stem, &entries, epoch)?,
            Format::Zip => archive::write_zip(&stem, &entries, epoch)?,
        };
        let name = product.archive_name(target.triple, *format);
        let sha256 = checksum::sha256_hex(&data);
        archive::write_atomic(&out.join(&name), &data)?;
        archive::write_atomic(
            &out.join(format!("{name}.sha256")),
            checksum::sums_line(&sha256, &name).as_bytes(),
        )?;
        eprintln!("  {name}  {} bytes  sha256 {sha256}", data.len());
        artifacts.push(manifest::Artifact {
            name,
            kind: manifest::Kind::Archive,
            target: Some(target.triple.into()),
            os: Some(target.os.into()),
            arch: Some(target.arch.into()),
            size: data.len() as u64,
            sha256,
            binary: Some(binary_info.clone()),
        });
    }
    Ok(artifacts)
}

/// Write one release file and its `.sha256`; returns its manifest entry (kind `archive`).
pub fn write_artifact(out: &Path, name: &str, data: &[u8]) -> Result<manifest::Artifact> {
    let sha256 = checksum::sha256_hex(data);
    archive::write_atomic(&out.join(name), data)?;
    archive::write_atomic(
        &out.join(format!("{name}.sha256")),
        checksum::sums_line(&sha256, name).as_bytes(),
    )?;
    eprintln!("  {name}  {} bytes  sha256 {sha256}", data.len());
    Ok(manifest::Artifact {
        name: name.into(),
        kind: manifest::Kind::Archive,
        target: None,
        os: None,
        arch: None,
        size: data.len() as u64,
        sha256,
        binary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(targets: &[&str], all: bool) -> Dist {
        Dist {
            targets: targets.iter().map(|t| t.to_string()).collect(),
            all,
            ..Dist::host(Path::new("out"))
        }
    }

    fn triples(targets: Vec<Target>) -> Vec<&'static str> {
        targets.iter().map(|t| t.triple).collect()
    }

    #[test]
    fn workspace_metadata_sets_defaults_and_flags_win() {
        let metadata = serde_json::json!({ "mlcremote": {
            "targets": ["aarch64-unknown-linux-musl", "x86_64-apple-darwin"], "formats": ["tar.gz", "zip"] } });
        let defaults = Defaults::from_metadata(&metadata);
        assert_eq!(defaults.formats, ["tar.gz", "zip"]);
        assert_eq!(
            triples(dist(&[], false).targets(&defaults).unwrap()),
            ["aarch64-unknown-linux-musl", "x86_64-apple-darwin"]
        );
        assert_eq!(
            triples(dist(&["x86_64-unknown-linux-musl"], false).targets(&defaults).unwrap()),
            ["x86_64-unknown-linux-musl"]
        );
        assert_eq!(dist(&[], true).targets(&defaults).unwrap().len(), 6);

        let none = Defaults::from_metadata(&serde_json::json!(null));
        assert_eq!(none.formats, ["tar.gz"]);
        assert_eq!(
            triples(dist(&[], false).targets(&none).unwrap()),
            [target::host_triple()]
        );
        assert!(
            dist(&["sparc-sun-solaris"], false)
                .targets(&none)
                .unwrap_err()
                .to_string()
                .contains("unknown target")
        );
    }
}
