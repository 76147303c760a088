//! Release archives: names, reproducible writing, and reading the server binary back
//! out of whatever a user hands to deploy (`.tar.gz` or a bare binary).

use std::{
    io::{self, Read, Write},
    path::Path,
};

use flate2::{Compression, GzBuilder, read::GzDecoder};

/// The name of the server binary, inside archives and on the remote host.
pub const BINARY_NAME: &str = "mlcremote";

/// Refuse to unpack more than this (a decompression bomb, or not our archive).
const MAX_BINARY: u64 = 512 * 1024 * 1024;

/// Archive formats `cargo xtask dist --format` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    TarGz,
    Zip,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::TarGz => "tar.gz",
            Format::Zip => "zip",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "tar.gz" | "tgz" => Some(Format::TarGz),
            "zip" => Some(Format::Zip),
            _ => None,
        }
    }
}

/// `mlcremote-<triple>`: the archive's top folder, and its name without extension.
pub fn stem(triple: &str) -> String {
    Product::Server.stem(triple)
}

/// `mlcremote-<triple>.<ext>`.
pub fn archive_name(triple: &str, format: Format) -> String {
    Product::Server.archive_name(triple, format)
}

/// What a release carries: the server for hosts, the client for desktops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    Server,
    Client,
}

impl Product {
    /// The cargo package and binary name.
    pub fn name(self) -> &'static str {
        match self {
            Product::Server => BINARY_NAME,
            Product::Client => "cargo-mlcremote",
        }
    }

    /// The binary's file name for `target` (`.exe` on Windows).
    pub fn binary_file(self, target: &crate::target::Target) -> String {
        let ext = if target.is_windows() { ".exe" } else { "" };
        format!("{}{ext}", self.name())
    }

    /// `<name>-<triple>`: the archive's top folder.
    pub fn stem(self, triple: &str) -> String {
        format!("{}-{triple}", self.name())
    }

    /// `<name>-<triple>.<ext>`.
    pub fn archive_name(self, triple: &str, format: Format) -> String {
        format!("{}.{}", self.stem(triple), format.extension())
    }
}

/// The target triple an archive name stands for, if it is one of ours.
pub fn triple_of(archive_name: &str) -> Option<&str> {
    let rest = archive_name.strip_prefix("mlcremote-")?;
    [".tar.gz", ".zip"].iter().find_map(|ext| rest.strip_suffix(ext))
}

/// A file to put in an archive.
pub struct Entry<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
    pub mode: u32,
}

/// Write `mlcremote-<triple>.tar.gz` content: one top folder, entries sorted, uid/gid 0,
/// empty owner names, every mtime `mtime`, gzip header with mtime 0 and no file name.
/// The same input always gives the same bytes.
pub fn write_tar_gz(top: &str, entries: &[Entry<'_>], mtime: u64) -> io::Result<Vec<u8>> {
    let gz = GzBuilder::new().mtime(0).write(Vec::new(), Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);

    let mut dir = header(tar::EntryType::Directory, 0o755, 0, mtime);
    tar.append_data(&mut dir, format!("{top}/"), io::empty())?;

    let mut sorted: Vec<&Entry<'_>> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    for entry in sorted {
        let mut h = header(tar::EntryType::Regular, entry.mode, entry.data.len() as u64, mtime);
        tar.append_data(&mut h, format!("{top}/{}", entry.name), entry.data)?;
    }
    let gz = tar.into_inner()?;
    gz.finish()
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    // set_username/groupname with "" cannot fail; the header starts zeroed anyway.
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h
}

/// Write the same content as [`write_tar_gz`] as a zip: unix modes kept, entries
/// sorted, every timestamp `mtime` (clamped to 1980, zip's epoch), no extra fields.
pub fn write_zip(top: &str, entries: &[Entry<'_>], mtime: u64) -> io::Result<Vec<u8>> {
    use zip::{CompressionMethod, write::SimpleFileOptions};
    let stamp = zip_time(mtime);
    let options = |mode: u32| {
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(9))
            .last_modified_time(stamp)
            .unix_permissions(mode)
    };
    let mut zip = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    zip.add_directory(format!("{top}/"), options(0o755))
        .map_err(io::Error::other)?;
    let mut sorted: Vec<&Entry<'_>> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(b.name));
    for entry in sorted {
        zip.start_file(format!("{top}/{}", entry.name), options(entry.mode))
            .map_err(io::Error::other)?;
        zip.write_all(entry.data)?;
    }
    Ok(zip.finish().map_err(io::Error::other)?.into_inner())
}

