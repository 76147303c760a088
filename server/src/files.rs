//! The file API (SPEC §4). Every path is resolved beneath the root through directory
//! handles ([`crate::beneath`]): after `..`, percent-encoding and symlinks it must stay
//! inside, or the answer is 403, saying nothing about what lies outside. Names need not
//! be UTF-8: the `path` query is taken as bytes, and a listing gives such names as
//! `raw_path`, percent-encoded, to send back as they are.

use std::{
    ffi::OsStr,
    io::ErrorKind,
    os::{
        fd::{AsFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    sync::Arc,
};

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use rustix::{
    fs::{self as rfs, AtFlags, FileType, Mode, OFlags},
    io::Errno,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::{
    api::{ApiError, AppState},
    beneath::{Located, Refused},
    walk::Names,
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

pub(crate) fn refused(why: Refused) -> ApiError {
    match why {
        Refused::Outside => forbidden(),
        Refused::Nul => ApiError::new(StatusCode::BAD_REQUEST, "path contains a NUL byte"),
        Refused::TooManyLinks => ApiError::new(StatusCode::BAD_REQUEST, "too many symbolic links on the way"),
        Refused::Io(e) => io_error(e, "resolve"),
    }
}

pub(crate) fn io_error(err: std::io::Error, what: &str) -> ApiError {
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

pub(crate) fn errno(what: &'static str) -> impl Fn(Errno) -> ApiError {
    move |e| io_error(e.into(), what)
}

/// The `path` query value as bytes (`%XX` and `+` decoded), `""` when absent.
fn path_query(uri: &Uri) -> Vec<u8> {
    uri.query()
        .and_then(|q| crate::query::value(q, "path"))
        .unwrap_or_default()
}

/// Blocking file-system work, off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
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

pub(crate) fn percent_encode(bytes: &[u8]) -> String {
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

/// A file's version as `PUT` preconditions compare it: inode, size and mtime (to the
/// nanosecond). A save replaces the inode, so any write by anyone changes it.
#[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
pub fn etag(st: &rfs::Stat) -> String {
    format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        st.st_ino as u64, st.st_size, st.st_mtime, st.st_mtime_nsec
    )
}

fn stat_of(at: &Located) -> Result<rfs::Stat, Errno> {
    match &at.name {
        Some(name) => rfs::statat(&at.dir, name, AtFlags::SYMLINK_NOFOLLOW),
        None => rfs::fstat(&at.dir),
    }
}

/// The folder `at` names, opened for listing.
pub(crate) fn open_dir(at: &Located) -> Result<OwnedFd, Errno> {
    match &at.name {
        Some(name) => crate::walk::open_dir_at(at.dir.as_fd(), name),
        None => Ok(at.dir.try_clone().map_err(|_| Errno::MFILE)?),
    }
}

pub async fn tree(State(app): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> ApiResult<Response> {
    let at = locate(&app, path_query(&uri), true).await?;
    let gzip = mlcremote_contract::takes_gzip(
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let first = uri
        .query()
        .and_then(|q| crate::query::value(q, "first"))
        .and_then(|n| std::str::from_utf8(&n).ok()?.parse::<usize>().ok());
    // `then=all` beside `first=N`: one answer in two lines, the first N names (sent at
    // once) and then the whole listing; the page shows the first while the rest is made,
    // and the host makes them one after the other instead of side by side.
    let then_all = uri
        .query()
        .and_then(|q| crate::query::value(q, "then"))
        .is_some_and(|v| v == b"all");
    blocking(move || {
        let fd = open_dir(&at).map_err(errno("list"))?;
        let names = Names::read(&fd).map_err(errno("list"))?;
        let rel = at.rel;
        match first {
            None => json_packed(&whole(&fd, &rel, &names)?, gzip),
            Some(first) if !then_all => json_packed(&first_of(&fd, &rel, &names, first)?, gzip),
            Some(first) => {
                let part = serde_json::to_vec(&first_of(&fd, &rel, &names, first)?).map_err(cannot_answer)?;
                Ok(in_parts(gzip, move |out| {
                    out.write_all(&part)?;
                    out.write_all(b"\n")?;
                    out.flush()?;
                    let all = whole(&fd, &rel, &names).map_err(|e| std::io::Error::other(e.message))?;
                    serde_json::to_writer(&mut *out, &all)?;
                    out.write_all(b"\n")
                }))
            }
        }
    })
    .await
}

/// The whole listing, by name.
fn whole(fd: &OwnedFd, rel: &[u8], names: &Names) -> ApiResult<Vec<Entry>> {
    let names: Vec<_> = names.iter().map(|(name, _)| name).collect();
    let mut out = entries(fd, rel, &names)?;
    // Names in a folder are unique: an unstable sort gives the one order.
    out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `first=N`: the first N as the page shows them (folders, then files, each by name), for
/// a big folder's first screen before its whole listing. Where the listing says each
/// name's type, only those N are statted.
fn first_of(fd: &OwnedFd, rel: &[u8], names: &Names, first: usize) -> ApiResult<Vec<Entry>> {
    let mut names: Vec<_> = names.iter().collect();
    if names.len() > first && names.iter().all(|(_, kind)| *kind != FileType::Unknown) {
        names.select_nth_unstable_by(first, |(a, a_kind), (b, b_kind)| {
            (*a_kind != FileType::Directory, a).cmp(&(*b_kind != FileType::Directory, b))
        });
        names.truncate(first);
    }
    let names: Vec<_> = names.into_iter().map(|(name, _)| name).collect();
    let mut out = entries(fd, rel, &names)?;
    out.sort_unstable_by(|a, b| (a.kind != "dir", &a.name).cmp(&(b.kind != "dir", &b.name)));
    out.truncate(first);
    Ok(out)
}

/// A listing in parts, one JSON line each (`application/x-ndjson`), each part passed on
/// when `write` flushes it (gzipped, if `gzip`, with a flush after each part).
fn in_parts(
    gzip: bool,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + Send + 'static,
) -> Response {
    use std::io::{BufWriter, Write};
    const BUFFER: usize = 64 * 1024;
    let body = crate::body::stream_body(move |out| {
        if gzip {
            let packer = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
            let mut buffered = BufWriter::with_capacity(BUFFER, packer);
            write(&mut buffered)?;
            buffered.into_inner().map_err(|e| e.into_error())?.finish().map(drop)
        } else {
            let mut buffered = BufWriter::with_capacity(BUFFER, out);
            write(&mut buffered)?;
            buffered.flush()
        }
    });
    let mut response = crate::body::ndjson(body);
    if gzip {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
        headers.insert(header::VARY, header::HeaderValue::from_static("accept-encoding"));
    }
    response
}

fn cannot_answer(e: serde_json::Error) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot answer: {e}"))
}

/// A folder with at least this many names is statted on several threads.
const STAT_IN_PARALLEL_FROM: usize = 2048;

/// The entry of each of `names` in the folder `fd` (at `rel`); a name gone since it was
/// listed is left out. One stat call per name is most of a big folder's time (12,000
/// names here: listing and stat alone take 43 ms, the whole answer 54 ms on one core and
/// 43 ms on two), so a big folder's names are statted on as many threads as there are
/// cores, up to four.
fn entries(fd: &OwnedFd, rel: &[u8], names: &[&[u8]]) -> ApiResult<Vec<Entry>> {
    let some = |names: &[&[u8]]| -> Vec<Entry> {
        names
            .iter()
            .filter_map(|name| {
                let st = rfs::statat(fd, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW).ok()?;
                let mut path = rel.to_vec();
                if !path.is_empty() {
                    path.push(b'/');
                }
                path.extend_from_slice(name);
                Some(entry(&path, name, &st))
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(4);
    if names.len() < STAT_IN_PARALLEL_FROM || threads < 2 {
        return Ok(some(names));
    }
    let some = &some;
    std::thread::scope(|scope| {
        let parts: Vec<_> = names
            .chunks(names.len().div_ceil(threads))
            .map(|part| scope.spawn(move || some(part)))
            .collect();
        let mut out = Vec::with_capacity(names.len());
        for part in parts {
            out.extend(
                part.join()
                    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "listing the folder failed"))?,
            );
        }
        Ok(out)
    })
}

/// A JSON answer of at least this many bytes goes gzipped to a client that takes it.
const GZIP_FROM: usize = 4096;

/// `value` as JSON, gzipped (fastest level) if `gzip` and it is big enough to pay: a
/// listing of 12,000 names is about 1 MiB as JSON, a tenth of that gzipped, which over
/// a slow or windowed link is most of the time the page waits.
fn json_packed(value: &impl Serialize, gzip: bool) -> ApiResult<Response> {
    use std::io::Write;
    let body = serde_json::to_vec(value).map_err(cannot_answer)?;
    let json = (header::CONTENT_TYPE, "application/json");
    if gzip && body.len() >= GZIP_FROM {
        let mut packer = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 8), flate2::Compression::fast());
        if packer.write_all(&body).is_ok()
            && let Ok(packed) = packer.finish()
        {
            return Ok((
                [
                    json,
                    (header::CONTENT_ENCODING, "gzip"),
                    (header::VARY, "accept-encoding"),
                ],
                packed,
            )
                .into_response());
        }
    }
    Ok(([json], body).into_response())
}

pub async fn stat(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<Json<Entry>> {
    let at = locate(&app, path_query(&uri), false).await?;
    let st = stat_of(&at).map_err(errno("stat"))?;
    let name = at.name.as_ref().map_or(&[][..], |n| n.as_bytes());
    Ok(Json(entry(&at.rel, name, &st)))
}

/// Streamed: the file is never held in memory as a whole.
/// A `Range` of one span is honoured (206), so a viewer can page through or tail a file.
pub async fn read(State(app): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> ApiResult<Response> {
    let at = locate(&app, path_query(&uri), true).await?;
    let (file, size, tag) = blocking(move || {
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
        Ok((
            std::fs::File::from(fd),
            u64::try_from(st.st_size).unwrap_or(0),
            etag(&st),
        ))
    })
    .await?;
    use crate::query::{Ranged, byte_range};
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        Some(spec) => match byte_range(spec, size) {
            Ranged::Whole => None,
            Ranged::Part(start, end) => Some((start, end)),
            Ranged::Unsatisfiable => {
                return Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{size}"))],
                    Json(serde_json::json!({ "error": format!("the range is outside the file ({size} bytes)") })),
                )
                    .into_response());
            }
        },
        None => None,
    };
    let mut file = tokio::fs::File::from_std(file);
    let (status, length) = match range {
        Some((start, end)) => {
            use tokio::io::AsyncSeekExt;
            file.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(|e| io_error(e, "read"))?;
            (StatusCode::PARTIAL_CONTENT, end - start + 1)
        }
        None => (StatusCode::OK, size),
    };
    use tokio::io::AsyncReadExt;
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file.take(length),
        64 * 1024,
    ));
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            (header::ACCEPT_RANGES, "bytes".to_string()),
            (header::ETAG, tag),
        ],
        body,
    )
        .into_response();
    if let Some((start, end)) = range
        && let Ok(v) = format!("bytes {start}-{end}/{size}").parse()
    {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(response)
}

/// Written to a temp file beside the target, fsynced, then renamed over it: a reader
/// sees the old content or the new, never half of it. An existing file keeps its mode
/// (and owner and group, where allowed); missing folders on the way are made.
///
/// Preconditions, so a save never silently undoes someone else's: `create=1` (or
/// `If-None-Match: *`) answers 409 if the file exists (the final rename refuses to
/// replace, so a file made meanwhile is kept too); `If-Match: <etag>` answers 412 unless
/// the file is still the version the client read (checked before the body is taken and
/// again just before the rename). The answer carries the new version's `ETag`.
pub async fn write(State(app): State<Arc<AppState>>, uri: Uri, headers: HeaderMap, body: Body) -> ApiResult<Response> {
    let raw = path_query(&uri);
    let create = uri.query().and_then(|q| crate::query::value(q, "create")).as_deref() == Some(b"1")
        || headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == b"*");
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
    // Missing folders on the way are made, as "save as" into a new folder expects.
    let at = {
        let app = app.clone();
        blocking(move || app.root.locate_creating(&raw).map_err(refused)).await?
    };
    let at = Arc::new(at);
    let Some(name) = at.name.clone() else {
        return Err(ApiError::new(StatusCode::CONFLICT, "a directory is in the way"));
    };
    let tmp = format!(".{}.mlcremote-{:08x}", name.to_string_lossy(), rand_u32());
    let precondition = Arc::new(Precondition { create, if_match });
    let opened = {
        let (at, tmp, precondition) = (at.clone(), tmp.clone(), precondition.clone());
        blocking(move || {
            let existing = rfs::statat(&at.dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).ok();
            if existing.is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory) {
                return Err(ApiError::new(StatusCode::CONFLICT, "a directory is in the way"));
            }
            precondition.check(existing.as_ref())?;
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
            let written = result?;
            let name = at.name.as_deref().unwrap_or_default();
            if precondition.create {
                return match crate::walk::rename_new(&at.dir, tmp.as_ref(), &at.dir, name).map_err(errno("write"))? {
                    true => Ok(written),
                    false => Err(exists_already()),
                };
            }
            let now = rfs::statat(&at.dir, name, AtFlags::SYMLINK_NOFOLLOW).ok();
            precondition.check(now.as_ref())?;
            rfs::renameat(&at.dir, tmp.as_str(), &at.dir, name).map_err(errno("write"))?;
            Ok(written)
        })
        .await
    };
    if done.is_err() {
        let _ = blocking(move || Ok(rfs::unlinkat(&at.dir, tmp.as_str(), AtFlags::empty()))).await;
    }
    let written = done?;
    let status = if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    Ok((status, [(header::ETAG, etag(&written))]).into_response())
}

