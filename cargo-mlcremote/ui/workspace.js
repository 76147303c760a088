// The workspace on one host: its tree, its open files (each a tab with its own editor),
// its terminals. It is built once and kept while the page lives: switching files, tabs
// or hosts hides it, never rebuilds it, so nothing typed is lost. Every element it
// touches is its own (no lookup by global id after an await lands on another tab).
import { $, h, dialog, confirmIt, ask, toast } from "/assets/dom.js";
import { call, post, api, send, KEY, pathArg } from "/assets/net.js";
import { decode } from "/assets/text.js";
import { Tree } from "/assets/tree.js";
import { Terminals } from "/assets/terminals.js";
import { Watch } from "/assets/watch.js";
import { SearchPanel, quickOpen } from "/assets/search.js";
import { prefs, savePrefs } from "/assets/prefs.js";
import { ImageViewer, PdfViewer, TailViewer, HexViewer, isImage, isPdf, markdownFrame } from "/assets/viewers.js";

const MAX_TEXT = 2 * 1024 * 1024;
const join = (dir, name) => (dir ? `${dir}/${name}` : name);
/// `f` once the page has nothing else to do (Safari has no requestIdleCallback).
const whenIdle = (f) => (window.requestIdleCallback ? requestIdleCallback(f, { timeout: 1000 }) : setTimeout(f, 100));
/// Top-level names whose loss locks the person out or breaks the install: asked twice.
const PROTECTED = new Map([
  [".ssh", "your SSH keys and authorized_keys (you may lose access to this host)"],
  [".mlcremote", "the mlcremote server this page works through (the workspace stops working)"],
]);

/// Seconds between looks at the server's health while it answers.
const HEALTHY_EVERY = 5;

export class Workspace {
  constructor(host, { showHost, restart, reconnect, forward }) {
    this.host = host;
    this.actions = { restart, reconnect, forward };
    this.docs = new Map(); // path → Doc
    this.active = null;
    this.dir = "";
    this.tree = new Tree(host, {
      open: (item) => this.open(item),
      rename: (item) => this.rename(item),
      remove: (item) => this.remove(item),
      download: (item) => this.download(item),
      duplicate: (item) => this.duplicate(item),
      chmod: (item) => this.chmod(item),
      move: (item, folder) => this.move(item, folder),
      folder: (path) => { this.dir = path; this.remember(); },
    });
    this.status = h("span.muted#status-line");
    this.info = h("span.muted#doc-info");
    this.tabs = h("div.doc-tabs#doc-tabs");
    this.editor = h("div.editor#editor", {}, h("p.muted.empty", {}, "Open a file from the tree"));
    this.saveButton = h("button.primary#save", { disabled: true, onclick: () => this.save() }, "Save");
    this.previewButton = h("button#preview", { hidden: true, onclick: () => this.preview() }, "Preview");
    this.bar = h("progress#upload-bar", { hidden: true, max: 1 });
    const upload = h("input#upload-input", { type: "file", multiple: true, hidden: true, onchange: () => { this.upload([...upload.files]); upload.value = ""; } });
    this.terminals = new Terminals(host);
    this.down = h("div.server-down#server-down", { hidden: true });
    this.stale = h("div.host-changed#host-changed", { hidden: true });
    this.search = new SearchPanel(host, (path, line, col) => this.openAt(path, line, col));
    this.ports = h("section.ports-panel#ports-panel", { hidden: true });
    this.watch = new Watch(host, (change) => this.hostChanged(change));
    this.relist = new Map(); // folder → timer: one listing per burst of changes
    this.el = h("div.workspace", {},
      this.tree.el,
      h("div.right", {},
        this.down,
        this.search.el,
        this.ports,
        h("div.toolbar", {},
          h("button#new-file", { onclick: () => this.create("file") }, "New file"),
          h("button#new-folder", { onclick: () => this.create("folder") }, "New folder"),
          h("button#upload", { onclick: () => upload.click() }, "Upload"), upload,
          h("button#refresh", { onclick: () => this.tree.refresh() }, "Refresh"),
          h("button#search-open", { title: "Search in files (Ctrl-Shift-F)", onclick: () => this.search.show() }, "Search"),
          h("button#quick-open", { title: "Open a file by name (Ctrl-P)", onclick: () => this.quickOpen() }, "Go to file"),
          h("button#ports-open", { title: "Web apps listening on the host", onclick: () => this.showPorts() }, "Ports"),
          h("button#host-page", { onclick: () => showHost(host) }, "Host"),
          h("span.mono#open-path")),
        this.tabs,
        h("div.toolbar", {}, this.saveButton, this.previewButton, this.status, this.info, this.bar),
        this.stale,
        this.editor,
        this.terminals.el));
    const tree = this.tree.el;
    // Where this host was left last time: its open folders, then its open files.
    const saved = prefs.hosts[host] || {};
    for (const dir of saved.expanded || []) this.tree.expanded.add(dir);
    this.watchHealth();
    this.restoring = (async () => {
      await this.tree.refresh();
      // The editor (CodeMirror: 894 KB to compile) loads once the tree shows, while the
      // person looks at it, so the first file opens as fast as the next (loaded on the
      // first click, it made that open about 80 ms slower on the bench's machine).
      whenIdle(() => import("/assets/editor.js").then((m) => whenIdle(m.warm), () => { /* said when a file opens */ }));
      for (const path of saved.open || []) await this.open({ path, name: path.split("/").pop() });
      const active = this.docs.get(saved.active);
      if (active) this.activate(active);
      this.restoring = null;
      await this.terminals.restore();
    })();
    tree.addEventListener("dragover", (e) => { e.preventDefault(); tree.classList.add("drop"); });
    tree.addEventListener("dragleave", () => tree.classList.remove("drop"));
    tree.addEventListener("drop", (e) => {
      e.preventDefault(); tree.classList.remove("drop");
      if (e.dataTransfer.files.length) this.upload([...e.dataTransfer.files]);
    });
  }

