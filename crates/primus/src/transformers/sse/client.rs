//! Client half of the `sse` transformer: the transport of the Rust
//! [`Client`](crate::client::Client) with `transformer: "sse"`.
//!
//! - `GET <pathname>/sse?<query>&_primuscb=<id>` with `Accept: text/event-stream` on its
//!   own HTTP/1.1 connection; the events are parsed as they arrive, every line (and
//!   event) bounded by [`SseClientOptions::max_line`]. The connection is open once the
//!   `open` event names the session.
//! - Messages go out as `POST <pathname>/sse/<session id>?<query>&_primuscb=<id>` (the
//!   query rides along so that authorization sees what it saw on the stream) on a second,
//!   kept-alive connection: everything the client queued while the previous POST was
//!   under way goes in the next one, one frame per line, in order.
//! - `end()` sends `DELETE <pathname>/sse/<session id>`, then reads the stream up to its
//!   `close` event.
//!
//! The stream ending, with or without `close`, is a closed transport: the Primus protocol
//! (`primus::server::close`) decides whether the client reconnects.

pub use super::SseClientOptions;
use crate::client::net;
use crate::client::url::Endpoint;
use crate::client::{ClientError, ClientOptions};
use crate::transformers::websockets::client::{query_with_cache_buster, yeast};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use primus_core::sse::{self as codec, EventParser, ServerEvent};
use primus_core::Frame;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long the DELETE of `end()` may take.
const DELETE_TIMEOUT: Duration = Duration::from_secs(2);

/// An open sse session.
#[derive(Debug)]
pub(crate) struct Connection {
    endpoint: Endpoint,
    options: ClientOptions,
    /// `<pathname>/sse/<session id>`.
    session: String,
    body: Incoming,
    parser: EventParser,
    /// The stream's connection task.
    stream_task: JoinHandle<()>,
    /// Lines fed, sent on flush.
    out: String,
    /// The kept-alive connection for POST and DELETE.
    sender: Option<net::HttpSender>,
    /// The stream is over (`close` event, or the body ended).
    closed: bool,
    /// The DELETE was sent.
    deleted: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stream_task.abort();
    }
}

fn transport_err(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// `<path>?<original query>&_primuscb=<new id>`.
fn target(endpoint: &Endpoint, path: &str) -> String {
    let query = query_with_cache_buster(endpoint.query.as_deref().unwrap_or(""), &yeast());
    format!("{path}?{query}")
}

fn request(
    endpoint: &Endpoint,
    options: &ClientOptions,
    method: http::Method,
    path: &str,
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, ClientError> {
    let mut req = http::Request::builder()
        .method(method)
        .uri(target(endpoint, path))
        .header(http::header::HOST, endpoint.host.as_str())
        .body(Full::new(body))
        .map_err(|e| ClientError::InvalidUrl(e.to_string()))?;
    net::add_headers(req.headers_mut(), endpoint, &options.transport.sse.headers)?;
    Ok(req)
}

/// Open the stream and wait for its `open` event.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    options: &ClientOptions,
) -> Result<Connection, ClientError> {
    let (mut sender, stream_task) = net::http1(endpoint, options).await?;
    let path = format!("{}/sse", options.pathname);
    let mut req = request(endpoint, options, http::Method::GET, &path, Bytes::new())?;
    let h = req.headers_mut();
    h.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| ClientError::Connect(e.to_string()))?;
    let status = res.status();
    let is_events = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
    if status != http::StatusCode::OK || !is_events {
        stream_task.abort();
        return Err(ClientError::Connect(format!(
            "sse stream: status {status}{}",
            if is_events {
                ""
            } else {
                ", not text/event-stream"
            }
        )));
    }
    let mut conn = Connection {
        endpoint: endpoint.clone(),
        options: options.clone(),
        session: String::new(),
        body: res.into_body(),
        parser: EventParser::new(options.transport.sse.max_line),
        stream_task,
        out: String::new(),
        sender: None,
        closed: false,
        deleted: false,
    };
    // The first event must name the session.
    match conn.next_event().await? {
        Some(ServerEvent::Open(id)) if !id.is_empty() && !id.contains(['/', '?', '#']) => {
            conn.session = format!("{}/sse/{id}", options.pathname);
            Ok(conn)
        }
        Some(ServerEvent::Close(why)) => {
            Err(ClientError::Connect(format!("sse stream closed: {why}")))
        }
        None => Err(ClientError::Connect(
            "sse stream ended before `open`".into(),
        )),
        Some(other) => Err(ClientError::Connect(format!(
            "expected the open event, got {other:?}"
        ))),
    }
}

