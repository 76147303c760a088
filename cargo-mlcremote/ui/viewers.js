// What the editor does not open: images (shown from a blob, never a host URL), big text
// files (paged with Range: the last part first, earlier parts on demand, and a follow
// mode for logs), binaries (a hex view, paged), and Markdown rendered — by building
// elements here, so nothing a file says is ever parsed as markup or run.
import { h, size } from "/assets/dom.js";
import { call, pathArg } from "/assets/net.js";

const PAGE = 256 * 1024; // bytes a big-file viewer reads at a time
const HEX_PAGE = 64 * 1024;
const IMAGE = /\.(png|jpe?g|gif|webp|bmp|ico|avif|svg)$/i;
const MIME = { svg: "image/svg+xml", jpg: "image/jpeg", ico: "image/x-icon" };

export const isImage = (name) => IMAGE.test(name);

/// A read of `length` bytes of the file ending at `end` (exclusive), or its tail.
async function range(host, item, start, end) {
  const r = await call(host, "GET", `file?path=${pathArg(item)}`, undefined, { range: `bytes=${start}-${end - 1}` });
  const total = Number((r.headers.get("content-range") || "").split("/")[1]) || end;
  return { bytes: new Uint8Array(await r.arrayBuffer()), total };
}

class Viewer {
  constructor(item, kind) {
    this.item = item;
    this.path = item.path;
    this.kind = kind;
    this.dirty = false;
    this.dom = h(`div.viewer.${kind}`, { dataset: { kind } });
    this.scroller = this.dom;
  }
  text() { return null; }
  focus() { this.dom.focus(); }
  describe() { return this.kind; }
  renamed(to) { this.path = to; this.item = { ...this.item, path: to, raw_path: undefined }; }
  destroy() { this.stop?.(); }
}

export class ImageViewer extends Viewer {
  constructor(ws, item) {
    super(item, "image");
    this.ready = (async () => {
      const blob = await (await call(ws.host, "GET", `file?path=${pathArg(item)}`)).blob();
      const ext = item.name.split(".").pop().toLowerCase();
      this.url = URL.createObjectURL(new Blob([blob], { type: MIME[ext] || `image/${ext}` }));
      const img = h("img", { src: this.url, alt: item.name });
      img.addEventListener("load", () => { this.info = `image · ${img.naturalWidth}×${img.naturalHeight} · ${size(blob.size)}`; ws.described(this); });
      this.dom.replaceChildren(img);
    })();
  }
  describe() { return this.info || "image"; }
  destroy() { if (this.url) URL.revokeObjectURL(this.url); }
}

/// A PDF: in the browser's own viewer (PDFium, which runs in its own process and cannot
/// script this page), from a blob whose type is fixed here, never the host's word.
export class PdfViewer extends Viewer {
  constructor(ws, item) {
    super(item, "pdf");
    this.ready = (async () => {
      const blob = await (await call(ws.host, "GET", `file?path=${pathArg(item)}`)).blob();
      this.url = URL.createObjectURL(new Blob([blob], { type: "application/pdf" }));
      this.info = `PDF · ${size(blob.size)}`;
      this.dom.replaceChildren(h("iframe#pdf", { src: this.url, title: item.name, referrerpolicy: "no-referrer" }));
    })();
  }
  describe() { return this.info || "PDF"; }
  destroy() { if (this.url) URL.revokeObjectURL(this.url); }
}

export const isPdf = (name) => /\.pdf$/i.test(name);

/// A text file too big for the editor: its last part, earlier parts on demand, and with
/// Follow, what is appended as it comes (a log).
export class TailViewer extends Viewer {
  constructor(ws, item) {
    super(item, "tail");
    this.ws = ws;
    this.pre = h("pre.big#big-text");
    this.more = h("button#load-earlier", { onclick: () => this.earlier() }, "Load earlier");
    this.followButton = h("button#follow-file", { onclick: () => this.follow() }, "Follow");
    this.dom.append(h("div.toolbar", {}, this.more, this.followButton, h("span.muted#big-range")), this.pre);
    this.start = 0; this.end = 0;
    this.decoder = () => new TextDecoder("utf-8"); // lossy: a viewer, never saved
    this.ready = this.load();
  }
  async load() {
    const total = this.item.size;
    this.start = Math.max(0, total - PAGE);
    const { bytes, total: now } = await range(this.ws.host, this.item, this.start, total);
    this.end = this.start + bytes.length;
    this.total = now;
    this.pre.textContent = this.decoder().decode(bytes);
    this.say();
    this.dom.scrollTop = this.dom.scrollHeight;
  }
  say() {
    this.dom.querySelector("#big-range").textContent = `bytes ${this.start}–${this.end} of ${this.total} (${size(this.total)})`;
    this.more.disabled = this.start === 0;
  }
  async earlier() {
    const from = Math.max(0, this.start - PAGE);
    const { bytes } = await range(this.ws.host, this.item, from, this.start);
    const height = this.dom.scrollHeight;
    this.pre.prepend(this.decoder().decode(bytes));
    this.start = from;
    this.dom.scrollTop += this.dom.scrollHeight - height; // stay on the lines being read
    this.say();
  }
  /// Read what was appended since, every second, until stopped.
  follow() {
    if (this.timer) { this.stop(); return; }
    this.followButton.textContent = "Stop following";
    const tick = async () => {
      try {
        const stat = await (await call(this.ws.host, "GET", `stat?path=${pathArg(this.item)}`)).json();
        if (stat.size > this.end) {
          const { bytes } = await range(this.ws.host, this.item, this.end, stat.size);
          const atBottom = this.dom.scrollTop + this.dom.clientHeight >= this.dom.scrollHeight - 4;
          this.pre.append(this.decoder().decode(bytes));
          this.end += bytes.length; this.total = stat.size;
          this.say();
          if (atBottom) this.dom.scrollTop = this.dom.scrollHeight;
        } else if (stat.size < this.end) {
          await this.load(); // truncated (rotated): start again from its end
        }
      } catch (e) { this.ws.say(`stopped following ${this.path}: ${e.message}`); this.stop(); return; }
      if (this.timer) this.timer = setTimeout(tick, 1000);
    };
    this.timer = setTimeout(tick, 0);
  }
  stop() { clearTimeout(this.timer); this.timer = null; this.followButton.textContent = "Follow"; }
  describe() { return `big file · ${size(this.item.size)} · read in parts`; }
}

