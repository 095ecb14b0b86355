//! primus-rs: Primus, the universal wrapper for real-time frameworks, in Rust.
//!
//! One low-level API for real-time connections, whatever framework carries them. The
//! official Primus JavaScript client connects to this server, and the Rust [`client`]
//! connects to the official Node server.
//!
//! # Where things live
//! - [`Primus`] (in [`server`]): options, sparks, broadcasting, heartbeat.
//! - [`service`]: the `tower` layer/service that owns `pathname` in your HTTP stack.
//! - [`Server`] / [`serve`]: a standalone HTTP/HTTPS server with graceful shutdown.
//! - [`transformers`]: one folder per transformer, each with a `server` and `client` half.
//! - [`client`]: the Rust client.
//! - Parsers, values and the `primus::` protocol come from [`primus_core`].
//!
//! # Cargo features
//! `websockets`, `engineio`, `sockjs`, `faye`, `uws`, `sse`, `browserchannel` (one per transformer: server half, Rust client
//! transport, browser transport; at least one), `tls` (HTTPS server, `wss://` client),
//! `session` (the session plugin) and `cli` (the `primus` binary) are all on by default, and
//! so is `socketio` (the `socket.io` transformer, all three halves on `engineio`'s).
//! `webtransport` (WebTransport over HTTP/3, experimental, beyond the reference) is off by
//! default: it brings quinn and rustls' QUIC support and needs Rust 1.88. A
//! library names what it uses:
//! `primus-rs = { version = "0.1", default-features = false, features = ["websockets"] }`.
//! Selecting a transformer that was left out fails with
//! [`PrimusError::TransformerNotCompiled`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_util::StreamExt;
//! let primus = primus::Primus::new(primus::Options::default())?;
//! let mut sparks = primus.connections();
//! tokio::spawn(primus::serve(primus.clone(), "127.0.0.1:8080".parse()?));
//! while let Some(spark) = sparks.next().await {
//!     spark.write(&"welcome")?;
//! }
//! # Ok(()) }
//! ```

pub mod client;
mod error;
pub mod library;
pub mod middleware;
pub mod options;
pub mod plugin;
pub mod plugins;
pub mod server;
pub mod service;
mod standalone;
pub mod transformers;

pub use error::{BoxError, PrimusError, SparkError, WriteError};
/// The `http` crate, re-exported so applications name the same types we do.
pub use http;
pub use options::Options;
pub use primus_core::forwarded::Address;
pub use primus_core::query::{self, Query, QueryValue};
pub use primus_core::{
    from_value, parser, protocol, to_value, Frame, Parser, ParserError, Value, ValueError,
};
pub use server::{
    Connections, DestroyOptions, LogEvent, Message, Primus, ReadyState, Spark, SparkInfo, Spec,
};
pub use service::{PeerInfo, PrimusLayer, PrimusService};
pub use standalone::{serve, Running, Server};
