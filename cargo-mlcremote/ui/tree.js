// The file tree of one workspace. It keeps which folders are open and what each listed,
// so a refresh after an action shows the same tree with what changed, not a collapsed one.
import { h, size } from "/assets/dom.js";
import { call, pathArg } from "/assets/net.js";

const parent = (path) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");

export class Tree {
  /// `on` = { open(item), rename(item), remove(item), download(item), folder(path) }
  constructor(host, on) {
    this.host = host;
    this.on = on;
    this.expanded = new Set([""]);
    this.listings = new Map(); // folder path → entries, or an Error
    this.el = h("div.tree#tree", { tabindex: "0" });
    this.dirty = new Set(); // paths with unsaved edits, marked in the tree
    this.selected = "";
  }

  /// List the root and every open folder again, then draw.
  async refresh() {
    const folders = [...this.expanded];
    await Promise.all(folders.map((dir) => this.list(dir)));
    this.draw();
  }

  async list(dir) {
    try {
      const items = await (await call(this.host, "GET", `tree?path=${encodeURIComponent(dir)}`)).json();
      items.sort((a, b) => (a.type === "dir") === (b.type === "dir") ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1);
      this.listings.set(dir, items);
    } catch (e) {
      if (e.status === 404 && dir) { this.expanded.delete(dir); this.listings.delete(dir); return; }
      this.listings.set(dir, e);
    }
  }

  /// Open or close a folder; new files go into the folder last opened (or the one
  /// holding the file last clicked).
  async toggle(item) {
    if (this.expanded.has(item.path)) {
      this.expanded.delete(item.path);
      this.on.folder(parent(item.path));
    } else {
      this.expanded.add(item.path);
      await this.list(item.path);
      this.on.folder(item.path);
    }
    this.draw();
  }

  draw() {
    const top = this.el.scrollTop;
    this.el.replaceChildren(this.folder(""));
    this.el.scrollTop = top;
  }

  folder(dir) {
    const ul = h("ul");
    const items = this.listings.get(dir);
    if (items instanceof Error) {
      ul.append(h("li.error", {}, `cannot list ${dir || "the root"}: ${items.message}`));
      return ul;
    }
    for (const item of items || []) ul.append(this.row(item));
    return ul;
  }

  row(item) {
    const isDir = item.type === "dir";
    const open = isDir && this.expanded.has(item.path);
    const li = h("li", { dataset: { path: item.path, type: item.type } });
    const label = `${isDir ? (open ? "▾ " : "▸ ") : ""}${item.name}${item.type === "symlink" ? " →" : ""}`;
    const name = h(`span.name${this.dirty.has(item.path) ? ".dirty" : ""}`, {
      title: `${item.path}\n${isDir ? "folder" : size(item.size)} · mode ${(item.mode & 0o7777).toString(8).padStart(4, "0")} · modified ${new Date(item.mtime * 1000).toLocaleString()}`,
    }, label);
    const acts = h("span.acts", {},
      h("button.rename", { title: "Rename or move", onclick: () => this.on.rename(item) }, "✎"),
      h("button.delete", { title: "Delete", onclick: () => this.on.remove(item) }, "✕"),
      item.type === "file" ? h("button.download", { title: "Download", onclick: () => this.on.download(item) }, "⤓") : null);
    const meta = item.type === "file" ? h("span.meta.muted", {}, size(item.size)) : null;
    li.append(h(`div.row${this.selected === item.path ? ".selected" : ""}`, {}, name, meta, acts));
    name.addEventListener("click", () => {
      this.selected = item.path;
      if (isDir) this.toggle(item);
      else { this.on.folder(parent(item.path)); this.on.open(item); }
    });
    if (open) li.append(this.folder(item.path));
    return li;
  }

  markDirty(path, dirty) {
    if (dirty) this.dirty.add(path); else this.dirty.delete(path);
    for (const li of this.el.querySelectorAll("li[data-path]")) {
      if (li.dataset.path === path) li.querySelector(".name")?.classList.toggle("dirty", dirty);
    }
  }

  /// The entry for `path` if its folder is listed (to know whether a name is taken).
  find(path) {
    const items = this.listings.get(parent(path));
    return Array.isArray(items) ? items.find((i) => i.path === path) : undefined;
  }
}

export { pathArg };
