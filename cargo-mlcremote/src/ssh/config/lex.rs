//! One config line: the keyword and its arguments, quoted as OpenSSH quotes.

/// `Keyword value`, `Keyword=value` or `Keyword = value`; `None` for blank and comment
/// lines. The keyword comes back lowercased.
pub(super) fn split_keyword(line: &str) -> Result<Option<(String, &str)>, String> {
    let line = line.trim_start_matches([' ', '\t', '\r', '\u{c}']);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let end = line.find(|c: char| c.is_whitespace() || c == '=').unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = &line[end..];
    rest = rest.trim_start_matches([' ', '\t']);
    if let Some(after) = rest.strip_prefix('=') {
        rest = after.trim_start_matches([' ', '\t']);
    }
    if keyword.is_empty() {
        return Err("missing keyword".into());
    }
    Ok(Some((
        keyword.to_ascii_lowercase(),
        rest.trim_end_matches(['\r', '\n']),
    )))
}

/// The rest of a line, as OpenSSH takes it for commands: everything after the keyword.
pub(super) fn raw_value(rest: &str) -> String {
    rest.trim_end_matches([' ', '\t', '\r', '\n', '\u{c}']).to_string()
}

/// OpenSSH's `argv_split`: words split on blanks, `"…"` and `'…'` quoting, `\` escaping
/// a quote, a backslash or (unquoted) a space; an unquoted `#` word ends the line.
pub(super) fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote = None;
        while i < chars.len() {
            let c = chars[i];
            match (c, quote) {
                ('\\', _)
                    if chars
                        .get(i + 1)
                        .is_some_and(|n| matches!(n, '\'' | '"' | '\\') || (quote.is_none() && *n == ' ')) =>
                {
                    arg.push(chars[i + 1]);
                    i += 2;
                    continue;
                }
                (c, None) if c.is_whitespace() => break,
                ('"' | '\'', None) => quote = Some(c),
                (c, Some(q)) if c == q => quote = None,
                (c, _) => arg.push(c),
            }
            i += 1;
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        args.push(arg);
    }
    Ok(args)
}
