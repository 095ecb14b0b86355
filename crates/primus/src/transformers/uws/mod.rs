//! The `uws` transformer (also selectable as `lws`): plain WebSocket, one Primus message
//! per WebSocket message, on a second, independent WebSocket engine.
//!
//! The reference's `uws` transformer is WebSocket-only and backed by a native engine; its
//! client is the websockets client. Ours keeps that shape:
//!
//! - server: `server.rs`, the same behaviour as the websockets server (upgrades under the
//!   pathname, 426 for plain HTTP, 1009/1007/1002 refusals, ping → pong, bounded queues,
//!   `write_timeout`, a close frame without a status code) but framed by
//!   [`fastwebsockets`](https://docs.rs/fastwebsockets) instead of tungstenite, so an
//!   application can switch engines when one misbehaves, by name alone.
//! - Rust client: the websockets transport (tungstenite), as the reference's uws client
//!   is its websockets client.
//! - browser: the native `WebSocket` (the library registers the websockets transport
//!   under the names `uws` and `lws` too).
//!
//! One difference from the websockets server: fastwebsockets does not tell whether a
//! client's frame was masked, so an unmasked client frame is accepted here (tungstenite
//! refuses it with 1002, as RFC 6455 asks).
//!
//! The two names select the same transformer; `/spec` (and [`Primus::spec`]) publishes
//! the name that was selected, lower-cased, so a client built from it asks for the same:
//!
//! ```
//! # #[cfg(feature = "uws")] {
//! let primus = primus::Primus::new(primus::Options::default().transformer("lws")).unwrap();
//! assert_eq!(primus.spec().transformer, "lws");
//! # }
//! ```
//!
//! [`Primus::spec`]: crate::Primus::spec

#[cfg(feature = "uws")]
pub(crate) mod server;
