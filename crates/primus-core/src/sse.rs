//! The wire format of the `sse` transformer (Server-Sent Events down, HTTP POST up), with
//! no runtime in it: the events the server writes, an incremental event-stream parser for
//! clients, and the line framing of the bodies clients POST.
//!
//! # Down: `GET <pathname>/sse`, `text/event-stream`
//!
//! ```text
//! retry: 2147483647            ← browsers must not reconnect on their own
//! event: open
//! data: <session id>           ← the id to POST to
//!
//! data: "hello"                ← a text frame; one `data:` line per `\n`-separated line
//!
//! event: quoted
//! data: "\"a\\rb\""            ← a text frame containing `\r` (an SSE line break): JSON-quoted
//!
//! event: binary
//! data: AAEC/w==               ← a binary frame, base64
//!
//! :                            ← keep-alive comment
//!
//! event: close
//! data: end                    ← or `reconnect`; then the body ends
//! ```
//!
//! # Up: `POST <pathname>/sse/<session id>`
//!
//! One frame per line (`\n`): a text frame is its JSON string literal
//! (`"\"hello\""`), a binary frame is `b` and its base64 (`bAAEC/w==`). Empty lines are
//! skipped. `text/plain` bodies are CORS-safelisted, so browsers send them without a
//! preflight.
//!
//! ```
//! use primus_core::sse::{self, ServerEvent};
//! use primus_core::Frame;
//!
//! let mut out = Vec::new();
//! sse::encode_frame(&Frame::text("two\nlines"), &mut out);
//! assert_eq!(out, b"data: two\ndata: lines\n\n");
//!
//! let mut parser = sse::EventParser::new(1024);
//! parser.push(&out);
//! let event = parser.next_event().unwrap().unwrap();
//! assert_eq!(sse::decode_event(&event).unwrap(), Some(ServerEvent::Frame(Frame::text("two\nlines"))));
//!
//! let body = sse::encode_body(&[Frame::text("\"hi\""), Frame::binary(vec![0u8, 1])]);
//! assert_eq!(body, "\"\\\"hi\\\"\"\nbAAE=\n");
//! ```

use crate::engineio::{base64_decode, base64_encode_into};
use crate::Frame;
use bytes::Bytes;

/// `retry:` sent first: about 24 days, so an `EventSource` never reconnects by itself
/// (the Primus client owns reconnection).
pub const RETRY: &str = "retry: 2147483647\n";
/// The keep-alive comment line.
pub const KEEPALIVE: &[u8] = b":\n";
/// Name of the first event; its data is the session id.
pub const EVENT_OPEN: &str = "open";
/// Name of the last event; its data is [`CLOSE_END`] or [`CLOSE_RECONNECT`].
pub const EVENT_CLOSE: &str = "close";
/// Name of the events that carry a binary frame as base64.
pub const EVENT_BINARY: &str = "binary";
/// Name of the events that carry a text frame as a JSON string literal (frames with `\r`).
pub const EVENT_QUOTED: &str = "quoted";
/// Close data: the server ended the spark for good (`primus::server::close` was sent).
pub const CLOSE_END: &str = "end";
/// Close data: any other end (heartbeat timeout, `end` with reconnect, errors).
pub const CLOSE_RECONNECT: &str = "reconnect";

/// The start of a stream: [`RETRY`] and the `open` event with the session id.
pub fn open_event(session: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(RETRY.as_bytes());
    named_event(EVENT_OPEN, session, out);
}

/// The `close` event (`end` or `reconnect`).
pub fn close_event(end: bool, out: &mut Vec<u8>) {
    named_event(
        EVENT_CLOSE,
        if end { CLOSE_END } else { CLOSE_RECONNECT },
        out,
    );
}

/// `event: <name>\ndata: <data>\n\n` for a one-line `data`.
fn named_event(name: &str, data: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Append one Primus frame as one event. Hot path: one pass over the payload, no
/// allocation besides `out` growing.
pub fn encode_frame(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::Text(b) if !b.contains(&b'\r') => {
            out.reserve(b.len() + 8);
            for line in b.split(|&c| c == b'\n') {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(line);
                out.push(b'\n');
            }
            out.push(b'\n');
        }
        Frame::Text(b) => {
            let text = String::from_utf8_lossy(b);
            let quoted = serde_json::to_string(&*text).unwrap_or_else(|_| "\"\"".into());
            named_event(EVENT_QUOTED, &quoted, out);
        }
        Frame::Binary(b) => {
            let mut data = String::with_capacity(b.len().div_ceil(3) * 4);
            base64_encode_into(b, &mut data);
            named_event(EVENT_BINARY, &data, out);
        }
    }
}

