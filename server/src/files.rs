//! The file API (SPEC §4). Every path is confined to the root after resolving `..`,
//! percent-encoding (done by the query parser) and symlinks; an escape is 403 and says
//! nothing about what lies outside.

use std::{
    io::ErrorKind,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Component, Path, PathBuf},
    sync::Arc,
    time::UNIX_EPOCH,
};

use axum::{
    Json,
    body::Body,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::api::{ApiError, AppState};

type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize)]
pub struct PathQuery {
    #[serde(default)]
    path: String,
}

#[derive(Debug, Serialize)]
pub struct Entry {
    name: String,
    /// Relative to the root, `/`-separated; `""` is the root itself.
    path: String,
    #[serde(rename = "type")]
    kind: &'static str,
    size: u64,
    mode: u32,
    mtime: i64,
}

fn forbidden() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "path is outside the root")
}

/// Map `raw` (relative to the root, or absolute) to a path inside `root`, or refuse.
/// Everything up to the last component is resolved for real (symlinks included); the
/// last name is taken as it is, so a symlink there is itself what is stat'ed, removed
/// or renamed. Use [`locate_following`] to act on what it points to.
pub fn locate(root: &Path, raw: &str) -> ApiResult<PathBuf> {
    if raw.contains('\0') {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "path contains a NUL byte"));
    }
    let joined = if Path::new(raw).is_absolute() {
        PathBuf::from(raw)
    } else {
        root.join(raw)
    };
    let mut lexical = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                lexical.pop();
            }
            Component::CurDir => {}
            other => lexical.push(other),
        }
    }
    let located = match (lexical.parent(), lexical.file_name()) {
        (Some(parent), Some(name)) => real_prefix(parent)?.join(name),
        _ => lexical,
    };
    if located.starts_with(root) {
        Ok(located)
    } else {
        Err(forbidden())
    }
}

/// [`locate`], then follow a final symlink, whose target must be inside the root too.
pub fn locate_following(root: &Path, raw: &str) -> ApiResult<PathBuf> {
    let path = locate(root, raw)?;
    if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Ok(path);
    }
    match path.canonicalize() {
        Ok(target) if target.starts_with(root) => Ok(target),
        Ok(_) => Err(forbidden()),
        // A dangling link: acting on it acts on the link itself.
        Err(_) => Ok(path),
    }
}

/// Canonicalize the part of `path` that exists; what does not exist yet cannot be a link.
fn real_prefix(path: &Path) -> ApiResult<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            return Ok(missing.into_iter().rev().fold(real, |p, name| p.join(name)));
        }
        missing.push(existing.file_name().ok_or_else(forbidden)?.to_owned());
        existing = existing.parent().ok_or_else(forbidden)?;
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

fn entry(root: &Path, path: &Path) -> ApiResult<Entry> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_error(e, "stat"))?;
    let kind = if meta.file_type().is_symlink() {
        "symlink"
    } else if meta.is_dir() {
        "dir"
    } else {
        "file"
    };
    let relative = path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
    Ok(Entry {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: relative,
        kind,
        size: meta.len(),
        mode: meta.permissions().mode() & 0o7777,
        mtime: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(meta.mtime(), |d| d.as_secs() as i64),
    })
}

pub async fn tree(State(app): State<Arc<AppState>>, Query(q): Query<PathQuery>) -> ApiResult<Json<Vec<Entry>>> {
    let dir = locate_following(&app.root, &q.path)?;
    let root = app.root.clone();
    let entries = tokio::task::spawn_blocking(move || -> ApiResult<Vec<Entry>> {
        let mut out = Vec::new();
        for item in std::fs::read_dir(&dir).map_err(|e| io_error(e, "list"))? {
            let item = item.map_err(|e| io_error(e, "list"))?;
            out.push(entry(&root, &item.path())?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    })
    .await
    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "listing failed"))??;
    Ok(Json(entries))
}

pub async fn stat(State(app): State<Arc<AppState>>, Query(q): Query<PathQuery>) -> ApiResult<Json<Entry>> {
    let path = locate(&app.root, &q.path)?;
    Ok(Json(entry(&app.root, &path)?))
}

/// Streamed: the file is never held in memory as a whole.
pub async fn read(State(app): State<Arc<AppState>>, Query(q): Query<PathQuery>) -> ApiResult<Response> {
    let path = locate_following(&app.root, &q.path)?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| io_error(e, "open"))?;
    let meta = file.metadata().await.map_err(|e| io_error(e, "open"))?;
    if meta.is_dir() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "is a directory; use /api/tree"));
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CONTENT_LENGTH, &meta.len().to_string()),
        ],
        body,
    )
        .into_response())
}

/// Written to a temp file beside the target, fsynced, then renamed over it: a reader
/// sees the old content or the new, never half of it.
pub async fn write(State(app): State<Arc<AppState>>, Query(q): Query<PathQuery>, body: Body) -> ApiResult<StatusCode> {
    let target = locate_following(&app.root, &q.path)?;
    if tokio::fs::metadata(&target).await.is_ok_and(|m| m.is_dir()) {
        return Err(ApiError::new(StatusCode::CONFLICT, "a directory is in the way"));
    }
    let dir = target
        .parent()
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "no parent folder"))?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.mlcremote-{}", std::process::id() ^ rand_u32()));
    let result = stream_to(&tmp, body, app.max_upload).await;
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    let existed = tokio::fs::metadata(&target).await.is_ok();
    if let Err(e) = tokio::fs::rename(&tmp, &target).await {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(io_error(e, "write"));
    }
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

async fn stream_to(tmp: &Path, mut body: Body, limit: u64) -> ApiResult<()> {
    use http_body_util::BodyExt;
    let mut file = tokio::fs::File::create(tmp).await.map_err(|e| io_error(e, "write"))?;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
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

pub async fn delete(State(app): State<Arc<AppState>>, Query(q): Query<PathQuery>) -> ApiResult<StatusCode> {
    let path = locate(&app.root, &q.path)?;
    if path == app.root {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the root itself cannot be deleted",
        ));
    }
    let meta = tokio::fs::symlink_metadata(&path)
        .await
        .map_err(|e| io_error(e, "delete"))?;
    let result = if meta.is_dir() {
        tokio::fs::remove_dir(&path).await
    } else {
        tokio::fs::remove_file(&path).await
    };
    result.map_err(|e| io_error(e, "delete"))?;
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
    let from = locate(&app.root, &body.from)?;
    let to = locate(&app.root, &body.to)?;
    if from == app.root || to == app.root {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the root itself cannot be renamed",
        ));
    }
    tokio::fs::symlink_metadata(&from)
        .await
        .map_err(|e| io_error(e, "rename"))?;
    if tokio::fs::symlink_metadata(&to).await.is_ok() {
        return Err(ApiError::new(StatusCode::CONFLICT, "the destination exists"));
    }
    tokio::fs::rename(&from, &to).await.map_err(|e| io_error(e, "rename"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct MkdirBody {
    path: String,
}

pub async fn mkdir(State(app): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult<StatusCode> {
    let body: MkdirBody = parse_json(&body)?;
    let path = locate_following(&app.root, &body.path)?;
    if tokio::fs::symlink_metadata(&path).await.is_ok() {
        return Err(ApiError::new(StatusCode::CONFLICT, "it exists already"));
    }
    tokio::fs::create_dir_all(&path)
        .await
        .map_err(|e| io_error(e, "mkdir"))?;
    Ok(StatusCode::CREATED)
}
