//! The wire format of the `browserchannel` transformer: Google's BrowserChannel protocol,
//! version 8, as the npm `browserchannel` 2.1 server speaks it behind Node Primus. No
//! runtime in here: the forward-channel bodies (client → server), the back-channel chunks
//! (server → client) and the small fixed answers.
//!
//! # Forward channel: `POST <base>/bind`, `application/x-www-form-urlencoded`
//!
//! The client sends **maps** of string keys to string values, numbered from 0 for the
//! whole session, as one form body per request:
//!
//! ```text
//! count=2&ofs=5&req0__S=%22hello%22&req1__S=%22primus%3A%3Aid%3A%3A%22
//! ```
//!
//! `count` maps, the first one numbered `ofs`; `req<N>_<key>=<value>` is key `<key>` of
//! map `ofs + N`. A map `{_S: text}` is one string message (so `req<N>__S` on the wire:
//! one Primus frame); `{JSON: text}` is a JSON message. `count=0` carries nothing (the
//! request that creates a session). At most [`MAX_MAPS_PER_REQUEST`] maps per request.
//! The node server also accepts `application/json` bodies, `{"ofs":5,"data":[…]}`
//! ([`decode_json_body`]).
//!
//! # Back channel: arrays in length-prefixed chunks
//!
//! The server sends **arrays**, numbered from 0 for the session, as `[id, data]` entries
//! of a JSON list. Each chunk is that list and a `\n`, prefixed by its length and a `\n`;
//! the length counts **UTF-16 code units** (the client measures a JavaScript string), not
//! bytes:
//!
//! ```text
//! 30\n[[0,["c","axipyk1s",null,8]]]\n     ← array 0 creates the session: id, host prefix, version
//! 31\n[[1,"\"hello\""],[2,["noop"]]]\n    ← a string message (one Primus frame), a keep-alive
//! 15\n[[3,["stop"]]]\n                    ← the server asks the client to stop
//! ```
//!
//! U+2028 and U+2029 are escaped as `\u2028`/`\u2029` (as the reference does); otherwise
//! strings are escaped like `JSON.stringify`. Forward-channel requests are answered with
//! one chunk without the trailing `\n`: `7\n[1,4,0]` = `[back channel open (1) or missing
//! (0), id of the last array sent, bytes sent but not acknowledged]`.
//!
//! ```
//! use primus_core::browserchannel::{self as bc, ClientMessage, ServerArray};
//!
//! // Client → server.
//! let body = bc::encode_form(5, ["\"hi\"", "é"]);
//! assert_eq!(body, "count=2&ofs=5&req0__S=%22hi%22&req1__S=%C3%A9");
//! let forward = bc::decode_form(&body).unwrap().unwrap();
//! assert_eq!(forward.ofs, 5);
//! assert_eq!(forward.messages, [ClientMessage::Text("\"hi\"".into()), ClientMessage::Text("é".into())]);
//!
//! // Server → client.
//! let mut entries = String::new();
//! bc::encode_message(7, "\"é\"", &mut entries);
//! let chunk = bc::chunk(&entries);
//! assert_eq!(chunk, "14\n[[7,\"\\\"é\\\"\"]]\n");
//! let mut parser = bc::ChunkParser::new(1024);
//! parser.push(chunk.as_bytes());
//! let text = parser.next_chunk().unwrap().unwrap();
//! assert_eq!(bc::decode_arrays(&text).unwrap(), [(7, ServerArray::Message("\"é\"".into()))]);
//! ```

use crate::query;
use crate::value::write_string;
use serde_json::Value as Json;
use std::fmt::Write as _;

/// The protocol version this codec speaks (`VER=8`).
pub const VERSION: u32 = 8;
/// Most maps one forward-channel request may carry (the protocol's limit; the client
/// never sends more).
pub const MAX_MAPS_PER_REQUEST: usize = 1000;
/// Body of the first connection test (`GET <base>/test?MODE=init`): no host prefix, no
/// blocked prefix.
pub const TEST_INIT_ANSWER: &str = "[null,null]";
/// First chunk of the second connection test (buffering-proxy detection).
pub const TEST_FIRST_CHUNK: &str = "11111";
/// Second chunk of the second connection test, sent [`TEST_DELAY_MS`] after the first.
pub const TEST_SECOND_CHUNK: &str = "2";
/// The gap between the two test chunks: a proxy that buffers joins them.
pub const TEST_DELAY_MS: u64 = 2000;
/// `X-Accept` header of the first test answer: the forward-channel body formats accepted.
pub const X_ACCEPT: &str = "application/json; application/x-www-form-urlencoded";
/// Content type of forward-channel form bodies.
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// Map key of a string message (`req<N>__S` on the wire).
pub const STRING_KEY: &str = "_S";
/// Map key of a JSON message.
pub const JSON_KEY: &str = "JSON";

