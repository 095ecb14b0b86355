//! Socket.IO protocol 5 packets (npm `socket.io` 4.x and `socket.io-client` 4.x), with no
//! async runtime: the codec both halves of the `socket.io` transformer share.
//!
//! The `socket.io` transformer carries one Primus frame per Socket.IO `message` event, on
//! Engine.IO `message` packets. A packet in text form is
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
//! 0                                      CONNECT to the main namespace `/`
//! 0{"sid":"abc"}                         its answer (server → client)
//! 4/chat,{"message":"Invalid namespace"} CONNECT_ERROR
//! 1                                      DISCONNECT
//! 2["message","\"hi\""]                  EVENT: a Primus text frame (JSON parser: `"hi"`)
//! 27["message","1"]                      EVENT asking for ack 7, answered `37[]`
//! 51-["message",{"_placeholder":true,"num":0}]   BINARY_EVENT, its one attachment follows
//! ```
//!
//! An attachment is the next Engine.IO message, a binary one. [`Decoder`] puts a binary
//! event and its attachment back together; only **one** attachment per event is accepted
//! (a Primus frame is one buffer), more is a [`DecodeError`].
//!
//! ```
//! use primus_core::socketio::{self, Arg, Decoder, Kind};
//! use primus_core::Frame;
//!
//! let (event, attachment) = socketio::encode_message(Frame::binary(vec![1u8, 2]));
//! assert_eq!(event, Frame::text(r#"51-["message",{"_placeholder":true,"num":0}]"#));
//!
//! let mut decoder = Decoder::default();
//! assert_eq!(decoder.decode(event).unwrap(), None); // waits for its attachment
//! let packet = decoder.decode(attachment.unwrap()).unwrap().unwrap();
//! assert_eq!(packet.kind, Kind::BinaryEvent);
//! assert!(packet.is_message());
//! assert_eq!(packet.into_frame(), Some(Frame::binary(vec![1u8, 2])));
//!
//! let (text, none) = socketio::encode_message(Frame::text("\"hi\""));
//! assert_eq!(text, Frame::text(r#"2["message","\"hi\""]"#));
//! assert!(none.is_none());
//! let packet = decoder.decode(text).unwrap().unwrap();
//! assert_eq!(packet.arg, Some(Arg::Text("\"hi\"".into())));
//! ```

use crate::Frame;
use bytes::Bytes;
use serde_json::Value as Json;

/// The longest ack id or attachment count accepted, in digits.
const MAX_DIGITS: usize = 15;

/// The event name Primus frames ride in.
pub const MESSAGE: &str = "message";

/// A packet's type (the first character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `0`: the client joins a namespace; the server's answer carries the socket id.
    Connect,
    /// `1`: leaving a namespace (either side).
    Disconnect,
    /// `2`: an event with JSON arguments.
    Event,
    /// `3`: the answer to an event that asked for one.
    Ack,
    /// `4`: the server refused a CONNECT.
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        Some(match b {
            b'0' => Kind::Connect,
            b'1' => Kind::Disconnect,
            b'2' => Kind::Event,
            b'3' => Kind::Ack,
            b'4' => Kind::ConnectError,
            b'5' => Kind::BinaryEvent,
            b'6' => Kind::BinaryAck,
            _ => return None,
        })
    }

    /// Whether the data is an argument array starting with the event name.
    fn named(self) -> bool {
        matches!(self, Kind::Event | Kind::BinaryEvent)
    }

    fn binary(self) -> bool {
        matches!(self, Kind::BinaryEvent | Kind::BinaryAck)
    }
}

/// The first argument of an event or ack.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string: for a `message` event, the Primus-encoded text.
    Text(String),
    /// The attachment the argument's placeholder stands for.
    Binary(Bytes),
    /// Any other JSON value.
    Json(Json),
}

impl From<Json> for Arg {
    /// A string is [`Arg::Text`], anything else [`Arg::Json`].
    fn from(value: Json) -> Self {
        match value {
            Json::String(s) => Arg::Text(s),
            other => Arg::Json(other),
        }
    }
}

impl Arg {
    /// The argument of a `message` event as a Primus frame: a string is the frame's text,
    /// an attachment a binary frame, any other JSON value its JSON text (so
    /// `socket.send({a: 1})` reaches a JSON parser).
    pub fn into_frame(self) -> Frame {
        match self {
            Arg::Text(s) => Frame::text(s),
            Arg::Binary(b) => Frame::Binary(b),
            Arg::Json(j) => Frame::text(j.to_string()),
        }
    }
}

