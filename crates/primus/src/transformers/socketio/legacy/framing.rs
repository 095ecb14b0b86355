//! What Socket.IO 0.9 packets mean for a spark, on either transport, and the WebSocket
//! engine's [`Framing`] for them (see the [module docs](super)).

use super::SocketIo09Options;
use crate::error::SparkError;
use crate::transformers::websockets::server::{Framing, Received, Refusal};
use bytes::Bytes;
use primus_core::socketio::Arg;
use primus_core::socketio09::{AckRequest, ErrorReason, Packet, PacketType};
use primus_core::Frame;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What one packet from the client asks of the session.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Incoming {
    /// A frame for the spark.
    pub(super) deliver: Option<Frame>,
    /// A packet to send back (acknowledgement, refused endpoint), after the delivery.
    pub(super) reply: Option<String>,
    /// A heartbeat answer.
    pub(super) heartbeat: bool,
    /// The client left (`0::`).
    pub(super) disconnect: bool,
}

/// Why a packet from the client ends the session.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Bad {
    /// The frame it carries is over `max_length`.
    TooLarge,
    /// Not a Socket.IO 0.9 packet, or one that makes no sense.
    Packet(String),
}

impl Bad {
    /// The spark error it is reported as.
    pub(super) fn error(&self, max_length: usize) -> SparkError {
        match self {
            Bad::TooLarge => SparkError::MaxLength { limit: max_length },
            Bad::Packet(why) => SparkError::Transport(format!("bad Socket.IO 0.9 packet: {why}")),
        }
    }
}

/// The connect packet (`1::`), sent when the first transport request arrives.
pub(super) fn connect() -> String {
    Packet::new(PacketType::Connect).encode()
}

/// The disconnect packet (`0::`).
pub(super) fn disconnect() -> String {
    Packet::new(PacketType::Disconnect).encode()
}

/// The noop (`8::`) that ends a poll with no news.
pub(super) fn noop() -> String {
    Packet::new(PacketType::Noop).encode()
}

/// `7:::1+0`: the session id is unknown, handshake again.
pub(super) fn not_handshaken() -> String {
    use primus_core::socketio09::ErrorAdvice;
    Packet::error(
        ErrorReason::ClientNotHandshaken,
        Some(ErrorAdvice::Reconnect),
    )
    .encode()
}

/// A Primus frame as a message packet; `None` for binary, which Socket.IO 0.9 cannot
/// carry.
pub(super) fn message(frame: &Frame) -> Option<Packet<'_>> {
    match frame {
        Frame::Text(b) => {
            // Text frames are UTF-8 by construction.
            let text = std::str::from_utf8(b).unwrap_or_default();
            Some(Packet::message(text))
        }
        Frame::Binary(_) => {
            tracing::debug!("binary frame not sent: Socket.IO 0.9 carries text only");
            None
        }
    }
}

/// [`message`], encoded.
pub(super) fn encode(frame: &Frame) -> Option<String> {
    message(frame).map(|packet| packet.encode())
}

/// `text` as a text frame: a slice of `source` when it lies in it, else a copy.
fn text_in(source: &Bytes, text: &str) -> Frame {
    let outer = source.as_ptr_range();
    let inner = text.as_bytes().as_ptr_range();
    if outer.start <= inner.start && inner.end <= outer.end {
        Frame::Text(source.slice_ref(text.as_bytes()))
    } else {
        Frame::text(text)
    }
}

/// Decode one packet from the client and decide what it asks for. `text` is a slice of
/// `source` (the message or POST body it came in) when it can be: message data then
/// reaches the spark without a copy.
pub(super) fn incoming(source: &Bytes, text: &str, max_length: usize) -> Result<Incoming, Bad> {
    let packet = Packet::decode(text).map_err(|e| Bad::Packet(e.to_string()))?;
    let main = packet.endpoint.is_empty();
    let mut out = Incoming::default();
    match packet.kind {
        PacketType::Heartbeat => out.heartbeat = true,
        PacketType::Disconnect if main => out.disconnect = true,
        PacketType::Connect if !main => {
            // Other endpoints are not served: refused as socket.io-client understands it.
            out.reply = Some(
                Packet::error(ErrorReason::Unauthorized, None)
                    .on(packet.endpoint)
                    .encode(),
            );
        }
        PacketType::Message | PacketType::Json if main => {
            out.deliver = Some(text_in(source, &packet.data));
        }
        PacketType::Event if main => {
            let event = packet
                .event_data()
                .map_err(|e| Bad::Packet(e.to_string()))?;
            if event.name == "message" {
                // As a protocol 5 `message` event's argument: a string as it is, anything
                // else as JSON text.
                out.deliver = event
                    .args
                    .into_iter()
                    .next()
                    .map(|arg| Arg::from(arg).into_frame());
            } else {
                tracing::debug!(name = %event.name, "Socket.IO 0.9 event ignored");
            }
        }
        // Acks of ours (we ask for none), errors, noops, a connect to the main endpoint
        // (we sent ours), packets for other endpoints: nothing to do.
        _ => {
            if !main {
                tracing::debug!(
                    endpoint = packet.endpoint,
                    "Socket.IO 0.9 endpoint not served"
                );
            }
            return Ok(out);
        }
    }
    if out
        .deliver
        .as_ref()
        .is_some_and(|f| f.as_bytes().len() > max_length)
    {
        return Err(Bad::TooLarge);
    }
    if matches!(
        packet.kind,
        PacketType::Message | PacketType::Json | PacketType::Event
    ) {
        out.reply = packet.ack.map(|ack| match ack {
            AckRequest::Auto(id) => Packet::ack_of(id, None).encode(),
            AckRequest::Data(id) => Packet::ack_of(id, Some("[]")).encode(),
        });
    }
    Ok(out)
}

