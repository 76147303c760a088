// The mlcremote UI: hosts, the deploy flow, and a workspace per host (files, editor,
// terminals). Plain ES modules, no build step. Everything goes to this page's own
// origin: /ui/ws runs the library's operations, /h/<host>/… is the host's server API
// forwarded through SSH by the client (which adds the server's token; the page never
// sees it). Every request carries this UI's key (SPEC §9): the header X-Mlcremote-Key,
// or on a WebSocket the subprotocol mlcremote.key.<key>.
import { Terminal } from "/assets/xterm.mjs";
import { FitAddon } from "/assets/addon-fit.mjs";

const $ = (sel, root = document) => root.querySelector(sel);

// The key comes once, in the launch's redirect (/#key=…), and stays in this origin's
// storage: a reload or a new tab of this UI keeps working; no other port can read it.
// A key offered in the address is taken only if this UI accepts it (a page elsewhere
// could link here with a wrong one).
const KEY = await (async () => {
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
const send = (url, init = {}) => fetch(url, { ...init, headers: { ...init.headers, "X-Mlcremote-Key": KEY } });
/// A WebSocket to this UI, with its key.
const socket = (path) => new WebSocket(`ws://${location.host}${path}`, [`mlcremote.key.${KEY}`]);
const main = $("#main");
const MAX_TEXT = 2 * 1024 * 1024;

/// Build an element: h("button.primary#go", {onclick}, "Go").
function h(spec, attrs = {}, ...children) {
  const tag = spec.match(/^[a-z0-9]*/)[0] || "div";
  const id = spec.match(/#([\w-]+)/)?.[1];
  const classes = [...spec.matchAll(/\.([\w-]+)/g)].map((m) => m[1]);
  const el = document.createElement(tag);
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

// ---- Dialogs -------------------------------------------------------------------------

/// Show `text` with buttons; resolves to the chosen button's value (or the input's text).
function dialog(text, buttons, { extra = null, input = null } = {}) {
  return new Promise((resolve) => {
    const box = $("#dialog");
    $("#dialog-text").textContent = text;
    const extraEl = $("#dialog-extra");
    extraEl.replaceChildren();
    if (extra) extraEl.append(extra);
    let field = null;
    if (input) {
      field = h("input#dialog-input", { type: input.type || "text", value: input.value || "", autocomplete: "off" });
      extraEl.append(field);
    }
    const row = $("#dialog-buttons");
    row.replaceChildren(
      ...buttons.map(([label, value, cls]) =>
        h(`button.${(cls || "plain").replace(/ /g, ".")}`, {
          dataset: { value: String(value) },
          onclick: () => {
            box.hidden = true;
            resolve(field && value !== false ? field.value : value);
          },
        }, label),
      ),
    );
    box.hidden = false;
    (field || row.lastElementChild).focus();
  });
}
const confirmIt = (text, yes = "OK") => dialog(text, [["Cancel", false], [yes, true, "danger"]]);
const ask = (text, value = "") => dialog(text, [["Cancel", false], ["OK", true, "primary"]], { input: { value } });

// ---- Operations over /ui/ws ----------------------------------------------------------

class Ops {
  constructor() {
    this.next = 1;
    this.running = new Map();
    this.open();
  }
  open() {
    this.ready = new Promise((resolve) => {
      this.ws = socket("/ui/ws");
      this.ws.onopen = () => { banner(null); resolve(); };
      this.ws.onmessage = (m) => this.message(JSON.parse(m.data));
      this.ws.onclose = () => {
        for (const [, op] of this.running) op.reject({ message: "the connection to the UI dropped" });
        this.running.clear();
        banner("Lost the connection to mlcremote ui; reconnecting…");
        setTimeout(() => this.open(), 1000);
      };
    });
  }
  /// Run `op` on `host`; `on.event(e)` and `on.log(text)` see progress. Resolves to the
  /// result, rejects with {message, detail, exit_code}.
  async run(op, host, args = {}, on = {}) {
    await this.ready;
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.running.set(id, { resolve, reject, on });
      this.ws.send(JSON.stringify({ id, op, host, ...args }));
    });
  }
  cancel(id) { this.ws.send(JSON.stringify({ type: "cancel", id })); }
  async message(m) {
    const op = this.running.get(m.id);
    if (m.type === "ask") return this.answer(m.qid, m.data);
    if (!op) return;
    if (m.type === "event") op.on.event?.(m.data);
    else if (m.type === "log") op.on.log?.(m.data);
    else if (m.type === "done") { this.running.delete(m.id); op.resolve(m.data); }
    else if (m.type === "failed") { this.running.delete(m.id); op.reject(m.data); }
  }
  async answer(qid, q) {
    let reply = { type: "answer", qid, value: "no" };
    if (q.ask === "trust_host_key") {
      const extra = h("p", {}, "Fingerprint: ", h("code#fingerprint", {}, q.fingerprint), ` (${q.algorithm})`);
      const yes = await dialog(`${q.host} is not in your known_hosts yet. Check the fingerprint with the host's owner, then trust it.`,
        [["Refuse", false], ["Trust", true, "primary trust"]], { extra });
      if (yes) reply.value = "yes";
    } else if (q.ask === "passphrase" || q.ask === "password") {
      const what = q.ask === "password" ? `Password for ${q.destination}` : `Passphrase for ${q.key}`;
      const secret = await dialog(what, [["Cancel", false], ["Log in", true, "primary"]], { input: { type: "password" } });
      if (secret !== false) reply = { type: "answer", qid, value: "secret", secret };
    } else if (q.ask === "consent") {
      if (await confirmIt(q.question, "Yes")) reply.value = "yes";
    }
    this.ws.send(JSON.stringify(reply));
  }
}

function banner(text) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
}

const ops = new Ops();
const state = { hosts: new Map(), view: "hosts" }; // host → { status, workspace }
window.mlc = { terminals: [], clipboardRefused: 0 }; // for tests: read terminal buffers

// ---- Tabs ------------------------------------------------------------------------------

function tabs() {
  const nav = $("#tabs");
  const items = [["hosts", "Hosts"], ...[...state.hosts.keys()].map((k) => [`host:${k}`, k])];
  nav.replaceChildren(...items.map(([key, label]) =>
    h(`button.tab${state.view === key ? ".active" : ""}`, { dataset: { tab: key }, onclick: () => show(key) }, label)));
}

function show(view) {
  state.view = view;
  tabs();
  if (view === "hosts") return showHosts();
  const host = view.slice(5);
  const entry = state.hosts.get(host);
  if (entry?.workspace && entry.healthy) return showWorkspace(host);
  return showHost(host);
}

// ---- Hosts -------------------------------------------------------------------------------

async function showHosts() {
  const list = h("ul.plain#hosts");
  const card = h("section.card", {}, h("h2", {}, "Hosts"), list);
  const form = h("form.grid#new-host", { onsubmit: (e) => { e.preventDefault(); connectForm(form); } },
    h("label", { for: "f-host" }, "Host"), h("input#f-host", { name: "host", required: true, placeholder: "devbox.example.com" }),
    h("label", { for: "f-port" }, "Port"), h("input#f-port", { name: "port", placeholder: "22", inputmode: "numeric" }),
    h("label", { for: "f-user" }, "User"), h("input#f-user", { name: "user", placeholder: "(your ssh config's, else your login)" }),
    h("label", { for: "f-key" }, "Key file"), h("input#f-key", { name: "identity", placeholder: "~/.ssh/id_ed25519 (optional)" }),
    h("label", { for: "f-password" }, "Password"), h("input#f-password", { name: "password", type: "password", autocomplete: "off", placeholder: "(if the host takes passwords)" }),
    h("span"), h("div", {}, h("button.primary#f-connect", { type: "submit" }, "Connect")));
  main.replaceChildren(card, h("section.card", {}, h("h2", {}, "Another host"), form), h("p.error#connect-error"));
  const response = await send("/ui/hosts");
  if (response.status === 401) {
    main.replaceChildren(h("p.error#unauthorized", {}, "This page is not yours yet: open the link `cargo mlcremote ui` printed (it works once per start)."));
    return;
  }
  const { hosts, warning, open } = await response.json();
  if (open && !state.opened) {
    state.opened = true; // `cargo mlcremote open --host H`: straight to H's workspace
    openHost(open);
    return;
  }
  if (warning) card.append(h("p.error", {}, warning));
  if (!hosts.length) list.append(h("li.muted", {}, "No hosts in ~/.ssh/config yet; type one below."));
  for (const { name, from } of hosts) {
    list.append(h("li", { dataset: { host: name } },
      h("span.name", {}, name), h("span.muted", {}, from),
      h("button.primary.connect", { onclick: () => connect(name) }, "Connect")));
  }
}

function connectForm(form) {
  const f = new FormData(form);
  let host = f.get("host").trim();
  if (host.includes(":") && !host.startsWith("[")) host = `[${host}]`;
  if (f.get("user").trim()) host = `${f.get("user").trim()}@${host}`;
  if (f.get("port").trim()) host = `${host}:${f.get("port").trim()}`;
  const args = { identity: f.get("identity") || null, password: f.get("password") || null };
  form.reset(); // the password leaves the page as soon as it is sent
  connect(host, args);
}

/// Connect, install when no healthy server runs, then open the workspace.
async function openHost(host) {
  if (!await connect(host)) return;
  if (!state.hosts.get(host)?.healthy) {
    const view = hostView(host);
    renderHost(host, view);
    if (!await deploy(host, view, false)) return;
  }
  state.hosts.get(host).workspace = true;
  showWorkspace(host);
}

async function connect(host, args = {}) {
  state.hosts.set(host, state.hosts.get(host) || {});
  state.view = `host:${host}`;
  tabs();
  const view = hostView(host);
  view.note(`Connecting to ${host}…`);
  try {
    const status = await ops.run("connect", host, args, { event: view.event });
    setStatus(host, status);
    renderHost(host, view);
    view.note(status.healthy ? `Connected; the server on ${host} is healthy.` : `Connected to ${host}.`);
    return true;
  } catch (e) {
    view.failed("connect", e);
    return false;
  }
}

// ---- One host: status, deploy, lifecycle ---------------------------------------------------

function setStatus(host, status) {
  const entry = state.hosts.get(host) || {};
  entry.status = status;
  entry.healthy = !!status?.healthy;
  state.hosts.set(host, entry);
}

/// The host screen's skeleton; returns handlers for progress.
function hostView(host) {
  const steps = h("ul.plain.steps#steps");
  const out = h("div#op-out");
  const statusBox = h("dl.status#status");
  const buttons = h("div.toolbar#host-actions");
  main.replaceChildren(
    h("section.card", {}, h("h2", {}, host), statusBox, buttons),
    h("section.card", {}, h("h2", {}, "Progress"), h("p.muted#source"), steps, out),
  );
  const rows = new Map();
  const row = (step) => {
    if (!rows.has(step)) {
      const li = h("li", { dataset: { step } }, h("span", {}, step), h("span.muted.ms"));
      rows.set(step, li);
      steps.append(li);
    }
    return rows.get(step);
  };
  let current = null;
  return {
    note(text) { out.replaceChildren(h("p.muted", {}, text)); },
    event(e) {
      if (e.event === "step_started") { current = e.step; row(e.step).className = "running"; }
      else if (e.event === "step_done") { const r = row(e.step); r.className = "done"; $(".ms", r).textContent = `${e.ms} ms`; }
      else if ((e.event === "upload" || e.event === "download") && e.total > 0) {
        let bar = $(`#${e.event}-bar`);
        if (!bar) { bar = h(`progress#${e.event}-bar`, { max: 100 }); out.append(h("p", {}, `${e.event} `, bar)); }
        bar.max = e.total || 1; bar.value = e.event === "upload" ? e.sent : e.done;
      } else if (e.event === "source") { $("#source").textContent = `The server comes from ${e.text}.`; }
      else if (e.event === "note") { out.append(h("p.muted", {}, e.text)); }
    },
    failed(what, e) {
      if (current) row(current).className = "failed";
      out.replaceChildren(h("p.error#failure", {}, `${what} failed${current ? ` at ${current}` : ""}: ${e.message}`));
      if (e.detail) out.append(h("pre.log#failure-detail", {}, e.detail));
      current = null;
    },
    statusBox, buttons,
  };
}

function showHost(host) {
  const view = hostView(host);
  renderHost(host, view);
  if (!state.hosts.get(host)?.status) view.note("Not connected.");
  return view;
}

/// Fill the host card (status and actions) in place; progress below stays.
function renderHost(host, view) {
  const entry = state.hosts.get(host) || {};
  const s = entry.status;
  if (s) {
    const info = [
      ["installed", s.installed ? (s.binary_version || s.install?.version || "yes") : "no"],
      ["running", s.running ? `yes, pid ${s.pid}` : "no"],
      ["health", s.healthy ? "ok" : "—"],
      ["install dir", s.install_dir],
    ];
    view.statusBox.replaceChildren(...info.flatMap(([k, v]) => [h("dt", {}, k), h("dd", { dataset: { field: k } }, String(v))]));
  }
  const act = (label, fn, cls = "") => h(`button${cls}`, { onclick: fn, id: `act-${label.toLowerCase().replace(/\W+/g, "-")}` }, label);
  view.buttons.replaceChildren(
    act(s?.installed ? "Upgrade" : "Install", () => deploy(host, view, !!s?.installed), ".primary"),
    act("Open workspace", () => { entry.workspace = true; showWorkspace(host); }),
    act("Logs", () => logs(host, view)),
    act("Restart", () => lifecycle(host, view, "restart")),
    act("Stop", () => lifecycle(host, view, "stop")),
    act("Uninstall", async () => {
      if (await confirmIt(`Stop the server on ${host} and remove what deploy installed in ${s?.install_dir}?`, "Uninstall")) lifecycle(host, view, "uninstall");
    }, ".danger"),
    act("Reconnect", () => connect(host)),
  );
  $("#act-open-workspace").disabled = !entry.healthy;
  for (const id of ["#act-logs", "#act-restart", "#act-stop", "#act-uninstall"]) $(id).disabled = !s?.installed;
}

async function deploy(host, view, force) {
  for (const btn of view.buttons.querySelectorAll("button")) btn.disabled = true;
  try {
    const { report, status } = await ops.run("deploy", host, { force }, { event: view.event });
    setStatus(host, status);
    renderHost(host, view);
    $("#op-out").append(h("p#deploy-result", {}, `${report.result} mlcremote ${report.version || ""} (${report.target}) from ${report.artifact}`));
    return true;
  } catch (e) {
    view.failed("install", e);
    renderHost(host, view);
    return false;
  }
}

async function lifecycle(host, view, op) {
  view.note(`${op}…`);
  try {
    const result = await ops.run(op, host, {}, { event: view.event });
    setStatus(host, result.status || result);
    renderHost(host, view);
    $("#op-out").replaceChildren(h("p#op-result", {}, `${op}: done`));
  } catch (e) {
    view.failed(op, e);
  }
}

async function logs(host, view) {
  const pre = h("pre.log#logs");
  const follow = h("button#follow", {}, "Follow");
  $("#op-out").replaceChildren(h("div.toolbar", {}, follow), pre);
  let following = null;
  const load = (f) => ops.run("logs", host, { lines: 100, follow: f }, { log: (t) => { pre.textContent += t; pre.scrollTop = pre.scrollHeight; } })
    .catch((e) => view.failed("logs", e));
  follow.onclick = () => {
    if (following) { ops.cancel(following); following = null; follow.textContent = "Follow"; return; }
    pre.textContent = "";
    following = ops.next;
    follow.textContent = "Stop following";
    load(true);
  };
  load(false);
}

// ---- Workspace: files, editor, terminals ---------------------------------------------------------

const api = (host, path) => `/h/${encodeURIComponent(host)}/api/${path}`;
const q = (p) => encodeURIComponent(p);

async function call(host, method, path, body, headers = {}) {
  const r = await send(api(host, path), { method, body, headers });
  if (!r.ok) {
    let message = `${r.status}`;
    try { message = (await r.json()).error || message; } catch { /* not JSON */ }
    const e = new Error(message); e.status = r.status; throw e;
  }
  return r;
}

function showWorkspace(host) {
  const entry = state.hosts.get(host);
  const tree = h("div.tree#tree");
  const editor = h("textarea#editor", { spellcheck: "false", placeholder: "Open a file from the tree" });
  const status = h("span.muted#status-line");
  const save = h("button.primary#save", { disabled: true, onclick: () => saveFile(host, entry, editor, status) }, "Save");
  const upload = h("input#upload-input", { type: "file", multiple: true, hidden: true, onchange: () => uploadFiles(host, entry, upload.files) });
  const termArea = h("div.terms#terms");
  main.replaceChildren(h("div.workspace", {},
    tree,
    h("div.right", {},
      h("div.toolbar", {},
        h("button#new-file", { onclick: () => create(host, entry, "file") }, "New file"),
        h("button#new-folder", { onclick: () => create(host, entry, "folder") }, "New folder"),
        h("button#upload", { onclick: () => upload.click() }, "Upload"), upload,
        h("button#refresh", { onclick: () => loadTree(host, entry) }, "Refresh"),
        h("button#host-page", { onclick: () => { entry.workspace = false; showHost(host); } }, "Host"),
        h("span.mono#open-path")),
      h("div.toolbar", {}, save, status, h("progress#upload-bar", { hidden: true, max: 1 })),
      editor,
      h("div.toolbar", {}, h("button#new-terminal", { onclick: () => newTerminal(host, termArea) }, "New terminal")),
      termArea)));
  tree.addEventListener("dragover", (e) => { e.preventDefault(); tree.classList.add("drop"); });
  tree.addEventListener("dragleave", () => tree.classList.remove("drop"));
  tree.addEventListener("drop", (e) => { e.preventDefault(); tree.classList.remove("drop"); uploadFiles(host, entry, e.dataTransfer.files); });
  editor.addEventListener("input", () => { save.disabled = !entry.open; });
  entry.dir = entry.dir || "";
  loadTree(host, entry);
  if (entry.open) openFile(host, entry, entry.open.path);
}

async function loadTree(host, entry) {
  const tree = $("#tree");
  const root = h("ul");
  tree.replaceChildren(root);
  await listInto(host, entry, "", root);
}

/// List `dir` into `ul`; folders load their children when opened.
async function listInto(host, entry, dir, ul) {
  let items;
  try {
    items = await (await call(host, "GET", `tree?path=${q(dir)}`)).json();
  } catch (e) {
    ul.replaceChildren(h("li.error", {}, `cannot list ${dir || "the root"}: ${e.message}`));
    return;
  }
  items.sort((a, b) => (a.type === "dir") === (b.type === "dir") ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1);
  ul.replaceChildren(...items.map((item) => {
    const li = h("li", { dataset: { path: item.path, type: item.type } });
    const name = h("span.name", {}, `${item.type === "dir" ? "▸ " : ""}${item.name}`);
    const acts = h("span.acts", {},
      h("button.rename", { title: "Rename", onclick: () => rename(host, entry, item) }, "✎"),
      h("button.delete", { title: "Delete", onclick: () => remove(host, entry, item) }, "✕"),
      item.type === "file" ? h("button.download", { title: "Download", onclick: () => download(host, item) }, "⤓") : null);
    li.append(h("div.row", {}, name, acts));
    if (item.type === "dir") {
      let open = false;
      const children = h("ul");
      name.addEventListener("click", async () => {
        open = !open;
        name.textContent = `${open ? "▾" : "▸"} ${item.name}`;
        if (open) { li.append(children); await listInto(host, entry, item.path, children); entry.dir = item.path; }
        else children.remove();
      });
    } else {
      name.addEventListener("click", () => openFile(host, entry, item.path));
    }
    return li;
  }));
}

/// Download through fetch (with the key: no bare URL works), saved from a blob.
async function download(host, item) {
  const status = $("#status-line");
  try {
    const blob = await (await call(host, "GET", `file?path=${q(item.path)}`)).blob();
    const url = URL.createObjectURL(blob);
    window.mlc.downloaded = { name: item.name, blob }; // for tests: read what was saved
    h("a", { href: url, download: item.name }).click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    status.textContent = `downloaded ${item.path}`;
  } catch (e) {
    status.textContent = `cannot download ${item.path}: ${e.message}`;
  }
}

async function openFile(host, entry, path) {
  const status = $("#status-line");
  const editor = $("#editor");
  try {
    const stat = await (await call(host, "GET", `stat?path=${q(path)}`)).json();
    if (stat.size > MAX_TEXT) { status.textContent = `${path} is ${stat.size} bytes: too large to open as text; download it instead.`; return; }
    const bytes = new Uint8Array(await (await call(host, "GET", `file?path=${q(path)}`)).arrayBuffer());
    let text;
    try {
      if (bytes.subarray(0, 8192).includes(0)) throw new Error("NUL");
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      status.textContent = `${path} is not text; download it instead.`;
      return;
    }
    entry.open = { path, mtime: stat.mtime, size: stat.size };
    editor.value = text;
    $("#open-path").textContent = path;
    $("#save").disabled = false;
    status.textContent = `opened ${path}`;
  } catch (e) {
    status.textContent = `cannot open ${path}: ${e.message}`;
  }
}

async function saveFile(host, entry, editor, status) {
  const open = entry.open;
  if (!open) return;
  // Changed on the host since it was opened? Then the person decides.
  let now = null;
  try { now = await (await call(host, "GET", `stat?path=${q(open.path)}`)).json(); }
  catch (e) { if (e.status !== 404) { status.textContent = `cannot check ${open.path}: ${e.message}`; return; } }
  if (!now) {
    if (!await confirmIt(`${open.path} was deleted on the host since you opened it. Save it again?`, "Save")) { status.textContent = "not saved"; return; }
  } else if (now.mtime !== open.mtime || now.size !== open.size) {
    if (!await confirmIt(`${open.path} changed on the host since you opened it. Overwrite those changes?`, "Overwrite")) { status.textContent = "not saved (changed on the host)"; return; }
  }
  try {
    await call(host, "PUT", `file?path=${q(open.path)}`, editor.value);
    const stat = await (await call(host, "GET", `stat?path=${q(open.path)}`)).json();
    entry.open = { path: open.path, mtime: stat.mtime, size: stat.size };
    status.textContent = `saved ${open.path}`;
  } catch (e) {
    status.textContent = `cannot save ${open.path}: ${e.message}`;
  }
}

const join = (dir, name) => (dir ? `${dir}/${name}` : name);

async function create(host, entry, kind) {
  const name = await ask(`New ${kind} in ${entry.dir || "the root"}:`);
  if (!name) return;
  const path = join(entry.dir, name);
  try {
    if (kind === "folder") await call(host, "POST", "mkdir", JSON.stringify({ path }), { "content-type": "application/json" });
    else await call(host, "PUT", `file?path=${q(path)}`, "");
    await loadTree(host, entry);
    if (kind === "file") openFile(host, entry, path);
  } catch (e) { $("#status-line").textContent = `cannot create ${path}: ${e.message}`; }
}

async function rename(host, entry, item) {
  const to = await ask(`Rename ${item.path} to:`, item.path);
  if (!to || to === item.path) return;
  try {
    await call(host, "POST", "rename", JSON.stringify({ from: item.path, to }), { "content-type": "application/json" });
    if (entry.open?.path === item.path) entry.open.path = to;
    await loadTree(host, entry);
  } catch (e) { $("#status-line").textContent = `cannot rename ${item.path}: ${e.message}`; }
}

async function remove(host, entry, item) {
  if (!await confirmIt(`Delete ${item.path}${item.type === "dir" ? " and everything in it" : ""}?`, "Delete")) return;
  try {
    await call(host, "DELETE", `file?path=${q(item.path)}`);
    await loadTree(host, entry);
  } catch (e) { $("#status-line").textContent = `cannot delete ${item.path}: ${e.message}`; }
}

/// Upload files into the folder last opened, streamed, with a progress bar.
async function uploadFiles(host, entry, files) {
  const bar = $("#upload-bar");
  const status = $("#status-line");
  for (const file of files) {
    const path = join(entry.dir, file.name);
    bar.hidden = false;
    const ok = await new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", api(host, `file?path=${q(path)}`));
      xhr.setRequestHeader("X-Mlcremote-Key", KEY);
      xhr.upload.onprogress = (e) => { bar.max = e.total || 1; bar.value = e.loaded; };
      xhr.onload = () => resolve(xhr.status < 300 ? true : xhr.responseText);
      xhr.onerror = () => resolve("the connection failed");
      xhr.send(file);
    });
    status.textContent = ok === true ? `uploaded ${path}` : `cannot upload ${path}: ${ok}`;
  }
  bar.hidden = true;
  await loadTree(host, entry);
}

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

