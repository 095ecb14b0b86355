//! The `websockets` transformer: one Primus message per WebSocket message.
//!
//! - [`server`]: upgrades requests under the pathname (any sub-path, like the reference),
//!   answers plain HTTP with 426, and runs each connection.
//! - [`client`]: the transport of the Rust client.

pub mod client;
pub mod server;
