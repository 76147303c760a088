// The file tree of one workspace. It keeps which folders are open and what each listed,
// so a refresh after an action shows the same tree with what changed, not a collapsed
// one. Only the rows in view are in the page (a folder of 100,000 names scrolls as one
// of ten); a filter narrows what is listed; the keyboard moves through it.
import { h, size } from "/assets/dom.js";
import { call, pathArg } from "/assets/net.js";

const ROW = 24; // px, the height of one row (style.css: .tree li)
const OVERSCAN = 30; // rows drawn beyond the view, either side
const FIRST_OVERSCAN = 2; // ... when the rows change: the rest of the margin comes a frame later
/// A folder whose size on the host is at least this (about 1,500 names on ext4 or tmpfs)
/// shows its first FIRST names on their own answer, before the whole listing comes.
const BIG_FOLDER = 32 * 1024;
const FIRST = 200;
const parent = (path) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
/// Made once: a `toLocaleString` per row builds a formatter each time, and a fast scroll
/// draws dozens of rows a frame.
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
/// A row's buttons (by class) and what they ask of `on`.
const ACTIONS = { rename: "rename", duplicate: "duplicate", chmod: "chmod", delete: "remove", download: "download" };

export class Tree {
  /// `on` = { open(item), rename(item), remove(item), download(item), duplicate(item),
  /// chmod(item), move(item, folder), folder(path) }
  constructor(host, on) {
    this.host = host;
    this.on = on;
    this.expanded = new Set([""]);
    this.listings = new Map(); // folder path → entries, or an Error
    this.dirty = new Set(); // paths with unsaved edits, marked in the tree
    this.selected = "";
    this.filter = "";
    this.rows = []; // what shows, in order: { item, depth } or { error, depth }
    this.filterBox = h("input.tree-filter#tree-filter", {
      type: "search", placeholder: "Filter names", autocomplete: "off",
      oninput: () => { this.filter = this.filterBox.value.trim().toLowerCase(); this.draw(); },
    });
    // One listener each for all rows (a row is a few elements and its item, nothing
    // more: a fast scroll builds dozens a frame).
    const itemOf = (e) => e.target.closest("li")?.item;
    this.list_ = h("ul.rows", {
      onclick: (e) => {
        const item = itemOf(e);
        if (!item) return;
        const button = e.target.closest("button");
        if (button) this.on[ACTIONS[button.classList[0]]]?.(item);
        else if (e.target.closest(".name")) this.activate(item);
      },
      // Drag a row onto a folder to move it there (files from the desktop upload instead).
      ondragstart: (e) => {
        const item = itemOf(e);
        if (!item) return;
        this.dragging = item;
        e.dataTransfer.setData("application/x-mlcremote-path", item.path);
        e.dataTransfer.effectAllowed = "move";
      },
      ondragend: () => { this.dragging = null; },
      ondragover: (e) => {
        const li = e.target.closest("li");
        if (this.dragging && li?.item?.type === "dir") { e.preventDefault(); li.classList.add("drop-target"); }
      },
      ondragleave: (e) => e.target.closest("li")?.classList.remove("drop-target"),
      ondrop: (e) => {
        const li = e.target.closest("li");
        li?.classList.remove("drop-target");
        const folder = li?.item;
        if (!this.dragging || folder?.type !== "dir") return;
        e.preventDefault(); e.stopPropagation();
        const moved = this.dragging; this.dragging = null;
        this.on.move(moved, folder.path);
      },
    });
    this.spacer = h("div.spacer", {}, this.list_);
    // Where the view is, kept as it changes: reading it from the page while drawing
    // would lay the page out once more before every draw.
    this.top = 0;
    this.height = 0;
    this.scroller = h("div.tree-scroll", {
      tabindex: "0",
      onscroll: () => { this.top = this.scroller.scrollTop; this.paint(); },
      onkeydown: (e) => this.key(e),
    }, this.spacer);
    this.el = h("div.tree#tree", {}, this.filterBox, this.scroller);
    new ResizeObserver(([seen]) => { this.height = seen.contentRect.height; this.paint(); }).observe(this.scroller);
  }

