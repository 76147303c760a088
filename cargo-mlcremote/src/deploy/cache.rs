//! What one run of deploy reads, downloads or builds once for all its hosts.

use std::sync::Arc;

use crate::{
    artifact::{self, Chosen, Source},
    delegate::{Event, Reporter},
    err,
    error::{Error, Result},
    remote::{Probe, upload},
};

/// Hosts of one platform get the same verified binary: read, check and hash it (or
/// download or build it) once per run, not once per host. The source bundle a remote
/// build uploads is made once too.
#[derive(Clone, Default)]
pub struct RunCache {
    chosen: Arc<tokio::sync::Mutex<ByPlatform<Arc<Chosen>>>>,
    /// Release archives for hosts to download themselves.
    remote: Arc<tokio::sync::Mutex<ByPlatform<Option<Arc<Chosen>>>>>,
    bundle: Arc<tokio::sync::OnceCell<Arc<mlcremote_release::source::Bundle>>>,
    /// Each binary's compressed parts.
    compressed: Arc<tokio::sync::Mutex<Compressed>>,
    /// Where the server's source comes from outside a checkout (`--build`): this
    /// release's source bundle.
    source_release: Option<artifact::release::Release>,
    /// `--artifact`/`--dist` read and hashed while the first host connects.
    loaded: Arc<tokio::sync::OnceCell<Arc<Result<Option<artifact::Loaded>>>>>,
}

impl std::fmt::Debug for RunCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunCache")
    }
}

type ByPlatform<T> = Vec<(mlcremote_release::target::Platform, T)>;
/// Keyed by a binary's sha256.
type BySha<T> = Vec<(String, T)>;

/// Binaries compressed in one run.
#[derive(Default)]
struct Compressed {
    /// What share of each binary gzip leaves (sampled), or `None` where that does not pay.
    shares: BySha<Option<f64>>,
    /// Each binary compressed, by its sha256, how many parts and how; and whether a
    /// host took it (else it was made ahead, [`RunCache::speculate`]).
    payloads: Vec<((String, usize, upload::Codec), upload::Payload, bool)>,
}

impl RunCache {
    /// A cache whose `--build` falls back to `release`'s source bundle outside a checkout.
    pub fn with_source_release(release: Option<artifact::release::Release>) -> RunCache {
        RunCache {
            source_release: release,
            ..RunCache::default()
        }
    }

    /// Start reading what `source` holds, so it is ready when a host's platform is known.
    pub fn prefetch(&self, source: &Source) {
        if let Some(source) = source.local()
            && !self.loaded.initialized()
        {
            let cache = self.clone();
            tokio::spawn(async move {
                cache.load(&source).await;
            });
        }
    }

    pub(super) async fn load(&self, source: &Source) -> Arc<Result<Option<artifact::Loaded>>> {
        let source = source.clone();
        self.loaded
            .get_or_init(|| async move {
                let loaded = tokio::task::spawn_blocking(move || artifact::load(&source)).await;
                Arc::new(loaded.unwrap_or_else(|e| Err(err!(Other, "reading the artifact crashed: {e}"))))
            })
            .await
            .clone()
    }