  say(text) { this.status.textContent = text; }

  /// Is the host's server there? Asked every few seconds (through the SSH connection the
  /// UI holds); when it is not, the workspace says why, checks again less and less
  /// often, and offers Restart and Reconnect in place.
  async watchHealth() {
    let wait = HEALTHY_EVERY;
    while (!this.gone) {
      await new Promise((wake) => { this.wakeHealth = wake; this.healthTimer = setTimeout(wake, wait * 1000); });
      if (this.gone) return;
      try {
        const r = await send(`/h/${encodeURIComponent(this.host)}/health`);
        if (!r.ok) {
          let why = `${r.status}`;
          try { why = (await r.json()).error || why; } catch { /* not JSON */ }
          throw new Error(why);
        }
        wait = HEALTHY_EVERY;
        this.down.hidden = true;
      } catch (e) {
        wait = Math.min(wait * 2, 30);
        this.showDown(e.message, wait);
      }
    }
  }

  /// A file at a line (a search result): opened, the cursor there.
  async openAt(path, line = 1, col = 1) {
    await this.open({ path, name: path.split("/").pop() });
    const doc = this.docs.get(path);
    if (doc?.goto) doc.goto(line, col);
  }

  quickOpen() { return quickOpen(this.host, (path) => this.openAt(path)); }

