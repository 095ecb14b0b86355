//! The `socket.io` server half: [`Server`] routes a request to the Socket.IO 0.9 server
//! ([`legacy`](super::legacy)) or to the engine.io server, and the Socket.IO protocol 5
//! framing that the engine.io server applies to a `socket.io` session (see the
//! [module docs](super)). The protocol 5 packet codec is [`primus_core::socketio`]; the
//! client half shares it, [`Incoming`] and [`event`] with this one.

use primus_core::socketio::{self, Decoder, Kind, Packet};
use primus_core::Frame;

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
        match super::legacy::server::route(rest) {
            Some(route) => self.legacy.handle(server, req, route).await,
            None => self.engine.handle(server, req).await,
        }
    }
}

pub(crate) use primus_core::socketio::{connect_reply, disconnect, encode_message};

/// What one incoming Engine.IO message asks of the session, on either side (the server's
/// and the client's engine.io halves).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// The peer joined the main namespace (the client's CONNECT, the server's answer to
    /// it): the server answers and releases queued frames; the client's connection opens.
    pub(crate) connect: bool,
    /// A frame for the spark or the application.
    pub(crate) deliver: Option<Frame>,
    /// A message to send back (ack, CONNECT_ERROR), after the delivery.
    pub(crate) reply: Option<Frame>,
    /// The peer left the main namespace (DISCONNECT): the session ends like a close.
    pub(crate) disconnect: bool,
}

impl Incoming {
    /// A frame to deliver and nothing else (plain Engine.IO framing).
    pub(crate) fn deliver(frame: Frame) -> Self {
        Incoming {
            deliver: Some(frame),
            ..Default::default()
        }
    }
}

/// An event (`Event` or `BinaryEvent` packet) on either side: refused before the session
/// joined `/`; otherwise what [`Packet::into_message`] makes of it, events other than
/// `message` ignored (debug log).
pub(crate) fn event(packet: Packet, connected: bool) -> Result<Incoming, &'static str> {
    if !connected {
        return Err("an event before CONNECT");
    }
    if !packet.is_message() {
        tracing::debug!(name = ?packet.name, namespace = ?packet.namespace, "Socket.IO event ignored");
    }
    let (deliver, reply) = packet.into_message();
    Ok(Incoming {
        deliver,
        reply,
        ..Default::default()
    })
}

/// The incoming half of a session's Socket.IO state.
#[derive(Debug, Default)]
pub(crate) struct Inbound {
    connected: bool,
    /// Holds a binary event until its attachment comes.
    decoder: Decoder,
}

impl Inbound {
    /// Decode one Engine.IO message from the client.
    pub(crate) fn decode(&mut self, frame: Frame) -> Result<Incoming, String> {
        let Some(packet) = self.decoder.decode(frame).map_err(|e| e.to_string())? else {
            // A binary event waiting for its attachment.
            return Ok(Incoming::default());
        };
        match packet.kind {
            Kind::Connect if packet.is_main() => {
                self.connected = true;
                Ok(Incoming {
                    connect: true,
                    ..Default::default()
                })
            }
            Kind::Connect => Ok(Incoming {
                reply: Some(socketio::connect_error(
                    packet.namespace.as_deref(),
                    "Invalid namespace",
                )),
                ..Default::default()
            }),
            Kind::Disconnect => Ok(Incoming {
                disconnect: packet.is_main(),
                ..Default::default()
            }),
            // Acks from the client: nothing to do.
            Kind::Ack | Kind::BinaryAck => Ok(Incoming::default()),
            Kind::Event | Kind::BinaryEvent => event(packet, self.connected).map_err(String::from),
            Kind::ConnectError => Err("CONNECT_ERROR from a client".into()),
        }
    }
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
        assert_eq!(decode(&mut s, "31[]").unwrap(), Incoming::default());
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
        decode(
            &mut s,
            "51-3[\"message\",{\"_placeholder\":true,\"num\":0}]",
        )
        .unwrap();
        let got = s.decode(Frame::binary(vec![1u8, 2])).unwrap();
        assert_eq!(got.deliver, Some(Frame::binary(vec![1u8, 2])));
        assert_eq!(got.reply, Some(Frame::text("33[]")));
        assert!(s.decode(Frame::binary(vec![3u8])).is_err());
        assert!(decode(&mut s, "52-[\"message\",{},{}]").is_err());
    }
}
