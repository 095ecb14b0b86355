//! Socket.IO 0.9 wire format (protocol revision 1: npm `socket.io@0.9` and
//! `socket.io-client@0.9`), with no async runtime. The legacy half of the `socket.io`
//! transformer carries Primus frames in it; this module is its codec.
//!
//! - The handshake, `GET <resource>/1/`, is answered with
//!   `<session id>:<heartbeat timeout>:<close timeout>:<transports>`, the timeouts in
//!   seconds ([`Handshake`]). Transports then live at `<resource>/1/<transport>/<session id>`.
//! - A packet is `type:id[+]:endpoint[:data]` ([`Packet`]), the type a digit from
//!   `0` (disconnect) to `8` (noop): `3:::"hello"` is a message on the main endpoint, `2::`
//!   a heartbeat, `5:1+::{"name":"x","args":[1]}` an event whose sender wants an answer
//!   with data, `6:::1+[2]` that answer.
//! - Several packets in one HTTP body (a polling payload) are each framed as
//!   `\u{fffd}<length>\u{fffd}<packet>`, the length in UTF-16 code units (JavaScript's
//!   `string.length`); a lone packet goes unframed ([`encode_payload`],
//!   [`PayloadWriter`], [`decode_payload`]).
//!
//! ```
//! use primus_core::socketio09::{decode_payload, encode_payload, Packet, PacketType};
//!
//! let hello = Packet::message("\"hé😀\"").encode();
//! assert_eq!(hello, "3:::\"hé😀\"");
//! let payload = encode_payload(&[hello.as_str(), "2::"]);
//! // `3:::"hé😀"` is 10 UTF-16 code units (the emoji counts two), 13 bytes.
//! assert_eq!(payload, "\u{fffd}10\u{fffd}3:::\"hé😀\"\u{fffd}3\u{fffd}2::");
//! let packets = decode_payload(&payload, usize::MAX).unwrap();
//! assert_eq!(packets, [hello.as_str(), "2::"]);
//! let packet = Packet::decode(packets[0]).unwrap();
//! assert_eq!(packet.kind, PacketType::Message);
//! assert_eq!(packet.data, "\"hé😀\"");
//! ```
//!
//! Decoding is strict where the reference is lenient (its regular expression finds a
//! packet anywhere in a string, its payload loop turns any length into a number): input
//! the reference's encoder cannot produce is a [`DecodeError`], and nothing panics on any
//! input. Decoded packets and payloads borrow from the input; reading an event's data
//! ([`Packet::event_data`]) and building acks and errors allocate.

use crate::utf16;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

/// The protocol revision: the path segment after the resource (`/socket.io/1/`).
pub const PROTOCOL: &str = "1";

/// The mark around each length in a payload of several packets (U+FFFD).
pub const MARK: char = '\u{fffd}';

/// The longest packet id or ack id accepted, in digits (below 2^53, so JavaScript holds
/// it exactly).
pub const MAX_ID_DIGITS: usize = 15;

/// The longest length accepted in a payload frame, in digits.
const MAX_LENGTH_DIGITS: usize = 10;

/// A packet's type: the digit it starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: leave an endpoint; on the main endpoint (`0::`), end the connection.
    Disconnect,
    /// `1`: the server's answer once a transport is open (`1::`), or a client joining
    /// another endpoint (`1::/chat`).
    Connect,
    /// `2`: heartbeat; the server sends `2::` and the client answers the same.
    Heartbeat,
    /// `3`: a text message, the data as is.
    Message,
    /// `4`: a JSON message, the data JSON text.
    Json,
    /// `5`: an event, the data `{"name": ..., "args": [...]}`.
    Event,
    /// `6`: an acknowledgement, the data `<ack id>[+<JSON array of arguments>]`.
    Ack,
    /// `7`: an error, the data `[reason][+advice]` as numbers ([`ErrorReason`],
    /// [`ErrorAdvice`]).
    Error,
    /// `8`: nothing; ends a poll with no news.
    Noop,
}

impl PacketType {
    const ALL: [PacketType; 9] = [
        PacketType::Disconnect,
        PacketType::Connect,
        PacketType::Heartbeat,
        PacketType::Message,
        PacketType::Json,
        PacketType::Event,
        PacketType::Ack,
        PacketType::Error,
        PacketType::Noop,
    ];

