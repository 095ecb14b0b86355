//! Engine.IO packets and payloads (protocols 3 and 4), with no async runtime.
//!
//! The `engine.io` transformer carries one Primus frame per Engine.IO `message` packet.
//! This module is the codec both halves share (the server in `primus`, the Rust client's
//! transport, fuzzing and benches):
//!
//! - a packet is a type digit followed by its data: `4"hello"`, `2probe`, `6`;
//! - a binary message is `b<base64>` in text form (protocol 4) or `b4<base64>`
//!   (protocol 3), or one raw WebSocket binary message (protocol 4: the bytes; protocol 3:
//!   a type byte `4` then the bytes);
//! - a polling payload joins packets with the record separator `\x1e` (protocol 4) or
//!   prefixes each with its length in UTF-16 code units and a `:` (protocol 3, string
//!   form: `7:4"hello"`).
//!
//! ```
//! use primus_core::engineio::{decode_payload, encode_payload, Packet, Protocol};
//! use primus_core::Frame;
//! let packets = vec![Packet::Message(Frame::text("\"hi\"")), Packet::Ping(Default::default())];
//! let text = encode_payload(Protocol::V4, &packets);
//! assert_eq!(text, "4\"hi\"\x1e2");
//! assert_eq!(decode_payload(Protocol::V4, &text, usize::MAX).unwrap(), packets);
//! let v3 = encode_payload(Protocol::V3, &packets);
//! assert_eq!(v3, "5:4\"hi\"1:2");
//! ```

use crate::{utf16, Frame};
use bytes::Bytes;

/// Which Engine.IO protocol a session speaks (`EIO=4` or `EIO=3` in the query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Protocol 3 (engine.io 3, Primus 7 clients): the client pings, length-prefixed
    /// payloads.
    V3,
    /// Protocol 4 (engine.io 4+, Primus 8 clients): the server pings, `\x1e`-separated
    /// payloads.
    V4,
}

impl Protocol {
    /// The value of the `EIO` query parameter. Like the reference, anything but `4`
    /// (including a missing parameter) means protocol 3.
    pub fn from_query(eio: Option<&str>) -> Protocol {
        if eio == Some("4") {
            Protocol::V4
        } else {
            Protocol::V3
        }
    }
}

/// The record separator between packets of a protocol 4 payload.
pub const SEPARATOR: char = '\x1e';

/// One Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `0`: the handshake, with its JSON body.
    Open(String),
    /// `1`: the session is closing.
    Close,
    /// `2`: heartbeat or upgrade probe (data `probe`).
    Ping(String),
    /// `3`: the answer to a ping, echoing its data.
    Pong(String),
    /// `4`: a message; here, one Primus frame.
    Message(Frame),
    /// `5`: the client switches to the new transport.
    Upgrade,
    /// `6`: nothing; releases a pending poll during an upgrade.
    Noop,
}

/// Why some bytes are not an Engine.IO packet or payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An empty packet where one was expected.
    #[error("empty packet")]
    Empty,
    /// The type is not one of `0`-`6` (or `b` for binary).
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// A `b` packet whose data is not valid base64.
    #[error("invalid base64 in a binary packet")]
    Base64,
    /// A protocol 3 length prefix that is missing, not a number or past the end.
    #[error("invalid length prefix in a protocol 3 payload")]
    Length,
    /// A binary WebSocket message with a type other than `message` (protocol 3).
    #[error("binary packet of unexpected type")]
    BinaryType,
    /// The payload holds more bytes of messages than allowed.
    #[error("payload too large (limit {limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
}

impl Packet {
    /// The packet in text form, as it goes in a polling payload or a WebSocket text
    /// message. Binary messages become `b<base64>` (`b4<base64>` in protocol 3).
    pub fn encode(&self, protocol: Protocol) -> String {
        let mut out = String::new();
        self.encode_into(protocol, &mut out);
        out
    }

    /// [`encode`](Self::encode), appending to `out`.
    pub fn encode_into(&self, protocol: Protocol, out: &mut String) {
        match self {
            Packet::Open(json) => {
                out.push('0');
                out.push_str(json);
            }
            Packet::Close => out.push('1'),
            Packet::Ping(data) => {
                out.push('2');
                out.push_str(data);
            }
            Packet::Pong(data) => {
                out.push('3');
                out.push_str(data);
            }
            Packet::Message(Frame::Text(b)) => {
                out.push('4');
                // Text frames are UTF-8 by construction.
                out.push_str(std::str::from_utf8(b).unwrap_or_default());
            }
            Packet::Message(Frame::Binary(b)) => {
                out.push('b');
                if protocol == Protocol::V3 {
                    out.push('4');
                }
                base64_encode_into(b, out);
            }
            Packet::Upgrade => out.push('5'),
            Packet::Noop => out.push('6'),
        }
    }