fn zip_time(mtime: u64) -> zip::DateTime {
    let at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(mtime).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    zip::DateTime::try_from(time::PrimitiveDateTime::new(at.date(), at.time())).unwrap_or_default()
}

/// The server binary found in a user-supplied artifact.
#[derive(Debug)]
pub struct FoundBinary {
    pub bytes: Vec<u8>,
    /// Where it was inside the archive (`None` for a bare binary).
    pub inner_path: Option<String>,
}

/// Why no binary could be read from an artifact.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// Named like an archive, but its bytes are not one.
    #[error("{path} is not a {expected} archive (its first bytes are {magic}); pass the file `cargo xtask dist` wrote")]
    NotAnArchive {
        path: String,
        expected: &'static str,
        magic: String,
    },
    #[error("{path} is damaged: {why}")]
    Damaged { path: String, why: String },
    #[error("{path}: {inner} is larger than {MAX_BINARY} bytes")]
    TooLarge { path: String, inner: String },
    #[error("{path} holds no `{BINARY_NAME}` binary (expected mlcremote-<target>/{BINARY_NAME})")]
    NoBinary { path: String },
    #[error(
        "{path} cannot run on this host or any other: it is neither a release archive (.tar.gz, .zip) nor an executable (ELF, Mach-O)"
    )]
    NotAnExecutable { path: String },
}

/// What kind of file an artifact is, from its first bytes.
fn sniff(path: &Path) -> Result<(Option<Format>, [u8; 4], usize), ReadError> {
    let mut file = std::fs::File::open(path).map_err(|source| io_error(path, source))?;
    let mut magic = [0u8; 4];
    let mut read = 0;
    while read < magic.len() {
        match file.read(&mut magic[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(io_error(path, source)),
        }
    }
    let format = if read == 4 && magic == *b"PK\x03\x04" {
        Some(Format::Zip)
    } else if read >= 2 && magic[..2] == [0x1f, 0x8b] {
        Some(Format::TarGz)
    } else {
        None
    };
    Ok((format, magic, read))
}

fn io_error(path: &Path, source: io::Error) -> ReadError {
    ReadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The format a file name promises: `.tar.gz`/`.tgz` or `.zip`.
pub fn format_of_name(name: &str) -> Option<Format> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Some(Format::TarGz)
    } else if lower.ends_with(".zip") {
        Some(Format::Zip)
    } else {
        None
    }
}

/// Check, from its first bytes, that `path` is what it claims: an archive when named
/// like one, else an executable (ELF or Mach-O). Cheap: reads a few bytes.
pub fn check_kind(path: &Path) -> Result<(), ReadError> {
    let (format, magic, read) = named_format(path)?;
    let executable =
        read == 4 && (magic == *b"\x7fELF" || [[0xcf, 0xfa, 0xed, 0xfe], [0xca, 0xfe, 0xba, 0xbe]].contains(&magic));
    if format.is_none() && !executable {
        return Err(ReadError::NotAnExecutable {
            path: path.display().to_string(),
        });
    }
    Ok(())
}

/// The format of an artifact by its first bytes, checked against what its name says.
fn named_format(path: &Path) -> Result<(Option<Format>, [u8; 4], usize), ReadError> {
    let shown = path.display().to_string();
    let (format, magic, read) = sniff(path)?;
    let named = path.file_name().and_then(|n| format_of_name(&n.to_string_lossy()));
    match (named, format) {
        (Some(expected), found) if found != Some(expected) => {
            return Err(ReadError::NotAnArchive {
                path: shown,
                expected: match expected {
                    Format::TarGz => "gzip-compressed tar",
                    Format::Zip => "zip",
                },
                magic: if read == 0 {
                    "none: it is empty".into()
                } else {
                    hex::encode(&magic[..read])
                },
            });
        }
        _ => {}
    }
    Ok((format, magic, read))
}

