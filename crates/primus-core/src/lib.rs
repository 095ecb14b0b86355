//! Runtime-free core of primus-rs.
//!
//! This crate holds everything about Primus that does not need an async runtime:
//!
//! - [`Value`], the dynamic message value (JSON-like, plus binary), with serde glue
//!   ([`to_value`], [`from_value`]);
//! - [`Frame`], one encoded message as a transformer carries it (text or binary);
//! - the [`Parser`] trait and the built-in parsers ([`parser::Json`], [`parser::MsgPack`],
//!   [`parser::Ejson`], [`parser::Binary`]);
//! - the internal `primus::` protocol messages ([`protocol`]) and reserved event names
//!   ([`reserved`]);
//! - the runtime-free halves of transformers: Engine.IO packets ([`engineio`]), Socket.IO
//!   protocol 5 packets ([`socketio`]), Socket.IO 0.9 packets and payloads
//!   ([`socketio09`]) and SockJS frames ([`sockjs`]), the Server-Sent Events format of the
//!   `sse` transformer ([`sse`]), BrowserChannel maps and chunks ([`browserchannel`]), the
//!   stream framing of the `webtransport` transformer ([`webtransport`]);
//! - the client's back-off math ([`backoff`]);
//! - pure helpers the server needs: [`query`] string parsing and [`forwarded`] address
//!   resolution.
//!
//! The `primus-rs` crate (imported as `primus`) builds the server and client on top of it.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod browserchannel;
pub mod engineio;
pub mod forwarded;
mod frame;
pub mod parser;
pub mod protocol;
pub mod query;
pub mod reserved;
pub mod socketio;
pub mod socketio09;
pub mod sockjs;
pub mod sse;
mod utf16;
pub mod value;
pub mod webtransport;

pub use frame::Frame;
pub use parser::{Parser, ParserError};
pub use value::{from_value, to_value, Map, Number, Value, ValueError};
