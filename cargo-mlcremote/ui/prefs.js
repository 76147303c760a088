// What the page remembers between runs: kept by the client in its config dir (each run
// of the UI has its own port, so its own browser storage). Theme, font size, and per host
// the folders and files that were open.
import { send } from "/assets/net.js";

export const prefs = await send("/ui/prefs").then((r) => (r.ok ? r.json() : {})).catch(() => ({}));
prefs.hosts ||= {};

/// Every open editor, each re-themed when the theme changes (editor.js adds to it).
export const themes = new Set();

let timer = null;
/// Written a moment after the last change (a burst of changes is one write).
export function savePrefs() {
  clearTimeout(timer);
  timer = setTimeout(() => {
    send("/ui/prefs", { method: "PUT", body: JSON.stringify(prefs), headers: { "content-type": "application/json" } })
      .then((r) => { window.mlc.prefsSaved = r.ok ? (window.mlc.prefsSaved || 0) + 1 : -1; })
      .catch(() => { window.mlc.prefsSaved = -1; });
  }, 300);
}
