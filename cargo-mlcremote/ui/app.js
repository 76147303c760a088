// The mlcremote UI: hosts, the deploy flow, and a workspace per host (files, editor,
// terminals). Plain ES modules, no build step (the editor and the terminal are vendored
// bundles): net.js talks to the UI, dom.js builds the page, hosts.js is one host's page,
// workspace.js its files and terminals, editor.js one open file, text.js its bytes.
import { $, h, dialog, confirmIt, banner } from "/assets/dom.js";
import { send, Ops } from "/assets/net.js";
import { HostPage } from "/assets/hosts.js";
import { Workspace } from "/assets/workspace.js";
import { prefs, savePrefs, themes } from "/assets/prefs.js";

const main = $("#main");
/// host → { status, healthy, page: HostPage, workspace: Workspace|null, showing: "page"|"workspace" }
const hosts = new Map();
let view = "hosts";
window.mlc = {
  terminals: [], clipboardRefused: 0, // for tests: read terminal buffers
  /// For tests: the open file's text in the host's workspace that shows.
  editorText: () => current()?.active?.text() ?? null,
  unsaved: () => [...hosts.values()].flatMap((e) => e.workspace?.unsaved.map((d) => d.path) || []),
};

/// Questions the library asks during an operation (host key, password, consent).
async function answer(q) {
  if (q.ask === "trust_host_key") {
    const extra = h("p", {}, "Fingerprint: ", h("code#fingerprint", {}, q.fingerprint), ` (${q.algorithm})`);
    const yes = await dialog(`${q.host} is not in your known_hosts yet. Check the fingerprint with the host's owner, then trust it.`,
      [["Refuse", false], ["Trust", true, "primary trust"]], { extra });
    return { value: yes ? "yes" : "no" };
  }
  if (q.ask === "passphrase" || q.ask === "password") {
    const what = q.ask === "password" ? `Password for ${q.destination}` : `Passphrase for ${q.key}`;
    const secret = await dialog(what, [["Cancel", false], ["Log in", true, "primary"]], { input: { type: "password" } });
    return secret === false ? { value: "no" } : { value: "secret", secret };
  }
  if (q.ask === "consent") return { value: await confirmIt(q.question, "Yes") ? "yes" : "no" };
  return { value: "no" };
}

const ops = new Ops({ banner, answer });

function entry(host) {
  if (!hosts.has(host)) hosts.set(host, { showing: "page", workspace: null });
  return hosts.get(host);
}

function setStatus(host, status) {
  const e = entry(host);
  e.status = status;
  e.healthy = !!status?.healthy;
}

const app = {
  ops, entry, setStatus,
  connect: (host) => connect(host),
  openWorkspace: (host) => openWorkspace(host),
  /// The server serves another folder now: the workspace starts afresh there.
  rootChanged(host) {
    const e = entry(host);
    e.workspace?.dispose();
    e.workspace = null;
  },
  /// Before the server goes away: unsaved files in its workspace are asked about.
  async leaveWorkspace(host) {
    const ws = entry(host).workspace;
    if (!ws?.unsaved.length) return true;
    return confirmIt(`${ws.unsaved.map((d) => d.path).join(", ")} on ${host} ${ws.unsaved.length > 1 ? "have" : "has"} unsaved changes, which cannot be saved once its server stops. Go on?`, "Go on");
  },
};

function page(host) {
  const e = entry(host);
  if (!e.page) e.page = new HostPage(host, app);
  return e.page;
}

/// The workspace that shows, if one does.
function current() {
  if (!view.startsWith("host:")) return null;
  const e = hosts.get(view.slice(5));
  return e?.showing === "workspace" ? e.workspace : null;
}

// ---- Tabs ------------------------------------------------------------------------------

function drawTabs() {
  const nav = $("#tabs");
  const items = [["hosts", "Hosts"], ...[...hosts.keys()].map((k) => [`host:${k}`, k])];
  nav.replaceChildren(...items.map(([key, label]) => {
    const dirty = key !== "hosts" && hosts.get(label)?.workspace?.unsaved.length;
    return h(`button.tab${view === key ? ".active" : ""}`, { dataset: { tab: key }, onclick: () => show(key) }, `${dirty ? "● " : ""}${label}`);
  }));
}

function show(next) {
  current()?.hidden();
  view = next;
  drawTabs();
  if (next === "hosts") return showHosts();
  const host = next.slice(5);
  const e = entry(host);
  if (e.showing === "workspace" && e.workspace && e.healthy) {
    main.replaceChildren(e.workspace.el);
    e.workspace.shown();
  } else {
    main.replaceChildren(page(host).el);
  }
}

