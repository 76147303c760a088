// Search across the host's files (/api/search: ripgrep's walker and searcher on the host,
// .gitignore respected) and quick open by fuzzy name (/api/find). Both stream NDJSON:
// results show as they come, and a new query cancels the one before.
import { h, dialog } from "/assets/dom.js";
import { send, api } from "/assets/net.js";

/// Each NDJSON line of `path` (on the host's API) to `line(value)`, as it comes.
async function stream(host, path, signal, line) {
  const r = await send(api(host, path), { signal });
  if (!r.ok) {
    let why = `${r.status}`;
    try { why = (await r.json()).error || why; } catch { /* not JSON */ }
    throw new Error(why);
  }
  const reader = r.body.getReader();
  const text = new TextDecoder();
  let rest = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += text.decode(value, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop();
    for (const l of lines) if (l) line(JSON.parse(l));
  }
}

/// The search panel of one workspace: `open(path, line, col)` shows a result.
export class SearchPanel {
  constructor(host, open) {
    this.host = host;
    this.query = h("input#search-q", { type: "search", placeholder: "Search in files", autocomplete: "off", spellcheck: "false" });
    this.regex = h("input#search-regex", { type: "checkbox", title: "Regular expression" });
    this.case = h("input#search-case", { type: "checkbox", title: "Match case" });
    this.glob = h("input#search-glob", { placeholder: "files, e.g. *.rs", size: 12, autocomplete: "off" });
    this.summary = h("span.muted#search-summary");
    this.results = h("ul.plain.search-results#search-results");
    const form = h("form.toolbar", { onsubmit: (e) => { e.preventDefault(); this.run(); } },
      this.query, h("label", {}, this.regex, ".*"), h("label", {}, this.case, "Aa"), this.glob,
      h("button.primary#search-go", { type: "submit" }, "Search"),
      h("button#search-close", { type: "button", onclick: () => { this.el.hidden = true; } }, "×"));
    this.el = h("section.search-panel#search-panel", { hidden: true }, form, this.summary, this.results);
    this.open = open;
  }

  show() { this.el.hidden = false; this.query.focus(); this.query.select(); }

  async run() {
    const q = this.query.value;
    if (!q) return;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.results.replaceChildren();
    this.summary.textContent = "searching…";
    const args = new URLSearchParams({ q, regex: this.regex.checked ? "1" : "0", case: this.case.checked ? "1" : "0" });
    if (this.glob.value.trim()) args.set("glob", this.glob.value.trim());
    try {
      await stream(this.host, `search?${args}`, abort.signal, (m) => {
        if (m.done) {
          this.summary.textContent = `${m.matches} match${m.matches === 1 ? "" : "es"} in ${m.files} files searched${m.truncated ? " (stopped at the limit)" : ""}`;
          return;
        }
        this.results.append(h("li.hit", { dataset: { path: m.path, line: m.line }, onclick: () => this.open(m.path, m.line, m.col) },
          h("span.mono.where", {}, `${m.path}:${m.line}`), h("span.mono.text", {}, m.text)));
      });
    } catch (e) {
      if (!abort.signal.aborted) this.summary.textContent = `search failed: ${e.message}`;
    }
  }
}

/// Ctrl-P: a file by a few letters of its path; Enter opens the best match for what was
/// typed (waiting for it if it is still coming), or the one clicked.
export async function quickOpen(host, open) {
  const list = h("ul.plain.quick-results#quick-results");
  let current = null; // { q, found, abort, done }
  let timer = null;
  const input = () => document.querySelector("#dialog-input");
  const look = () => {
    clearTimeout(timer);
    timer = null;
    current?.abort.abort();
    const q = input()?.value || "";
    const abort = new AbortController();
    const found = [];
    list.replaceChildren();
    const done = stream(host, `find?q=${encodeURIComponent(q)}`, abort.signal, (m) => {
      if (m.done || abort.signal.aborted) return;
      found.push(m.path);
      list.append(h("li.mono", { dataset: { path: m.path }, onclick: () => pick(m.path) }, m.path));
    }).catch(() => {});
    current = { q, found, abort, done };
  };
  let chosen = null;
  const pick = (path) => { chosen = path; document.querySelector('#dialog button[data-value="true"]')?.click(); };
  const typed = dialog("Open a file by name", [["Cancel", false], ["Open", true, "primary"]], { extra: h("div", {}, list), input: { value: "" } });
  setTimeout(() => {
    input()?.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(look, 120); });
    look();
  });
  const answer = await typed;
  if (answer === false) { current?.abort.abort(); return; }
  if (!chosen && (timer || current?.q !== answer)) {
    // Enter came before the list for the last letters: that list decides.
    clearTimeout(timer);
    const abort = new AbortController();
    const found = [];
    await stream(host, `find?q=${encodeURIComponent(answer)}`, abort.signal, (m) => { if (!m.done) found.push(m.path); }).catch(() => {});
    current = { q: answer, found, abort, done: Promise.resolve() };
  } else if (!chosen) {
    await current?.done;
  }
  const path = chosen || current?.found[0];
  if (path) open(path);
}
