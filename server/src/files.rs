//! The file API (SPEC §4). Every path is resolved beneath the root through directory
//! handles ([`crate::beneath`]): after `..`, percent-encoding and symlinks it must stay
//! inside, or the answer is 403, saying nothing about what lies outside. Names need not
//! be UTF-8: the `path` query is taken as bytes, and a listing gives such names as
//! `raw_path`, percent-encoded, to send back as they are.

use std::{
    ffi::OsStr,
    io::ErrorKind,
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    sync::Arc,
};

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use rustix::{
    fs::{self as rfs, AtFlags, FileType, Mode, OFlags, RenameFlags},
    io::Errno,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::{
    api::{ApiError, AppState},
    beneath::{Located, Refused},
};

type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug, Serialize)]
pub struct Entry {
    name: String,
    /// Relative to the root, `/`-separated; `""` is the root itself.
    path: String,
    /// For a path that is not UTF-8: its bytes percent-encoded, for `?path=` as is.
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_path: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    size: u64,
    mode: u32,
    mtime: i64,
}

fn forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "path is outside the root")
}

fn refused(why: Refused) -> ApiError {
    match why {
        Refused::Outside => forbidden(),
        Refused::Nul => ApiError::new(StatusCode::BAD_REQUEST, "path contains a NUL byte"),
        Refused::TooManyLinks => ApiError::new(StatusCode::BAD_REQUEST, "too many symbolic links on the way"),
        Refused::Io(e) => io_error(e, "resolve"),
    }
}

fn io_error(err: std::io::Error, what: &str) -> ApiError {
    let status = match err.kind() {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::DirectoryNotEmpty => StatusCode::CONFLICT,
        ErrorKind::IsADirectory | ErrorKind::NotADirectory => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let reason = match status {
        StatusCode::NOT_FOUND => "not found".to_string(),
        StatusCode::FORBIDDEN => "permission denied".to_string(),
        _ => err.to_string(),
    };
    ApiError::new(status, format!("{what}: {reason}"))
}

fn errno(what: &'static str) -> impl Fn(Errno) -> ApiError {
    move |e| io_error(e.into(), what)
}

/// The `path` query value as bytes (`%XX` and `+` decoded), `""` when absent.
fn path_query(uri: &Uri) -> Vec<u8> {
    uri.query()
        .and_then(|q| crate::query::value(q, "path"))
        .unwrap_or_default()
}

/// Blocking file-system work, off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the request failed"))?
}

async fn locate(app: &Arc<AppState>, raw: Vec<u8>, follow: bool) -> ApiResult<Located> {
    let app = app.clone();
    blocking(move || app.root.locate(&raw, follow).map_err(refused)).await
}

// `st_mode` is a u16 on macOS, a u32 on Linux: the conversions are for the former.
#[allow(clippy::useless_conversion)]
fn entry(rel: &[u8], name: &[u8], st: &rfs::Stat) -> Entry {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => "symlink",
        FileType::Directory => "dir",
        _ => "file",
    };
    let raw_path = std::str::from_utf8(rel).is_err().then(|| percent_encode(rel));
    Entry {
        name: String::from_utf8_lossy(name).into_owned(),
        path: String::from_utf8_lossy(rel).into_owned(),
        raw_path,
        kind,
        size: u64::try_from(st.st_size).unwrap_or(0),
        mode: u32::from(st.st_mode) & 0o7777,
        mtime: i64::from(st.st_mtime),
    }
}

fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(b) {
            out.push(char::from(*b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn stat_of(at: &Located) -> Result<rfs::Stat, Errno> {
    match &at.name {
        Some(name) => rfs::statat(&at.dir, name, AtFlags::SYMLINK_NOFOLLOW),
        None => rfs::fstat(&at.dir),
    }
}

/// The folder `at` names, opened for listing.
fn open_dir(at: &Located) -> Result<OwnedFd, Errno> {
    match &at.name {
        Some(name) => rfs::openat(
            &at.dir,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ),
        None => Ok(at.dir.try_clone().map_err(|_| Errno::MFILE)?),
    }
}

pub async fn tree(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<Json<Vec<Entry>>> {
    let at = locate(&app, path_query(&uri), true).await?;
    let entries = blocking(move || {
        let fd = open_dir(&at).map_err(errno("list"))?;
        let mut out = Vec::new();
        let mut dir = rfs::Dir::read_from(&fd).map_err(errno("list"))?;
        while let Some(item) = dir.read() {
            let item = item.map_err(errno("list"))?;
            let name = item.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            // Gone since it was listed: leave it out.
            let Ok(st) = rfs::statat(&fd, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            let mut rel = at.rel.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name);
            out.push(entry(&rel, name, &st));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    })
    .await?;
    Ok(Json(entries))
}

pub async fn stat(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<Json<Entry>> {
    let at = locate(&app, path_query(&uri), false).await?;
    let st = stat_of(&at).map_err(errno("stat"))?;
    let name = at.name.as_ref().map_or(&[][..], |n| n.as_bytes());
    Ok(Json(entry(&at.rel, name, &st)))
}

/// Streamed: the file is never held in memory as a whole.
pub async fn read(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<Response> {
    let at = locate(&app, path_query(&uri), true).await?;
    let (file, size) = blocking(move || {
        let Some(name) = &at.name else {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "is a directory; use /api/tree"));
        };
        // Non-blocking, so a FIFO cannot hold the request; the answer is refused below.
        let fd = rfs::openat(
            &at.dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno("open"))?;
        let st = rfs::fstat(&fd).map_err(errno("open"))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => {}
            FileType::Directory => {
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "is a directory; use /api/tree"));
            }
            _ => return Err(ApiError::new(StatusCode::BAD_REQUEST, "not a regular file")),
        }
        rfs::fcntl_setfl(&fd, OFlags::empty()).map_err(errno("open"))?;
        Ok((std::fs::File::from(fd), u64::try_from(st.st_size).unwrap_or(0)))
    })
    .await?;
    let file = tokio::fs::File::from_std(file);
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CONTENT_LENGTH, &size.to_string()),
        ],
        body,
    )
        .into_response())
}

/// Written to a temp file beside the target, fsynced, then renamed over it: a reader
/// sees the old content or the new, never half of it. An existing file keeps its mode
/// (and owner and group, where allowed); missing folders on the way are made.
pub async fn write(State(app): State<Arc<AppState>>, uri: Uri, body: Body) -> ApiResult<StatusCode> {
    // Missing folders on the way are made, as "save as" into a new folder expects.
    let raw = path_query(&uri);
    let at = {
        let app = app.clone();
        blocking(move || app.root.locate_creating(&raw).map_err(refused)).await?
    };
    let at = Arc::new(at);
    let Some(name) = at.name.clone() else {
        return Err(ApiError::new(StatusCode::CONFLICT, "a directory is in the way"));
    };
    let tmp = format!(".{}.mlcremote-{:08x}", name.to_string_lossy(), rand_u32());
    let opened = {
        let (at, tmp) = (at.clone(), tmp.clone());
        blocking(move || {
            let existing = rfs::statat(&at.dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).ok();
            if existing.is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory) {
                return Err(ApiError::new(StatusCode::CONFLICT, "a directory is in the way"));
            }
            // A new file gets 0666 less the umask, as any editor's would.
            let mode = if existing.is_some() { 0o600 } else { 0o666 };
            let fd = rfs::openat(
                &at.dir,
                tmp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(mode),
            )
            .map_err(errno("write"))?;
            if let Some(st) = existing {
                let _ = rfs::fchown(
                    &fd,
                    Some(rfs::Uid::from_raw(st.st_uid)),
                    Some(rfs::Gid::from_raw(st.st_gid)),
                );
                rfs::fchmod(&fd, Mode::from_raw_mode(st.st_mode & 0o7777)).map_err(errno("write"))?;
            }
            Ok((std::fs::File::from(fd), existing.is_some()))
        })
        .await
    };
    let (file, existed) = opened?;
    let result = stream_to(tokio::fs::File::from_std(file), body, app.max_upload, app.body_idle).await;
    let done = {
        let at = at.clone();
        let tmp = tmp.clone();
        blocking(move || {
            result?;
            let name = at.name.as_deref().unwrap_or_default();
            rfs::renameat(&at.dir, tmp.as_str(), &at.dir, name).map_err(errno("write"))
        })
        .await
    };
    if done.is_err() {
        let _ = blocking(move || Ok(rfs::unlinkat(&at.dir, tmp.as_str(), AtFlags::empty()))).await;
    }
    done?;
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