  /// The host's listening ports, each opened on a local address of its own (never under
  /// this page's origin), through the SSH connection the UI holds.
  async showPorts() {
    if (!this.ports.hidden) { this.ports.hidden = true; return; }
    const list = h("ul.plain#ports-list");
    const typed = h("input#port-number", { inputmode: "numeric", placeholder: "port", size: 6 });
    const open = async (port, row) => {
      const out = row.querySelector(".port-out") || row.appendChild(h("span.port-out"));
      out.textContent = "opening…";
      try {
        const { url } = await this.actions.forward(port);
        out.replaceChildren(h("a.port-url", { href: url, target: "_blank", rel: "noopener noreferrer" }, url));
        window.open(url, "_blank", "noopener,noreferrer");
      } catch (e) {
        out.textContent = `cannot open port ${port}: ${e.message}`;
      }
    };
    const row = (port, what) => {
      const li = h("li.port", { dataset: { port } }, h("span.mono", {}, String(port)), h("span.muted", {}, what));
      li.append(h("button.open-port", { onclick: () => open(port, li) }, "Open"));
      return li;
    };
    const other = h("li.port", {}, typed, h("button#open-typed", { onclick: () => { const n = Number(typed.value); if (n > 0 && n < 65536) open(n, other); } }, "Open"));
    this.ports.replaceChildren(h("div.toolbar", {}, h("strong", {}, "Ports on the host"), h("button#ports-close", { onclick: () => { this.ports.hidden = true; } }, "×")), list);
    this.ports.hidden = false;
    try {
      const ports = await (await call(this.host, "GET", "ports")).json();
      for (const p of ports) list.append(row(p.port, `on ${p.address}${p.mine ? ", yours" : ""}`));
      if (!ports.length) list.append(h("li.muted", {}, "Nothing listens on the host."));
    } catch (e) {
      list.append(h("li.muted", {}, `The list is not available (${e.message}); open a port by its number.`));
    }
    list.append(other);
  }

  /// The folders shown and those of the open files are watched on the host.
  watchSync() {
    const folders = new Set(this.tree.expanded);
    for (const d of this.docs.values()) if (!d.item.raw_path) folders.add(d.path.includes("/") ? d.path.slice(0, d.path.lastIndexOf("/")) : "");
    this.watch.set(folders);
  }

  /// Something changed on the host: its folder is listed again (the tree keeps its
  /// state); an open file that is not what was read says so, with Reload.
  hostChanged({ path, kind }) {
    const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (this.tree.expanded.has(folder) && !this.relist.has(folder)) {
      this.relist.set(folder, setTimeout(async () => {
        this.relist.delete(folder);
        await this.tree.list(folder);
        this.tree.draw();
      }, 100));
    }
    const doc = this.docs.get(path);
    if (doc?.etag !== undefined) this.checkStale(doc, kind);
  }

  async checkStale(doc, kind) {
    let etag = null;
    if (kind !== "remove") {
      try {
        const r = await call(this.host, "GET", `file?path=${pathArg(doc.item)}`, undefined, { range: "bytes=0-0" });
        etag = r.headers.get("etag");
        await r.arrayBuffer();
      } catch { etag = null; }
    }
    if (etag && etag === doc.etag) return; // our own save, or nothing that matters
    doc.stale = etag ? "changed" : "removed";
    if (doc === this.active) this.showStale(doc);
  }

  showStale(doc) {
    if (!doc?.stale) { this.stale.hidden = true; return; }
    const reload = h("button#reload-from-host", { onclick: () => this.reloadFromHost(doc) }, "Reload");
    this.stale.replaceChildren(
      h("span.why", {}, doc.stale === "removed" ? `${doc.path} was removed on the host; saving writes it again.` : `${doc.path} changed on the host.`),
      doc.stale === "removed" ? null : reload,
      h("button#keep-mine", { onclick: () => { doc.stale = null; this.showStale(doc); } }, "Keep mine"));
    this.stale.hidden = false;
  }

  /// What the host has now, in place of what was read (edits asked about).
  async reloadFromHost(doc) {
    if (doc.dirty && !await confirmIt(`Discard your edits to ${doc.path} and load what the host has?`, "Discard and reload")) return;
    this.docs.delete(doc.path);
    doc.destroy?.();
    this.stale.hidden = true;
    await this.open(doc.item);
  }

  /// Look again now (after Restart or Reconnect, or when a terminal dropped).
  checkHealth() { clearTimeout(this.healthTimer); this.wakeHealth?.(); }

