//! Client half of the `sockjs` transformer: a SockJS client for the Rust
//! [`Client`](crate::client::Client), speaking to our server and to the Node Primus server
//! with `transformer: 'sockjs'`.
//!
//! It tries the transports in order (default: `websocket`, then `xhr-streaming`, then
//! `xhr-polling`) and keeps the first that opens (answers `o`). Each connection is a new
//! SockJS session `<pathname>/<server>/<session>/<transport>`, with the original query and
//! a fresh `_primuscb` on every request, as the reference client sends them.
//!
//! - websocket: one WebSocket; `a[…]` frames in, JSON arrays out.
//! - xhr-streaming: a `POST …/xhr_streaming` response read line by line (after its 2 KiB
//!   prelude), opened again each time the server ends it (`response_limit`); messages go
//!   out with `POST …/xhr_send`.
//! - xhr-polling: `POST …/xhr` again and again, `POST …/xhr_send` to send.
//!
//! A `c[code,"reason"]` frame ends the connection like a WebSocket close.

pub use super::{SockJsClientOptions, SockJsTransport};
use crate::client::net::{self, BoxedIo};
use crate::client::url::Endpoint;
use crate::client::{ClientError, ClientOptions};
use crate::transformers::websockets::client::{query_with_cache_buster, yeast};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use primus_core::sockjs::{self as codec, ServerFrame};
use primus_core::Frame;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// Frames the receive task may get ahead of the application.
const INBOX: usize = 64;
impl SockJsTransport {
    fn path(self) -> &'static str {
        match self {
            SockJsTransport::WebSocket => "websocket",
            SockJsTransport::XhrStreaming => "xhr_streaming",
            SockJsTransport::XhrPolling => "xhr",
        }
    }
}

/// An open SockJS session.
#[derive(Debug)]
pub(crate) struct Connection {
    kind: Kind,
    /// Messages received but not yet handed out.
    pending: VecDeque<Frame>,
    /// Messages fed, sent on flush.
    out: Vec<String>,
    /// The server closed the session.
    closed: bool,
}

#[derive(Debug)]
enum Kind {
    Ws(Box<WebSocketStream<BoxedIo>>),
    Xhr(Box<Xhr>),
}

/// The HTTP transports: a receive task and a keep-alive connection for `xhr_send`.
#[derive(Debug)]
struct Xhr {
    endpoint: Endpoint,
    options: ClientOptions,
    /// `<pathname>/<server>/<session>`.
    base: String,
    frames: mpsc::Receiver<Result<ServerFrame, ClientError>>,
    task: JoinHandle<()>,
    sender: Option<net::HttpSender>,
}

impl Drop for Xhr {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Open a session with the first transport that works.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Connection, ClientError> {
    let transports = options.transport.sockjs.transports.clone();
    connect_with(endpoint, options, &transports).await
}

/// Open a session trying `transports` in order.
pub(crate) async fn connect_with(
    endpoint: &Endpoint,
    options: &ClientOptions,
    transports: &[SockJsTransport],
) -> Result<Connection, ClientError> {
    let mut last = ClientError::Connect("no sockjs transport configured".into());
    for &t in transports {
        let base = format!(
            "{}/{:03}/{}",
            options.pathname,
            rand::random::<u16>() % 1000,
            session_id()
        );
        let attempt = match t {
            SockJsTransport::WebSocket => connect_ws(endpoint, options, &base).await,
            _ => connect_xhr(endpoint, options, base, t).await,
        };
        match attempt {
            Ok(kind) => {
                return Ok(Connection {
                    kind,
                    pending: VecDeque::new(),
                    out: Vec::new(),
                    closed: false,
                })
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// 8 random characters from `a-z0-9`, like sockjs-client's session ids.
fn session_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz012345";
    (0..8)
        .map(|_| ALPHABET[(rand::random::<u8>() % 32) as usize] as char)
        .collect()
}

/// `<path>?<original query>&_primuscb=<new id>`.
fn target(endpoint: &Endpoint, path: &str) -> String {
    let query = query_with_cache_buster(endpoint.query.as_deref().unwrap_or(""), &yeast());
    format!("{path}?{query}")
}

fn transport_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

async fn connect_ws(
    endpoint: &Endpoint,
    options: &ClientOptions,
    base: &str,
) -> Result<Kind, ClientError> {
    let scheme = if endpoint.secure { "wss" } else { "ws" };
    let url = format!(
        "{scheme}://{}{}",
        endpoint.host,
        target(endpoint, &format!("{base}/websocket"))
    );
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ClientError::InvalidUrl(format!("`{url}`: {e}")))?;
    net::add_headers(
        request.headers_mut(),
        endpoint,
        &options.transport.sockjs.headers,
    )?;
    let max = options.transport.sockjs.max_frame;
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let io = net::connect(endpoint, options).await?;
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(request, io, Some(config))
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    // The session is open once the server says `o`.
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Text(t))) => match codec::parse_server_frame(&t) {
                Ok(ServerFrame::Open) => return Ok(Kind::Ws(Box::new(ws))),
                Ok(ServerFrame::Heartbeat) => continue,
                Ok(ServerFrame::Close(code, reason)) => {
                    return Err(ClientError::Connect(format!(
                        "sockjs session closed: {code} {reason}"
                    )))
                }
                _ => return Err(ClientError::Connect(format!("unexpected frame `{t}`"))),
            },
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
            Some(Ok(other)) => {
                return Err(ClientError::Connect(format!(
                    "unexpected message {other:?}"
                )))
            }
            Some(Err(e)) => return Err(ClientError::Connect(e.to_string())),
            None => return Err(ClientError::Connect("closed before `o`".into())),
        }
    }
}

