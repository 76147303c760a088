//! The page's rows of `cargo xtask bench`: the release client's UI in a real headless
//! Chromium, on the same links as the deploy rows. Each time is what a person waits for,
//! timed in the page from the click to the change on screen (a `MutationObserver`), or for
//! the first screen from starting `cargo mlcremote open` to the workspace's tree. The
//! baselines are what they would run instead: a fresh `ssh host …` for the same job.
//! With `MLCREMOTE_BENCH_TRACE` set, each timed action prints the page's requests to the
//! host (start and duration, from the page's resource timing), to see where a time goes.

use std::{
    fs,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use harness::{User, browser::Browser};
use serde_json::{Value, json};

use super::link::{Ctx, Source, secs, source_text};

/// Names in the big folder, as in the workspace's tests.
pub const MANY: usize = 12_000;

/// Files in the tree searched (100 folders of 100), 10 of them holding the word looked for.
const SEARCHED: usize = 10_000;

/// One row of the page's table.
pub struct PageRow {
    pub job: &'static str,
    pub link: &'static str,
    pub ours: Duration,
    /// `None`: nothing a person would run instead (scrolling).
    pub baseline: Option<(Duration, &'static str)>,
    /// Free text: frame times, or what was counted.
    pub note: String,
    pub rtt: Option<Duration>,
    /// The host call the action makes, alone (median, from its resource timing): what
    /// the link and the host take, without the page's own work before and after.
    pub call: Option<Duration>,
}

/// Files the page opens: a big folder, and one source file per run (each opened once, so
/// every open is a real read).
pub fn prepare(user: &User, runs: usize) -> Result<()> {
    let many = user.home.join("many");
    if !many.exists() {
        fs::create_dir(&many)?;
        for i in 0..MANY {
            fs::write(many.join(format!("f{i:05}.txt")), "")?;
        }
    }
    let tree = user.home.join("tree");
    if !tree.exists() {
        let text: String = (0..20)
            .map(|i| format!("let value_{i} = compute({i}); // a line of code\n"))
            .collect();
        for i in 0..SEARCHED {
            let dir = tree.join(format!("d{:02}", i / 100));
            fs::create_dir_all(&dir)?;
            let needle = if i % 1000 == 7 { "let needle = 1;\n" } else { "" };
            fs::write(dir.join(format!("f{i:05}.rs")), format!("{text}{needle}"))?;
        }
    }
    let src = user.home.join("src");
    fs::create_dir_all(&src)?;
    let text = source_text();
    for run in 0..runs.max(1) {
        fs::write(src.join(format!("f{run}.rs")), &text)?;
    }
    user.own(&[&many, &tree, &src])
}

/// The big folder's whole listing is in the tree ([`MANY`] rows of 24 px; its first names
/// may come before it).
fn whole_big_folder() -> String {
    format!("parseInt(document.querySelector('#tree .spacer').style.height) >= {MANY} * 24")
}

/// Starts a timer in the page: `benchTime(act, done)` runs `act`, then resolves to the
/// milliseconds until `done()` holds, checked on every change of the page (−1 after 60 s).
/// `benchCall(part, head)`: how long the first request since then whose URL has `part`
/// took (to the start of its answer if `head`), once it is over (−1 after 60 s).
const TIMER: &str = r#"
performance.setResourceTimingBufferSize(100000);
window.benchCall = (part, head) => new Promise((resolve) => {
  const pick = () => performance.getEntriesByType('resource')
    .find((e) => e.startTime >= window.benchT0 && e.name.includes(part));
  const took = (e) => (head ? e.responseStart : e.responseEnd) - e.startTime;
  const o = new PerformanceObserver(() => check());
  const timer = setTimeout(() => { o.disconnect(); resolve(-1); }, 60000);
  const check = () => {
    const e = pick();
    if (e) { o.disconnect(); clearTimeout(timer); resolve(took(e)); }
  };
  o.observe({ type: 'resource' });
  check();
});
window.benchTime = (act, done) => new Promise((resolve) => {
  const t0 = window.benchT0 = performance.now();
  let timer = null;
  const o = new MutationObserver(() => check());
  const check = () => {
    if (!done()) return;
    o.disconnect(); clearTimeout(timer); resolve(performance.now() - t0);
  };
  o.observe(document.body, { childList: true, subtree: true, characterData: true, attributes: true });
  timer = setTimeout(() => { o.disconnect(); resolve(-1); }, 60000);
  act();
  check();
});"#;

/// `script` (a `benchTime(…)` expression) run in the page: its milliseconds.
fn timed(b: &Browser, what: &str, script: &str) -> Result<Duration> {
    let ms = run(b, script)?;
    trace(b, &format!("{what}: {ms}"))?;
    millis(what, &ms)
}

/// [`timed`], and how long the host call in it whose URL has `call` took (until its
/// answer began, if `head`: for an answer that comes in parts).
fn timed_call(b: &Browser, what: &str, script: &str, call: &str, head: bool) -> Result<(Duration, Duration)> {
    let ms = run(b, script)?;
    let call_ms = run(b, &format!("window.benchCall({}, {head})", json!(call)))?;
    trace(b, &format!("{what}: {ms}, its call {call_ms}"))?;
    Ok((
        millis(what, &ms)?,
        millis(&format!("{what}: its call {call}"), &call_ms)?,
    ))
}

fn run(b: &Browser, script: &str) -> Result<Value> {
    b.eval_async(
        &format!("const done = arguments[arguments.length - 1]; {script}.then(done, (e) => done(String(e)));"),
        vec![],
    )
}

fn millis(what: &str, ms: &Value) -> Result<Duration> {
    match ms.as_f64() {
        Some(ms) if ms >= 0.0 => Ok(Duration::from_secs_f64(ms / 1000.0)),
        _ => bail!("{what}: the page did not get there ({ms})"),
    }
}

/// With `MLCREMOTE_BENCH_TRACE` set: `label`, then the page's requests since the last
/// trace (each one's start and duration, from its resource timing).
fn trace(b: &Browser, label: &str) -> Result<()> {
    if std::env::var_os("MLCREMOTE_BENCH_TRACE").is_none() {
        return Ok(());
    }
    let entries = b.eval(
        "const e = performance.getEntriesByType('resource').map(r => \
           `${r.name.replace(location.origin, '').slice(0, 80)} start ${r.startTime.toFixed(0)} dur ${r.duration.toFixed(0)}`); \
         performance.clearResourceTimings(); return e.join('\\n') + '\\nnow ' + performance.now().toFixed(0);",
        vec![],
    )?;
    eprintln!("TRACE {label}\n{}", entries.as_str().unwrap_or_default());
    Ok(())
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// The UI, `cargo mlcremote open --host devbox`, until its end.
struct Ui(Child);

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// All rows for one link: the UI started `runs` times (first screen), then inside one
/// workspace: file open, save, the big folder, scrolling it, a keystroke's echo.
pub fn rows(ctx: &Ctx<'_>, b: &Browser, user: &User, link: &'static str) -> Result<Vec<PageRow>> {
    let config_dir = tempfile::tempdir()?;
    let config = config_dir.path().join("ssh_config");
    fs::write(
        &config,
        format!(
            "Host devbox\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
            ctx.port,
            user.name,
            user.key.display(),
            ctx.known_hosts.display()
        ),
    )?;
    let row = |job, ours, baseline, note: String| PageRow {
        job,
        link,
        ours,
        baseline,
        note,
        rtt: ctx.rtt,
        call: None,
    };
    // A row beside what a fresh `ssh host <command>` takes on the same link.
    let beside_ssh = |job, times: Vec<Duration>, command: &str, what| -> Result<PageRow> {
        let base = ctx.median(|| ctx.ssh(user, command))?;
        Ok(row(job, median(times), Some((base, what)), String::new()))
    };
    // ... and with the time of its host call alone.
    let with_call = |job, times: Vec<(Duration, Duration)>, command: &str, what| -> Result<PageRow> {
        let (ours, calls) = times.into_iter().unzip();
        Ok(PageRow {
            call: Some(median(calls)),
            ..beside_ssh(job, ours, command, what)?
        })
    };
    let mut out = Vec::new();

    // The first screen, from the command to the tree (a new UI each run, nothing kept).
    end_terminals(user)?;
    let mut firsts = Vec::new();
    let mut ui = None;
    let mut bytes = Vec::new();
    for _ in 0..ctx.runs.max(1) {
        drop(ui.take());
        let _ = fs::remove_dir_all(config_dir.path().join("xdg"));
        let crossed = ctx.proxy.map(|p| (p.bytes_down(), p.bytes_up()));
        let start = Instant::now();
        let (child, url) = start_ui(ctx, &config, &config_dir.path().join("xdg"))?;
        ui = Some(child);
        b.goto(&url)?;
        wait(b, "#tree li[data-path='many']", Duration::from_secs(120))?;
        firsts.push(start.elapsed());
        if let (Some(p), Some((down, up))) = (ctx.proxy, crossed) {
            bytes.push((p.bytes_down() - down, p.bytes_up() - up));
        }
        trace(
            b,
            &format!("first screen {:?}, bytes {:?}", start.elapsed(), bytes.last()),
        )?;
    }
    let firsts_each = firsts.clone();
    let mut first = beside_ssh("`open` → the workspace's tree shown", firsts, "true", "`ssh host true`")?;
    let each: Vec<String> = firsts_each.iter().map(|d| format!("{:.2}", d.as_secs_f64())).collect();
    first.note = format!("runs {} s", each.join(", "));
    if let Some((down, up)) = bytes.iter().min() {
        first
            .note
            .push_str(&format!("; {} KiB down, {} KiB up", down / 1024, up / 1024));
    }
    out.push(first);
    b.eval(TIMER, vec![])?;

    // A file, each run another (a 14 KiB source file).
    let mut opens = Vec::new();
    let mut saves = Vec::new();
    for run in 0..ctx.runs.max(1) {
        let path = format!("src/f{run}.rs");
        if run == 0 {
            b.press("#tree li[data-path='src'] .name", Duration::from_secs(60))?;
            wait(b, "#tree li[data-path='src/f0.rs']", Duration::from_secs(60))?;
        }
        let call = format!("api/file?path=src%2Ff{run}.rs");
        opens.push(timed_call(
            b,
            "open a file",
            &format!(
                "benchTime(() => document.querySelector(\"#tree li[data-path='{path}'] .name\").click(), \
                 () => document.querySelector('#status-line').textContent === 'opened {path}')"
            ),
            &call,
            false,
        )?);
        let editor = b.find("#editor .cm-content")?;
        b.type_into(&editor, "x")?;
        saves.push(timed_call(
            b,
            "save",
            &format!(
                "benchTime(() => document.querySelector('#save').click(), \
                 () => document.querySelector('#status-line').textContent === 'saved {path}')"
            ),
            &call,
            false,
        )?);
    }
    out.push(with_call(
        "open a 14 KiB file (click → text shown)",
        opens,
        "cat src/f0.rs",
        "`ssh host cat file`",
    )?);
    out.push(with_call(
        "save it (click → saved)",
        saves,
        "printf x > src/saved.rs",
        "`ssh host 'printf x > file'`",
    )?);

    // A folder as most are (100 names), each run another: listed on the host when opened.
    b.press("#tree li[data-path='tree'] .name", Duration::from_secs(60))?;
    wait(b, "#tree li[data-path='tree/d00']", Duration::from_secs(60))?;
    let mut folders = Vec::new();
    for run in 0..ctx.runs.max(1) {
        let dir = format!("tree/d{run:02}");
        let first = format!("{dir}/f{:05}.rs", run * 100);
        folders.push(timed_call(
            b,
            "open a folder",
            &format!(
                "benchTime(() => document.querySelector(\"#tree li[data-path='{dir}'] .name\").click(), \
                 () => !!document.querySelector(\"#tree li[data-path='{first}']\"))"
            ),
            &format!("api/tree?path=tree%2Fd{run:02}"),
            false,
        )?);
        // Closed again, so the next one is still in view.
        b.press(&format!("#tree li[data-path='{dir}'] .name"), Duration::from_secs(60))?;
    }
    out.push(with_call(
        "a folder of 100 names (click → names shown)",
        folders,
        "ls -l tree/d00",
        "`ssh host ls -l folder`",
    )?);
    // Closed again: the big folder's rows below start where they did.
    b.press("#tree li[data-path='tree'] .name", Duration::from_secs(60))?;

    // The big folder: opened (its first names shown), closed, again.
    let mut lists = Vec::new();
    for _ in 0..ctx.runs.max(1) {
        lists.push(timed_call(
            b,
            "open the big folder",
            "benchTime(() => document.querySelector(\"#tree li[data-path='many'] .name\").click(), \
             () => !!document.querySelector(\"#tree li[data-path='many/f00000.txt']\"))",
            "api/tree?path=many&first=",
            true,
        )?);
        // (Its first names come on their own: the whole listing is let in before it closes.)
        wait_for(b, &whole_big_folder(), Duration::from_secs(60))?;
        timed(
            b,
            "close the big folder",
            "benchTime(() => document.querySelector(\"#tree li[data-path='many'] .name\").click(), \
             () => !document.querySelector(\"#tree li[data-path='many/f00000.txt']\"))",
        )?;
    }
    out.push(PageRow {
        note: "its call: until its answer began (the first names; the whole listing follows in it)".into(),
        ..with_call(
            "a folder of 12,000 names (click → first names shown)",
            lists,
            "ls -l many",
            "`ssh host ls -l folder`",
        )?
    });

    // Scrolling it end to end in 110 frames (a fast flick: about 110 rows a frame), each
    // frame's time.
    b.press("#tree li[data-path='many'] .name", Duration::from_secs(60))?;
    wait_for(b, &whole_big_folder(), Duration::from_secs(60))?;
    let frames = b.eval_async(
        r##"const done = arguments[arguments.length - 1];
           const s = document.querySelector('#tree .tree-scroll');
           const frames = []; let last = 0; let n = 0;
           const stride = Math.ceil((s.scrollHeight - s.clientHeight) / 110);
           const step = (now) => {
             if (last) frames.push(now - last);
             last = now;
             s.scrollTop += stride;
             if (++n <= 120) requestAnimationFrame(step);
             else done({ frames, top: s.scrollTop, rows: document.querySelectorAll('#tree li').length,
                         last: !!document.querySelector("#tree li[data-path='many/f11999.txt']") });
           };
           requestAnimationFrame(step);"##,
        vec![],
    )?;
    let mut ms: Vec<f64> = frames["frames"]
        .as_array()
        .context("no frame times")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    ensure!(ms.len() >= 100, "only {} frames timed: {frames}", ms.len());
    ensure!(
        frames["last"] == json!(true),
        "the scroll did not reach the end: {frames}"
    );
    ms.sort_by(f64::total_cmp);
    let long = ms.iter().filter(|&&f| f > 1000.0 / 50.0).count();
    out.push(row(
        "scroll it end to end (frame time, median)",
        Duration::from_secs_f64(ms[ms.len() / 2] / 1000.0),
        None,
        format!(
            "longest frame {:.1} ms; {long} of {} frames over 20 ms; {} rows in the page",
            ms[ms.len() - 1],
            ms.len(),
            frames["rows"]
        ),
    ));

    // Search (Ctrl-Shift-F) over the home folder, the 10,000-file tree in it: from Enter to
    // the summary of all matches; beside grep over the same files (the folders in it that
    // are not hidden, as the search leaves those out).
    b.press("#tree-filter", Duration::from_secs(30))?;
    b.type_into(&b.find("#tree-filter")?, "\u{E009}\u{E008}f\u{E000}")?;
    wait(b, "#search-q", Duration::from_secs(30))?;
    let mut searches = Vec::new();
    for _ in 0..ctx.runs.max(1) {
        searches.push(timed(
            b,
            "search",
            "benchTime(() => { document.querySelector('#search-summary').textContent = ''; \
               document.querySelector('#search-q').value = 'needle'; \
               document.querySelector('#search-go').click(); }, \
             () => /^10 matches in \\d+ files searched$/.test(document.querySelector('#search-summary').textContent))",
        )?);
    }
    out.push(beside_ssh(
        "search 10,000 files for a word (Enter → all matches)",
        searches,
        "grep -rn needle many src tree >/dev/null",
        "`ssh host grep -rn word .`",
    )?);

    // A terminal: a key to the shell and its echo back, each key timed.
    b.press("#new-terminal", Duration::from_secs(30))?;
    wait(b, ".term[data-state='open']", Duration::from_secs(60))?;
    // The prompt first: then every write is an echo.
    b.eval_async(
        "const done = arguments[arguments.length - 1]; const t = window.mlc.terminals.at(-1); \
         const check = () => { const l = t.buffer.active; for (let i = 0; i <= l.cursorY; i++) \
           if (l.getLine(l.baseY + i)?.translateToString().trim()) return done(true); setTimeout(check, 20); }; check();",
        vec![],
    )?;
    let mut echoes = Vec::new();
    for _ in 0..ctx.runs.max(1) * 3 {
        echoes.push(timed(
            b,
            "keystroke echo",
            "new Promise((resolve) => { const t = window.mlc.terminals.at(-1); const b = t.buffer.active; \
               window.typed = (window.typed || '') + 'x'; \
               const line = () => b.getLine(b.baseY + b.cursorY)?.translateToString(true) || ''; \
               const t0 = performance.now(); \
               const d = t.onWriteParsed(() => { if (line().endsWith(window.typed)) { d.dispose(); resolve(performance.now() - t0); } }); \
               t.input('x'); })",
        )?);
    }
    out.push(row(
        "keystroke → its echo in a terminal",
        median(echoes),
        None,
        String::new(),
    ));
    drop(ui);
    Ok(out)
}

/// `cargo mlcremote open --host devbox --no-browser`: the UI and its launch URL.
fn start_ui(ctx: &Ctx<'_>, config: &Path, xdg: &Path) -> Result<(Ui, String)> {
    start_ui_with(ctx, &["open", "--host", "devbox"], config, xdg)
}

/// End the terminal sessions earlier rows left on the page user's server (each shell is
/// the server's child), so a first screen restores none: a UI run killed while it
/// restored twenty terminals leaves their scrollback crossing the link into the next run.
fn end_terminals(user: &User) -> Result<()> {
    let state: Value = serde_json::from_str(&fs::read_to_string(user.mlcremote_dir().join("server.json"))?)?;
    let pid = state["pid"].as_u64().context("no pid in server.json")?;
    // Exit 1: there were none.
    std::process::Command::new("pkill")
        .args(["-KILL", "-P", &pid.to_string()])
        .status()?;
    Ok(())
}

/// Hosts and terminals in each for the memory row.
pub const HOSTS: usize = 5;
pub const TERMINALS: usize = 4;

/// The UI process's memory with [`HOSTS`] hosts connected, each with its workspace and
/// [`TERMINALS`] terminals open (five names of one account on the test sshd: five SSH
/// connections, twenty terminal sessions). The time is how long opening all of it took.
pub fn memory_row(ctx: &Ctx<'_>, b: &Browser, user: &User, link: &'static str) -> Result<PageRow> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("ssh_config");
    let hosts: String = (1..=HOSTS)
        .map(|i| {
            format!(
                "Host devbox{i}\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile {}\n  UserKnownHostsFile {}\n  StrictHostKeyChecking yes\n",
                ctx.port,
                user.name,
                user.key.display(),
                ctx.known_hosts.display()
            )
        })
        .collect();
    fs::write(&config, hosts)?;
    let start = Instant::now();
    let (ui, url) = start_ui_with(ctx, &["ui"], &config, &dir.path().join("xdg"))?;
    b.goto(&url)?;
    let long = Duration::from_secs(120);
    for i in 1..=HOSTS {
        if i > 1 {
            b.press("button[data-tab='hosts']", long)?;
        }
        b.press(&format!("#hosts li[data-host='devbox{i}'] button.connect"), long)?;
        b.press("#act-open-workspace:enabled", long)?;
        wait(b, "#tree li[data-path='many']", long)?;
        for t in 1..=TERMINALS {
            b.press("#new-terminal", long)?;
            // The workspace shown holds its own terminals only (another's are out of the page).
            wait_for(
                b,
                &format!("document.querySelectorAll(\".term[data-state='open']\").length >= {t}"),
                long,
            )?;
        }
    }
    let took = start.elapsed();
    let status = fs::read_to_string(format!("/proc/{}/status", ui.0.id()))?;
    let kib = |key: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {key} in /proc/PID/status"))
    };
    let (rss, peak) = (kib("VmRSS:")?, kib("VmHWM:")?);
    drop(ui);
    Ok(PageRow {
        job: "the UI process, 5 hosts × 4 terminals open (time to open them all)",
        link,
        ours: took,
        baseline: None,
        note: format!(
            "RSS {:.1} MiB (peak {:.1} MiB)",
            rss as f64 / 1024.0,
            peak as f64 / 1024.0
        ),
        rtt: ctx.rtt,
        call: None,
    })
}

/// `cargo mlcremote <command> --no-browser`: the UI and its launch URL.
fn start_ui_with(ctx: &Ctx<'_>, command: &[&str], config: &Path, xdg: &Path) -> Result<(Ui, String)> {
    let mut child = ctx
        .client()
        .args(command)
        .args(["--no-browser", "-F"])
        .arg(config)
        .env("XDG_CONFIG_HOME", xdg)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
    let ui = Ui(child);
    let url = line
        .trim()
        .strip_prefix("mlcremote ui: ")
        .with_context(|| format!("not the UI's launch line: {line:?}"))?
        .to_string();
    Ok((ui, url))
}

/// Until `css` is in the page, watched from inside it (a `MutationObserver`), so a time
/// that ends with it is not rounded up to a poll.
fn wait(b: &Browser, css: &str, within: Duration) -> Result<()> {
    wait_for(b, &format!("document.querySelector({})", json!(css)), within)
}

/// Until the expression `js` holds in the page, checked on every change of it; in turns
/// shorter than WebDriver's 30 s script timeout.
fn wait_for(b: &Browser, js: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let turn = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(25));
        let found = b.eval_async(
            &format!(
                "const [ms, done] = arguments; const ok = () => !!({js}); \
                 if (ok()) return done(true); \
                 const o = new MutationObserver(() => {{ if (ok()) {{ o.disconnect(); clearTimeout(t); done(true); }} }}); \
                 const t = setTimeout(() => {{ o.disconnect(); done(false); }}, ms); \
                 o.observe(document.documentElement, {{ childList: true, subtree: true, attributes: true }});"
            ),
            vec![json!(turn.as_millis() as u64)],
        )?;
        if found == json!(true) {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{js} did not hold within {within:?}: {}",
            b.page_text().unwrap_or_default()
        );
    }
}

