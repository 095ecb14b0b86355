//! The transport seam: an enum over the transformers' client halves. The driver only sees
//! [`Connection`]; adding Engine.IO or SockJS means adding a variant here and a
//! `transformers/<name>/client.rs`.

use super::url::Endpoint;
use super::{ClientError, ClientOptions};
use crate::transformers::{engineio, sockjs, websockets};
use primus_core::Frame;

/// Which transformer the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    WebSockets,
    EngineIo,
    SockJs,
}

impl Transport {
    pub(crate) fn by_name(name: &str) -> Result<Self, ClientError> {
        match name.to_ascii_lowercase().as_str() {
            "websockets" => Ok(Transport::WebSockets),
            "engine.io" => Ok(Transport::EngineIo),
            "sockjs" => Ok(Transport::SockJs),
            other => Err(ClientError::UnsupportedTransformer(other.to_string())),
        }
    }

    /// Open one connection (one new spark on the server).
    pub(crate) async fn connect(
        self,
        endpoint: &Endpoint,
        options: &ClientOptions,
    ) -> Result<Connection, ClientError> {
        match self {
            Transport::WebSockets => Ok(Connection::WebSockets(
                websockets::client::connect(endpoint, options).await?,
            )),
            Transport::EngineIo => Ok(Connection::EngineIo(
                engineio::client::connect(endpoint, options).await?,
            )),
            Transport::SockJs => Ok(Connection::SockJs(
                sockjs::client::connect(endpoint, options).await?,
            )),
        }
    }
}

/// One open connection of some transport.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per client, never moved on a hot path
pub(crate) enum Connection {
    WebSockets(websockets::client::Connection),
    EngineIo(engineio::client::Connection),
    SockJs(sockjs::client::Connection),
}

impl Connection {
    /// The next frame, `None` when closed. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        match self {
            Connection::WebSockets(c) => c.recv().await,
            Connection::EngineIo(c) => c.recv().await,
            Connection::SockJs(c) => c.recv().await,
        }
    }

    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        match self {
            Connection::WebSockets(c) => c.feed(frame).await,
            Connection::EngineIo(c) => c.feed(frame).await,
            Connection::SockJs(c) => c.feed(frame).await,
        }
    }

    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        match self {
            Connection::WebSockets(c) => c.flush().await,
            Connection::EngineIo(c) => c.flush().await,
            Connection::SockJs(c) => c.flush().await,
        }
    }

    /// Start the transport's clean close without waiting for it: afterwards
    /// [`recv`](Self::recv) yields what the server still sends, then `None`.
    pub(crate) async fn begin_close(&mut self) {
        match self {
            Connection::WebSockets(c) => c.begin_close().await,
            Connection::EngineIo(c) => c.begin_close().await,
            Connection::SockJs(c) => c.begin_close().await,
        }
    }

    /// Close at once; what still arrives is dropped.
    pub(crate) async fn close(&mut self) {
        match self {
            Connection::WebSockets(c) => c.close().await,
            Connection::EngineIo(c) => c.close().await,
            Connection::SockJs(c) => c.close().await,
        }
    }
}