  showDown(why, wait) {
    const act = (id, label, fn) => h(`button#${id}`, {
      onclick: async (e) => {
        e.target.disabled = true;
        this.say(`${label.toLowerCase()}…`);
        try { await fn(); this.say(`${label.toLowerCase()}: done`); } catch (err) { this.say(`${label.toLowerCase()} failed: ${err.message}`); }
        this.checkHealth();
        this.tree.refresh();
      },
    }, label);
    this.down.replaceChildren(
      h("span.why", {}, `The server on ${this.host} is not answering: ${why}. Checking again in ${wait} s.`),
      act("ws-restart", "Restart", this.actions.restart),
      act("ws-reconnect", "Reconnect", this.actions.reconnect));
    this.down.hidden = false;
  }

  /// Gone for good (the server now serves another folder): terminals end, and what was
  /// remembered of this host's folders no longer applies.
  dispose() {
    this.gone = true;
    this.watch.close();
    this.checkHealth();
    this.terminals.detach();
    delete prefs.hosts[this.host];
    savePrefs();
  }

  /// Kept for the next run: open folders, open files (by name; the edits are saved or asked about).
  remember() {
    this.watchSync();
    if (this.restoring) return;
    prefs.hosts[this.host] = {
      expanded: [...this.tree.expanded].filter((d) => d),
      open: [...this.docs.values()].filter((d) => !d.item.raw_path).map((d) => d.path),
      active: this.active?.path,
    };
    savePrefs();
  }

  /// Shown again after another view: editors and terminals measure their box anew.
  shown() {
    if (this.active) { this.active.view?.requestMeasure(); this.active.scroller.scrollTop = this.active.scroll || 0; }
    this.terminals.shown();
  }
  hidden() { this.keepScroll(); }

  /// The active file's scroll, kept for when it shows again (one not placed yet keeps
  /// the scroll it was left at: its view has not been scrolled there).
  keepScroll() { if (this.active && this.placing !== this.active) this.active.scroll = this.active.scroller.scrollTop; }

  get unsaved() { return [...this.docs.values()].filter((d) => d.dirty); }

  /// Open a file: text in the editor; an image, a big text file or a binary in a viewer.
  async open(item) {
    const known = this.docs.get(item.path);
    if (known) return this.activate(known);
    const path = item.path;
    try {
      let stat = item;
      if (stat.size === undefined || stat.mode === undefined) stat = { ...item, ...await (await call(this.host, "GET", `stat?path=${pathArg(item)}`)).json() };
      let doc = null;
      let said = `opened ${path}`;
      if (isImage(stat.name || path)) {
        doc = new ImageViewer(this, stat);
      } else if (isPdf(stat.name || path)) {
        doc = new PdfViewer(this, stat);
      } else if (stat.size > MAX_TEXT) {
        const head = new Uint8Array(await (await call(this.host, "GET", `file?path=${pathArg(item)}`, undefined, { range: "bytes=0-8191" })).arrayBuffer());
        doc = head.includes(0) ? new HexViewer(this, stat) : new TailViewer(this, stat);
        said = `opened ${path} (${stat.size} bytes: too large to open as text, so read in parts)`;
      } else {
        const reading = call(this.host, "GET", `file?path=${pathArg(item)}`);
        // The editor (CodeMirror) loads with the first file, not with the page: while the
        // file is on its way.
        const editor = import("/assets/editor.js");
        editor.catch(() => {}); // (its failure is said below, if the file came)
        const r = await reading;
        const read = decode(new Uint8Array(await r.arrayBuffer()));
        if (read.binary) {
          doc = new HexViewer(this, stat);
          said = `opened ${path} (not text: shown as hex)`;
        } else {
          const { Doc } = await editor;
          doc = new Doc(this, stat, read, r.headers.get("etag"), {
            onSave: (d) => this.save(d),
            onChange: (d) => this.changed(d),
          });
        }
      }
      await doc.ready;
      if (this.docs.has(path)) { doc.destroy(); return this.activate(this.docs.get(path)); } // opened twice at once
      this.docs.set(path, doc);
      this.activate(doc);
      this.say(said);
    } catch (e) {
      this.say(`cannot open ${path}: ${e.message}`);
    }
  }

