//! `cargo xtask combine`: merge the dist folders of separate CI jobs (one per target)
//! into one folder with one `SHA256SUMS` and one `dist-manifest.json`.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use mlcremote_release::{
    checksum,
    manifest::{self, Manifest},
};

use crate::dist::write_manifest;

#[derive(clap::Args)]
pub struct Combine {
    /// Where the combined release goes.
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub out: PathBuf,
    /// `cargo xtask dist` output folders to merge.
    #[arg(required = true, value_name = "DIR")]
    pub inputs: Vec<PathBuf>,
}

impl Combine {
    pub fn run(self) -> Result<()> {
        std::fs::create_dir_all(&self.out)?;
        let mut combined: Option<Manifest> = None;
        for input in &self.inputs {
            let path = input.join(manifest::MANIFEST_NAME);
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let part: Manifest =
                serde_json::from_str(&text).with_context(|| format!("{} is not a manifest", path.display()))?;
            let all = combined.get_or_insert_with(|| Manifest {
                artifacts: Vec::new(),
                ..part.clone()
            });
            ensure!(
                (&all.version, &all.commit, all.source_date_epoch)
                    == (&part.version, &part.commit, part.source_date_epoch),
                "{} is from another build (version {}, commit {:?}, epoch {}), not {} {:?} {}",
                input.display(),
                part.version,
                part.commit,
                part.source_date_epoch,
                all.version,
                all.commit,
                all.source_date_epoch
            );
            for artifact in part.artifacts {
                let file = input.join(&artifact.name);
                let actual = checksum::sha256_file(&file).with_context(|| format!("cannot read {}", file.display()))?;
                if actual != artifact.sha256 {
                    bail!(
                        "{} has sha256 {actual}, but its manifest says {}",
                        file.display(),
                        artifact.sha256
                    );
                }
                if let Some(seen) = all.artifacts.iter().find(|a| a.name == artifact.name) {
                    ensure!(
                        seen.sha256 == artifact.sha256,
                        "two different {} in the inputs",
                        artifact.name
                    );
                    continue;
                }
                let to = self.out.join(&artifact.name);
                if to != file {
                    std::fs::copy(&file, &to)?;
                }
                std::fs::write(
                    self.out.join(format!("{}.sha256", artifact.name)),
                    checksum::sums_line(&artifact.sha256, &artifact.name),
                )?;
                all.artifacts.push(artifact);
            }
        }
        let combined = combined.context("no inputs")?;
        write_manifest(&self.out, &combined)?;
        eprintln!(
            "combined {} artifact(s) into {}",
            combined.artifacts.len(),
            self.out.display()
        );
        Ok(())
    }
}
