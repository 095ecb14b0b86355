//! The `sockjs` transformer: the SockJS protocol (0.3), implemented here, as
//! `sockjs-client` 1.6 and the official Primus client with `transformer: 'sockjs'` expect it.
//!
//! - [`server`]: `/info`, the iframe page, the session transports (`websocket`, `xhr`,
//!   `xhr_send`, `xhr_streaming`, `eventsource`, `htmlfile`, `jsonp`, `jsonp_send`) and the
//!   raw `/websocket` endpoint, all under the pathname.
//! - [`client`]: the transport of the Rust client (websocket, xhr-streaming, xhr-polling).
//!
//! One Primus message is one element of a SockJS `a[...]` frame. SockJS carries text only,
//! so a binary parser is refused when the server is built. The frame codec lives in
//! [`primus_core::sockjs`].

pub mod client;
pub mod server;
