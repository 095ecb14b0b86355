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
//!
//! ```
//! use primus::transformers::sockjs::SockJsOptions;
//! use std::time::Duration;
//!
//! let options = primus::Options::default().transformer("sockjs").sockjs(
//!     SockJsOptions::default()
//!         .response_limit(64 * 1024)
//!         .delays(Duration::from_secs(25), Duration::from_secs(5)),
//! );
//! let primus = primus::Primus::new(options).unwrap();
//! assert_eq!(primus.spec().transformer, "sockjs");
//! assert_eq!(primus.sockjs_sessions(), 0);
//! // Binary parsers cannot ride on SockJS.
//! assert!(primus::Primus::new(primus::Options::default().transformer("sockjs").parser("msgpack")).is_err());
//! ```
//!
//! The Rust client picks the transport list from `ClientOptions::transport.sockjs`:
//!
//! ```no_run
//! use primus::client::{Client, ClientOptions, TransportOptions};
//! use primus::transformers::sockjs::client::{SockJsClientOptions, SockJsTransport};
//! # async fn f() -> Result<(), primus::client::ClientError> {
//! let client = Client::new("http://localhost:8080", ClientOptions {
//!     transformer: "sockjs".into(),
//!     transport: TransportOptions {
//!         sockjs: SockJsClientOptions::default().transports([SockJsTransport::XhrStreaming]),
//!         ..TransportOptions::default()
//!     },
//!     ..ClientOptions::default()
//! })?;
//! client.write("hello")?;
//! # Ok(()) }
//! ```
//!
//! Differences from the reference (`sockjs` 0.3.24 behind Node Primus) are listed in
//! [`server`].

// The module docs link the halves, which a build without `sockjs` leaves out.
#![cfg_attr(not(feature = "sockjs"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "sockjs")]
pub mod client;
#[cfg(feature = "sockjs")]
pub mod server;

use crate::options::de_ms;
use crate::server::Primus;
use serde::Deserialize;
use std::time::Duration;

/// Settings of the `sockjs` transformer (`Options::sockjs`), with `sockjs-node`'s names and
/// defaults. In a config file: `{"sockjs": {"responseLimit": 4096, "disconnectDelay": 100}}`
/// (times in milliseconds; snake_case names work too).
///
/// ```
/// let o: primus::transformers::sockjs::SockJsOptions =
///     serde_json::from_str(r#"{"responseLimit": 4096, "jsessionid": true}"#).unwrap();
/// assert_eq!(o.response_limit, 4096);
/// assert_eq!(o.disconnect_delay, std::time::Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct SockJsOptions {
    /// Bytes a streaming response (xhr_streaming, eventsource, htmlfile) carries before the
    /// server ends it and the client opens the next one (default 128 KiB).
    #[serde(alias = "response_limit")]
    pub response_limit: usize,
    /// Silence after which an `h` frame is sent (default 25 s).
    #[serde(deserialize_with = "de_ms", alias = "heartbeat_delay")]
    pub heartbeat_delay: Duration,
    /// How long a session without a receiver lives on before it and its spark end; this is
    /// what reclaims sessions whose client vanished (default 5 s).
    #[serde(deserialize_with = "de_ms", alias = "disconnect_delay")]
    pub disconnect_delay: Duration,
    /// Offer the websocket transports (default `true`); `/info` says so.
    pub websocket: bool,
    /// Set a `JSESSIONID` cookie for sticky load balancers (default `false`); `/info` then
    /// says `cookie_needed: true`.
    pub jsessionid: bool,
    /// The SockJS client script the iframe page loads.
    #[serde(alias = "sockjs_url")]
    pub sockjs_url: String,
}

impl Default for SockJsOptions {
    fn default() -> Self {
        SockJsOptions {
            response_limit: 128 * 1024,
            heartbeat_delay: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            websocket: true,
            jsessionid: false,
            sockjs_url: "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js".into(),
        }
    }
}

impl SockJsOptions {
    /// Set the streaming response limit.
    pub fn response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }
    /// Set the heartbeat and disconnect delays.
    pub fn delays(mut self, heartbeat: Duration, disconnect: Duration) -> Self {
        self.heartbeat_delay = heartbeat;
        self.disconnect_delay = disconnect;
        self
    }
    /// Offer the websocket transports or not.
    pub fn websocket(mut self, on: bool) -> Self {
        self.websocket = on;
        self
    }
    /// Set the `JSESSIONID` cookie or not.
    pub fn jsessionid(mut self, on: bool) -> Self {
        self.jsessionid = on;
        self
    }
}

/// Longest line (one SockJS frame) accepted from a streaming or polling response.
const DEFAULT_MAX_FRAME: usize = 16 * 1024 * 1024;

/// One SockJS transport of the Rust client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SockJsTransport {
    /// `…/websocket`.
    WebSocket,
    /// `…/xhr_streaming` + `…/xhr_send`.
    XhrStreaming,
    /// `…/xhr` + `…/xhr_send`.
    XhrPolling,
}

/// Options of the client's `sockjs` transport (`ClientOptions::transport.sockjs`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SockJsClientOptions {
    /// Transports to try, in order (default: websocket, xhr-streaming, xhr-polling). Like
    /// sockjs-client's `transports` option: `vec![SockJsTransport::XhrStreaming]` forces one.
    pub transports: Vec<SockJsTransport>,
    /// Largest SockJS frame accepted from the server (default 16 MiB).
    pub max_frame: usize,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
}

impl Default for SockJsClientOptions {
    fn default() -> Self {
        SockJsClientOptions {
            transports: vec![
                SockJsTransport::WebSocket,
                SockJsTransport::XhrStreaming,
                SockJsTransport::XhrPolling,
            ],
            max_frame: DEFAULT_MAX_FRAME,
            headers: Vec::new(),
        }
    }
}

impl SockJsClientOptions {
    /// Only these transports, in this order.
    ///
    /// ```
    /// use primus::transformers::sockjs::client::{SockJsClientOptions, SockJsTransport};
    /// let o = SockJsClientOptions::default().transports([SockJsTransport::XhrPolling]);
    /// assert_eq!(o.transports, vec![SockJsTransport::XhrPolling]);
    /// ```
    pub fn transports(mut self, t: impl IntoIterator<Item = SockJsTransport>) -> Self {
        self.transports = t.into_iter().collect();
        self
    }
}

impl Primus {
    /// How many SockJS sessions of the HTTP transports are live (attached, waiting for
    /// their client, or closed and waiting out `disconnect_delay`); 0 for other
    /// transformers.
    pub fn sockjs_sessions(&self) -> usize {
        match &self.inner.transformer {
            #[cfg(feature = "sockjs")]
            crate::transformers::Transformer::SockJs(t) => t.session_count(),
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }
}

/// End a spark carried by sockjs with a SockJS close code and reason: the client gets
/// `c[code,"reason"]` (and, over WebSocket, a close frame with that code). Nothing else
/// is sent first (no `primus::server::close`), so a Primus client reconnects. On other
/// transformers the code is used where the transport has one (websocket close frames).
///
/// ```no_run
/// # fn f(spark: &primus::Spark) {
/// primus::transformers::sockjs::close(spark, 3000, "Go away!");
/// # }
/// ```
pub fn close(spark: &crate::Spark, code: u16, reason: &'static str) {
    spark
        .shared
        .finish(crate::server::spark::CloseKind::Code(code, reason), None);
}