impl Connection {
    /// The next event of the transformer; `None` when the body ended. Cancel safe: the
    /// parser keeps what was read.
    async fn next_event(&mut self) -> Result<Option<ServerEvent>, ClientError> {
        loop {
            while let Some(event) = self
                .parser
                .next_event()
                .map_err(|e| transport_err(format!("bad event stream: {e}")))?
            {
                if let Some(e) = codec::decode_event(&event)
                    .map_err(|e| transport_err(format!("bad sse event: {e}")))?
                {
                    return Ok(Some(e));
                }
            }
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(transport_err(e)),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.parser.push(&data);
                    }
                }
            }
        }
    }

    /// The next Primus frame; `None` once the stream is over. Cancel safe.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, ClientError>> {
        loop {
            if self.closed {
                return None;
            }
            match self.next_event().await {
                Ok(Some(ServerEvent::Frame(f))) => return Some(Ok(f)),
                Ok(Some(ServerEvent::Open(_))) => {}
                Ok(Some(ServerEvent::Close(_)) | None) => {
                    self.closed = true;
                    return None;
                }
                Err(e) => {
                    self.closed = true;
                    return Some(Err(e));
                }
            }
        }
    }

    /// Queue a frame for the next POST.
    pub(crate) async fn feed(&mut self, frame: Frame) -> Result<(), ClientError> {
        codec::encode_line(&frame, &mut self.out);
        Ok(())
    }

    /// Send what was fed as one POST and wait for its answer.
    pub(crate) async fn flush(&mut self) -> Result<(), ClientError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let body = Bytes::from(std::mem::take(&mut self.out));
        let status = self.send(http::Method::POST, body).await?;
        if !status.is_success() {
            return Err(transport_err(format!("sse POST: status {status}")));
        }
        Ok(())
    }

    /// One request on the kept-alive connection (opened again when it is gone).
    async fn send(
        &mut self,
        method: http::Method,
        body: Bytes,
    ) -> Result<http::StatusCode, ClientError> {
        let mut sender =
            net::reuse_or_connect(self.sender.take(), &self.endpoint, &self.options).await?;
        let mut req = request(&self.endpoint, &self.options, method, &self.session, body)?;
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/plain;charset=UTF-8"),
        );
        let res = sender.send_request(req).await.map_err(transport_err)?;
        let status = res.status();
        // Drain the (short) body so the connection can be reused.
        let _ = res.into_body().collect().await;
        self.sender = Some(sender);
        Ok(status)
    }

    /// The client ends the session (once); errors do not matter, the stream ending does.
    async fn delete(&mut self) {
        if std::mem::replace(&mut self.deleted, true) || self.closed {
            return;
        }
        let _ = tokio::time::timeout(
            DELETE_TIMEOUT,
            self.send(http::Method::DELETE, Bytes::new()),
        )
        .await;
    }

    /// Start a clean close: DELETE, after which [`recv`](Self::recv) yields what the
    /// server still sends before its `close` event.
    pub(crate) async fn begin_close(&mut self) {
        self.delete().await;
    }

    /// Close at once: DELETE (so the server does not wait out its disconnect delay), and
    /// drop the stream.
    pub(crate) async fn close(&mut self) {
        self.delete().await;
        self.closed = true;
        self.stream_task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_carry_the_query_and_a_cache_buster() {
        let e = Endpoint::parse("http://127.0.0.1:9/?a=1").unwrap();
        let t = target(&e, "/primus/sse");
        assert!(t.starts_with("/primus/sse?a=1&_primuscb="), "{t}");
    }
}
