//! The file manager's requests beyond read and write (SPEC §4): copy, chmod, delete of a
//! whole folder, and the trash (a delete that can be undone). Paths are resolved beneath
//! the root as in [`crate::files`]; a folder is walked one handle at a time, links are
//! copied or removed as links, never followed.

use std::{
    ffi::{OsStr, OsString},
    os::{
        fd::{AsFd, BorrowedFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    sync::Arc,
};

use axum::{Json, extract::State, http::StatusCode};
use rustix::{
    fs::{self as rfs, AtFlags, FileType, Mode, OFlags},
    io::Errno,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    api::{ApiError, AppState},
    body::stream_body,
    files::{blocking, errno, json_path, parse_json, percent_encode, rand_u32, refused, root_itself},
    walk::{copy_tree, names, open_dir_at, open_file_at, remove_tree, rename_new},
};

type ApiResult<T> = Result<T, ApiError>;

/// Put `tmp` (in `dir`) in place as `name`, refusing to replace anything (409).
fn place(dir: BorrowedFd<'_>, tmp: &OsStr, name: &OsStr) -> ApiResult<()> {
    match rename_new(dir, tmp, dir, name).map_err(errno("copy"))? {
        true => Ok(()),
        false => Err(ApiError::new(StatusCode::CONFLICT, "the destination exists")),
    }
}

#[derive(Deserialize)]
pub struct FromTo {
    from: Option<String>,
    raw_from: Option<String>,
    to: Option<String>,
    raw_to: Option<String>,
}

/// `POST /api/copy {"from","to"}`: a file or a whole folder, 409 if `to` exists. It is
/// copied under a temp name beside `to`, then renamed: never half a copy under `to`.
pub async fn copy(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let body: FromTo = parse_json(&body)?;
    blocking(move || {
        let from = json_path(body.from, body.raw_from, "from")?;
        let from = app.root.locate(&from, false).map_err(refused)?;
        let to = json_path(body.to, body.raw_to, "to")?;
        let to = app.root.locate_creating(&to).map_err(refused)?;
        let (Some(from_name), Some(to_name)) = (&from.name, &to.name) else {
            return Err(root_itself("copied"));
        };
        if from.holds(&to) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "cannot copy a folder into itself",
            ));
        }
        if rfs::statat(&to.dir, to_name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Err(ApiError::new(StatusCode::CONFLICT, "the destination exists"));
        }
        let tmp = OsString::from(format!(
            ".{}.mlcremote-copy-{:08x}",
            to_name.to_string_lossy(),
            rand_u32()
        ));
        let copied = copy_tree(from.dir.as_fd(), from_name, to.dir.as_fd(), &tmp)
            .map_err(errno("copy"))
            .and_then(|()| place(to.dir.as_fd(), &tmp, to_name));
        if copied.is_err() {
            let _ = remove_tree(to.dir.as_fd(), &tmp);
        }
        copied
    })
    .await?;
    Ok(StatusCode::CREATED)
}

#[derive(Deserialize)]
pub struct ChmodBody {
    path: Option<String>,
    raw_path: Option<String>,
    mode: u32,
}

/// `POST /api/chmod {"path","mode"}`: the permission bits (0..=0o7777) of what `path` names.
#[allow(clippy::useless_conversion)] // RawMode is a u16 on macOS
pub async fn chmod(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let body: ChmodBody = parse_json(&body)?;
    // The permission bits only (RawMode is a u16 on macOS, a u32 on Linux).
    let bits = match rfs::RawMode::try_from(body.mode) {
        Ok(bits) if body.mode <= 0o7777 => bits,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "mode must be at most 0o7777 (4095)",
            ));
        }
    };
    blocking(move || {
        let path = json_path(body.path, body.raw_path, "path")?;
        let at = app.root.locate(&path, false).map_err(refused)?;
        let Some(name) = &at.name else {
            return Err(root_itself("changed"));
        };
        let st = rfs::statat(&at.dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("chmod"))?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "a link has no mode of its own"));
        }
        set_mode(&at.dir, name, Mode::from_raw_mode(bits)).map_err(errno("chmod"))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The mode of `name` in `dir`, never through a link (one swapped in after the check
/// above is refused, not followed).
#[cfg(target_os = "linux")]
fn set_mode(dir: &OwnedFd, name: &OsStr, mode: Mode) -> Result<(), Errno> {
    // A path handle pins the file itself; its /proc name leads to exactly that file.
    let fd = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if FileType::from_raw_mode(rfs::fstat(&fd)?.st_mode) == FileType::Symlink {
        return Err(Errno::LOOP);
    }
    rfs::chmod(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)), mode)
}

