//! The transport seam: an enum over the transformers' client halves. The driver only sees
//! [`Connection`]; adding Engine.IO or SockJS means adding a variant here and a
//! `transformers/<name>/client.rs`. Transformers that speak plain WebSocket (`faye`) share
//! the websockets variant with their own settings; `socket.io` connections are Engine.IO
//! ones with Socket.IO framing.

use super::url::Endpoint;
use super::{ClientError, ClientOptions};
#[cfg(feature = "browserchannel")]
use crate::transformers::browserchannel;
#[cfg(feature = "engineio")]
use crate::transformers::engineio;
#[cfg(feature = "socketio")]
use crate::transformers::socketio;
#[cfg(feature = "sockjs")]
use crate::transformers::sockjs;
#[cfg(feature = "sse")]
use crate::transformers::sse;
#[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
use crate::transformers::websockets;
#[cfg(feature = "webtransport")]
use crate::transformers::webtransport;
use primus_core::Frame;

/// The text of a frame for a transport that carries text only (`transformer` names it in
/// the error a binary frame gets).
#[cfg(any(feature = "sockjs", feature = "browserchannel"))]
pub(crate) fn text_only(frame: Frame, transformer: &str) -> Result<String, ClientError> {
    match frame {
        Frame::Text(b) => {
            String::from_utf8(b.to_vec()).map_err(|e| ClientError::Encode(e.to_string()))
        }
        Frame::Binary(_) => Err(ClientError::Encode(format!(
            "{transformer} carries text only: use a text parser"
        ))),
    }
}

/// Which transformer the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// `WebTransport` is the protocol's name, not a stutter of the enum's.
#[allow(clippy::enum_variant_names)]
pub(crate) enum Transport {
    /// Plain WebSocket: `websockets`, `uws`/`lws`, and `faye` (whose close frames carry
    /// 1000).
    #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
    WebSockets {
        /// The status code of the client's close frame; `None`: no code, like `ws`.
        close_code: Option<u16>,
    },
    #[cfg(feature = "engineio")]
    EngineIo,
    #[cfg(feature = "sockjs")]
    SockJs,
    #[cfg(feature = "sse")]
    Sse,
    /// The engine.io client with Socket.IO framing; its connection is an Engine.IO one.
    #[cfg(feature = "socketio")]
    SocketIo,
    #[cfg(feature = "webtransport")]
    WebTransport,
    #[cfg(feature = "browserchannel")]
    BrowserChannel,
}

impl Transport {
    pub(crate) fn by_name(name: &str) -> Result<Self, ClientError> {
        match name.to_ascii_lowercase().as_str() {
            #[cfg(feature = "websockets")]
            "websockets" => Ok(Transport::WebSockets { close_code: None }),
            #[cfg(feature = "faye")]
            "faye" => Ok(Transport::WebSockets {
                close_code: Some(crate::transformers::faye::CLOSE_CODE),
            }),
            // uws's client is the websockets one, as in the reference.
            #[cfg(feature = "uws")]
            "uws" | "lws" => Ok(Transport::WebSockets { close_code: None }),
            #[cfg(feature = "engineio")]
            "engine.io" => Ok(Transport::EngineIo),
            #[cfg(feature = "sockjs")]
            "sockjs" => Ok(Transport::SockJs),
            #[cfg(feature = "sse")]
            "sse" => Ok(Transport::Sse),
            #[cfg(feature = "webtransport")]
            "webtransport" => Ok(Transport::WebTransport),
            #[cfg(feature = "browserchannel")]
            "browserchannel" => Ok(Transport::BrowserChannel),
            #[cfg(feature = "socketio")]
            "socket.io" => Ok(Transport::SocketIo),
            other => Err(match crate::transformers::known(other) {
                Some((name, feature)) => ClientError::TransformerNotCompiled { name, feature },
                None => ClientError::UnsupportedTransformer(other.to_string()),
            }),
        }
    }

    /// Open one connection (one new spark on the server).
    pub(crate) async fn connect(
        self,
        endpoint: &Endpoint,
        options: &ClientOptions,
    ) -> Result<Connection, ClientError> {
        match self {
            #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
            Transport::WebSockets { close_code } => Ok(Connection::WebSockets(
                websockets::client::connect(endpoint, options, close_code).await?,
            )),
            #[cfg(feature = "engineio")]
            Transport::EngineIo => Ok(Connection::EngineIo(
                engineio::client::connect(endpoint, options).await?,
            )),
            #[cfg(feature = "sockjs")]
            Transport::SockJs => Ok(Connection::SockJs(
                sockjs::client::connect(endpoint, options).await?,
            )),
            #[cfg(feature = "sse")]
            Transport::Sse => Ok(Connection::Sse(
                sse::client::connect(endpoint, options).await?,
            )),
            #[cfg(feature = "socketio")]
            Transport::SocketIo => Ok(Connection::EngineIo(
                socketio::client::connect(endpoint, options).await?,
            )),
            #[cfg(feature = "webtransport")]
            Transport::WebTransport => Ok(Connection::WebTransport(
                webtransport::client::connect(endpoint, options).await?,
            )),
            #[cfg(feature = "browserchannel")]
            Transport::BrowserChannel => Ok(Connection::BrowserChannel(
                browserchannel::client::connect(endpoint, options).await?,
            )),
        }
    }
}

