//! Paths resolved beneath the root through directory handles, one name at a time.
//!
//! Checking a path string and then using it is a race: between the two, a folder can be
//! swapped for a link to anywhere. So nothing here follows a link by path. Each step is
//! `openat(dir, name, O_NOFOLLOW)` from a handle already inside the root; a link met on
//! the way is read and its target walked the same way (an absolute one must name a place
//! under the root); `..` drops our own last handle. A swap mid-request makes a step fail
//! or be walked as a link: it cannot lead outside. Portable to Linux and macOS (plain
//! `openat`, no `openat2`).

use std::{
    collections::VecDeque,
    ffi::{OsStr, OsString},
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::ffi::{OsStrExt, OsStringExt},
    },
    path::{Component, Path, PathBuf},
};

use rustix::{
    fs::{self as rfs, AtFlags, FileType, Mode, OFlags},
    io::Errno,
};

/// Links followed in one resolution, as the kernel allows (`ELOOP` beyond).
const MAX_LINKS: usize = 40;

/// Why a path cannot be used.
#[derive(Debug)]
pub enum Refused {
    /// It leads outside the root.
    Outside,
    /// It holds a NUL byte.
    Nul,
    /// More links than [`MAX_LINKS`] on the way.
    TooManyLinks,
    /// The file system said no (not found, not a folder, permission...).
    Io(std::io::Error),
}

impl From<Errno> for Refused {
    fn from(e: Errno) -> Refused {
        Refused::Io(e.into())
    }
}

/// The root every file request stays beneath: its handle and canonical path.
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
}

/// What a path names: a name in a folder we hold a handle to, or the root itself.
pub struct Located {
    /// The folder holding `name`; the root itself when `name` is `None`.
    pub dir: OwnedFd,
    pub name: Option<OsString>,
    /// Where it is, relative to the root, `/`-separated (a name need not be UTF-8).
    pub rel: Vec<u8>,
}

impl Located {
    /// Whether `other` lies inside this (a folder cannot be moved or copied into itself).
    pub fn holds(&self, other: &Located) -> bool {
        other.rel.len() > self.rel.len() && other.rel.starts_with(&self.rel) && other.rel[self.rel.len()] == b'/'
    }
}

