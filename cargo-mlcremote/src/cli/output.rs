//! What the CLI prints: results on stdout, errors on stderr, anything a host sent made
//! safe for a terminal first, and a closed stdout (`| head`) taken quietly.

use std::io::{IsTerminal, Write};

use mlcremote_client::error::Error;

/// Escape control characters (escape sequences that set titles, clear the screen or
/// write the clipboard) so text from a host shows as text. Newlines and tabs stay.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// Bytes from a host for stdout: escaped when stdout is a terminal, as they are when it
/// is a file or a pipe.
pub fn host_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    let result = if std::io::stdout().is_terminal() {
        stdout.write_all(sanitize(&String::from_utf8_lossy(bytes)).as_bytes())
    } else {
        stdout.write_all(bytes)
    };
    let _ = result.and_then(|()| stdout.flush());
}

/// A line on stdout; a reader that went away (`| head -2`) ends nothing badly.
pub fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

/// A value as one line of JSON on stdout.
pub fn json(value: &impl serde::Serialize) -> Result<(), Error> {
    let text = serde_json::to_string(value).map_err(|e| Error::wrap(mlcremote_client::error::Kind::Other, e))?;
    out(&text);
    Ok(())
}

/// `warning: <message>` on stderr.
pub fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "warning: {}", sanitize(message));
}

/// `error: <message>` and, with `-v` or when it is a server log, the detail under it.
pub fn error(message: &str, detail: Option<&str>, verbose: bool) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {}", sanitize(message));
    // Remote logs are what the user needs to act on a failed start, so they always show.
    if let Some(detail) = detail
        && (verbose || detail.contains("logs/out.log"))
    {
        for line in detail.lines() {
            let _ = writeln!(stderr, "  {}", sanitize(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_a_host_show_as_text() {
        let hostile = "log line\x1b]0;owned\x07\x1b[2J\x1b]52;c;aGk=\x07 end\n\tnext";
        let shown = sanitize(hostile);
        assert!(!shown.contains('\x1b') && !shown.contains('\x07'), "{shown:?}");
        assert!(
            shown.contains("\\u{1b}]0;owned") && shown.ends_with("end\n\tnext"),
            "{shown}"
        );
    }
}