/// The WebSocket transport's framing: `1::` first, frames as `3:::` messages, packets from
/// the client through [`incoming`], heartbeats, `0::` last.
pub(super) struct WsFraming {
    max_length: usize,
    interval: std::time::Duration,
    timeout: std::time::Duration,
    /// When the next heartbeat goes out.
    next_heartbeat: Instant,
    /// While a heartbeat waits for an answer: when the client is given up.
    deadline: Option<Instant>,
}

impl WsFraming {
    pub(super) fn new(settings: &SocketIo09Options, max_length: usize) -> Self {
        WsFraming {
            max_length,
            interval: settings.heartbeat_interval,
            timeout: settings.heartbeat_timeout,
            next_heartbeat: Instant::now() + settings.heartbeat_interval,
            deadline: None,
        }
    }
}

impl Framing for WsFraming {
    fn greeting(&mut self) -> Option<WsMessage> {
        Some(WsMessage::text(connect()))
    }

    fn outgoing(&mut self, frame: Frame) -> Option<WsMessage> {
        encode(&frame).map(WsMessage::text)
    }

    fn incoming(&mut self, frame: Frame) -> Result<Received, Refusal> {
        let Frame::Text(bytes) = frame else {
            return Err(Refusal {
                code: 1003,
                reason: "Socket.IO 0.9 carries text only",
                error: SparkError::Transport(
                    "a binary message on a Socket.IO 0.9 connection".into(),
                ),
            });
        };
        // The engine hands over text messages only once they are valid UTF-8.
        let text = std::str::from_utf8(&bytes).unwrap_or_default();
        let got = incoming(&bytes, text, self.max_length).map_err(|bad| Refusal {
            code: if bad == Bad::TooLarge { 1009 } else { 1002 },
            reason: if bad == Bad::TooLarge {
                "Max payload size exceeded"
            } else {
                "Protocol error"
            },
            error: bad.error(self.max_length),
        })?;
        self.alive(Instant::now());
        Ok(Received {
            deliver: got.deliver,
            reply: got.reply.map(WsMessage::text),
            alive: got.heartbeat,
            end: got.disconnect,
        })
    }

    fn next_tick(&self) -> Option<Instant> {
        Some(self.deadline.unwrap_or(self.next_heartbeat))
    }

    fn tick(&mut self) -> Result<Option<WsMessage>, SparkError> {
        self.tick_at(Instant::now())
    }

    fn farewell(&mut self) -> Option<WsMessage> {
        Some(WsMessage::text(disconnect()))
    }
}

impl WsFraming {
    /// Any packet is a sign of life: it answers the heartbeat outstanding, if any, and the
    /// next one goes an interval later. Without one outstanding the schedule stays:
    /// socket.io-client 0.9 counts only what it receives as life, so a client that keeps
    /// sending must still be sent `2::` every interval.
    fn alive(&mut self, now: Instant) {
        if self.deadline.take().is_some() {
            self.next_heartbeat = now + self.interval;
        }
    }

