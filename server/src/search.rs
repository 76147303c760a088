//! `GET /api/search` and `GET /api/find` (SPEC §4), on ripgrep's own crates: its walker
//! (`.gitignore`, `.ignore`, never `.git/`), its searcher (binary files skipped), and a
//! fuzzy matcher for quick open. Both stream NDJSON while they walk, end with a `done`
//! line, and stop at a limit of matches and of time (`"truncated":true`). Nothing outside
//! the root is read: links are not followed, and each file is checked to lie beneath the
//! root before it is opened.

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{StatusCode, Uri},
    response::Response,
};
use grep_matcher::Matcher;
use grep_regex::RegexMatcherBuilder;
use grep_searcher::{BinaryDetection, SearcherBuilder, sinks::Lossy};
use ignore::{WalkBuilder, overrides::OverrideBuilder};
use serde_json::json;

use crate::{
    api::{ApiError, AppState},
    body::{ToBody, ndjson, stream_body},
    files::{blocking, refused},
};

type ApiResult<T> = Result<T, ApiError>;

/// Files larger than this are not searched.
const MAX_FILE: u64 = 2 * 1024 * 1024;
/// A search ends after this many matches, or this long.
const MAX_MATCHES: usize = 2000;
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// A shown line is cut to this many characters.
const MAX_TEXT: usize = 400;
/// Quick open looks at this many files at most, and answers this many.
const MAX_NAMES: usize = 200_000;
const FOUND: usize = 50;

fn param(uri: &Uri, key: &str) -> Option<String> {
    let value = crate::query::value(uri.query()?, key)?;
    Some(String::from_utf8_lossy(&value).into_owned())
}

/// The folder `path` names (the root when empty), as an absolute path.
async fn folder(app: &Arc<AppState>, uri: &Uri) -> ApiResult<PathBuf> {
    let raw = uri
        .query()
        .and_then(|q| crate::query::value(q, "path"))
        .unwrap_or_default();
    let app = app.clone();
    blocking(move || {
        let at = app.root.locate(&raw, true).map_err(refused)?;
        let abs = app.root.absolute(&at);
        if !abs.is_dir() {
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "path is not a folder"));
        }
        Ok(abs)
    })
    .await
}

/// The walk both use: ignore files honoured even outside a git repository, hidden files
/// included but never `.git/`, links not followed.
fn walker(start: &Path, glob: Option<&str>) -> Result<ignore::Walk, ApiError> {
    let mut walk = WalkBuilder::new(start);
    walk.hidden(false)
        .follow_links(false)
        .require_git(false)
        .max_filesize(Some(MAX_FILE))
        .filter_entry(|e| e.file_name() != ".git");
    if let Some(glob) = glob.filter(|g| !g.is_empty()) {
        let mut only = OverrideBuilder::new(start);
        for g in glob.split(',').map(str::trim).filter(|g| !g.is_empty()) {
            only.add(g)
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("glob {g:?}: {e}")))?;
        }
        walk.overrides(
            only.build()
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("glob: {e}")))?,
        );
    }
    Ok(walk.build())
}

/// A walked file as the page names it (relative to the root), if it is a file beneath
/// the root, checked on the real path of its folder (a folder swapped for a link
/// mid-walk is skipped). `seen` keeps the last folder checked: a walk gives a folder's
/// files one after another, so most files cost no check of their own.
fn beneath(root: &Path, entry: &ignore::DirEntry, seen: &mut Option<(PathBuf, Option<PathBuf>)>) -> Option<String> {
    if !entry.file_type()?.is_file() {
        return None;
    }
    let parent = entry.path().parent()?;
    let real = match seen {
        Some((dir, real)) if dir == parent => real.clone(),
        _ => {
            let real = parent.canonicalize().ok().filter(|r| r.starts_with(root));
            *seen = Some((parent.to_path_buf(), real.clone()));
            real
        }
    }?;
    let rel = real.join(entry.file_name());
    Some(rel.strip_prefix(root).ok()?.to_string_lossy().into_owned())
}

/// A walked file opened to be read, and its name as the page knows it, if it is a file
/// beneath the root. Where it is is asked of the open file, not of its path: what is
/// read is what was checked, whatever is swapped meanwhile. The last part of the path
/// is not followed if it is a link.
fn open_beneath(root: &Path, entry: &ignore::DirEntry) -> Option<(std::fs::File, String)> {
    use rustix::fs::{Mode, OFlags};
    if !entry.file_type()?.is_file() {
        return None;
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    let file = std::fs::File::from(rustix::fs::open(entry.path(), flags, Mode::empty()).ok()?);
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let real = real_path(&file)?;
    let rel = real.strip_prefix(root).ok()?.to_string_lossy().into_owned();
    Some((file, rel))
}

/// Where an open file is.
#[cfg(target_os = "linux")]
fn real_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()
}

#[cfg(target_os = "macos")]
fn real_path(file: &std::fs::File) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    rustix::fs::getpath(file)
        .ok()
        .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p.as_bytes())))
}

fn line(out: &mut ToBody, value: &serde_json::Value) -> std::io::Result<()> {
    let mut text = value.to_string();
    text.push('\n');
    out.write_all(text.as_bytes())
}