/// Read the server binary from a `.tar.gz`, a `.zip` or a bare binary file. A file
/// named like an archive must be one.
pub fn read_binary(path: &Path) -> Result<FoundBinary, ReadError> {
    let (format, _, _) = named_format(path)?;
    match format {
        Some(Format::Zip) => read_zip(path),
        Some(Format::TarGz) => read_tar_gz(path),
        None => {
            let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
            Ok(FoundBinary {
                bytes,
                inner_path: None,
            })
        }
    }
}

fn read_tar_gz(path: &Path) -> Result<FoundBinary, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| io_error(path, source))?;
    read_tar_gz_from(file, &path.display().to_string())
}

fn read_zip(path: &Path) -> Result<FoundBinary, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| io_error(path, source))?;
    read_zip_from(file, &path.display().to_string())
}

/// The server binary out of a `.tar.gz` read from `reader`; `shown` names it in errors.
pub fn read_tar_gz_from(reader: impl Read, shown: &str) -> Result<FoundBinary, ReadError> {
    let damaged = |why: &dyn std::fmt::Display| ReadError::Damaged {
        path: shown.to_string(),
        why: why.to_string(),
    };
    let mut archive = tar::Archive::new(GzDecoder::new(reader));
    let entries = archive.entries().map_err(|e| damaged(&e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(&e))?;
        let inner = entry.path().map_err(|e| damaged(&e))?.to_string_lossy().into_owned();
        if !is_binary_path(&inner) || entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let size = entry.size();
        return take(&mut entry, size, inner, shown);
    }
    Err(ReadError::NoBinary { path: shown.into() })
}

/// The server binary out of a `.zip` read from `reader`; `shown` names it in errors.
pub fn read_zip_from(reader: impl Read + std::io::Seek, shown: &str) -> Result<FoundBinary, ReadError> {
    let damaged = |why: &dyn std::fmt::Display| ReadError::Damaged {
        path: shown.to_string(),
        why: why.to_string(),
    };
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| damaged(&e))?;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(|e| damaged(&e))?;
        let inner = entry.name().map_err(|e| damaged(&e))?.into_owned();
        if !entry.is_file() || !is_binary_path(&inner) {
            continue;
        }
        let size = entry.size();
        return take(&mut entry, size, inner, shown);
    }
    Err(ReadError::NoBinary { path: shown.into() })
}