/// Bytes as offset, hex and ASCII, 16 a line, a page at a time.
export class HexViewer extends Viewer {
  constructor(ws, item) {
    super(item, "hex");
    this.ws = ws;
    this.pre = h("pre.hex#hex");
    this.more = h("button#hex-more", { onclick: () => this.next() }, "More");
    this.dom.append(this.pre, this.more);
    this.offset = 0;
    this.ready = this.next();
  }
  async next() {
    const end = Math.min(this.item.size, this.offset + HEX_PAGE);
    if (end > this.offset) {
      const { bytes } = await range(this.ws.host, this.item, this.offset, end);
      this.pre.append(hexdump(bytes, this.offset));
      this.offset += bytes.length;
    }
    this.more.hidden = this.offset >= this.item.size;
  }
  describe() { return `binary · ${size(this.item.size)} · hex`; }
}

export function hexdump(bytes, base = 0) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 16) {
    const line = bytes.subarray(i, i + 16);
    const hex = [...line].map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(47);
    const ascii = [...line].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    out += `${(base + i).toString(16).padStart(8, "0")}  ${hex}  ${ascii}\n`;
  }
  return out;
}

// ---- Markdown ------------------------------------------------------------------------

/// Markdown as elements (headings, paragraphs, lists, quotes, code, rules, emphasis,
/// inline code, links, images by name only). Raw HTML in the file shows as text.
export function markdown(text) {
  const root = h("div.markdown#markdown");
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  const para = [];
  const flush = () => { if (para.length) { root.append(h("p", {}, ...inline(para.join(" ")))); para.length = 0; } };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)/))) {
      flush();
      const fence = m[1];
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) body.push(lines[i++]);
      i++;
      root.append(h("pre", {}, h("code", { dataset: { lang: m[2] || "" } }, body.join("\n"))));
      continue;
    }
    if ((m = line.match(/^(#{1,6})\s+(.*?)\s*#*\s*$/))) { flush(); root.append(h(`h${m[1].length}`, {}, ...inline(m[2]))); i++; continue; }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) { flush(); root.append(h("hr")); i++; continue; }
    if (/^\s*>/.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) quoted.push(lines[i++].replace(/^\s*>\s?/, ""));
      root.append(h("blockquote", {}, ...markdown(quoted.join("\n")).childNodes));
      continue;
    }
    if ((m = line.match(/^\s*([-*+]|\d+[.)])\s+/))) {
      flush();
      const ordered = /\d/.test(m[1]);
      const list = h(ordered ? "ol" : "ul");
      while (i < lines.length && (m = lines[i].match(/^\s*([-*+]|\d+[.)])\s+(.*)$/)) && /\d/.test(m[1]) === ordered) {
        const task = m[2].match(/^\[([ xX])\]\s+(.*)$/);
        list.append(task
          ? h("li.task", {}, h("input", { type: "checkbox", disabled: true, checked: task[1] !== " " }), " ", ...inline(task[2]))
          : h("li", {}, ...inline(m[2])));
        i++;
      }
      root.append(list);
      continue;
    }
    if (/^( {4}|\t)/.test(line) && !para.length) {
      const body = [];
      while (i < lines.length && (/^( {4}|\t)/.test(lines[i]) || lines[i] === "")) body.push(lines[i++].replace(/^( {4}|\t)/, ""));
      root.append(h("pre", {}, h("code", {}, body.join("\n").replace(/\n+$/, ""))));
      continue;
    }
    if (!line.trim()) { flush(); i++; continue; }
    para.push(line.trim());
    i++;
  }
  flush();
  return root;
}

/// Inline Markdown as nodes: `code`, **strong**, *em*, [text](http…) links (opened in a
/// new tab without opener), ![alt](…) shown as its alt text.
function inline(text) {
  const out = [];
  const pattern = /`([^`]+)`|\*\*([^*]+)\*\*|__([^_]+)__|\*([^*]+)\*|_([^_]+)_|!\[([^\]]*)\]\([^)]*\)|\[([^\]]+)\]\(([^)\s]+)[^)]*\)/g;
  let last = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(h("code", {}, m[1]));
    else if (m[2] !== undefined || m[3] !== undefined) out.push(h("strong", {}, ...inline(m[2] ?? m[3])));
    else if (m[4] !== undefined || m[5] !== undefined) out.push(h("em", {}, ...inline(m[4] ?? m[5])));
    else if (m[6] !== undefined) out.push(h("span.image-alt", {}, `[image: ${m[6]}]`));
    else {
      let url = null;
      try { url = new URL(m[8]); } catch { /* relative: shown as text */ }
      out.push(url && (url.protocol === "https:" || url.protocol === "http:")
        ? h("a", { href: url.href, target: "_blank", rel: "noopener noreferrer" }, m[7])
        : h("span.link", { title: m[8] }, m[7]));
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
