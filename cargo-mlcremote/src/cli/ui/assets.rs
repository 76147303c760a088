//! The page and its files, embedded in the binary: our own plain ES modules, and the
//! browser libraries in `ui/vendor/` (pinned by version and sha256, see `refresh.sh`).
//! Nothing is fetched from anywhere else: `cargo build` needs no node, the page no CDN.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

/// Name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("../../../ui/app.js")),
    ("style.css", CSS, include_bytes!("../../../ui/style.css")),
    ("xterm.mjs", JS, include_bytes!("../../../ui/vendor/xterm.mjs")),
    ("xterm.css", CSS, include_bytes!("../../../ui/vendor/xterm.css")),
    ("addon-fit.mjs", JS, include_bytes!("../../../ui/vendor/addon-fit.mjs")),
];

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Scripts from this origin only (no inline script), no frames. Styles may be inline:
/// xterm.js writes its theme and cell sizes into a `<style>` element it creates.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                      connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        include_str!("../../../ui/index.html"),
    )
        .into_response()
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, bytes)) => ([(header::CONTENT_TYPE, *kind)], *bytes).into_response(),
        None => crate::cli::ui::reply::error(StatusCode::NOT_FOUND, "no such asset"),
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    /// Host text (names, output, logs) reaches the page as text: our script never hands a
    /// string to the HTML parser.
    #[test]
    fn the_page_never_parses_text_as_markup() {
        let app = include_str!("../../../ui/app.js");
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "DOMParser",
            "eval(",
        ] {
            assert!(!app.contains(sink), "ui/app.js uses {sink}");
        }
    }

    /// The embedded third-party files are the ones `ui/vendor/SHA256SUMS` pins.
    #[test]
    fn vendored_files_match_their_pinned_sums() {
        let sums = include_str!("../../../ui/vendor/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").expect("sha256sum format");
            let (_, _, bytes) = super::FILES
                .iter()
                .find(|(n, _, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is pinned but not embedded"));
            assert_eq!(hex::encode(sha2::Sha256::digest(bytes)), sum, "{name}");
            checked += 1;
        }
        assert_eq!(checked, 3);
    }
}