/// One complete packet (a binary one with its attachment).
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// Its type.
    pub kind: Kind,
    /// The namespace; `None` for the main namespace `/`.
    pub namespace: Option<String>,
    /// The ack id an event asks for, or the id an ack answers.
    pub id: Option<u64>,
    /// The event name (events only).
    pub name: Option<String>,
    /// The first argument of an event or ack.
    pub arg: Option<Arg>,
    /// The JSON body of a CONNECT, CONNECT answer or CONNECT_ERROR.
    pub body: Option<Json>,
}

impl Packet {
    fn new(kind: Kind) -> Packet {
        Packet {
            kind,
            namespace: None,
            id: None,
            name: None,
            arg: None,
            body: None,
        }
    }

    /// Whether it is for the main namespace `/`.
    pub fn is_main(&self) -> bool {
        self.namespace.is_none()
    }

    /// Whether it is a `message` event on the main namespace: the events Primus frames
    /// ride in.
    pub fn is_message(&self) -> bool {
        self.kind.named() && self.is_main() && self.name.as_deref() == Some(MESSAGE)
    }

    /// A `message` event's first argument as a Primus frame ([`Arg::into_frame`]); `None`
    /// without an argument.
    pub fn into_frame(self) -> Option<Frame> {
        self.arg.map(Arg::into_frame)
    }

    /// What an event means for a Primus session, on either side: the frame to deliver (a
    /// `message` event on `/`, [`into_frame`](Self::into_frame); `None` for other events)
    /// and the reply (the empty [`ack`] an event on `/` asks for with an id).
    ///
    /// ```
    /// use primus_core::socketio::Decoder;
    /// use primus_core::Frame;
    ///
    /// let mut decoder = Decoder::default();
    /// let packet = decoder.decode(Frame::text(r#"27["message","\"hi\""]"#)).unwrap().unwrap();
    /// assert_eq!(
    ///     packet.into_message(),
    ///     (Some(Frame::text("\"hi\"")), Some(Frame::text("37[]")))
    /// );
    /// let other = decoder.decode(Frame::text(r#"2/chat,3["message","x"]"#)).unwrap().unwrap();
    /// assert_eq!(other.into_message(), (None, None));
    /// ```
    pub fn into_message(self) -> (Option<Frame>, Option<Frame>) {
        let reply = match self.kind.named() && self.is_main() {
            true => self.id.map(ack),
            false => None,
        };
        let deliver = match self.is_message() {
            true => self.into_frame(),
            false => None,
        };
        (deliver, reply)
    }

    /// The socket id of a CONNECT answer (`0{"sid":"…"}`).
    pub fn sid(&self) -> Option<&str> {
        self.body.as_ref()?.get("sid")?.as_str()
    }

    /// What a CONNECT_ERROR says: its `message` (or the body itself when it is a string,
    /// as protocol 4 servers send it), or the JSON body.
    pub fn error_message(&self) -> String {
        match &self.body {
            Some(Json::String(s)) => s.clone(),
            Some(body) => match body.get("message") {
                Some(Json::String(s)) => s.clone(),
                _ => body.to_string(),
            },
            None => String::new(),
        }
    }
}

/// Why a message is not a Socket.IO packet we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// An empty Engine.IO message.
    #[error("empty packet")]
    Empty,
    /// The type is not `0`-`6`.
    #[error("unknown packet type {0:?}")]
    UnknownType(char),
    /// An ack id or attachment count with too many digits.
    #[error("number too long")]
    NumberTooLong,
    /// A binary packet without its `<n>-`.
    #[error("binary packet without attachment count")]
    AttachmentCount,
    /// More attachments than the one a Primus frame needs.
    #[error("{0} attachments in one packet (limit 1)")]
    TooManyAttachments(u64),
    /// A text packet where the attachment of the previous binary packet was expected.
    #[error("a packet where an attachment was expected")]
    AttachmentExpected,
    /// A binary message with no binary packet before it.
    #[error("an attachment without a binary packet")]
    UnexpectedAttachment,
    /// The data is not JSON.
    #[error("bad JSON: {0}")]
    Json(String),
    /// Event or ack data that is not an array, or an event without a string name.
    #[error("event data must be an array starting with the event name")]
    NotAnEvent,
}

/// Read leading ASCII digits (at most [`MAX_DIGITS`]).
fn digits(s: &str) -> Result<(Option<u64>, &str), DecodeError> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return Ok((None, s));
    }
    if n > MAX_DIGITS {
        return Err(DecodeError::NumberTooLong);
    }
    let value = s[..n].parse().map_err(|_| DecodeError::NumberTooLong)?;
    Ok((Some(value), &s[n..]))
}