/// A forward-channel body or back-channel chunk that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BcError {
    /// More maps than [`MAX_MAPS_PER_REQUEST`] in one request.
    #[error("{0} maps in one request: at most {MAX_MAPS_PER_REQUEST} are allowed")]
    TooManyMaps(usize),
    /// A forward-channel body that is not `count=…&ofs=…&req<N>_<key>=…` (or its JSON form).
    #[error("bad forward-channel data: {0}")]
    BadMaps(String),
    /// A back-channel chunk longer than the limit (in UTF-16 code units).
    #[error("back-channel chunk longer than {0}")]
    TooLong(usize),
    /// Not UTF-8.
    #[error("not UTF-8")]
    Utf8,
    /// A back-channel chunk that is not `<length>\n<JSON>`, or JSON of the wrong shape.
    #[error("bad back-channel chunk: {0}")]
    BadChunk(String),
}

// ---------------------------------------------------------------------------------------
// Server → client
// ---------------------------------------------------------------------------------------

/// What one back-channel array carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerArray {
    /// `["c", sid, hostPrefix, version]`: the session exists (always array 0).
    Created {
        /// The session id, sent back as `SID` on every later request.
        sid: String,
        /// A sub-domain to use for the back channel; the reference never sends one.
        host_prefix: Option<String>,
        /// The protocol version the server speaks.
        version: u32,
    },
    /// `["noop"]`: a keep-alive.
    Noop,
    /// `["stop"]`: the server asks the client to stop (it reports `Stopped by server`).
    Stop,
    /// A string: one message (for Primus, one frame).
    Message(String),
    /// Any other JSON, as its text.
    Other(String),
}

/// Append the entry `[id,"text"]` of a string message. Hot path: one pass over `text`.
pub fn encode_message(id: u64, text: &str, out: &mut String) {
    out.reserve(text.len() + 24);
    let _ = write!(out, "[{id},");
    let _ = write_string(out, text);
    out.push(']');
}

/// Append the entry `[id,<data>]` of any array.
pub fn encode_array(id: u64, array: &ServerArray, out: &mut String) {
    if let ServerArray::Message(text) = array {
        return encode_message(id, text, out);
    }
    let _ = write!(out, "[{id},");
    match array {
        ServerArray::Created {
            sid,
            host_prefix,
            version,
        } => {
            out.push_str("[\"c\",");
            let _ = write_string(out, sid);
            out.push(',');
            match host_prefix {
                Some(prefix) => {
                    let _ = write_string(out, prefix);
                }
                None => out.push_str("null"),
            }
            let _ = write!(out, ",{version}]");
        }
        ServerArray::Noop => out.push_str("[\"noop\"]"),
        ServerArray::Stop => out.push_str("[\"stop\"]"),
        ServerArray::Other(json) => out.push_str(json),
        ServerArray::Message(_) => unreachable!("handled above"),
    }
    out.push(']');
}

/// The length JavaScript gives `s` (UTF-16 code units), which chunk prefixes count.
///
/// ```
/// assert_eq!(primus_core::browserchannel::utf16_len("aé😀"), 4);
/// ```
pub use crate::utf16::len as utf16_len;

/// One back-channel chunk from entries already joined with `,` (each made by
/// [`encode_message`] or [`encode_array`]): `<length>\n[<entries>]\n`.
pub fn chunk(entries: &str) -> String {
    chunk_of([(entries, utf16_len(entries))])
}

/// One back-channel chunk of separate entries, each with its UTF-16 length (made by
/// [`encode_message`] or [`encode_array`]): `<length>\n[<e1>,<e2>,…]\n`, built in one
/// copy of the entries. Yields the same text as [`chunk`] of the entries joined with `,`.
///
/// ```
/// use primus_core::browserchannel as bc;
/// let entries = ["[1,\"é\"]", "[2,[\"noop\"]]"];
/// let chunk = bc::chunk_of(entries.iter().map(|e| (*e, bc::utf16_len(e))));
/// assert_eq!(chunk, bc::chunk(&entries.join(",")));
/// ```
pub fn chunk_of<'a, I>(entries: I) -> String
where
    I: IntoIterator<Item = (&'a str, usize)>,
    I::IntoIter: Clone,
{
    let entries = entries.into_iter();
    let (mut count, mut units, mut bytes) = (0usize, 0usize, 0usize);
    for (entry, entry_units) in entries.clone() {
        count += 1;
        units += entry_units;
        bytes += entry.len();
    }
    let commas = count.saturating_sub(1);
    // `[`, `]` and `\n` after the length line count too.
    let length = units + commas + 3;
    let mut out = String::with_capacity(bytes + commas + 24);
    let _ = write!(out, "{length}\n[");
    for (i, (entry, _)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(entry);
    }
    out.push_str("]\n");
    out
}

/// The answer to a forward-channel request on an open session: whether a back channel is
/// open, the id of the last array sent (-1 for none) and how many bytes were sent but
/// not acknowledged (the client retries its back channel when it waits for little).
///
/// ```
/// assert_eq!(primus_core::browserchannel::forward_answer(true, 4, 0), "7\n[1,4,0]");
/// ```
pub fn forward_answer(back_channel: bool, last_sent: i64, outstanding: u64) -> String {
    let body = format!("[{},{last_sent},{outstanding}]", u8::from(back_channel));
    format!("{}\n{body}", body.len())
}

/// A forward-channel answer's three values; see [`forward_answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardAnswer {
    /// The server has a back channel for the session.
    pub back_channel: bool,
    /// Id of the last array the server sent (-1: none).
    pub last_sent: i64,
    /// Bytes sent but not yet acknowledged.
    pub outstanding: u64,
}

