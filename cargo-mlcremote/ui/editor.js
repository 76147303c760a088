// One open file: its CodeMirror view (own undo history, cursor and scroll), what it was
// on the host when read (ETag, mode, encoding, line separator), and whether it has edits
// not saved yet. Saving writes the bytes as edited, and never over someone else's change
// or a read-only file without asking.
import {
  EditorState, EditorView, Compartment, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, dropCursor, rectangularSelection, crosshairCursor, defaultKeymap,
  history, historyKeymap, indentWithTab, searchKeymap, highlightSelectionMatches, closeBrackets,
  closeBracketsKeymap, syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching,
  foldGutter, foldKeymap, oneDark, languageFor,
} from "/assets/codemirror.mjs";
import { call } from "/assets/net.js";
import { dialog } from "/assets/dom.js";
import { encode, describe } from "/assets/text.js";
import { themes } from "/assets/prefs.js";
const themeOf = (dark) => (dark ? oneDark : []);

/// What every file's editor has; `save` is what Ctrl-S does.
function common(eol, save) {
  return [
    // Only the file's own separator splits lines, and it is what joins them again: a
    // CRLF file stays CRLF, a stray CR or LF stays where it was.
    EditorState.lineSeparator.of(eol),
    lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), history(), foldGutter(),
    drawSelection(), dropCursor(), EditorState.allowMultipleSelections.of(true), indentOnInput(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }), bracketMatching(), closeBrackets(),
    rectangularSelection(), crosshairCursor(), highlightActiveLine(), highlightSelectionMatches(),
    keymap.of([
      { key: "Mod-s", preventDefault: true, run: () => { save(); return true; } },
      ...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, indentWithTab,
    ]),
  ];
}

/// The first editor made in a page puts the editor's styles into it and runs its code
/// for the first time. Made once while the page is idle, with nothing in it, that part
/// is paid before any file opens: the first 14 KiB file's editor took 33 ms here, 24 ms
/// since (the next ones 5–7 ms; the rest is the file's language parsed the first time).
export function warm() {
  new EditorView({ state: EditorState.create({ doc: "\n", extensions: common("\n", () => {}) }) }).destroy();
}

export class Doc {
  /// `item` is the tree's entry ({path, raw_path, name, mode}); `read` what decode() gave.
  constructor(ws, item, read, etag, { onSave, onChange }) {
    this.ws = ws;
    this.item = item;
    this.path = item.path;
    this.meta = { encoding: read.encoding, bom: read.bom, eol: read.eol };
    this.etag = etag;
    this.mode = item.mode;
    this.onChange = onChange;
    this.theme = new Compartment();
    themes.add(this);
    const lang = languageFor(item.name || item.path);
    this.language = lang?.[0] || "Plain text";
    this.view = new EditorView({
      parent: null,
      state: EditorState.create({
        doc: read.text,
        extensions: [
          ...common(read.eol, () => onSave(this)),
          lang ? lang[1] : [],
          this.theme.of(themeOf(document.documentElement.dataset.theme === "dark")),
          EditorView.updateListener.of((u) => { if (u.docChanged) this.changed(); }),
        ],
      }),
    });
    this.saved = this.view.state.doc;
    this.dirty = false;
  }

  get dom() { return this.view.dom; }
  get scroller() { return this.view.scrollDOM; }
  focus() { this.view.focus(); }
  get markdown() { return this.language === "Markdown"; }

  /// The text with the file's own line separator (the document keeps lines, not separators).
  text() { return this.view.state.sliceDoc(); }

  changed() {
    const doc = this.view.state.doc;
    const dirty = doc.length !== this.saved.length || !doc.eq(this.saved);
    if (dirty !== this.dirty) { this.dirty = dirty; this.onChange(this); }
  }

  setDark(dark) { this.view.dispatch({ effects: this.theme.reconfigure(themeOf(dark)) }); }

  get readOnlyOnHost() { return this.mode !== undefined && (this.mode & 0o222) === 0; }

  /// What the status bar says of it.
  describe() { return `${this.language} · ${describe(this.meta)}`; }

  /// Save; resolves to a line for the status bar. Asks before writing over a change made
  /// on the host since it was read, a file deleted there, or a read-only file.
  save() {
    // One save at a time: a second Ctrl-S while one runs waits for it.
    if (!this.saving) this.saving = this.write().finally(() => { this.saving = null; });
    return this.saving;
  }

  async write() {
    const { host } = this.ws;
    const path = this.path;
    let bytes;
    try {
      bytes = encode(this.text(), this.meta);
    } catch (e) {
      if (e.char) return `not saved: “${e.char}” cannot be written in ${e.encoding}, the file's encoding`;
      throw e;
    }
    if (this.readOnlyOnHost) {
      const mode = (this.mode & 0o7777).toString(8).padStart(4, "0");
      if (!await dialog(`${path} is read-only on the host (mode ${mode}). Save it anyway? It stays read-only.`,
        [["Cancel", false], ["Save anyway", true, "danger"]])) return "not saved (read-only)";
    }
    const snapshot = this.view.state.doc;
    let headers = this.etag ? { "if-match": this.etag } : { "if-none-match": "*" };
    for (;;) {
      try {
        const r = await call(host, "PUT", `file?path=${this.argument()}`, bytes, headers);
        this.etag = r.headers.get("etag");
        this.saved = snapshot;
        this.changed();
        return `saved ${path}`;
      } catch (e) {
        if (e.status !== 412 && e.status !== 409) return `cannot save ${path}: ${e.message}`;
        // Someone else wrote (or removed) it since it was read: the person decides.
        let now = null;
        try { now = await (await call(host, "GET", `stat?path=${this.argument()}`)).json(); } catch (err) {
          if (err.status !== 404) return `cannot check ${path}: ${err.message}`;
        }
        if (!now) {
          if (!await dialog(`${path} was deleted on the host since you opened it. Save it again?`,
            [["Cancel", false], ["Save", true, "primary"]])) return "not saved";
          headers = { "if-none-match": "*" };
        } else {
          if (!await dialog(`${path} changed on the host since you opened it. Overwrite those changes?`,
            [["Cancel", false], ["Overwrite", true, "danger"]])) return "not saved (changed on the host)";
          headers = {};
        }
      }
    }
  }

  /// The cursor to `line` (1…), `col` (1…), shown in the middle of the view.
  goto(line, col = 1) {
    const doc = this.view.state.doc;
    const at = doc.line(Math.max(1, Math.min(line, doc.lines)));
    const pos = Math.min(at.from + Math.max(0, col - 1), at.to);
    this.view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
    this.view.focus();
  }

  argument() { return this.item.raw_path || encodeURIComponent(this.path); }

  renamed(to) { this.path = to; this.item = { ...this.item, path: to, raw_path: undefined, name: to.split("/").pop() }; }

  destroy() { themes.delete(this); this.view.destroy(); }
}
