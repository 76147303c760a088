//! The upload and install exec: the binary goes over exec channels (the release archive
//! it came in as it is, else compressed where that pays (xz where the host has xz-utils,
//! else gzip: [`Codec`]), split over several channels where one would not keep the link
//! full or sshd fed: [`upload_parts`];
//! each channel's part goes as soon as it is compressed, while the later ones still
//! are), and the same exec that receives it verifies that it runs here and hands over to
//! the new binary's `agent install`. The scripts ride in the exec command; stdin is the
//! payload.

use std::io::Write as _;

use std::time::Duration;

use bytes::Bytes;

use super::{quote, scripts, start::StartMethod};
use crate::{err, error::Result};

/// What goes over the wire for one binary: its parts, in order, each sent on a channel of
/// its own as soon as it is ready.
#[derive(Clone, Debug)]
pub struct Payload {
    pub parts: Vec<Part>,
    pub packing: Packing,
}

/// One part of a payload: its bytes once they are made (compressed parts are made in
/// order, so the first goes out while the last is still being compressed), and how many
/// of the binary's (or the archive's) bytes it holds: what the upload's progress counts.
#[derive(Clone, Debug)]
pub struct Part {
    bytes: tokio::sync::watch::Receiver<Option<Bytes>>,
    pub holds: u64,
}

impl Part {
    fn ready(bytes: Bytes) -> Part {
        let holds = bytes.len() as u64;
        Part {
            bytes: tokio::sync::watch::channel(Some(bytes)).1,
            holds,
        }
    }

    /// Its bytes, once made.
    pub async fn bytes(&self) -> Result<Bytes> {
        let mut ready = self.bytes.clone();
        ready
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|b| b.clone())
            .ok_or_else(|| err!(Other, "compressing the binary failed"))
    }
}

/// How the payload holds the binary, and so how the host gets it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packing {
    /// The binary itself.
    Raw,
    /// gzip-compressed here (the host runs `gzip -dc`).
    Gzip,
    /// xz-compressed here (the host runs xz-utils' `xz -dc`).
    Xz,
    /// The `.tar.gz` the binary came in, sent as it is (already compressed: compressing
    /// again costs time and gains nothing); the host runs `gzip -dc | tar -xOf - INNER`.
    TarGz { inner: std::sync::Arc<str> },
}

impl Packing {
    /// How a report names it: `raw`, `gzip`, `xz`, `tar.gz`.
    pub fn name(&self) -> &'static str {
        match self {
            Packing::Raw => "raw",
            Packing::Gzip => "gzip",
            Packing::Xz => "xz",
            Packing::TarGz { .. } => "tar.gz",
        }
    }
}

impl Payload {
    /// `data` sent as it is (`Raw` or `TarGz`), in `n` parts (fewer when it is small).
    pub fn as_it_is(data: Bytes, packing: Packing, n: usize) -> Payload {
        let parts = part_ranges(data.len(), n)
            .into_iter()
            .map(|range| Part::ready(data.slice(range)))
            .collect();
        Payload { parts, packing }
    }

    /// `binary` compressed by `codec` in `n` parts (fewer when it is small), each part
    /// made of members (gzip members, xz streams) of up to 1 MiB compressed side by side
    /// on every core, in order: the first part is ready after its own members, not after
    /// the whole binary, so sending overlaps compressing, and no core waits long for the
    /// others at the end (with a part to a member, 20 MiB in 7 parts on two cores took 4
    /// rounds: 0.69 s against 0.5 s). The host runs `gzip -dc` or `xz -dc` on each part,
    /// which reads its members one after another as one stream.
    pub fn compressed(binary: Bytes, n: usize, codec: Codec) -> Payload {
        const MEMBER: usize = 1 << 20;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let ranges = part_ranges(binary.len(), n);
        let mut pieces = Vec::new();
        let mut parts = Vec::new();
        let mut senders = Vec::new();
        for (k, range) in ranges.iter().enumerate() {
            for piece in part_ranges(range.len(), range.len().div_ceil(MEMBER)) {
                pieces.push((k, range.start + piece.start..range.start + piece.end));
            }
            let (sender, bytes) = tokio::sync::watch::channel(None);
            senders.push(Some(sender));
            parts.push(Part {
                bytes,
                holds: range.len() as u64,
            });
        }
        let threads = cores.min(pieces.len());
        let work = std::sync::Arc::new(Compressing {
            binary,
            codec,
            made: std::sync::Mutex::new(Made {
                pieces: vec![None; pieces.len()],
                senders,
            }),
            pieces,
            next: std::sync::atomic::AtomicUsize::new(0),
        });
        // A thread that cannot start leaves its share to the others; with none, the
        // senders go with `work` and every part says it failed.
        for _ in 0..threads {
            let work = work.clone();
            let _ = std::thread::Builder::new()
                .name("mlcremote-gzip".into())
                .spawn(move || work.run());
        }
        Payload {
            parts,
            packing: codec.packing(),
        }
    }

