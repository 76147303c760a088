//! A real headless Chromium driven over WebDriver (`chromedriver`), for the UI's tests:
//! the W3C endpoints the tests use, spoken with a plain HTTP client. One browser at a
//! time (each takes about 1 GB): [`Browser::start`] holds a process-wide lock.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The W3C name of an element reference in WebDriver JSON.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _turn: MutexGuard<'static, ()>,
}

/// An element found on the page.
#[derive(Clone)]
pub struct Element(String);

impl Element {
    /// The WebDriver reference, for passing the element to [`Browser::eval`].
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl Browser {
    /// Start `chromedriver` and a headless Chromium session. A missing browser is an
    /// error naming the packages to install (never a skipped test).
    pub fn start() -> Result<Browser> {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let driver = crate::require("chromedriver", "chromium chromium-driver")?;
        let chromium = crate::require("chromium", "chromium chromium-driver")?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut browser = Browser {
            driver: child,
            base: format!("http://127.0.0.1:{port}"),
            agent,
            _turn: turn,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.get_json("/status").is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not answer on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut args = vec![
            "--headless=new",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--window-size=1280,860",
            "--no-first-run",
        ];
        if crate::is_root() {
            args.push("--no-sandbox");
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.post("/session", caps)?;
        let id = created["sessionId"]
            .as_str()
            .context("no sessionId from chromedriver")?
            .to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    fn get_json(&self, path: &str) -> Result<Value> {
        let mut response = self.agent.get(format!("{}{path}", self.base)).call()?;
        let value: Value = response.body_mut().read_json()?;
        check(value)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        let mut response = self.agent.post(format!("{}{path}", self.base)).send_json(body)?;
        let value: Value = response.body_mut().read_json()?;
        check(value)
    }

    pub fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).map(drop)
    }

    /// Run `script` in the page (a function body; `arguments` holds `args`).
    pub fn eval(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
    }

    /// Run an async `script`: it ends by calling `arguments[arguments.length - 1](result)`.
    pub fn eval_async(&self, script: &str, args: Vec<Value>) -> Result<Value> {
        self.post("/execute/async", json!({ "script": script, "args": args }))
    }

    /// Look inside the frame `css` (scripts and finds run there) until [`Browser::top`].
    pub fn frame(&self, css: &str) -> Result<()> {
        let frame = self.find(css)?;
        self.post("/frame", json!({ "id": { ELEMENT: frame.0 } })).map(drop)
    }

    /// Back to the page itself from inside a frame.
    pub fn top(&self) -> Result<()> {
        self.post("/frame", json!({ "id": null })).map(drop)
    }

    pub fn find(&self, css: &str) -> Result<Element> {
        let found = self.post("/element", json!({ "using": "css selector", "value": css }))?;
        let id = found[ELEMENT].as_str().with_context(|| format!("no element {css}"))?;
        Ok(Element(id.to_string()))
    }

    /// Wait up to `within` for `css` to match a displayed element.
    pub fn wait(&self, css: &str, within: Duration) -> Result<Element> {
        let deadline = Instant::now() + within;
        loop {
            let shown = self.eval(
                "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;",
                vec![json!(css)],
            )?;
            // The page may redraw between the look and the find: then look again.
            if shown == json!(true)
                && let Ok(found) = self.find(css)
            {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!(
                    "{css} did not show within {within:?}; the page says:\n{}",
                    self.page_text().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the page wrote to the console as errors since the last call (failed loads
    /// included: a 404 for a favicon is one), as "message" lines.
    pub fn console_errors(&self) -> Result<Vec<String>> {
        let log = self.post("/se/log", json!({ "type": "browser" }))?;
        Ok(log
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Wait up to `within` for `css` to show, then click it; a page that redraws it
    /// between the look and the click (a stale element) is looked at again.
    pub fn press(&self, css: &str, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let element = self.wait(css, within)?;
            match self.click(&element) {
                Err(e) if e.to_string().contains("stale element") && Instant::now() < deadline => continue,
                other => return other,
            }
        }
    }

    /// Wait up to `within` for the text of `css` to contain `text`.
    pub fn wait_text(&self, css: &str, text: &str, within: Duration) -> Result<String> {
        let deadline = Instant::now() + within;
        loop {
            let now = self.text_of(css)?;
            if now.contains(text) {
                return Ok(now);
            }
            if Instant::now() > deadline {
                bail!(
                    "{css} did not say {text:?} within {within:?}; it says {now:?}; the page says:\n{}",
                    self.page_text().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text of the first element matching `css` (a field's value; "" when there is
    /// none).
    pub fn text_of(&self, css: &str) -> Result<String> {
        let v = self.eval(
            "const e = document.querySelector(arguments[0]);
             if (!e) return '';
             return ['INPUT', 'TEXTAREA', 'SELECT'].includes(e.tagName) ? e.value : e.textContent;",
            vec![json!(css)],
        )?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    pub fn page_text(&self) -> Result<String> {
        Ok(self
            .eval("return document.body.innerText;", vec![])?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    pub fn click(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/click", element.0), json!({})).map(drop)
    }

    /// Type `text` into `element` (keys as a person types them).
    pub fn type_into(&self, element: &Element, text: &str) -> Result<()> {
        self.post(&format!("/element/{}/value", element.0), json!({ "text": text }))
            .map(drop)
    }

    pub fn clear(&self, element: &Element) -> Result<()> {
        self.post(&format!("/element/{}/clear", element.0), json!({})).map(drop)
    }

    /// Every cookie the browser holds for the page's site, `HttpOnly` ones too: `name=value`.
    pub fn cookies(&self) -> Result<Vec<String>> {
        let all = self.get_json("/cookie")?;
        Ok(all
            .as_array()
            .context("cookies are a list")?
            .iter()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap_or_default(),
                    c["value"].as_str().unwrap_or_default()
                )
            })
            .collect())
    }

    /// Move the mouse over the middle of `element` (and leave it there).
    pub fn hover(&self, element: &Element) -> Result<()> {
        let mouse = json!({"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "duration": 0, "x": 0, "y": 0, "origin": {ELEMENT: element.0}}]});
        self.post("/actions", json!({ "actions": [mouse] })).map(drop)
    }

    /// How many windows and tabs are open.
    pub fn windows(&self) -> Result<usize> {
        Ok(self.get_json("/window/handles")?.as_array().map_or(0, Vec::len))
    }

    /// Save a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) -> Result<()> {
        let shot = self.get_json("/screenshot")?;
        let data = shot.as_str().context("no screenshot data")?;
        let png = decode_base64(data)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// WebDriver's `{"value": …}`, or its error as an error.
fn check(reply: Value) -> Result<Value> {
    let value = reply.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        bail!(
            "webdriver: {error}: {}",
            value["message"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
        );
    }
    // `/session` answers with the session id beside `capabilities` inside `value`.
    Ok(value)
}

fn decode_base64(text: &str) -> Result<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0);
    for byte in text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=') {
        let value = ALPHABET.iter().position(|&a| a == byte).context("not base64")? as u32;
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Ok(out)
}
