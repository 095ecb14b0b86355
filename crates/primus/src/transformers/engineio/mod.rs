//! The `engine.io` transformer: Engine.IO long-polling with an upgrade to WebSocket, one
//! Primus message per Engine.IO `message` packet (protocol.md §1.3, §1.4).
//!
//! - [`server`]: sessions, polling (`GET` drains, `POST` delivers), the WebSocket upgrade
//!   with its probe exchange, Engine.IO heartbeats and the reference's error answers.
//! - [`client`]: the Engine.IO transport of the Rust client (polling handshake, payloads,
//!   upgrade, polling-only mode).
//! - The packet codec is runtime-free and lives in [`primus_core::engineio`].
//!
//! Selecting it is the only change an application makes:
//!
//! ```
//! let primus = primus::Primus::new(primus::Options::default().transformer("engine.io")).unwrap();
//! assert_eq!(primus.spec().transformer, "engine.io");
//! ```
//!
//! Spark ids are the Engine.IO session ids. With an
//! [`id_generator`](crate::Options::id_generator) the generated id becomes the session id
//! too (when it is URL-safe and unused; otherwise the session gets a random one), so the
//! client's `id()`, which answers with the session id without asking, gives the spark id
//! (the reference gives the engine.io sid there, a known quirk).
//!
//! Not supported: JSONP polling (`j=`) and protocol 3's binary (XHR2) payloads; the
//! Primus 7 client forces base64, so it never sends those.
//!
//! Protocol 3 (Primus 7 clients) is refused like the reference does unless
//! [`Options::allow_eio3`](crate::Options::allow_eio3) is set. The Engine.IO timers are in
//! [`Options::engineio`](crate::Options::engineio).

// The module docs link the halves, which a build without `engineio` leaves out.
#![cfg_attr(not(feature = "engineio"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "engineio")]
pub mod client;
// The `socket.io` transformer is this server with Socket.IO framing.
#[cfg(feature = "engineio")]
pub mod server;

use crate::options::de_ms;
use crate::server::Primus;
use serde::Deserialize;
use std::time::Duration;

/// Engine.IO settings of the server (the reference passes them in `transport`).
///
/// These timers run in addition to Primus's own heartbeat (`ping_interval`); they are what
/// reclaims abandoned sessions: a polling client that vanishes stops answering pings and
/// its session ends `ping_interval + ping_timeout` later at the most; an upgrade that does
/// not finish within `upgrade_timeout` is dropped and the session stays on polling.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct EngineIoOptions {
    /// Time between Engine.IO pings (default 25 s, like engine.io 6).
    #[serde(deserialize_with = "de_ms", alias = "ping_interval")]
    pub ping_interval: Duration,
    /// How long to wait for the pong before closing the session (default 20 s).
    #[serde(deserialize_with = "de_ms", alias = "ping_timeout")]
    pub ping_timeout: Duration,
    /// How long an upgrade may take, from the WebSocket handshake to the `upgrade`
    /// packet (default 10 s).
    #[serde(deserialize_with = "de_ms", alias = "upgrade_timeout")]
    pub upgrade_timeout: Duration,
    /// Offer the WebSocket upgrade in the handshake and accept WebSocket connections
    /// (default `true`). `false` serves polling only.
    pub websocket: bool,
}

impl Default for EngineIoOptions {
    fn default() -> Self {
        EngineIoOptions {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            websocket: true,
        }
    }
}

impl EngineIoOptions {
    /// Set the Engine.IO ping interval and timeout.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.ping_interval = interval;
        self.ping_timeout = timeout;
        self
    }
    /// Set the upgrade timeout.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.upgrade_timeout = timeout;
        self
    }
}

/// Options of the client's `engine.io` transport (`ClientOptions::transport.engineio`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineIoClientOptions {
    /// Start with long-polling (default `true`). `false` connects with a WebSocket
    /// straight away (engine.io-client's `transports: ['websocket']`).
    pub polling: bool,
    /// Upgrade to WebSocket when the server offers it (default `true`). `false` is the
    /// reference client's `websockets: false`: polling only.
    pub upgrade: bool,
    /// Send binary frames as `b<base64>` text (default `true`, as Primus sets
    /// `forceBase64`); `false` sends them as WebSocket binary messages once upgraded.
    pub force_base64: bool,
    /// Largest WebSocket message accepted (default 10 MiB). A polling payload may hold
    /// several messages: up to three times this (plus 64 KiB) is accepted there.
    pub max_payload: usize,
    /// Extra headers sent with every request (for example a bearer token).
    pub headers: Vec<(String, String)>,
}

impl Default for EngineIoClientOptions {
    fn default() -> Self {
        EngineIoClientOptions {
            polling: true,
            upgrade: true,
            force_base64: true,
            max_payload: crate::client::DEFAULT_MAX_MESSAGE_SIZE,
            headers: Vec::new(),
        }
    }
}

impl EngineIoClientOptions {
    /// Polling only (the reference's `websockets: false`).
    pub fn polling_only() -> Self {
        EngineIoClientOptions {
            upgrade: false,
            ..Default::default()
        }
    }
    /// WebSocket only, no polling.
    pub fn websocket_only() -> Self {
        EngineIoClientOptions {
            polling: false,
            ..Default::default()
        }
    }
}

impl Primus {
    /// How many Engine.IO sessions are live, including ones still handshaking or
    /// closing (`None` when the transformer is not `engine.io` or `socket.io`). Useful to
    /// check that abandoned sessions are reclaimed.
    pub fn engineio_sessions(&self) -> Option<usize> {
        match &self.inner.transformer {
            #[cfg(feature = "engineio")]
            crate::transformers::Transformer::EngineIo(t) => Some(t.session_count()),
            #[cfg(feature = "socketio")]
            crate::transformers::Transformer::SocketIo(t) => Some(t.engine.session_count()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The Engine.IO transport a spark currently uses: `"polling"`, `"websocket"`, or
    /// `None` when the spark is not an Engine.IO session (any more).
    #[cfg_attr(not(feature = "engineio"), allow(unused_variables))]
    pub fn engineio_transport(&self, spark_id: &str) -> Option<&'static str> {
        match &self.inner.transformer {
            #[cfg(feature = "engineio")]
            crate::transformers::Transformer::EngineIo(t) => t.transport_of(spark_id),
            #[cfg(feature = "socketio")]
            crate::transformers::Transformer::SocketIo(t) => t.engine.transport_of(spark_id),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}