  /// A viewer learnt more about what it shows.
  described(doc) { if (doc === this.active) this.info.textContent = doc.describe(); }

  /// Markdown: the rendered page in place of the editor, and back.
  preview() {
    const doc = this.active;
    if (!doc?.markdown) return;
    doc.previewing = !doc.previewing;
    this.activate(doc);
  }

  activate(doc) {
    if (this.active !== doc) this.keepScroll();
    this.active = doc;
    const shown = doc.previewing ? markdownFrame(doc.text()) : doc.dom;
    this.editor.replaceChildren(shown);
    // Scrolled where it was left and focused just before the next frame: done here,
    // each would lay the page out once more before the frame lays it out anyway.
    cancelAnimationFrame(this.frame);
    this.placing = doc.previewing ? null : doc;
    if (this.placing) {
      this.frame = requestAnimationFrame(() => {
        this.placing = null;
        if (this.active !== doc) return; // closed in the meantime
        doc.scroller.scrollTop = doc.scroll || 0;
        doc.focus();
      });
    }
    $("#open-path", this.el).textContent = doc.path;
    this.saveButton.disabled = doc.text() === null;
    this.previewButton.hidden = !doc.markdown;
    this.previewButton.textContent = doc.previewing ? "Edit" : "Preview";
    this.info.textContent = doc.describe();
    this.showStale(doc);
    this.drawTabs();
    this.remember();
  }

  changed(doc) {
    this.tree.markDirty(doc.path, doc.dirty);
    this.drawTabs();
    document.dispatchEvent(new Event("mlc:dirty"));
  }

  drawTabs() {
    this.tabs.replaceChildren(...[...this.docs.values()].map((doc) =>
      h(`div.doc-tab${doc === this.active ? ".active" : ""}${doc.dirty ? ".dirty" : ""}`, { dataset: { path: doc.path }, title: doc.path },
        h("span.label", { onclick: () => this.activate(doc) }, `${doc.dirty ? "● " : ""}${doc.path.split("/").pop()}`),
        h("button.close", { title: "Close", onclick: () => this.close(doc) }, "×"))));
  }

  /// Close a file's tab; with unsaved edits, only after the person chose.
  async close(doc) {
    if (doc.dirty) {
      const choice = await dialog(`${doc.path} has unsaved changes.`, [["Cancel", "cancel"], ["Discard them", "discard", "danger"], ["Save", "save", "primary"]]);
      if (choice === "cancel") return false;
      if (choice === "save") {
        const said = await doc.save();
        this.say(said);
        if (doc.dirty) return false;
      }
    }
    this.docs.delete(doc.path);
    this.tree.markDirty(doc.path, false);
    doc.destroy();
    if (this.active === doc) {
      this.active = null;
      const next = [...this.docs.values()].at(-1);
      if (next) this.activate(next);
      else {
        this.editor.replaceChildren(h("p.muted.empty", {}, "Open a file from the tree"));
        $("#open-path", this.el).textContent = "";
        this.info.textContent = "";
        this.saveButton.disabled = true;
        this.previewButton.hidden = true;
      }
    }
    this.drawTabs();
    this.remember();
    return true;
  }

  async save(doc = this.active) {
    if (!doc || doc.text() === null) return;
    this.say(`saving ${doc.path}…`);
    const said = await doc.save();
    this.say(said);
    if (!doc.dirty && doc.stale) { doc.stale = null; if (doc === this.active) this.showStale(doc); }
    this.tree.refresh();
  }