fn exists_already() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "the file exists already")
}

/// What a `PUT` requires of the file it replaces.
struct Precondition {
    create: bool,
    if_match: Option<String>,
}

impl Precondition {
    fn check(&self, existing: Option<&rfs::Stat>) -> ApiResult<()> {
        if self.create && existing.is_some() {
            return Err(exists_already());
        }
        if let Some(wanted) = &self.if_match {
            let now = existing.map(etag);
            if wanted != "*" && now.as_deref() != Some(wanted.as_str()) || wanted == "*" && now.is_none() {
                let why = if now.is_some() {
                    "the file changed since it was read"
                } else {
                    "the file is gone since it was read"
                };
                return Err(ApiError::new(StatusCode::PRECONDITION_FAILED, why));
            }
        }
        Ok(())
    }
}

/// The body into `file`, at most `limit` bytes; a body that falls silent for `idle`
/// ends here (a client that stalls or vanished holds no temp file for long). Returns the
/// written file's metadata (its version once renamed into place).
async fn stream_to(
    mut file: tokio::fs::File,
    mut body: Body,
    limit: u64,
    idle: std::time::Duration,
) -> ApiResult<rfs::Stat> {
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
    let file = file.into_std().await;
    rfs::fstat(&file).map_err(errno("write"))
}

