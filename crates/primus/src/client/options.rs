//! Client options, named after the reference's (protocol.md §6.1), with its defaults except
//! where noted (every queue here is bounded; the reference's are not).

use super::ClientError;
use primus_core::backoff::Backoff;
use primus_core::parser::{Json, SharedParser};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Default connect timeout (reference `timeout`: 10 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default heartbeat timeout (the reference's uncompiled `pingTimeout`: 45 s, which is
/// 1.5 × the server's default 30 s ping interval).
pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_secs(45);
/// Default number of outgoing messages kept while the connection is not open.
pub const DEFAULT_QUEUE_SIZE: usize = 1024;
/// Default number of received messages waiting for the application to read them.
pub const DEFAULT_INCOMING_CAPACITY: usize = 1024;
/// Default number of events a slow event subscriber may fall behind before it lags.
pub const DEFAULT_EVENT_CAPACITY: usize = 256;
/// Default largest incoming WebSocket message: 10 MiB, the Primus server's `maxLength`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// Options of a [`Client`](super::Client).
///
/// Build with struct update syntax over the defaults:
///
/// ```
/// use primus::client::{ClientOptions, Strategy};
/// use std::time::Duration;
///
/// let options = ClientOptions {
///     ping_timeout: Some(Duration::from_secs(3)),
///     strategy: "disconnect,timeout".parse().unwrap(),
///     queue_size: 100,
///     ..ClientOptions::default()
/// };
/// assert_eq!(options.pathname, "/primus");
/// assert_eq!(options.reconnect.retries, 10);
/// assert!(!options.strategy.online);
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Reconnect back-off (`reconnect`): min 500 ms, max unbounded, 10 retries, factor 2,
    /// 30 s per attempt.
    pub reconnect: Backoff,
    /// Connect timeout for the first connection (`timeout`, default 10 s). Reconnect attempts
    /// use `reconnect.timeout` instead. `None` waits as long as the OS does.
    pub timeout: Option<Duration>,
    /// Heartbeat timeout (`pingTimeout`): when no `primus::ping` arrives for this long the
    /// client emits `offline`, closes and reconnects (strategy `disconnect`). `None` turns
    /// detection off. Default 45 s; [`Client::from_spec`](super::Client::from_spec) sets it
    /// to 1.5 × the server's ping interval.
    pub ping_timeout: Option<Duration>,
    /// When to reconnect (`strategy`). Default: all of `disconnect`, `online`, `timeout`.
    pub strategy: Strategy,
    /// Do not connect until [`Client::open`](super::Client::open) is called (`manual`).
    pub manual: bool,
    /// Outgoing messages kept while the connection is not open (`queueSize`). When full,
    /// [`Client::write`](super::Client::write) drops the oldest. Default 1024 (the reference
    /// keeps an unbounded buffer). Also the point where the `Sink` applies back-pressure.
    pub queue_size: usize,
    /// Path of the Primus endpoint on the server (default `/primus`). The path of the URL
    /// given to the client is ignored, as in the reference.
    pub pathname: String,
    /// Message parser; must be the server's. Default JSON.
    pub parser: SharedParser,
    /// Transformer name (case-insensitive): `websockets`, `engine.io`, `sockjs`, `faye`,
    /// `sse`, `uws`/`lws`, `socket.io` or `webtransport`.
    pub transformer: String,
    /// Options for the transports themselves (`transport`).
    pub transport: TransportOptions,
    /// TLS settings for `https:`/`wss:` URLs: a rustls client configuration carrying the
    /// root certificates you trust. Required for secure URLs. The `webtransport` transport
    /// checks its endpoint with these roots too, unless it trusts certificate hashes.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Received messages buffered for the [`Stream`](futures_util::Stream) side (default 1024).
    /// When full the client stops reading from the server until the application catches up
    /// (back-pressure, no message is lost). Heartbeats are not read meanwhile either, so an
    /// application that stops polling the stream for longer than `ping_timeout` goes
    /// `offline` and reconnects. Drop the stream half if you only want events.
    pub incoming_capacity: usize,
    /// Capacity of the event channel (see [`Client::events`](super::Client::events)).
    pub event_capacity: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            reconnect: Backoff::default(),
            timeout: Some(DEFAULT_CONNECT_TIMEOUT),
            ping_timeout: Some(DEFAULT_PING_TIMEOUT),
            strategy: Strategy::default(),
            manual: false,
            queue_size: DEFAULT_QUEUE_SIZE,
            pathname: "/primus".to_string(),
            parser: Arc::new(Json),
            transformer: "websockets".to_string(),
            transport: TransportOptions::default(),
            #[cfg(feature = "tls")]
            tls: None,
            incoming_capacity: DEFAULT_INCOMING_CAPACITY,
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }
}

