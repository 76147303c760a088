// Terminals: xterm.js on the host's terminal sessions (/ws/terminal, SPEC §4). A session
// lives on the host: a dropped socket (a tab switch, an SSH drop, a reload, a restart of
// the UI) attaches again to the same shell and gets its output back; only closing the
// tab (or `exit`) ends it. What a host prints stays inside the terminal: no clipboard
// writes (OSC 52), and a link (OSC 8) opens only after a click and a question that shows
// where it leads.
import { h, dialog } from "/assets/dom.js";
import { socket, call, Backoff, uiAnswers } from "/assets/net.js";

/// A link from a host: shown, and opened in a new tab (no opener, no referrer) only if
/// the person says so, and only http(s).
async function openLink(uri) {
  let url;
  try { url = new URL(uri); } catch { return; }
  if (url.protocol !== "http:" && url.protocol !== "https:") return;
  const extra = h("p", {}, h("code#link-target", {}, url.href));
  if (await dialog("The terminal links to another site. Open it in a new tab?", [["Cancel", false], ["Open", true, "primary"]], { extra })) {
    window.open(url.href, "_blank", "noopener,noreferrer");
  }
}

/// One host's terminals: a tab each, one shown at a time.
export class Terminals {
  constructor(host) {
    this.host = host;
    this.list = [];
    this.active = null;
    this.count = 0;
    this.tabs = h("div.term-tabs#term-tabs");
    this.panes = h("div.terms#terms");
    this.el = h("section.term-panel", {},
      h("div.toolbar", {}, h("button#new-terminal", { onclick: () => this.open() }, "New terminal"), this.tabs),
      this.panes);
  }

  /// Attach to every session the host keeps: after a reload or a restart of the UI, the
  /// shells are where they were.
  async restore() {
    try {
      const sessions = await (await call(this.host, "GET", "terminals")).json();
      for (const s of sessions) if (!this.list.some((t) => t.session === s.id)) this.open(s.id);
    } catch { /* no sessions to show; a new terminal still works */ }
  }

  open(session = null) {
    const t = new Term(this, session, ++this.count);
    this.list.push(t);
    this.show(t);
    return t;
  }

  show(t) {
    this.active = t;
    for (const x of this.list) { x.tab.classList.toggle("active", x === t); x.box.hidden = x !== t; }
    t.fitted();
  }

  /// A terminal is gone: its tab goes, the one before it shows.
  closed(t) {
    const at = this.list.indexOf(t);
    if (at < 0) return;
    this.list.splice(at, 1);
    t.tab.remove();
    t.box.remove();
    if (this.active === t) { const next = this.list[Math.max(0, at - 1)]; if (next) this.show(next); else this.active = null; }
  }

  /// Shown again after another view.
  shown() { this.active?.fitted(); }

  /// The workspace is gone: sockets close, the sessions stay on the host.
  detach() { for (const t of [...this.list]) t.detach(); }
}

/// xterm.js, loaded with the first terminal, not with the page.
let xterm = null;
const loadXterm = () => (xterm ||= Promise.all([import("/assets/xterm.mjs"), import("/assets/addon-fit.mjs")]));

class Term {
  constructor(panel, session, number) {
    this.panel = panel;
    this.host = panel.host;
    this.session = session;
    this.backoff = new Backoff(0.5); // between attempts to attach again
    this.state = "new"; // new | open | waiting | taken | ended | closed
    this.box = h("div.term", { dataset: { state: "connecting" } });
    this.label = h("span.label", { onclick: () => panel.show(this) }, `Terminal ${number}`);
    this.tab = h("span.term-tab", {}, this.label,
      h("button.close", { title: "Close this terminal (ends its shell)", onclick: () => this.close() }, "×"));
    panel.tabs.append(this.tab);
    panel.panes.append(this.box);
    loadXterm().then(([{ Terminal }, { FitAddon }]) => this.start(Terminal, FitAddon));
  }