  /// Download through fetch (with the key: no bare URL works), saved from a blob.
  /// A folder comes as a .tar.gz, packed on the host as it streams.
  async download(item) {
    const folder = item.type === "dir";
    const name = folder ? `${item.name}.tar.gz` : item.name;
    try {
      this.say(`downloading ${item.path}…`);
      const blob = await (await call(this.host, "GET", `${folder ? "archive" : "file"}?path=${pathArg(item)}`)).blob();
      const url = URL.createObjectURL(blob);
      window.mlc.downloaded = { name, blob }; // for tests: read what was saved
      h("a", { href: url, download: name }).click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      this.say(`downloaded ${item.path}${folder ? ` as ${name}` : ""}`);
    } catch (e) {
      this.say(`cannot download ${item.path}: ${e.message}`);
    }
  }

  /// New file or folder in the folder last opened. An existing name is never emptied.
  async create(kind) {
    const name = await ask(`New ${kind} in ${this.dir || "the root"}:`);
    if (!name) return;
    const path = join(this.dir, name);
    try {
      if (kind === "folder") await post(this.host, "mkdir", { path });
      else await call(this.host, "PUT", `file?path=${encodeURIComponent(path)}&create=1`, "");
    } catch (e) {
      if (e.status === 409 && kind === "file") {
        if (await dialog(`${path} exists already. Open it?`, [["Cancel", false], ["Open it", true, "primary"]])) this.open({ path, name });
        else this.say(`${path} exists already; left as it is`);
        return;
      }
      this.say(`cannot create ${path}: ${e.message}`);
      return;
    }
    await this.tree.refresh();
    if (kind === "file") this.open({ path, name });
  }

  async rename(item) {
    if (PROTECTED.has(item.path) && !await confirmIt(`${item.path} holds ${PROTECTED.get(item.path)}. Rename it anyway?`, "Rename")) return;
    const to = await ask(`Rename ${item.path} to:`, item.path);
    if (!to || to === item.path) return;
    try {
      await this.relocate(item, to);
    } catch (e) { this.say(`cannot rename ${item.path}: ${e.message}`); }
    await this.tree.refresh();
  }

  /// Rename or move `item` to `to` on the host; files open under it follow, edits and all.
  async relocate(item, to) {
    await post(this.host, "rename", { from: item.path, raw_from: item.raw_path, to });
    for (const doc of [...this.docs.values()]) {
      if (doc.path === item.path || doc.path.startsWith(`${item.path}/`)) {
        this.docs.delete(doc.path);
        this.tree.markDirty(doc.path, false);
        doc.renamed(to + doc.path.slice(item.path.length));
        this.docs.set(doc.path, doc);
        this.tree.markDirty(doc.path, doc.dirty);
      }
    }
    if (this.active) $("#open-path", this.el).textContent = this.active.path;
    this.drawTabs();
    this.remember();
  }

  /// A copy beside it: "name copy.ext", "name copy 2.ext", … (never over anything).
  async duplicate(item) {
    const dot = item.type === "file" ? item.name.lastIndexOf(".") : -1;
    const [stem, ext] = dot > 0 ? [item.name.slice(0, dot), item.name.slice(dot)] : [item.name, ""];
    const dir = item.path.slice(0, item.path.length - item.name.length).replace(/\/$/, "");
    for (let n = 1; n < 100; n++) {
      const to = join(dir, `${stem} copy${n > 1 ? ` ${n}` : ""}${ext}`);
      try {
        await post(this.host, "copy", { from: item.path, raw_from: item.raw_path, to });
        this.say(`copied ${item.path} to ${to}`);
        await this.tree.refresh();
        return;
      } catch (e) {
        if (e.status !== 409) { this.say(`cannot copy ${item.path}: ${e.message}`); return; }
      }
    }
  }

  /// Its permissions, as octal (644, 0755, …).
  async chmod(item) {
    const now = (item.mode & 0o7777).toString(8).padStart(4, "0");
    const typed = await ask(`Permissions of ${item.path} (octal):`, now);
    if (!typed || typed === now) return;
    if (!/^[0-7]{3,4}$/.test(typed)) { this.say(`not a mode: ${typed} (octal, like 644 or 0755)`); return; }
    try {
      await post(this.host, "chmod", { path: item.path, raw_path: item.raw_path, mode: parseInt(typed, 8) });
      this.say(`${item.path} is now ${typed.padStart(4, "0")}`);
    } catch (e) { this.say(`cannot change ${item.path}: ${e.message}`); }
    await this.tree.refresh();
  }

