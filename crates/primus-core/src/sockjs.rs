//! The SockJS wire format, without a runtime: frames, string quoting and payload parsing.
//!
//! SockJS (protocol 0.3) carries text messages in a few frame types, each a string:
//!
//! | frame | meaning |
//! |---|---|
//! | `o` | the session is open |
//! | `h` | heartbeat |
//! | `a["m1","m2"]` | messages, a JSON array of strings |
//! | `c[3000,"Go away!"]` | the session is closed, with a code and reason |
//!
//! Clients send a JSON array of strings (or, over WebSocket, a single JSON string).
//! Strings are quoted the way `sockjs-node` quotes them: `JSON.stringify`, then the
//! characters that some browsers mangle (U+200C..U+200F, U+2028..U+202F, U+2060..U+206F,
//! U+FFF0..U+FFFF and every UTF-16 surrogate, i.e. every character above U+FFFF) are
//! written as `\uXXXX` escapes.
//!
//! ```
//! use primus_core::sockjs;
//! let mut out = String::from("a[");
//! sockjs::quote_into(&mut out, "\"hi\"\u{2028}");
//! out.push(']');
//! assert_eq!(out, r#"a["\"hi\"\u2028"]"#);
//! assert_eq!(sockjs::close_frame(3000, "Go away!"), r#"c[3000,"Go away!"]"#);
//! assert_eq!(sockjs::parse_messages(br#"["x","y"]"#).unwrap(), vec!["x", "y"]);
//! ```

use std::fmt::Write as _;

/// The open frame.
pub const OPEN: &str = "o";
/// The heartbeat frame.
pub const HEARTBEAT: &str = "h";

/// Close code and reason of a session closed by the server.
pub const GO_AWAY: (u16, &str) = (3000, "Go away!");
/// Close code and reason sent to a second receiver while one is attached.
pub const ANOTHER_CONNECTION: (u16, &str) = (2010, "Another connection still open");
/// Close code and reason of a normal close (what `sockjs-node`'s `close()` sends).
pub const NORMAL_CLOSURE: (u16, &str) = (1000, "Normal closure");

/// `c[code,"reason"]`.
pub fn close_frame(code: u16, reason: &str) -> String {
    let mut out = String::with_capacity(reason.len() + 12);
    let _ = write!(out, "c[{code},");
    quote_into(&mut out, reason);
    out.push(']');
    out
}

/// `a[...]` for the given messages.
pub fn array_frame<'a>(messages: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("a[");
    for (i, m) in messages.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quote_into(&mut out, m);
    }
    out.push(']');
    out
}

/// Append `s` as a JSON string, quoted like `sockjs-node` (see the module docs).
pub fn quote_into(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_escape(out, c as u32),
            '\u{200c}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{2060}'..='\u{206f}'
            | '\u{fff0}'..='\u{ffff}' => push_escape(out, c as u32),
            c if (c as u32) > 0xffff => {
                // JavaScript strings are UTF-16: both surrogates get escaped.
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    push_escape(out, u32::from(*u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_escape(out: &mut String, unit: u32) {
    let _ = write!(out, "\\u{unit:04x}");
}

/// Why an incoming payload was refused, with the protocol's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// No payload, or not a JSON array: `Payload expected.`
    Expected,
    /// Not valid JSON: `Broken JSON encoding.`
    BrokenJson,
}

impl PayloadError {
    /// The response body the protocol prescribes (status 500).
    pub fn message(&self) -> &'static str {
        match self {
            PayloadError::Expected => "Payload expected.",
            PayloadError::BrokenJson => "Broken JSON encoding.",
        }
    }
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PayloadError {}

/// Parse a client payload: a JSON array whose elements are the messages. String elements
/// are the messages themselves; any other element is passed on as its JSON text (what
/// `sockjs-node` hands Primus is the value, which Primus then treats as already decoded).
pub fn parse_messages(payload: &[u8]) -> Result<Vec<String>, PayloadError> {
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err(PayloadError::Expected);
    }
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| PayloadError::BrokenJson)?;
    match value {
        serde_json::Value::Array(items) => Ok(items.into_iter().map(element).collect()),
        _ => Err(PayloadError::Expected),
    }
}

/// Parse one WebSocket message of a SockJS session: a JSON array of messages, or a single
/// JSON string. An empty message carries nothing.
pub fn parse_ws_message(payload: &[u8]) -> Result<Vec<String>, PayloadError> {
    if payload.is_empty() {
        return Ok(Vec::new());
    }
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|_| PayloadError::BrokenJson)?;
    Ok(match value {
        serde_json::Value::Array(items) => items.into_iter().map(element).collect(),
        other => vec![element(other)],
    })
}

fn element(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

/// One server frame as a client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// `o`
    Open,
    /// `h`
    Heartbeat,
    /// `a[...]`
    Messages(Vec<String>),
    /// `c[code,"reason"]`
    Close(u16, String),
}

