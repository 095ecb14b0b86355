//! Query string parsing like Node's `querystring.parse`.
//!
//! A spark's `query` is what the reference gets from `querystring.parse(str)` with the
//! default options (separator `&`, assignment `=`, at most 1000 pairs). [`parse`] follows
//! that behaviour, including its quirks:
//!
//! - a key or value that is not valid percent-encoding is kept (partly) literally instead
//!   of being rejected;
//! - repeated keys collect their values in an array ([`QueryValue::Many`]);
//! - keys come out in JavaScript property order (see [`parse`]).
//!
//! ```
//! use primus_core::query::{self, QueryValue};
//!
//! let q = query::parse("foo=bar&abc=xyz&abc=123");
//! assert_eq!(q["foo"].as_str(), "bar");
//! assert_eq!(q["abc"].values(), ["xyz", "123"]);
//! assert_eq!(
//!     serde_json::to_string(&q).unwrap(),
//!     r#"{"foo":"bar","abc":["xyz","123"]}"#
//! );
//! ```

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// The most pairs [`parse`] looks at, Node's default `maxKeys`.
pub const MAX_KEYS: usize = 1000;

/// A parsed query string: key → value(s), in JavaScript property order.
///
/// ```
/// let q: primus_core::query::Query = primus_core::query::parse("a=1");
/// assert_eq!(q.get("a").map(|v| v.as_str()), Some("1"));
/// ```
pub type Query = IndexMap<String, QueryValue>;

/// The value(s) of one query key.
///
/// Serialises like the object Node builds: a single value as a string, a repeated key as
/// an array of strings (untagged).
///
/// ```
/// use primus_core::query::QueryValue;
///
/// let one = QueryValue::One("x".into());
/// let many = QueryValue::Many(vec!["x".into(), "y".into()]);
/// assert_eq!(serde_json::to_string(&one).unwrap(), r#""x""#);
/// assert_eq!(serde_json::to_string(&many).unwrap(), r#"["x","y"]"#);
/// assert_eq!(many.as_str(), "x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum QueryValue {
    /// The key appeared once.
    One(String),
    /// The key appeared more than once; the values in the order they appeared.
    Many(Vec<String>),
}

impl QueryValue {
    /// The first value (an empty string for an empty `Many`, which [`parse`] never builds).
    ///
    /// ```
    /// let q = primus_core::query::parse("a=1&a=2");
    /// assert_eq!(q["a"].as_str(), "1");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            QueryValue::One(s) => s,
            QueryValue::Many(v) => v.first().map(String::as_str).unwrap_or(""),
        }
    }

    /// Every value, in order (one element for [`QueryValue::One`]).
    ///
    /// ```
    /// let q = primus_core::query::parse("a=1&b=2&a=3");
    /// assert_eq!(q["a"].values(), ["1", "3"]);
    /// assert_eq!(q["b"].values(), ["2"]);
    /// ```
    pub fn values(&self) -> &[String] {
        match self {
            QueryValue::One(s) => std::slice::from_ref(s),
            QueryValue::Many(v) => v,
        }
    }

    /// The last value (what a "last one wins" reader would see).
    ///
    /// ```
    /// let q = primus_core::query::parse("a=1&a=2");
    /// assert_eq!(q["a"].last(), "2");
    /// ```
    pub fn last(&self) -> &str {
        self.values().last().map(String::as_str).unwrap_or("")
    }

    /// Append a value, turning a `One` into a `Many`.
    ///
    /// ```
    /// use primus_core::query::QueryValue;
    /// let mut v = QueryValue::One("a".into());
    /// v.push("b".into());
    /// assert_eq!(v, QueryValue::Many(vec!["a".into(), "b".into()]));
    /// ```
    pub fn push(&mut self, value: String) {
        match self {
            QueryValue::One(first) => {
                let first = std::mem::take(first);
                *self = QueryValue::Many(vec![first, value]);
            }
            QueryValue::Many(v) => v.push(value),
        }
    }
}

impl From<String> for QueryValue {
    fn from(s: String) -> Self {
        QueryValue::One(s)
    }
}

impl From<&str> for QueryValue {
    fn from(s: &str) -> Self {
        QueryValue::One(s.to_owned())
    }
}

impl From<Vec<String>> for QueryValue {
    fn from(v: Vec<String>) -> Self {
        QueryValue::Many(v)
    }
}