/// One parsed event: its name (empty for the default `message`) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, empty when absent.
    pub name: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// What an event of the `sse` transformer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// The stream is open; the session id to POST to.
    Open(String),
    /// One Primus frame.
    Frame(Frame),
    /// The server ends the stream (`end` or `reconnect`).
    Close(String),
}

/// An event stream or a POST body that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// A line (or an event's data) is longer than the limit.
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    /// Not UTF-8.
    #[error("not UTF-8")]
    Utf8,
    /// A binary event or line whose data is not base64.
    #[error("invalid base64")]
    Base64,
    /// A POST line that is neither a JSON string nor `b<base64>`, or a bad `quoted` event.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Turn an event into what it means; `Ok(None)` for events of other names (ignored, so
/// the format can grow).
pub fn decode_event(event: &Event) -> Result<Option<ServerEvent>, SseError> {
    Ok(Some(match event.name.as_str() {
        "" | "message" => ServerEvent::Frame(Frame::Text(Bytes::from(event.data.clone()))),
        EVENT_OPEN => ServerEvent::Open(event.data.clone()),
        EVENT_CLOSE => ServerEvent::Close(event.data.clone()),
        EVENT_BINARY => ServerEvent::Frame(Frame::Binary(
            base64_decode(&event.data).ok_or(SseError::Base64)?.into(),
        )),
        EVENT_QUOTED => ServerEvent::Frame(Frame::text(
            serde_json::from_str::<String>(&event.data)
                .map_err(|e| SseError::Malformed(e.to_string()))?,
        )),
        _ => return Ok(None),
    }))
}

/// An incremental `text/event-stream` parser (the WHATWG rules: `\r`, `\n` and `\r\n` end
/// lines, `:` starts a comment, one space after the field's colon is dropped, a blank line
/// dispatches). Lines and an event's data are bounded by `max`.
#[derive(Debug)]
pub struct EventParser {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned without finding a line end.
    scanned: usize,
    name: String,
    data: String,
    has_data: bool,
    /// The last line ended with `\r`: a `\n` right after it belongs to it.
    after_cr: bool,
    max: usize,
}

impl EventParser {
    /// A parser accepting lines (and event data) up to `max` bytes.
    pub fn new(max: usize) -> Self {
        EventParser {
            buf: Vec::new(),
            scanned: 0,
            name: String::new(),
            data: String::new(),
            has_data: false,
            after_cr: false,
            max,
        }
    }

    /// Add bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, SseError> {
        // Every line is consumed here, so the loop ends when the buffer has no line end.
        loop {
            if self.after_cr && !self.buf.is_empty() {
                if self.buf[0] == b'\n' {
                    self.buf.drain(..1);
                }
                self.after_cr = false;
            }
            let Some(end) = self.buf[self.scanned..]
                .iter()
                .position(|&c| c == b'\n' || c == b'\r')
                .map(|i| i + self.scanned)
            else {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    return Err(SseError::TooLong(self.max));
                }
                return Ok(None);
            };
            if end > self.max {
                return Err(SseError::TooLong(self.max));
            }
            self.after_cr = self.buf[end] == b'\r';
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            self.scanned = 0;
            let line = std::str::from_utf8(&line[..end]).map_err(|_| SseError::Utf8)?;
            if line.is_empty() {
                if !self.has_data {
                    self.name.clear();
                    continue;
                }
                self.has_data = false;
                return Ok(Some(Event {
                    name: std::mem::take(&mut self.name),
                    data: std::mem::take(&mut self.data),
                }));
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => self.name = value.to_string(),
                "data" => {
                    if self.data.len() + value.len() + 1 > self.max {
                        return Err(SseError::TooLong(self.max));
                    }
                    if self.has_data {
                        self.data.push('\n');
                    }
                    self.data.push_str(value);
                    self.has_data = true;
                }
                // `id`, `retry` and unknown fields do not matter here.
                _ => {}
            }
        }
    }
}

/// Append one frame as a POST line (with its `\n`).
pub fn encode_line(frame: &Frame, out: &mut String) {
    match frame {
        Frame::Text(b) => {
            let text = String::from_utf8_lossy(b);
            out.push_str(&serde_json::to_string(&*text).unwrap_or_else(|_| "\"\"".into()));
        }
        Frame::Binary(b) => {
            out.push('b');
            base64_encode_into(b, out);
        }
    }
    out.push('\n');
}

/// A POST body carrying `frames`, in order.
pub fn encode_body(frames: &[Frame]) -> String {
    let mut out = String::new();
    for f in frames {
        encode_line(f, &mut out);
    }
    out
}

