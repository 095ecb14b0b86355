//! Server options, with the reference's names and defaults.
//!
//! Options can be built in code ([`Options::default`] and the `with_*`/field setters) or
//! read from a config file: every field is `serde`-deserializable with the reference's
//! camelCase names (`pingInterval`, `maxLength`, …) as well as snake_case.
//!
//! ```
//! let opts: primus::Options = serde_json::from_str(
//!     r#"{"pathname": "/live", "transformer": "WebSockets", "pingInterval": false}"#,
//! ).unwrap();
//! assert_eq!(opts.pathname, "/live");
//! assert_eq!(opts.ping_interval, None);
//! ```

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A function producing spark ids (the reference's `idGenerator`).
pub type IdGenerator = Arc<dyn Fn() -> String + Send + Sync>;

/// Options of a [`Primus`](crate::Primus) server.
#[derive(Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct Options {
    /// Path prefix the server owns (default `/primus`). A leading `/` is added if missing.
    /// Matching is a plain prefix test, like the reference.
    pub pathname: String,
    /// Transformer name, case-insensitive (default `websockets`).
    pub transformer: String,
    /// Parser name, case-insensitive (default `json`).
    pub parser: String,
    /// Heartbeat interval; `None` (`false` in a config file) turns heartbeats off.
    /// Default 30 s. A peer that shows no sign of life is dropped within twice this.
    #[serde(deserialize_with = "de_opt_ms", alias = "ping_interval")]
    pub ping_interval: Option<Duration>,
    /// Largest incoming message in bytes (default 10 MiB). Bigger messages close the
    /// connection with code 1009.
    #[serde(alias = "max_length")]
    pub max_length: usize,
    /// Name of the global the browser client library defines (default `Primus`).
    pub global: String,
    /// permessage-deflate. Not supported yet: `true` is refused at start with an error.
    pub compression: bool,
    /// CORS: allowed origins (`*` or a comma-separated list).
    pub origins: String,
    /// CORS: allowed methods.
    pub methods: String,
    /// CORS: whether credentials are allowed.
    pub credentials: bool,
    /// CORS: preflight cache time (`Access-Control-Max-Age`).
    #[serde(deserialize_with = "de_secs", alias = "max_age")]
    pub max_age: Duration,
    /// CORS: allowed request headers (empty: echo what the preflight asks for).
    pub headers: String,
    /// CORS: exposed response headers.
    pub exposed: String,
    /// Beyond the reference: also apply the CORS origin check to WebSocket upgrades
    /// (default `false`, like the reference). Browsers send `Origin` on upgrades, so this
    /// stops cross-site WebSocket hijacking.
    #[serde(alias = "cors_upgrades")]
    pub cors_upgrades: bool,
    /// Proxies whose `X-Forwarded-*` headers are trusted. Empty (the default, like the
    /// reference) trusts every peer's headers: set it when the server is reachable
    /// without going through your proxy, or clients can claim any address.
    #[serde(alias = "trusted_proxies")]
    pub trusted_proxies: Vec<IpAddr>,
    /// Bound of each spark's outgoing queue, in messages (default 1024). When it is full
    /// `write` reports [`WriteError::Full`](crate::WriteError::Full), `send` waits, and a
    /// broadcast disconnects the spark as too slow.
    #[serde(alias = "queue_size")]
    pub queue_size: usize,
    /// Bound of each spark's incoming queue, in messages, for sparks consumed as a
    /// `Stream` (default 64). While it is full the spark stops reading its socket.
    #[serde(alias = "incoming_queue_size")]
    pub incoming_queue_size: usize,
    /// How long a write to a peer's socket may stall before the peer is disconnected as
    /// too slow (default 30 s).
    #[serde(deserialize_with = "de_ms", alias = "write_timeout")]
    pub write_timeout: Duration,
    /// `engine.io` transformer: also accept Engine.IO protocol 3 (Primus 7 clients), like
    /// the reference's `transport: {allowEIO3: true}`. Default `false`: such clients get
    /// `400 {"code":5,"message":"Unsupported protocol version"}`.
    #[serde(alias = "allowEIO3", alias = "allow_eio3")]
    pub allow_eio3: bool,
    /// `engine.io` transformer: Engine.IO heartbeat and upgrade timers.
    pub engineio: crate::transformers::engineio::EngineIoOptions,
    /// `sockjs` transformer: response limit, heartbeat and disconnect delays, websocket,
    /// JSESSIONID.
    pub sockjs: crate::transformers::sockjs::SockJsOptions,
    /// `sse` transformer: keep-alive comment interval and the grace after a lost stream.
    pub sse: crate::transformers::sse::SseOptions,
    /// `socket.io` transformer, its Socket.IO 0.9 half: heartbeat, close and polling
    /// timers.
    pub socketio09: crate::transformers::socketio::legacy::SocketIo09Options,
    /// `webtransport` transformer: its endpoint's handshake, idle and keep-alive timers.
    pub webtransport: crate::transformers::webtransport::WebTransportOptions,
    /// `browserchannel` transformer: keep-alive, session timeout, back-channel limit.
    pub browserchannel: crate::transformers::browserchannel::BrowserChannelOptions,
    /// Spark id generator; default: 21-character nanoid-style ids.
    #[serde(skip)]
    pub id_generator: Option<IdGenerator>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            pathname: "/primus".into(),
            transformer: "websockets".into(),
            parser: "json".into(),
            ping_interval: Some(Duration::from_secs(30)),
            max_length: 10 * 1024 * 1024,
            global: "Primus".into(),
            compression: false,
            origins: "*".into(),
            methods: "GET,HEAD,PUT,POST,DELETE,OPTIONS".into(),
            credentials: true,
            max_age: Duration::from_secs(30 * 24 * 3600),
            headers: String::new(),
            exposed: String::new(),
            cors_upgrades: false,
            trusted_proxies: Vec::new(),
            queue_size: 1024,
            incoming_queue_size: 64,
            write_timeout: Duration::from_secs(30),
            allow_eio3: false,
            engineio: Default::default(),
            sockjs: Default::default(),
            sse: Default::default(),
            socketio09: Default::default(),
            webtransport: Default::default(),
            browserchannel: Default::default(),
            id_generator: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("pathname", &self.pathname)
            .field("transformer", &self.transformer)
            .field("parser", &self.parser)
            .field("ping_interval", &self.ping_interval)
            .field("max_length", &self.max_length)
            .field("global", &self.global)
            .field("compression", &self.compression)
            .field("origins", &self.origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("queue_size", &self.queue_size)
            .field("write_timeout", &self.write_timeout)
            .field("id_generator", &self.id_generator.as_ref().map(|_| "fn"))
            .finish_non_exhaustive()
    }
}