/// Read a forward-channel answer (one chunk's text, as [`ChunkParser`] returns it).
pub fn decode_forward_answer(text: &str) -> Result<ForwardAnswer, BcError> {
    let bad = || {
        BcError::BadChunk(format!(
            "expected [0|1, last array id, bytes], got {text:?}"
        ))
    };
    let values: Vec<Json> = serde_json::from_str(text).map_err(|_| bad())?;
    match values.as_slice() {
        [a, b, c] => Ok(ForwardAnswer {
            back_channel: a.as_i64().ok_or_else(bad)? != 0,
            last_sent: b.as_i64().ok_or_else(bad)?,
            outstanding: c.as_u64().ok_or_else(bad)?,
        }),
        _ => Err(bad()),
    }
}

/// Splits a back channel (or a forward-channel answer) into chunks: `<length>\n` then
/// that many UTF-16 code units. Incremental: push bytes as they arrive; a chunk is
/// returned once complete. Chunks are bounded by `max` code units.
#[derive(Debug)]
pub struct ChunkParser {
    buf: Vec<u8>,
    max: usize,
    /// The current chunk's header: where its data starts in `buf` and its length.
    header: Option<(usize, usize)>,
    /// Bytes of the data already counted, and the code units they hold.
    scanned: usize,
    units: usize,
}

impl ChunkParser {
    /// A parser accepting chunks of up to `max` UTF-16 code units.
    pub fn new(max: usize) -> Self {
        ChunkParser {
            buf: Vec::new(),
            max,
            header: None,
            scanned: 0,
            units: 0,
        }
    }

    /// Add bytes read from the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished chunk are buffered.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next complete chunk's text, `Ok(None)` when more bytes are needed.
    pub fn next_chunk(&mut self) -> Result<Option<String>, BcError> {
        let (start, len) = match self.header {
            Some(h) => h,
            None => {
                let Some(nl) = self.buf.iter().position(|&b| b == b'\n') else {
                    if self.buf.len() > 20 {
                        return Err(BcError::BadChunk("no length line".into()));
                    }
                    return Ok(None);
                };
                let line = &self.buf[..nl];
                let len: usize = std::str::from_utf8(line)
                    .ok()
                    .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|l| l.parse().ok())
                    .ok_or_else(|| {
                        BcError::BadChunk(format!(
                            "length line {:?} is not a number",
                            String::from_utf8_lossy(line)
                        ))
                    })?;
                if len > self.max {
                    return Err(BcError::TooLong(self.max));
                }
                self.header = Some((nl + 1, len));
                self.scanned = 0;
                self.units = 0;
                (nl + 1, len)
            }
        };
        // Count code units char by char, from where the last call stopped.
        while self.units < len {
            let at = start + self.scanned;
            let Some(&lead) = self.buf.get(at) else {
                return Ok(None);
            };
            let width = match lead {
                0x00..=0x7f => 1,
                0xc0..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf7 => 4,
                _ => return Err(BcError::Utf8),
            };
            if at + width > self.buf.len() {
                return Ok(None);
            }
            self.scanned += width;
            self.units += if width == 4 { 2 } else { 1 };
        }
        if self.units > len {
            return Err(BcError::BadChunk(
                "the length splits a character outside the BMP".into(),
            ));
        }
        let end = start + self.scanned;
        let text = std::str::from_utf8(&self.buf[start..end])
            .map_err(|_| BcError::Utf8)?
            .to_owned();
        self.buf.drain(..end);
        self.header = None;
        Ok(Some(text))
    }
}

/// The arrays of one back-channel chunk, in order.
pub fn decode_arrays(text: &str) -> Result<Vec<(u64, ServerArray)>, BcError> {
    let entries: Vec<Json> =
        serde_json::from_str(text).map_err(|e| BcError::BadChunk(e.to_string()))?;
    entries
        .into_iter()
        .map(|entry| match entry {
            Json::Array(mut pair) if pair.len() == 2 => {
                let data = pair.pop().unwrap_or(Json::Null);
                let id = pair[0]
                    .as_u64()
                    .ok_or_else(|| BcError::BadChunk(format!("array id {}", pair[0])))?;
                Ok((id, server_array(data)))
            }
            other => Err(BcError::BadChunk(format!(
                "expected [id, data], got {other}"
            ))),
        })
        .collect()
}