#[cfg(not(target_os = "linux"))]
fn set_mode(dir: &OwnedFd, name: &OsStr, mode: Mode) -> Result<(), Errno> {
    rfs::chmodat(dir, name, mode, AtFlags::SYMLINK_NOFOLLOW)
}

/// The trash: `<dir>/<id>/` holds what was deleted, under its own name, and `info.json`
/// with where it was (`raw_path`, percent-encoded bytes) and when.
fn trash_dir(app: &AppState) -> ApiResult<OwnedFd> {
    let dir = app
        .trash
        .as_ref()
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "no trash: HOME is not set on the host"))?;
    std::fs::create_dir_all(dir).map_err(|e| crate::files::io_error(e, "trash"))?;
    rfs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(errno("trash"))
}

#[derive(Deserialize)]
pub struct PathBody {
    path: Option<String>,
    raw_path: Option<String>,
}

/// `POST /api/trash {"path"}` → `{"id"}`: moved to the trash, to come back with
/// `POST /api/untrash {"id"}`. On another file system than the trash: 409, delete
/// permanently instead.
pub async fn trash(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<Json<Value>> {
    let body: PathBody = parse_json(&body)?;
    blocking(move || {
        let path = json_path(body.path, body.raw_path, "path")?;
        let at = app.root.locate(&path, false).map_err(refused)?;
        let Some(name) = &at.name else {
            return Err(root_itself("deleted"));
        };
        rfs::statat(&at.dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("delete"))?;
        let trash = trash_dir(&app)?;
        let now = std::time::SystemTime::now();
        let secs = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let id = format!("{secs}-{:08x}", rand_u32());
        rfs::mkdirat(&trash, id.as_str(), Mode::from_raw_mode(0o700)).map_err(errno("trash"))?;
        let slot = open_dir_at(trash.as_fd(), OsStr::new(&id)).map_err(errno("trash"))?;
        let info = json!({ "raw_path": percent_encode(&at.rel), "deleted_at": crate::time::rfc3339(now) });
        let moved = write_info(&slot, &info).and_then(|()| match rfs::renameat(&at.dir, name, &slot, name) {
            Ok(()) => Ok(()),
            Err(Errno::XDEV) => Err(ApiError::new(
                StatusCode::CONFLICT,
                "it is on another file system than the trash: delete it permanently instead",
            )),
            Err(e) => Err(errno("trash")(e)),
        });
        if moved.is_err() {
            let _ = remove_tree(trash.as_fd(), OsStr::new(&id));
        }
        moved?;
        Ok(Json(json!({ "id": id })))
    })
    .await
}

fn write_info(slot: &OwnedFd, info: &Value) -> ApiResult<()> {
    let fd = rfs::openat(
        slot,
        "info.json",
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(errno("trash"))?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, info.to_string().as_bytes()).map_err(|e| crate::files::io_error(e, "trash"))
}

#[derive(Deserialize)]
pub struct IdBody {
    id: String,
}

/// `POST /api/untrash {"id"}` → `{"path"}`: back where it was (folders on the way made
/// again); 409 if something took its place meanwhile.
pub async fn untrash(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<Json<Value>> {
    let body: IdBody = parse_json(&body)?;
    if body.id.is_empty() || !body.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "not a trash id"));
    }
    blocking(move || {
        let trash = trash_dir(&app)?;
        let slot = open_dir_at(trash.as_fd(), OsStr::new(&body.id)).map_err(errno("untrash"))?;
        let info = {
            let fd = rfs::openat(
                &slot,
                "info.json",
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno("untrash"))?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text)
                .map_err(|e| crate::files::io_error(e, "untrash"))?;
            serde_json::from_str::<Value>(&text)
                .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "untrash: the trash entry is damaged"))?
        };
        let raw = crate::query::percent_decode_bytes(info["raw_path"].as_str().unwrap_or_default());
        let item = names(&slot)
            .map_err(errno("untrash"))?
            .into_iter()
            .find(|n| n.as_bytes() != b"info.json")
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "untrash: the trash entry is empty"))?;
        let to = app.root.locate_creating(&raw).map_err(refused)?;
        let Some(to_name) = &to.name else {
            return Err(root_itself("restored"));
        };
        if !rename_new(&slot, &item, &to.dir, to_name).map_err(errno("untrash"))? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "something else is in its place now",
            ));
        }
        let _ = remove_tree(trash.as_fd(), OsStr::new(&body.id));
        Ok(Json(json!({ "path": String::from_utf8_lossy(&to.rel) })))
    })
    .await
}