    /// The binary for `platform`; a download or build shows on `reporter`'s host.
    pub(super) async fn get(
        &self,
        source: &Source,
        platform: &mlcremote_release::target::Platform,
        reporter: &Reporter,
    ) -> Result<Arc<Chosen>> {
        if matches!(source, Source::Artifact(_) | Source::Dist(_)) {
            let loaded = self.load(source).await;
            return match loaded.as_ref() {
                Ok(Some(loaded)) => artifact::pick(loaded, platform).map(Arc::new),
                Ok(None) => Err(err!(Other, "nothing was read from {source:?}")),
                Err(e) => Err(Error::new(e.kind(), e.message()).with_detail(e.detail().unwrap_or_default())),
            };
        }
        // Held while choosing, so hosts that arrive together wait for one choice.
        let mut cache = self.chosen.lock().await;
        if let Some((_, chosen)) = cache.iter().find(|(p, _)| p == platform) {
            return Ok(chosen.clone());
        }
        // A build here needs a source tree: the checkout, or the release's bundle.
        let workspace = match source {
            Source::Build(_) => Some(self.workspace(reporter).await?),
            _ => None,
        };
        // Choosing may download or build: keep that off the async workers.
        let (source, on) = (source.clone(), platform.clone());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
        let task = tokio::task::spawn_blocking(move || {
            let mut report = |progress: artifact::Progress<'_>| {
                let event = match progress {
                    artifact::Progress::Download { done, total } => Event::Download { done, total },
                    artifact::Progress::Build(line) => Event::BuildOutput { line: line.to_string() },
                };
                let _ = tx.send(event);
            };
            if let Some(workspace) = &workspace {
                return artifact::build_here(workspace, &on, &mut report);
            }
            artifact::choose(&source, &on, &mut report)
        });
        // Ends when the chooser is done and drops its sender.
        while let Some(event) = rx.recv().await {
            reporter.event(event);
        }
        let chosen = task
            .await
            .map_err(|e| err!(Other, "choosing the artifact crashed: {e}"))??;
        let chosen = Arc::new(chosen);
        cache.push((platform.clone(), chosen.clone()));
        Ok(chosen)
    }

    /// The release archive for `platform` for the host to download itself, as the
    /// release's `SHA256SUMS` and `dist-manifest.json` describe it; `None` when they do
    /// not say enough.
    pub(super) async fn remote(
        &self,
        release: &artifact::release::Release,
        platform: &mlcremote_release::target::Platform,
    ) -> Result<Option<Arc<Chosen>>> {
        let mut cache = self.remote.lock().await;
        if let Some((_, chosen)) = cache.iter().find(|(p, _)| p == platform) {
            return Ok(chosen.clone());
        }
        let (release, candidates) = (release.clone(), platform.targets());
        let remote = tokio::task::spawn_blocking(move || release.remote(&candidates))
            .await
            .map_err(|e| err!(Other, "reading the release crashed: {e}"))??;
        let chosen = remote.map(|r| Arc::new(Chosen::remote(r)));
        cache.push((platform.clone(), chosen.clone()));
        Ok(chosen)
    }

    /// What goes over the wire for `chosen`'s bytes, in as many parts as `parts_for` says
    /// for that many bytes: the archive they came in when the host can unpack it, else
    /// compressed (once a run, not once a host) where that pays.
    pub(super) async fn payload(
        &self,
        chosen: &Chosen,
        bytes: &Arc<[u8]>,
        probe: &Probe,
        compress: bool,
        parts_for: impl Fn(usize) -> usize,
    ) -> upload::Payload {
        let as_it_is = |data: &Arc<[u8]>, packing| {
            let n = parts_for(data.len());
            upload::Payload::as_it_is(bytes::Bytes::from_owner(data.clone()), packing, n)
        };
        if !probe.has("gzip") {
            return as_it_is(bytes, upload::Packing::Raw);
        }
        // Already compressed: sending it as it is costs this machine nothing, on any link.
        if let Some(packed) = &chosen.packed
            && probe.has("tar")
        {
            let inner = packed.inner.clone();
            return as_it_is(&packed.archive, upload::Packing::TarGz { inner });
        }
        if !compress {
            return as_it_is(bytes, upload::Packing::Raw);
        }
        let codec = upload::Codec::for_host(probe.has("xz"), bytes);
        match self.compressed(&chosen.sha256, bytes, codec, &parts_for, true).await {
            Some(payload) => payload,
            None => as_it_is(bytes, upload::Packing::Raw),
        }
    }

    /// `bytes` (whose sha256 is `sha`) compressed by `codec`, in as many parts as
    /// `parts_for` says for the bytes it makes: once a run, not once a host; `None` where
    /// compressing does not pay (sampled). For a host (`take`), what was made ahead of
    /// it for another codec or split is dropped, which stops its compressing: the
    /// cores are this host's.
    async fn compressed(
        &self,
        sha: &str,
        bytes: &Arc<[u8]>,
        codec: upload::Codec,
        parts_for: impl Fn(usize) -> usize,
        take: bool,
    ) -> Option<upload::Payload> {
        // Held while deciding, so hosts that arrive together share one compression.
        let mut cache = self.compressed.lock().await;
        let share = match cache.shares.iter().find(|(s, _)| s == sha) {
            Some((_, share)) => *share,
            None => {
                let input = bytes.clone();
                let share = tokio::task::spawn_blocking(move || upload::gzip_share(&input))
                    .await
                    .ok()
                    .flatten();
                cache.shares.push((sha.to_string(), share));
                share
            }
        };
        let n = parts_for((bytes.len() as f64 * share?) as usize);
        let key = (sha.to_string(), n, codec);
        if let Some((_, payload, taken)) = cache.payloads.iter_mut().find(|(k, _, _)| *k == key) {
            *taken |= take;
            return Some(payload.clone());
        }
        if take {
            cache.payloads.retain(|(k, _, taken)| *taken || k.0 != sha);
        }
        let payload = upload::Payload::compressed(bytes::Bytes::from_owner(bytes.clone()), n, codec);
        cache.payloads.push((key, payload.clone(), take));
        Some(payload)
    }

    /// Start compressing the `--artifact` binary while the host is probed, as a host
    /// with xz-utils (most have it) gets it on a link where compressing pays: its first
    /// part is ready when the upload starts, not a compression later, and on a link
    /// that carries the bytes faster than two cores compress them, the probe's round
    /// trip is compressing time gained. A host that turns out to need another codec or
    /// split drops it, which stops what is left of it; one that needs nothing (the
    /// binary it has already) leaves it running: at most one binary's compressing a run.
    pub(super) fn speculate(
        &self,
        source: &Source,
        parts_for: impl Fn(usize) -> usize + Send + 'static,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Source::Artifact(_) = source else {
            return None;
        };
        let (cache, source) = (self.clone(), source.clone());
        Some(tokio::spawn(async move {
            let loaded = cache.load(&source).await;
            if let Ok(Some(artifact::Loaded::Artifact {
                bytes,
                sha256,
                packed: None,
                ..
            })) = loaded.as_ref()
            {
                let codec = upload::Codec::for_host(true, bytes);
                cache.compressed(sha256, bytes, codec, parts_for, false).await;
            }
        }))
    }

    /// The source bundle of the checkout we run in, made on first use; outside a
    /// checkout, the release's, downloaded and verified.
    pub(super) async fn bundle(&self, reporter: &Reporter) -> Result<Arc<mlcremote_release::source::Bundle>> {
        let release = self.source_release.clone();
        let reporter = reporter.clone();
        let made = self.bundle.get_or_try_init(|| async move {
            let bundle = tokio::task::spawn_blocking(move || -> Result<_> {
                let here = std::env::current_dir()?;
                match (mlcremote_release::build::workspace_at(&here), release) {
                    (Ok(workspace), _) => Ok(mlcremote_release::source::bundle(&workspace, 0)?),
                    (Err(_), Some(release)) => {
                        reporter.note(format!(
                            "not in an mlcremote checkout: building from the source bundle of release {} of {}",
                            release.tag, release.repo
                        ));
                        release.source_bundle(&mut |done, total| reporter.event(Event::Download { done, total }))
                    }
                    (Err(e), None) => Err(e.into()),
                }
            });
            match bundle.await {
                Ok(bundle) => Ok(Arc::new(bundle?)),
                Err(e) => Err(err!(Other, "making the source bundle crashed: {e}")),
            }
        });
        made.await.cloned()
    }

    /// A source tree to build in here: the checkout we run in, or the release's source
    /// bundle unpacked under the user cache dir.
    pub(super) async fn workspace(&self, reporter: &Reporter) -> Result<std::path::PathBuf> {
        let here = std::env::current_dir()?;
        if let Ok(workspace) = mlcremote_release::build::workspace_at(&here) {
            return Ok(workspace);
        }
        let bundle = self.bundle(reporter).await?;
        let cache = dirs::cache_dir()
            .ok_or_else(|| err!(Other, "no user cache dir on this machine"))?
            .join("mlcremote")
            .join("src");
        let unpacked = tokio::task::spawn_blocking(move || bundle.unpack(&cache)).await;
        match unpacked {
            Ok(tree) => Ok(tree?),
            Err(e) => Err(err!(Other, "unpacking the source bundle crashed: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::{Origin, Packed, Payload};

    fn chosen(sha: &str, bytes: &Arc<[u8]>, packed: Option<Packed>) -> Chosen {
        Chosen {
            target: mlcremote_release::target::Target::get("x86_64-unknown-linux-musl").unwrap(),
            sha256: sha.into(),
            size: bytes.len() as u64,
            payload: Payload::Bytes(bytes.clone()),
            packed,
            origin: Origin::Artifact,
            from: "/tmp/mlcremote".into(),
            version: None,
        }
    }

    /// gzip only where the host has it, the link is long and it pays (text to under a
    /// tenth, put back together); the archive as it came where the host has tar; as many
    /// parts as asked for.
    #[test]
    fn the_payload_is_compressed_only_where_it_pays() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let text: Arc<[u8]> = b"mlcremote ".repeat(100_000).into();
        let mut x: u32 = 1;
        let noise: Arc<[u8]> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let tools = |names: &[&str]| Probe {
            tools: names.iter().map(|t| t.to_string()).collect(),
            ..Probe::default()
        };
        let (gzip, xz, bare) = (tools(&["gzip"]), tools(&["gzip", "xz"]), tools(&[]));
        let cache = RunCache::default();
        let payload = |chosen: &Chosen, bytes: &Arc<[u8]>, probe: &Probe, long: bool| {
            runtime.block_on(cache.payload(chosen, bytes, probe, long, |_| 3))
        };
        let made = |p: &upload::Payload| -> Vec<u8> {
            p.parts
                .iter()
                .flat_map(|part| runtime.block_on(part.bytes()).unwrap().to_vec())
                .collect()
        };

        let packed = payload(&chosen("t", &text, None), &text, &gzip, true);
        assert_eq!(packed.packing, upload::Packing::Gzip);
        assert_eq!(packed.parts.len(), 3);
        let wire = made(&packed);
        assert_eq!(packed.made_len(), wire.len() as u64, "once every part is made");
        assert!(wire.len() < text.len() / 10);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&wire[..]), &mut back).unwrap();
        assert!(back == *text, "{} bytes back of {}", back.len(), text.len());
        let smaller = payload(&chosen("t", &text, None), &text, &xz, true);
        assert_eq!(smaller.packing, upload::Packing::Xz, "xz-utils on the host");
        let mut back = Vec::new();
        let mut wire = &made(&smaller)[..];
        while !wire.is_empty() {
            let mut one = lzma_rust2::XzReader::new(&mut wire, false);
            std::io::Read::read_to_end(&mut one, &mut back).unwrap();
        }
        assert!(back == *text, "{} bytes back of {}", back.len(), text.len());
        let plain = payload(&chosen("t", &text, None), &text, &bare, true);
        assert_eq!(plain.packing, upload::Packing::Raw, "no gzip on the host");
        assert_eq!(made(&plain), *text);
        let short = payload(&chosen("t", &text, None), &text, &gzip, false);
        assert_eq!(short.packing, upload::Packing::Raw, "a short link");
        let random = payload(&chosen("n", &noise, None), &noise, &gzip, true);
        assert_eq!(random.packing, upload::Packing::Raw, "random bytes do not shrink");
        assert_eq!(made(&random), *noise);

        let archive: Arc<[u8]> = b"an archive".to_vec().into();
        let packed = Packed {
            archive: archive.clone(),
            inner: "a/mlcremote".into(),
        };
        let tar = tools(&["gzip", "tar"]);
        let sent = payload(&chosen("t", &text, Some(packed.clone())), &text, &tar, true);
        assert_eq!(sent.packing.name(), "tar.gz");
        assert_eq!(made(&sent), *archive);
        let no_tar = payload(&chosen("t", &text, Some(packed)), &text, &gzip, true);
        assert_eq!(no_tar.packing, upload::Packing::Gzip, "no tar on the host");
    }

    /// While the host is probed, an `--artifact` binary is compressed as a host with
    /// xz-utils gets it: the upload to such a host takes those very parts (made once), a
    /// host with gzip alone gets its own.
    #[test]
    fn the_speculated_payload_is_the_one_an_xz_host_gets() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("mlcremote");
        let mut binary = b"\0mlcremote-version 9.9.9 (x86_64-unknown-linux-musl, commit abc)\0".to_vec();
        binary.extend(b"mlcremote ".repeat(100_000));
        std::fs::write(&path, &binary).unwrap();
        let source = Source::Artifact(path);
        let tools = |names: &[&str]| Probe {
            tools: names.iter().map(|t| t.to_string()).collect(),
            ..Probe::default()
        };
        let cache = RunCache::default();
        let made = || -> usize { runtime.block_on(cache.compressed.lock()).payloads.len() };
        assert!(
            cache
                .speculate(&Source::Build(artifact::BuildWhere::Local), |_| 3)
                .is_none()
        );
        runtime
            .block_on(async { cache.speculate(&source, |_| 3).unwrap().await })
            .unwrap();
        assert_eq!(made(), 1);
        let loaded = runtime.block_on(cache.load(&source));
        let Ok(Some(artifact::Loaded::Artifact { bytes, sha256, .. })) = loaded.as_ref() else {
            panic!("the artifact was not read: {:?}", loaded.as_ref().as_ref().err())
        };
        let chosen = chosen(sha256, bytes, None);
        let xz = runtime.block_on(cache.payload(&chosen, bytes, &tools(&["gzip", "xz"]), true, |_| 3));
        assert_eq!((xz.packing, made()), (upload::Packing::Xz, 1), "the speculated parts");
        let gzip = runtime.block_on(cache.payload(&chosen, bytes, &tools(&["gzip"]), true, |_| 3));
        assert_eq!((gzip.packing, made()), (upload::Packing::Gzip, 2));

        // Made ahead for nobody: a host that needs gzip, or another split, drops it (its
        // compressing stops) and gets its own.
        for (tools, parts) in [(tools(&["gzip"]), 3), (tools(&["gzip", "xz"]), 4)] {
            let cache = RunCache::default();
            runtime
                .block_on(async { cache.speculate(&source, |_| 3).unwrap().await })
                .unwrap();
            let payload = runtime.block_on(cache.payload(&chosen, bytes, &tools, true, move |_| parts));
            let made = runtime.block_on(cache.compressed.lock());
            assert_eq!(made.payloads.len(), 1);
            assert_eq!(payload.parts.len(), parts);
        }
    }
}
