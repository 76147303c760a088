// Files as the editor takes them and gives them back, byte for byte: the encoding (UTF-8,
// UTF-16 with its BOM, else windows-1252 for the Latin-1 files older tools write), the
// BOM and the line separator are remembered at open and used again at save, so a file
// saved unedited is the file that was read.

const UTF8_BOM = [0xef, 0xbb, 0xbf];

/// What the bytes are: { text, encoding, bom, eol } or { binary: true }.
export function decode(bytes) {
  const starts = (sig) => sig.every((b, i) => bytes[i] === b);
  if (starts([0xff, 0xfe]) || starts([0xfe, 0xff])) {
    const encoding = bytes[0] === 0xff ? "utf-16le" : "utf-16be";
    try {
      const text = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes.subarray(2));
      return { text, encoding, bom: true, eol: eolOf(text) };
    } catch { return { binary: true }; }
  }
  if (bytes.subarray(0, 8192).includes(0)) return { binary: true };
  const bom = starts(UTF8_BOM);
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bom ? bytes.subarray(3) : bytes);
    return { text, encoding: "utf-8", bom, eol: eolOf(text) };
  } catch { /* not UTF-8 */ }
  // Control bytes other than tab, newlines and form feed say "binary", not "Latin-1".
  for (const b of bytes.subarray(0, 8192)) if (b < 0x20 && ![9, 10, 12, 13, 27].includes(b)) return { binary: true };
  const text = new TextDecoder("windows-1252").decode(bytes);
  return { text, encoding: "windows-1252", bom: false, eol: eolOf(text) };
}

/// The separator the file uses: CRLF if it has one, a lone CR if only those, else LF.
/// A file that mixes them keeps the others as they are, inside its lines.
function eolOf(text) {
  if (text.includes("\r\n")) return "\r\n";
  if (text.includes("\r") && !text.includes("\n")) return "\r";
  return "\n";
}

let cp1252 = null;
/// windows-1252 back to bytes: every one of the 256 bytes decodes to its own character,
/// so the inverse is exact.
function cp1252Table() {
  if (!cp1252) {
    cp1252 = new Map();
    const all = new TextDecoder("windows-1252").decode(Uint8Array.from({ length: 256 }, (_, i) => i));
    [...all].forEach((ch, i) => cp1252.set(ch, i));
  }
  return cp1252;
}

/// The text as bytes in the file's encoding; throws { char } when a character cannot be
/// written in it.
export function encode(text, { encoding, bom }) {
  if (encoding === "utf-8") {
    const body = new TextEncoder().encode(text);
    if (!bom) return body;
    const out = new Uint8Array(body.length + 3);
    out.set(UTF8_BOM); out.set(body, 3);
    return out;
  }
  if (encoding === "utf-16le" || encoding === "utf-16be") {
    const out = new Uint8Array(2 + text.length * 2);
    const view = new DataView(out.buffer);
    view.setUint16(0, 0xfeff, encoding === "utf-16le");
    for (let i = 0; i < text.length; i++) view.setUint16(2 + 2 * i, text.charCodeAt(i), encoding === "utf-16le");
    return out;
  }
  const table = cp1252Table();
  const out = new Uint8Array(text.length);
  let n = 0;
  for (const ch of text) {
    const b = table.get(ch);
    if (b === undefined) throw { char: ch, encoding };
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/// How the page names an encoding and separator in the status bar.
export const describe = ({ encoding, bom, eol }) =>
  `${encoding.toUpperCase()}${bom ? " with BOM" : ""} · ${eol === "\r\n" ? "CRLF" : eol === "\r" ? "CR" : "LF"}`;
