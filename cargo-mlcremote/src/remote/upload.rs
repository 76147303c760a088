//! The upload and install exec: the binary goes over exec channels (the release archive
//! it came in as it is, else gzip-compressed where that pays, split over several channels where the server's channel window is
//! small, as Dropbear's 24 KiB is), and the same exec that receives it verifies that it
//! runs here and hands over to the new binary's `agent install`. The scripts ride in
//! the exec command; stdin is the payload.

use std::io::Write as _;

use super::{quote, start::StartMethod, status};

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
        match host_has_gzip.then(|| gzipped(&binary, Level::Fast)).flatten() {
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

/// How hard to compress: [`Level::Fast`] costs a third of [`Level::Small`]'s time for 7%
/// more bytes (on the 4 MB server binary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Fast,
    Small,
}

impl Level {
    /// For a link with this round trip (`None`: not known, taken as long): none on a short
    /// one (loopback, a LAN), which carries the bytes faster than gzip makes fewer of them
    /// and the host unpacks them (a 20 MiB binary: 2.6× `scp` compressed, 0.9× sent as it
    /// is); level 6 on a long one, where each byte costs more than its compression.
    pub fn for_link(round_trip: Option<std::time::Duration>) -> Option<Level> {
        match round_trip {
            Some(rtt) if rtt < std::time::Duration::from_millis(5) => None,
            _ => Some(Level::Small),
        }
    }

    fn compression(self) -> flate2::Compression {
        match self {
            // On a 4 MB server binary: a third of level 6's time, 7% more bytes.
            Level::Fast => flate2::Compression::fast(),
            Level::Small => flate2::Compression::new(6),
        }
    }
}

/// `data` gzip-compressed, when that pays: in pieces of 1 MiB or more, compressed side by
/// side on every core, each a gzip member of its own (`gzip -dc` reads members one after
/// another as one stream).
pub fn gzipped(data: &[u8], level: Level) -> Option<Vec<u8>> {
    if !compresses(data) {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let pieces = part_ranges(data.len(), data.len().div_ceil(1 << 20).clamp(1, cores));
    let packed: Vec<Option<Vec<u8>>> = std::thread::scope(|s| {
        let running: Vec<_> = pieces
            .iter()
            .map(|piece| s.spawn(move || gzip(&data[piece.clone()], level)))
            .collect();
        running.into_iter().map(|r| r.join().ok().flatten()).collect()
    });
    let mut out = Vec::with_capacity(packed.iter().flatten().map(Vec::len).sum());
    for member in packed {
        out.extend_from_slice(&member?);
    }
    Some(out)
}

fn gzip(data: &[u8], level: Level) -> Option<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2), level.compression());
    gz.write_all(data).ok()?;
    gz.finish().ok()
}

/// The host command that turns the payload (stdin) into the binary (stdout).
fn unpack(packing: &Packing) -> String {
    match packing {
        Packing::Raw => "cat".into(),
        Packing::Gzip => "gzip -dc".into(),
        Packing::TarGz { inner } => format!("untgz {}", quote(inner)),
    }
}

