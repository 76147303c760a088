//! The file API and the terminal over real HTTP and a real WebSocket client.

use crate::common;

use std::{fs, os::unix::fs::symlink, time::Duration};

use common::{Server, request};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

struct Api {
    server: Server,
    token: String,
}

impl Api {
    fn start(extra: &[&str]) -> Api {
        let server = Server::start(extra);
        let token = fs::read_to_string(server.path("token")).unwrap().trim().to_string();
        fs::create_dir(server.path("root")).ok();
        Api { server, token }
    }

    fn call(&self, method: &str, path: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        let auth = format!("Bearer {}", self.token);
        request(self.server.port, method, path, &[("authorization", &auth)], body)
    }

    fn json(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let (status, body) = self.call(method, path, body.as_bytes().to_vec());
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }
}

/// The server's root is its temp dir (see common): files go in there.
fn root(api: &Api) -> std::path::PathBuf {
    api.server.dir.path().to_path_buf()
}

#[test]
fn every_api_and_ws_route_needs_the_token_in_a_header_or_ws_query() {
    let api = Api::start(&[]);
    let port = api.server.port;
    for path in [
        "/api/tree",
        "/api/stat?path=token",
        "/api/file?path=token",
        "/ws/terminal",
        "/ws/watch",
        "/api/terminals",
    ] {
        let (status, body) = request(port, "GET", path, &[], vec![]);
        assert_eq!(status, 401, "{path}");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"],
            "missing or wrong token"
        );
    }
    let wrong = format!("Bearer {}", "0".repeat(64));
    assert_eq!(
        request(port, "GET", "/api/tree", &[("authorization", &wrong)], vec![]).0,
        401
    );
    assert_eq!(
        request(port, "GET", "/api/tree", &[("x-auth-token", &api.token)], vec![]).0,
        200
    );
    assert_eq!(
        request(
            port,
            "GET",
            "/api/tree",
            &[("authorization", &format!("Bearer {}", api.token))],
            vec![]
        )
        .0,
        200
    );
    // ?token= is for WebSockets only: it would leak into proxies' logs elsewhere.
    assert_eq!(
        request(port, "GET", &format!("/api/tree?token={}", api.token), &[], vec![]).0,
        401
    );
    assert_eq!(request(port, "GET", "/nothing", &[], vec![]).0, 404);
}