    /// The type for a type field (`"3"`), if it is one.
    pub fn from_field(field: &str) -> Option<PacketType> {
        match field.as_bytes() {
            [d @ b'0'..=b'8'] => Some(Self::ALL[usize::from(d - b'0')]),
            _ => None,
        }
    }

    /// The digit that starts the packet.
    pub fn digit(self) -> char {
        char::from(b'0' + self as u8)
    }
}

/// How the sender of a packet with an id wants it acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AckRequest {
    /// `3:1::x`: answer `6:::1` once the packet is handled.
    Auto(u64),
    /// `5:1+::{...}`: the answer carries arguments, `6:::1+[...]`.
    Data(u64),
}

/// Why an error packet was sent (its first number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorReason {
    /// `0`
    TransportNotSupported,
    /// `1`: the session id is unknown (the client handshakes again).
    ClientNotHandshaken,
    /// `2`: refused; socket.io-client emits `connect_failed` on the endpoint.
    Unauthorized,
}

/// What the receiver of an error packet should do (its second number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorAdvice {
    /// `0`: disconnect and connect again.
    Reconnect,
}

/// Why some text is not a Socket.IO 0.9 packet, payload or handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not `type:id:endpoint`: fewer than two `:`.
    #[error("not a Socket.IO 0.9 packet (type:id:endpoint[:data])")]
    Malformed,
    /// The type is not a digit from 0 to 8.
    #[error("unknown packet type {0:?}")]
    UnknownType(String),
    /// The packet id (or an ack's id) is not a number of at most 15 digits.
    #[error("bad packet id")]
    BadId,
    /// A payload frame whose length is missing, not a number, past the end, or not
    /// followed by another frame.
    #[error("bad length in a payload frame")]
    BadLength,
    /// An empty packet in a payload.
    #[error("empty packet in a payload")]
    Empty,
    /// An event's data is not JSON, or not of the expected shape.
    #[error("bad JSON in a {kind} packet: {reason}")]
    Json {
        /// The packet type's name.
        kind: &'static str,
        /// What the JSON parser said.
        reason: String,
    },
    /// The payload is larger than allowed.
    #[error("payload too large (limit {limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

/// One packet. Decoded packets borrow from the input; built ones may own their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The type.
    pub kind: PacketType,
    /// The id, when the sender wants an acknowledgement.
    pub ack: Option<AckRequest>,
    /// The endpoint (namespace); `""` is the main one.
    pub endpoint: &'a str,
    /// The data (`""` when the packet has none).
    pub data: Cow<'a, str>,
}

/// An event's data.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    /// Its name.
    pub name: String,
    /// Its arguments (none when absent, as the reference reads it).
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
}

/// Read leading ASCII digits, at most `max` of them.
fn number(s: &str, max: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Packet<'static> {
    /// A packet of `kind` on the main endpoint, without id or data: `2::`, `1::`, `0::`,
    /// `8::`.
    pub fn new(kind: PacketType) -> Self {
        Packet {
            kind,
            ack: None,
            endpoint: "",
            data: Cow::Borrowed(""),
        }
    }

    /// An acknowledgement of packet `id`: `6:::<id>`, or with arguments (a JSON array)
    /// `6:::<id>+<args>`.
    pub fn ack_of(id: u64, args: Option<&str>) -> Self {
        let mut data = id.to_string();
        if let Some(args) = args {
            data.push('+');
            data.push_str(args);
        }
        Packet {
            data: Cow::Owned(data),
            ..Packet::new(PacketType::Ack)
        }
    }

    /// An error packet: `7:::<reason>[+<advice>]`.
    pub fn error(reason: ErrorReason, advice: Option<ErrorAdvice>) -> Self {
        let mut data = (reason as u8).to_string();
        if let Some(advice) = advice {
            data.push('+');
            data.push_str(&(advice as u8).to_string());
        }
        Packet {
            data: Cow::Owned(data),
            ..Packet::new(PacketType::Error)
        }
    }
}

impl<'a> Packet<'a> {
    /// A text message on the main endpoint: `3:::<text>`.
    pub fn message(text: &'a str) -> Self {
        Packet {
            kind: PacketType::Message,
            ack: None,
            endpoint: "",
            data: Cow::Borrowed(text),
        }
    }