/// The body into `file`, at most `limit` bytes; a body that falls silent for `idle`
/// ends here (a client that stalls or vanished holds no temp file for long).
async fn stream_to(mut file: tokio::fs::File, mut body: Body, limit: u64, idle: std::time::Duration) -> ApiResult<()> {
    use http_body_util::BodyExt;
    let mut written = 0u64;
    loop {
        let Ok(next) = tokio::time::timeout(idle, body.frame()).await else {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("upload interrupted: no byte came for {} s", idle.as_secs()),
            ));
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("upload interrupted: {e}")))?;
        let Ok(chunk) = frame.into_data() else { continue };
        written += chunk.len() as u64;
        if written > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("larger than the {limit}-byte limit"),
            ));
        }
        file.write_all(&chunk).await.map_err(|e| io_error(e, "write"))?;
    }
    file.sync_all().await.map_err(|e| io_error(e, "write"))?;
    Ok(())
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}

fn root_itself(what: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, format!("the root itself cannot be {what}"))
}

pub async fn delete(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<StatusCode> {
    let at = locate(&app, path_query(&uri), false).await?;
    blocking(move || {
        let Some(name) = &at.name else {
            return Err(root_itself("deleted"));
        };
        let st = rfs::statat(&at.dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("delete"))?;
        let flags = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        rfs::unlinkat(&at.dir, name, flags).map_err(errno("delete"))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// JSON bodies are accepted whatever their Content-Type says; bad JSON is a 400.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

#[derive(Deserialize)]
pub struct RenameBody {
    from: String,
    to: String,
}

pub async fn rename(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let body: RenameBody = parse_json(&body)?;
    let from = locate(&app, body.from.into_bytes(), false).await?;
    let to = locate(&app, body.to.into_bytes(), false).await?;
    blocking(move || {
        let (Some(from_name), Some(to_name)) = (&from.name, &to.name) else {
            return Err(root_itself("renamed"));
        };
        let inside = to.rel.len() > from.rel.len() && to.rel.starts_with(&from.rel) && to.rel[from.rel.len()] == b'/';
        if inside {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "cannot move a folder into itself",
            ));
        }
        rfs::statat(&from.dir, from_name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("rename"))?;
        let exists = || ApiError::new(StatusCode::CONFLICT, "the destination exists");
        match rfs::renameat_with(&from.dir, from_name, &to.dir, to_name, RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(exists()),
            // A file system without "no replace": check, then rename.
            Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => {
                if rfs::statat(&to.dir, to_name, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                    return Err(exists());
                }
                rfs::renameat(&from.dir, from_name, &to.dir, to_name).map_err(errno("rename"))
            }
            Err(e) => Err(errno("rename")(e)),
        }
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct MkdirBody {
    path: String,
}

pub async fn mkdir(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let body: MkdirBody = parse_json(&body)?;
    let app = app.clone();
    blocking(move || {
        let at = app.root.locate_creating(body.path.as_bytes()).map_err(refused)?;
        let exists = || ApiError::new(StatusCode::CONFLICT, "it exists already");
        let Some(name) = &at.name else { return Err(exists()) };
        match rfs::mkdirat(&at.dir, name, Mode::from_raw_mode(0o777)) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => Err(exists()),
            Err(e) => Err(errno("mkdir")(e)),
        }
    })
    .await?;
    Ok(StatusCode::CREATED)
}