    /// Decode one packet in text form (one payload record or one WebSocket text message).
    pub fn decode(protocol: Protocol, text: &str) -> Result<Packet, DecodeError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(DecodeError::Empty)?;
        let rest = &text[kind.len_utf8()..];
        Ok(match kind {
            '0' => Packet::Open(rest.to_string()),
            '1' => Packet::Close,
            '2' => Packet::Ping(rest.to_string()),
            '3' => Packet::Pong(rest.to_string()),
            '4' => Packet::Message(Frame::Text(Bytes::copy_from_slice(rest.as_bytes()))),
            '5' => Packet::Upgrade,
            '6' => Packet::Noop,
            'b' => {
                let data = match protocol {
                    // `b4<base64>`: the type follows the `b`.
                    Protocol::V3 => match rest.strip_prefix('4') {
                        Some(d) => d,
                        None => return Err(DecodeError::BinaryType),
                    },
                    Protocol::V4 => rest,
                };
                Packet::Message(Frame::Binary(
                    base64_decode(data).ok_or(DecodeError::Base64)?.into(),
                ))
            }
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// Decode one binary WebSocket message: a binary `message` (protocol 3 puts the type
    /// byte `4` first).
    pub fn decode_binary(protocol: Protocol, bytes: Bytes) -> Result<Packet, DecodeError> {
        match protocol {
            Protocol::V4 => Ok(Packet::Message(Frame::Binary(bytes))),
            Protocol::V3 => match bytes.first() {
                Some(4) => Ok(Packet::Message(Frame::Binary(bytes.slice(1..)))),
                Some(_) => Err(DecodeError::BinaryType),
                None => Err(DecodeError::Empty),
            },
        }
    }

    /// A binary message as one WebSocket binary message (`None` for any other packet).
    pub fn encode_binary(&self, protocol: Protocol) -> Option<Bytes> {
        match self {
            Packet::Message(Frame::Binary(b)) => Some(match protocol {
                Protocol::V4 => b.clone(),
                Protocol::V3 => {
                    let mut v = Vec::with_capacity(b.len() + 1);
                    v.push(4);
                    v.extend_from_slice(b);
                    v.into()
                }
            }),
            _ => None,
        }
    }
}

/// Join packets into one polling payload (text form).
pub fn encode_payload(protocol: Protocol, packets: &[Packet]) -> String {
    let mut out = String::new();
    let mut one = String::new();
    for (i, packet) in packets.iter().enumerate() {
        match protocol {
            Protocol::V4 => {
                if i > 0 {
                    out.push(SEPARATOR);
                }
                packet.encode_into(protocol, &mut out);
            }
            Protocol::V3 => {
                one.clear();
                packet.encode_into(protocol, &mut one);
                out.push_str(&utf16::len(&one).to_string());
                out.push(':');
                out.push_str(&one);
            }
        }
    }
    out
}

/// Split a polling payload (text form) into packets. `limit` bounds the total size of
/// the messages in it, in bytes.
pub fn decode_payload(
    protocol: Protocol,
    text: &str,
    limit: usize,
) -> Result<Vec<Packet>, DecodeError> {
    if text.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    match protocol {
        Protocol::V4 => text
            .split(SEPARATOR)
            .map(|p| Packet::decode(protocol, p))
            .collect(),
        Protocol::V3 => {
            let mut packets = Vec::new();
            let mut rest = text;
            while !rest.is_empty() {
                let colon = rest.find(':').ok_or(DecodeError::Length)?;
                let len: usize = rest[..colon].parse().map_err(|_| DecodeError::Length)?;
                rest = &rest[colon + 1..];
                let end = utf16::offset(rest, len).ok_or(DecodeError::Length)?;
                packets.push(Packet::decode(protocol, &rest[..end])?);
                rest = &rest[end..];
            }
            if packets.is_empty() {
                return Err(DecodeError::Empty);
            }
            Ok(packets)
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, appended to `out`.
pub fn base64_encode_into(input: &[u8], out: &mut String) {
    out.reserve(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
}

/// Decode standard base64 (padding optional, as Node's `Buffer.from(s, 'base64')`
/// accepts); `None` on any other character.
pub fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let input = input.trim_end_matches('=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover sextet cannot encode a byte.
    if bits >= 6 {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(s: &str) -> Packet {
        Packet::Message(Frame::text(s))
    }

    #[test]
    fn packets_round_trip_in_text_form() {
        for p in [
            Packet::Open("{\"sid\":\"x\"}".into()),
            Packet::Close,
            Packet::Ping("probe".into()),
            Packet::Pong(String::new()),
            msg("\"héllo 😀\""),
            Packet::Upgrade,
            Packet::Noop,
            Packet::Message(Frame::binary(vec![0u8, 1, 2, 255])),
        ] {
            for proto in [Protocol::V3, Protocol::V4] {
                let text = p.encode(proto);
                assert_eq!(Packet::decode(proto, &text).unwrap(), p, "{text}");
            }
        }
        let bin = Packet::Message(Frame::binary(vec![1u8, 2, 3]));
        assert_eq!(bin.encode(Protocol::V4), "bAQID");
        assert_eq!(bin.encode(Protocol::V3), "b4AQID");
    }

    #[test]
    fn binary_websocket_messages() {
        let p = Packet::Message(Frame::binary(vec![9u8, 8]));
        let v3 = p.encode_binary(Protocol::V3).unwrap();
        assert_eq!(&v3[..], &[4, 9, 8]);
        assert_eq!(Packet::decode_binary(Protocol::V3, v3).unwrap(), p);
        let v4 = p.encode_binary(Protocol::V4).unwrap();
        assert_eq!(Packet::decode_binary(Protocol::V4, v4).unwrap(), p);
        assert_eq!(
            Packet::decode_binary(Protocol::V3, Bytes::from_static(&[2, 1])),
            Err(DecodeError::BinaryType)
        );
        assert!(msg("x").encode_binary(Protocol::V4).is_none());
    }

    #[test]
    fn bad_packets_are_errors() {
        assert_eq!(Packet::decode(Protocol::V4, ""), Err(DecodeError::Empty));
        assert_eq!(
            Packet::decode(Protocol::V4, "9x"),
            Err(DecodeError::UnknownType('9'))
        );
        assert_eq!(
            Packet::decode(Protocol::V4, "b!!"),
            Err(DecodeError::Base64)
        );
        assert_eq!(
            decode_payload(Protocol::V4, "4a\x1e\x1e4b", 100),
            Err(DecodeError::Empty)
        );
        assert_eq!(
            decode_payload(Protocol::V4, "4aaaa", 3),
            Err(DecodeError::TooLarge { limit: 3 })
        );
    }

    #[test]
    fn v3_payload_lengths_count_utf16_units() {
        // "4😀" is 3 UTF-16 units (the emoji is a surrogate pair), 5 bytes.
        let packets = vec![msg("😀"), msg("é")];
        let text = encode_payload(Protocol::V3, &packets);
        assert_eq!(text, "3:4😀2:4é");
        assert_eq!(decode_payload(Protocol::V3, &text, 1000).unwrap(), packets);
        for bad in ["", "3", "x:4a", "5:4a", "2:4😀", "1:"] {
            assert!(decode_payload(Protocol::V3, bad, 1000).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base64_matches_node() {
        let mut s = String::new();
        base64_encode_into(b"hello world!?", &mut s);
        assert_eq!(s, "aGVsbG8gd29ybGQhPw==");
        assert_eq!(base64_decode(&s).unwrap(), b"hello world!?");
        assert_eq!(
            base64_decode("aGVsbG8gd29ybGQhPw").unwrap(),
            b"hello world!?"
        );
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("a").is_none());
        assert!(base64_decode("ab c").is_none());
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            let mut s = String::new();
            base64_encode_into(&data, &mut s);
            assert_eq!(base64_decode(&s).unwrap(), data);
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(text in ".{0,64}", bytes in proptest::collection::vec(0u8..=255, 0..32)) {
            for proto in [Protocol::V3, Protocol::V4] {
                let _ = decode_payload(proto, &text, usize::MAX);
                let _ = Packet::decode(proto, &text);
                let _ = Packet::decode_binary(proto, Bytes::from(bytes.clone()));
            }
            let _ = base64_decode(&text);
        }

        #[test]
        fn payloads_round_trip(
            texts in proptest::collection::vec("[^\x1e]{0,16}", 1..6),
            bin in proptest::collection::vec(0u8..=255, 0..16),
        ) {
            let mut packets: Vec<Packet> = texts.iter().map(|t| msg(t)).collect();
            packets.push(Packet::Message(Frame::binary(bin)));
            for proto in [Protocol::V3, Protocol::V4] {
                let text = encode_payload(proto, &packets);
                proptest::prop_assert_eq!(decode_payload(proto, &text, usize::MAX).unwrap(), packets.clone());
            }
        }
    }

    #[test]
    fn protocol_from_query() {
        assert_eq!(Protocol::from_query(Some("4")), Protocol::V4);
        assert_eq!(Protocol::from_query(Some("3")), Protocol::V3);
        assert_eq!(Protocol::from_query(None), Protocol::V3);
    }
}
