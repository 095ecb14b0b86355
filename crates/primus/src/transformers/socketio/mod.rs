//! The `socket.io` transformer: Socket.IO protocol 5 (npm `socket.io-client` 4.x) on the
//! Engine.IO layer of the [`engine.io`](super::engineio) transformer, Primus messages
//! riding as Socket.IO `message` events. The packet codec both halves use is
//! [`primus_core::socketio`]. Its server also serves Socket.IO 0.9 clients (npm
//! `socket.io-client@0.9`) under `<pathname>/1/`, see [Socket.IO 0.9](#socketio-09).
//!
//! The server half is the engine.io server with another *framing*: each session holds a
//! `Framing` (`Plain` for `engine.io`, `SocketIo` here) that is applied wherever a Primus
//! frame becomes an Engine.IO message and back: polling payloads, the close of a polling
//! session and the WebSocket loop. Everything else (handshake, polling, upgrade,
//! heartbeats, limits, error answers) is the engine.io server's.
//!
//! On the wire, main namespace `/` only:
//!
//! - The client's CONNECT `0` (or `0{auth}`) is answered `0{"sid":"<spark id>"}`: the
//!   Socket.IO socket id is the spark id. Until then Primus frames written to the spark
//!   wait in its queue; the CONNECT answer goes first, then they are released. A CONNECT
//!   to another namespace (`0/chat,`) gets CONNECT_ERROR
//!   `4/chat,{"message":"Invalid namespace"}`.
//! - A Primus text frame goes as `2["message","<the Primus-encoded text>"]` (what the
//!   reference's socket.io transformer did with `socket.send(encoded)`); a binary frame
//!   as a binary event `51-["message",{"_placeholder":true,"num":0}]` followed by its one
//!   attachment.
//! - Incoming `message` events: a string argument is the frame's text; a binary event's
//!   attachment is a binary frame; any other argument is encoded as JSON text, so
//!   `socket.send({a:1})` reaches a JSON-parser spark as `{"a":1}`. Events with other names
//!   are ignored (debug log), so are acks (`3…`) from the client. When the client asks for
//!   an ack (`21[…]`), it gets an empty one (`31[]`) once the message is delivered.
//! - Server end: DISCONNECT `1`, then the Engine.IO close. A DISCONNECT `1` from the
//!   client ends the spark like a client close.
//! - Bounds: one attachment per binary event (more ends the session), Engine.IO's
//!   `max_length` limit on every packet and payload, events before CONNECT end the session.
//!
//! Engine.IO pongs count as signs of life for Primus's heartbeat: socket.io-client does not
//! know `primus::ping::<t>` (it sees them as `message` events and may ignore them), and
//! the Engine.IO ping interval (25 s by default) is shorter than Primus's (30 s).
//!
//! The feature `socketio` turns `engineio` on (the Engine.IO layer is that server).
//!
//! The client halves are the engine.io clients with the same framing: [`client`] for
//! the Rust [`Client`](crate::client::Client) (CONNECT with an optional
//! [`auth`](SocketIoClientOptions::auth) payload, a refused CONNECT as
//! [`ClientError::SocketIoRefused`](crate::client::ClientError::SocketIoRefused)), and the
//! browser transport `client-js/transports/socketio.js` on the browser's engine.io one. The
//! Rust client also talks to a plain Socket.IO 4 server (npm `socket.io`), whose `message`
//! events it carries (tested; the browser transport is tested against our server only);
//! npm `socket.io-client` 4.x with `path: <pathname>` talks to our server.
//!
//! ```
//! use primus::client::ClientOptions;
//! let mut options = ClientOptions { transformer: "socket.io".into(), ..Default::default() };
//! options.transport.socketio = primus::transformers::socketio::SocketIoClientOptions::default()
//!     .auth(serde_json::json!({"token": "t"}).as_object().unwrap().clone());
//! assert!(options.validate().is_ok());
//! ```
//!
//! # Socket.IO 0.9
//!
//! The reference's socket.io transformer (Primus 1.x to 4.x) served socket.io 0.9 with the
//! Primus pathname as socket.io's `resource`. The same URLs work here: requests under
//! `<pathname>/1/` (the 0.9 protocol segment) go to the [`legacy`] server, everything else
//! to the Engine.IO layer above. A 0.9 client connects with the pathname, without its
//! leading `/`, as `resource`, and sends and receives Primus-encoded text:
//!
//! ```js
//! const io = require('socket.io-client'); // 0.9.x
//! const socket = io.connect('http://127.0.0.1:8080', { resource: 'primus', 'force new connection': true });
//! socket.on('message', (text) => console.log(JSON.parse(text)));
//! socket.on('connect', () => socket.send(JSON.stringify({ hello: 'world' })));
//! ```
//!
//! Served: the handshake, the `websocket`, `xhr-polling` and `jsonp-polling` transports,
//! 0.9 heartbeats (`2::`) and close timeout, `1::` on connect, `0::` both ways,
//! `3:::`/`4:::`/`message` events in, `3:::` out, acknowledgements. Not supported: binary
//! (0.9 has none; binary parsers are refused at the 0.9 handshake), endpoints other than
//! `""`, `flashsocket` and `htmlfile`. Timers: [`Options::socketio09`](crate::Options::socketio09).
//! Details in [`legacy`].

// The module docs link the client half, which a build without `socketio` leaves out.
#![cfg_attr(not(feature = "socketio"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "socketio")]
pub mod client;
// The framing codec the engine.io server applies (built with it), and the router.
#[cfg(feature = "engineio")]
pub(crate) mod server;

// Socket.IO 0.9: its options exist in every build, its server with `socketio`.
pub mod legacy;

/// Options of the client's `socket.io` transport (`ClientOptions::transport.socketio`).
/// The Engine.IO layer under it reads
/// [`TransportOptions::engineio`](crate::client::TransportOptions::engineio) (polling only,
/// WebSocket only, base64, headers).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SocketIoClientOptions {
    /// The CONNECT payload (socket.io-client's `auth`), which a Socket.IO server's
    /// middleware reads; default none (`0`). Our server accepts and ignores it.
    pub auth: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SocketIoClientOptions {
    /// Send `auth` with the CONNECT.
    pub fn auth(mut self, auth: serde_json::Map<String, serde_json::Value>) -> Self {
        self.auth = Some(auth);
        self
    }
}
