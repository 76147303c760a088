//! Who may use the page (SPEC §9): the person who started the UI, in the browser it
//! opened, and no one else.
//!
//! - The launch token works once and is never on a command line: the browser is opened
//!   on a 0600 file that forwards to the launch URL ([`LaunchFile`]).
//! - The launch answers 303 to `/#key=<key>` and sets the cookie `mlcremote_ui_<port>`.
//!   Browsers send cookies to every port of a host, so the cookie alone proves nothing:
//!   every request but the page and its assets (static, the same for everyone) needs the
//!   key too, as `X-Mlcremote-Key` or, on a WebSocket, the subprotocol
//!   `mlcremote.key.<key>`. The key lives in the page's own origin's storage, which no
//!   other port can read.
//! - A foreign `Host` is refused (DNS rebinding), and so is a foreign `Origin` on anything
//!   that changes state or upgrades to a WebSocket.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use mlcremote_client::ssh::random_hex;

use crate::cli::ui::reply::error;

/// The header that carries the key on requests.
pub const KEY_HEADER: &str = "x-mlcremote-key";
/// The WebSocket subprotocol that carries the key (browsers cannot set headers there).
const KEY_PROTOCOL: &str = "mlcremote.key.";

/// What one start of the UI admits: the one-time launch token, the cookie and the key.
pub struct Access {
    /// `127.0.0.1:<port>` and `localhost:<port>`: the only `Host`s answered.
    hosts: [String; 2],
    /// The launch token, until it is used.
    launch: Mutex<Option<String>>,
    /// `mlcremote_ui_<port>`: two UIs on one machine never log each other out.
    cookie_name: String,
    cookie: String,
    key: String,
    /// The file the browser was opened on; removed once the launch is used.
    file: Mutex<Option<LaunchFile>>,
}

impl Access {
    pub fn new(port: u16) -> Access {
        Access {
            hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
            launch: Mutex::new(Some(random_hex(32))),
            cookie_name: format!("mlcremote_ui_{port}"),
            cookie: random_hex(32),
            key: random_hex(32),
            file: Mutex::new(None),
        }
    }

    /// The launch URL (printed on stdout, written into the launch file; never in argv).
    pub fn launch_url(&self) -> String {
        let token = lock(&self.launch).clone().unwrap_or_default();
        format!("http://{}/?launch={token}", self.hosts[0])
    }

    /// Keep the launch file until the launch is used (or the UI ends).
    pub fn keep_file(&self, file: LaunchFile) {
        *lock(&self.file) = Some(file);
    }

    /// The launch link: once, for the cookie and a redirect to `/#key=<key>` (the token
    /// leaves the address bar and the history; the fragment never reaches a server).
    fn exchange(&self, token: &str) -> Response {
        let mut launch = lock(&self.launch);
        let valid = launch.as_deref().is_some_and(|l| same(l.as_bytes(), token.as_bytes()));
        if !valid {
            return error(
                StatusCode::UNAUTHORIZED,
                "this launch link was used already or is wrong; start `cargo mlcremote ui` again for a new one",
            );
        }
        *launch = None;
        lock(&self.file).take();
        let cookie = format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            self.cookie_name, self.cookie
        );
        Response::builder()
            .status(StatusCode::SEE_OTHER)
            .header(header::LOCATION, format!("/#key={}", self.key))
            .header(header::SET_COOKIE, cookie)
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::empty())
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }

    fn has_cookie(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(name, v)| name == self.cookie_name && same(v.as_bytes(), self.cookie.as_bytes()))
    }

    /// The key, as a header or (WebSocket) as one of the offered subprotocols.
    fn has_key(&self, headers: &HeaderMap) -> bool {
        let header = headers
            .get_all(KEY_HEADER)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .any(|k| same(k.trim().as_bytes(), self.key.as_bytes()));
        header || self.offered_protocol(headers).is_some()
    }

    /// `mlcremote.key.<key>` among the WebSocket subprotocols the request offers.
    fn offered_protocol(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .find(|p| {
                p.strip_prefix(KEY_PROTOCOL)
                    .is_some_and(|k| same(k.as_bytes(), self.key.as_bytes()))
            })
            .map(str::to_string)
    }

    fn own_origin(&self, headers: &HeaderMap) -> bool {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()).unwrap_or("");
        self.hosts
            .iter()
            .any(|h| origin.strip_prefix("http://") == Some(h.as_str()))
    }
}

