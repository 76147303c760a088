//! The file API and the terminal over real HTTP and a real WebSocket client.

mod common;

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

#[test]
fn terminal_runs_the_shell_resizes_and_ends_its_process_group_on_close() {
    let api = Api::start(&[]);
    let url = format!(
        "ws://127.0.0.1:{}/ws/terminal?token={}&cols=100&rows=30&shell=/bin/sh",
        api.server.port, api.token
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let orphan = rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::Binary(b"echo hello-$((6*7))\n".to_vec().into()))
            .await
            .unwrap();
        wait_for(&mut ws, |screen| screen.contains("hello-42")).await;
        ws.send(Message::Text("stty size\n".into())).await.unwrap();
        wait_for(&mut ws, |screen| screen.contains("30 100")).await;
        ws.send(Message::Text(r#"{"type":"resize","cols":120,"rows":40}"#.into()))
            .await
            .unwrap();
        ws.send(Message::Binary(b"stty size\n".to_vec().into())).await.unwrap();
        wait_for(&mut ws, |screen| screen.contains("40 120")).await;
        // A background job: an interactive shell gives it a process group of its own.
        ws.send(Message::Binary(
            b"sleep 1000 & echo orphan=$((0+$!))x\n".to_vec().into(),
        ))
        .await
        .unwrap();
        let screen = wait_for(&mut ws, |screen| orphan_pid(screen).is_some()).await;
        ws.close(None).await.unwrap();
        orphan_pid(&screen).unwrap()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while alive(orphan) {
        assert!(
            std::time::Instant::now() < deadline,
            "pid {orphan} outlived the terminal"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `orphan=<digits>x` in the output (the echoed command line has `$((` there instead).
fn orphan_pid(screen: &str) -> Option<u32> {
    screen
        .split("orphan=")
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