  /// List the root and every open folder again, then draw.
  async refresh() {
    await Promise.all([...this.expanded].map((dir) => this.list(dir)));
    this.draw();
  }

  async list(dir) {
    try {
      const items = await (await call(this.host, "GET", `tree?path=${encodeURIComponent(dir)}`)).json();
      this.listings.set(dir, inOrder(items));
    } catch (e) {
      this.unlisted(dir, e);
    }
  }

  /// Listing `dir` failed: a folder gone from the host is closed and forgotten; any other
  /// failure shows in its place.
  unlisted(dir, e) {
    if (e.status === 404 && dir) { this.expanded.delete(dir); this.listings.delete(dir); return; }
    this.listings.set(dir, e);
  }

  /// Open or close a folder; new files go into the folder last opened (or the one
  /// holding the file last clicked).
  async toggle(item, open = !this.expanded.has(item.path)) {
    if (!open) {
      this.expanded.delete(item.path);
      this.on.folder(parent(item.path));
    } else {
      this.expanded.add(item.path);
      await (item.size >= BIG_FOLDER ? this.listInParts(item.path) : this.list(item.path));
      this.on.folder(item.path);
    }
    this.draw();
  }

  /// A big folder: one answer in two lines (`first=N&then=all`), its first names, shown
  /// as soon as they come, then its whole listing. The first names are left out if a
  /// listing came meanwhile; nothing is taken once the folder is closed.
  async listInParts(dir) {
    const before = this.listings.get(dir);
    try {
      const r = await call(this.host, "GET", `tree?path=${encodeURIComponent(dir)}&first=${FIRST}&then=all`);
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      let seen = 0; // (no line ends before here: a big part comes in many pieces)
      let parts = 0;
      for (;;) {
        const { value, done } = await reader.read();
        text += value || "";
        for (let end = text.indexOf("\n", seen); end >= 0; end = text.indexOf("\n")) {
          const items = JSON.parse(text.slice(0, end));
          text = text.slice(end + 1);
          if (!this.expanded.has(dir)) { reader.cancel(); return; }
          parts += 1;
          if (parts === 1 && this.listings.get(dir) !== before) continue;
          this.listings.set(dir, inOrder(items));
          if (parts === 1) this.draw();
        }
        seen = text.length;
        if (done) break;
      }
      if (parts < 2) throw Object.assign(new Error("the listing was cut short"), { status: 0 });
    } catch (e) {
      this.unlisted(dir, e);
    }
  }

  /// The rows that show: open folders' entries under them; with a filter, the names
  /// that match and the folders on their way.
  flatten() {
    const out = [];
    const walk = (dir, depth) => {
      const items = this.listings.get(dir);
      if (items instanceof Error) { out.push({ error: `cannot list ${dir || "the root"}: ${items.message}`, depth }); return 0; }
      let shown = 0;
      for (const item of items || []) {
        const at = out.length;
        const matches = !this.filter || item.name.toLowerCase().includes(this.filter);
        out.push({ item, depth });
        let inner = 0;
        if (item.type === "dir" && this.expanded.has(item.path)) inner = walk(item.path, depth + 1);
        if (!matches && !inner) out.length = at; // neither it nor anything under it matches
        else shown += 1;
      }
      return shown;
    };
    walk("", 0);
    return out;
  }

  draw() {
    this.rows = this.flatten();
    this.spacer.style.height = `${this.rows.length * ROW}px`;
    this.painted = null;
    // The rows in view at once, the margin for scrolling a frame later: an opened folder
    // shows sooner.
    this.paint(FIRST_OVERSCAN);
    cancelAnimationFrame(this.later);
    this.later = requestAnimationFrame(() => this.paint());
  }

  /// Put the rows in view (and `margin` rows either side) into the page.
  paint(margin = OVERSCAN) {
    const first = Math.max(0, Math.floor(this.top / ROW) - margin);
    const count = Math.ceil((this.height || 600) / ROW) + 2 * margin;
    const last = Math.min(this.rows.length, first + count);
    if (this.painted && this.painted[0] === first && this.painted[1] === last) return;
    this.painted = [first, last];
    this.list_.style.transform = `translateY(${first * ROW}px)`;
    this.list_.replaceChildren(...this.rows.slice(first, last).map((row) => this.row(row)));
  }