/// `GET /api/search?q=&path=&regex=0|1&case=0|1&glob=`: `{"path","line","col","text"}`
/// a match, then `{"done":true,"files","matches","truncated"}`.
pub async fn search(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<Response> {
    let q = param(&uri, "q").unwrap_or_default();
    if q.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "q is empty: say what to search for",
        ));
    }
    let regex = param(&uri, "regex").as_deref() == Some("1");
    let case = param(&uri, "case").as_deref() == Some("1");
    let matcher = RegexMatcherBuilder::new()
        .case_insensitive(!case)
        .fixed_strings(!regex)
        .build(&q)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("not a regular expression: {e}")))?;
    let start = folder(&app, &uri).await?;
    let walk = walker(&start, param(&uri, "glob").as_deref())?;
    let root = app.root.path().to_path_buf();
    Ok(ndjson(stream_body(move |out| {
        let deadline = Instant::now() + TIME_LIMIT;
        let mut searcher = SearcherBuilder::new()
            .binary_detection(BinaryDetection::quit(0))
            .line_number(true)
            .build();
        let (mut files, mut matches, mut truncated) = (0u64, 0usize, false);
        for entry in walk.flatten() {
            if Instant::now() > deadline {
                truncated = true;
                break;
            }
            let Some((file, rel)) = open_beneath(&root, &entry) else {
                continue;
            };
            files += 1;
            let mut failed = None;
            let _ = searcher.search_file(
                &matcher,
                &file,
                Lossy(|number, text| {
                    let col = matcher
                        .find(text.as_bytes())
                        .ok()
                        .flatten()
                        .map_or(1, |m| text[..m.start()].chars().count() + 1);
                    let shown: String = text.trim_end_matches(['\n', '\r']).chars().take(MAX_TEXT).collect();
                    let sent = line(out, &json!({"path": rel, "line": number, "col": col, "text": shown}));
                    if let Err(e) = sent {
                        failed = Some(e);
                        return Ok(false);
                    }
                    matches += 1;
                    Ok(matches < MAX_MATCHES && Instant::now() <= deadline)
                }),
            );
            if let Some(e) = failed {
                return Err(e); // the client went away
            }
            if matches >= MAX_MATCHES || Instant::now() > deadline {
                truncated = true;
                break;
            }
        }
        line(
            out,
            &json!({"done": true, "files": files, "matches": matches, "truncated": truncated}),
        )
    })))
}

/// `GET /api/find?q=&path=`: the files whose path matches `q` best, fuzzily (quick open):
/// `{"path","score"}` each, best first, then `{"done":true,"files","truncated"}`.
pub async fn find(State(app): State<Arc<AppState>>, uri: Uri) -> ApiResult<Response> {
    use nucleo_matcher::{
        Config, Matcher as Fuzzy,
        pattern::{CaseMatching, Normalization, Pattern},
    };
    let q = param(&uri, "q").unwrap_or_default();
    let start = folder(&app, &uri).await?;
    let walk = walker(&start, None)?;
    let root = app.root.path().to_path_buf();
    Ok(ndjson(stream_body(move |out| {
        let deadline = Instant::now() + TIME_LIMIT;
        let mut names = Vec::new();
        let mut truncated = false;
        let mut seen = None;
        for entry in walk.flatten() {
            if names.len() >= MAX_NAMES || Instant::now() > deadline {
                truncated = true;
                break;
            }
            if let Some(rel) = beneath(&root, &entry, &mut seen) {
                names.push(rel);
            }
        }
        let files = names.len();
        let mut fuzzy = Fuzzy::new(Config::DEFAULT.match_paths());
        let pattern = Pattern::parse(&q, CaseMatching::Smart, Normalization::Smart);
        let mut found = pattern.match_list(names.iter(), &mut fuzzy);
        found.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then_with(|| a.0.len().cmp(&b.0.len()))
                .then_with(|| a.0.cmp(b.0))
        });
        for (path, score) in found.into_iter().take(FOUND) {
            line(out, &json!({"path": path, "score": score}))?;
        }
        line(out, &json!({"done": true, "files": files, "truncated": truncated}))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder swapped for a link to elsewhere after the walk named a file in it: the
    /// file is neither read nor named, whether opened (search) or only listed (quick open).
    #[test]
    fn a_folder_swapped_for_a_link_mid_walk_leads_nowhere_outside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.txt"), "mine\n").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("a.txt"), "secret\n").unwrap();
        let entry = walker(&root, None)
            .unwrap()
            .flatten()
            .find(|e| e.file_name() == "a.txt")
            .unwrap();
        let (_, rel) = open_beneath(&root, &entry).unwrap();
        assert_eq!(rel, "sub/a.txt");
        assert_eq!(beneath(&root, &entry, &mut None).as_deref(), Some("sub/a.txt"));

        std::fs::rename(root.join("sub"), root.join("was-sub")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("sub")).unwrap();
        assert!(open_beneath(&root, &entry).is_none());
        assert_eq!(beneath(&root, &entry, &mut None), None);
        // Nor does a file swapped for a link.
        std::fs::remove_file(root.join("sub")).unwrap();
        std::fs::rename(root.join("was-sub"), root.join("sub")).unwrap();
        std::fs::remove_file(root.join("sub/a.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("a.txt"), root.join("sub/a.txt")).unwrap();
        assert!(open_beneath(&root, &entry).is_none());
    }
}
