// Building the page: elements from a small spec, dialogs, the banner. Text from a host
// only ever goes in as text (append of a string, textContent), never as markup.

export const $ = (sel, root = document) => root.querySelector(sel);

/// Build an element: h("button.primary#go", {onclick}, "Go").
export function h(spec, attrs = {}, ...children) {
  const tag = spec.match(/^[a-z0-9]*/)[0] || "div";
  const id = spec.match(/#([\w-]+)/)?.[1];
  const classes = [...spec.matchAll(/\.([\w-]+)/g)].map((m) => m[1]);
  const el = document.createElement(tag);
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

let closeOpen = null;
/// Show `text` with buttons [label, value, classes]; resolves to the chosen value (or
/// the input's text). Esc chooses the first button (Cancel), Enter the last.
export function dialog(text, buttons, { extra = null, input = null } = {}) {
  closeOpen?.(buttons[0][1]);
  return new Promise((resolve) => {
    const box = $("#dialog");
    $("#dialog-text").textContent = text;
    const extraEl = $("#dialog-extra");
    extraEl.replaceChildren();
    if (extra) extraEl.append(extra);
    let field = null;
    if (input) {
      field = h("input#dialog-input", { type: input.type || "text", value: input.value || "", autocomplete: "off" });
      extraEl.append(field);
    }
    const close = (value) => {
      box.hidden = true;
      closeOpen = null;
      document.removeEventListener("keydown", keys, true);
      resolve(field && value !== false ? field.value : value);
    };
    const keys = (e) => {
      if (e.key === "Escape") { e.preventDefault(); close(buttons[0][1]); }
      else if (e.key === "Enter" && field && document.activeElement === field) { e.preventDefault(); close(buttons.at(-1)[1]); }
    };
    closeOpen = close;
    document.addEventListener("keydown", keys, true);
    const row = $("#dialog-buttons");
    row.replaceChildren(...buttons.map(([label, value, cls]) =>
      h(`button.${(cls || "plain").replace(/ /g, ".")}`, { dataset: { value: String(value) }, onclick: () => close(value) }, label)));
    box.hidden = false;
    (field || row.lastElementChild).focus();
    if (field) field.select();
  });
}
export const confirmIt = (text, yes = "OK") => dialog(text, [["Cancel", false], [yes, true, "danger"]]);
export const ask = (text, value = "") => dialog(text, [["Cancel", false], ["OK", true, "primary"]], { input: { value } });

export function banner(text) {
  const b = $("#banner");
  b.hidden = !text;
  b.textContent = text || "";
}

/// A short note at the bottom of the page, with an optional action (Undo).
export function toast(text, action = null) {
  const box = $("#toasts");
  const note = h("div.toast", {}, h("span", {}, text));
  if (action) note.append(h("button.undo", { onclick: () => { note.remove(); action[1](); } }, action[0]));
  box.append(note);
  setTimeout(() => note.remove(), 15_000);
  return note;
}

/// Bytes as people read them.
export function size(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}
