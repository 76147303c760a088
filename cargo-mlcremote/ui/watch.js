// Live files: the host's /ws/watch (SPEC §4) for the folders the tree shows and the
// folders of the open files. Each change comes once per burst; a dropped socket connects
// again (backing off) and asks for the same paths.
import { socket, Backoff, uiAnswers } from "/assets/net.js";

export class Watch {
  /// `changed({path, kind})` for each change heard.
  constructor(host, changed) {
    this.host = host;
    this.changed = changed;
    this.paths = new Set();
    this.backoff = new Backoff(1);
    this.connect();
  }

  connect() {
    if (this.closed) return;
    const ws = socket(`/h/${encodeURIComponent(this.host)}/ws/watch`);
    this.ws = ws;
    ws.onopen = () => { if (this.paths.size) ws.send(JSON.stringify({ watch: [...this.paths] })); };
    ws.onmessage = (m) => {
      let msg = null;
      try { msg = JSON.parse(m.data); } catch { return; }
      if (msg.type === "watching") { this.backoff.reset(); window.mlc.watching = (window.mlc.watching || 0) + 1; }
      if (msg.type === "changed") this.changed(msg);
    };
    ws.onclose = () => {
      if (this.closed || this.ws !== ws) return;
      setTimeout(async () => { await uiAnswers(); this.connect(); }, this.backoff.next() * 1000);
    };
  }

  /// Watch exactly these paths from now on.
  set(paths) {
    const next = new Set(paths);
    const watch = [...next].filter((p) => !this.paths.has(p));
    const unwatch = [...this.paths].filter((p) => !next.has(p));
    this.paths = next;
    if ((watch.length || unwatch.length) && this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify({ watch, unwatch }));
    }
  }

  close() { this.closed = true; this.ws?.close(); }
}
