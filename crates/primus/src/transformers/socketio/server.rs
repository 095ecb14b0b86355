//! The `socket.io` server half: [`Server`] routes a request to the Socket.IO 0.9 server
//! ([`legacy`](super::legacy)) or to the engine.io server, and the Socket.IO protocol 5
//! framing that the engine.io server applies to a `socket.io` session (see the
//! [module docs](super)).

use bytes::Bytes;
use primus_core::Frame;
use serde_json::Value as Json;

/// The `socket.io` transformer's server half: requests under `<pathname>/1` (the
/// Socket.IO 0.9 protocol segment) go to the 0.9 server, everything else to the Engine.IO
/// server with Socket.IO protocol 5 framing.
#[cfg(feature = "socketio")]
#[derive(Debug)]
pub(crate) struct Server {
    /// Socket.IO protocol 5 on Engine.IO.
    pub(crate) engine: crate::transformers::engineio::server::Server,
    /// Socket.IO 0.9.
    pub(crate) legacy: super::legacy::server::Server,
}

#[cfg(feature = "socketio")]
impl Server {
    pub(crate) fn new(options: &crate::Options) -> Result<Self, crate::PrimusError> {
        use crate::transformers::engineio::server as engineio;
        Ok(Server {
            engine: engineio::Server::with_framing(options, engineio::FramingKind::SocketIo),
            legacy: super::legacy::server::Server::new(options)?,
        })
    }

    pub(crate) async fn handle(
        &self,
        server: &std::sync::Arc<crate::server::Inner>,
        req: crate::service::HttpRequest,
    ) -> crate::service::HttpResponse {
        let rest = req.uri().path().get(server.pathname.len()..).unwrap_or("");
        if super::legacy::server::owns(rest) {
            self.legacy.handle(server, req).await
        } else {
            self.engine.handle(server, req).await
        }
    }
}

/// The longest ack id or attachment count accepted, in digits.
const MAX_DIGITS: usize = 15;

/// What one incoming Engine.IO message asks of the session.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// The client connected to the main namespace: answer, release queued frames.
    pub(crate) connect: bool,
    /// A frame for the spark.
    pub(crate) deliver: Option<Frame>,
    /// A Socket.IO packet to send back (ack, CONNECT_ERROR), after the delivery.
    pub(crate) reply: Option<Frame>,
    /// The client left the main namespace: the spark ends.
    pub(crate) disconnect: bool,
}

impl Incoming {
    /// A frame for the spark and nothing else (plain Engine.IO framing).
    pub(crate) fn deliver(frame: Frame) -> Self {
        Incoming {
            deliver: Some(frame),
            ..Default::default()
        }
    }
}

/// A binary event waiting for its attachment.
#[derive(Debug)]
struct Pending {
    /// The attachment is a `message` for the spark (otherwise it is dropped).
    message: bool,
    ack: Option<u64>,
}

/// The incoming half of a session's Socket.IO state.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    connected: bool,
    pending: Option<Pending>,
}

/// The answer to a CONNECT to the main namespace.
pub(crate) fn connect_reply(sid: &str) -> Frame {
    Frame::text(format!(
        "0{{\"sid\":{}}}",
        serde_json::to_string(sid).unwrap_or_default()
    ))
}

/// DISCONNECT from the main namespace.
pub(crate) fn disconnect() -> Frame {
    Frame::text("1")
}

/// A Primus frame as Socket.IO: one event, and for binary its attachment.
pub(crate) fn encode(frame: Frame) -> (Frame, Option<Frame>) {
    match frame {
        Frame::Text(b) => {
            let text = std::str::from_utf8(&b).unwrap_or_default();
            let arg = serde_json::to_string(text).unwrap_or_default();
            (Frame::text(format!("2[\"message\",{arg}]")), None)
        }
        Frame::Binary(b) => (
            Frame::text("51-[\"message\",{\"_placeholder\":true,\"num\":0}]"),
            Some(Frame::Binary(b)),
        ),
    }
}

/// Read leading ASCII digits (at most [`MAX_DIGITS`]).
fn digits(s: &str) -> Result<(Option<u64>, &str), String> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return Ok((None, s));
    }
    if n > MAX_DIGITS {
        return Err("number too long".into());
    }
    let value = s[..n].parse().map_err(|_| "bad number".to_string())?;
    Ok((Some(value), &s[n..]))
}