fn server_array(data: Json) -> ServerArray {
    match data {
        Json::String(s) => ServerArray::Message(s),
        Json::Array(items) => match items.first().and_then(Json::as_str) {
            Some("noop") => ServerArray::Noop,
            Some("stop") => ServerArray::Stop,
            Some("c") if items.get(1).is_some_and(Json::is_string) => ServerArray::Created {
                sid: items[1].as_str().unwrap_or_default().to_owned(),
                host_prefix: items.get(2).and_then(Json::as_str).map(str::to_owned),
                version: items
                    .get(3)
                    .and_then(Json::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(6),
            },
            _ => ServerArray::Other(Json::Array(items).to_string()),
        },
        other => ServerArray::Other(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// Client → server
// ---------------------------------------------------------------------------------------

/// One map of a forward-channel request, as far as a server of messages cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `{_S: text}`: a string message.
    Text(String),
    /// `{JSON: text}`: a JSON message, as its text.
    Json(String),
    /// A map with neither key (or one the client marked `type=_badmap`): no message.
    Ignored,
}

/// The maps of one forward-channel request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// Number of the first map; `messages[i]` is map `ofs + i`.
    pub ofs: u64,
    /// The maps, in order.
    pub messages: Vec<ClientMessage>,
}

/// A form body carrying string messages, numbered from `ofs` (the client side):
/// `count=N&ofs=M&req0__S=…`, or `count=0` for none. Every message goes in; a client
/// sending to a server that bounds bodies uses [`encode_form_batch`].
pub fn encode_form<'a>(ofs: u64, messages: impl IntoIterator<Item = &'a str>) -> String {
    encode_maps(ofs, messages, usize::MAX, None).0
}

/// The form body of one forward-channel request: the first of `messages` always, then
/// as many of the next ones as fit in [`MAX_MAPS_PER_REQUEST`] maps and a body at most
/// [`BODY_SLACK`] bytes longer than the first message percent-encoded. A server bounding
/// bodies by [`body_limit`] therefore takes it whenever every message is within its
/// `max_length`, whatever that is. Returns the body and how many messages it carries
/// (0 only when `messages` is empty: `count=0`).
///
/// ```
/// use primus_core::browserchannel as bc;
/// let big = "é".repeat(20_000); // 120 000 bytes percent-encoded
/// let messages = [big.as_str(), "a", big.as_str()];
/// let (body, n) = bc::encode_form_batch(0, &messages);
/// assert_eq!(n, 2);
/// assert_eq!(body, bc::encode_form(0, messages[..2].iter().copied()));
/// assert!(body.len() <= bc::body_limit(big.len()));
/// ```
pub fn encode_form_batch<S: AsRef<str>>(ofs: u64, messages: &[S]) -> (String, usize) {
    encode_maps(
        ofs,
        messages.iter().map(AsRef::as_ref),
        MAX_MAPS_PER_REQUEST,
        Some(BODY_SLACK),
    )
}

/// `count=N&ofs=M` and the maps `&req<i>__S=…` of `messages`: the first always, the next
/// ones while there are fewer than `max_maps` and, with a `slack`, the body stays within
/// the first message percent-encoded plus `slack` bytes.
fn encode_maps<'a>(
    ofs: u64,
    messages: impl IntoIterator<Item = &'a str>,
    max_maps: usize,
    slack: Option<usize>,
) -> (String, usize) {
    let mut maps = String::new();
    let mut count = 0usize;
    let mut max_bytes = usize::MAX;
    for text in messages {
        if count == max_maps {
            break;
        }
        let before = maps.len();
        let _ = write!(maps, "&req{count}_{STRING_KEY}=");
        let value_start = maps.len();
        query::escape_into(text, &mut maps);
        if count == 0 {
            if let Some(slack) = slack {
                max_bytes = (maps.len() - value_start).saturating_add(slack);
            }
        } else {
            // `count=<count + 1>&ofs=<ofs>` goes in front.
            let head = "count=&ofs=".len() + decimal_len(count as u64 + 1) + decimal_len(ofs);
            if head.saturating_add(maps.len()) > max_bytes {
                maps.truncate(before);
                break;
            }
        }
        count += 1;
    }
    if count == 0 {
        return ("count=0".into(), 0);
    }
    (format!("count={count}&ofs={ofs}{maps}"), count)
}

