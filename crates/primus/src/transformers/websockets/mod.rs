//! The `websockets` transformer: one Primus message per WebSocket message.

pub mod client;