  /// Dragged onto a folder in the tree: moved into it (never over a name taken there).
  async move(item, folder) {
    const to = join(folder, item.name);
    if (to === item.path || folder === item.path) return;
    try {
      await this.relocate(item, to);
      this.say(`moved ${item.path} to ${folder || "the root"}`);
    } catch (e) { this.say(`cannot move ${item.path}: ${e.message}`); }
    await this.tree.refresh();
  }

  /// Delete: to the trash (with Undo), or for good if the person says so.
  async remove(item) {
    const what = item.type === "dir" ? " and everything in it" : "";
    const warn = PROTECTED.has(item.path) ? ` It holds ${PROTECTED.get(item.path)}.` : "";
    const choice = await dialog(`Delete ${item.path}${what}?${warn} It goes to the trash (~/.mlcremote/trash), from where Undo brings it back.`,
      [["Cancel", false], ["Delete permanently", "permanently", "danger"], ["Move to trash", true, "primary"]]);
    if (!choice) return;
    if (warn && !await confirmIt(`Really delete ${item.path}? ${PROTECTED.get(item.path)}.`, "Delete")) return;
    try {
      if (choice === "permanently") {
        await call(this.host, "DELETE", `file?path=${pathArg(item)}&recursive=1`);
        this.say(`deleted ${item.path} permanently`);
      } else {
        const { id } = await post(this.host, "trash", { path: item.path, raw_path: item.raw_path });
        this.say(`moved ${item.path} to the trash`);
        toast(`Moved ${item.path} to the trash.`, ["Undo", () => this.untrash(id, item.path)]);
      }
    } catch (e) { this.say(`cannot delete ${item.path}: ${e.message}`); }
    await this.tree.refresh();
  }

  async untrash(id, path) {
    try {
      await post(this.host, "untrash", { id });
      this.say(`restored ${path}`);
    } catch (e) { this.say(`cannot restore ${path}: ${e.message}`); }
    await this.tree.refresh();
  }

  /// Upload files into the folder last opened, streamed, with a progress bar. A name that
  /// is taken is asked about: keep the host's, or replace it (the old one to the trash).
  async upload(files) {
    for (const file of files) {
      const path = join(this.dir, file.name);
      let exists = true;
      try { await call(this.host, "GET", `stat?path=${encodeURIComponent(path)}`); } catch (e) { exists = e.status !== 404; }
      if (exists) {
        const choice = await dialog(`${path} exists on the host. Replace it with the one you are uploading? The one on the host goes to the trash.`,
          [["Keep the host's", false], ["Replace", true, "danger"]]);
        if (!choice) { this.say(`not uploaded: ${path} exists`); continue; }
        try { await post(this.host, "trash", { path }); } catch (e) { this.say(`cannot replace ${path}: ${e.message}`); continue; }
      }
      this.bar.hidden = false;
      const result = await new Promise((resolve) => {
        const xhr = new XMLHttpRequest();
        xhr.open("PUT", api(this.host, `file?path=${encodeURIComponent(path)}&create=1`));
        xhr.setRequestHeader("X-Mlcremote-Key", KEY);
        xhr.upload.onprogress = (e) => { this.bar.max = e.total || 1; this.bar.value = e.loaded; };
        xhr.onload = () => {
          if (xhr.status < 300) return resolve(true);
          let message = String(xhr.status);
          try { message = JSON.parse(xhr.responseText).error || message; } catch { /* not JSON */ }
          resolve(message);
        };
        xhr.onerror = () => resolve("the connection failed");
        xhr.send(file);
      });
      this.say(result === true ? `uploaded ${path}` : `cannot upload ${path}: ${result}`);
    }
    this.bar.hidden = true;
    await this.tree.refresh();
  }
}