function newTerminal(host, area) {
  const box = h("div.term");
  area.append(box);
  const term = new Terminal({
    fontSize: 13, cursorBlink: true, theme: { background: "#000000", foreground: "#e5e7eb", cursor: "#e5e7eb" },
    // A link the host prints (OSC 8) opens only on a click, after the page shows where to.
    linkHandler: { activate: (_event, uri) => openLink(uri), allowNonHttpProtocols: false },
  });
  // The host may not write the clipboard (OSC 52): the sequence is taken and dropped.
  term.parser.registerOscHandler(52, () => { window.mlc.clipboardRefused += 1; return true; });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  window.mlc.terminals.push(term);
  let ws = null;
  const connect = () => {
    box.querySelector(".gone")?.remove();
    ws = socket(`/h/${encodeURIComponent(host)}/ws/terminal?cols=${term.cols}&rows=${term.rows}`);
    ws.binaryType = "arraybuffer";
    // The box may have been fitted again while connecting: say the size it has now.
    ws.onopen = () => { box.dataset.state = "open"; ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows })); };
    ws.onmessage = (m) => term.write(typeof m.data === "string" ? m.data : new Uint8Array(m.data));
    ws.onclose = () => {
      box.dataset.state = "closed";
      const gone = h("div.gone", {}, "Disconnected. ", h("button.reconnect", { onclick: connect }, "Reconnect"));
      box.append(gone);
      setTimeout(() => { if (box.isConnected && ws.readyState === WebSocket.CLOSED && box.querySelector(".gone")) connect(); }, 3000);
    };
  };
  term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(new TextEncoder().encode(d)));
  term.onResize(({ cols, rows }) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "resize", cols, rows })));
  new ResizeObserver(() => fit.fit()).observe(box);
  connect();
  term.focus();
}

show("hosts");
