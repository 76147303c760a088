// Everything the page says goes to its own origin, with this UI's key (SPEC §9): the
// header X-Mlcremote-Key, or on a WebSocket the subprotocol mlcremote.key.<key>.
// /ui/ws runs the library's operations; /h/<host>/… is the host's server API forwarded
// through SSH by the client (which adds the server's token; the page never sees it).

// The key comes once, in the launch's redirect (/#key=…), and stays in this origin's
// storage: a reload or a new tab of this UI keeps working; no other port can read it.
// A key offered in the address is taken only if this UI accepts it (a page elsewhere
// could link here with a wrong one).
export const KEY = await (async () => {
  const stored = localStorage.getItem("mlcremote.key") || "";
  const offered = new URLSearchParams(location.hash.slice(1)).get("key");
  if (!offered) return stored;
  history.replaceState(null, "", "/");
  if (offered !== stored && (await fetch("/ui/hosts", { headers: { "X-Mlcremote-Key": offered } })).ok) {
    localStorage.setItem("mlcremote.key", offered);
    return offered;
  }
  return stored;
})();

/// fetch, with this UI's key.
export const send = (url, init = {}) => fetch(url, { ...init, headers: { ...init.headers, "X-Mlcremote-Key": KEY } });
/// A WebSocket to this UI, with its key.
export const socket = (path) => new WebSocket(`ws://${location.host}${path}`, [`mlcremote.key.${KEY}`]);

/// The host's API at `path` (which may carry a query).
export const api = (host, path) => `/h/${encodeURIComponent(host)}/api/${path}`;
/// A file's `path` query value: its raw bytes when its name is not UTF-8 (`raw_path` is
/// percent-encoded already), else its name encoded.
export const pathArg = (item) => item.raw_path || encodeURIComponent(item.path);

/// A request to the host's API; rejects with { message, status } unless it succeeded.
export async function call(host, method, path, body, headers = {}) {
  let r;
  try {
    r = await send(api(host, path), { method, body, headers });
  } catch (e) {
    const err = new Error(`the UI did not answer (${e.message})`); err.status = 0; throw err;
  }
  if (!r.ok) {
    let message = `${r.status}`;
    try { message = (await r.json()).error || message; } catch { /* not JSON */ }
    const e = new Error(message); e.status = r.status; throw e;
  }
  return r;
}

/// POST a JSON body; resolves to the JSON answer (or null).
export async function post(host, path, body) {
  const r = await call(host, "POST", path, JSON.stringify(body), { "content-type": "application/json" });
  return r.status === 204 ? null : r.json().catch(() => null);
}

/// The version of the /ui/ws protocol this page speaks (`ops::PROTOCOL` in the UI server).
const PROTOCOL = 1;

/// Whether this page's UI answers (its /ui/ws is open). A WebSocket that fails counts
/// against every page of the browser on 127.0.0.1: Chromium holds back each new one of a
/// renderer by up to seconds after many failed ones. So a page whose UI stopped tries
/// again with plain requests (a refused one costs nothing) and opens sockets (its own,
/// the terminals', the watch's) only once the UI answers: a tab left on a stopped UI must
/// not slow the page of the next one.
let answering = false;
const waiting = [];
export const uiAnswers = () => (answering ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve)));
const setAnswering = (yes) => {
  answering = yes;
  if (yes) waiting.splice(0).forEach((resolve) => resolve());
};

/// Operations over /ui/ws: progress events, log lines, questions (host key, passwords).
export class Ops {
  constructor({ banner, answer }) {
    this.next = 1;
    this.running = new Map();
    this.banner = banner;
    this.answerer = answer;
    this.backoff = new Backoff(1);
    this.open();
  }
  open() {
    this.ws = socket("/ui/ws");
    this.ws.onopen = () => { this.backoff.reset(); this.banner(null); setAnswering(true); };
    this.ws.onmessage = (m) => this.message(JSON.parse(m.data));
    this.ws.onclose = () => {
      setAnswering(false);
      for (const [, op] of this.running) op.reject({ message: "the connection to the UI dropped" });
      this.running.clear();
      this.banner("Lost the connection to mlcremote ui; reconnecting…");
      this.reopen();
    };
  }
  /// Plain requests (backing off) until the UI answers one, then the socket again.
  async reopen() {
    for (;;) {
      await new Promise((wake) => setTimeout(wake, this.backoff.next() * 1000));
      try {
        await send("/ui/prefs", { cache: "no-store" });
        break;
      } catch { /* not answering yet */ }
    }
    this.open();
  }
  /// Run `op` on `host`; `on.event(e)` and `on.log(text)` see progress. Resolves to the
  /// result, rejects with {message, detail, exit_code}.
  async run(op, host, args = {}, on = {}) {
    await uiAnswers();
    const id = this.next++;
    on.started?.(id);
    return new Promise((resolve, reject) => {
      this.running.set(id, { resolve, reject, on });
      this.ws.send(JSON.stringify({ id, op, host, ...args }));
    });
  }
  cancel(id) { this.ws.send(JSON.stringify({ type: "cancel", id })); }
  async message(m) {
    // This page speaks PROTOCOL; a UI that speaks another (the client was updated while
    // the page stayed open) serves the page that goes with it.
    if (m.type === "hello") {
      if (m.protocol !== PROTOCOL) location.reload();
      return;
    }
    if (m.type === "ask") {
      const reply = await this.answerer(m.data);
      this.ws.send(JSON.stringify({ type: "answer", qid: m.qid, ...reply }));
      return;
    }
    const op = this.running.get(m.id);
    if (!op) return;
    if (m.type === "event") op.on.event?.(m.data);
    else if (m.type === "log") op.on.log?.(m.data);
    else if (m.type === "done") { this.running.delete(m.id); op.resolve(m.data); }
    else if (m.type === "failed") { this.running.delete(m.id); op.reject(m.data); }
  }
}

/// Waits between attempts to connect again, in seconds: from `first`, doubling to 30 s,
/// then 30 s each time; `reset()` once connected.
export class Backoff {
  constructor(first) {
    this.steps = [first, ...[1, 2, 4, 8, 15, 30].filter((s) => s > first)];
    this.attempt = 0;
  }
  next() { return this.steps[Math.min(this.attempt++, this.steps.length - 1)]; }
  reset() { this.attempt = 0; }
}