/// One open connection of some transport.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per client, never moved on a hot path
pub(crate) enum Connection {
    #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
    WebSockets(websockets::client::Connection),
    #[cfg(feature = "engineio")]
    EngineIo(engineio::client::Connection),
    #[cfg(feature = "sockjs")]
    SockJs(sockjs::client::Connection),
    #[cfg(feature = "sse")]
    Sse(sse::client::Connection),
    #[cfg(feature = "webtransport")]
    WebTransport(webtransport::client::Connection),
    #[cfg(feature = "browserchannel")]
    BrowserChannel(browserchannel::client::Connection),
}

impl Connection {
    /// The next frame, `None` when closed. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        match self {
            #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
            Connection::WebSockets(c) => c.recv().await,
            #[cfg(feature = "engineio")]
            Connection::EngineIo(c) => c.recv().await,
            #[cfg(feature = "sockjs")]
            Connection::SockJs(c) => c.recv().await,
            #[cfg(feature = "sse")]
            Connection::Sse(c) => c.recv().await,
            #[cfg(feature = "webtransport")]
            Connection::WebTransport(c) => c.recv().await,
            #[cfg(feature = "browserchannel")]
            Connection::BrowserChannel(c) => c.recv().await,
        }
    }

    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        match self {
            #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
            Connection::WebSockets(c) => c.feed(frame).await,
            #[cfg(feature = "engineio")]
            Connection::EngineIo(c) => c.feed(frame).await,
            #[cfg(feature = "sockjs")]
            Connection::SockJs(c) => c.feed(frame).await,
            #[cfg(feature = "sse")]
            Connection::Sse(c) => c.feed(frame).await,
            #[cfg(feature = "webtransport")]
            Connection::WebTransport(c) => c.feed(frame).await,
            #[cfg(feature = "browserchannel")]
            Connection::BrowserChannel(c) => c.feed(frame).await,
        }
    }

    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        match self {
            #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
            Connection::WebSockets(c) => c.flush().await,
            #[cfg(feature = "engineio")]
            Connection::EngineIo(c) => c.flush().await,
            #[cfg(feature = "sockjs")]
            Connection::SockJs(c) => c.flush().await,
            #[cfg(feature = "sse")]
            Connection::Sse(c) => c.flush().await,
            #[cfg(feature = "webtransport")]
            Connection::WebTransport(c) => c.flush().await,
            #[cfg(feature = "browserchannel")]
            Connection::BrowserChannel(c) => c.flush().await,
        }
    }

    /// Start the transport's clean close without waiting for it: afterwards
    /// [`recv`](Self::recv) yields what the server still sends, then `None`.
    pub(crate) async fn begin_close(&mut self) {
        match self {
            #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
            Connection::WebSockets(c) => c.begin_close().await,
            #[cfg(feature = "engineio")]
            Connection::EngineIo(c) => c.begin_close().await,
            #[cfg(feature = "sockjs")]
            Connection::SockJs(c) => c.begin_close().await,
            #[cfg(feature = "sse")]
            Connection::Sse(c) => c.begin_close().await,
            #[cfg(feature = "webtransport")]
            Connection::WebTransport(c) => c.begin_close().await,
            #[cfg(feature = "browserchannel")]
            Connection::BrowserChannel(c) => c.begin_close().await,
        }
    }

    /// Close at once; what still arrives is dropped.
    pub(crate) async fn close(&mut self) {
        match self {
            #[cfg(any(feature = "websockets", feature = "faye", feature = "uws"))]
            Connection::WebSockets(c) => c.close().await,
            #[cfg(feature = "engineio")]
            Connection::EngineIo(c) => c.close().await,
            #[cfg(feature = "sockjs")]
            Connection::SockJs(c) => c.close().await,
            #[cfg(feature = "sse")]
            Connection::Sse(c) => c.close().await,
            #[cfg(feature = "webtransport")]
            Connection::WebTransport(c) => c.close().await,
            #[cfg(feature = "browserchannel")]
            Connection::BrowserChannel(c) => c.close().await,
        }
    }
}