  row({ item, depth, error }) {
    if (error) return h("li.error", { style: `padding-left: ${depth}rem` }, error);
    const isDir = item.type === "dir";
    const open = isDir && this.expanded.has(item.path);
    const mode = (item.mode & 0o7777).toString(8).padStart(4, "0");
    const label = `${isDir ? (open ? "▾ " : "▸ ") : ""}${item.name}${item.type === "symlink" ? " →" : ""}`;
    const name = h(`span.name${this.dirty.has(item.path) ? ".dirty" : ""}`, {
      title: `${item.path}\n${isDir ? "folder" : size(item.size)} · mode ${mode} · modified ${WHEN.format(new Date(item.mtime * 1000))}`,
    }, label);
    const acts = h("span.acts", {},
      h("button.rename", { title: "Rename or move (F2)" }, "✎"),
      h("button.duplicate", { title: "Duplicate" }, "❏"),
      item.type !== "symlink" ? h("button.chmod", { title: `Permissions (${mode})` }, "⚙") : null,
      h("button.delete", { title: "Delete (Del)" }, "✕"),
      item.type !== "symlink" ? h("button.download", { title: isDir ? "Download as .tar.gz" : "Download" }, "⤓") : null);
    const meta = item.type === "file" ? h("span.meta.muted", {}, size(item.size)) : null;
    const li = h(`li${this.selected === item.path ? ".selected" : ""}`, { dataset: { path: item.path, type: item.type }, style: `padding-left: ${depth}rem`, draggable: "true" },
      h("div.row", {}, name, meta, acts));
    li.item = item;
    return li;
  }

  activate(item) {
    this.select(item.path);
    if (item.type === "dir") this.toggle(item);
    else { this.on.folder(parent(item.path)); this.on.open(item); }
  }

  select(path) {
    this.selected = path;
    for (const li of this.list_.children) li.classList.toggle("selected", li.dataset.path === path);
  }

  /// Up/Down move, Right opens a folder, Left closes it or goes to its folder, Enter
  /// opens, F2 renames, Delete deletes, Home/End jump.
  key(e) {
    const at = this.rows.findIndex((r) => r.item?.path === this.selected);
    const item = this.rows[at]?.item;
    const go = (i) => {
      const row = this.rows[Math.max(0, Math.min(this.rows.length - 1, i))];
      if (!row?.item) return;
      this.select(row.item.path);
      this.reveal(row.item.path);
    };
    const keys = {
      ArrowDown: () => go(at + 1), ArrowUp: () => go(at < 0 ? 0 : at - 1),
      Home: () => go(0), End: () => go(this.rows.length - 1),
      ArrowRight: () => item?.type === "dir" && !this.expanded.has(item.path) && this.toggle(item, true),
      ArrowLeft: () => (item?.type === "dir" && this.expanded.has(item.path) ? this.toggle(item, false) : go(this.rows.findIndex((r) => r.item?.path === parent(item?.path || "")))),
      Enter: () => item && this.activate(item),
      F2: () => item && this.on.rename(item),
      Delete: () => item && this.on.remove(item),
    };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  }

  /// Scroll so `path`'s row is in view.
  reveal(path) {
    const i = this.rows.findIndex((r) => r.item?.path === path);
    if (i < 0) return;
    const top = i * ROW, view = this.scroller;
    if (top < view.scrollTop) view.scrollTop = top;
    else if (top + ROW > view.scrollTop + view.clientHeight) view.scrollTop = top + ROW - view.clientHeight;
    this.top = view.scrollTop;
    this.paint();
  }

  markDirty(path, dirty) {
    if (dirty) this.dirty.add(path); else this.dirty.delete(path);
    for (const li of this.list_.children) {
      if (li.dataset.path === path) li.querySelector(".name")?.classList.toggle("dirty", dirty);
    }
  }
}

export { pathArg };

/// Folders first, then files, each by name: the order the tree shows (the host's
/// `first=N` answer is in it too).
function inOrder(items) {
  const folder = (i) => i.type === "dir";
  return items.sort((a, b) => folder(a) === folder(b) ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : folder(a) ? -1 : 1);
}