/// Parse a query string like Node's `querystring.parse(qs)` with the default options.
///
/// - The string is split on `&`; empty pieces are skipped (but still count towards the
///   limit, as in Node). Only the first [`MAX_KEYS`] (1000) pieces are looked at; the
///   rest is ignored.
/// - Each piece is split at its first `=` into key and value; a piece without `=` is a key
///   with an empty value (`a` → `{"a": ""}`, `=x` → `{"": "x"}`, `a=b=c` → `{"a": "b=c"}`).
/// - `+` becomes a space, then key and value are percent-decoded with [`unescape`].
/// - A repeated key becomes [`QueryValue::Many`], values in order.
/// - Keys come out in JavaScript property order, because Node returns a plain object:
///   keys that are array indices (`"0"`, `"1"`, … up to `"4294967294"`, no leading zeros)
///   first, in ascending numeric order, then the other keys in the order they first
///   appeared. `b=1&2=x&1=y` → `{"1":"y","2":"x","b":"1"}`, as `JSON.stringify` in the
///   reference would show it.
///
/// A leading `?` is **not** stripped (Node doesn't either: `?a=1` → `{"?a": "1"}`); pass
/// the part of the URL after the `?`, e.g. [`http::Uri::query`].
///
/// ```
/// use primus_core::query::parse;
///
/// let q = parse("a+b=c+d&e=%E2%82%AC&bad=%zz&flag&&=x");
/// assert_eq!(q["a b"].as_str(), "c d");
/// assert_eq!(q["e"].as_str(), "€");
/// assert_eq!(q["bad"].as_str(), "%zz");
/// assert_eq!(q["flag"].as_str(), "");
/// assert_eq!(q[""].as_str(), "x");
/// assert_eq!(parse("?a=1").get("?a").map(|v| v.as_str()), Some("1"));
/// ```
pub fn parse(qs: &str) -> Query {
    let mut out = Query::new();
    for piece in qs.split('&').take(MAX_KEYS) {
        if piece.is_empty() {
            continue;
        }
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        let key = decode_component(key);
        let value = decode_component(value);
        match out.get_mut(&key) {
            Some(existing) => existing.push(value),
            None => {
                out.insert(key, QueryValue::One(value));
            }
        }
    }
    js_property_order(&mut out);
    out
}

/// Decode one key or value of a query string or form body: `+` → space, then
/// [`unescape`].
///
/// ```
/// assert_eq!(primus_core::query::decode_component("a+b%2Bc"), "a b+c");
/// ```
pub fn decode_component(s: &str) -> String {
    if s.contains('+') {
        unescape(&s.replace('+', " "))
    } else {
        unescape(s)
    }
}

/// Percent-decode a string like Node's `querystring.unescape`.
///
/// First like `decodeURIComponent`: every `%XX` is decoded and the result must be valid
/// UTF-8. If that fails (a `%` not followed by two hex digits, or bytes that are not
/// UTF-8), like Node's fallback `querystring.unescapeBuffer`: every valid `%XX` pair is
/// decoded to its byte, anything else is kept literally, and the bytes are read as UTF-8
/// with U+FFFD for invalid sequences. `+` is left alone (see [`parse`]).
///
/// One difference: Node's fallback truncates each UTF-16 unit of the input to a byte, so
/// a literal non-ASCII character next to a malformed escape turns into U+FFFD there
/// (`ü%zz%41` → `"\u{FFFD}%zzA"`); here it is kept (`"ü%zzA"`).
///
/// ```
/// use primus_core::query::unescape;
/// assert_eq!(unescape("%E2%82%AC"), "€");
/// assert_eq!(unescape("%zz%41"), "%zzA");
/// assert_eq!(unescape("%C3%A9%"), "é%");
/// assert_eq!(unescape("%E9"), "\u{FFFD}");
/// ```
pub fn unescape(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                out.push((hex(h) << 4) | hex(l));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Literal characters were valid UTF-8 already, so only the decoded bytes can make this
    // fail; whether it does is exactly `decodeURIComponent`'s "URI malformed" condition,
    // and the lossy reading is the `unescapeBuffer(...).toString()` fallback.
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Percent-encode like JavaScript's `encodeURIComponent` (and Node's `querystring.escape`),
/// appending to `out`: ASCII letters, digits and `-_.!~*'()` stay, every other byte of the
/// UTF-8 form becomes `%XX` (upper-case hex).
///
/// ```
/// let mut out = String::new();
/// primus_core::query::escape_into("a b&c=d/é~", &mut out);
/// assert_eq!(out, "a%20b%26c%3Dd%2F%C3%A9~");
/// assert_eq!(primus_core::query::unescape(&out), "a b&c=d/é~");
/// ```
pub fn escape_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Whether `key` is an ECMAScript array index: the canonical decimal form of an integer
/// in `0..=2^32 - 2`.
fn is_array_index(key: &str) -> bool {
    if key.is_empty() || key.len() > 10 || !key.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if key.len() > 1 && key.starts_with('0') {
        return false;
    }
    key.parse::<u64>().is_ok_and(|n| n < u64::from(u32::MAX))
}

/// Reorder like a JavaScript object's own keys: array indices first (ascending), then the
/// rest in insertion order.
fn js_property_order(q: &mut Query) {
    if !q.keys().any(|k| is_array_index(k)) {
        return;
    }
    let mut entries: Vec<(String, QueryValue)> = std::mem::take(q).into_iter().collect();
    // Stable sort: non-index keys keep their relative (insertion) order.
    entries.sort_by_key(|(k, _)| {
        if is_array_index(k) {
            // is_array_index guarantees this parses.
            (0u8, k.parse::<u64>().unwrap_or(0))
        } else {
            (1u8, 0)
        }
    });
    q.extend(entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_index_detection() {
        assert!(is_array_index("0"));
        assert!(is_array_index("4294967294"));
        assert!(!is_array_index("4294967295"));
        assert!(!is_array_index("01"));
        assert!(!is_array_index("-1"));
        assert!(!is_array_index("1.0"));
        assert!(!is_array_index(""));
        assert!(!is_array_index("99999999999"));
    }
}