impl Root {
    pub fn open(path: &Path) -> std::io::Result<Root> {
        let path = path.canonicalize()?;
        let fd = rfs::open(
            &path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd, path })
    }

    /// The canonical path (for the terminal's working folder).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `at` is as an absolute path (for tools that take paths: the search walker,
    /// the watcher); what it names is only known to be beneath the root when located.
    pub fn absolute(&self, at: &Located) -> PathBuf {
        match at.name {
            None => self.path.clone(),
            Some(_) => self
                .path
                .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&at.rel)),
        }
    }

    /// `raw`, relative to the root or absolute, resolved beneath the root. With `follow`,
    /// a link in the last place is followed too; without, it is what is named. The last
    /// name need not exist.
    pub fn locate(&self, raw: &[u8], follow: bool) -> Result<Located, Refused> {
        self.walk(raw, follow, false)
    }

    /// [`Root::locate`] following links, making the missing folders on the way (the last
    /// name is left to the caller).
    pub fn locate_creating(&self, raw: &[u8]) -> Result<Located, Refused> {
        self.walk(raw, true, true)
    }

    /// `raw` relative to the root. An absolute path must lead under the root: as written,
    /// or once the part of it that exists is resolved (`/home` may be a link). That lookup
    /// only finds where to start; the walk is what keeps a request inside.
    fn relative(&self, raw: &[u8]) -> Result<Vec<u8>, Refused> {
        if raw.contains(&0) {
            return Err(Refused::Nul);
        }
        if !raw.starts_with(b"/") {
            return Ok(raw.to_vec());
        }
        let lexical = lexical(Path::new(OsStr::from_bytes(raw)));
        let under = |p: &Path| {
            p.strip_prefix(&self.path)
                .ok()
                .map(|r| r.as_os_str().as_bytes().to_vec())
        };
        under(&lexical)
            .or_else(|| real_prefix(&lexical).and_then(|real| under(&real)))
            .ok_or(Refused::Outside)
    }

    fn walk(&self, raw: &[u8], follow: bool, create: bool) -> Result<Located, Refused> {
        let mut pending: VecDeque<Vec<u8>> = components(&self.relative(raw)?);
        // The folders entered below the root, each with its name.
        let mut stack: Vec<(OwnedFd, OsString)> = Vec::new();
        let mut links = 0;
        let mut retries = 0;
        loop {
            let Some(part) = pending.pop_front() else {
                // The path ends at a folder we hold: name it by its parent and name.
                return Ok(match stack.pop() {
                    None => Located {
                        dir: self.fd.try_clone().map_err(Refused::Io)?,
                        name: None,
                        rel: Vec::new(),
                    },
                    Some((_, name)) => self.located(&stack, name)?,
                });
            };
            if part == b".." {
                if stack.pop().is_none() {
                    return Err(Refused::Outside);
                }
                continue;
            }
            let name = OsString::from_vec(part);
            let last = pending.is_empty();
            if last && !follow {
                return self.located(&stack, name);
            }
            let top = top(&self.fd, &stack);
            let opened = rfs::openat(
                top,
                &name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            let why = match opened {
                Ok(fd) => {
                    stack.push((fd, name));
                    continue;
                }
                Err(e) => e,
            };
            // Not a folder we could enter: a link, a file, or nothing.
            match rfs::statat(top, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Refused::TooManyLinks);
                    }
                    let target = rfs::readlinkat(top, &name, Vec::new())?.into_bytes();
                    let target = if target.starts_with(b"/") {
                        stack.clear();
                        self.relative(&target)?
                    } else {
                        target
                    };
                    for part in components(&target).into_iter().rev() {
                        pending.push_front(part);
                    }
                }
                Ok(_) if last => return self.located(&stack, name),
                Ok(_) => return Err(Refused::Io(why.into())),
                Err(Errno::NOENT) if last => return self.located(&stack, name),
                Err(Errno::NOENT) if create && retries < MAX_LINKS => {
                    retries += 1;
                    match rfs::mkdirat(top, &name, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => pending.push_front(name.into_vec()),
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn located(&self, stack: &[(OwnedFd, OsString)], name: OsString) -> Result<Located, Refused> {
        let mut rel = Vec::new();
        for (_, dir) in stack {
            rel.extend_from_slice(dir.as_bytes());
            rel.push(b'/');
        }
        rel.extend_from_slice(name.as_bytes());
        Ok(Located {
            dir: top(&self.fd, stack).try_clone_to_owned().map_err(Refused::Io)?,
            name: Some(name),
            rel,
        })
    }
}

fn top<'a>(root: &'a OwnedFd, stack: &'a [(OwnedFd, OsString)]) -> BorrowedFd<'a> {
    stack.last().map_or(root.as_fd(), |(fd, _)| fd.as_fd())
}

/// The names of a `/`-separated path, without empty ones and `.`.
fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|b| *b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

/// `..` and `.` taken away by the letters (for an absolute path as written).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The existing part of `path` canonicalized, with the rest appended.
fn real_prefix(path: &Path) -> Option<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Some(missing.into_iter().rev().fold(real, |p: PathBuf, name| p.join(name)));
        }
        missing.push(existing.file_name()?.to_owned());
        existing = existing.parent()?;
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn rel(root: &Root, raw: &str, follow: bool) -> Result<String, String> {
        root.locate(raw.as_bytes(), follow)
            .map(|l| String::from_utf8_lossy(&l.rel).into_owned())
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn links_inside_are_walked_and_every_way_out_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().canonicalize().unwrap();
        let root_dir = base.join("root");
        std::fs::create_dir_all(root_dir.join("a/b")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        symlink("a/b", root_dir.join("to_b")).unwrap();
        symlink(root_dir.join("a"), root_dir.join("abs_a")).unwrap();
        symlink("../outside", root_dir.join("out_rel")).unwrap();
        symlink(base.join("outside"), root_dir.join("out_abs")).unwrap();
        symlink("loop", root_dir.join("loop")).unwrap();
        let root = Root::open(&root_dir).unwrap();

        assert_eq!(rel(&root, "a/b/new.txt", true).unwrap(), "a/b/new.txt");
        assert_eq!(rel(&root, "to_b/x", true).unwrap(), "a/b/x");
        assert_eq!(
            rel(&root, "to_b/../c", true).unwrap(),
            "a/c",
            "`..` after a link is physical"
        );
        assert_eq!(rel(&root, "abs_a/b", true).unwrap(), "a/b");
        assert_eq!(
            rel(&root, "to_b", false).unwrap(),
            "to_b",
            "not followed in the last place"
        );
        assert_eq!(rel(&root, "to_b", true).unwrap(), "a/b");
        assert_eq!(rel(&root, &format!("{}/a/b", root_dir.display()), true).unwrap(), "a/b");
        assert_eq!(rel(&root, "", true).unwrap(), "");
        assert_eq!(rel(&root, "a/..", true).unwrap(), "");
        for escape in [
            "..",
            "../outside",
            "a/../../outside",
            "out_rel/x",
            "out_abs/x",
            "/etc/passwd",
        ] {
            assert_eq!(rel(&root, escape, true).unwrap_err(), "Outside", "{escape}");
        }
        assert_eq!(rel(&root, "out_abs", true).unwrap_err(), "Outside");
        assert_eq!(
            rel(&root, "out_abs", false).unwrap(),
            "out_abs",
            "the link itself is inside"
        );
        assert_eq!(rel(&root, "loop/x", true).unwrap_err(), "TooManyLinks");
        assert_eq!(rel(&root, "a\0b", true).unwrap_err(), "Nul");
        assert!(root.locate(b"missing/x", true).is_err(), "a missing folder on the way");
        let made = root.locate_creating(b"new/deeper/x").unwrap();
        assert_eq!(made.rel, b"new/deeper/x");
        assert!(root_dir.join("new/deeper").is_dir());
    }

    /// Any path built from names, `..`, `.`, links to inside and outside, absolute
    /// prefixes: what it resolves to is inside the root, judged by the kernel's own
    /// name for the folder handle (`/proc/self/fd`), not by our bookkeeping.
    #[cfg(target_os = "linux")]
    mod confinement {
        use std::os::{fd::AsRawFd, unix::fs::symlink};

        use proptest::prelude::*;

        use super::super::Root;

        fn part() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec![
                "a", "b", "..", ".", "", "in", "in_abs", "out", "out_abs", "file", "loop", "new", "a/..", "//",
            ])
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn no_generated_path_escapes_the_root(
                parts in prop::collection::vec(part(), 0..8),
                prefix in prop::sample::select(vec!["", "@ROOT@/", "/", "/etc/", "@BASE@/"]),
                follow in any::<bool>(),
            ) {
                let tmp = tempfile::tempdir().unwrap();
                let base = tmp.path().canonicalize().unwrap();
                let root_dir = base.join("root");
                std::fs::create_dir_all(root_dir.join("a/b")).unwrap();
                std::fs::create_dir_all(base.join("outside")).unwrap();
                std::fs::write(root_dir.join("file"), "x").unwrap();
                symlink("a/b", root_dir.join("in")).unwrap();
                symlink(root_dir.join("a"), root_dir.join("in_abs")).unwrap();
                symlink("../outside", root_dir.join("out")).unwrap();
                symlink(base.join("outside"), root_dir.join("out_abs")).unwrap();
                symlink("loop", root_dir.join("loop")).unwrap();
                let root = Root::open(&root_dir).unwrap();
                let prefix = prefix
                    .replace("@ROOT@", &root_dir.to_string_lossy())
                    .replace("@BASE@", &base.to_string_lossy());
                let raw = format!("{prefix}{}", parts.join("/"));
                if let Ok(at) = root.locate(raw.as_bytes(), follow) {
                    let held = std::fs::read_link(format!("/proc/self/fd/{}", at.dir.as_raw_fd())).unwrap();
                    prop_assert!(held.starts_with(&root_dir), "{raw:?} → a handle on {held:?}");
                    if let Some(name) = &at.name {
                        prop_assert!(!name.is_empty() && name != ".." && !name.to_string_lossy().contains('/'));
                    }
                }
            }
        }
    }
}