    /// How many bytes of the binary (or archive) it holds: what the progress counts to.
    pub fn holds(&self) -> u64 {
        self.parts.iter().map(|p| p.holds).sum()
    }

    /// How many bytes its parts made so far are: once all went, what went over the wire.
    pub fn made_len(&self) -> u64 {
        self.parts
            .iter()
            .filter_map(|p| p.bytes.borrow().as_ref().map(|b| b.len() as u64))
            .sum()
    }
}

/// The pieces of a binary being compressed by threads that take them in order.
struct Compressing {
    binary: Bytes,
    codec: Codec,
    /// Which part each piece belongs to, and its bytes in the binary.
    pieces: Vec<(usize, std::ops::Range<usize>)>,
    next: std::sync::atomic::AtomicUsize,
    made: std::sync::Mutex<Made>,
}

/// What the compressing threads made so far.
struct Made {
    /// Each piece once compressed, until its part is sent.
    pieces: Vec<Option<Vec<u8>>>,
    /// Each part's sender until its bytes were sent (or it failed: dropped, so that its
    /// receivers stop waiting).
    senders: Vec<Option<tokio::sync::watch::Sender<Option<Bytes>>>>,
}

impl Compressing {
    fn run(&self) {
        loop {
            let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((k, range)) = self.pieces.get(i) else {
                return;
            };
            // A part nobody waits for any more (a payload made ahead and dropped).
            let wanted = self
                .made
                .lock()
                .is_ok_and(|made| made.senders[*k].as_ref().is_some_and(|s| !s.is_closed()));
            if !wanted {
                continue;
            }
            let packed = self.codec.pack(&self.binary[range.clone()]);
            let Ok(mut made) = self.made.lock() else {
                return;
            };
            let Some(packed) = packed else {
                made.senders[*k] = None;
                continue;
            };
            made.pieces[i] = Some(packed);
            // The part's pieces are side by side, in order.
            let of_part: Vec<usize> = (0..self.pieces.len()).filter(|j| self.pieces[*j].0 == *k).collect();
            if of_part.iter().all(|j| made.pieces[*j].is_some()) {
                let mut bytes = Vec::new();
                for j in of_part {
                    bytes.extend(made.pieces[j].take().unwrap_or_default());
                }
                if let Some(sender) = made.senders[*k].take() {
                    let _ = sender.send(Some(bytes.into()));
                }
            }
        }
    }
}

/// `n` byte ranges of `len` bytes, in order, none empty (fewer when `len` is small): how
/// a payload is split over channels.
fn part_ranges(len: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    let n = n.clamp(1, len.max(1));
    let size = len.div_ceil(n).max(1);
    (0..len)
        .step_by(size)
        .map(|start| start..(start + size).min(len))
        .collect()
}

/// Over how many channels `len` bytes go up: as many as keep the link full, and on a
/// fast link as many as keep OpenSSH's sshd from falling behind. A channel has at most
/// its window in flight, which on a long link is less than the link carries in a round
/// trip. Dropbear's 24 KiB is that already on a LAN: always split. OpenSSH's 2 MiB keeps
/// 1 Gbit/s full up to 16 ms, but sshd writes at most one pipe's worth (64 KiB) to a
/// channel's command per turn of its loop while it reads up to 256 KiB off the socket:
/// with one channel the rest piles up in a buffer it grows and copies packet by packet
/// (on loopback 4 MB took 311 ms over one channel, 150 ms over four; 20 MiB 475 and
/// 220 ms). So a payload of several windows goes over four channels at least.
pub fn upload_parts(len: usize, small_window: bool, round_trip: Option<Duration>, channels: usize) -> usize {
    /// The fastest link planned for: 1 Gbit/s.
    const BYTES_PER_SEC: f64 = 125e6;
    /// Channels whose commands sshd feeds side by side as fast as it reads.
    const SSHD_PIPES: usize = 4;
    let channels = channels.max(1);
    if small_window {
        return len.div_ceil(24 << 10).clamp(1, channels);
    }
    let window = 1 << 20;
    // Unknown: as if long.
    let in_flight = round_trip.map_or(f64::INFINITY, |rtt| rtt.as_secs_f64() * BYTES_PER_SEC);
    let for_link = (in_flight / window as f64)
        .ceil()
        .max(SSHD_PIPES as f64)
        .min(channels as f64) as usize;
    len.div_ceil(window).clamp(1, for_link)
}