/// Decode one POST line (without its `\n`; a trailing `\r` is allowed); `Ok(None)` for an
/// empty line.
pub fn decode_line(line: &[u8]) -> Result<Option<Frame>, SseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line.first() {
        None => Ok(None),
        Some(b'"') => {
            let text = std::str::from_utf8(line).map_err(|_| SseError::Utf8)?;
            serde_json::from_str::<String>(text)
                .map(|s| Some(Frame::text(s)))
                .map_err(|e| SseError::Malformed(e.to_string()))
        }
        Some(b'b') => {
            let text = std::str::from_utf8(&line[1..]).map_err(|_| SseError::Utf8)?;
            base64_decode(text)
                .map(|b| Some(Frame::Binary(b.into())))
                .ok_or(SseError::Base64)
        }
        Some(_) => Err(SseError::Malformed(
            "a line must be a JSON string (text frame) or `b<base64>` (binary frame)".into(),
        )),
    }
}

/// Longest POST line accepted for frames of up to `max_length` bytes: a frame may double
/// when JSON-quoted (every `"` and `\` escaped), plus the quotes and a little slack.
pub fn line_limit(max_length: usize) -> usize {
    max_length.saturating_mul(2).saturating_add(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(bytes: &[u8], chunk: usize) -> Vec<Event> {
        let mut p = EventParser::new(1 << 20);
        let mut out = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            p.push(c);
            while let Some(e) = p.next_event().unwrap() {
                out.push(e);
            }
        }
        out
    }

    #[test]
    fn frames_round_trip_through_the_stream_in_any_chunking() {
        let frames = vec![
            Frame::text("\"hello\""),
            Frame::text(""),
            Frame::text("a\nb\n\nc\n"),
            Frame::text(" leading space\n:colon"),
            Frame::text("cr\rlf\r\n"),
            Frame::text("ünï\u{2028}😀"),
            Frame::binary(vec![0u8, 1, 2, 255, 13, 10]),
            Frame::binary(Vec::<u8>::new()),
        ];
        let mut out = Vec::new();
        open_event("sid", &mut out);
        for f in &frames {
            encode_frame(f, &mut out);
            out.extend_from_slice(KEEPALIVE);
        }
        close_event(true, &mut out);
        for chunk in [1, 2, 3, 7, 4096] {
            let got: Vec<ServerEvent> = events(&out, chunk)
                .iter()
                .map(|e| decode_event(e).unwrap().unwrap())
                .collect();
            let mut want = vec![ServerEvent::Open("sid".into())];
            want.extend(frames.iter().cloned().map(ServerEvent::Frame));
            want.push(ServerEvent::Close("end".into()));
            assert_eq!(got, want, "chunk {chunk}");
        }
    }

    #[test]
    fn parser_follows_the_line_rules() {
        let got = events(
            b"event: x\r\ndata:no-space\rdata:  two\r\n\r\n: comment\nid: 3\nretry: 5\n\nevent: y\n\ndata\n\n",
            1,
        );
        assert_eq!(
            got,
            vec![
                Event {
                    name: "x".into(),
                    data: "no-space\n two".into()
                },
                // `event: y` alone dispatches nothing; `data` with no colon is empty data.
                Event {
                    name: String::new(),
                    data: String::new()
                },
            ]
        );
        let unknown = Event {
            name: "other".into(),
            data: "x".into(),
        };
        assert_eq!(decode_event(&unknown).unwrap(), None);
    }

    #[test]
    fn parser_bounds_lines_and_data() {
        let mut p = EventParser::new(8);
        p.push(b"data: 0123456789");
        assert_eq!(p.next_event(), Err(SseError::TooLong(8)));
        let mut p = EventParser::new(8);
        p.push(b"data: 0123\ndata: 4567\n");
        assert_eq!(p.next_event(), Err(SseError::TooLong(8)));
        let mut p = EventParser::new(16);
        p.push(b"event: binary\ndata: !!\n\n");
        let e = p.next_event().unwrap().unwrap();
        assert_eq!(decode_event(&e), Err(SseError::Base64));
    }

    #[test]
    fn post_lines_round_trip_and_refuse_garbage() {
        let frames = [
            Frame::text("\"a\\nb\"\n\r\u{0}"),
            Frame::binary(vec![9u8, 8, 7]),
            Frame::text(""),
        ];
        let body = encode_body(&frames);
        let got: Vec<Frame> = body
            .split('\n')
            .filter_map(|l| decode_line(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(got, frames);
        assert_eq!(decode_line(b"\"x\"\r").unwrap(), Some(Frame::text("x")));
        assert!(matches!(decode_line(b"{}"), Err(SseError::Malformed(_))));
        assert!(matches!(
            decode_line(b"\"open"),
            Err(SseError::Malformed(_))
        ));
        assert_eq!(decode_line(b"b***"), Err(SseError::Base64));
        assert_eq!(line_limit(10), 1044);
    }
}
