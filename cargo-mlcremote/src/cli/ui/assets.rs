//! The page and its files, embedded in the binary (gzipped by build.rs): our own plain ES
//! modules, and the browser libraries in `ui/vendor/` (pinned by version and sha256, see
//! `refresh.sh` and `build-codemirror.sh`). Nothing is fetched from anywhere else:
//! `cargo build` needs no node, the page no CDN.

use axum::{
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

// FILES: every file of `ui/` and `ui/vendor/`, gzipped by build.rs.
include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// Scripts from this origin only (no inline script), frames only of the page's own blobs
/// (a PDF in the browser's viewer) and of the Markdown preview. Styles may be inline:
/// xterm.js writes its theme and cell sizes into a `<style>` element it creates.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                      connect-src 'self'; font-src 'self'; frame-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

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

/// The Markdown preview's page, shown in a frame sandboxed without same-origin: our one
/// script and stylesheet, nothing else (no images, no connections, no forms), and framed
/// only by our own page.
const PREVIEW_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; frame-ancestors 'self'; \
                              base-uri 'none'; form-action 'none'";

pub async fn markdown() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PREVIEW_POLICY),
        ],
        include_str!("../../../ui/markdown.html"),
    )
        .into_response()
}

/// Sent as stored, gzipped, to every browser (they all take gzip); a client that says
/// it does not gets the plain bytes.
pub async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((_, kind, packed, _)) = FILES.iter().find(|(n, ..)| *n == name) else {
        return crate::cli::ui::reply::error(StatusCode::NOT_FOUND, "no such asset");
    };
    let gzip = takes_gzip(&headers);
    let common = [
        (header::CONTENT_TYPE, *kind),
        (header::VARY, "Accept-Encoding"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    if gzip {
        return (common, [(header::CONTENT_ENCODING, "gzip")], *packed).into_response();
    }
    (common, unpack(packed)).into_response()
}

/// Whether the request's `Accept-Encoding` takes gzip.
pub fn takes_gzip(headers: &HeaderMap) -> bool {
    mlcremote_contract::takes_gzip(
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn unpack(packed: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    // Our own bytes, made by build.rs: they decompress (a test reads every one).
    let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(packed), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::{FILES, unpack};

    /// Host text (names, output, logs) reaches the page as text: our scripts never hand a
    /// string to the HTML parser.
    #[test]
    fn the_page_never_parses_text_as_markup() {
        let mut ours = 0;
        for (name, _, packed, _) in FILES.iter().filter(|f| !f.3 && f.0.ends_with(".js")) {
            let text = String::from_utf8(unpack(packed)).expect("UTF-8");
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "DOMParser",
                "eval(",
                "new Function",
            ] {
                assert!(!text.contains(sink), "ui/{name} uses {sink}");
            }
            ours += 1;
        }
        assert!(ours >= 5, "only {ours} of our scripts found");
    }

    /// The page asks for every module of its first screen at once (`modulepreload`), not
    /// one level of imports after another (three levels took about 60 ms on loopback):
    /// index.html names exactly what app.js imports, directly or not. Modules imported
    /// only when needed (`import(…)`: the editor) stay out.
    #[test]
    fn the_page_preloads_what_its_first_screen_imports() {
        let source = |name: &str| {
            let (_, _, packed, _) = FILES
                .iter()
                .find(|(n, ..)| *n == name)
                .unwrap_or_else(|| panic!("{name} is imported but not embedded"));
            String::from_utf8(unpack(packed)).expect("UTF-8")
        };
        let mut imported = std::collections::BTreeSet::new();
        let mut todo = vec!["app.js".to_string()];
        while let Some(name) = todo.pop() {
            let text = source(&name);
            const IMPORT: &str = "from \"/assets/";
            for (at, _) in text.match_indices(IMPORT) {
                let rest = &text[at + IMPORT.len()..];
                let module = rest[..rest.find('"').expect("a closing quote")].to_string();
                if imported.insert(module.clone()) {
                    todo.push(module);
                }
            }
        }
        let page = include_str!("../../../ui/index.html");
        let preloaded: std::collections::BTreeSet<String> = page
            .lines()
            .filter_map(|l| l.strip_prefix("<link rel=\"modulepreload\" href=\"/assets/"))
            .map(|l| l.split('"').next().unwrap_or_default().to_string())
            .collect();
        assert!(
            imported.contains("workspace.js") && !imported.contains("editor.js"),
            "{imported:?}"
        );
        assert_eq!(preloaded, imported, "index.html's modulepreload links");
    }

    /// The embedded third-party files are the ones `ui/vendor/SHA256SUMS` pins, and every
    /// script the page loads is embedded.
    #[test]
    fn vendored_files_match_their_pinned_sums() {
        let sums = include_str!("../../../ui/vendor/SHA256SUMS");
        let mut checked = 0;
        for line in sums.lines() {
            let (sum, name) = line.split_once("  ").expect("sha256sum format");
            let (_, _, packed, vendor) = FILES
                .iter()
                .find(|(n, ..)| *n == name)
                .unwrap_or_else(|| panic!("{name} is pinned but not embedded"));
            assert!(vendor, "{name}");
            assert_eq!(hex::encode(sha2::Sha256::digest(unpack(packed))), sum, "{name}");
            checked += 1;
        }
        assert_eq!(
            checked,
            FILES.iter().filter(|f| f.3).count(),
            "a vendored file is not pinned"
        );
        assert_eq!(checked, 4);
    }
}