/// `GET /api/archive?path=`: the folder as a `.tar.gz`, streamed while it is walked
/// (never whole in memory), links stored as links, other special files left out. A file
/// that cannot be read ends the stream early: the download fails rather than lies.
pub async fn archive(State(app): State<Arc<AppState>>, uri: axum::http::Uri) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let raw = uri
        .query()
        .and_then(|q| crate::query::value(q, "path"))
        .unwrap_or_default();
    let (at, dir) = {
        let app = app.clone();
        blocking(move || {
            let at = app.root.locate(&raw, true).map_err(refused)?;
            let dir = crate::files::open_dir(&at).map_err(errno("archive"))?;
            Ok((at, dir))
        })
        .await?
    };
    let top = match &at.name {
        Some(name) => name.clone(),
        None => app
            .root
            .path()
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_os_string()),
    };
    let filename = format!("{}.tar.gz", top.to_string_lossy().replace(['"', '\\', '/'], "_"));
    let body = stream_body(move |out| {
        let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.mode(tar::HeaderMode::Deterministic);
        pack(&mut tar, dir.as_fd(), std::path::Path::new(&top))
            .and_then(|()| tar.into_inner())
            .and_then(|gz| gz.finish().map(drop))
    });
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/gzip".to_string()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Everything in `dir` into the archive under `at`.
// `st_mode` is a u16 on macOS, a u32 on Linux: the conversions are for the former.
#[allow(clippy::useless_conversion)]
fn pack<W: std::io::Write>(
    tar: &mut tar::Builder<W>,
    dir: BorrowedFd<'_>,
    at: &std::path::Path,
) -> std::io::Result<()> {
    let io = |e: Errno| std::io::Error::from(e);
    let st = rfs::fstat(dir).map_err(io)?;
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(u32::from(st.st_mode & 0o7777));
    header.set_size(0);
    tar.append_data(&mut header, at, std::io::empty())?;
    let owned = dir.try_clone_to_owned()?;
    let mut children = names(&owned).map_err(io)?;
    children.sort();
    for name in children {
        let path = at.join(&name);
        let st = rfs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW).map_err(io)?;
        let mut header = tar::Header::new_gnu();
        header.set_mode(u32::from(st.st_mode & 0o7777));
        header.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let inner = open_dir_at(dir, &name).map_err(io)?;
                pack(tar, inner.as_fd(), &path)?;
            }
            FileType::Symlink => {
                let target = rfs::readlinkat(dir, &name, Vec::new()).map_err(io)?;
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, &path, std::ffi::OsStr::from_bytes(target.as_bytes()))?;
            }
            FileType::RegularFile => {
                let file = std::fs::File::from(open_file_at(dir, &name).map_err(io)?);
                let len = file.metadata()?.len();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(len);
                // A file that grows while read is archived as long as it was.
                tar.append_data(&mut header, &path, std::io::Read::take(file, len))?;
            }
            _ => {}
        }
    }
    Ok(())
}
