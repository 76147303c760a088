// What the UI takes from CodeMirror 6: the editor, its pieces, and the languages by file
// name. Bundled into one ES module (../codemirror.mjs) by ../build-codemirror.sh.
export { EditorState, Compartment, Transaction } from "@codemirror/state";
export {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, drawSelection, dropCursor, rectangularSelection, crosshairCursor,
} from "@codemirror/view";
export { defaultKeymap, history, historyKeymap, indentWithTab, undoDepth } from "@codemirror/commands";
export { searchKeymap, highlightSelectionMatches, openSearchPanel } from "@codemirror/search";
export { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
export {
  syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching, foldGutter,
  foldKeymap, indentUnit, StreamLanguage,
} from "@codemirror/language";
export { oneDark } from "@codemirror/theme-one-dark";

import { StreamLanguage } from "@codemirror/language";
import { rust } from "@codemirror/lang-rust";
import { python } from "@codemirror/lang-python";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";
import { yaml } from "@codemirror/lang-yaml";
import { markdown } from "@codemirror/lang-markdown";
import { cpp } from "@codemirror/lang-cpp";
import { go } from "@codemirror/lang-go";
import { html } from "@codemirror/lang-html";
import { css } from "@codemirror/lang-css";
import { sql } from "@codemirror/lang-sql";
import { toml } from "@codemirror/legacy-modes/mode/toml";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { dockerFile } from "@codemirror/legacy-modes/mode/dockerfile";
import { properties } from "@codemirror/legacy-modes/mode/properties";
import { diff } from "@codemirror/legacy-modes/mode/diff";

const legacy = (mode) => () => StreamLanguage.define(mode);
const LANGUAGES = [
  ["Rust", /\.rs$/, rust],
  ["Python", /\.(py|pyi|pyw)$/, python],
  ["JavaScript", /\.(js|mjs|cjs|jsx)$/, () => javascript({ jsx: true })],
  ["TypeScript", /\.(ts|mts|cts|tsx)$/, () => javascript({ typescript: true, jsx: true })],
  ["JSON", /\.(json|jsonc|json5|ipynb)$|^\.?(babelrc|eslintrc)$/, json],
  ["YAML", /\.(ya?ml)$/, yaml],
  ["TOML", /\.toml$|^Cargo\.lock$|^Pipfile$/, legacy(toml)],
  ["Markdown", /\.(md|markdown|mdx)$/, markdown],
  ["Shell", /\.(sh|bash|zsh|ksh|fish)$|^\.(bashrc|bash_profile|bash_aliases|profile|zshrc|zprofile|kshrc)$|^(PKGBUILD|configure)$/, legacy(shell)],
  ["C/C++", /\.(c|h|cc|cpp|cxx|hh|hpp|hxx|ino)$/, cpp],
  ["Go", /\.go$/, go],
  ["HTML", /\.(html?|xhtml|vue|svelte)$/, html],
  ["CSS", /\.(css|scss|less)$/, css],
  ["SQL", /\.sql$/, sql],
  ["Dockerfile", /^(Dockerfile|Containerfile)(\..*)?$|\.dockerfile$/i, legacy(dockerFile)],
  ["INI", /\.(ini|conf|cfg|cnf|properties|service|timer|socket|desktop|env)$|^\.(gitconfig|editorconfig|npmrc)$/, legacy(properties)],
  ["Diff", /\.(diff|patch|rej)$/, legacy(diff)],
];

/// The language for a file name (its last path part), or null: [label, extension].
export function languageFor(name) {
  const base = name.split("/").pop();
  for (const [label, pattern, make] of LANGUAGES) if (pattern.test(base)) return [label, make()];
  return null;
}
