//! Client errors.

/// What went wrong in a client. Cheap to clone so it can travel in [`ClientEvent::Error`](super::ClientEvent::Error).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL cannot be used.
    #[error("invalid URL {0}")]
    InvalidUrl(String),
    /// An option has a value the client cannot work with.
    #[error("invalid client option: {0}")]
    InvalidOptions(String),
    /// The transformer has no Rust client yet.
    #[error("unsupported transformer `{0}`: the Rust client speaks `websockets`, `engine.io`, `sockjs`, `faye`, `sse`, `uws`/`lws`, `socket.io`, `browserchannel` and `webtransport`")]
    UnsupportedTransformer(String),
    /// The transformer exists but this build of primus-rs left it out (its Cargo feature
    /// is off).
    #[error(
        "transformer `{name}` is not compiled in: enable the `{feature}` feature of primus-rs"
    )]
    TransformerNotCompiled {
        /// The transformer asked for (`sockjs`, `engine.io`, `websockets`, `faye`).
        name: &'static str,
        /// The Cargo feature of primus-rs that brings it.
        feature: &'static str,
    },
    /// Opening a connection failed (refused, DNS, TLS, rejected upgrade such as a 401).
    #[error("failed to connect: {0}")]
    Connect(String),
    /// A Socket.IO server refused the CONNECT (`socket.io`): its CONNECT_ERROR message,
    /// for example what a Socket.IO middleware's error said.
    #[error("the Socket.IO server refused the connection: {0}")]
    SocketIoRefused(String),
    /// The connection did not open in time.
    #[error("connection timed out")]
    Timeout,
    /// The open connection failed (I/O error, protocol violation, oversize message).
    #[error("transport error: {0}")]
    Transport(String),
    /// An incoming frame could not be decoded; it was dropped and the connection kept.
    #[error("Failed to decode incoming data: {0}")]
    Decode(String),
    /// An outgoing value could not be encoded; nothing was sent.
    #[error("Failed to encode outgoing data: {0}")]
    Encode(String),
    /// The client has ended (`end`, `destroy`, or recovery gave up).
    #[error("the client has ended")]
    Closed,
    /// The server's `<pathname>/spec` could not be fetched or understood.
    #[error("failed to read the server spec: {0}")]
    Spec(String),
}

impl From<primus_core::ParserError> for ClientError {
    fn from(e: primus_core::ParserError) -> Self {
        match e {
            primus_core::ParserError::Decode(m) => ClientError::Decode(m),
            primus_core::ParserError::Encode(m) => ClientError::Encode(m),
            other => ClientError::InvalidOptions(other.to_string()),
        }
    }
}