    /// [`Framing::tick`] at `now`.
    fn tick_at(&mut self, now: Instant) -> Result<Option<WsMessage>, SparkError> {
        match self.deadline {
            Some(deadline) if now >= deadline => Err(SparkError::Transport(format!(
                "no Socket.IO 0.9 heartbeat answer within {:?}",
                self.timeout
            ))),
            Some(_) => Ok(None),
            None if now >= self.next_heartbeat => {
                self.deadline = Some(now + self.timeout);
                Ok(Some(WsMessage::text(
                    Packet::new(PacketType::Heartbeat).encode(),
                )))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Incoming {
        incoming(&Bytes::new(), text, 100).unwrap_or_else(|e| panic!("{text}: {e:?}"))
    }

    #[test]
    fn message_data_shares_the_buffer_it_came_in() {
        let source = Bytes::from_static(b"3:::\"hi\"");
        let text = std::str::from_utf8(&source).unwrap();
        let frame = incoming(&source, text, 100).unwrap().deliver.unwrap();
        assert_eq!(frame, Frame::text("\"hi\""));
        assert_eq!(frame.as_bytes().as_ptr(), source[4..].as_ptr());
        // Text from elsewhere (a jsonp form field, say) is copied.
        let other = String::from("3:::x");
        let frame = incoming(&source, &other, 100).unwrap().deliver.unwrap();
        assert_eq!(frame, Frame::text("x"));
    }

    #[test]
    fn packets_from_the_client() {
        assert_eq!(ok("3:::\"hi\"").deliver, Some(Frame::text("\"hi\"")));
        assert_eq!(ok("4:::{\"a\":1}").deliver, Some(Frame::text("{\"a\":1}")));
        let got = ok("3:5::x");
        assert_eq!(
            (got.deliver, got.reply.as_deref()),
            (Some(Frame::text("x")), Some("6:::5"))
        );
        let got = ok(r#"5:6+::{"name":"message","args":["\"s\"",2]}"#);
        assert_eq!(
            (got.deliver, got.reply.as_deref()),
            (Some(Frame::text("\"s\"")), Some("6:::6+[]"))
        );
        assert_eq!(
            ok(r#"5:::{"name":"message","args":[{"a":[1]}]}"#).deliver,
            Some(Frame::text("{\"a\":[1]}"))
        );
        assert_eq!(ok(r#"5:::{"name":"message"}"#), Incoming::default());
        assert_eq!(
            ok(r#"5:::{"name":"other","args":[1]}"#),
            Incoming::default()
        );
        assert!(ok("2::").heartbeat);
        assert!(ok("0::").disconnect);
        assert!(!ok("0::/chat").disconnect);
        assert_eq!(ok("1::/chat").reply.as_deref(), Some("7::/chat:2"));
        assert_eq!(ok("1::"), Incoming::default());
        assert_eq!(
            ok("3:::/x:y"),
            Incoming {
                deliver: Some(Frame::text("/x:y")),
                ..Default::default()
            }
        );
        assert_eq!(ok("3::/chat:y"), Incoming::default());
        assert_eq!(ok("6:::1+[]"), Incoming::default());
        assert_eq!(ok("8::"), Incoming::default());
    }

    #[test]
    fn bad_packets_and_large_frames_end_the_session() {
        let incoming = |text: &str, max| incoming(&Bytes::new(), text, max);
        assert_eq!(
            incoming(&format!("3:::{}", "x".repeat(101)), 100),
            Err(Bad::TooLarge)
        );
        assert!(incoming(&format!("3:::{}", "x".repeat(100)), 100).is_ok());
        assert!(matches!(incoming("hello", 100), Err(Bad::Packet(_))));
        assert!(matches!(
            incoming("5:::{\"args\":[]}", 100),
            Err(Bad::Packet(_))
        ));
        assert!(matches!(
            incoming("9::", 100).unwrap_err().error(100),
            SparkError::Transport(m) if m.contains("unknown packet type")
        ));
    }

    #[test]
    fn frames_out() {
        assert_eq!(
            encode(&Frame::text("\"a:b\"")).as_deref(),
            Some("3:::\"a:b\"")
        );
        assert_eq!(encode(&Frame::binary(vec![1u8])), None);
        assert_eq!(
            (connect(), disconnect(), noop(), not_handshaken()),
            ("1::".into(), "0::".into(), "8::".into(), "7:::1+0".into())
        );
    }

    #[test]
    fn heartbeats_go_out_and_time_out() {
        let ms = std::time::Duration::from_millis;
        let settings = SocketIo09Options::default().heartbeat(ms(100), ms(300));
        let mut f = WsFraming::new(&settings, 100);
        let start = f.next_heartbeat - ms(100);
        assert_eq!(f.next_tick(), Some(start + ms(100)));
        assert!(f.tick_at(start + ms(99)).unwrap().is_none());
        assert_eq!(
            f.tick_at(start + ms(100)).unwrap(),
            Some(WsMessage::text("2::"))
        );
        assert_eq!(f.next_tick(), Some(start + ms(400)));
        assert!(f.tick_at(start + ms(399)).unwrap().is_none());
        // The answer: the next heartbeat is an interval later.
        f.alive(start + ms(150));
        assert_eq!(f.next_tick(), Some(start + ms(250)));
        assert!(f.tick_at(start + ms(250)).unwrap().is_some());
        assert!(f.tick_at(start + ms(550)).is_err());
        // A packet with no heartbeat outstanding keeps the schedule.
        let mut f = WsFraming::new(&settings, 100);
        let start = f.next_heartbeat - ms(100);
        f.alive(start + ms(50));
        assert_eq!(f.next_tick(), Some(start + ms(100)));
        assert!(f.tick_at(start + ms(100)).unwrap().is_some());
        assert!(f.incoming(Frame::text("2::")).unwrap().alive);
        assert!(f.incoming(Frame::binary(vec![1u8])).is_err());
        assert!(f.incoming(Frame::text("nope")).is_err());
    }
}