/// Whether a JSON value is an attachment placeholder (`{"_placeholder":true,"num":0}`).
fn is_placeholder(v: &Json) -> bool {
    v.get("_placeholder") == Some(&Json::Bool(true))
}

/// Incoming Engine.IO messages to packets: a binary packet waits for its attachment.
/// Holds at most one packet.
#[derive(Debug, Default)]
pub struct Decoder {
    /// A binary packet waiting for its one attachment, and whether its first argument is
    /// that attachment's placeholder.
    pending: Option<(Packet, bool)>,
}

impl Decoder {
    /// Decode one Engine.IO message: `Ok(None)` when it is a binary packet whose
    /// attachment comes next.
    pub fn decode(&mut self, frame: Frame) -> Result<Option<Packet>, DecodeError> {
        let text = match frame {
            Frame::Binary(b) => {
                let (mut packet, placeholder) = self
                    .pending
                    .take()
                    .ok_or(DecodeError::UnexpectedAttachment)?;
                if placeholder {
                    packet.arg = Some(Arg::Binary(b));
                }
                return Ok(Some(packet));
            }
            Frame::Text(b) => b,
        };
        if self.pending.is_some() {
            return Err(DecodeError::AttachmentExpected);
        }
        // Text frames are UTF-8 by construction.
        let text = std::str::from_utf8(&text).map_err(|_| DecodeError::Empty)?;
        let first = *text.as_bytes().first().ok_or(DecodeError::Empty)?;
        let kind = Kind::from_byte(first)
            .ok_or_else(|| DecodeError::UnknownType(text.chars().next().unwrap_or('?')))?;
        let mut rest = &text[1..];
        let mut attachments = 0;
        if kind.binary() {
            let (n, after) = digits(rest)?;
            rest = after
                .strip_prefix('-')
                .ok_or(DecodeError::AttachmentCount)?;
            attachments = n.ok_or(DecodeError::AttachmentCount)?;
            if attachments > 1 {
                return Err(DecodeError::TooManyAttachments(attachments));
            }
        }
        let mut packet = Packet::new(kind);
        if rest.starts_with('/') {
            let (ns, after) = rest.split_once(',').unwrap_or((rest, ""));
            if ns != "/" {
                packet.namespace = Some(ns.to_string());
            }
            rest = after;
        }
        let (id, data) = digits(rest)?;
        packet.id = id;
        let json = |data: &str| -> Result<Option<Json>, DecodeError> {
            if data.is_empty() {
                return Ok(None);
            }
            serde_json::from_str(data)
                .map(Some)
                .map_err(|e| DecodeError::Json(e.to_string()))
        };
        let mut placeholder = false;
        match kind {
            Kind::Connect | Kind::ConnectError => packet.body = json(data)?,
            Kind::Disconnect => {}
            Kind::Event | Kind::Ack | Kind::BinaryEvent | Kind::BinaryAck => {
                let Some(Json::Array(args)) = json(data)? else {
                    return Err(DecodeError::NotAnEvent);
                };
                let mut args = args.into_iter();
                if kind.named() {
                    match args.next() {
                        Some(Json::String(name)) => packet.name = Some(name),
                        _ => return Err(DecodeError::NotAnEvent),
                    }
                }
                packet.arg = match args.next() {
                    Some(v) if attachments == 1 && is_placeholder(&v) => {
                        placeholder = true;
                        None
                    }
                    v => v.map(Arg::from),
                };
            }
        }
        if attachments == 1 {
            self.pending = Some((packet, placeholder));
            return Ok(None);
        }
        Ok(Some(packet))
    }
}

/// A Primus frame as a `message` event: the event, and for a binary frame its attachment
/// (which goes as the next Engine.IO message). Both directions use it.
pub fn encode_message(frame: Frame) -> (Frame, Option<Frame>) {
    match frame {
        Frame::Text(b) => {
            // Text frames are UTF-8 by construction.
            let text = std::str::from_utf8(&b).unwrap_or_default();
            // Written once, straight into the frame's buffer.
            let mut out = Vec::with_capacity(text.len() + 16);
            out.extend_from_slice(b"2[\"message\",");
            // Writing a string into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut out, text);
            out.push(b']');
            (Frame::Text(Bytes::from(out)), None)
        }
        Frame::Binary(b) => (
            Frame::text("51-[\"message\",{\"_placeholder\":true,\"num\":0}]"),
            Some(Frame::Binary(b)),
        ),
    }
}