    /// The same packet on another endpoint.
    pub fn on(mut self, endpoint: &'a str) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Decode one packet: `type:id[+]:endpoint[:data]`. The endpoint ends at the next
    /// `:`, the data is everything after it (it may contain `:`).
    pub fn decode(text: &'a str) -> Result<Self, DecodeError> {
        let (kind, rest) = text.split_once(':').ok_or(DecodeError::Malformed)?;
        let kind =
            PacketType::from_field(kind).ok_or_else(|| DecodeError::UnknownType(kind.into()))?;
        let (id, rest) = rest.split_once(':').ok_or(DecodeError::Malformed)?;
        let ack = match id {
            "" => None,
            _ => Some(match id.strip_suffix('+') {
                Some(id) => AckRequest::Data(number(id, MAX_ID_DIGITS).ok_or(DecodeError::BadId)?),
                None => AckRequest::Auto(number(id, MAX_ID_DIGITS).ok_or(DecodeError::BadId)?),
            }),
        };
        let (endpoint, data) = rest.split_once(':').unwrap_or((rest, ""));
        Ok(Packet {
            kind,
            ack,
            endpoint,
            data: Cow::Borrowed(data),
        })
    }

    /// The packet as text.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.data.len() + self.endpoint.len() + 8);
        self.encode_into(&mut out);
        out
    }

    /// [`encode`](Self::encode), appending to `out`.
    pub fn encode_into(&self, out: &mut String) {
        out.push(self.kind.digit());
        out.push(':');
        match self.ack {
            Some(AckRequest::Auto(id)) => {
                let _ = write!(out, "{id}");
            }
            Some(AckRequest::Data(id)) => {
                let _ = write!(out, "{id}+");
            }
            None => {}
        }
        out.push(':');
        out.push_str(self.endpoint);
        if !self.data.is_empty() {
            out.push(':');
            out.push_str(&self.data);
        }
    }

    /// The length of [`encode`](Self::encode)'s text in UTF-16 code units.
    fn utf16_len(&self) -> usize {
        let digits = |id: u64| id.checked_ilog10().map_or(1, |d| d as usize + 1);
        let id = match self.ack {
            Some(AckRequest::Auto(id)) => digits(id),
            Some(AckRequest::Data(id)) => digits(id) + 1,
            None => 0,
        };
        let data = match self.data.is_empty() {
            true => 0,
            false => 1 + utf16::len(&self.data),
        };
        // The type digit and two `:`.
        3 + id + utf16::len(self.endpoint) + data
    }

    /// An event packet's data, parsed.
    pub fn event_data(&self) -> Result<Event, DecodeError> {
        serde_json::from_str(&self.data).map_err(|e| DecodeError::Json {
            kind: "event",
            reason: e.to_string(),
        })
    }
}

/// Join encoded packets into one HTTP body: a lone packet as it is, several each framed
/// as `\u{fffd}<length>\u{fffd}<packet>` (the length in UTF-16 code units); none is `""`.
pub fn encode_payload<S: AsRef<str>>(packets: &[S]) -> String {
    let mut payload = PayloadWriter::default();
    for packet in packets {
        payload.push_str(packet.as_ref());
    }
    payload.finish()
}

/// A payload written packet by packet straight into one string, as [`encode_payload`]
/// lays it out: a lone packet as it is, several each framed. The first packet is written
/// unframed; its frame goes in front of it when a second one comes.
///
/// ```
/// use primus_core::socketio09::{encode_payload, Packet, PacketType, PayloadWriter};
///
/// let mut one = PayloadWriter::default();
/// one.push(&Packet::message("\"hé😀\""));
/// assert_eq!(one.finish(), "3:::\"hé😀\"");
/// let mut two = PayloadWriter::default();
/// two.push(&Packet::message("\"hé😀\""));
/// two.push_str("2::");
/// assert_eq!(two.finish(), encode_payload(&["3:::\"hé😀\"", "2::"]));
/// ```
#[derive(Debug, Default)]
pub struct PayloadWriter {
    out: String,
    packets: usize,
    /// The first packet's length in UTF-16 code units, for its frame.
    first_units: usize,
}

