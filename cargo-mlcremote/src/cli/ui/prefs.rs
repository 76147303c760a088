//! What the page remembers between runs, in the client's config dir (never in the
//! browser: each run of the UI has its own port, so its own origin and storage): theme,
//! font size, and per host the folders open and the files open. No secrets go here.

use std::path::PathBuf;

use axum::{
    Json,
    body::Bytes,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use crate::cli::ui::reply::error;

/// Preferences are small; a page that sends more is wrong.
const MAX: usize = 64 * 1024;

/// `<config dir>/mlcremote/<name>`.
pub fn config_file(name: &str) -> Option<PathBuf> {
    Some(dirs::config_dir()?.join("mlcremote").join(name))
}

/// `value` into `file`, whole or not at all (temp file, then rename), readable by its owner only.
pub fn save_json(file: &std::path::Path, value: &impl serde::Serialize) -> std::io::Result<()> {
    let dir = file.parent().ok_or_else(|| std::io::Error::other("no folder"))?;
    std::fs::create_dir_all(dir)?;
    let text = serde_json::to_vec_pretty(value)?;
    let mut tmp = tempfile::Builder::new().prefix(".prefs-").tempfile_in(dir)?;
    std::io::Write::write_all(&mut tmp, &text)?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

pub async fn get() -> Response {
    let saved = config_file("ui-prefs.json")
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Default::default()));
    Json(saved).into_response()
}

pub async fn put(body: Bytes) -> Response {
    if body.len() > MAX {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "preferences are at most 64 KiB");
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "preferences must be JSON");
    };
    if !value.is_object() {
        return error(StatusCode::BAD_REQUEST, "preferences must be a JSON object");
    }
    let Some(file) = config_file("ui-prefs.json") else {
        return error(StatusCode::CONFLICT, "no config dir to keep preferences in");
    };
    match save_json(&file, &value) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot save preferences in {}: {e}", file.display()),
        ),
    }
}