pub(crate) fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}

pub(crate) fn root_itself(what: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, format!("the root itself cannot be {what}"))
}

/// A folder only when empty, unless `recursive=1` (then everything in it; links are
/// removed, never followed).
pub async fn delete(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<StatusCode> {
    let recursive = uri.query().and_then(|q| crate::query::value(q, "recursive")).as_deref() == Some(b"1");
    let at = locate(&app, path_query(&uri), false).await?;
    blocking(move || {
        let Some(name) = &at.name else {
            return Err(root_itself("deleted"));
        };
        if recursive {
            return crate::walk::remove_tree(at.dir.as_fd(), name).map_err(errno("delete"));
        }
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
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("bad JSON body: {e}")))
}

/// A path in a JSON body: as text (`"path"`), or, for a name that is not UTF-8, as the
/// listing gave it (`"raw_path"`: its bytes percent-encoded).
pub(crate) fn json_path(text: Option<String>, raw: Option<String>, field: &str) -> ApiResult<Vec<u8>> {
    match (raw, text) {
        (Some(raw), _) => Ok(crate::query::percent_decode_bytes(&raw)),
        (None, Some(text)) => Ok(text.into_bytes()),
        (None, None) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("bad JSON body: missing field `{field}`"),
        )),
    }
}

#[derive(Deserialize)]
pub struct RenameBody {
    from: Option<String>,
    raw_from: Option<String>,
    to: Option<String>,
    raw_to: Option<String>,
}

pub async fn rename(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let body: RenameBody = parse_json(&body)?;
    let from = locate(&app, json_path(body.from, body.raw_from, "from")?, false).await?;
    let to = locate(&app, json_path(body.to, body.raw_to, "to")?, false).await?;
    blocking(move || {
        let (Some(from_name), Some(to_name)) = (&from.name, &to.name) else {
            return Err(root_itself("renamed"));
        };
        if from.holds(&to) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "cannot move a folder into itself",
            ));
        }
        rfs::statat(&from.dir, from_name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno("rename"))?;
        match crate::walk::rename_new(&from.dir, from_name, &to.dir, to_name).map_err(errno("rename"))? {
            true => Ok(()),
            false => Err(ApiError::new(StatusCode::CONFLICT, "the destination exists")),
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
