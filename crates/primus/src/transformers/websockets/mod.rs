//! The `websockets` transformer: one Primus message per WebSocket message.
//!
//! - [`server`]: upgrades requests under the pathname (any sub-path, like the reference),
//!   answers plain HTTP with 426, and runs each connection.
//! - [`client`]: the transport of the Rust client.

//!
//! Both halves are built whatever the features: the server half is also the WebSocket
//! engine of `sockjs` (its raw `/websocket` endpoint runs this transformer's connection
//! loop) and of `engine.io` (close handling, lingering close), and the client half's
//! cache buster and `yeast` ids serve every transport of the Rust client. The `websockets`
//! feature decides whether this transformer can be selected.

pub mod client;
pub mod server;
