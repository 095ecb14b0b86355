//! The `json` parser (the default): byte-for-byte what the reference's
//! `JSON.stringify` + Primus' U+2028/U+2029 escaping sends, and `JSON.parse` on receipt.

use super::{Parser, ParserError};
use crate::value::JsNumber;
use crate::{Frame, Value};
use bytes::Bytes;
use serde_json::ser::Formatter;
use std::io;

/// How deep an outgoing message may nest. Deeper values are refused with
/// [`ParserError::Encode`] instead of overflowing the stack while serializing.
const MAX_ENCODE_DEPTH: usize = 512;

/// Initial output buffer: most messages (protocol pings, small objects) fit.
const INITIAL_CAPACITY: usize = 64;

/// The default parser: `JSON.stringify` / `JSON.parse` semantics.
///
/// Encoding matches what the reference sends byte for byte:
///
/// - numbers are printed as JavaScript prints them (`1`, not `1.0`; `1e+21`; `1.5e-7`;
///   `0.30000000000000004`), NaN and ±∞ as `null`;
/// - strings are escaped like `JSON.stringify` (`\"`, `\\`, `\b \f \n \r \t`, other
///   control characters as `\u00xx`), non-ASCII is written as raw UTF-8, and U+2028 /
///   U+2029 are written as `\u2028` / `\u2029`, as Primus does before sending;
/// - object keys keep their order; bytes are written as an array of numbers.
///
/// Two deliberate differences: 64-bit integers (`i64`, `u64`, `i128`, `u128`) are
/// written exactly, where JavaScript would round those beyond 2^53; and an `f32` is
/// written with its own shortest digits (`0.1f32` → `0.1`).
///
/// Values nested more than 512 levels deep are refused with [`ParserError::Encode`]
/// (instead of overflowing the stack).
///
/// Decoding uses `serde_json`: a text frame must hold one JSON value (top-level scalars
/// such as `0`, `""` or `null` are fine, as with `JSON.parse`), nested fewer than 128
/// levels deep. Unlike `JSON.parse`, numbers too large for a double (`1e400`) and
/// escaped lone surrogates (`"\ud800"`) are errors, since a [`Value`] cannot hold them.
/// A binary frame is passed through unchanged as [`Value::Binary`], like the reference
/// does with a `Buffer`.
///
/// ```
/// use primus_core::{parser::Json, Frame, Parser, Value};
/// let json = Json;
/// assert_eq!(json.encode(&1.0).unwrap(), Frame::text("1"));
/// assert_eq!(json.encode(&1e21).unwrap(), Frame::text("1e+21"));
/// assert_eq!(json.encode(&f64::NAN).unwrap(), Frame::text("null"));
/// assert_eq!(json.encode(&"a\u{2028}b").unwrap(), Frame::text(r#""a\u2028b""#));
/// assert_eq!(json.decode(&Frame::text("0")).unwrap(), Value::from(0));
/// assert!(json.decode(&Frame::text("")).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Json;

impl Parser for Json {
    fn name(&self) -> &str {
        "json"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        let mut out = Vec::with_capacity(INITIAL_CAPACITY);
        let mut ser = serde_json::Serializer::with_formatter(&mut out, JsFormatter::default());
        erased_serde::serialize(value, &mut ser).map_err(|e| ParserError::Encode(e.to_string()))?;
        // serde_json only writes valid UTF-8 (and so does `JsFormatter`).
        Ok(Frame::Text(Bytes::from(out)))
    }

    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        match frame {
            // Like the reference: a non-text frame is passed through unchanged.
            Frame::Binary(b) => Ok(Value::Binary(b.clone())),
            Frame::Text(b) => {
                serde_json::from_slice(b).map_err(|e| ParserError::Decode(e.to_string()))
            }
        }
    }
}

/// serde_json's compact formatter with JavaScript's number formatting, U+2028/U+2029
/// escaping and a nesting limit.
#[derive(Debug, Default)]
struct JsFormatter {
    depth: usize,
}

impl JsFormatter {
    fn enter(&mut self) -> io::Result<()> {
        if self.depth >= MAX_ENCODE_DEPTH {
            return Err(io::Error::other(format!(
                "value nested deeper than {MAX_ENCODE_DEPTH} levels"
            )));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }
}

impl Formatter for JsFormatter {
    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(JsNumber::new().format_f64(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        writer.write_all(JsNumber::new().format_f32(value).as_bytes())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        write_fragment(writer, fragment)
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter()?;
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.leave();
        writer.write_all(b"]")
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.enter()?;
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.leave();
        writer.write_all(b"}")
    }
}

/// Write a run of string contents that needs no JSON escaping, with U+2028 and U+2029
/// (UTF-8 `E2 80 A8` / `E2 80 A9`) replaced by their 6-character escapes.
fn write_fragment<W: ?Sized + io::Write>(writer: &mut W, fragment: &str) -> io::Result<()> {
    let bytes = fragment.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|&b| b == 0xe2) {
        let at = i + off;
        let escape: &[u8] = match bytes.get(at + 1..at + 3) {
            Some([0x80, 0xa8]) => b"\\u2028",
            Some([0x80, 0xa9]) => b"\\u2029",
            _ => {
                i = at + 1;
                continue;
            }
        };
        writer.write_all(&bytes[start..at])?;
        writer.write_all(escape)?;
        i = at + 3;
        start = i;
    }
    writer.write_all(&bytes[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc<T: serde::Serialize>(v: &T) -> String {
        let frame = Json.encode(v).unwrap();
        frame.as_str().unwrap().to_string()
    }

    #[test]
    fn fragment_escapes_only_line_separators() {
        let mut out = Vec::new();
        write_fragment(&mut out, "a\u{2028}b\u{2029}c\u{2027}d€").unwrap();
        assert_eq!(out, "a\\u2028b\\u2029c\u{2027}d€".as_bytes());
    }

    #[test]
    fn line_separator_at_ends() {
        assert_eq!(enc(&"\u{2028}"), "\"\\u2028\"");
        assert_eq!(enc(&"\u{2029}\u{2028}"), "\"\\u2029\\u2028\"");
        assert_eq!(enc(&"\n\u{2028}\""), "\"\\n\\u2028\\\"\"");
    }

    #[test]
    fn depth_limit_is_an_error() {
        let mut v = Value::Null;
        for _ in 0..MAX_ENCODE_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert!(Json.encode(&v).is_ok());
        let v = Value::Array(vec![v]);
        assert!(matches!(Json.encode(&v), Err(ParserError::Encode(_))));
    }

    #[test]
    fn depth_is_balanced() {
        // Many sibling containers must not add up to the limit.
        let v = Value::Array(
            (0..MAX_ENCODE_DEPTH * 2)
                .map(|_| Value::Array(vec![]))
                .collect(),
        );
        assert!(Json.encode(&v).is_ok());
        let bytes = Value::Array(
            (0..MAX_ENCODE_DEPTH * 2)
                .map(|_| Value::from(vec![1u8]))
                .collect(),
        );
        assert!(Json.encode(&bytes).is_ok());
    }
}