/// The page's table.
pub fn render(rows: &[PageRow], runs: usize) -> String {
    let mut t = format!(
        "| in the page (median of {runs}) | link | mlcremote | in round trips | its host call alone (loopback: ms) | baseline | ratio | |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let trips = r
            .rtt
            .map(|rtt| format!("{:.1}", r.ours.as_secs_f64() / rtt.as_secs_f64()))
            .unwrap_or_default();
        let call = match (r.call, r.rtt) {
            (Some(call), Some(rtt)) => format!("{:.2} round trips", call.as_secs_f64() / rtt.as_secs_f64()),
            (Some(call), None) => format!("{:.1} ms", call.as_secs_f64() * 1000.0),
            (None, _) => String::new(),
        };
        let (base, ratio) = match r.baseline {
            Some((d, what)) => (
                format!("{} {what}", secs(d)),
                format!("{:.2}×", r.ours.as_secs_f64() / d.as_secs_f64()),
            ),
            None => (String::new(), String::new()),
        };
        t.push_str(&format!(
            "| {} | {} | {} | {trips} | {call} | {base} | {ratio} | {} |\n",
            r.job,
            r.link,
            secs(r.ours),
            r.note
        ));
    }
    t
}

/// The user whose files the page shows: a fresh server there first (the page rows
/// measure using it, not installing it).
pub fn deploy_once(ctx: &Ctx<'_>, user: &User) -> Result<()> {
    ctx.deploy(&[user], Source::Dist).map(drop)
}