fn post(
    endpoint: &Endpoint,
    options: &ClientOptions,
    path: &str,
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, ClientError> {
    let mut req = http::Request::post(target(endpoint, path))
        .header(http::header::HOST, endpoint.host.as_str())
        .header(http::header::CONTENT_TYPE, "text/plain;charset=UTF-8")
        .body(Full::new(body))
        .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
    net::add_headers(
        req.headers_mut(),
        endpoint,
        &options.transport.sockjs.headers,
    )?;
    Ok(req)
}

/// Start a receiver request (xhr_streaming or xhr) and return its body.
async fn open_receiver(
    endpoint: &Endpoint,
    options: &ClientOptions,
    base: &str,
    transport: SockJsTransport,
) -> Result<Incoming, ClientError> {
    let mut sender = net::http1(endpoint, options).await?.0;
    let req = post(
        endpoint,
        options,
        &format!("{base}/{}", transport.path()),
        Bytes::new(),
    )?;
    let res = sender.send_request(req).await.map_err(transport_err)?;
    if res.status() != http::StatusCode::OK {
        return Err(ClientError::Connect(format!(
            "sockjs {}: status {}",
            transport.path(),
            res.status()
        )));
    }
    Ok(res.into_body())
}

/// Splits a response body into SockJS frames (lines), skipping the streaming prelude.
struct Lines {
    body: Incoming,
    buf: Vec<u8>,
    /// The first line of an xhr_streaming response is the `hhh…` prelude.
    prelude: bool,
    max: usize,
}

impl Lines {
    fn new(body: Incoming, prelude: bool, max: usize) -> Lines {
        Lines {
            body,
            buf: Vec::new(),
            prelude,
            max,
        }
    }

    /// The next frame; `Ok(None)` at the end of the response.
    async fn next(&mut self) -> Result<Option<ServerFrame>, ClientError> {
        loop {
            if let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=nl).collect();
                let line = std::str::from_utf8(&line[..nl])
                    .map_err(|_| transport_err("sockjs frame is not UTF-8"))?;
                if std::mem::take(&mut self.prelude) && line.bytes().all(|b| b == b'h') {
                    continue;
                }
                if line.is_empty() {
                    continue;
                }
                return codec::parse_server_frame(line)
                    .map(Some)
                    .map_err(|e| transport_err(format!("bad sockjs frame: {e}")));
            }
            if self.buf.len() > self.max {
                return Err(transport_err("sockjs frame too large"));
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(transport_err(e)),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

async fn connect_xhr(
    endpoint: &Endpoint,
    options: &ClientOptions,
    base: String,
    transport: SockJsTransport,
) -> Result<Kind, ClientError> {
    let streaming = transport == SockJsTransport::XhrStreaming;
    let max = options.transport.sockjs.max_frame;
    let body = open_receiver(endpoint, options, &base, transport).await?;
    let mut lines = Lines::new(body, streaming, max);
    match lines.next().await? {
        Some(ServerFrame::Open) => {}
        Some(ServerFrame::Close(code, reason)) => {
            return Err(ClientError::Connect(format!(
                "sockjs session closed: {code} {reason}"
            )))
        }
        other => {
            return Err(ClientError::Connect(format!(
                "expected the open frame, got {other:?}"
            )))
        }
    }
    let (tx, frames) = mpsc::channel(INBOX);
    let task = {
        let endpoint = endpoint.clone();
        let options = options.clone();
        let base = base.clone();
        tokio::spawn(async move {
            receive(endpoint, options, base, transport, lines, tx).await;
        })
    };
    Ok(Kind::Xhr(Box::new(Xhr {
        endpoint: endpoint.clone(),
        options: options.clone(),
        base,
        frames,
        task,
        sender: None,
    })))
}

/// The receive loop of the HTTP transports: read the current response, open the next.
async fn receive(
    endpoint: Endpoint,
    options: ClientOptions,
    base: String,
    transport: SockJsTransport,
    mut lines: Lines,
    tx: mpsc::Sender<Result<ServerFrame, ClientError>>,
) {
    let streaming = transport == SockJsTransport::XhrStreaming;
    let max = options.transport.sockjs.max_frame;
    loop {
        match lines.next().await {
            Ok(Some(ServerFrame::Open | ServerFrame::Heartbeat)) => {}
            Ok(Some(frame)) => {
                let close = matches!(frame, ServerFrame::Close(..));
                if tx.send(Ok(frame)).await.is_err() || close {
                    return;
                }
            }
            Ok(None) => {
                // The response ended (one poll, or the response limit): open the next.
                match open_receiver(&endpoint, &options, &base, transport).await {
                    Ok(body) => lines = Lines::new(body, streaming, max),
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
}

impl Connection {
    /// The next Primus frame; `None` once the server closed the session. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        loop {
            if let Some(f) = self.pending.pop_front() {
                return Some(Ok(f));
            }
            if self.closed {
                return None;
            }
            let frame = match &mut self.kind {
                Kind::Ws(ws) => match ws.next().await? {
                    Ok(WsMessage::Text(t)) => match codec::parse_server_frame(&t) {
                        Ok(f) => f,
                        Err(e) => {
                            return Some(Err(transport_err(format!("bad sockjs frame: {e}"))))
                        }
                    },
                    Ok(WsMessage::Close(_)) => return None,
                    Ok(_) => continue,
                    Err(e) => return Some(Err(transport_err(e))),
                },
                Kind::Xhr(x) => match x.frames.recv().await? {
                    Ok(f) => f,
                    Err(e) => return Some(Err(e)),
                },
            };
            match frame {
                ServerFrame::Messages(m) => self
                    .pending
                    .extend(m.into_iter().map(|s| Frame::Text(Bytes::from(s)))),
                ServerFrame::Close(..) => {
                    self.closed = true;
                    return None;
                }
                ServerFrame::Open | ServerFrame::Heartbeat => {}
            }
        }
    }

    /// Queue a frame for sending (call [`flush`](Self::flush) after a batch).
    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        self.out
            .push(crate::client::transport::text_only(frame, "sockjs")?);
        Ok(())
    }

    /// Send what was fed: one WebSocket message or one `xhr_send` request.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let body =
            serde_json::to_string(&self.out).map_err(|e| ClientError::Encode(e.to_string()))?;
        self.out.clear();
        match &mut self.kind {
            Kind::Ws(ws) => ws.send(WsMessage::text(body)).await.map_err(transport_err),
            Kind::Xhr(x) => x.send(Bytes::from(body)).await,
        }
    }

    /// Start a clean close: a WebSocket close frame, after which [`recv`](Self::recv)
    /// yields what the server sends before its own close frame. The HTTP transports have
    /// no close of their own in SockJS: they keep receiving until [`close`](Self::close).
    pub(crate) async fn begin_close(&mut self) {
        if let Kind::Ws(ws) = &mut self.kind {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                WebSocketStream::close(&mut **ws, None),
            )
            .await;
        }
    }

    /// Close: a WebSocket close frame, or stop polling (the server reclaims the session
    /// after its `disconnect_delay`).
    pub(crate) async fn close(&mut self) {
        match &mut self.kind {
            Kind::Ws(ws) => {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    WebSocketStream::close(&mut **ws, None),
                )
                .await;
            }
            Kind::Xhr(x) => x.task.abort(),
        }
    }
}

impl Xhr {
    async fn send(&mut self, body: Bytes) -> Result<(), ClientError> {
        // Reuse the keep-alive connection; open a new one when it is gone.
        let mut sender =
            net::reuse_or_connect(self.sender.take(), &self.endpoint, &self.options).await?;
        let req = post(
            &self.endpoint,
            &self.options,
            &format!("{}/xhr_send", self.base),
            body,
        )?;
        let res = sender.send_request(req).await.map_err(transport_err)?;
        let status = res.status();
        // Drain the (empty) body so the connection can be reused.
        let _ = res.into_body().collect().await;
        if !status.is_success() {
            return Err(transport_err(format!("sockjs xhr_send: status {status}")));
        }
        self.sender = Some(sender);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_and_targets() {
        let id = session_id();
        assert_eq!(id.len(), 8);
        assert!(codec::valid_segment(&id));
        let e = Endpoint::parse("http://127.0.0.1:9/?a=1").unwrap();
        let t = target(&e, "/primus/000/abc/xhr");
        assert!(t.starts_with("/primus/000/abc/xhr?a=1&_primuscb="), "{t}");
    }
}
