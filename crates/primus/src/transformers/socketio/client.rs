//! Client half of the `socket.io` transformer: the Rust [`Client`](crate::client::Client)
//! speaking Socket.IO protocol 5, to our server or to a Socket.IO 4 server.
//!
//! It is the [`engine.io` client](crate::transformers::engineio::client) (polling, the
//! WebSocket upgrade, polling-only and WebSocket-only modes, all from
//! [`TransportOptions::engineio`](crate::client::TransportOptions::engineio)) with
//! Socket.IO framing:
//!
//! - after the Engine.IO open it sends CONNECT to the main namespace, `0` or
//!   `0{auth}` with [`SocketIoClientOptions::auth`], and the connection opens when the
//!   server answers `0{"sid":…}`; a CONNECT_ERROR (`4{"message":…}`) fails the attempt with
//!   [`ClientError::SocketIoRefused`] carrying the server's message;
//! - Primus frames go as `2["message","<text>"]`, binary ones as
//!   `51-["message",{"_placeholder":true,"num":0}]` and their attachment;
//! - incoming `message` events become frames (a string argument is the frame's text, an
//!   attachment a binary frame, any other JSON value its JSON text); other events and
//!   acks are ignored, and an event that asks for an ack gets an empty one;
//! - a DISCONNECT from the server ends the connection as a close does (after
//!   `primus::server::close` the client ends, otherwise it reconnects); the client's end
//!   sends DISCONNECT `1`, then the Engine.IO close.
//!
//! A plain Socket.IO server sends no `primus::ping`: give such a client
//! [`ping_timeout: None`](crate::client::ClientOptions::ping_timeout), or it goes
//! offline after the timeout. The wait for the CONNECT answer is bounded by the client's
//! connect [`timeout`](crate::client::ClientOptions::timeout) (and the Engine.IO heartbeat).

use super::server::{event, Incoming};
pub use super::SocketIoClientOptions;
use crate::client::url::Endpoint;
use crate::client::{ClientError, ClientOptions};
use crate::transformers::engineio::client::{self as engineio, Connection};
use primus_core::socketio::{self, Decoder, Kind};
use primus_core::Frame;

/// The Socket.IO state of one session: the CONNECT it sends and what it has received.
#[derive(Debug)]
pub(crate) struct Framing {
    connect: Frame,
    connected: bool,
    /// Holds a binary event until its attachment comes.
    decoder: Decoder,
}

impl Framing {
    fn new(options: &SocketIoClientOptions) -> Self {
        Framing {
            connect: socketio::connect(options.auth.as_ref()),
            connected: false,
            decoder: Decoder::default(),
        }
    }

    /// The CONNECT to the main namespace.
    pub(crate) fn opening(&self) -> Frame {
        self.connect.clone()
    }

    /// One Engine.IO message from the server.
    pub(crate) fn incoming(&mut self, frame: Frame) -> Result<Incoming, ClientError> {
        let bad = |e: String| ClientError::Transport(format!("bad Socket.IO packet: {e}"));
        let Some(packet) = self.decoder.decode(frame).map_err(|e| bad(e.to_string()))? else {
            // A binary event waiting for its attachment.
            return Ok(Incoming::default());
        };
        if !packet.is_main() {
            // We only join `/`: nothing else concerns us.
            return Ok(Incoming::default());
        }
        match packet.kind {
            Kind::Connect => {
                if packet.sid().is_none() {
                    return Err(ClientError::Connect(
                        "Socket.IO CONNECT answer without a sid".into(),
                    ));
                }
                self.connected = true;
                Ok(Incoming {
                    connect: true,
                    ..Default::default()
                })
            }
            Kind::ConnectError => Err(ClientError::SocketIoRefused(packet.error_message())),
            Kind::Disconnect => Ok(Incoming {
                disconnect: true,
                ..Default::default()
            }),
            Kind::Ack | Kind::BinaryAck => Ok(Incoming::default()),
            Kind::Event | Kind::BinaryEvent => {
                event(packet, self.connected).map_err(|e| bad(e.into()))
            }
        }
    }
}

/// Open a Socket.IO session: the Engine.IO session, then CONNECT and its answer.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Connection, ClientError> {
    let framing = engineio::Framing::SocketIo(Framing::new(&options.transport.socketio));
    engineio::connect_with(endpoint, options, framing).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(f: &mut Framing, text: &str) -> Result<Incoming, ClientError> {
        f.incoming(Frame::text(text))
    }

    #[test]
    fn connect_events_disconnect() {
        let auth = serde_json::json!({"token": "t"});
        let mut f =
            Framing::new(&SocketIoClientOptions::default().auth(auth.as_object().unwrap().clone()));
        assert_eq!(f.opening(), Frame::text("0{\"token\":\"t\"}"));
        assert!(incoming(&mut f, "2[\"message\",\"x\"]").is_err());
        assert!(incoming(&mut f, "0{}").is_err());
        assert!(incoming(&mut f, "0{\"sid\":\"s\"}").unwrap().connect);
        let got = incoming(&mut f, "2[\"message\",\"\\\"hi\\\"\"]").unwrap();
        assert_eq!(got.deliver, Some(Frame::text("\"hi\"")));
        let got = incoming(&mut f, "24[\"other\",1]").unwrap();
        assert_eq!((got.deliver, got.reply), (None, Some(Frame::text("34[]"))));
        let got = incoming(&mut f, "2/chat,[\"message\",\"x\"]").unwrap();
        assert_eq!(got.deliver, None);
        assert!(
            incoming(&mut f, "51-[\"message\",{\"_placeholder\":true,\"num\":0}]")
                .unwrap()
                .deliver
                .is_none()
        );
        let got = f.incoming(Frame::binary(vec![1u8])).unwrap();
        assert_eq!(got.deliver, Some(Frame::binary(vec![1u8])));
        assert!(incoming(&mut f, "1").unwrap().disconnect);
        assert!(!incoming(&mut f, "1/chat,").unwrap().disconnect);
    }

    #[test]
    fn connect_error_is_typed() {
        let mut f = Framing::new(&SocketIoClientOptions::default());
        assert_eq!(f.opening(), Frame::text("0"));
        let err = incoming(&mut f, "4{\"message\":\"Not authorized\",\"data\":{}}").unwrap_err();
        assert_eq!(err, ClientError::SocketIoRefused("Not authorized".into()));
        assert_eq!(
            err.to_string(),
            "the Socket.IO server refused the connection: Not authorized"
        );
    }
}