impl PayloadWriter {
    /// Append a packet, encoded in place.
    pub fn push(&mut self, packet: &Packet<'_>) {
        self.frame(packet.utf16_len());
        packet.encode_into(&mut self.out);
    }

    /// Append an encoded packet.
    pub fn push_str(&mut self, packet: &str) {
        self.frame(utf16::len(packet));
        self.out.push_str(packet);
    }

    /// Whether no packet was written.
    pub fn is_empty(&self) -> bool {
        self.packets == 0
    }

    /// The payload.
    pub fn finish(self) -> String {
        self.out
    }

    /// Before a packet of `units` UTF-16 code units: its frame, if it is not the first.
    fn frame(&mut self, units: usize) {
        match self.packets {
            0 => self.first_units = units,
            1 => {
                let mut first = String::with_capacity(12);
                write_frame(self.first_units, &mut first);
                self.out.insert_str(0, &first);
                write_frame(units, &mut self.out);
            }
            _ => write_frame(units, &mut self.out),
        }
        self.packets += 1;
    }
}

/// `\u{fffd}<units>\u{fffd}`.
fn write_frame(units: usize, out: &mut String) {
    out.push(MARK);
    let _ = write!(out, "{units}");
    out.push(MARK);
}

/// Split an HTTP body into its packets (still encoded; decode each with
/// [`Packet::decode`]). A body that does not start with [`MARK`] is one packet; an
/// empty body has none. `limit` bounds the body's size in bytes.
pub fn decode_payload(text: &str, limit: usize) -> Result<Vec<&str>, DecodeError> {
    if text.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    let Some(mut rest) = text.strip_prefix(MARK) else {
        return Ok(if text.is_empty() {
            Vec::new()
        } else {
            vec![text]
        });
    };
    let mut packets = Vec::new();
    loop {
        let (len, after) = rest.split_once(MARK).ok_or(DecodeError::BadLength)?;
        let units = number(len, MAX_LENGTH_DIGITS).ok_or(DecodeError::BadLength)?;
        let units = usize::try_from(units).map_err(|_| DecodeError::BadLength)?;
        if units == 0 {
            return Err(DecodeError::Empty);
        }
        let end = utf16::offset(after, units).ok_or(DecodeError::BadLength)?;
        packets.push(&after[..end]);
        rest = &after[end..];
        if rest.is_empty() {
            return Ok(packets);
        }
        rest = rest.strip_prefix(MARK).ok_or(DecodeError::BadLength)?;
    }
}

/// The answer to a handshake: `sid:heartbeat:close:transports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake<'a> {
    /// The session id the transports use.
    pub sid: &'a str,
    /// How long the client waits for a sign of life on a transport with heartbeats
    /// (WebSocket) before it closes it; `None` (an empty field) when heartbeats are off.
    pub heartbeat_timeout: Option<Duration>,
    /// How long the client waits for any data (or, on polling, for the next answer)
    /// before it gives the connection up; `None` when the field is empty.
    pub close_timeout: Option<Duration>,
    /// The transports the server offers, in its order of preference.
    pub transports: Vec<&'a str>,
}

impl<'a> Handshake<'a> {
    /// The answer's text. Timeouts are seconds, with a fraction when they are not whole
    /// (socket.io-client multiplies the field by 1000, so `0.5` works).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.sid.len() + 48);
        out.push_str(self.sid);
        for timeout in [self.heartbeat_timeout, self.close_timeout] {
            out.push(':');
            if let Some(t) = timeout {
                write_seconds(t, &mut out);
            }
        }
        out.push(':');
        out.push_str(&self.transports.join(","));
        out
    }
}