function showPage(host) {
  current()?.hidden();
  entry(host).showing = "page";
  page(host).render();
  if (view === `host:${host}`) main.replaceChildren(page(host).el);
}

function openWorkspace(host) {
  const e = entry(host);
  if (!e.workspace) {
    e.workspace = new Workspace(host, {
      showHost: showPage,
      restart: async () => { const status = await ops.run("restart", host, {}, {}); setStatus(host, status); },
      reconnect: () => connect(host),
      forward: (port) => ops.run("forward", host, { port }, {}),
    });
  }
  e.showing = "workspace";
  view = `host:${host}`;
  show(view);
}

// ---- Hosts -------------------------------------------------------------------------------

let opened = false;
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
  const view = h("div", {}, card, h("section.card", {}, h("h2", {}, "Another host"), form), h("p.error#connect-error"));
  main.replaceChildren(view);
  const response = await send("/ui/hosts");
  if (response.status === 401) {
    view.replaceChildren(h("p.error#unauthorized", {}, "This page is not yours yet: open the link `cargo mlcremote ui` printed (it works once per start)."));
    return;
  }
  const { hosts: known, warning, open } = await response.json();
  if (open && !opened) {
    opened = true; // `cargo mlcremote open --host H`: straight to H's workspace
    openHost(open);
    return;
  }
  if (warning) card.append(h("p.error", {}, warning));
  if (!known.length) list.append(h("li.muted", {}, "No hosts in ~/.ssh/config yet; type one below."));
  for (const { name, from } of known) {
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
  if (!entry(host).healthy && !await page(host).deploy(false)) return;
  openWorkspace(host);
}

async function connect(host, args = {}) {
  const e = entry(host);
  const p = page(host);
  if (e.showing !== "workspace") { view = `host:${host}`; show(view); } else drawTabs();
  p.note(`Connecting to ${host}…`);
  try {
    const status = await ops.run("connect", host, args, { event: (ev) => p.event(ev) });
    setStatus(host, status);
    p.render();
    p.note(status.healthy ? `Connected; the server on ${host} is healthy.` : `Connected to ${host}.`);
    return true;
  } catch (err) {
    p.failed("connect", err);
    return false;
  }
}

// ---- Nothing lost ----------------------------------------------------------------------

// A reload or close with unsaved edits anywhere asks first (the browser's own question).
window.addEventListener("beforeunload", (e) => {
  if (window.mlc.unsaved().length) { e.preventDefault(); e.returnValue = ""; }
});
// Ctrl-S / Cmd-S outside the editor saves the open file too (never the browser's "save page").
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "s") {
    if (e.defaultPrevented) return; // the editor saved already
    e.preventDefault();
    current()?.save();
  }
});
// Ctrl-P opens a file by name, Ctrl-Shift-F searches in files (in the workspace shown).
document.addEventListener("keydown", (e) => {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
  const key = e.key.toLowerCase();
  const ws = current();
  if (!ws) return;
  if (key === "p" && !e.shiftKey) { e.preventDefault(); ws.quickOpen(); }
  else if (key === "f" && e.shiftKey) { e.preventDefault(); ws.search.show(); }
});
// Unsaved marks on the host tabs follow the files'.
document.addEventListener("mlc:dirty", drawTabs);

// ---- Theme and font size (kept in the client's config dir) ------------------------------
const dark = matchMedia("(prefers-color-scheme: dark)");
function applyTheme() {
  const choice = prefs.theme || "system";
  const isDark = choice === "dark" || (choice === "system" && dark.matches);
  document.documentElement.dataset.theme = isDark ? "dark" : "light";
  for (const doc of themes) doc.setDark(isDark);
  $("#theme").textContent = `Theme: ${choice}`;
}
dark.addEventListener("change", applyTheme);
applyTheme();
// The header's button: System → Dark → Light → System.
$("#theme").addEventListener("click", () => {
  prefs.theme = { system: "dark", dark: "light", light: "system" }[prefs.theme || "system"];
  applyTheme();
  savePrefs();
});
function applyFont() {
  document.documentElement.style.setProperty("--editor-font", `${prefs.fontSize || 13}px`);
  $("#font-size").textContent = `${prefs.fontSize || 13}px`;
}
for (const [id, step] of [["#font-smaller", -1], ["#font-larger", 1]]) {
  $(id).addEventListener("click", () => {
    prefs.fontSize = Math.min(32, Math.max(8, (prefs.fontSize || 13) + step));
    applyFont();
    savePrefs();
  });
}
applyFont();

show("hosts");