/// Read the binary entry out of an archive, bounded by [`MAX_BINARY`].
fn take(entry: &mut impl Read, size: u64, inner: String, shown: &str) -> Result<FoundBinary, ReadError> {
    if size > MAX_BINARY {
        return Err(ReadError::TooLarge {
            path: shown.into(),
            inner,
        });
    }
    // The header's size is only a claim: reserve little, grow with what arrives.
    let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
    entry
        .take(MAX_BINARY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Damaged {
            path: shown.into(),
            why: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_BINARY {
        return Err(ReadError::TooLarge {
            path: shown.into(),
            inner,
        });
    }
    Ok(FoundBinary {
        bytes,
        inner_path: Some(inner),
    })
}

/// `mlcremote` at the top or one folder down, as our archives have it.
fn is_binary_path(inner: &str) -> bool {
    let inner = inner.trim_start_matches("./");
    let parts: Vec<&str> = inner.split('/').filter(|p| !p.is_empty()).collect();
    matches!(parts.as_slice(), [name] | [_, name] if *name == BINARY_NAME)
}

/// Write `bytes` to `path` through a temp file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    // Temp files start private; a release file is for everyone to read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            archive_name("x86_64-unknown-linux-musl", Format::TarGz),
            "mlcremote-x86_64-unknown-linux-musl.tar.gz"
        );
        assert_eq!(
            triple_of("mlcremote-aarch64-apple-darwin.zip"),
            Some("aarch64-apple-darwin")
        );
        assert_eq!(triple_of("other-x.tar.gz"), None);
    }

    /// A binary and a text file, as an archive holds them.
    fn sample() -> [Entry<'static>; 2] {
        [
            Entry {
                name: "mlcremote",
                data: b"\x7fELF binary",
                mode: 0o755,
            },
            Entry {
                name: "README.md",
                data: b"read me",
                mode: 0o644,
            },
        ]
    }

    #[test]
    fn tar_gz_is_reproducible_and_readable() {
        let entries = sample();
        let a = write_tar_gz("mlcremote-t", &entries, 1_700_000_000).unwrap();
        let b = write_tar_gz("mlcremote-t", &entries, 1_700_000_000).unwrap();
        assert_eq!(a, b);
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "gzip mtime must be 0");
        assert_eq!(a[3] & 0x08, 0, "gzip header must carry no file name");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, &a).unwrap();
        let found = read_binary(&path).unwrap();
        assert_eq!(found.bytes, b"\x7fELF binary");
        assert_eq!(found.inner_path.as_deref(), Some("mlcremote-t/mlcremote"));

        let c = write_tar_gz("mlcremote-t", &entries, 1_700_000_001).unwrap();
        assert_ne!(a, c, "mtime must be part of the archive");
    }

    #[test]
    fn zip_is_reproducible_keeps_modes_and_is_readable() {
        let entries = sample();
        let a = write_zip("mlcremote-t", &entries, 1_732_406_400).unwrap();
        assert_eq!(a, write_zip("mlcremote-t", &entries, 1_732_406_400).unwrap());
        assert_ne!(a, write_zip("mlcremote-t", &entries, 1_832_406_400).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, &a).unwrap();
        let found = read_binary(&path).unwrap();
        assert_eq!(found.bytes, b"\x7fELF binary");
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let binary = zip.by_name("mlcremote-t/mlcremote").unwrap();
        assert_eq!(binary.unix_mode().map(|m| m & 0o777), Some(0o755));
        // Before zip's 1980 epoch: clamped, still deterministic.
        assert_eq!(
            write_zip("x", &entries, 1).unwrap(),
            write_zip("x", &entries, 1).unwrap()
        );
    }

    #[test]
    fn refuses_an_archive_without_the_binary() {
        let a = write_tar_gz(
            "x",
            &[Entry {
                name: "README.md",
                data: b"x",
                mode: 0o644,
            }],
            1,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar.gz");
        std::fs::write(&path, a).unwrap();
        assert!(
            read_binary(&path)
                .unwrap_err()
                .to_string()
                .contains("holds no `mlcremote`")
        );
    }

    #[test]
    fn a_file_named_like_an_archive_must_be_one() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.tar.gz");
        std::fs::write(&garbage, [0x13, 0x37, 0xc0, 0xde, 0x00]).unwrap();
        let err = read_binary(&garbage).unwrap_err().to_string();
        assert!(err.contains("is not a gzip-compressed tar archive"), "{err}");
        let zip = dir.path().join("x.zip");
        std::fs::write(&zip, b"").unwrap();
        let err = read_binary(&zip).unwrap_err().to_string();
        assert!(err.contains("is not a zip archive") && err.contains("empty"), "{err}");
        let truncated = dir.path().join("cut.tar.gz");
        let whole = write_tar_gz("mlcremote-t", &sample(), 1).unwrap();
        std::fs::write(&truncated, &whole[..whole.len() / 2]).unwrap();
        let err = read_binary(&truncated).unwrap_err().to_string();
        assert!(err.contains("is damaged"), "{err}");
    }

    #[test]
    fn binary_paths() {
        for ok in ["mlcremote", "./mlcremote", "mlcremote-x/mlcremote"] {
            assert!(is_binary_path(ok), "{ok}");
        }
        for no in ["a/b/mlcremote", "mlcremote-x/README.md", "mlcremote.prev"] {
            assert!(!is_binary_path(no), "{no}");
        }
    }
}