/// Whether to compress for a link with this round trip (`None`: not known, taken as
/// long): not on a short one (loopback, a LAN), which carries the bytes faster than gzip
/// makes fewer of them and the host unpacks them (a 20 MiB binary: 2.6× `scp`
/// compressed, 0.9× sent as it is); on a long one, where each byte costs more than its
/// compression.
pub fn compress_for(round_trip: Option<Duration>) -> bool {
    round_trip.is_none_or(|rtt| rtt >= Duration::from_millis(5))
}

/// How this machine compresses a binary for a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// gzip, which every host unpacks. Level 6: on the 4 MB server binary, level 1
    /// takes a third of its time for 7% more bytes, and compressing pays only on links
    /// where bytes cost more than that.
    Gzip,
    /// xz, for hosts with xz-utils: preset 0 (the fastest) takes here about the time
    /// gzip's level 6 does, and leaves 17% fewer bytes of the server binary (0.376 of
    /// it against gzip's 0.452, with the x86 filter, `x86`, which turns the relative
    /// addresses of x86 calls and jumps into absolute ones that repeat; xz-utils has
    /// always undone it, BusyBox's `xz` cannot).
    Xz { x86: bool },
}

impl Codec {
    /// The best this machine makes of `binary` for a host that has `xz` (xz-utils) or
    /// not.
    pub fn for_host(has_xz: bool, binary: &[u8]) -> Codec {
        if has_xz {
            Codec::Xz {
                x86: mlcremote_release::target::is_x86_code(binary),
            }
        } else {
            Codec::Gzip
        }
    }

    pub fn packing(self) -> Packing {
        match self {
            Codec::Gzip => Packing::Gzip,
            Codec::Xz { .. } => Packing::Xz,
        }
    }

    /// `data` as one member: a gzip member, or an xz stream.
    fn pack(self, data: &[u8]) -> Option<Vec<u8>> {
        let out = Vec::with_capacity(data.len() / 2);
        match self {
            Codec::Gzip => {
                let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
                gz.write_all(data).ok()?;
                gz.finish().ok()
            }
            Codec::Xz { x86 } => {
                let mut options = lzma_rust2::XzOptions::with_preset(0);
                if x86 {
                    options.prepend_pre_filter(lzma_rust2::filter::FilterType::BcjX86, 0);
                }
                let mut xz = lzma_rust2::XzWriter::new(out, options).ok()?;
                xz.write_all(data).ok()?;
                xz.finish().ok()
            }
        }
    }
}

/// What share of `data` gzip leaves, from samples all over it, when it shrinks by a
/// quarter at least: less does not pay for compressing (a server binary shrinks by
/// half; a binary padded with random bytes hardly shrinks).
pub fn gzip_share(data: &[u8]) -> Option<f64> {
    const PIECE: usize = 64 * 1024;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut sampled = 0;
    for i in 0..4 {
        let at = (data.len().saturating_sub(PIECE)) * i / 3;
        let piece = &data[at..(at + PIECE).min(data.len())];
        gz.write_all(piece).ok()?;
        sampled += piece.len();
    }
    let packed = gz.finish().ok()?.len();
    (packed * 4 < sampled * 3).then(|| packed as f64 / sampled as f64)
}

/// The upload and install of one binary on one host.
#[derive(Clone)]
pub struct Install<'a> {
    /// The install dir, absolute.
    pub dir: &'a str,
    /// Names this upload's files (random, per deploy).
    pub id: &'a str,
    /// How the binary gets to the host.
    pub receive: Receive<'a>,
    /// What the new binary must be: the agent checks its own bytes.
    pub sha256: &'a str,
    pub size: u64,
    pub port: u16,
    /// The server's file root, absolute (`None`: the home folder).
    pub root: Option<&'a str>,
    pub methods: &'a [StartMethod],
    pub health_timeout_secs: u64,
    /// Who deploys, for another deploy that waits for the lock.
    pub owner: &'a str,
    /// The client already holds the lock (through this process on the host).
    pub lock_holder: Option<u32>,
    /// How long a receiver waits for another part whose channel has not started (the
    /// client gives up on an exec that gets no answer after as long).
    pub wait_secs: u64,
    /// How long a receiver waits for more of the payload while none comes (the client
    /// finds a silent link dead after as long): the host never waits longer than it.
    pub idle_secs: u64,
}