/// `d` in seconds, to the millisecond: `60`, `0.25`.
fn write_seconds(d: Duration, out: &mut String) {
    let ms = d.as_millis();
    let _ = write!(out, "{}", ms / 1000);
    let frac = ms % 1000;
    if frac != 0 {
        let digits = format!("{frac:03}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &str) -> Packet<'_> {
        Packet::decode(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn packets_as_the_reference_encodes_them() {
        // What socket.io 0.9's parser.encodePacket writes for these packets.
        assert_eq!(Packet::new(PacketType::Disconnect).encode(), "0::");
        assert_eq!(Packet::new(PacketType::Connect).encode(), "1::");
        assert_eq!(Packet::new(PacketType::Heartbeat).encode(), "2::");
        assert_eq!(Packet::new(PacketType::Noop).encode(), "8::");
        assert_eq!(Packet::message("a:b").encode(), "3:::a:b");
        assert_eq!(Packet::message("").encode(), "3::");
        assert_eq!(
            Packet::new(PacketType::Connect).on("/chat").encode(),
            "1::/chat"
        );
        assert_eq!(Packet::ack_of(4, None).encode(), "6:::4");
        assert_eq!(Packet::ack_of(4, Some("[]")).encode(), "6:::4+[]");
        assert_eq!(
            Packet::error(
                ErrorReason::ClientNotHandshaken,
                Some(ErrorAdvice::Reconnect)
            )
            .encode(),
            "7:::1+0"
        );
        assert_eq!(
            Packet::error(ErrorReason::Unauthorized, None)
                .on("/x")
                .encode(),
            "7::/x:2"
        );
        let with_id = Packet {
            ack: Some(AckRequest::Data(12)),
            ..Packet::message("q")
        };
        assert_eq!(with_id.encode(), "3:12+::q");
    }

    #[test]
    fn packets_decode_field_by_field() {
        let p = decode("3:::\"a:b\"");
        assert_eq!(p, Packet::message("\"a:b\""));
        let p = decode("3:7::x");
        assert_eq!(p.ack, Some(AckRequest::Auto(7)));
        let p = decode("5:8+:/chat:{\"name\":\"n\",\"args\":[1,\"two\"]}");
        assert_eq!(
            (p.kind, p.ack, p.endpoint),
            (PacketType::Event, Some(AckRequest::Data(8)), "/chat")
        );
        let event = p.event_data().unwrap();
        assert_eq!(event.name, "n");
        assert_eq!(event.args, [serde_json::json!(1), serde_json::json!("two")]);
        assert!(decode("5:::{\"name\":\"n\"}")
            .event_data()
            .unwrap()
            .args
            .is_empty());
        assert_eq!(decode("2::"), Packet::new(PacketType::Heartbeat));
        assert_eq!(decode("1::/chat").endpoint, "/chat");
        assert_eq!(decode("1::/chat").data, "");
        assert_eq!(decode("0::").kind, PacketType::Disconnect);
        assert_eq!(decode("6:::4+[1]").data, "4+[1]");
        assert_eq!(decode("4:::{\"a\":1}").data, "{\"a\":1}");
        // Re-encoded as the reference would: no `:` before empty data.
        for (p, again) in [
            ("3:1+:/x:d", "3:1+:/x:d"),
            ("6:::1+[]", "6:::1+[]"),
            ("8::", "8::"),
            ("3:::", "3::"),
            ("1::/a:", "1::/a"),
        ] {
            assert_eq!(decode(p).encode(), again, "{p}");
        }
    }

    #[test]
    fn bad_packets_are_typed_errors() {
        assert_eq!(Packet::decode(""), Err(DecodeError::Malformed));
        assert_eq!(Packet::decode("3:"), Err(DecodeError::Malformed));
        assert_eq!(Packet::decode("hello"), Err(DecodeError::Malformed));
        assert_eq!(
            Packet::decode("9::"),
            Err(DecodeError::UnknownType("9".into()))
        );
        assert_eq!(
            Packet::decode("03::"),
            Err(DecodeError::UnknownType("03".into()))
        );
        assert_eq!(Packet::decode("3:x::"), Err(DecodeError::BadId));
        assert_eq!(Packet::decode("3:+::"), Err(DecodeError::BadId));
        assert_eq!(
            Packet::decode("3:1234567890123456::"),
            Err(DecodeError::BadId)
        );
        assert!(matches!(
            decode("5:::{\"args\":[]}").event_data(),
            Err(DecodeError::Json { kind: "event", .. })
        ));
        assert!(decode("5:::[1]").event_data().is_err());
    }

    #[test]
    fn payload_lengths_count_utf16_units() {
        assert_eq!(encode_payload::<&str>(&[]), "");
        assert_eq!(encode_payload(&["3:::x"]), "3:::x");
        // `3:::😀` is 6 units (the emoji is a surrogate pair), 8 bytes.
        let text = encode_payload(&["3:::😀", "3:::\u{fffd}"]);
        assert_eq!(text, "\u{fffd}6\u{fffd}3:::😀\u{fffd}5\u{fffd}3:::\u{fffd}");
        assert_eq!(
            decode_payload(&text, 1000).unwrap(),
            ["3:::😀", "3:::\u{fffd}"]
        );
        assert_eq!(decode_payload("2::", 1000).unwrap(), ["2::"]);
        assert!(decode_payload("", 1000).unwrap().is_empty());
        assert_eq!(
            decode_payload("3:::abc", 3),
            Err(DecodeError::TooLarge { limit: 3 })
        );
        for bad in [
            "\u{fffd}",
            "\u{fffd}3",
            "\u{fffd}\u{fffd}2::",
            "\u{fffd}x\u{fffd}2::",
            "\u{fffd}4\u{fffd}2::",
            "\u{fffd}2\u{fffd}2::",
            "\u{fffd}3\u{fffd}2::x",
            "\u{fffd}3\u{fffd}2::\u{fffd}",
            "\u{fffd}5\u{fffd}3:::😀",
            "\u{fffd}99999999999\u{fffd}2::",
        ] {
            assert!(decode_payload(bad, 1000).is_err(), "{bad:?}");
        }
        assert_eq!(
            decode_payload("\u{fffd}0\u{fffd}", 100),
            Err(DecodeError::Empty)
        );
    }

    #[test]
    fn handshakes() {
        let hs = Handshake {
            sid: "abc",
            heartbeat_timeout: Some(Duration::from_secs(60)),
            close_timeout: Some(Duration::from_millis(2250)),
            transports: vec!["websocket", "xhr-polling"],
        };
        assert_eq!(hs.encode(), "abc:60:2.25:websocket,xhr-polling");
        let off = Handshake {
            sid: "s",
            heartbeat_timeout: None,
            close_timeout: Some(Duration::from_millis(500)),
            transports: vec!["xhr-polling"],
        };
        assert_eq!(off.encode(), "s::0.5:xhr-polling");
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(text in "(\u{fffd}|[0-9]|:|\\+|.){0,48}") {
            if let Ok(packets) = decode_payload(&text, usize::MAX) {
                for p in packets {
                    if let Ok(p) = Packet::decode(p) {
                        let _ = p.event_data();
                    }
                }
            }
            let _ = Packet::decode(&text);
        }

        #[test]
        fn payloads_round_trip(data in proptest::collection::vec(".{0,12}", 1..6)) {
            let packets: Vec<String> = data.iter().map(|d| Packet::message(d).encode()).collect();
            let text = encode_payload(&packets);
            let back = decode_payload(&text, usize::MAX).unwrap();
            proptest::prop_assert_eq!(&back, &packets);
            for (p, d) in back.iter().zip(&data) {
                proptest::prop_assert_eq!(&Packet::decode(p).unwrap().data, d);
            }
        }

        #[test]
        fn packets_written_in_place_are_framed_like_encoded_ones(
            packets in proptest::collection::vec(
                (0usize..9, proptest::option::of((proptest::bool::ANY, 0u64..1_000_000_000_000_000)), "/?.{0,4}", ".{0,12}"),
                0..5,
            ),
        ) {
            let packets: Vec<Packet<'_>> = packets
                .iter()
                .map(|(kind, ack, endpoint, data)| Packet {
                    kind: PacketType::ALL[*kind],
                    ack: ack.map(|(data, id)| match data {
                        true => AckRequest::Data(id),
                        false => AckRequest::Auto(id),
                    }),
                    endpoint: endpoint.split(':').next().unwrap_or(""),
                    data: Cow::Borrowed(data.as_str()),
                })
                .collect();
            let encoded: Vec<String> = packets.iter().map(Packet::encode).collect();
            let mut writer = PayloadWriter::default();
            for p in &packets {
                proptest::prop_assert_eq!(p.utf16_len(), utf16::len(&p.encode()));
                writer.push(p);
            }
            proptest::prop_assert_eq!(writer.is_empty(), packets.is_empty());
            proptest::prop_assert_eq!(writer.finish(), encode_payload(&encoded));
        }
    }
}
