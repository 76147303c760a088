//! The upload and install exec: the binary goes over exec channels (the release archive
//! it came in as it is, else gzip-compressed where that pays, split over several channels
//! where one would not keep the link full or sshd fed: `deploy::install::upload_parts`),
//! and the same exec that receives it verifies that it
//! runs here and hands over to the new binary's `agent install`. The scripts ride in
//! the exec command; stdin is the payload.

use std::io::Write as _;

use super::{quote, scripts, start::StartMethod};

/// What goes over the wire for one binary.
#[derive(Clone, Debug)]
pub struct Payload {
    pub data: std::sync::Arc<[u8]>,
    pub packing: Packing,
}

/// How the payload holds the binary, and so how the host gets it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packing {
    /// The binary itself.
    Raw,
    /// gzip-compressed here (the host runs `gzip -dc`).
    Gzip,
    /// The `.tar.gz` the binary came in, sent as it is (already compressed: compressing
    /// again costs time and gains nothing); the host runs `gzip -dc | tar -xOf - INNER`.
    TarGz { inner: std::sync::Arc<str> },
}

impl Packing {
    /// How a report names it: `raw`, `gzip`, `tar.gz`.
    pub fn name(&self) -> &'static str {
        match self {
            Packing::Raw => "raw",
            Packing::Gzip => "gzip",
            Packing::TarGz { .. } => "tar.gz",
        }
    }
}

impl Payload {
    /// gzip the binary when the host has gzip and it pays (a server binary shrinks to
    /// about half; random bytes do not shrink, and are sent as they are).
    pub fn new(binary: std::sync::Arc<[u8]>, host_has_gzip: bool) -> Payload {
        match host_has_gzip.then(|| gzipped(&binary)).flatten() {
            Some(data) => Payload {
                data: data.into(),
                packing: Packing::Gzip,
            },
            None => Payload {
                data: binary,
                packing: Packing::Raw,
            },
        }
    }

    /// `n` byte ranges of the payload, in order, none empty (fewer when it is small).
    pub fn parts(&self, n: usize) -> Vec<std::ops::Range<usize>> {
        part_ranges(self.data.len(), n)
    }
}

/// `n` byte ranges of `len` bytes, in order, none empty (fewer when `len` is small): how
/// a payload is split over channels, and what each receiver on the host expects.
fn part_ranges(len: usize, n: usize) -> Vec<std::ops::Range<usize>> {
    let n = n.clamp(1, len.max(1));
    let size = len.div_ceil(n).max(1);
    (0..len)
        .step_by(size)
        .map(|start| start..(start + size).min(len))
        .collect()
}

/// Whether to compress for a link with this round trip (`None`: not known, taken as
/// long): not on a short one (loopback, a LAN), which carries the bytes faster than gzip
/// makes fewer of them and the host unpacks them (a 20 MiB binary: 2.6× `scp`
/// compressed, 0.9× sent as it is); on a long one, where each byte costs more than its
/// compression.
pub fn compress_for(round_trip: Option<std::time::Duration>) -> bool {
    round_trip.is_none_or(|rtt| rtt >= std::time::Duration::from_millis(5))
}

/// `data` gzip-compressed, when that pays: in pieces of 1 MiB or more, compressed side by
/// side on every core, each a gzip member of its own (`gzip -dc` reads members one after
/// another as one stream).
pub fn gzipped(data: &[u8]) -> Option<Vec<u8>> {
    if !compresses(data) {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let pieces = part_ranges(data.len(), data.len().div_ceil(1 << 20).clamp(1, cores));
    let packed: Vec<Option<Vec<u8>>> = std::thread::scope(|s| {
        let running: Vec<_> = pieces
            .iter()
            .map(|piece| s.spawn(move || gzip(&data[piece.clone()])))
            .collect();
        running.into_iter().map(|r| r.join().ok().flatten()).collect()
    });
    let mut out = Vec::with_capacity(packed.iter().flatten().map(Vec::len).sum());
    for member in packed {
        out.extend_from_slice(&member?);
    }
    Some(out)
}

/// Level 6: on the 4 MB server binary, level 1 takes a third of its time for 7% more
/// bytes, and compressing pays only on links where bytes cost more than that.
fn gzip(data: &[u8]) -> Option<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2), flate2::Compression::new(6));
    gz.write_all(data).ok()?;
    gz.finish().ok()
}

