//! Walking and changing folders one handle at a time, beneath a handle already inside the
//! root: links are copied or removed as links, never followed. What the file API and the
//! file manager's requests share; errors are the system's, each caller names its step.

use std::{
    ffi::{OsStr, OsString},
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::ffi::OsStringExt,
    },
};

use rustix::{
    fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags},
    io::Errno,
};

pub fn open_dir_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// `name` in `dir` opened to read, never through a link.
pub fn open_file_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

pub fn names(dir: &OwnedFd) -> Result<Vec<OsString>, Errno> {
    let mut out = Vec::new();
    each_name(dir, |name, _| out.push(OsString::from_vec(name.to_vec())))?;
    Ok(out)
}

/// The names in a folder (but `.` and `..`), in the folder's order, with each one's type
/// as the listing says it (`Unknown` where the file system does not say). All in one
/// buffer: a folder of 12,000 names is two allocations, not 12,000 (with musl's
/// allocator those were about a third of reading the folder).
pub struct Names {
    bytes: Vec<u8>,
    /// Where each name ends in `bytes`, and its type.
    ends: Vec<(usize, FileType)>,
}

impl Names {
    pub fn read(dir: &OwnedFd) -> Result<Names, Errno> {
        let mut names = Names {
            bytes: Vec::new(),
            ends: Vec::new(),
        };
        each_name(dir, |name, kind| {
            names.bytes.extend_from_slice(name);
            names.ends.push((names.bytes.len(), kind));
        })?;
        Ok(names)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], FileType)> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|(end, _)| *end));
        starts
            .zip(&self.ends)
            .map(|(start, (end, kind))| (&self.bytes[start..*end], *kind))
    }
}

/// Each name in `dir` but `.` and `..`, with its type, in the folder's order.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn each_name(dir: &OwnedFd, mut each: impl FnMut(&[u8], FileType)) -> Result<(), Errno> {
    // Straight from the kernel's records in one buffer: `Dir` copies each name into an
    // allocation of its own, and reads a few dozen names a call. On a handle of its own,
    // as `Dir` does: `dir` may share its offset with others (the root's handle is
    // duplicated for each request), and reading moves it to the end.
    let own = rfs::openat(
        dir,
        c".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut buf = vec![std::mem::MaybeUninit::<u8>::uninit(); 64 * 1024];
    let mut list = rfs::RawDir::new(own, &mut buf);
    while let Some(item) = list.next() {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            each(name, item.file_type());
        }
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn each_name(dir: &OwnedFd, mut each: impl FnMut(&[u8], FileType)) -> Result<(), Errno> {
    let mut list = rfs::Dir::read_from(dir)?;
    while let Some(item) = list.read() {
        let item = item?;
        let name = item.file_name().to_bytes();
        if name != b"." && name != b".." {
            each(name, item.file_type());
        }
    }
    Ok(())
}

/// `name` in `dir`, and everything in it when it is a folder; links are removed, not followed.
pub fn remove_tree(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    let st = rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return rfs::unlinkat(dir, name, AtFlags::empty());
    }
    let inner = open_dir_at(dir, name)?;
    for child in names(&inner)? {
        remove_tree(inner.as_fd(), &child)?;
    }
    rfs::unlinkat(dir, name, AtFlags::REMOVEDIR)
}

/// `from` in `src` copied as `to` in `dst`: files with their bytes and mode, folders
/// with everything in them, links as links.
pub fn copy_tree(src: BorrowedFd<'_>, from: &OsStr, dst: BorrowedFd<'_>, to: &OsStr) -> Result<(), Errno> {
    let st = rfs::statat(src, from, AtFlags::SYMLINK_NOFOLLOW)?;
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            rfs::mkdirat(dst, to, Mode::from_raw_mode(0o700))?;
            let (inner_src, inner_dst) = (open_dir_at(src, from)?, open_dir_at(dst, to)?);
            for child in names(&inner_src)? {
                copy_tree(inner_src.as_fd(), &child, inner_dst.as_fd(), &child)?;
            }
            rfs::fchmod(&inner_dst, mode)
        }
        FileType::Symlink => {
            let target = rfs::readlinkat(src, from, Vec::new())?;
            rfs::symlinkat(target.as_c_str(), dst, to)
        }
        FileType::RegularFile => {
            let input = open_file_at(src, from)?;
            let output = rfs::openat(
                dst,
                to,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?;
            let (mut input, mut output) = (std::fs::File::from(input), std::fs::File::from(output));
            std::io::copy(&mut input, &mut output).map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
            output
                .sync_all()
                .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
            rfs::fchmod(&output, mode)
        }
        _ => Err(Errno::OPNOTSUPP),
    }
}

/// Rename, never over anything: `Ok(false)` when `to` exists (then nothing moved).
pub fn rename_new(from_dir: impl AsFd, from: &OsStr, to_dir: impl AsFd, to: &OsStr) -> Result<bool, Errno> {
    match rfs::renameat_with(&from_dir, from, &to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        // A file system without "no replace": check, then rename.
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
            if rfs::statat(&to_dir, to, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                return Ok(false);
            }
            rfs::renameat(&from_dir, from, &to_dir, to).map(|()| true)
        }
        Err(e) => Err(e),
    }
}
