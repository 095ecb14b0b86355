//! The `faye` transformer: plain WebSocket, one Primus message per WebSocket message, as
//! the reference's `faye-websocket` speaks it (protocol.md §1.3, §1.4).
//!
//! On the wire it is the `websockets` transformer with one difference: close frames carry
//! the status code **1000** (`faye-websocket` sends it on both sides, where `ws` sends a
//! close frame without a code and the peer sees 1005). So both halves are the websockets
//! ones with that one setting, not copies:
//!
//! - server: [`websockets::server`] closing with 1000 when a spark ends without a code of
//!   its own; plain HTTP under the pathname gets `426 Upgrade Required`, upgrades on any
//!   sub-path become sparks.
//! - Rust client: the websockets transport, whose `end()` closes with 1000 too.
//! - browser: the native `WebSocket` (the library registers the websockets transport
//!   under the name `faye` too).
//!
//! Selecting it is the only change an application makes:
//!
//! ```
//! # #[cfg(feature = "faye")] {
//! let primus = primus::Primus::new(primus::Options::default().transformer("faye")).unwrap();
//! assert_eq!(primus.spec().transformer, "faye");
//! # }
//! ```
#![cfg_attr(not(feature = "faye"), allow(dead_code))]

use super::websockets;
use crate::options::Options;

/// The close code of both halves, as `faye-websocket` sends it: 1000 (normal closure).
pub(crate) const CLOSE_CODE: u16 = 1000;

/// The server half: the websockets server, closing with 1000.
pub(crate) fn server(options: &Options) -> websockets::server::Server {
    websockets::server::Server::new(options).default_close(CLOSE_CODE)
}