/// Download the archive next to `$t` with curl or wget, refuse it unless its sha256 is
/// the listed one, and unpack the binary from it to `$t`. Nothing of it stays behind.
fn download(url: &str, archive_sha256: &str, inner: &str) -> String {
    format!(
        "a=\"$t.tar.gz\"; u={url}; \
         if command -v curl >/dev/null 2>&1; then curl -fsSL --connect-timeout 10 --speed-time 30 --speed-limit 1 --retry 2 -o \"$a\" \"$u\" 2>\"$a.err\"; \
         else wget -q -T 30 -t 3 -O \"$a\" \"$u\" 2>\"$a.err\"; fi; s=$?; e=$(head -c 300 \"$a.err\" | tr '\\n' ' '); rm -f \"$a.err\"; \
         [ $s = 0 ] || {{ rm -f \"$a\"; fail {failed} \"the host cannot download $u (status $s${{e:+: $e}})\"; }}; \
         if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum \"$a\"); else s=$(shasum -a 256 \"$a\"); fi; s=${{s%% *}}; \
         [ \"$s\" = {sha} ] || {{ rm -f \"$a\"; fail {mismatch} \"checksum mismatch: the archive the host downloaded from $u has sha256 $s, but the release's SHA256SUMS says \"{sha}\"; refusing it\"; }}; \
         gzip -dc \"$a\" | tar -xOf - {inner} >\"$t\"; s=$?; rm -f \"$a\"; \
         [ $s = 0 ] && [ -s \"$t\" ] || fail {corrupt} \"cannot unpack \"{inner}\" from the archive downloaded from $u (is the disk full?)\"; ",
        url = quote(url),
        sha = quote(archive_sha256),
        inner = quote(inner),
        failed = status::DOWNLOAD_FAILED,
        mismatch = status::CHECKSUM_MISMATCH,
        corrupt = status::CORRUPT_UPLOAD,
    )
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
    /// `d=…; r=…` and the upload's name, `$t`: `.mlcremote.upload-<pid>-<id>`, so a later
    /// deploy can tell an upload whose receiver is gone. A failure removes the upload,
    /// and the install dir if this deploy made it and it is empty; so does the end of
    /// the connection (sshd's hangup, or a write to the closed channel).
    fn head(&self) -> String {
        format!(
            "d={d}; r={id}; t=\"$d/.mlcremote.upload-$$-$r\"; m=; [ -d \"$d\" ] || m=1; {recv}\
             untgz() {{ gzip -dc | tar -xOf - \"$1\"; }}; \
             fail() {{ code=$1; shift; rm -f \"$t\"; [ -z \"$m\" ] || rmdir \"$d\" 2>/dev/null; printf 'error=%s\\n' \"$*\"; exit \"$code\"; }}; \
             trap 'kill $rp $wd 2>/dev/null; rm -f \"$t\" \"$t\".tar.gz* \"$d/.mlcremote.part-$r\"-*; exit 1' HUP PIPE TERM; \
             (umask 077; mkdir -p \"$d\") 2>/dev/null || fail {failed} \"cannot create $d: $(mkdir -p \"$d\" 2>&1 | sed 's/^mkdir: //')\"; ",
            d = quote(self.dir),
            id = quote(self.id),
            failed = status::INSTALL_FAILED,
            recv = self.recv(),
        )
    }

    /// `recv FILE COMMAND…`: COMMAND reads the payload (this channel's stdin) into FILE,
    /// and is ended once FILE has not grown for `idle_secs` (a link that went silent
    /// without a FIN leaves a reader waiting until sshd notices, which can be hours). Its
    /// status is COMMAND's; `$rp` is its pid and `$wd` its watchdog's while it runs, and
    /// the watchdog (with its `sleep`) is gone when it returns.
    fn recv(&self) -> String {
        format!(
            "rp=; wd=; exec 3<&0; recv() {{ o=$1; shift; \"$@\" <&3 >\"$o\" & rp=$!; \
             (trap 'kill $z 2>/dev/null; exit 0' TERM; n=-1; i=0; while kill -0 $rp 2>/dev/null; do s=$(wc -c <\"$o\" 2>/dev/null); \
             if [ \"$s\" = \"$n\" ]; then i=$((i+1)); [ $i -gt {idle} ] && kill $rp 2>/dev/null; else i=0; n=$s; fi; \
             sleep 1 & z=$!; wait $z; done) >/dev/null 2>&1 & wd=$!; \
             {{ wait $rp; }} 2>/dev/null; s=$?; kill $wd 2>/dev/null; wait $wd 2>/dev/null; rp=; wd=; return $s; }}; ",
            idle = self.idle_secs,
        )
    }

    /// The line the first channel runs: receive (or copy) the binary, check it runs
    /// here, then become `agent install`.
    pub fn main_line(&self) -> String {
        let receive = match &self.receive {
            Receive::Copy { from } => format!(
                "cp {} \"$t\" || fail {} \"cannot copy the built binary into $d\"; ",
                quote(from),
                status::INSTALL_FAILED
            ),
            Receive::Download {
                url,
                archive_sha256,
                inner,
            } => download(url, archive_sha256, inner),
            Receive::Upload { parts: 1, packing, .. } => format!(
                "recv \"$t\" {unpack} || fail {corrupt} \"{cut}\"; ",
                corrupt = status::CORRUPT_UPLOAD,
                unpack = unpack(packing),
                cut = CUT,
            ),
            Receive::Upload {
                parts: n,
                packing,
                total,
            } => {
                // Part 0 comes on this channel; wait for the others while someone writes
                // one (its receiver's pid is in its name) or, for a part whose channel
                // has not started, as long as the client waits for an exec. A receiver
                // that saw its input end early says so (`.cut`): then everything goes at
                // once. `$t` exists from the start: it tells a later deploy, and the
                // parts, whether the receiver of this upload is still there.
                let first = part_ranges(*total, *n).first().map_or(0, ExactSizeIterator::len);
                format!(
                    "p=\"$d/.mlcremote.part-$r\"; : >\"$t\"; recv \"$p-0\" cat || {{ rm -f \"$p\"-*; fail {corrupt} \"cannot write to $d (is the disk full?)\"; }}; \
                     [ $(wc -c <\"$p-0\") -eq {first} ] || {{ rm -f \"$p\"-*; fail {corrupt} \"{cut}\"; }}; \
                     w=$(date +%s); while :; do k=1; all=1; while [ $k -lt {n} ]; do [ -f \"$p-$k\" ] || all=; k=$((k+1)); done; \
                     [ -n \"$all\" ] && break; \
                     for c in \"$p\"-*.cut; do [ -f \"$c\" ] && {{ rm -f \"$p\"-*; fail {corrupt} \"{cut}\"; }}; done; \
                     for f in \"$p\"-*.tmp.*; do [ -f \"$f\" ] && kill -0 \"${{f##*.}}\" 2>/dev/null && w=$(date +%s); done; \
                     [ $(($(date +%s) - w)) -gt {wait} ] && {{ rm -f \"$p\"-*; fail {corrupt} \"the upload's other parts never came\"; }}; \
                     sleep 0.05 2>/dev/null || sleep 1; done; \
                     k=0; while [ $k -lt {n} ]; do cat \"$p-$k\"; k=$((k+1)); done | {unpack} >\"$t\"; s=$?; rm -f \"$p\"-*; \
                     [ $s = 0 ] || fail {corrupt} \"the upload to $d could not be written (is the disk full?)\"; ",
                    corrupt = status::CORRUPT_UPLOAD,
                    unpack = unpack(packing),
                    cut = CUT,
                    wait = self.wait_secs,
                )
            }
        };
        // Whatever arrived must be the whole binary: a cut upload is found here, not by
        // running half a binary.
        let receive = if matches!(self.receive, Receive::Upload { .. }) {
            format!(
                "{receive}[ $(wc -c <\"$t\") -eq {size} ] || fail {corrupt} \"{cut}\"; ",
                size = self.size,
                corrupt = status::CORRUPT_UPLOAD,
                cut = CUT,
            )
        } else {
            receive
        };
        let methods: Vec<&str> = self.methods.iter().map(|m| m.name()).collect();
        let holder = self
            .lock_holder
            .map(|pid| format!(" --lock-holder {pid}"))
            .unwrap_or_default();
        let root = self.root.map(|r| format!(" --root {}", quote(r))).unwrap_or_default();
        format!(
            "{head}{receive}printf 'received=1\\n'; chmod 700 \"$t\" || fail {failed} \"cannot chmod $t\"; \
             v=$(\"$t\" version --json 2>&1 </dev/null); s=$?; \
             if [ $s != 0 ]; then \
               case \"$v\" in *'ermission denied'*) fail {runs} \"the new binary does not run in $d: permission denied although it is executable (is the file system mounted noexec? pass --install-dir on another one)\";; \
               *'ormat error'*) fail {runs} \"the new binary does not run here: $v (a binary for another kind of machine?)\";; esac; \
               fail {runs} \"the uploaded file is not an mlcremote server (it said: $(printf '%s' \"$v\" | head -n 3))\"; fi; \
             case \"$v\" in *'\"version\"'*) ;; *) fail {runs} \"the uploaded file is not an mlcremote server (it said: $(printf '%s' \"$v\" | head -n 3))\";; esac; \
             exec \"$t\" agent install --dir \"$d\" --upload \"$t\" --sha256 {sha} --size {size} --port {port} \
             --start-methods {methods} --health-timeout-secs {timeout} --owner {owner}{holder}{root}",
            head = self.head(),
            failed = status::INSTALL_FAILED,
            runs = status::DOES_NOT_RUN,
            sha = quote(self.sha256),
            size = self.size,
            port = self.port,
            methods = quote(&methods.join(",")),
            timeout = self.health_timeout_secs,
            owner = quote(self.owner),
        )
    }

    /// The line channel `k` (1…) runs: store its part of the payload, under a name with
    /// this receiver's pid while it comes. Cut short, it is removed, and the main
    /// receiver told (`.cut`, taken back once the main receiver is gone, which may have
    /// looked before the mark came) so that it stops waiting; a part whose main receiver
    /// never started removes itself too (one whose receiver took it already is done).
    pub fn part_line(&self, k: usize) -> String {
        let Receive::Upload { parts, total, .. } = &self.receive else {
            return String::new();
        };
        let (parts, total) = (*parts, *total);
        let size = part_ranges(total, parts).get(k).map_or(0, ExactSizeIterator::len);
        format!(
            "d={d}; r={id}; p=\"$d/.mlcremote.part-$r\"; f=\"$p-{k}.tmp.$$\"; c=\"$p-{k}.cut\"; {recv}\
             main() {{ for m in \"$d\"/.mlcremote.upload-*-\"$r\"; do [ -f \"$m\" ] && return 0; done; return 1; }}; \
             trap 'kill $rp $wd 2>/dev/null; rm -f \"$f\" \"$c\"; main || rm -f \"$p-{k}\"; exit 1' HUP PIPE TERM; \
             mkdir -p \"$d\" && recv \"$f\" cat || {{ rm -f \"$f\"; printf 'error=cannot write to %s (is the disk full?)\\n' \"$d\"; exit {failed}; }}; \
             if [ $(wc -c <\"$f\") -ne {size} ]; then rm -f \"$f\"; main && : >\"$c\"; \
             w=$(date +%s); while main && [ -f \"$c\" ] && [ $(($(date +%s) - w)) -le {wait} ]; do sleep 0.05 2>/dev/null || sleep 1; done; rm -f \"$c\"; \
             printf 'error=%s\\n' \"{cut}\"; exit {corrupt}; fi; \
             mv -f \"$f\" \"$p-{k}\" || exit {failed}; \
             w=$(date +%s); until main || [ ! -f \"$p-{k}\" ]; do [ $(($(date +%s) - w)) -gt {wait} ] && {{ rm -f \"$p-{k}\"; exit {corrupt}; }}; sleep 0.05 2>/dev/null || sleep 1; done",
            d = quote(self.dir),
            id = quote(self.id),
            failed = status::INSTALL_FAILED,
            corrupt = status::CORRUPT_UPLOAD,
            cut = CUT,
            wait = self.wait_secs,
            recv = self.recv(),
        )
    }
}

/// What a receiver says when its input ended before the whole payload came.
const CUT: &str = "the upload to $d was cut: the connection ended before all of it came";

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Compressed in pieces on every core at either level, the payload is what the real
    /// `gzip -dc` turns back into the binary.
    #[test]
    fn gzip_in_pieces_unpacks_as_one_stream() {
        use std::io::{Read, Write};
        let data: Vec<u8> = (0..3_500_000u32).flat_map(|i| (i / 7).to_le_bytes()).collect();
        for level in [Level::Fast, Level::Small] {
            let packed = gzipped(&data, level).expect("it compresses");
            assert!(packed.len() < data.len() / 2, "{level:?}");
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
            assert!(out == data, "{level:?}: {} bytes back of {}", out.len(), data.len());
        }
        assert_eq!(Level::for_link(Some(std::time::Duration::from_micros(300))), None);
        assert_eq!(
            Level::for_link(Some(std::time::Duration::from_millis(50))),
            Some(Level::Small)
        );
        assert_eq!(Level::for_link(None), Some(Level::Small));
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
