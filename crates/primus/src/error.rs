//! Error types. Each concern has its own enum; messages say what to do.

use primus_core::ParserError;

/// A boxed error from user code (connection listeners, services).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The server could not be built from its options.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrimusError {
    /// The transformer name is not one we ship.
    #[error("unknown transformer `{0}`: use one of websockets, engine.io, sockjs, faye, uws, lws, sse, socket.io, browserchannel, webtransport")]
    UnknownTransformer(String),
    /// The transformer exists but this build of primus-rs left it out (its Cargo feature
    /// is off).
    #[error(
        "transformer `{name}` is not compiled in: enable the `{feature}` feature of primus-rs"
    )]
    TransformerNotCompiled {
        /// The transformer asked for (`sockjs`, `engine.io`, `websockets`).
        name: &'static str,
        /// The Cargo feature of primus-rs that brings it (`sockjs`, `engineio`, `websockets`).
        feature: &'static str,
    },
    /// The parser name is not one we ship.
    #[error(transparent)]
    Parser(#[from] ParserError),
    /// `compression: true` was asked for.
    #[error("`compression` (permessage-deflate) is not supported yet: set `compression: false`")]
    CompressionUnsupported,
    /// An option has a value that cannot work.
    #[error("invalid option `{name}`: {reason}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Why, and what to use instead.
        reason: String,
    },
    /// Binding, TLS or I/O failure of the standalone server.
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The TLS certificate or key could not be loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A message could not be queued on a spark.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The spark is closed; nothing was sent.
    #[error("the spark is closed")]
    Closed,
    /// The spark's outgoing queue is full (the peer reads slower than you write). Retry
    /// later, use `send(..).await` to wait for room, or raise `queue_size`.
    #[error("the spark's outgoing queue is full: use send().await to wait, or raise `queue_size`")]
    Full,
    /// The value could not be encoded by the parser.
    #[error(transparent)]
    Encode(#[from] ParserError),
    /// An outgoing transform failed (the spark also got an `error` event).
    #[error("an outgoing transform failed: {0}")]
    Transform(String),
    /// An async outgoing transform is registered: use `send(..).await` or
    /// `send_all(..).await`, which can wait for it.
    #[error(
        "async outgoing transforms are registered: use send().await / send_all().await instead of write()"
    )]
    AsyncTransform,
}

/// Something went wrong on one spark. Delivered to `error` handlers and logged; what
/// happens to the connection is said on each variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SparkError {
    /// An incoming message could not be decoded: it is dropped, the connection stays.
    #[error(transparent)]
    Parser(#[from] ParserError),
    /// An incoming message was larger than `max_length`: the connection is closed (1009).
    #[error("Max payload size exceeded (limit {limit} bytes): raise `max_length` to accept larger messages")]
    MaxLength {
        /// The configured limit.
        limit: usize,
    },
    /// A connection listener failed: the spark is ended.
    #[error("connection listener failed: {0}")]
    Listener(BoxError),
    /// The transport failed (reset, protocol violation): the spark is closed.
    #[error("transport error: {0}")]
    Transport(String),
    /// A message transform failed: the message is dropped, the connection stays.
    #[error("message transform failed: {0}")]
    Transform(BoxError),
    /// The peer did not take our messages in time: the spark is closed.
    #[error("peer too slow: {0}")]
    SlowPeer(String),
    /// A binary frame was queued (`Spark::write_frame`) on a transformer that carries text
    /// only: the frame is dropped, the connection stays.
    #[error("the `{transformer}` transformer carries text only: a binary frame was dropped (use a text parser and text frames)")]
    TextOnly {
        /// The transformer (`browserchannel`).
        transformer: &'static str,
    },
}