impl Inbound {
    /// Decode one Engine.IO message from the client.
    pub(crate) fn decode(&mut self, frame: Frame) -> Result<Incoming, String> {
        let text = match frame {
            Frame::Binary(b) => return self.attachment(b),
            Frame::Text(b) => b,
        };
        if self.pending.is_some() {
            return Err("a packet where an attachment was expected".into());
        }
        let text = std::str::from_utf8(&text).map_err(|_| "not UTF-8".to_string())?;
        let kind = text.bytes().next().ok_or("empty packet")?;
        let mut rest = &text[1..];
        let mut attachments = None;
        if matches!(kind, b'5' | b'6') {
            let (n, after) = digits(rest)?;
            rest = after
                .strip_prefix('-')
                .ok_or("binary packet without attachment count")?;
            attachments = Some(n.ok_or("binary packet without attachment count")?);
        }
        let mut namespace = "/";
        if rest.starts_with('/') {
            let (ns, after) = rest.split_once(',').unwrap_or((rest, ""));
            namespace = ns;
            rest = after;
        }
        let (ack, data) = digits(rest)?;
        let main = namespace == "/";
        match kind {
            b'0' if main => {
                self.connected = true;
                Ok(Incoming {
                    connect: true,
                    ..Default::default()
                })
            }
            b'0' => Ok(Incoming {
                reply: Some(Frame::text(format!(
                    "4{namespace},{{\"message\":\"Invalid namespace\"}}"
                ))),
                ..Default::default()
            }),
            b'1' if main => Ok(Incoming {
                disconnect: true,
                ..Default::default()
            }),
            // Other namespaces, acks from the client: nothing to do.
            b'1' | b'3' => Ok(Incoming::default()),
            b'2' | b'5' if !self.connected => Err("an event before CONNECT".into()),
            b'2' | b'5' | b'6' => {
                let args: Json = serde_json::from_str(data).map_err(|e| e.to_string())?;
                let mut args = match args {
                    Json::Array(a) => a.into_iter(),
                    _ => return Err("event data is not an array".into()),
                };
                let name = match (kind, args.next()) {
                    (b'6', _) => None,
                    (_, Some(Json::String(name))) => Some(name),
                    _ => return Err("event without a name".into()),
                };
                let message = main && name.as_deref() == Some("message");
                if !message && kind != b'6' {
                    tracing::debug!(?name, namespace, "Socket.IO event ignored");
                }
                if let Some(n) = attachments {
                    match n {
                        0 => {}
                        1 => {
                            self.pending = Some(Pending { message, ack });
                            return Ok(Incoming::default());
                        }
                        _ => return Err(format!("{n} attachments in one event (limit 1)")),
                    }
                }
                let deliver = match args.next() {
                    Some(_) if !message => None,
                    Some(Json::String(s)) => Some(Frame::text(s)),
                    Some(other) => Some(Frame::text(other.to_string())),
                    None => None,
                };
                Ok(Incoming {
                    deliver,
                    reply: ack.filter(|_| main && kind != b'6').map(ack_reply),
                    ..Default::default()
                })
            }
            other => Err(format!(
                "unexpected Socket.IO packet type {:?}",
                other as char
            )),
        }
    }

    fn attachment(&mut self, bytes: Bytes) -> Result<Incoming, String> {
        let pending = self
            .pending
            .take()
            .ok_or("an attachment without a binary event")?;
        Ok(Incoming {
            deliver: pending.message.then_some(Frame::Binary(bytes)),
            reply: pending.ack.map(ack_reply),
            ..Default::default()
        })
    }
}

fn ack_reply(id: u64) -> Frame {
    Frame::text(format!("3{id}[]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(state: &mut Inbound, text: &str) -> Result<Incoming, String> {
        state.decode(Frame::text(text))
    }

    #[test]
    fn connect_events_and_acks() {
        let mut s = Inbound::default();
        assert!(decode(&mut s, "2[\"message\",\"x\"]").is_err());
        assert!(decode(&mut s, "0").unwrap().connect);
        assert!(decode(&mut s, "0{\"token\":1}").unwrap().connect);
        let got = decode(&mut s, "2[\"message\",\"\\\"hi\\\"\"]").unwrap();
        assert_eq!(got.deliver, Some(Frame::text("\"hi\"")));
        let got = decode(&mut s, "212[\"message\",{\"a\":1}]").unwrap();
        assert_eq!(got.deliver, Some(Frame::text("{\"a\":1}")));
        assert_eq!(got.reply, Some(Frame::text("312[]")));
        assert_eq!(
            decode(&mut s, "2[\"other\",1]").unwrap(),
            Incoming::default()
        );
        assert_eq!(
            decode(&mut s, "0/chat,").unwrap().reply,
            Some(Frame::text("4/chat,{\"message\":\"Invalid namespace\"}"))
        );
        assert!(decode(&mut s, "1").unwrap().disconnect);
        assert!(!decode(&mut s, "1/chat,").unwrap().disconnect);
        assert!(decode(&mut s, "2{}").is_err());
        assert!(decode(&mut s, "4{}").is_err());
        assert!(decode(&mut s, "21234567890123456[\"message\"]").is_err());
    }

    #[test]
    fn binary_events_carry_one_attachment() {
        let mut s = Inbound::default();
        decode(&mut s, "0").unwrap();
        let head = "51-[\"message\",{\"_placeholder\":true,\"num\":0}]";
        assert_eq!(decode(&mut s, head).unwrap(), Incoming::default());
        assert!(decode(&mut s, "2[\"message\",\"x\"]").is_err());
        let mut s = Inbound::default();
        decode(&mut s, "0").unwrap();
        decode(&mut s, head).unwrap();
        let got = s.decode(Frame::binary(vec![1u8, 2])).unwrap();
        assert_eq!(got.deliver, Some(Frame::binary(vec![1u8, 2])));
        assert!(s.decode(Frame::binary(vec![3u8])).is_err());
        assert!(decode(&mut s, "52-[\"message\",{},{}]").is_err());
        let (event, attachment) = encode(Frame::binary(vec![7u8]));
        assert_eq!(event, Frame::text(head));
        assert_eq!(attachment, Some(Frame::binary(vec![7u8])));
        let (event, none) = encode(Frame::text("\"a\\\"b\""));
        assert_eq!(event, Frame::text("2[\"message\",\"\\\"a\\\\\\\"b\\\"\"]"));
        assert!(none.is_none());
        assert_eq!(connect_reply("x\"y"), Frame::text("0{\"sid\":\"x\\\"y\"}"));
    }
}
