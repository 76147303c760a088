//! The terminal's one control frame: `{"type":"resize","cols":N,"rows":N}` as a text
//! WebSocket frame. Anything else in a text frame is input. A pure function, fuzzed.

use serde::Deserialize;

#[derive(Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    cols: u16,
    rows: u16,
}

/// `(cols, rows)`, each at least 1, if `text` is a resize frame.
pub fn parse(text: &str) -> Option<(u16, u16)> {
    // Input is usually short keystrokes: only something that looks like JSON is parsed.
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let frame: Frame = serde_json::from_str(text).ok()?;
    (frame.kind == "resize").then(|| (frame.cols.max(1), frame.rows.max(1)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn resize_frames_and_input() {
        assert_eq!(super::parse(r#"{"type":"resize","cols":120,"rows":0}"#), Some((120, 1)));
        assert_eq!(super::parse(r#"{"type":"other","cols":1,"rows":1}"#), None);
        assert_eq!(super::parse("ls -l\n"), None);
        assert_eq!(super::parse(r#"{"type":"resize","cols":70000,"rows":1}"#), None);
    }
}
