// The Markdown preview's own page (`/markdown.html`), in a frame sandboxed without
// same-origin: a classic script (a module would need CORS from an opaque origin) that
// renders the text its parent posts by building elements, so nothing a file says is ever
// parsed as markup or run. `h` here is a small copy of dom.js's: this page imports nothing.
"use strict";
(() => {
function h(spec, attrs = {}, ...children) {
  const tag = spec.match(/^[a-z0-9]*/)[0] || "div";
  const el = document.createElement(tag);
  const id = spec.match(/#([\w-]+)/)?.[1];
  if (id) el.id = id;
  for (const m of spec.matchAll(/\.([\w-]+)/g)) el.classList.add(m[1]);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v !== undefined) el.setAttribute(k, v);
  }
  el.append(...children);
  return el;
}

/// Markdown as elements (headings, paragraphs, lists, quotes, code, rules, emphasis,
/// inline code, links, images by name only). Raw HTML in the file shows as text.
function markdown(text) {
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

window.addEventListener("message", (e) => {
  if (e.source !== window.parent || typeof e.data?.text !== "string") return;
  document.documentElement.dataset.theme = e.data.dark ? "dark" : "light";
  document.body.replaceChildren(markdown(e.data.text));
});
window.parent.postMessage("ready", "*");
})();