/// Digits of `n` in decimal.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Read a form body (`application/x-www-form-urlencoded`); `Ok(None)` when it carries no
/// map (`count=0`). Keys and values are decoded like Node's `querystring`. One pass over
/// the pairs: the maps are collected as they come (`count` may come last), then checked
/// against `count`.
pub fn decode_form(body: &str) -> Result<Option<Forward>, BcError> {
    let bad = |why: &str| BcError::BadMaps(why.to_owned());
    let (mut count, mut ofs) = (None, None);
    // Maps by number, grown as they come; numbers are checked against `count` at the end.
    let mut messages: Vec<ClientMessage> = Vec::new();
    // Per map: whether the client marked it bad (its other keys then do not count).
    let mut bad_maps: Vec<bool> = Vec::new();
    // The first problem with the maps, reported once `count` and `ofs` are known good.
    let mut problem: Option<&str> = None;
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_key(key);
        match &*key {
            "count" => count = Some(query::decode_component(value)),
            "ofs" => ofs = Some(query::decode_component(value)),
            _ => {}
        }
        let Some((index, map_key)) = key
            .strip_prefix("req")
            .and_then(|rest| rest.split_once('_'))
            .filter(|(n, k)| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !k.is_empty()
            })
        else {
            continue;
        };
        if problem.is_some() {
            continue;
        }
        let Some(index) = index
            .parse::<usize>()
            .ok()
            .filter(|&i| i < MAX_MAPS_PER_REQUEST)
        else {
            problem = Some("a map number is not below `count`");
            continue;
        };
        if index >= messages.len() {
            messages.resize(index + 1, ClientMessage::Ignored);
            bad_maps.resize(index + 1, false);
        }
        let slot = &mut messages[index];
        match map_key {
            "type" if value == "_badmap" => {
                bad_maps[index] = true;
                *slot = ClientMessage::Ignored;
            }
            _ if bad_maps[index] => {}
            JSON_KEY => match slot {
                ClientMessage::Json(_) => problem = Some("a map repeats its `JSON` key"),
                // `JSON` wins over `_S`, as in the reference.
                _ => *slot = ClientMessage::Json(query::decode_component(value)),
            },
            STRING_KEY => match slot {
                ClientMessage::Text(_) => problem = Some("a map repeats its `_S` key"),
                ClientMessage::Json(_) => {}
                ClientMessage::Ignored => {
                    *slot = ClientMessage::Text(query::decode_component(value))
                }
            },
            _ => {}
        }
    }
    let count: usize = count
        .ok_or_else(|| bad("no `count`"))?
        .parse()
        .map_err(|_| bad("`count` is not a number"))?;
    if count == 0 {
        return Ok(None);
    }
    if count > MAX_MAPS_PER_REQUEST {
        return Err(BcError::TooManyMaps(count));
    }
    let ofs: u64 = ofs
        .ok_or_else(|| bad("`ofs` is missing"))?
        .parse()
        .map_err(|_| bad("`ofs` is not a number"))?;
    if let Some(why) = problem {
        return Err(bad(why));
    }
    if messages.len() > count {
        return Err(bad("a map number is not below `count`"));
    }
    messages.resize(count, ClientMessage::Ignored);
    Ok(Some(Forward { ofs, messages }))
}