/// Whether gzip shrinks samples from all over `data` by a quarter at least: less does
/// not pay for compressing (a server binary shrinks by half; a binary padded with
/// random bytes hardly shrinks).
fn compresses(data: &[u8]) -> bool {
    const PIECE: usize = 64 * 1024;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut sampled = 0;
    for i in 0..4 {
        let at = (data.len().saturating_sub(PIECE)) * i / 3;
        let piece = &data[at..(at + PIECE).min(data.len())];
        if gz.write_all(piece).is_err() {
            return false;
        }
        sampled += piece.len();
    }
    gz.finish().is_ok_and(|c| c.len() * 4 < sampled * 3)
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
    /// `total` bytes over `parts` exec channels, packed as `packing` says.
    Upload {
        parts: usize,
        packing: Packing,
        total: usize,
    },
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
                total,
            } => {
                (parts, first) = (*n, part_ranges(*total, *n).first().map_or(0, ExactSizeIterator::len));
                (packing, inner) = match how_packed {
                    Packing::Raw => ("raw", ""),
                    Packing::Gzip => ("gzip", ""),
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

    /// The line channel `k` (1…) runs: `sh/part.sh`, storing its part of the payload.
    pub fn part_line(&self, k: usize) -> String {
        let Receive::Upload { parts, total, .. } = &self.receive else {
            return String::new();
        };
        let size = part_ranges(*total, *parts).get(k).map_or(0, ExactSizeIterator::len);
        let words = [
            ("d", quote(self.dir)),
            ("r", quote(self.id)),
            ("k", k.to_string()),
            ("size", size.to_string()),
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

    #[test]
    fn payload_is_compressed_only_where_it_pays_and_splits_in_order() {
        let text: std::sync::Arc<[u8]> = b"mlcremote ".repeat(100_000).into();
        let p = Payload::new(text.clone(), true);
        assert!(p.packing == Packing::Gzip && p.data.len() < text.len() / 10);
        assert_eq!(Payload::new(text, false).packing, Packing::Raw, "no gzip on the host");
        let mut noise = vec![0u8; 300_000];
        let mut x: u32 = 1;
        for b in noise.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let noise: std::sync::Arc<[u8]> = noise.into();
        assert_eq!(
            Payload::new(noise.clone(), true).packing,
            Packing::Raw,
            "random bytes do not shrink"
        );
        let parts = Payload::new(noise.clone(), false).parts(8);
        assert_eq!(parts.len(), 8);
        assert_eq!(parts.first().map(|r| r.start), Some(0));
        assert_eq!(parts.last().map(|r| r.end), Some(noise.len()));
        assert!(parts.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(Payload::new(b"ab".to_vec().into(), false).parts(8).len(), 2);
    }

    /// Compressed in pieces on every core, the payload is what the real `gzip -dc` turns
    /// back into the binary; only a long link gets it compressed.
    #[test]
    fn gzip_in_pieces_unpacks_as_one_stream() {
        use std::io::{Read, Write};
        let data: Vec<u8> = (0..3_500_000u32).flat_map(|i| (i / 7).to_le_bytes()).collect();
        {
            let packed = gzipped(&data).expect("it compresses");
            assert!(packed.len() < data.len() / 2);
            let mut gzip = std::process::Command::new("gzip")
                .arg("-dc")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = gzip.stdin.take().unwrap();
            let writer = std::thread::spawn(move || stdin.write_all(&packed));
            let mut out = Vec::new();
            gzip.stdout.take().unwrap().read_to_end(&mut out).unwrap();
            writer.join().unwrap().unwrap();
            assert!(gzip.wait().unwrap().success());
            assert!(out == data, "{} bytes back of {}", out.len(), data.len());
        }
        assert!(!compress_for(Some(std::time::Duration::from_micros(300))));
        assert!(compress_for(Some(std::time::Duration::from_millis(50))));
        assert!(compress_for(None));
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
        let archived = Payload {
            data: std::fs::read(&archive).unwrap().into(),
            packing: Packing::TarGz {
                inner: "mlcremote-x86_64-unknown-linux-musl/mlcremote".into(),
            },
        };
        // Alpine's tools: BusyBox alone on PATH (its sh, gzip, tar, wc, …).
        let busybox = harness::require("busybox", "busybox").unwrap();
        let alpine = tmp.path().join("busybox");
        std::fs::create_dir(&alpine).unwrap();
        let applets = std::process::Command::new(&busybox).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&applets.stdout).lines() {
            std::os::unix::fs::symlink(&busybox, alpine.join(applet)).unwrap();
        }
        let payloads = [
            (None, 1, Payload::new(binary.clone().into(), true)),
            (None, 3, Payload::new(binary.clone().into(), true)),
            (None, 3, Payload::new(binary.clone().into(), false)),
            (None, 1, archived.clone()),
            (None, 3, archived.clone()),
            (Some(alpine.as_path()), 1, archived.clone()),
            (Some(alpine.as_path()), 3, archived),
        ];
        for (tools, parts, payload) in payloads {
            let _ = std::fs::remove_dir_all(&dir);
            let gzip = &payload.packing;
            let install = Install {
                dir: &dir.to_string_lossy(),
                id: "abc",
                receive: Receive::Upload {
                    parts,
                    packing: payload.packing.clone(),
                    total: payload.data.len(),
                },
                sha256: "00",
                size: binary.len() as u64,
                port: 0,
                root: Some("/srv/it's"),
                methods: &[StartMethod::Setsid, StartMethod::Nohup],
                health_timeout_secs: 5,
                owner: "me",
                lock_holder: None,
                wait_secs: 5,
                idle_secs: 5,
            };
            // As sent, they pass shellcheck; so do the copy and the download.
            scripts::shellcheck("receive.sh", &install.main_line());
            if parts > 1 {
                scripts::shellcheck("part.sh", &install.part_line(1));
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
            let ranges = payload.parts(parts);
            // The main receiver, then the parts (which wait for it), as channels do.
            let (main, children) = std::thread::scope(|s| {
                let main = s.spawn(|| run_in(tools, &install.main_line(), &payload.data[ranges[0].clone()]));
                let children: Vec<_> = ranges
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(k, range)| run_in(tools, &install.part_line(k), &payload.data[range.clone()]))
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

    /// A cut upload, seen from the host: each receiver finds its input short, and the
    /// install dir is left as it was, at once (no receiver waits for what will not come).
    #[test]
    fn a_cut_upload_leaves_nothing_and_nobody_waiting() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        std::fs::create_dir_all(&dir).unwrap();
        let payload = Payload::new(
            (0..90_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>().into(),
            false,
        );
        let ranges = payload.parts(3);
        let dir_text = dir.to_string_lossy().into_owned();
        let install = |parts, wait_secs| Install {
            dir: &dir_text,
            id: "cut",
            receive: Receive::Upload {
                parts,
                packing: Packing::Raw,
                total: payload.data.len(),
            },
            sha256: "00",
            size: payload.data.len() as u64,
            port: 0,
            root: None,
            methods: &[StartMethod::Nohup],
            health_timeout_secs: 5,
            owner: "me",
            lock_holder: None,
            wait_secs,
            idle_secs: 5,
        };
        let listing = || -> Vec<String> {
            std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        };
        // One part, cut: refused before anything runs it.
        let one = install(1, 5);
        let out = run(&one.main_line(), &payload.data[..1000]);
        assert_eq!(out.status.code(), Some(status::CORRUPT_UPLOAD as i32));
        assert!(String::from_utf8_lossy(&out.stdout).contains("was cut"), "{out:?}");
        assert!(listing().is_empty(), "{:?}", listing());

        // Three parts: part 2 cut while the main receiver waits; the main one stops at
        // once (the wait for a part that never starts is 3600 s here).
        let three = install(3, 3600);
        let started = std::time::Instant::now();
        let (main, part1, part2) = std::thread::scope(|s| {
            let main = s.spawn(|| run(&three.main_line(), &payload.data[ranges[0].clone()]));
            // The main receiver is there before the cut part looks for it.
            while !listing().iter().any(|n| n.starts_with(".mlcremote.upload-")) {
                std::thread::yield_now();
            }
            let part1 = run(&three.part_line(1), &payload.data[ranges[1].clone()]);
            let part2 = run(
                &three.part_line(2),
                &payload.data[ranges[2].start..ranges[2].start + 10],
            );
            (main.join().unwrap(), part1, part2)
        });
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "someone waited");
        assert_eq!(main.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{main:?}");
        assert!(String::from_utf8_lossy(&main.stdout).contains("was cut"), "{main:?}");
        assert!(part1.status.success(), "{part1:?}");
        assert_eq!(part2.status.code(), Some(status::CORRUPT_UPLOAD as i32), "{part2:?}");
        assert!(listing().is_empty(), "{:?}", listing());

        // Main cut short in its own part: it removes what the others brought.
        let main = run(&three.main_line(), &payload.data[..10]);
        assert_eq!(main.status.code(), Some(status::CORRUPT_UPLOAD as i32));
        assert!(listing().is_empty(), "{:?}", listing());
        // A part whose main receiver never starts removes itself after its wait.
        let lonely = install(3, 1);
        let part = run(&lonely.part_line(1), &payload.data[ranges[1].clone()]);
        assert_eq!(part.status.code(), Some(status::CORRUPT_UPLOAD as i32));
        assert!(listing().is_empty(), "{:?}", listing());
    }

    /// A link that falls silent (no FIN: the channel stays open, nothing comes) ends the
    /// receiver after `idle_secs`, which cleans up: the host waits no longer than the
    /// client would.
    #[test]
    fn a_receiver_whose_input_falls_silent_ends_and_cleans_up() {
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let dir_text = dir.to_string_lossy().into_owned();
        let install = Install {
            dir: &dir_text,
            id: "quiet",
            receive: Receive::Upload {
                parts: 1,
                packing: Packing::Raw,
                total: 1 << 20,
            },
            sha256: "00",
            size: 1 << 20,
            port: 0,
            root: None,
            methods: &[StartMethod::Nohup],
            health_timeout_secs: 5,
            owner: "me",
            lock_holder: None,
            wait_secs: 1,
            idle_secs: 1,
        };
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(install.main_line())
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
        // The dir it made goes too; nothing is left in it in any case.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
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