impl ClientOptions {
    /// Check the options and normalise them (a `/` is put in front of the pathname when
    /// missing, the transformer name is lower-cased).
    pub fn validate(mut self) -> Result<Self, ClientError> {
        let bad = |what: &str| Err(ClientError::InvalidOptions(what.to_string()));
        if self.queue_size == 0 {
            return bad("queue_size must be at least 1");
        }
        if self.incoming_capacity == 0 {
            return bad("incoming_capacity must be at least 1");
        }
        if self.event_capacity == 0 {
            return bad("event_capacity must be at least 1");
        }
        if !(self.reconnect.factor.is_finite() && self.reconnect.factor > 0.0) {
            return bad("reconnect.factor must be a positive finite number");
        }
        if self.reconnect.timeout.is_zero() {
            return bad("reconnect.timeout must be more than zero");
        }
        if self.ping_timeout.is_some_and(|t| t.is_zero()) {
            return bad("ping_timeout must be more than zero (use None to turn it off)");
        }
        if !self.pathname.starts_with('/') {
            self.pathname.insert(0, '/');
        }
        if self.pathname.contains(['?', '#']) || self.pathname.chars().any(char::is_whitespace) {
            return bad("pathname must be a plain path such as `/primus`");
        }
        self.transformer = self.transformer.to_ascii_lowercase();
        super::transport::Transport::by_name(&self.transformer)?;
        Ok(self)
    }
}

/// Transport-specific options (the reference's `transport` object).
#[derive(Clone, Debug, Default)]
pub struct TransportOptions {
    /// Options of the `websockets` transformer.
    pub websockets: WebSocketOptions,
    /// Options of the `engine.io` transformer (polling only, WebSocket only, base64).
    pub engineio: crate::transformers::engineio::EngineIoClientOptions,
    /// Options of the `sockjs` transformer (which transports, in which order).
    pub sockjs: crate::transformers::sockjs::SockJsClientOptions,
    /// Options of the `sse` transformer (line limit, extra headers).
    pub sse: crate::transformers::sse::SseClientOptions,
    /// Options of the `socket.io` transformer (the CONNECT's `auth`); its Engine.IO layer
    /// reads [`engineio`](Self::engineio).
    pub socketio: crate::transformers::socketio::SocketIoClientOptions,
    /// Options of the `webtransport` transformer (how to trust the server, port, limits).
    pub webtransport: crate::transformers::webtransport::WebTransportClientOptions,
    /// Options of the `browserchannel` transformer (chunk limit, extra headers).
    pub browserchannel: crate::transformers::browserchannel::BrowserChannelClientOptions,
}

/// Options of the `websockets` transport.
#[derive(Clone, Debug)]
pub struct WebSocketOptions {
    /// Largest incoming message accepted (default 10 MiB). A larger one is a protocol error:
    /// the connection is dropped and the client reconnects, like `ws` with `maxPayload`.
    pub max_message_size: Option<usize>,
    /// Largest incoming frame accepted (default: same as `max_message_size`).
    pub max_frame_size: Option<usize>,
    /// Extra headers sent with the upgrade request (for example a bearer token).
    pub headers: Vec<(String, String)>,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            max_message_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            max_frame_size: Some(DEFAULT_MAX_MESSAGE_SIZE),
            headers: Vec::new(),
        }
    }
}

/// When the client reconnects (the reference's `strategy`).
///
/// Parse it from the reference's string form:
///
/// ```
/// use primus::client::Strategy;
/// let s: Strategy = "disconnect, timeout".parse().unwrap();
/// assert!(s.disconnect && s.timeout && !s.online);
/// assert_eq!("false".parse::<Strategy>().unwrap(), Strategy::NONE);
/// assert_eq!("".parse::<Strategy>().unwrap(), Strategy::default());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Strategy {
    /// Reconnect after an unexpected close of an open connection or a heartbeat timeout.
    pub disconnect: bool,
    /// Reconnect when the network comes back. Accepted for compatibility: a Rust process
    /// has no browser `online` event, so this never triggers by itself.
    pub online: bool,
    /// Reconnect when the first connection times out or fails (for example a refused
    /// authorization); without it the client ends.
    pub timeout: bool,
}