/// Parse one server frame (a WebSocket message, or one line of a streaming response).
pub fn parse_server_frame(frame: &str) -> Result<ServerFrame, PayloadError> {
    let frame = frame.trim_end_matches(['\n', '\r']);
    match frame.as_bytes().first() {
        Some(b'o') if frame.len() == 1 => Ok(ServerFrame::Open),
        Some(b'h') if frame.len() == 1 => Ok(ServerFrame::Heartbeat),
        Some(b'a') => {
            let items: Vec<String> =
                serde_json::from_str(&frame[1..]).map_err(|_| PayloadError::BrokenJson)?;
            Ok(ServerFrame::Messages(items))
        }
        Some(b'c') => {
            let (code, reason): (u16, String) =
                serde_json::from_str(&frame[1..]).map_err(|_| PayloadError::BrokenJson)?;
            Ok(ServerFrame::Close(code, reason))
        }
        _ => Err(PayloadError::Expected),
    }
}

/// Whether a JSONP callback name is safe to put in a script: 1 to 32 characters from
/// `A-Za-z0-9_.-` (the rule of `sockjs-node`, which makes script injection impossible).
pub fn valid_callback(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Whether a server or session id segment is valid: not empty, no `/` and no `.`.
pub fn valid_segment(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', '.'])
}

/// Escape the given characters of `s` the way JavaScript's `escape()` does (`%XX`), `%`
/// included. EventSource frames escape `\r`, `\n` and NUL so a message stays one event.
pub fn escape_selected(s: &str, chars: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '%' || chars.contains(c) {
            let _ = write!(out, "%{:02X}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_sockjs_node() {
        let mut s = String::new();
        quote_into(
            &mut s,
            "a\"b\\c\n\u{1}\u{7f}é\u{200c}\u{2029}\u{2060}\u{fff0}\u{1F600}",
        );
        assert_eq!(
            s,
            "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\\u200c\\u2029\\u2060\\ufff0\\ud83d\\ude00\""
        );
    }

    #[test]
    fn frames() {
        assert_eq!(array_frame(["\"hello\""]), r#"a["\"hello\""]"#);
        assert_eq!(array_frame([]), "a[]");
        assert_eq!(
            close_frame(2010, ANOTHER_CONNECTION.1),
            r#"c[2010,"Another connection still open"]"#
        );
        assert_eq!(parse_server_frame("o\n"), Ok(ServerFrame::Open));
        assert_eq!(parse_server_frame("h"), Ok(ServerFrame::Heartbeat));
        assert_eq!(
            parse_server_frame(r#"a["x","y"]"#),
            Ok(ServerFrame::Messages(vec!["x".into(), "y".into()]))
        );
        assert_eq!(
            parse_server_frame(r#"c[3000,"Go away!"]"#),
            Ok(ServerFrame::Close(3000, "Go away!".into()))
        );
        assert!(parse_server_frame("x").is_err());
    }

    #[test]
    fn payloads() {
        assert_eq!(parse_messages(b""), Err(PayloadError::Expected));
        assert_eq!(parse_messages(b"  "), Err(PayloadError::Expected));
        assert_eq!(parse_messages(b"[\"x\""), Err(PayloadError::BrokenJson));
        assert_eq!(parse_messages(b"{}"), Err(PayloadError::Expected));
        assert_eq!(parse_messages(b"\"x\""), Err(PayloadError::Expected));
        assert_eq!(parse_messages(b"[]").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_messages(b"[\"a\",1,{\"b\":2}]").unwrap(),
            vec!["a", "1", "{\"b\":2}"]
        );
        assert_eq!(parse_ws_message(b"").unwrap(), Vec::<String>::new());
        assert_eq!(parse_ws_message(b"\"x\"").unwrap(), vec!["x"]);
        assert_eq!(parse_ws_message(b"[\"x\",\"y\"]").unwrap(), vec!["x", "y"]);
        assert_eq!(parse_ws_message(b"[\"x\""), Err(PayloadError::BrokenJson));
        // Round trip through the quoting.
        let tricky = "\"\u{2028}\u{1F600}\\";
        let frame = array_frame([tricky]);
        assert_eq!(
            parse_server_frame(&frame),
            Ok(ServerFrame::Messages(vec![tricky.into()]))
        );
    }

    #[test]
    fn callbacks_and_segments() {
        assert!(valid_callback("_jp.a1b2-c"));
        assert!(!valid_callback(""));
        assert!(!valid_callback("alert(1)"));
        assert!(!valid_callback("a;b"));
        assert!(!valid_callback(&"a".repeat(33)));
        assert!(valid_segment("000"));
        assert!(!valid_segment("a.b"));
        assert!(!valid_segment(""));
    }

    #[test]
    fn eventsource_escaping() {
        assert_eq!(escape_selected("a\r\nb%\0", "\r\n\0"), "a%0D%0Ab%25%00");
    }
}