/// A form key, decoded only when it holds an escape or a `+` (map keys never do).
fn decode_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['%', '+']) {
        std::borrow::Cow::Owned(query::decode_component(key))
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// Read a JSON body (`application/json`): `{"ofs": N, "data": [message, …]}`, where a
/// string is a string message and anything else a JSON message. `Ok(None)` when `data`
/// is empty.
pub fn decode_json_body(body: &str) -> Result<Option<Forward>, BcError> {
    #[derive(serde::Deserialize)]
    struct Body {
        ofs: u64,
        data: Vec<Json>,
    }
    let parsed: Body = serde_json::from_str(body).map_err(|e| BcError::BadMaps(e.to_string()))?;
    if parsed.data.is_empty() {
        return Ok(None);
    }
    if parsed.data.len() > MAX_MAPS_PER_REQUEST {
        return Err(BcError::TooManyMaps(parsed.data.len()));
    }
    let messages = parsed
        .data
        .into_iter()
        .map(|m| match m {
            Json::String(s) => ClientMessage::Text(s),
            other => ClientMessage::Json(other.to_string()),
        })
        .collect();
    Ok(Some(Forward {
        ofs: parsed.ofs,
        messages,
    }))
}

/// Room in a forward-channel body beyond one message percent-encoded: keys, `count`,
/// `ofs` and further maps (see [`body_limit`], [`encode_form_batch`]).
pub const BODY_SLACK: usize = 64 * 1024;

/// Largest forward-channel body accepted when messages may be `max_length` bytes: one
/// such message percent-encoded in the worst case (every byte `%XX`), plus
/// [`BODY_SLACK`] (64 KiB) for keys and other maps. Our clients batch within it
/// ([`encode_form_batch`]); the official closure client batches up to 1000 maps with no
/// byte bound, so a burst of large messages from it can exceed this and end the spark
/// (`413`, closed as with 1009).
pub fn body_limit(max_length: usize) -> usize {
    max_length.saturating_mul(3).saturating_add(BODY_SLACK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(bytes: &[u8], step: usize, max: usize) -> Result<Vec<String>, BcError> {
        let mut p = ChunkParser::new(max);
        let mut out = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            p.push(piece);
            while let Some(c) = p.next_chunk()? {
                out.push(c);
            }
        }
        assert!(!p.has_partial(), "bytes left over");
        Ok(out)
    }

    #[test]
    fn the_reference_chunks_byte_for_byte() {
        // Observed from npm browserchannel 2.1 behind Node Primus (protocol.md §1.4).
        let mut e = String::new();
        encode_array(
            0,
            &ServerArray::Created {
                sid: "axipyk1s".into(),
                host_prefix: None,
                version: 8,
            },
            &mut e,
        );
        assert_eq!(chunk(&e), "30\n[[0,[\"c\",\"axipyk1s\",null,8]]]\n");
        let mut e = String::new();
        encode_message(1, "\"hello\"", &mut e);
        e.push(',');
        encode_message(2, "\"primus::id::axipyk1s\"", &mut e);
        assert_eq!(
            chunk(&e),
            "49\n[[1,\"\\\"hello\\\"\"],[2,\"\\\"primus::id::axipyk1s\\\"\"]]\n"
        );
        let mut e = String::new();
        encode_message(5, "\"bye\"", &mut e);
        e.push(',');
        encode_message(6, "\"primus::server::close\"", &mut e);
        e.push(',');
        encode_array(7, &ServerArray::Stop, &mut e);
        assert_eq!(
            chunk(&e),
            "61\n[[5,\"\\\"bye\\\"\"],[6,\"\\\"primus::server::close\\\"\"],[7,[\"stop\"]]]\n"
        );
        assert_eq!(forward_answer(true, 0, 0), "7\n[1,0,0]");
        assert_eq!(forward_answer(false, -1, 1234), "11\n[0,-1,1234]");
    }

    #[test]
    fn lengths_count_utf16_units_and_chunks_round_trip_in_any_split() {
        let texts = [
            "\"ünï\u{2028}cödé 😀\"",
            "",
            "line\nbreak\r\t\u{0}\"\\",
            "\u{2029}",
        ];
        let mut stream = String::new();
        for (i, t) in texts.iter().enumerate() {
            let mut e = String::new();
            encode_message(i as u64, t, &mut e);
            e.push(',');
            encode_array(100 + i as u64, &ServerArray::Noop, &mut e);
            stream.push_str(&chunk(&e));
        }
        assert!(!stream.contains('\u{2028}') && !stream.contains('\u{2029}'));
        assert!(stream.contains("\\u2028"));
        for step in [1, 2, 3, 5, 4096] {
            let got = chunks(stream.as_bytes(), step, 1 << 20).unwrap();
            assert_eq!(got.len(), texts.len(), "step {step}");
            for (i, c) in got.iter().enumerate() {
                assert_eq!(
                    decode_arrays(c).unwrap(),
                    [
                        (i as u64, ServerArray::Message(texts[i].into())),
                        (100 + i as u64, ServerArray::Noop)
                    ]
                );
            }
        }
        // A forward answer is a chunk too (no trailing newline).
        let got = chunks(forward_answer(true, 4, 17).as_bytes(), 1, 64).unwrap();
        assert_eq!(
            decode_forward_answer(&got[0]).unwrap(),
            ForwardAnswer {
                back_channel: true,
                last_sent: 4,
                outstanding: 17
            }
        );
    }

    #[test]
    fn chunk_parser_refuses_what_breaks_the_framing() {
        assert_eq!(chunks(b"99\n[]", 64, 10), Err(BcError::TooLong(10)));
        assert!(matches!(
            chunks(b"x1\n[]", 64, 10),
            Err(BcError::BadChunk(_))
        ));
        assert!(matches!(chunks(b"\n[]", 64, 10), Err(BcError::BadChunk(_))));
        assert!(matches!(
            chunks(&[b'0'; 40], 64, 10),
            Err(BcError::BadChunk(_))
        ));
        // One unit into a character that takes two.
        assert!(matches!(
            chunks("1\n😀".as_bytes(), 64, 10),
            Err(BcError::BadChunk(_))
        ));
        assert_eq!(chunks(b"2\n\xff\xff", 64, 10), Err(BcError::Utf8));
        assert!(matches!(decode_arrays("[[1]]"), Err(BcError::BadChunk(_))));
        assert!(matches!(
            decode_arrays("[[-1,\"x\"]]"),
            Err(BcError::BadChunk(_))
        ));
        assert!(matches!(decode_arrays("{}"), Err(BcError::BadChunk(_))));
        assert!(decode_forward_answer("[1,2]").is_err());
    }

    #[test]
    fn arrays_of_every_kind_decode() {
        let got = decode_arrays(
            r#"[[0,["c","sid",null,8]],[1,["noop"]],[2,["stop"]],[3,"s"],[4,{"a":1}],[5,["x",1]],[6,["c","p","h"]]]"#,
        )
        .unwrap();
        assert_eq!(
            got,
            [
                (
                    0,
                    ServerArray::Created {
                        sid: "sid".into(),
                        host_prefix: None,
                        version: 8
                    }
                ),
                (1, ServerArray::Noop),
                (2, ServerArray::Stop),
                (3, ServerArray::Message("s".into())),
                (4, ServerArray::Other("{\"a\":1}".into())),
                (5, ServerArray::Other("[\"x\",1]".into())),
                (
                    6,
                    ServerArray::Created {
                        sid: "p".into(),
                        host_prefix: Some("h".into()),
                        version: 6
                    }
                ),
            ]
        );
        let mut e = String::new();
        encode_array(4, &ServerArray::Other("{\"a\":1}".into()), &mut e);
        assert_eq!(e, "[4,{\"a\":1}]");
    }

    #[test]
    fn forms_decode_like_the_reference() {
        // The first request of a session, and what the official client sends.
        assert_eq!(decode_form("count=0").unwrap(), None);
        let f = decode_form("count=2&ofs=0&req0__S=%22hello%22&req1__S=%22primus%3A%3Aid%3A%3A%22")
            .unwrap()
            .unwrap();
        assert_eq!(
            f.messages,
            [
                ClientMessage::Text("\"hello\"".into()),
                ClientMessage::Text("\"primus::id::\"".into())
            ]
        );
        // Keys in any order, `+` is a space, JSON maps, maps without a message, bad maps.
        let f = decode_form(
            "req2_JSON=%7B%22a%22%3A1%7D&req1_x=y&req0__S=a+b&ofs=7&count=4&req3_type=_badmap&req3__S=no",
        )
        .unwrap()
        .unwrap();
        assert_eq!(f.ofs, 7);
        assert_eq!(
            f.messages,
            [
                ClientMessage::Text("a b".into()),
                ClientMessage::Ignored,
                ClientMessage::Json("{\"a\":1}".into()),
                ClientMessage::Ignored,
            ]
        );
        assert_eq!(
            decode_form("count=1&ofs=0&req0__S=x&req0_JSON=1")
                .unwrap()
                .unwrap()
                .messages,
            [ClientMessage::Json("1".into())]
        );
        // Round trip with the encoder, whatever the text.
        let texts = ["&=%+ \u{0}", "é😀\u{2028}", ""];
        let body = encode_form(3, texts);
        let f = decode_form(&body).unwrap().unwrap();
        assert_eq!(f.ofs, 3);
        let got: Vec<_> = f.messages.into_iter().collect();
        let want: Vec<_> = texts
            .iter()
            .map(|t| ClientMessage::Text((*t).into()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(encode_form(9, []), "count=0");
    }

    #[test]
    fn batches_stay_within_the_body_limit_and_carry_everything() {
        // 64 frames of 400 × 'é' in quotes (802 bytes, 2406 percent-encoded): one body
        // would be ~154 KB, over body_limit(1000) = 68 536.
        let frame = format!("\"{}\"", "é".repeat(400));
        let mut messages: Vec<String> = vec![frame.clone(); 64];
        // Mixed sizes, and one larger than the slack on its own.
        messages.extend([
            "a".to_owned(),
            "b".repeat(70_000),
            String::new(),
            "c".into(),
        ]);
        let mut ofs = 0u64;
        let mut rest = &messages[..];
        let mut requests = 0;
        while !rest.is_empty() {
            let (body, n) = encode_form_batch(ofs, rest);
            assert!(n >= 1, "the first map always goes");
            let longest = rest[..n].iter().map(String::len).max().unwrap();
            assert!(body.len() <= body_limit(longest), "{} bytes", body.len());
            assert!(
                body.len() <= body_limit(1000) || longest > 1000,
                "{} bytes for frames within 1000",
                body.len()
            );
            let f = decode_form(&body).unwrap().unwrap();
            assert_eq!(f.ofs, ofs);
            let want: Vec<_> = rest[..n]
                .iter()
                .map(|t| ClientMessage::Text(t.clone()))
                .collect();
            assert_eq!(f.messages, want);
            ofs += n as u64;
            rest = &rest[n..];
            requests += 1;
            assert!(requests <= messages.len());
        }
        assert!(requests >= 3, "{requests}");
        // Small messages: up to 1000 maps in one body.
        let small = vec!["x"; 1500];
        let (body, n) = encode_form_batch(7, &small);
        assert_eq!(n, MAX_MAPS_PER_REQUEST);
        assert!(body.starts_with("count=1000&ofs=7&req0__S=x&"));
        assert_eq!(encode_form_batch::<&str>(0, &[]), ("count=0".into(), 0));
    }

    #[test]
    fn bad_forms_are_typed_errors() {
        for body in [
            "",
            "ofs=0",
            "count=x",
            "count=1",
            "count=1&ofs=x",
            "count=1&ofs=0&req1__S=x",
            "count=1&ofs=0&req0__S=a&req0__S=b",
            "count=1&ofs=0&req0_JSON=1&req0_JSON=2",
        ] {
            assert!(
                matches!(decode_form(body), Err(BcError::BadMaps(_))),
                "{body}"
            );
        }
        assert_eq!(
            decode_form("count=1001&ofs=0"),
            Err(BcError::TooManyMaps(1001))
        );
        // Keys that only look like maps are ignored.
        let f = decode_form("count=1&ofs=0&req_x=1&reqa_b=2&req0_=3&zreq0__S=4")
            .unwrap()
            .unwrap();
        assert_eq!(f.messages, [ClientMessage::Ignored]);
    }

    #[test]
    fn json_bodies() {
        let f = decode_json_body(r#"{"ofs":2,"data":["a",{"b":[1]},null]}"#)
            .unwrap()
            .unwrap();
        assert_eq!(f.ofs, 2);
        assert_eq!(
            f.messages,
            [
                ClientMessage::Text("a".into()),
                ClientMessage::Json("{\"b\":[1]}".into()),
                ClientMessage::Json("null".into())
            ]
        );
        assert_eq!(decode_json_body(r#"{"ofs":0,"data":[]}"#).unwrap(), None);
        assert!(matches!(decode_json_body("[]"), Err(BcError::BadMaps(_))));
        let many = format!(r#"{{"ofs":0,"data":[{}]}}"#, vec!["1"; 1001].join(","));
        assert_eq!(decode_json_body(&many), Err(BcError::TooManyMaps(1001)));
        assert_eq!(body_limit(10), 30 + 65536);
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(
            text in ".{0,96}",
            form in "count=[0-9]{1,4}&ofs=[0-9]{1,3}(&req[0-9]{1,2}_(_S|JSON|type|x)=([^&]{0,6}|_badmap)){0,6}",
            json in r#"\{"ofs":[0-9]{1,3},"data":\[(("[a-z]{0,3}"|[0-9]|null|\{\}|\[1\]),?){0,4}\]\}"#,
            arrays in r#"\[(\[[0-9]{1,3},("[a-z]{0,3}"|\["(c|noop|stop|x)"(,("[a-z]{0,4}"|null|[0-9]{1,2})){0,3}\]|[0-9]|null|\{\})\],?){0,4}\]"#,
            answer in r"\[[0-9-]{1,3}(,[0-9-]{1,3}){0,3}\]",
            length in "[0-9]{1,3}\n",
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            step in 1usize..8,
        ) {
            for t in [&text, &form, &json, &arrays, &answer] {
                let _ = decode_form(t);
                let _ = decode_json_body(t);
                let _ = decode_arrays(t);
                let _ = decode_forward_answer(t);
            }
            // A form that decodes has as many maps as it says.
            if let Ok(Some(f)) = decode_form(&form) {
                let count = form["count=".len()..].split('&').next().unwrap_or("");
                proptest::prop_assert_eq!(Some(f.messages.len()), count.parse().ok());
            }
            if let Ok(Some(f)) = decode_json_body(&json) {
                proptest::prop_assert!(!f.messages.is_empty());
            }
            // A length line and bytes: a chunk that comes out has that many UTF-16 units.
            let want: usize = length.trim_end().parse().unwrap_or(0);
            let mut input = length.into_bytes();
            input.extend_from_slice(&bytes);
            let mut p = ChunkParser::new(512);
            let mut seen = 0;
            for piece in input.chunks(step) {
                p.push(piece);
                for _ in 0..input.len() + 1 {
                    match p.next_chunk() {
                        Ok(Some(c)) => {
                            if seen == 0 {
                                proptest::prop_assert_eq!(utf16_len(&c), want);
                            }
                            seen += 1;
                        }
                        _ => break,
                    }
                }
            }
        }

        #[test]
        fn forms_and_chunks_round_trip(
            texts in proptest::collection::vec(".{0,24}", 0..8),
            ofs in 0u64..1_000_000,
            step in 1usize..9,
        ) {
            let body = encode_form(ofs, texts.iter().map(String::as_str));
            let want: Vec<ClientMessage> = texts.iter().map(|t| ClientMessage::Text(t.clone())).collect();
            match decode_form(&body).unwrap() {
                None => proptest::prop_assert!(texts.is_empty()),
                Some(f) => {
                    proptest::prop_assert_eq!(f.ofs, ofs);
                    proptest::prop_assert_eq!(f.messages, want);
                }
            }
            let mut entries = String::new();
            for (i, t) in texts.iter().enumerate() {
                if i > 0 {
                    entries.push(',');
                }
                encode_message(ofs + i as u64, t, &mut entries);
            }
            if !texts.is_empty() {
                let got = chunks(chunk(&entries).as_bytes(), step, 1 << 16).unwrap();
                let arrays = decode_arrays(&got[0]).unwrap();
                let want: Vec<(u64, ServerArray)> = texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (ofs + i as u64, ServerArray::Message(t.clone())))
                    .collect();
                proptest::prop_assert_eq!(arrays, want);
            }
        }
    }
}