impl Strategy {
    /// Every strategy (the default).
    pub const ALL: Strategy = Strategy {
        disconnect: true,
        online: true,
        timeout: true,
    };
    /// No reconnection at all (the reference's `strategy: false`).
    pub const NONE: Strategy = Strategy {
        disconnect: false,
        online: false,
        timeout: false,
    };
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy::ALL
    }
}

impl FromStr for Strategy {
    type Err = ClientError;

    /// Comma-separated names; `false`/`none` for no strategy; an empty string for the
    /// default, as in the reference.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(Strategy::default());
        }
        if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("none") {
            return Ok(Strategy::NONE);
        }
        let mut out = Strategy::NONE;
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "disconnect" => out.disconnect = true,
                "online" => out.online = true,
                "timeout" => out.timeout = true,
                other => {
                    return Err(ClientError::InvalidOptions(format!(
                        "unknown strategy `{other}`: use disconnect, online, timeout or false"
                    )))
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_references() {
        let o = ClientOptions::default();
        assert_eq!(o.reconnect.min, Duration::from_millis(500));
        assert_eq!(o.reconnect.max, None);
        assert_eq!(o.reconnect.retries, 10);
        assert_eq!(o.reconnect.factor, 2.0);
        assert_eq!(o.reconnect.timeout, Duration::from_secs(30));
        assert_eq!(o.timeout, Some(Duration::from_secs(10)));
        assert_eq!(o.ping_timeout, Some(Duration::from_secs(45)));
        assert_eq!(o.strategy, Strategy::ALL);
        assert!(!o.manual);
        assert_eq!(o.pathname, "/primus");
        assert_eq!(o.parser.name(), "json");
        assert_eq!(o.transformer, "websockets");
        // The default transformer is only valid where it is compiled in.
        assert_eq!(o.validate().is_ok(), cfg!(feature = "websockets"));
    }

    #[test]
    #[cfg(feature = "websockets")] // the options name the websockets transformer
    fn validation_normalises_and_rejects() {
        let o = ClientOptions {
            pathname: "chat".into(),
            transformer: "WebSockets".into(),
            ..Default::default()
        };
        let o = o.validate().unwrap();
        assert_eq!(
            (o.pathname.as_str(), o.transformer.as_str()),
            ("/chat", "websockets")
        );

        let rejected = [
            ClientOptions {
                queue_size: 0,
                ..Default::default()
            },
            ClientOptions {
                incoming_capacity: 0,
                ..Default::default()
            },
            ClientOptions {
                event_capacity: 0,
                ..Default::default()
            },
            ClientOptions {
                ping_timeout: Some(Duration::ZERO),
                ..Default::default()
            },
            ClientOptions {
                pathname: "/a?b".into(),
                ..Default::default()
            },
            ClientOptions {
                reconnect: Backoff {
                    factor: f64::NAN,
                    ..Backoff::default()
                },
                ..Default::default()
            },
            ClientOptions {
                reconnect: Backoff {
                    timeout: Duration::ZERO,
                    ..Backoff::default()
                },
                ..Default::default()
            },
        ];
        for o in rejected {
            assert!(matches!(o.validate(), Err(ClientError::InvalidOptions(_))));
        }
        let o = ClientOptions {
            transformer: "carrier-pigeon".into(),
            ..Default::default()
        };
        assert!(
            matches!(o.validate(), Err(ClientError::UnsupportedTransformer(t)) if t == "carrier-pigeon")
        );
    }

    #[test]
    fn strategy_strings() {
        assert_eq!(
            "disconnect,online,timeout".parse::<Strategy>().unwrap(),
            Strategy::ALL
        );
        assert_eq!(
            "Timeout".parse::<Strategy>().unwrap(),
            Strategy {
                timeout: true,
                ..Strategy::NONE
            }
        );
        assert_eq!("none".parse::<Strategy>().unwrap(), Strategy::NONE);
        assert!("sometimes".parse::<Strategy>().is_err());
    }
}