  start(Terminal, FitAddon) {
    if (this.state === "closed") return;
    const term = new Terminal({
      fontSize: 13, cursorBlink: true, theme: { background: "#000000", foreground: "#e5e7eb", cursor: "#e5e7eb" },
      linkHandler: { activate: (_event, uri) => openLink(uri), allowNonHttpProtocols: false },
    });
    term.parser.registerOscHandler(52, () => { window.mlc.clipboardRefused += 1; return true; });
    this.fit = new FitAddon();
    term.loadAddon(this.fit);
    term.open(this.box);
    this.term = term;
    window.mlc.terminals.push(term);
    term.onData((d) => this.ws?.readyState === WebSocket.OPEN && this.ws.send(new TextEncoder().encode(d)));
    term.onResize(({ cols, rows }) => this.ws?.readyState === WebSocket.OPEN && this.ws.send(JSON.stringify({ type: "resize", cols, rows })));
    new ResizeObserver(() => this.fitted()).observe(this.box);
    this.connect();
    term.focus();
  }

  fitted() { if (this.fit && this.box.isConnected && !this.box.hidden) this.fit.fit(); }

  /// A line over the terminal: what happened, and what can be done.
  notice(text, ...buttons) {
    this.box.querySelector(".gone")?.remove();
    if (text) this.box.append(h("div.gone", {}, h("span.why", {}, text), ...buttons));
  }

  connect() {
    clearTimeout(this.timer);
    if (this.state === "closed" || this.state === "ended") return;
    const size = `cols=${this.term.cols}&rows=${this.term.rows}`;
    const ws = socket(`/h/${encodeURIComponent(this.host)}/ws/terminal?${size}${this.session ? `&session=${this.session}` : ""}`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    this.box.dataset.state = "connecting";
    ws.onmessage = (m) => {
      if (typeof m.data !== "string") { this.term.write(new Uint8Array(m.data)); return; }
      let msg = null;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === "session") {
        // Attached again: the session sends what it kept, so the screen starts afresh.
        if (this.session === msg.id && this.state !== "new") this.term.reset();
        this.session = msg.id;
        this.state = "open";
        this.backoff.reset();
        this.box.dataset.state = "open";
        this.box.dataset.session = msg.id;
        this.notice(null);
        // The box may have been fitted again while connecting: say the size it has now.
        ws.send(JSON.stringify({ type: "resize", cols: this.term.cols, rows: this.term.rows }));
      } else if (msg.type === "exit") {
        this.state = "ended";
        this.end();
      } else if (msg.type === "taken") {
        this.state = "taken";
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.box.dataset.state = "closed";
      if (this.state === "closed" || this.state === "ended") return;
      if (this.state === "taken") {
        this.notice("This terminal is open in another page.", h("button.reconnect", { onclick: () => { this.state = "waiting"; this.connect(); } }, "Use it here"));
        return;
      }
      this.state = "waiting";
      this.retry();
    };
  }

  /// The socket dropped: is the session still there? Then attach again (backing off,
  /// saying why); if it ended meanwhile, say so.
  async retry() {
    const wait = this.backoff.next();
    const now = h("button.reconnect", { onclick: () => this.connect() }, "Reconnect now");
    let why = "Disconnected";
    if (this.session) {
      try {
        const sessions = await (await call(this.host, "GET", "terminals")).json();
        if (!sessions.some((s) => s.id === this.session)) {
          this.state = "ended";
          this.box.dataset.state = "ended";
          this.notice("This terminal's shell has ended (was the server restarted?).",
            h("button.reconnect", { onclick: () => { this.close(); this.panel.open(); } }, "New terminal"));
          return;
        }
      } catch (e) {
        why = `The host cannot be reached (${e.message})`;
      }
    }
    if (this.state !== "waiting") return;
    this.notice(`${why}; trying again in ${wait} s.`, now);
    // Only once the UI answers (see `uiAnswers`).
    this.timer = setTimeout(async () => { await uiAnswers(); if (this.state === "waiting") this.connect(); }, wait * 1000);
  }

  /// The shell exited (`exit`): the tab closes.
  end() {
    this.box.dataset.state = "ended";
    this.term?.dispose();
    this.panel.closed(this);
  }

  /// Closed by the person: the session ends on the host too.
  async close() {
    const session = this.session;
    this.detach();
    if (session) await call(this.host, "DELETE", `terminals/${session}`).catch(() => {});
  }

  /// The socket closes; the session (if any) stays on the host.
  detach() {
    this.state = "closed";
    clearTimeout(this.timer);
    this.ws?.close();
    this.term?.dispose();
    this.panel.closed(this);
  }
}
