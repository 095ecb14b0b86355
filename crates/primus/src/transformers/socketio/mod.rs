//! The `socket.io` transformer, server half: Socket.IO protocol 5 clients (npm
//! `socket.io-client` 4.x) on the Engine.IO layer of the [`engine.io`](super::engineio)
//! transformer, Primus messages riding as Socket.IO `message` events.
//!
//! It is the engine.io server with another *framing*: each session holds a
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
//!   `socket.send({a:1})` reaches a JSON-parser spark as `{a:1}`. Events with other names
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
//! Not written yet: the Rust client half (selecting `socket.io` in a
//! [`ClientOptions`](crate::client::ClientOptions) gives
//! [`ClientError::NoClientHalf`](crate::client::ClientError::NoClientHalf)) and the
//! browser transport (`GET <pathname>/primus.js` answers `501`): use npm
//! `socket.io-client` 4.x with `path: <pathname>`.

// The framing codec the engine.io server applies (built with it).
#[cfg(feature = "engineio")]
pub(crate) mod server;
