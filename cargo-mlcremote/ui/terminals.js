// Terminals: xterm.js on the host's /ws/terminal. A dropped socket says so and connects
// again. What a host prints stays inside the terminal: no clipboard writes (OSC 52), and
// a link (OSC 8) opens only after a click and a question that shows where it leads.
import { Terminal } from "/assets/xterm.mjs";
import { FitAddon } from "/assets/addon-fit.mjs";
import { h, dialog } from "/assets/dom.js";
import { socket } from "/assets/net.js";

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

export class Term {
  constructor(host, area) {
    this.box = h("div.term");
    area.append(this.box);
    const term = new Terminal({
      fontSize: 13, cursorBlink: true, theme: { background: "#000000", foreground: "#e5e7eb", cursor: "#e5e7eb" },
      linkHandler: { activate: (_event, uri) => openLink(uri), allowNonHttpProtocols: false },
    });
    term.parser.registerOscHandler(52, () => { window.mlc.clipboardRefused += 1; return true; });
    this.fit = new FitAddon();
    term.loadAddon(this.fit);
    term.open(this.box);
    this.fit.fit();
    this.term = term;
    window.mlc.terminals.push(term);
    const box = this.box;
    let ws = null;
    let closed = false;
    /// Ended for good (the workspace it belongs to is gone): no reconnect.
    this.close = () => { closed = true; ws?.close(); term.dispose(); box.remove(); };
    const connect = () => {
      if (closed) return;
      box.querySelector(".gone")?.remove();
      ws = socket(`/h/${encodeURIComponent(host)}/ws/terminal?cols=${term.cols}&rows=${term.rows}`);
      ws.binaryType = "arraybuffer";
      // The box may have been fitted again while connecting: say the size it has now.
      ws.onopen = () => { box.dataset.state = "open"; ws.send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows })); };
      ws.onmessage = (m) => term.write(typeof m.data === "string" ? m.data : new Uint8Array(m.data));
      ws.onclose = () => {
        box.dataset.state = "closed";
        box.append(h("div.gone", {}, "Disconnected. ", h("button.reconnect", { onclick: connect }, "Reconnect")));
        setTimeout(() => { if (box.isConnected && ws.readyState === WebSocket.CLOSED && box.querySelector(".gone")) connect(); }, 3000);
      };
    };
    term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(new TextEncoder().encode(d)));
    term.onResize(({ cols, rows }) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "resize", cols, rows })));
    new ResizeObserver(() => { if (box.isConnected) this.fit.fit(); }).observe(box);
    connect();
    term.focus();
  }
}
