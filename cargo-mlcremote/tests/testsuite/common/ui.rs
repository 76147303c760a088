//! The UI as the browser tests drive it: `cargo mlcremote ui` started for a client, an
//! ssh config naming the harness sshd, and small helpers over the page.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use harness::{Sshd, User, browser::Browser};
use serde_json::json;

use super::Client;

/// A running `cargo mlcremote ui --no-browser`.
pub struct Ui {
    pub child: Child,
    pub port: u16,
    pub launch: String,
}

impl Ui {
    pub fn start(client: &Client, config: &Path, cwd: &Path, env: &[(&str, String)]) -> Ui {
        Ui::start_as(client, &["ui"], config, cwd, env)
    }

    /// `cargo mlcremote <command…> --no-browser -F config`.
    pub fn start_as(client: &Client, command: &[&str], config: &Path, cwd: &Path, env: &[(&str, String)]) -> Ui {
        let mut command = command.to_vec();
        command.push("--no-browser");
        Ui::spawn(client, &command, config, cwd, env)
    }

    /// `cargo mlcremote <args…> -F config`; the launch URL from its first line.
    pub fn spawn(client: &Client, args: &[&str], config: &Path, cwd: &Path, env: &[(&str, String)]) -> Ui {
        let mut child = client
            .plugin()
            .args(args)
            .arg("-F")
            .arg(config)
            .current_dir(cwd)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("XDG_CONFIG_HOME", client.home.path().join(".config"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let line = first_line(&mut child);
        let url = line
            .trim()
            .strip_prefix("mlcremote ui: http://127.0.0.1:")
            .unwrap_or_else(|| panic!("not the launch line: {line:?}"));
        let (port, launch) = url.split_once("/?launch=").unwrap();
        Ui {
            child,
            port: port.parse().unwrap(),
            launch: launch.to_string(),
        }
    }

    /// `cargo mlcremote open --host devbox` (the config's), its key trusted, with a
    /// `dist/` for the host where it runs (kept while the returned dir lives).
    pub fn open_devbox(client: &Client, sshd: &Sshd, config: &Path) -> (Ui, tempfile::TempDir) {
        fs::copy(sshd.known_hosts().unwrap(), client.home.path().join(".ssh/known_hosts")).unwrap();
        let cwd = tempfile::tempdir().unwrap();
        super::dist_into(&cwd.path().join("dist"), false);
        let ui = Ui::start_as(client, &["open", "--host", "devbox"], config, cwd.path(), &[]);
        (ui, cwd)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/?launch={}", self.port, self.launch)
    }

    pub fn own(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first line a child prints on stdout (the UI's launch line).
pub fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line
}

/// An ssh config with `devbox`, the harness sshd as `user`, keys and known_hosts
/// under the client's home (the known_hosts empty: the page asks to trust).
pub fn ssh_config(client: &Client, sshd: &Sshd, user: &User) -> PathBuf {
    let known = client.home.path().join(".ssh/known_hosts");
    fs::write(&known, "").unwrap();
    let config = client.home.path().join(".ssh/config");
    fs::write(
        &config,
        format!(
            "Host devbox\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n\
             Host *.internal\n  User nobody\n",
            sshd.port(),
            user.name,
            user.key.display(),
            known.display()
        ),
    )
    .unwrap();
    config
}

/// Keys that select everything in the focused editor (WebDriver's Control, then a).
pub const SELECT_ALL: &str = "\u{E009}a\u{E000}";
/// Ctrl-S, as a person saves.
pub const SAVE: &str = "\u{E009}s\u{E000}";

/// The text of the file the editor shows.
/// Press a tree row's action button (`rename`, `delete`, …): they show on the row the
/// pointer is over (or the selected one), as a person sees them. The tree may draw its
/// rows anew between the pointer's move and the press (a change heard from the host):
/// then the pointer goes over the new row.
pub fn row_action(b: &Browser, path: &str, action: &str, within: Duration) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + within;
    let row = format!(r#"#tree li[data-path="{path}"] .row"#);
    let button = format!(r#"#tree li[data-path="{path}"] button.{action}"#);
    loop {
        let tried = b
            .wait(&row, within)
            .and_then(|r| b.hover(&r))
            .and_then(|()| b.press(&button, Duration::from_secs(2)));
        match tried {
            Err(e) if std::time::Instant::now() < deadline => eprintln!("{button}: {e:#}; again"),
            done => return done,
        }
    }
}

pub fn editor_text(b: &Browser) -> String {
    b.eval("return window.mlc.editorText();", vec![])
        .unwrap()
        .as_str()
        .unwrap_or_else(|| panic!("no file is open: {}", b.page_text().unwrap()))
        .to_string()
}

/// Wait (bounded) until `script` returns true in the page.
pub fn wait_js(b: &Browser, script: &str, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while b.eval(script, vec![]).unwrap() != json!(true) {
        assert!(
            std::time::Instant::now() < deadline,
            "{script} never held; reading: {}",
            b.eval("return String(window.reading);", vec![]).unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A host's workspace in a fresh browser: `cargo mlcremote open --host devbox` for `user`
/// on `sshd`, the launch link followed. Fields drop in order: browser, UI, then the rest.
pub struct Opened {
    pub b: Browser,
    pub ui: Ui,
    /// Kept for as long as the workspace is open: the UI's folder and home.
    _cwd: tempfile::TempDir,
    _client: Client,
}

pub fn open_in_browser(sshd: &Sshd, user: &User) -> Opened {
    let client = Client::new();
    let config = ssh_config(&client, sshd, user);
    let (ui, cwd) = Ui::open_devbox(&client, sshd, &config);
    let b = Browser::start().unwrap();
    b.goto(&ui.url()).unwrap();
    Opened {
        b,
        ui,
        _cwd: cwd,
        _client: client,
    }
}
