// What the editor does not open: images (shown from a blob, never a host URL), big text
// files (paged with Range: the last part first, earlier parts on demand, and a follow
// mode for logs), binaries (a hex view, paged), and Markdown rendered in a sandboxed frame
// of its own (markdown.js builds elements there, so nothing a file says is ever parsed as
// markup or run, and nothing in it could reach this page if it were).
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

/// The Markdown preview: a frame of its own (`/markdown.html`, sandboxed without
/// same-origin, so nothing in it can reach this page, its cookie or its key), handed
/// the text once its script says it is ready.
let preview = null;
window.addEventListener("message", (e) => {
  if (!preview || e.source !== preview.frame.contentWindow || e.data !== "ready") return;
  const dark = document.documentElement.dataset.theme === "dark";
  // An opaque origin has no name to address it by: "*" is the only target it takes.
  e.source.postMessage({ text: preview.text, dark }, "*");
});

export function markdownFrame(text) {
  const frame = h("iframe#markdown-frame.viewer.preview", {
    sandbox: "allow-scripts allow-popups allow-popups-to-escape-sandbox",
    src: "/markdown.html",
    title: "Markdown preview",
    referrerpolicy: "no-referrer",
  });
  preview = { frame, text };
  return frame;
}