/// How the binary gets to the host.
#[derive(Clone, Debug)]
pub enum Receive<'a> {
    /// Over `parts` exec channels, packed as `packing` says; the first part, on the
    /// channel that installs, holds `first` bytes of the binary (or archive).
    Upload { parts: usize, packing: Packing, first: u64 },
    /// On the host already (built there): copied.
    Copy { from: &'a str },
    /// A release archive the host downloads with curl or wget, checks against the
    /// sha256 the release lists, and unpacks the binary from.
    Download {
        url: &'a str,
        archive_sha256: &'a str,
        /// The binary's path inside the archive.
        inner: &'a str,
    },
}

impl Install<'_> {
    /// The line the first channel runs: `sh/receive.sh`, receiving (or copying, or
    /// downloading) the binary, checking it runs here, then becoming `agent install`.
    pub fn main_line(&self) -> String {
        let q = |s: &str| quote(s);
        let mut words = vec![
            ("d", q(self.dir)),
            ("r", q(self.id)),
            ("idle", self.idle_secs.to_string()),
            ("wait", self.wait_secs.to_string()),
            ("size", self.size.to_string()),
            ("sha", q(self.sha256)),
            ("port", self.port.to_string()),
            (
                "methods",
                q(&self.methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(",")),
            ),
            ("timeout", self.health_timeout_secs.to_string()),
            ("owner", q(self.owner)),
            ("holder", self.lock_holder.map(|p| p.to_string()).unwrap_or_default()),
            ("root", q(self.root.unwrap_or_default())),
        ];
        // Every word the script names is set, to nothing where this way does not use it.
        let (mut how, mut from, mut url, mut archive_sha, mut inner) = ("upload", "", "", "", "");
        let (mut packing, mut parts, mut first) = ("raw", 1, 0);
        match &self.receive {
            Receive::Copy { from: path } => (how, from) = ("copy", path),
            Receive::Download {
                url: at,
                archive_sha256,
                inner: path,
            } => (how, url, archive_sha, inner) = ("download", at, archive_sha256, path),
            Receive::Upload {
                parts: n,
                packing: how_packed,
                first: size,
            } => {
                (parts, first) = (*n, *size);
                (packing, inner) = match how_packed {
                    Packing::Raw => ("raw", ""),
                    Packing::Gzip => ("gzip", ""),
                    Packing::Xz => ("xz", ""),
                    Packing::TarGz { inner } => ("tgz", &**inner),
                };
            }
        }
        words.extend([
            ("how", q(how)),
            ("from", q(from)),
            ("url", q(url)),
            ("archive_sha", q(archive_sha)),
            ("inner", q(inner)),
            ("packing", q(packing)),
            ("parts", parts.to_string()),
            ("first", first.to_string()),
        ]);
        scripts::receiver(&words, include_str!("sh/receive.sh"))
    }

    /// The line channel `k` (1…) runs: `sh/part.sh`, storing its part of the payload,
    /// which holds `holds` bytes of the binary (or archive); a compressed part is
    /// unpacked as it comes.
    pub fn part_line(&self, k: usize, holds: u64) -> String {
        let unpack = match self.receive {
            Receive::Upload {
                packing: Packing::Gzip, ..
            } => "gzip",
            Receive::Upload {
                packing: Packing::Xz, ..
            } => "xz",
            _ => "",
        };
        let words = [
            ("d", quote(self.dir)),
            ("r", quote(self.id)),
            ("k", k.to_string()),
            ("size", holds.to_string()),
            ("unz", unpack.to_string()),
            ("wait", self.wait_secs.to_string()),
            ("idle", self.idle_secs.to_string()),
        ];
        scripts::receiver(&words, include_str!("sh/part.sh"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::status;

    /// Each part's bytes, waited for.
    fn made(payload: &Payload) -> Vec<Bytes> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        payload
            .parts
            .iter()
            .map(|p| runtime.block_on(p.bytes()).unwrap())
            .collect()
    }

    #[test]
    fn payload_is_compressed_only_where_it_pays_and_splits_in_order() {
        let text = b"mlcremote ".repeat(100_000);
        assert!(gzip_share(&text).is_some_and(|share| share < 0.1));
        let mut noise = vec![0u8; 300_000];
        let mut x: u32 = 1;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        assert_eq!(gzip_share(&noise), None, "random bytes do not shrink");
        let payload = Payload::as_it_is(noise.clone().into(), Packing::Raw, 8);
        let parts = made(&payload);
        assert_eq!(parts.len(), 8);
        assert_eq!(parts.concat(), noise);
        assert!(payload.parts.iter().zip(&parts).all(|(p, b)| p.holds == b.len() as u64));
        assert_eq!(payload.holds(), noise.len() as u64);
        assert_eq!(
            made(&Payload::as_it_is(b"ab".to_vec().into(), Packing::Raw, 8)).len(),
            2
        );
    }

    #[test]
    fn an_upload_is_split_where_one_channel_cannot_fill_the_link_or_sshd_would_fall_behind() {
        let mib = 1 << 20;
        let ms = Duration::from_millis;
        // OpenSSH's window: four channels on loopback or a LAN (sshd's pipes), more as
        // the link gets longer; a payload of a window or two needs no more.
        assert_eq!(upload_parts(20 * mib, false, Some(Duration::from_micros(300)), 8), 4);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(5)), 8), 4);
        assert_eq!(upload_parts(2 * mib - 1, false, Some(Duration::from_micros(300)), 8), 2);
        assert_eq!(upload_parts(mib, false, Some(Duration::from_micros(300)), 8), 1);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(50)), 8), 6);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(200)), 8), 8);
        assert_eq!(upload_parts(20 * mib, false, None, 8), 8, "unknown: as if long");
        // Never more parts than the payload has windows, nor than channels.
        assert_eq!(upload_parts(mib + 1, false, Some(ms(200)), 8), 2);
        assert_eq!(upload_parts(100, false, Some(ms(200)), 8), 1);
        assert_eq!(upload_parts(20 * mib, false, Some(ms(200)), 0), 1);
        // Dropbear's 24 KiB window: split even on loopback.
        assert_eq!(upload_parts(2 * mib, true, Some(Duration::from_micros(300)), 8), 8);
        assert_eq!(upload_parts(30 << 10, true, Some(ms(1)), 8), 2);
    }

    /// Compressed in parts, each of members made side by side, the parts put back
    /// together are what the real `gzip -dc` or `xz -dc` turns back into the binary; each
    /// part holds its share of the binary. Only a long link gets it compressed.
    #[test]
    fn compressed_parts_unpack_as_one_stream() {
        let data: Vec<u8> = (0..3_500_000u32).flat_map(|i| (i / 7).to_le_bytes()).collect();
        for codec in [Codec::Gzip, Codec::Xz { x86: false }, Codec::Xz { x86: true }] {
            for n in [1, 3, 40] {
                let payload = Payload::compressed(data.clone().into(), n, codec);
                let packed = made(&payload).concat();
                assert_eq!(payload.parts.len(), n);
                assert_eq!(payload.holds(), data.len() as u64);
                assert!(packed.len() < data.len() / 2);
                let out = unpack(codec, &packed);
                assert!(
                    out == data,
                    "{codec:?} {n} parts: {} bytes back of {}",
                    out.len(),
                    data.len()
                );
            }
        }
        assert!(!compress_for(Some(Duration::from_micros(300))));
        assert!(compress_for(Some(Duration::from_millis(50))));
        assert!(compress_for(None));
    }

    /// Why xz where the host has it: on real machine code (BusyBox's x86-64 binary here)
    /// it leaves fewer bytes than gzip, and fewer still behind the x86 filter, which the
    /// codec picks for x86 code only; the real `xz -dc` gives the binary back.
    #[test]
    fn xz_with_the_x86_filter_leaves_the_fewest_bytes_of_x86_code() {
        let binary = std::fs::read(harness::require("busybox", "busybox").unwrap()).unwrap();
        assert!(
            mlcremote_release::target::is_x86_code(&binary) == cfg!(target_arch = "x86_64"),
            "busybox is this machine's code"
        );
        assert_eq!(Codec::for_host(false, &binary), Codec::Gzip);
        assert_eq!(
            Codec::for_host(true, &binary),
            Codec::Xz {
                x86: cfg!(target_arch = "x86_64")
            }
        );
        assert_eq!(Codec::for_host(true, b"#!/bin/sh\n"), Codec::Xz { x86: false });
        let size = |codec: Codec| {
            let packed = made(&Payload::compressed(binary.clone().into(), 1, codec)).concat();
            assert!(unpack(codec, &packed) == binary, "{codec:?}");
            packed.len()
        };
        let (gzip, xz) = (size(Codec::Gzip), size(Codec::Xz { x86: false }));
        assert!(xz * 100 < gzip * 97, "xz {xz}, gzip {gzip}");
        if cfg!(target_arch = "x86_64") {
            let x86 = size(Codec::Xz { x86: true });
            assert!(x86 * 100 < xz * 97, "with the x86 filter {x86}, without {xz}");
        }
    }

    /// `packed` through the real `gzip -dc` or `xz -dc`.
    fn unpack(codec: Codec, packed: &[u8]) -> Vec<u8> {
        use std::io::{Read, Write};
        let tool = match codec {
            Codec::Gzip => "gzip",
            Codec::Xz { .. } => harness::require("xz", "xz-utils").map(|_| "xz").unwrap(),
        };
        let mut child = std::process::Command::new(tool)
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let packed = packed.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&packed));
        let mut out = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
        writer.join().unwrap().unwrap();
        assert!(child.wait().unwrap().success(), "{tool} -dc failed");
        out
    }

    /// The scripts run for real with `sh`: one part or three, compressed or not or the
    /// `.tar.gz` it came in (made by the real `tar`), the binary arrives whole and the
    /// (stand-in) agent gets the arguments.
    #[test]
    fn the_lines_receive_the_binary_and_hand_over_to_the_agent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("install dir");
        // A stand-in for the new binary: says its version, then records how it was run.
        let binary = b"#!/bin/sh\nif [ \"$1\" = version ]; then echo '{\"version\":\"9\"}'; exit 0; fi\n\
                       printf '%s\\n' \"$@\" > \"$(dirname \"$0\")/agent-args\"\n"
            .to_vec();
        let packed = tmp.path().join("pack/mlcremote-x86_64-unknown-linux-musl");
        std::fs::create_dir_all(&packed).unwrap();
        std::fs::write(packed.join("README.md"), "read me\n".repeat(500)).unwrap();
        std::fs::write(packed.join("mlcremote"), &binary).unwrap();
        let archive = tmp.path().join("it's.tar.gz");
        let tar = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(tmp.path().join("pack"))
            .args([
                "mlcremote-x86_64-unknown-linux-musl/README.md",
                "mlcremote-x86_64-unknown-linux-musl/mlcremote",
            ])
            .status()
            .unwrap();
        assert!(tar.success());
        let archived = |n| {
            let inner = "mlcremote-x86_64-unknown-linux-musl/mlcremote".into();
            Payload::as_it_is(std::fs::read(&archive).unwrap().into(), Packing::TarGz { inner }, n)
        };
        // Alpine's tools: BusyBox alone on PATH (its sh, gzip, tar, wc, …).
        let busybox = harness::require("busybox", "busybox").unwrap();
        let alpine = tmp.path().join("busybox");
        std::fs::create_dir(&alpine).unwrap();
        let applets = std::process::Command::new(&busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&applets.stdout).lines() {
            std::os::unix::fs::symlink(&busybox, alpine.join(applet)).unwrap();
        }
        let xz = Codec::Xz { x86: true };
        let payloads = [
            (None, Payload::compressed(binary.clone().into(), 1, Codec::Gzip)),
            (None, Payload::compressed(binary.clone().into(), 3, Codec::Gzip)),
            (None, Payload::compressed(binary.clone().into(), 1, xz)),
            (None, Payload::compressed(binary.clone().into(), 3, xz)),
            (None, Payload::as_it_is(binary.clone().into(), Packing::Raw, 3)),
            (None, archived(1)),
            (None, archived(3)),
            (
                Some(alpine.as_path()),
                Payload::compressed(binary.clone().into(), 3, Codec::Gzip),
            ),
            (Some(alpine.as_path()), archived(1)),
            (Some(alpine.as_path()), archived(3)),
        ];
        for (tools, payload) in payloads {
            let bytes = made(&payload);
            let parts = bytes.len();
            let _ = std::fs::remove_dir_all(&dir);
            let gzip = &payload.packing;
            let dir_text = dir.to_string_lossy();
            let install = Install {
                root: Some("/srv/it's"),
                methods: &[StartMethod::Setsid, StartMethod::Nohup],
                ..install_of(
                    &dir_text,
                    "abc",
                    Receive::Upload {
                        parts,
                        packing: payload.packing.clone(),
                        first: payload.parts[0].holds,
                    },
                    binary.len() as u64,
                )
            };
            // As sent, they pass shellcheck; so do the copy and the download.
            scripts::shellcheck("receive.sh", &install.main_line());
            if parts > 1 {
                scripts::shellcheck("part.sh", &install.part_line(1, payload.parts[1].holds));
            }
            for receive in [
                Receive::Copy {
                    from: "/h/build/mlcremote",
                },
                Receive::Download {
                    url: "https://example.com/a.tar.gz",
                    archive_sha256: "00",
                    inner: "a/mlcremote",
                },
            ] {
                let other = Install {
                    receive,
                    ..install.clone()
                };
                scripts::shellcheck("receive.sh", &other.main_line());
            }
            // The main receiver, then the parts (which wait for it), as channels do.
            let (main, children) = std::thread::scope(|s| {
                let main = s.spawn(|| run_in(tools, &install.main_line(), &bytes[0]));
                let children: Vec<_> = bytes
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(k, part)| run_in(tools, &install.part_line(k, payload.parts[k].holds), part))
                    .collect();
                (main.join().unwrap(), children)
            });
            for child in children {
                assert!(child.status.success(), "{}", String::from_utf8_lossy(&child.stdout));
            }
            let stdout = String::from_utf8_lossy(&main.stdout);
            assert!(
                main.status.success() && stdout.contains("received=1"),
                "{tools:?} {parts} {gzip:?}: {stdout}"
            );
            let args = std::fs::read_to_string(dir.join("agent-args")).unwrap();
            assert!(args.starts_with("agent\ninstall\n--dir\n"), "{args}");
            assert!(args.contains("--start-methods\nsetsid,nohup\n"), "{args}");
            assert!(args.ends_with("--root\n/srv/it's\n"), "{args}");
            let leftovers: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".mlcremote.part"))
                .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }

    /// A cut upload, seen from the host: each receiver finds its input short (or its
    /// gzip stream unfinished), and the install dir is left as it was, at once (no
    /// receiver waits for what will not come).
    #[test]
    fn a_cut_upload_leaves_nothing_and_nobody_waiting() {
        let data: Vec<u8> = (0..90_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for payload in [
            Payload::as_it_is(data.clone().into(), Packing::Raw, 3),
            Payload::compressed(data.clone().into(), 3, Codec::Gzip),
            Payload::compressed(data.clone().into(), 3, Codec::Xz { x86: false }),
        ] {
            a_cut_upload_of(&data, &payload);
        }
        // A compressed part cut where a member (a gzip member, an xz stream) ends unpacks
        // without complaint, but short.
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_string_lossy().into_owned();
        for (codec, magic) in [
            (Codec::Gzip, &[0x1f, 0x8b, 8][..]),
            (Codec::Xz { x86: false }, &b"\xfd7zXZ\0"[..]),
        ] {
            let members = Payload::compressed(big.clone().into(), 1, codec);
            let packed = made(&members).remove(0);
            let second = packed[1..].windows(magic.len()).position(|w| w == magic).unwrap() + 1;
            let two = Install {
                wait_secs: 1,
                ..install_of(
                    &dir,
                    "member",
                    Receive::Upload {
                        parts: 2,
                        packing: codec.packing(),
                        first: 1,
                    },
                    3_000_001,
                )
            };
            let part = run(&two.part_line(1, members.parts[0].holds), &packed[..second]);
            assert_eq!(
                part.status.code(),
                Some(status::CORRUPT_UPLOAD as i32),
                "{codec:?} {part:?}"
            );
            assert!(String::from_utf8_lossy(&part.stdout).contains("was cut"), "{part:?}");
        }
    }

    /// An install of `size` bytes into `dir` as `receive` says, the rest as tests need
    /// it: no agent runs, and every wait is 5 s.
    fn install_of<'a>(dir: &'a str, id: &'a str, receive: Receive<'a>, size: u64) -> Install<'a> {
        Install {
            dir,
            id,
            receive,
            sha256: "00",
            size,
            port: 0,
            root: None,
            methods: &[StartMethod::Nohup],
            health_timeout_secs: 5,
            owner: "me",
            lock_holder: None,
            wait_secs: 5,
            idle_secs: 5,
        }
    }

    fn a_cut_upload_of(data: &[u8], payload: &Payload) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir_all(&dir).unwrap();
        let parts = made(payload);
        let holds = |k: usize| payload.parts[k].holds;
        let dir_text = dir.to_string_lossy().into_owned();
        let install = |n: usize, wait_secs| Install {
            wait_secs,
            ..install_of(
                &dir_text,
                "cut",
                Receive::Upload {
                    parts: n,
                    packing: payload.packing.clone(),
                    first: if n == 1 { data.len() as u64 } else { holds(0) },
                },
                data.len() as u64,
            )
        };
        let listing = || -> Vec<String> {
            std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        let packing = &payload.packing;
        // One part, cut: refused before anything runs it.
        let one = install(1, 5);
        let out = run(&one.main_line(), &parts.concat()[..1000]);
        assert_eq!(out.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{packing:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("was cut"), "{out:?}");
        assert!(listing().is_empty(), "{:?}", listing());

        // Three parts: part 2 cut while the main receiver waits; the main one stops at
        // once (the wait for a part that never starts is 3600 s here).
        let three = install(3, 3600);
        let started = std::time::Instant::now();
        let (main, part1, part2) = std::thread::scope(|s| {
            let main = s.spawn(|| run(&three.main_line(), &parts[0]));
            // The main receiver is there before the cut part looks for it.
            while !listing().iter().any(|n| n.starts_with(".mlcremote.upload-")) {
                std::thread::yield_now();
            }
            let part1 = run(&three.part_line(1, holds(1)), &parts[1]);
            let part2 = run(&three.part_line(2, holds(2)), &parts[2][..10]);
            (main.join().unwrap(), part1, part2)
        });
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "someone waited");
        assert_eq!(main.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{main:?}");
        assert!(String::from_utf8_lossy(&main.stdout).contains("was cut"), "{main:?}");
        assert!(part1.status.success(), "{packing:?} {part1:?}");
        assert_eq!(part2.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{part2:?}");
        assert!(listing().is_empty(), "{:?}", listing());

        // Main cut short in its own part: it removes what the others brought.
        let main = run(&three.main_line(), &parts[0][..10]);
        assert_eq!(main.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{packing:?}");
        assert!(String::from_utf8_lossy(&main.stdout).contains("was cut"), "{main:?}");
        assert!(listing().is_empty(), "{:?}", listing());
        // A part whose main receiver never starts removes itself after its wait.
        let lonely = install(3, 1);
        let part = run(&lonely.part_line(1, holds(1)), &parts[1]);
        assert_eq!(part.status.code(), Some(status::CORRUPT_UPLOAD as i32));
        assert!(listing().is_empty(), "{:?}", listing());

        // A part with nowhere to go says so, not that it was cut.
        std::fs::write(tmp.path().join("a file"), "").unwrap();
        let blocked = tmp.path().join("a file/d").to_string_lossy().into_owned();
        let part = run(
            &Install {
                dir: &blocked,
                ..install(3, 1)
            }
            .part_line(1, holds(1)),
            &parts[1],
        );
        assert_eq!(part.status.code(), Some(status::INSTALL_FAILED as i32), "{part:?}");
        assert!(
            String::from_utf8_lossy(&part.stdout).contains("cannot write to"),
            "{part:?}"
        );
    }

    /// A link that falls silent (no FIN: the channel stays open, nothing comes) ends the
    /// receiver after `idle_secs`, which cleans up and says the upload was cut (not that
    /// it could not write): the host waits no longer than the client would. So for the
    /// one receiver of a whole upload, and for the main one and a part of a split one.
    #[test]
    fn a_receiver_whose_input_falls_silent_ends_and_cleans_up() {
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let dir_text = dir.to_string_lossy().into_owned();
        let install = |parts| Install {
            wait_secs: 1,
            idle_secs: 1,
            ..install_of(
                &dir_text,
                "quiet",
                Receive::Upload {
                    parts,
                    packing: Packing::Raw,
                    first: 1 << 20,
                },
                (parts as u64) << 20,
            )
        };
        for line in [
            install(1).main_line(),
            install(2).main_line(),
            install(2).part_line(1, 1 << 20),
        ] {
            let mut child = std::process::Command::new("sh")
                .arg("-c")
                .arg(&line)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut input = child.stdin.take().unwrap();
            input.write_all(&[7u8; 1000]).unwrap();
            // The input stays open and silent; the receiver ends by itself.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(child.wait_with_output());
            });
            let out = rx
                .recv_timeout(std::time::Duration::from_secs(60))
                .expect("the receiver waited on a silent input")
                .unwrap();
            drop(input);
            assert_eq!(out.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{out:?}");
            assert!(String::from_utf8_lossy(&out.stdout).contains("was cut"), "{out:?}");
            // The dir it made goes too; nothing is left in it in any case.
            let left: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| d.flatten().map(|e| e.file_name()).collect())
                .unwrap_or_default();
            assert!(left.is_empty(), "{left:?}");
        }
    }

    fn run(line: &str, stdin: &[u8]) -> std::process::Output {
        run_in(None, line, stdin)
    }

    /// `line` run by `sh`, with only `tools` on PATH when given.
    fn run_in(tools: Option<&std::path::Path>, line: &str, stdin: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut command = std::process::Command::new(tools.map_or("sh".into(), |t| t.join("sh")));
        if let Some(tools) = tools {
            command.env("PATH", tools);
        }
        let mut child = command
            .arg("-c")
            .arg(line)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    }
}