#[test]
fn files_can_be_listed_read_written_renamed_and_deleted() {
    let api = Api::start(&[]);
    let dir = root(&api);
    assert_eq!(api.json("POST", "/api/mkdir", r#"{"path":"work/src"}"#).0, 201);
    assert_eq!(api.json("POST", "/api/mkdir", r#"{"path":"work/src"}"#).0, 409);
    assert_eq!(
        api.call("PUT", "/api/file?path=work/src/a.txt", b"hello".to_vec()).0,
        201
    );
    assert_eq!(
        api.call("PUT", "/api/file?path=work/src/a.txt", b"hello again".to_vec())
            .0,
        204
    );
    assert_eq!(fs::read(dir.join("work/src/a.txt")).unwrap(), b"hello again");
    // Into folders that do not exist yet: they are made (it was a 404).
    assert_eq!(
        api.call("PUT", "/api/file?path=notes/2026/hello.txt", b"hi".to_vec()).0,
        201
    );
    assert_eq!(fs::read(dir.join("notes/2026/hello.txt")).unwrap(), b"hi");
    assert_eq!(
        api.call("GET", "/api/file?path=work/src/a.txt", vec![]),
        (200, b"hello again".to_vec())
    );
    assert_eq!(api.call("GET", "/api/file?path=work/src", vec![]).0, 400);
    assert_eq!(api.call("GET", "/api/file?path=work/nope", vec![]).0, 404);

    let (status, tree) = api.json("GET", "/api/tree?path=work/src", "");
    assert_eq!(status, 200);
    assert_eq!(tree[0]["name"], "a.txt");
    assert_eq!(tree[0]["path"], "work/src/a.txt");
    assert_eq!(tree[0]["type"], "file");
    assert_eq!(tree[0]["size"], 11);
    assert!(tree[0]["mode"].as_u64().unwrap() > 0 && tree[0]["mtime"].as_i64().unwrap() > 1_700_000_000);
    let (_, stat) = api.json("GET", "/api/stat?path=work", "");
    assert_eq!(
        (stat["type"].as_str(), stat["name"].as_str()),
        (Some("dir"), Some("work"))
    );
    symlink("src/a.txt", dir.join("work/link")).unwrap();
    assert_eq!(api.json("GET", "/api/stat?path=work/link", "").1["type"], "symlink");
    assert_eq!(api.call("GET", "/api/file?path=work/link", vec![]).1, b"hello again");

    api.call("PUT", "/api/file?path=work/b.txt", b"b".to_vec());
    assert_eq!(
        api.json("POST", "/api/rename", r#"{"from":"work/src/a.txt","to":"work/b.txt"}"#)
            .0,
        409
    );
    assert_eq!(
        fs::read(dir.join("work/b.txt")).unwrap(),
        b"b",
        "409 must not overwrite"
    );
    assert_eq!(
        api.json("POST", "/api/rename", r#"{"from":"work/src/a.txt","to":"work/c.txt"}"#)
            .0,
        204
    );
    assert!(dir.join("work/c.txt").exists() && !dir.join("work/src/a.txt").exists());
    assert_eq!(api.call("DELETE", "/api/file?path=work/c.txt", vec![]).0, 204);
    assert_eq!(api.call("DELETE", "/api/file?path=work/c.txt", vec![]).0, 404);
    assert_eq!(api.call("DELETE", "/api/file?path=work", vec![]).0, 409, "not empty");
    let (status, body) = api.json("POST", "/api/rename", r#"{"from":"x"}"#);
    assert!((400..500).contains(&status), "{status} {body}");
}

#[test]
fn every_escape_is_403_and_reveals_nothing() {
    let api = Api::start(&[]);
    let dir = root(&api);
    symlink("/etc", dir.join("etc-link")).unwrap();
    symlink("/etc/hostname", dir.join("host-link")).unwrap();
    let attempts = [
        "GET /api/file?path=../../../../etc/hostname",
        "GET /api/file?path=/etc/hostname",
        "GET /api/file?path=%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fhostname",
        "GET /api/file?path=..%2F..%2F..%2F..%2F..%2Fetc%2Fhostname",
        "GET /api/file?path=host-link",
        "GET /api/file?path=etc-link/hostname",
        "GET /api/tree?path=etc-link",
        "GET /api/tree?path=/",
        "GET /api/stat?path=etc-link/hostname",
        "PUT /api/file?path=etc-link/mlcremote-was-here",
        "PUT /api/file?path=../mlcremote-was-here",
        "DELETE /api/file?path=../x",
        "DELETE /api/file?path=",
    ];
    let secret = fs::read_to_string("/etc/hostname").unwrap_or_default();
    for attempt in attempts {
        let (method, path) = attempt.split_once(' ').unwrap();
        let (status, body) = api.call(method, path, b"x".to_vec());
        assert_eq!(status, 403, "{attempt}: {}", String::from_utf8_lossy(&body));
        let body = String::from_utf8_lossy(&body);
        assert!(
            !secret.trim().is_empty() && !body.contains(secret.trim()),
            "{attempt} leaked: {body}"
        );
    }
    for body in [
        r#"{"from":"token","to":"../stolen"}"#,
        r#"{"from":"etc-link/hostname","to":"h"}"#,
    ] {
        assert_eq!(api.json("POST", "/api/rename", body).0, 403, "{body}");
    }
    assert_eq!(api.json("POST", "/api/mkdir", r#"{"path":"etc-link/x"}"#).0, 403);
    assert!(!std::path::Path::new("/etc/mlcremote-was-here").exists());
    // Inside the root, absolute paths are fine.
    let inside = format!("/api/file?path={}/token", dir.display());
    assert_eq!(api.call("GET", &inside, vec![]).0, 200);
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn put_keeps_the_mode_of_an_existing_file_and_a_new_file_gets_the_usual_one() {
    use std::os::unix::fs::PermissionsExt;
    let api = Api::start(&[]);
    let dir = root(&api);
    for (name, before) in [("key", 0o600), ("run.sh", 0o755), ("shared", 0o664)] {
        fs::write(dir.join(name), "old").unwrap();
        fs::set_permissions(dir.join(name), fs::Permissions::from_mode(before)).unwrap();
        assert_eq!(
            api.call("PUT", &format!("/api/file?path={name}"), b"new".to_vec()).0,
            204
        );
        assert_eq!(fs::read(dir.join(name)).unwrap(), b"new");
        assert_eq!(mode(&dir.join(name)), before, "{name} lost its mode");
    }
    // A new file: what any program here would make (0666 less the umask).
    fs::write(dir.join("made-here"), "x").unwrap();
    assert_eq!(api.call("PUT", "/api/file?path=new.txt", b"x".to_vec()).0, 201);
    assert_eq!(mode(&dir.join("new.txt")), mode(&dir.join("made-here")));
}

/// A folder swapped for a link to the outside, as fast as possible, while files are
/// read and written through it: not one request may reach the outside.
#[test]
fn swapping_a_folder_for_a_link_mid_request_never_reaches_outside() {
    let api = Api::start(&[]);
    let dir = root(&api);
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "OUTSIDE").unwrap();
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/secret"), "inside").unwrap();
    symlink(outside.path(), dir.join("sub-link")).unwrap();
    // The swapper exchanges `sub` and `sub-link` in one step (`RENAME_EXCHANGE`), so `sub`
    // is always there: a write's parent is never missing, which the server would make
    // afresh, and plain renames could not then put back. It stays in each state (`sub` the
    // folder, `sub` the link) until two more reads have ended: the second of them ran wholly
    // in that state. So reads meet both states and the swaps between, on any machine,
    // however it schedules.
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let reads = std::sync::Arc::new(AtomicU64::new(0));
    let swapper = {
        let (dir, stop, reads) = (dir.clone(), stop.clone(), reads.clone());
        std::thread::spawn(move || {
            let settle = || {
                let from = reads.load(Ordering::SeqCst);
                while reads.load(Ordering::SeqCst) < from + 2 && !stop.load(Ordering::SeqCst) {
                    std::thread::yield_now();
                }
            };
            let exchange = || {
                use rustix::fs::{CWD, RenameFlags, renameat_with};
                renameat_with(CWD, dir.join("sub"), CWD, dir.join("sub-link"), RenameFlags::EXCHANGE)
                    .expect("exchange sub and sub-link")
            };
            let mut swaps = 0u64;
            while !stop.load(Ordering::SeqCst) {
                exchange();
                settle();
                exchange();
                settle();
                swaps += 1;
            }
            swaps
        })
    };
    let (mut leaked, mut written, mut ok) = (0, 0, 0);
    for i in 0..600 {
        let (status, body) = api.call("GET", "/api/file?path=sub/secret", vec![]);
        reads.fetch_add(1, Ordering::SeqCst);
        if body == b"OUTSIDE" {
            leaked += 1;
        }
        if status == 200 {
            ok += 1;
        }
        let (status, _) = api.call("PUT", &format!("/api/file?path=sub/w{i}"), b"w".to_vec());
        if status == 201 && outside.path().join(format!("w{i}")).exists() {
            written += 1;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let swaps = swapper.join().unwrap();
    let outside_files: Vec<_> = fs::read_dir(outside.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        (leaked, written),
        (0, 0),
        "{swaps} swaps; outside now holds {outside_files:?}"
    );
    assert_eq!(outside_files, ["secret"], "something was written outside");
    // 600 reads, four a swap at the most: at least 150 swaps, and a read in each state.
    assert!(
        ok > 0 && swaps >= 100,
        "the race did not run: {ok} reads ok, {swaps} swaps"
    );
}

#[test]
fn names_that_are_not_utf8_can_be_listed_read_copied_renamed_trashed_and_deleted() {
    use std::os::unix::ffi::OsStrExt;
    let api = Api::start(&[]);
    let dir = root(&api);
    fs::create_dir(dir.join("odd")).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    fs::write(dir.join("odd").join(name), "latin-1").unwrap();
    let (status, tree) = api.json("GET", "/api/tree?path=odd", "");
    assert_eq!(status, 200, "{tree}");
    let raw = tree[0]["raw_path"].as_str().unwrap_or_default().to_string();
    assert_eq!(raw, "odd/caf%E9.txt", "{tree}");
    assert_eq!(
        api.call("GET", &format!("/api/file?path={raw}"), vec![]),
        (200, b"latin-1".to_vec())
    );
    // In JSON bodies too, as `raw_*`: copy, chmod, rename, trash and back.
    let (status, body) = api.json(
        "POST",
        "/api/copy",
        &format!(r#"{{"raw_from":"{raw}","raw_to":"odd/copie%E9.txt"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        fs::read(dir.join("odd").join(std::ffi::OsStr::from_bytes(b"copie\xe9.txt"))).unwrap(),
        b"latin-1"
    );
    let (status, _) = api.json("POST", "/api/chmod", &format!(r#"{{"raw_path":"{raw}","mode":384}}"#));
    assert_eq!(status, 204);
    assert_eq!(mode(&dir.join("odd").join(name)), 0o600);
    let (status, _) = api.json(
        "POST",
        "/api/rename",
        &format!(r#"{{"raw_from":"{raw}","to":"odd/plain.txt"}}"#),
    );
    assert_eq!(status, 204);
    let (status, body) = api.json("POST", "/api/trash", r#"{"path":"odd/plain.txt"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.json("POST", "/api/trash", r#"{"raw_path":"odd/copie%E9.txt"}"#);
    assert_eq!(status, 200, "{body}");
    let (status, _) = api.json(
        "POST",
        "/api/untrash",
        &format!(r#"{{"id":"{}"}}"#, body["id"].as_str().unwrap()),
    );
    assert_eq!(status, 200);
    let raw = "odd/copie%E9.txt";
    assert_eq!(api.call("DELETE", &format!("/api/file?path={raw}"), vec![]).0, 204);
    assert!(fs::read_dir(dir.join("odd")).unwrap().next().is_none());
    let (status, body) = api.json("POST", "/api/trash", r#"{"nothing":1}"#);
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (400, "bad JSON body: missing field `path`")
    );
}

#[test]
fn a_folder_moved_into_itself_and_a_fifo_read_are_clear_errors() {
    let api = Api::start(&[]);
    let dir = root(&api);
    assert_eq!(api.json("POST", "/api/mkdir", r#"{"path":"a/b"}"#).0, 201);
    let (status, body) = api.json("POST", "/api/rename", r#"{"from":"a","to":"a/b/c"}"#);
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap_or_default().contains("into itself"),
        "{body}"
    );
    assert!(dir.join("a/b").is_dir());
    // Reading a FIFO would wait for a writer for ever: refused at once.
    harness_mkfifo(&dir.join("pipe"));
    let (status, body) = api.json("GET", "/api/file?path=pipe", "");
    assert_eq!(status, 400, "{body}");
}

fn harness_mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn put_is_atomic_for_a_multi_megabyte_file_and_bounded_in_size() {
    let api = Api::start(&["--max-upload-mib", "16"]);
    let dir = root(&api);
    let big: Vec<u8> = (0..12 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    assert_eq!(api.call("PUT", "/api/file?path=big.bin", big.clone()).0, 201);
    assert_eq!(fs::read(dir.join("big.bin")).unwrap(), big);
    assert_eq!(api.call("GET", "/api/file?path=big.bin", vec![]).1, big);

    let too_big = vec![7u8; 17 * 1024 * 1024];
    let (status, body) = api.call("PUT", "/api/file?path=big.bin", too_big);
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        fs::read(dir.join("big.bin")).unwrap(),
        big,
        "a refused upload must leave the old file"
    );
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains("mlcremote-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// An upload that falls silent ends (408) and its temp file goes: a client that stalls
/// or vanished mid-upload holds nothing on the host for long.
#[test]
fn a_silent_upload_ends_and_leaves_no_temp_file() {
    use std::io::{Read, Write};
    let api = Api::start(&["--body-idle-secs", "2"]);
    let dir = root(&api);
    fs::write(dir.join("kept.txt"), "before").unwrap();
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", api.server.port)).unwrap();
    write!(
        tcp,
        "PUT /api/file?path=kept.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Length: 1073741824\r\n\r\n",
        api.token
    )
    .unwrap();
    tcp.write_all(&[b'x'; 1024]).unwrap();
    // The upload has begun once its temp file is there.
    let temp = || {
        fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("mlcremote-"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !temp() {
        assert!(std::time::Instant::now() < deadline, "the upload never began");
        std::thread::yield_now();
    }
    // Then nothing more: the server answers by itself.
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
        let n = tcp.read(&mut buf).expect("the server never ended the silent upload");
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(!temp(), "the temp file stayed");
    assert_eq!(fs::read_to_string(dir.join("kept.txt")).unwrap(), "before");
}

#[test]
fn requests_are_logged_without_query_or_token() {
    let api = Api::start(&[]);
    api.call("GET", "/api/stat?path=token", vec![]);
    request(
        api.server.port,
        "GET",
        &format!("/ws/terminal?token={}", api.token),
        &[],
        vec![],
    );
    std::thread::sleep(Duration::from_millis(100));
    let log = api.server.log();
    assert!(log.contains("INFO GET /api/stat 200"), "{log}");
    assert!(log.contains("GET /ws/terminal"), "{log}");
    assert!(!log.contains(&api.token) && !log.contains("path=token"), "{log}");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A terminal socket, new or attached to `session`; its first frame (the session id).
async fn open_terminal(api: &Api, query: &str) -> (Socket, String) {
    let url = format!(
        "ws://127.0.0.1:{}/ws/terminal?token={}&shell=/bin/sh{query}",
        api.server.port, api.token
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("no first frame");
    let Some(Ok(Message::Text(text))) = first else {
        panic!("the first frame is not the session: {first:?}")
    };
    let hello: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
    assert_eq!(hello["type"], "session", "{hello}");
    (ws, hello["id"].as_str().unwrap().to_string())
}

/// The next text frame (control), skipping output; bounded.
async fn next_control(ws: &mut Socket) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(text.as_str()).unwrap(),
                Some(Ok(_)) => {}
                other => panic!("the socket ended without a control frame: {other:?}"),
            }
        }
    })
    .await
    .expect("no control frame")
}

fn sessions(api: &Api) -> Vec<serde_json::Value> {
    let (status, list) = api.json("GET", "/api/terminals", "");
    assert_eq!(status, 200, "{list}");
    list.as_array().unwrap().clone()
}

/// Until `/api/terminals` says `check`, bounded.
fn wait_sessions(api: &Api, what: &str, check: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let list = sessions(api);
        if check(&list) {
            return list;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {list:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_gone(pid: u32, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_terminal_session_outlives_its_socket_and_ends_only_when_deleted() {
    let api = Api::start(&[]);
    let rt = runtime();
    let go = root(&api).join("go");
    let (id, shell, job, waiter) = rt.block_on(async {
        let (mut ws, id) = open_terminal(&api, "&cols=100&rows=30").await;
        ws.send(Message::Binary(b"echo hello-$((6*7)) shell=$((0+$$))x\n".to_vec().into()))
            .await
            .unwrap();
        let screen = wait_for(&mut ws, |screen| tagged_pid(screen, "shell=").is_some()).await;
        assert!(screen.contains("hello-42"), "{screen}");
        let shell = tagged_pid(&screen, "shell=").unwrap();
        ws.send(Message::Binary(b"stty size\n".to_vec().into())).await.unwrap();
        wait_for(&mut ws, |screen| screen.contains("30 100")).await;
        ws.send(Message::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into()))
            .await
            .unwrap();
        ws.send(Message::Binary(b"stty size\n".to_vec().into())).await.unwrap();
        wait_for(&mut ws, |screen| screen.contains("40 120")).await;
        // A background job (a process group of its own), and one that prints once the
        // test says so, which will be while no socket is attached.
        ws.send(Message::Binary(
            format!(
                "sleep 1000 & echo job=$((0+$!))x; (while [ ! -e '{}' ]; do sleep 0.05; done; echo after-$((3+4))) & echo waiter=$((0+$!))x\n",
                go.display()
            )
            .into_bytes()
            .into(),
        ))
        .await
        .unwrap();
        let screen = wait_for(&mut ws, |screen| tagged_pid(screen, "waiter=").is_some()).await;
        ws.close(None).await.unwrap();
        (
            id,
            shell,
            tagged_pid(&screen, "job=").unwrap(),
            tagged_pid(&screen, "waiter=").unwrap(),
        )
    });

    // Detached: listed, the shell and its job still running.
    let list = wait_sessions(&api, "never detached", |l| l.len() == 1 && l[0]["attached"] == false);
    let row = &list[0];
    assert_eq!(row["id"], id.as_str());
    assert_eq!(row["pid"], shell);
    assert_eq!(row["command"], "/bin/sh");
    assert_eq!(
        (row["cols"].as_u64(), row["rows"].as_u64()),
        (Some(120), Some(40)),
        "{row}"
    );
    assert!(row["started_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{row}");
    assert!(alive(shell) && alive(job), "the shell or its job ended with the socket");
    // Output made while detached is kept.
    fs::write(&go, "").unwrap();
    wait_gone(waiter, "the waiting job");

    rt.block_on(async {
        // Attached again: the same session, what it printed (before and while detached)
        // first, then the same shell, live.
        let (mut ws, again) = open_terminal(&api, &format!("&session={id}")).await;
        assert_eq!(again, id);
        let screen = wait_for(&mut ws, |screen| screen.contains("after-7")).await;
        assert!(screen.contains("hello-42"), "the replay lost the start: {screen}");
        ws.send(Message::Binary(b"echo same=$((0+$$))x\n".to_vec().into()))
            .await
            .unwrap();
        let screen = wait_for(&mut ws, |screen| tagged_pid(screen, "same=").is_some()).await;
        assert_eq!(tagged_pid(&screen, "same=").unwrap(), shell);

        // A second socket takes the session over; the first is told.
        let (mut other, _) = open_terminal(&api, &format!("&session={id}")).await;
        assert_eq!(next_control(&mut ws).await["type"], "taken");
        other.close(None).await.unwrap();
    });

    // Deleted: the shell and its job end, and the session is gone.
    let (status, _) = api.call("DELETE", &format!("/api/terminals/{id}"), vec![]);
    assert_eq!(status, 204);
    wait_gone(shell, "the deleted session's shell");
    wait_gone(job, "the deleted session's background job");
    wait_sessions(&api, "the deleted session is still listed", <[_]>::is_empty);
    let (status, _) = api.call("DELETE", &format!("/api/terminals/{id}"), vec![]);
    assert_eq!(status, 404);
    let (status, _) = request(
        api.server.port,
        "GET",
        &format!("/ws/terminal?token={}&session={id}", api.token),
        &[
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ],
        vec![],
    );
    assert_eq!(status, 404, "an ended session can be attached to");
}

#[test]
fn a_shell_that_exits_ends_its_session_and_nothing_respawns() {
    let api = Api::start(&[]);
    let rt = runtime();
    rt.block_on(async {
        let (mut ws, _) = open_terminal(&api, "").await;
        ws.send(Message::Binary(b"exit 3\n".to_vec().into())).await.unwrap();
        let exit = next_control(&mut ws).await;
        assert_eq!(exit, serde_json::json!({"type": "exit", "status": 3}));
    });
    wait_sessions(&api, "an exited shell is still listed", <[_]>::is_empty);
}

#[test]
fn sessions_are_capped_and_one_left_detached_ends_after_the_timeout() {
    let api = Api::start(&[
        "--max-terminals",
        "2",
        "--terminal-ping-secs",
        "1",
        "--detach-timeout",
        "2s",
    ]);
    let url = terminal_url(&api);
    let rt = runtime();
    let (shell, _kept) = rt.block_on(async {
        let (mut first, _) = open_terminal(&api, "").await;
        let (second, _) = open_terminal(&api, "").await;
        match tokio_tungstenite::connect_async(&url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status().as_u16(), 429);
            }
            other => panic!("a third terminal was not refused: {:?}", other.map(|(_, r)| r.status())),
        }
        first
            .send(Message::Binary(b"echo shell=$((0+$$))x\n".to_vec().into()))
            .await
            .unwrap();
        let screen = wait_for(&mut first, |screen| tagged_pid(screen, "shell=").is_some()).await;
        // From here on the client is silent: it reads nothing and answers no ping, as a
        // laptop that went to sleep. The server detaches it, then ends the session.
        (tagged_pid(&screen, "shell=").unwrap(), (first, second))
    });
    wait_sessions(&api, "the silent client was never detached", |l| {
        l.iter().any(|s| s["pid"] == shell && s["attached"] == false)
    });
    wait_gone(shell, "the shell of a session detached past --detach-timeout");
    // Its place is free again.
    let freed = rt.block_on(async {
        for _ in 0..100 {
            if tokio_tungstenite::connect_async(&url).await.is_ok() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    assert!(freed, "no terminal could be opened after the silent one ended");
}

fn terminal_url(api: &Api) -> String {
    format!(
        "ws://127.0.0.1:{}/ws/terminal?token={}&shell=/bin/sh",
        api.server.port, api.token
    )
}

/// Far more idle connections than the server has file descriptors: `/health` and the
/// API still answer.
#[test]
fn idle_connections_beyond_the_fd_limit_do_not_keep_health_out() {
    let prlimit = ["/usr/bin/prlimit", "/bin/prlimit"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("prlimit is missing: apt-get install util-linux");
    let server = Server::start_under(&[prlimit, "--nofile=256:256", "--"], &[], &[]);
    let idle: Vec<std::net::TcpStream> = (0..1100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let port = server.port;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(common::get(port, "/health"));
    });
    let (status, body) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("/health did not answer with 1100 idle connections open");
    assert_eq!(status, 200, "{body}");
    drop(idle);
}

/// `<tag><digits>x` in the output (the echoed command line has `$((` there instead).
fn tagged_pid(screen: &str, tag: &str) -> Option<u32> {
    screen
        .split(tag)
        .skip(1)
        .find_map(|rest| rest.split_once('x')?.0.parse().ok())
}

/// Read terminal output until `done(screen)`, bounded; returns what was read.
async fn wait_for<S>(ws: &mut S, done: impl Fn(&str) -> bool) -> String
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut screen = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !done(&screen) {
            match ws.next().await {
                Some(Ok(Message::Binary(data))) => screen.push_str(&String::from_utf8_lossy(&data)),
                Some(Ok(_)) => {}
                other => panic!("terminal ended: {other:?}"),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "timed out; the terminal showed {screen:?}");
    screen
}

fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| !r.trim_start().starts_with('Z')))
}

impl Api {
    /// A call with extra request headers; the answer's headers too.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, hyper::HeaderMap, Vec<u8>) {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        common::exchange(self.server.port, method, path, &all, body.to_vec())
    }
}

fn header(headers: &hyper::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A big listing (statted on several threads) is whole and in name order; it goes gzipped
/// to a client that takes gzip, and unpacks (with the real `gzip`) to exactly the JSON a
/// client without it gets; a small one, or a client that refuses gzip, gets plain JSON.
#[test]
fn a_big_listing_is_whole_in_order_and_gzipped_to_a_client_that_takes_it() {
    let api = Api::start(&[]);
    // More than the server stats on one thread: the parts come back whole and in order.
    many_files(&api, 2500);
    let url = "/api/tree?path=many";
    let (status, headers, plain) = api.exchange("GET", url, &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), "");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&plain).unwrap();
    let names: Vec<&str> = listed.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let sorted: Vec<String> = (0..2500).map(|i| format!("file-{i:05}.txt")).collect();
    assert_eq!(names, sorted);
    assert!(
        listed.iter().all(|e| e["size"] == 1 && e["type"] == "file"),
        "{listed:?}"
    );

    let (status, headers, packed) = api.exchange("GET", url, &[("accept-encoding", "br, gzip, deflate")], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-encoding"), "gzip");
    assert_eq!(header(&headers, "content-type"), "application/json");
    assert_eq!(header(&headers, "content-length"), packed.len().to_string());
    assert!(
        packed.len() * 5 < plain.len(),
        "{} of {} bytes",
        packed.len(),
        plain.len()
    );
    assert_eq!(gunzip(&packed), plain, "gzip -dc gives back the plain answer");

    let (_, headers, body) = api.exchange("GET", url, &[("accept-encoding", "gzip;q=0, br")], b"");
    assert_eq!(
        (header(&headers, "content-encoding").as_str(), body.len()),
        ("", plain.len())
    );
    fs::write(root(&api).join("small.txt"), "x").unwrap();
    let (status, headers, body) = api.exchange("GET", "/api/tree?path=", &[("accept-encoding", "gzip")], b"");
    assert_eq!((status, header(&headers, "content-encoding").as_str()), (200, ""));
    assert!(serde_json::from_slice::<serde_json::Value>(&body).unwrap().is_array());
}

/// `first=N`: the first N names of a folder as the page shows them (folders first, then
/// files, each by name), each entry as the whole listing has it; the whole folder, in
/// that order, when it holds no more than N.
#[test]
fn the_first_names_of_a_big_folder_come_on_their_own() {
    let api = Api::start(&[]);
    let many = many_files(&api, 2500);
    // Folders that sort after every file by name: they still come first.
    for name in ["zz-b", "zz-a"] {
        fs::create_dir(many.join(name)).unwrap();
    }
    symlink("zz-a", many.join("zz-link")).unwrap();
    let (status, whole) = api.json("GET", "/api/tree?path=many", "");
    assert_eq!(status, 200);
    let whole = whole.as_array().unwrap().clone();
    let entry = |name: &str| whole.iter().find(|e| e["name"] == name).unwrap().clone();

    let (status, first) = api.json("GET", "/api/tree?path=many&first=50", "");
    assert_eq!(status, 200);
    let mut want = vec![entry("zz-a"), entry("zz-b")];
    want.extend((0..48).map(|i| entry(&format!("file-{i:05}.txt"))));
    assert_eq!(first.as_array().unwrap(), &want);

    // No more than N: all of them, in the page's order (a link is not a folder).
    let few = root(&api).join("few");
    fs::create_dir(&few).unwrap();
    fs::write(few.join("a.txt"), "x").unwrap();
    fs::create_dir(few.join("b")).unwrap();
    symlink("b", few.join("c")).unwrap();
    let (_, listed) = api.json("GET", "/api/tree?path=few&first=50", "");
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "a.txt", "c"]);
    let (_, zero) = api.json("GET", "/api/tree?path=many&first=0", "");
    assert_eq!(zero, serde_json::json!([]));
}

/// The root's handle serves every request: listing it again, in each form, gives its
/// names each time (a listing that read through the shared handle left the next one
/// empty).
#[test]
fn the_root_lists_the_same_every_time() {
    let api = Api::start(&[]);
    for name in ["b", "a"] {
        fs::create_dir(root(&api).join(name)).unwrap();
    }
    fs::write(root(&api).join("c.txt"), "x").unwrap();
    let names = |listed: &serde_json::Value| -> Vec<String> {
        let mut names: Vec<String> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .filter(|n| ["a", "b", "c.txt"].contains(&n.as_str()))
            .collect();
        names.sort();
        names
    };
    for _ in 0..3 {
        for url in ["/api/tree?path=", "/api/tree?path=&first=50"] {
            let (status, listed) = api.json("GET", url, "");
            assert_eq!(status, 200);
            assert_eq!(names(&listed), ["a", "b", "c.txt"], "{url}");
        }
        let (status, _, body) = api.exchange("GET", "/api/tree?path=&first=50&then=all", &[], b"");
        assert_eq!(status, 200);
        let text = String::from_utf8(body).unwrap();
        for part in text.lines() {
            assert_eq!(
                names(&serde_json::from_str(part).unwrap()),
                ["a", "b", "c.txt"],
                "{text}"
            );
        }
    }
}

/// `first=N&then=all`: one answer in two JSON lines, what `first=N` answers and then what
/// the whole listing answers; gzipped as one stream when asked (the page reads the first
/// line while the second is made).
#[test]
fn a_big_folder_comes_in_two_parts_in_one_answer() {
    let api = Api::start(&[]);
    let many = many_files(&api, 3000);
    fs::create_dir(many.join("zz-dir")).unwrap();
    let (_, whole) = api.json("GET", "/api/tree?path=many", "");
    let (_, first) = api.json("GET", "/api/tree?path=many&first=50", "");
    let lines = |body: &[u8]| -> Vec<serde_json::Value> {
        let text = std::str::from_utf8(body).unwrap();
        assert!(text.ends_with('\n'), "each part is a line");
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let url = "/api/tree?path=many&first=50&then=all";
    let (status, headers, plain) = api.exchange("GET", url, &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "application/x-ndjson");
    assert_eq!(lines(&plain), [first.clone(), whole.clone()]);

    let (status, headers, packed) = api.exchange("GET", url, &[("accept-encoding", "gzip")], b"");
    assert_eq!((status, header(&headers, "content-encoding").as_str()), (200, "gzip"));
    let unpacked = gunzip(&packed);
    assert_eq!(lines(&unpacked), [first, whole]);
    assert!(packed.len() * 5 < unpacked.len(), "{} bytes packed", packed.len());

    // A folder that is not there is an error, not a cut stream.
    let (status, _, _) = api.exchange("GET", "/api/tree?path=nowhere&first=50&then=all", &[], b"");
    assert_eq!(status, 404);
}

/// The folder `many` in the root, with `n` files `file-00000.txt`… of one byte each,
/// made last first (so the folder's own order is not the sorted one).
fn many_files(api: &Api, n: usize) -> std::path::PathBuf {
    let many = root(api).join("many");
    fs::create_dir(&many).unwrap();
    for i in (0..n).rev() {
        fs::write(many.join(format!("file-{i:05}.txt")), "x").unwrap();
    }
    many
}

/// `packed` unpacked by the real `gzip -dc`.
fn gunzip(packed: &[u8]) -> Vec<u8> {
    let mut gunzip = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut gunzip.stdin.take().unwrap(), packed).unwrap();
    let unpacked = gunzip.wait_with_output().unwrap();
    assert!(unpacked.status.success());
    unpacked.stdout
}

#[test]
fn a_range_reads_one_part_or_the_tail_of_a_file() {
    let api = Api::start(&[]);
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    fs::write(root(&api).join("big.log"), &bytes).unwrap();
    let url = "/api/file?path=big.log";

    let (status, headers, body) = api.exchange("GET", url, &[], b"");
    assert_eq!((status, body.len()), (200, 1000));
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert!(header(&headers, "etag").starts_with('"'), "{headers:?}");

    for (range, from, to) in [
        ("bytes=10-19", 10, 19),
        ("bytes=-5", 995, 999),
        ("bytes=990-", 990, 999),
        ("bytes=995-5000", 995, 999),
    ] {
        let (status, headers, body) = api.exchange("GET", url, &[("range", range)], b"");
        assert_eq!(status, 206, "{range}");
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes {from}-{to}/1000"),
            "{range}"
        );
        assert_eq!(body, &bytes[from..=to], "{range}");
    }
    let (status, headers, body) = api.exchange("GET", url, &[("range", "bytes=1000-")], b"");
    assert_eq!(status, 416);
    assert_eq!(header(&headers, "content-range"), "bytes */1000");
    assert!(String::from_utf8_lossy(&body).contains("outside the file"));
    // Several ranges, or nonsense: the whole file, as HTTP allows.
    for range in ["bytes=0-1,5-6", "lines=1-2", "bytes=x-"] {
        let (status, _, body) = api.exchange("GET", url, &[("range", range)], b"");
        assert_eq!((status, body.len()), (200, 1000), "{range}");
    }
}

#[test]
fn a_save_never_undoes_another_write_and_new_file_never_truncates() {
    let api = Api::start(&[]);
    let file = root(&api).join("README.md");
    fs::write(&file, "the original\n").unwrap();

    // "New file" onto an existing name: 409, the file as it was.
    for (url, extra) in [
        ("/api/file?path=README.md&create=1", vec![]),
        ("/api/file?path=README.md", vec![("if-none-match", "*")]),
    ] {
        let (status, _, body) = api.exchange("PUT", url, &extra, b"");
        assert_eq!(status, 409, "{url}: {}", String::from_utf8_lossy(&body));
        assert!(String::from_utf8_lossy(&body).contains("exists already"));
        assert_eq!(fs::read_to_string(&file).unwrap(), "the original\n");
    }
    assert!(leftovers(&root(&api)).is_empty(), "{:?}", leftovers(&root(&api)));
    let (status, headers, _) = api.exchange("PUT", "/api/file?path=new/empty.txt&create=1", &[], b"");
    assert_eq!(status, 201);
    let created = header(&headers, "etag");
    assert_eq!(
        header(&api.exchange("GET", "/api/file?path=new/empty.txt", &[], b"").1, "etag"),
        created
    );

    // A save based on what was read: fine while nobody else wrote, 412 once someone did.
    let (_, headers, _) = api.exchange("GET", "/api/file?path=README.md", &[], b"");
    let read = header(&headers, "etag");
    let (status, headers, _) = api.exchange("PUT", "/api/file?path=README.md", &[("if-match", &read)], b"mine\n");
    assert_eq!(status, 204);
    let mine = header(&headers, "etag");
    assert_ne!(mine, read);
    assert_eq!(
        header(&api.exchange("GET", "/api/file?path=README.md", &[], b"").1, "etag"),
        mine
    );
    fs::write(&file, "someone else's\n").unwrap();
    let (status, _, body) = api.exchange(
        "PUT",
        "/api/file?path=README.md",
        &[("if-match", &mine)],
        b"mine again\n",
    );
    assert_eq!(status, 412, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("changed since it was read"));
    assert_eq!(fs::read_to_string(&file).unwrap(), "someone else's\n");
    fs::remove_file(&file).unwrap();
    let (status, _, body) = api.exchange("PUT", "/api/file?path=README.md", &[("if-match", &mine)], b"x");
    assert_eq!(status, 412);
    assert!(String::from_utf8_lossy(&body).contains("gone"));
    assert!(!file.exists());
    assert!(leftovers(&root(&api)).is_empty(), "{:?}", leftovers(&root(&api)));
}

/// Temp files a write or copy may leave beside its target.
fn leftovers(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".mlcremote-") {
            out.push(name);
        }
        if entry.file_type().unwrap().is_dir() {
            out.extend(leftovers(&entry.path()));
        }
    }
    out
}

/// `proj/` in `base`: `src/main.rs`, a script `run.sh` (0750) and a link to outside the root.
fn project(base: &std::path::Path) {
    fs::create_dir_all(base.join("proj/src")).unwrap();
    fs::write(base.join("proj/src/main.rs"), "fn main() {}\n").unwrap();
    fs::write(base.join("proj/run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(
        base.join("proj/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o750),
    )
    .unwrap();
    symlink("/etc/passwd", base.join("proj/outside")).unwrap();
}

#[test]
fn copy_chmod_trash_undo_and_delete_of_a_whole_folder() {
    let api = Api::start(&[]);
    let base = root(&api);
    project(&base);

    // Copy: the whole folder, modes kept, links copied as links (not what they point at).
    let (status, _) = api.json("POST", "/api/copy", r#"{"from":"proj","to":"proj-copy"}"#);
    assert_eq!(status, 201);
    assert_eq!(
        fs::read_to_string(base.join("proj-copy/src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert_eq!(mode(&base.join("proj-copy/run.sh")), 0o750);
    assert_eq!(
        fs::read_link(base.join("proj-copy/outside")).unwrap(),
        std::path::Path::new("/etc/passwd")
    );
    let (status, body) = api.json("POST", "/api/copy", r#"{"from":"proj/run.sh","to":"proj-copy/run.sh"}"#);
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (409, "the destination exists")
    );
    let (status, _) = api.json("POST", "/api/copy", r#"{"from":"proj","to":"proj/inner"}"#);
    assert_eq!(status, 400);
    let (status, _) = api.json("POST", "/api/copy", r#"{"from":"proj/run.sh","to":"../escape.sh"}"#);
    assert_eq!(status, 403);
    assert!(leftovers(&base).is_empty(), "{:?}", leftovers(&base));

    // chmod: on the file itself; never through a link.
    let (status, _) = api.json("POST", "/api/chmod", r#"{"path":"proj/run.sh","mode":292}"#);
    assert_eq!(status, 204);
    assert_eq!(mode(&base.join("proj/run.sh")), 0o444);
    let before = mode(std::path::Path::new("/etc/passwd"));
    let (status, _) = api.json("POST", "/api/chmod", r#"{"path":"proj/outside","mode":511}"#);
    assert_eq!(status, 400);
    assert_eq!(mode(std::path::Path::new("/etc/passwd")), before);
    let (status, _) = api.json("POST", "/api/chmod", r#"{"path":"proj/run.sh","mode":70000}"#);
    assert_eq!(status, 400);

    // Trash: gone from its place, kept in the trash, back with its id.
    let (status, body) = api.json("POST", "/api/trash", r#"{"path":"proj/src"}"#);
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    assert!(!base.join("proj/src").exists());
    assert!(base.join("trash").join(&id).join("src/main.rs").exists());
    let (status, body) = api.json("POST", "/api/untrash", &format!(r#"{{"id":"{id}"}}"#));
    assert_eq!((status, body["path"].as_str().unwrap()), (200, "proj/src"));
    assert_eq!(
        fs::read_to_string(base.join("proj/src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert!(!base.join("trash").join(&id).exists());
    // Something took its place meanwhile: 409, both kept.
    let (_, body) = api.json("POST", "/api/trash", r#"{"path":"proj/src/main.rs"}"#);
    let id = body["id"].as_str().unwrap().to_string();
    fs::write(base.join("proj/src/main.rs"), "new\n").unwrap();
    let (status, _) = api.json("POST", "/api/untrash", &format!(r#"{{"id":"{id}"}}"#));
    assert_eq!(status, 409);
    assert_eq!(fs::read_to_string(base.join("proj/src/main.rs")).unwrap(), "new\n");
    assert!(base.join("trash").join(&id).join("main.rs").exists());
    for bad in ["../x", "", "a/b"] {
        let (status, _) = api.json("POST", "/api/untrash", &format!(r#"{{"id":"{bad}"}}"#));
        assert_eq!(status, 400, "{bad}");
    }

    // Delete: a folder with things in it only when asked for all of it; links not followed.
    let (status, _) = api.call("DELETE", "/api/file?path=proj-copy", vec![]);
    assert_eq!(status, 409);
    let (status, _) = api.call("DELETE", "/api/file?path=proj-copy&recursive=1", vec![]);
    assert_eq!(status, 204);
    assert!(!base.join("proj-copy").exists());
    assert!(std::path::Path::new("/etc/passwd").exists());
}

#[test]
fn a_folder_downloads_as_a_tar_gz_that_the_real_tar_unpacks() {
    let api = Api::start(&[]);
    let base = root(&api);
    project(&base);
    fs::create_dir_all(base.join("proj/src/deep")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    fs::write(base.join("proj/src/deep/data.bin"), &big).unwrap();
    let long = format!("proj/{}.txt", "n".repeat(150)); // beyond ustar's 100-byte names
    fs::write(base.join(&long), "long name\n").unwrap();

    let (status, headers, body) = api.exchange("GET", "/api/archive?path=proj", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, "content-type"), "application/gzip");
    assert!(header(&headers, "content-disposition").contains("filename=\"proj.tar.gz\""));
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("proj.tar.gz"), &body).unwrap();
    let unpacked = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(out.path().join("proj.tar.gz"))
        .arg("-C")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        unpacked.status.success(),
        "{}",
        String::from_utf8_lossy(&unpacked.stderr)
    );
    let got = out.path();
    assert_eq!(
        fs::read_to_string(got.join("proj/src/main.rs")).unwrap(),
        "fn main() {}\n"
    );
    assert_eq!(fs::read(got.join("proj/src/deep/data.bin")).unwrap(), big);
    assert_eq!(fs::read_to_string(got.join(&long)).unwrap(), "long name\n");
    assert_eq!(mode(&got.join("proj/run.sh")), 0o750);
    // The link is a link in the archive, not the file it points at.
    assert_eq!(
        fs::read_link(got.join("proj/outside")).unwrap(),
        std::path::Path::new("/etc/passwd")
    );
    assert!(body.len() < big.len() / 2 + 4096, "compressed: {} bytes", body.len());

    // Outside the root: refused before a byte is sent.
    let (status, _, _) = api.exchange("GET", "/api/archive?path=..", &[], b"");
    assert_eq!(status, 403);
    let (status, _, _) = api.exchange("GET", "/api/archive?path=proj/run.sh", &[], b"");
    assert_eq!(status, 400);
}

/// Changes heard on `/ws/watch` until `done` holds (bounded): `(path, kind)` each, and
/// any error line.
async fn heard(ws: &mut Socket, done: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let mut all = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), async {
        while !done(&all) {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    let line: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
                    let field = |k: &str| line[k].as_str().unwrap_or_default().to_string();
                    match field("type").as_str() {
                        "changed" => all.push((field("path"), field("kind"))),
                        "watching" => all.push((line["paths"].to_string(), "watching".into())),
                        _ => all.push((field("path"), format!("error: {}", field("error")))),
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the watch ended: {other:?}"),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "timed out; heard {all:?}");
    all
}

#[test]
fn a_watch_hears_what_changes_in_the_folders_it_names_and_nothing_outside_the_root() {
    let api = Api::start(&[]);
    let dir = root(&api);
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/a.txt"), "a").unwrap();
    let url = format!("ws://127.0.0.1:{}/ws/watch?token={}", api.server.port, api.token);
    let rt = runtime();
    rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::Text(r#"{"watch":["","sub","../../etc","nothere"]}"#.into()))
            .await
            .unwrap();
        let answer = heard(&mut ws, |h| h.iter().any(|(_, k)| k == "watching")).await;
        let paths: Vec<&str> = answer.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["../../etc", "nothere", r#"["","sub"]"#], "{answer:?}");
        assert!(answer[..2].iter().all(|(_, k)| k.starts_with("error:")), "{answer:?}");

        fs::write(dir.join("new.txt"), "x").unwrap();
        let got = heard(&mut ws, |h| h.iter().any(|(p, _)| p == "new.txt")).await;
        assert!(got.contains(&("new.txt".into(), "create".into())), "{got:?}");
        fs::write(dir.join("sub/a.txt"), "changed").unwrap();
        let got = heard(&mut ws, |h| h.iter().any(|(p, _)| p == "sub/a.txt")).await;
        assert_eq!(got, [("sub/a.txt".to_string(), "modify".to_string())]);
        fs::remove_file(dir.join("new.txt")).unwrap();
        let got = heard(&mut ws, |h| h.iter().any(|(p, _)| p == "new.txt")).await;
        assert_eq!(got, [("new.txt".to_string(), "remove".to_string())]);
        fs::rename(dir.join("sub/a.txt"), dir.join("sub/b.txt")).unwrap();
        let got = heard(&mut ws, |h| h.iter().any(|(p, _)| p == "sub/b.txt")).await;
        assert!(got.iter().all(|(_, k)| k == "rename"), "{got:?}");

        // Unwatched: what changes there is no longer heard (the markers come after it).
        ws.send(Message::Text(r#"{"unwatch":["sub"]}"#.into())).await.unwrap();
        let _ = heard(&mut ws, |h| h.iter().any(|(_, k)| k == "watching")).await;
        fs::write(dir.join("sub/quiet.txt"), "").unwrap();
        fs::write(dir.join("after.txt"), "").unwrap();
        let got = heard(&mut ws, |h| h.iter().any(|(p, _)| p == "after.txt")).await;
        fs::write(dir.join("zzz.txt"), "").unwrap();
        let mut got2 = heard(&mut ws, |h| h.iter().any(|(p, _)| p == "zzz.txt")).await;
        got2.extend(got);
        assert!(
            !got2.iter().any(|(p, _)| p.starts_with("sub/")),
            "an unwatched folder was heard: {got2:?}"
        );
    });
}

/// NDJSON lines of a streamed answer.
fn lines(body: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(body)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn search_finds_text_where_a_person_would_look_and_quick_open_finds_names() {
    let api = Api::start(&[]);
    let dir = root(&api);
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/main.rs"), "fn needle() {}\nlet x = NEEDLE;\n").unwrap();
    fs::write(dir.join("notes.md"), "a needle in notes\n").unwrap();
    fs::write(dir.join(".gitignore"), "ignored/\n").unwrap();
    fs::create_dir(dir.join("ignored")).unwrap();
    fs::write(dir.join("ignored/x.txt"), "needle\n").unwrap();
    fs::write(dir.join("bin.dat"), b"needle\0\x01\x02").unwrap();
    let mut big = "needle\n".repeat(10).into_bytes();
    big.resize(3 * 1024 * 1024, b'.');
    fs::write(dir.join("big.txt"), big).unwrap();
    fs::create_dir(dir.join(".git")).unwrap();
    fs::write(dir.join(".git/config"), "needle\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), "needle outside\n").unwrap();
    symlink(outside.path(), dir.join("elsewhere")).unwrap();

    let search = |query: &str| {
        let (status, body) = api.call("GET", &format!("/api/search?{query}"), vec![]);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        lines(&body)
    };
    let found = search("q=needle");
    let (done, hits) = found.split_last().unwrap();
    let mut places: Vec<(String, u64, u64)> = hits
        .iter()
        .map(|h| {
            (
                h["path"].as_str().unwrap().to_string(),
                h["line"].as_u64().unwrap(),
                h["col"].as_u64().unwrap(),
            )
        })
        .collect();
    places.sort();
    assert_eq!(
        places,
        [
            ("notes.md".to_string(), 1, 3),
            ("src/main.rs".to_string(), 1, 4),
            ("src/main.rs".to_string(), 2, 9)
        ],
        "ignored, binary, too big, .git and outside files must not be searched: {found:?}"
    );
    assert!(hits[0]["text"].is_string());
    assert_eq!(done["done"], true);
    assert_eq!(
        (done["matches"].as_u64(), done["truncated"].as_bool()),
        (Some(3), Some(false)),
        "{done}"
    );

    // Case, regular expressions, a glob, a folder.
    assert_eq!(search("q=NEEDLE&case=1").len(), 2);
    let regex = search("q=fn%20%5Cw%2B%5C(&regex=1");
    assert_eq!(regex[0]["text"], "fn needle() {}", "{regex:?}");
    let md = search("q=needle&glob=*.md");
    assert_eq!(md.len(), 2, "{md:?}");
    assert_eq!(md[0]["path"], "notes.md");
    assert_eq!(search("q=needle&path=src").len(), 3);
    let (status, body) = api.call("GET", "/api/search?q=(&regex=1", vec![]);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let (status, _) = api.call("GET", "/api/search?q=", vec![]);
    assert_eq!(status, 400);
    let (status, _) = api.call("GET", "/api/search?q=x&path=../..", vec![]);
    assert_eq!(status, 403);

    // A limit on matches: the answer says it stopped.
    fs::create_dir(dir.join("many")).unwrap();
    for i in 0..2100 {
        fs::write(dir.join(format!("many/{i}.txt")), "needle\n").unwrap();
    }
    let found = search("q=needle&path=many");
    let done = found.last().unwrap();
    assert_eq!(
        (done["matches"].as_u64(), done["truncated"].as_bool()),
        (Some(2000), Some(true)),
        "{done}"
    );
    assert_eq!(found.len(), 2001);

    // Quick open: the best match first.
    let (status, body) = api.call("GET", "/api/find?q=mainrs", vec![]);
    assert_eq!(status, 200);
    let found = lines(&body);
    assert_eq!(found[0]["path"], "src/main.rs", "{found:?}");
    assert!(!found.iter().any(|f| {
        f["path"]
            .as_str()
            .is_some_and(|p| p.starts_with("ignored/") || p.starts_with("elsewhere"))
    }));
    assert_eq!(found.last().unwrap()["done"], true);
}

#[test]
fn ports_lists_what_listens_on_the_host_but_itself() {
    let api = Api::start(&[]);
    let app = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = app.local_addr().unwrap().port();
    let (status, list) = api.json("GET", "/api/ports", "");
    assert_eq!(status, 200, "{list}");
    let ports: Vec<&serde_json::Value> = list.as_array().unwrap().iter().collect();
    let it = ports
        .iter()
        .find(|p| p["port"] == port)
        .unwrap_or_else(|| panic!("{port} is not listed: {list}"));
    assert_eq!(it["address"], "127.0.0.1");
    assert_eq!(it["mine"], true, "the test and the server run as one account");
    assert!(
        !ports.iter().any(|p| p["port"] == api.server.port),
        "its own port is listed"
    );
}

#[test]
fn a_shell_started_without_a_locale_gets_utf8_when_the_host_has_it() {
    let has = ["/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    assert!(has, "this host has no C.UTF-8 locale (Debian: it comes with libc-bin)");
    for (lang, want) in [("", "C.UTF-8"), ("de_DE.UTF-8", "de_DE.UTF-8")] {
        let server = Server::start_with(&[], &[("LANG", lang), ("LC_ALL", ""), ("LC_CTYPE", "")]);
        let token = fs::read_to_string(server.path("token")).unwrap().trim().to_string();
        let api = Api { server, token };
        let rt = runtime();
        rt.block_on(async {
            let (mut ws, _) = open_terminal(&api, "").await;
            ws.send(Message::Binary(b"echo \"lang=[$LANG]\"\n".to_vec().into()))
                .await
                .unwrap();
            let said = format!("lang=[{want}]");
            wait_for(&mut ws, |screen| screen.contains(&said)).await;
        });
    }
}

/// A runtime for a test's WebSocket client.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