/// The rules of SPEC §9, before any route runs.
pub async fn guard(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if !access.hosts.iter().any(|h| h == host) {
        return error(
            StatusCode::FORBIDDEN,
            "this UI answers only http://127.0.0.1:<port> and http://localhost:<port>",
        );
    }
    let path = request.uri().path();
    if path == "/"
        && let Some(token) = query_value(request.uri().query(), "launch")
    {
        return access.exchange(&token);
    }
    // The page and its assets are the same bytes for everyone (they are in the binary)
    // and hold no secret: a navigation sends no key, and one that comes from elsewhere
    // (the launch file, a link) carries no `SameSite=Strict` cookie either. Everything
    // else needs both.
    let page =
        *request.method() == Method::GET && (path == "/" || path == "/markdown.html" || path.starts_with("/assets/"));
    let admitted = page || (access.has_cookie(headers) && access.has_key(headers));
    if !admitted {
        return error(
            StatusCode::UNAUTHORIZED,
            "open the link `cargo mlcremote ui` printed (it works once per start)",
        );
    }
    let upgrade = headers.contains_key(header::UPGRADE);
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD) || upgrade;
    if changes && !access.own_origin(headers) {
        return error(
            StatusCode::FORBIDDEN,
            "requests that change something must come from the UI's own page",
        );
    }
    let protocol = if upgrade {
        access.offered_protocol(headers)
    } else {
        None
    };
    let mut response = next.run(request).await;
    let upgraded = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    // A browser that offered subprotocols drops a WebSocket whose answer names none.
    if upgraded && let Some(value) = protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// The file the browser is opened on: a page that forwards to the launch URL, readable
/// by this user alone (0600, in the user's runtime or config dir), so the token is in no
/// process's argv (`/proc/<pid>/cmdline` is world-readable). Removed when dropped.
pub struct LaunchFile(tempfile::NamedTempFile);

impl LaunchFile {
    pub fn write(url: &str) -> std::io::Result<LaunchFile> {
        let dir = dirs::runtime_dir()
            .or_else(dirs::config_dir)
            .unwrap_or_else(std::env::temp_dir)
            .join("mlcremote");
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir)?;
        // tempfile creates it 0600 (on Windows, in the user's own profile).
        let mut file = tempfile::Builder::new()
            .prefix("ui-")
            .suffix("-open.html")
            .tempfile_in(&dir)?;
        std::io::Write::write_all(&mut file, launch_page(url).as_bytes())?;
        Ok(LaunchFile(file))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// The launch file's content: forward at once, with a link for a browser that does not.
fn launch_page(url: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={url}\"><title>mlcremote</title></head>\n\
         <body><p>Opening mlcremote… If nothing happens, <a href=\"{url}\">click here</a>.</p></body></html>\n"
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `name`'s value in a query string (values here are hex: no decoding needed).
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_key_and_protocol_each_by_this_uis_name() {
        let access = Access::new(4242);
        let mut headers = HeaderMap::new();
        let cookie = format!("a=1; mlcremote_ui_4243={}; b=2", access.cookie);
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(!access.has_cookie(&headers), "another port's cookie name");
        let cookie = format!("a=1; mlcremote_ui_4242={}; b=2", access.cookie);
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        assert!(access.has_cookie(&headers));

        assert!(!access.has_key(&headers));
        headers.insert(KEY_HEADER, HeaderValue::from_str(&access.cookie).unwrap());
        assert!(!access.has_key(&headers), "the cookie is not the key");
        headers.insert(KEY_HEADER, HeaderValue::from_str(&access.key).unwrap());
        assert!(access.has_key(&headers));

        let mut ws = HeaderMap::new();
        let offered = format!("chat, mlcremote.key.{}", access.key);
        ws.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(&offered).unwrap());
        assert_eq!(
            access.offered_protocol(&ws),
            Some(format!("mlcremote.key.{}", access.key))
        );
        ws.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("mlcremote.key.00"),
        );
        assert!(!access.has_key(&ws));
    }

    #[test]
    fn the_launch_file_is_the_users_alone_and_forwards_to_the_link() {
        let access = Access::new(1);
        let url = access.launch_url();
        let file = LaunchFile::write(&url).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(text.contains(&format!("content=\"0;url={url}\"")), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let path = file.path().to_path_buf();
        drop(file);
        assert!(!path.exists(), "removed with the UI");
    }

    #[test]
    fn queries() {
        assert_eq!(query_value(Some("x=1&launch=ff"), "launch").as_deref(), Some("ff"));
        assert_eq!(query_value(Some("launchx=1"), "launch"), None);
    }
}