impl Options {
    /// Set the pathname.
    pub fn pathname(mut self, p: impl Into<String>) -> Self {
        self.pathname = p.into();
        self
    }
    /// Set the transformer by name.
    pub fn transformer(mut self, t: impl Into<String>) -> Self {
        self.transformer = t.into();
        self
    }
    /// Set the parser by name.
    pub fn parser(mut self, p: impl Into<String>) -> Self {
        self.parser = p.into();
        self
    }
    /// Set the heartbeat interval (`None` turns heartbeats off).
    pub fn ping_interval(mut self, d: Option<Duration>) -> Self {
        self.ping_interval = d;
        self
    }
    /// Set the largest accepted message.
    pub fn max_length(mut self, n: usize) -> Self {
        self.max_length = n;
        self
    }
    /// Set the spark id generator.
    ///
    /// ```
    /// let opts = primus::Options::default().id_generator(|| "fixed".to_string());
    /// assert!(opts.id_generator.is_some());
    /// ```
    pub fn id_generator(mut self, f: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.id_generator = Some(Arc::new(f));
        self
    }
    /// Accept Engine.IO protocol 3 clients (`engine.io` transformer).
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.allow_eio3 = allow;
        self
    }
    /// Set the Engine.IO timers (`engine.io` transformer).
    pub fn engineio(mut self, options: crate::transformers::engineio::EngineIoOptions) -> Self {
        self.engineio = options;
        self
    }
    /// Set the `sockjs` transformer's settings.
    pub fn sockjs(mut self, options: crate::transformers::sockjs::SockJsOptions) -> Self {
        self.sockjs = options;
        self
    }
    /// Set the `sse` transformer's settings.
    pub fn sse(mut self, options: crate::transformers::sse::SseOptions) -> Self {
        self.sse = options;
        self
    }
    /// Set the timers of the `socket.io` transformer's Socket.IO 0.9 half.
    pub fn socketio09(
        mut self,
        options: crate::transformers::socketio::legacy::SocketIo09Options,
    ) -> Self {
        self.socketio09 = options;
        self
    }
    /// Set the `webtransport` transformer's endpoint settings.
    pub fn webtransport(
        mut self,
        options: crate::transformers::webtransport::WebTransportOptions,
    ) -> Self {
        self.webtransport = options;
        self
    }
    /// Set the `browserchannel` transformer's settings.
    pub fn browserchannel(
        mut self,
        options: crate::transformers::browserchannel::BrowserChannelOptions,
    ) -> Self {
        self.browserchannel = options;
        self
    }
    /// Set the outgoing queue bound.
    pub fn queue_size(mut self, n: usize) -> Self {
        self.queue_size = n;
        self
    }
    /// Set the trusted proxies.
    pub fn trusted_proxies(mut self, p: Vec<IpAddr>) -> Self {
        self.trusted_proxies = p;
        self
    }
    /// Set the write timeout.
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.write_timeout = d;
        self
    }

    /// The pathname with a leading `/`, as the server uses it.
    pub(crate) fn normalized_pathname(&self) -> String {
        if self.pathname.starts_with('/') {
            self.pathname.clone()
        } else {
            format!("/{}", self.pathname)
        }
    }
}

/// Milliseconds, or `false`/`null`/`0` for off.
fn de_opt_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Bool(bool),
        Ms(u64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None | Some(Raw::Bool(false)) | Some(Raw::Ms(0)) => None,
        Some(Raw::Bool(true)) => Options::default().ping_interval,
        Some(Raw::Ms(ms)) => Some(Duration::from_millis(ms)),
    })
}

/// Milliseconds in a config file, a [`Duration`] in the options (`deserialize_with`).
pub(crate) fn de_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

fn de_secs<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference() {
        let o = Options::default();
        assert_eq!(o.pathname, "/primus");
        assert_eq!(o.ping_interval, Some(Duration::from_secs(30)));
        assert_eq!(o.max_length, 10_485_760);
        assert_eq!(o.global, "Primus");
    }

    #[test]
    fn deserializes_reference_names() {
        let o: Options = serde_json::from_str(
            r#"{"pathname":"live","pingInterval":250,"maxLength":5,"trustedProxies":["10.0.0.1"]}"#,
        )
        .unwrap();
        assert_eq!(o.normalized_pathname(), "/live");
        assert_eq!(o.ping_interval, Some(Duration::from_millis(250)));
        assert_eq!(o.max_length, 5);
        assert_eq!(o.trusted_proxies.len(), 1);
        let off: Options = serde_json::from_str(r#"{"ping_interval":false}"#).unwrap();
        assert_eq!(off.ping_interval, None);
    }
}