/// The client's CONNECT to the main namespace, with its `auth` payload (a JSON object).
pub fn connect(auth: Option<&serde_json::Map<String, Json>>) -> Frame {
    match auth {
        Some(auth) => Frame::text(format!(
            "0{}",
            serde_json::to_string(auth).unwrap_or_default()
        )),
        None => Frame::text("0"),
    }
}

/// The server's answer to a CONNECT to the main namespace: the socket id.
pub fn connect_reply(sid: &str) -> Frame {
    Frame::text(format!(
        "0{{\"sid\":{}}}",
        serde_json::to_string(sid).unwrap_or_default()
    ))
}

/// CONNECT_ERROR for a namespace (`None`: the main one), with its message.
pub fn connect_error(namespace: Option<&str>, message: &str) -> Frame {
    let message = serde_json::to_string(message).unwrap_or_default();
    Frame::text(match namespace {
        Some(ns) => format!("4{ns},{{\"message\":{message}}}"),
        None => format!("4{{\"message\":{message}}}"),
    })
}

/// DISCONNECT from the main namespace.
pub fn disconnect() -> Frame {
    Frame::text("1")
}

/// An empty ack answering event `id`.
pub fn ack(id: u64) -> Frame {
    Frame::text(format!("3{id}[]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(d: &mut Decoder, text: &str) -> Result<Option<Packet>, DecodeError> {
        d.decode(Frame::text(text))
    }

    #[test]
    fn headers_namespaces_ids_and_bodies() {
        let mut d = Decoder::default();
        let p = decode(&mut d, "0").unwrap().unwrap();
        assert_eq!((p.kind, p.is_main(), p.body), (Kind::Connect, true, None));
        let p = decode(&mut d, "0{\"token\":1}").unwrap().unwrap();
        assert_eq!(p.body, Some(serde_json::json!({"token": 1})));
        let p = decode(&mut d, "0{\"sid\":\"a\\\"b\"}").unwrap().unwrap();
        assert_eq!(p.sid(), Some("a\"b"));
        let p = decode(&mut d, "0/chat,").unwrap().unwrap();
        assert_eq!(p.namespace.as_deref(), Some("/chat"));
        let p = decode(&mut d, "0/,").unwrap().unwrap();
        assert!(p.is_main());
        let p = decode(&mut d, "4/chat,{\"message\":\"Invalid namespace\"}")
            .unwrap()
            .unwrap();
        assert_eq!(p.error_message(), "Invalid namespace");
        let p = decode(&mut d, "4\"plain\"").unwrap().unwrap();
        assert_eq!(p.error_message(), "plain");
        let p = decode(&mut d, "212[\"message\",{\"a\":1}]")
            .unwrap()
            .unwrap();
        assert_eq!(p.id, Some(12));
        assert!(p.is_message());
        assert_eq!(p.into_frame(), Some(Frame::text("{\"a\":1}")));
        let p = decode(&mut d, "2/x,[\"message\",\"t\"]").unwrap().unwrap();
        assert!(!p.is_message());
        let p = decode(&mut d, "2[\"other\",\"t\"]").unwrap().unwrap();
        assert!(!p.is_message());
        let p = decode(&mut d, "37[]").unwrap().unwrap();
        assert_eq!((p.kind, p.id, p.arg.clone()), (Kind::Ack, Some(7), None));
        // An ack's id is the one it answers: nothing to send back.
        assert_eq!(p.into_message(), (None, None));
        let p = decode(&mut d, "24[\"other\",1]").unwrap().unwrap();
        assert_eq!(p.into_message(), (None, Some(Frame::text("34[]"))));
        let p = decode(&mut d, "2[\"message\"]").unwrap().unwrap();
        assert_eq!(p.into_message(), (None, None));
        assert_eq!(decode(&mut d, "1").unwrap().unwrap().kind, Kind::Disconnect);
    }

    #[test]
    fn bad_packets_are_typed_errors() {
        let mut d = Decoder::default();
        assert_eq!(decode(&mut d, ""), Err(DecodeError::Empty));
        assert_eq!(decode(&mut d, "9"), Err(DecodeError::UnknownType('9')));
        assert_eq!(decode(&mut d, "é"), Err(DecodeError::UnknownType('é')));
        assert_eq!(decode(&mut d, "2{}"), Err(DecodeError::NotAnEvent));
        assert_eq!(decode(&mut d, "2[1]"), Err(DecodeError::NotAnEvent));
        assert_eq!(decode(&mut d, "2"), Err(DecodeError::NotAnEvent));
        assert!(matches!(decode(&mut d, "2[x"), Err(DecodeError::Json(_))));
        assert_eq!(
            decode(&mut d, "21234567890123456[\"message\"]"),
            Err(DecodeError::NumberTooLong)
        );
        assert_eq!(
            decode(&mut d, "5[\"message\"]"),
            Err(DecodeError::AttachmentCount)
        );
        assert_eq!(
            decode(&mut d, "52-[\"message\",{},{}]"),
            Err(DecodeError::TooManyAttachments(2))
        );
        assert_eq!(
            d.decode(Frame::binary(vec![1u8])),
            Err(DecodeError::UnexpectedAttachment)
        );
    }

    #[test]
    fn binary_packets_take_their_one_attachment() {
        let mut d = Decoder::default();
        let head = "51-[\"message\",{\"_placeholder\":true,\"num\":0}]";
        assert_eq!(decode(&mut d, head), Ok(None));
        assert_eq!(
            decode(&mut d, "2[\"message\",\"x\"]"),
            Err(DecodeError::AttachmentExpected)
        );
        let mut d = Decoder::default();
        assert_eq!(
            decode(
                &mut d,
                "51-/x,3[\"message\",{\"_placeholder\":true,\"num\":0}]"
            ),
            Ok(None)
        );
        let p = d.decode(Frame::binary(vec![1u8, 2])).unwrap().unwrap();
        assert_eq!((p.namespace.as_deref(), p.id), (Some("/x"), Some(3)));
        assert_eq!(p.arg, Some(Arg::Binary(Bytes::from_static(&[1, 2]))));
        // The attachment stands for another argument: the first one stays.
        assert_eq!(
            decode(
                &mut d,
                "51-[\"message\",\"t\",{\"_placeholder\":true,\"num\":0}]"
            ),
            Ok(None)
        );
        let p = d.decode(Frame::binary(vec![3u8])).unwrap().unwrap();
        assert_eq!(p.into_frame(), Some(Frame::text("t")));
        // No attachment: an ordinary event.
        let p = decode(&mut d, "50-[\"message\",\"u\"]").unwrap().unwrap();
        assert_eq!(p.kind, Kind::BinaryEvent);
        assert_eq!(p.into_frame(), Some(Frame::text("u")));
        let p = decode(&mut d, "6[{\"_placeholder\":true,\"num\":0}]");
        assert!(matches!(p, Err(DecodeError::AttachmentCount)));
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(
            text in "[0-6]?[0-9]{0,3}-?/?[a-z,]{0,3}[0-9]{0,3}.{0,48}",
            bytes in proptest::collection::vec(0u8..=255, 0..8),
        ) {
            let mut d = Decoder::default();
            let _ = d.decode(Frame::text(text.clone()));
            let _ = d.decode(Frame::binary(bytes));
            let _ = d.decode(Frame::text(text));
        }

        #[test]
        fn messages_round_trip(text in ".{0,64}", bin in proptest::collection::vec(0u8..=255, 0..32)) {
            let mut d = Decoder::default();
            for frame in [Frame::text(text), Frame::binary(bin)] {
                let (event, attachment) = encode_message(frame.clone());
                let mut got = d.decode(event).unwrap();
                if let Some(a) = attachment {
                    proptest::prop_assert!(got.is_none());
                    got = d.decode(a).unwrap();
                }
                let packet = got.unwrap();
                proptest::prop_assert!(packet.is_message());
                proptest::prop_assert_eq!(packet.into_frame(), Some(frame));
            }
        }
    }

    #[test]
    fn encoders() {
        let (event, none) = encode_message(Frame::text("\"a\\\"b\""));
        assert_eq!(event, Frame::text("2[\"message\",\"\\\"a\\\\\\\"b\\\"\"]"));
        assert!(none.is_none());
        let mut d = Decoder::default();
        assert_eq!(
            decode(&mut d, "2[\"message\",\"\\\"a\\\\\\\"b\\\"\"]")
                .unwrap()
                .unwrap()
                .into_frame(),
            Some(Frame::text("\"a\\\"b\""))
        );
        assert_eq!(connect(None), Frame::text("0"));
        let auth = serde_json::json!({"token": "t"});
        assert_eq!(connect(auth.as_object()), Frame::text("0{\"token\":\"t\"}"));
        assert_eq!(connect_reply("x\"y"), Frame::text("0{\"sid\":\"x\\\"y\"}"));
        assert_eq!(
            connect_error(Some("/chat"), "Invalid namespace"),
            Frame::text("4/chat,{\"message\":\"Invalid namespace\"}")
        );
        assert_eq!(
            connect_error(None, "no"),
            Frame::text("4{\"message\":\"no\"}")
        );
        assert_eq!(disconnect(), Frame::text("1"));
        assert_eq!(ack(12), Frame::text("312[]"));
    }
}
