//! Server half of the `sse` transformer: the event stream, the POST and DELETE endpoints,
//! and one task per session. The wire format and the lifetimes are in the
//! [module docs](super).

use super::SseOptions;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkConn, SparkShared};
use crate::server::Inner;
use crate::service::{full, method_not_allowed, HttpRequest, HttpResponse, RequestBody};
use crate::transformers::http_session::{
    closed, end_slow, end_too_big, session_id, ChannelBody, Ready, SessionMap,
};
use crate::transformers::websockets::server as ws;
use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use primus_core::sse::{self as codec, SseError};
use primus_core::Frame;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};

/// Queued frames written as one chunk at most.
const MAX_BATCH: usize = 64;
/// Chunks the response body may hold before the session task waits for the client.
const BODY_CHUNKS: usize = 16;
const PLAIN: &str = "text/plain; charset=UTF-8";

/// The sse server half: settings and live sessions.
#[derive(Debug)]
pub(crate) struct Server {
    settings: SseOptions,
    sessions: SessionMap<Session>,
    write_timeout: Duration,
    max_length: usize,
    /// `primus::server::close` as the parser encodes it (to tell `end` from `reconnect`).
    server_close: OnceLock<Option<Frame>>,
}

impl Server {
    pub(crate) fn new(options: &Options) -> Self {
        Server {
            settings: options.sse.clone(),
            sessions: SessionMap::default(),
            write_timeout: options.write_timeout,
            max_length: options.max_length,
            server_close: OnceLock::new(),
        }
    }

    /// Sessions alive (streaming, or within `disconnect_delay` of a lost stream).
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) async fn handle(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        let path = req.uri().path();
        let rest = path.get(server.pathname.len()..).unwrap_or("");
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        match rest.strip_prefix("/sse") {
            Some("") => match *req.method() {
                Method::GET => self.open(server, req),
                _ => method_not_allowed("GET"),
            },
            Some(id) if id.len() > 1 && id.starts_with('/') && !id[1..].contains('/') => {
                let id = id[1..].to_string();
                match *req.method() {
                    Method::POST => self.post(req, &id).await,
                    Method::DELETE => self.delete(&id).await,
                    _ => method_not_allowed("POST, DELETE"),
                }
            }
            _ => full(
                StatusCode::NOT_FOUND,
                PLAIN,
                format!(
                    "Not found: this server speaks the sse transformer. Open a stream with \
                     `GET {0}/sse` and `Accept: text/event-stream`; send with \
                     `POST {0}/sse/<session id>`.\n",
                    server.pathname
                ),
            ),
        }
    }

    /// `GET /sse`: a new spark and its event stream.
    fn open(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        let wants_events = req
            .headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| {
                t.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("text/event-stream")
            });
        if !wants_events || crate::service::is_upgrade(&req) {
            return full(
                StatusCode::BAD_REQUEST,
                PLAIN,
                format!(
                    "The sse transformer streams Server-Sent Events: send `GET {}/sse` with \
                     `Accept: text/event-stream` (no upgrade).\n",
                    server.pathname
                ),
            );
        }
        let info = ws::spark_info(server, req);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => return full(StatusCode::SERVICE_UNAVAILABLE, PLAIN, e.to_string()),
        };
        let id: Arc<str> = Arc::from(session_id());
        let (tx, rx) = mpsc::channel::<Bytes>(BODY_CHUNKS);
        let mut start = Vec::with_capacity(64);
        codec::open_event(&id, &mut start);
        // The channel is empty: the open event goes out first.
        let _ = tx.try_send(Bytes::from(start));
        let session = Arc::new(Session {
            spark: conn.spark.shared.clone(),
            ready: Ready::new(),
            order: tokio::sync::Mutex::new(()),
        });
        self.sessions.insert(id.clone(), session.clone());
        let server_close = self
            .server_close
            .get_or_init(|| {
                server
                    .parser
                    .encode(&primus_core::protocol::SERVER_CLOSE)
                    .ok()
            })
            .clone();
        let task = SessionTask {
            server: server.clone(),
            session: session.clone(),
            conn,
            tx: Some(tx),
            settings: self.settings.clone(),
            write_timeout: self.write_timeout,
            server_close,
            last_was_close: false,
        };
        self.sessions.spawn(id, session, task.run());
        let mut res = ChannelBody::response(rx);
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        res
    }

    fn session(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .get(id)
            .filter(|s| s.spark.close_kind().is_none())
    }

    /// `POST /sse/<id>`: frames from the client, delivered in order as the body is read.
    async fn post(&self, req: HttpRequest, id: &str) -> HttpResponse {
        let Some(session) = self.session(id) else {
            return unknown_session();
        };
        if !session.ready.wait(self.write_timeout).await {
            return full(
                StatusCode::SERVICE_UNAVAILABLE,
                PLAIN,
                "Session not ready.\n",
            );
        }
        // One POST at a time per session, so frames keep their order.
        let _order = session.order.lock().await;
        let limit = codec::line_limit(self.max_length);
        let mut lines = Lines::new(req.into_body(), limit);
        loop {
            let line = match lines.next().await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(LineError::TooLong) => return self.too_big(&session),
                Err(LineError::Broken) => {
                    return full(StatusCode::BAD_REQUEST, PLAIN, "Broken request body.\n")
                }
            };
            let frame = match codec::decode_line(&line) {
                Ok(Some(frame)) => frame,
                Ok(None) => continue,
                Err(e) => return malformed(&e),
            };
            if frame.as_bytes().len() > self.max_length {
                return self.too_big(&session);
            }
            if session.spark.close_kind().is_some() {
                return unknown_session();
            }
            session.spark.deliver(frame).await;
        }
        empty(StatusCode::NO_CONTENT)
    }

    /// A line or frame over the limits: 413, and the spark ends as with a WebSocket 1009.
    fn too_big(&self, session: &Session) -> HttpResponse {
        end_too_big(&session.spark, self.max_length);
        full(
            StatusCode::PAYLOAD_TOO_LARGE,
            PLAIN,
            format!(
                "A frame is larger than max_length ({} bytes).\n",
                self.max_length
            ),
        )
    }

    /// `DELETE /sse/<id>`: the client ends the spark (after POSTs under way).
    async fn delete(&self, id: &str) -> HttpResponse {
        let Some(session) = self.session(id) else {
            return unknown_session();
        };
        let _order = session.order.lock().await;
        session.spark.finish(CloseKind::Normal, None);
        empty(StatusCode::NO_CONTENT)
    }
}

/// A session: its spark and what its POSTs wait on.
struct Session {
    spark: Arc<SparkShared>,
    /// Set once the connection listeners have run (messages wait for it).
    ready: Ready,
    /// Held while a POST (or DELETE) is handled.
    order: tokio::sync::Mutex<()>,
}

/// The task that owns a session's outgoing queue, its stream and its timers.
struct SessionTask {
    server: Arc<Inner>,
    session: Arc<Session>,
    conn: SparkConn,
    /// The stream's body; `None` once the client dropped it.
    tx: Option<mpsc::Sender<Bytes>>,
    settings: SseOptions,
    write_timeout: Duration,
    server_close: Option<Frame>,
    last_was_close: bool,
}

/// Why a write to the stream failed.
enum WriteFailed {
    /// The client dropped the response.
    Gone,
    /// The client stopped reading for `write_timeout`.
    Slow,
}

impl SessionTask {
    async fn run(mut self) {
        let shared = self.conn.spark.shared.clone();
        self.server.run_connection_listeners(&self.conn.spark).await;
        self.session.ready.set();
        let keepalive = self.settings.keepalive;
        let mut keepalive_at = Instant::now() + keepalive;
        let mut gone_at: Option<Instant> = None;
        loop {
            if shared.close_kind().is_some() {
                self.finish_stream().await;
                break;
            }
            let streaming = self.tx.is_some();
            tokio::select! {
                biased;
                _ = shared.close_signal.notified() => {}
                frame = self.conn.outgoing.recv(), if streaming => {
                    let Some(frame) = frame else { continue };
                    let chunk = self.batch(frame);
                    match self.write(chunk).await {
                        Ok(()) => keepalive_at = Instant::now() + keepalive,
                        Err(why) => self.failed(why, &mut gone_at),
                    }
                }
                _ = closed(self.tx.as_ref()), if streaming => {
                    self.failed(WriteFailed::Gone, &mut gone_at);
                }
                _ = sleep_until(keepalive_at), if streaming && !keepalive.is_zero() => {
                    match self.write(Bytes::from_static(codec::KEEPALIVE)).await {
                        Ok(()) => keepalive_at = Instant::now() + keepalive,
                        Err(why) => self.failed(why, &mut gone_at),
                    }
                }
                _ = sleep_until(gone_at.unwrap_or_else(Instant::now)), if gone_at.is_some() => {
                    // The client is gone: end the spark as a lost connection.
                    shared.finish(CloseKind::Normal, None);
                }
            }
        }
        shared.close_inbox();
    }

    /// The stream failed: a lost stream waits out the disconnect delay, a slow reader is
    /// dropped at once.
    fn failed(&mut self, why: WriteFailed, gone_at: &mut Option<Instant>) {
        self.tx = None;
        match why {
            WriteFailed::Gone => {
                *gone_at = Some(Instant::now() + self.settings.disconnect_delay);
            }
            WriteFailed::Slow => {
                end_slow(&self.conn.spark.shared, "event stream", self.write_timeout)
            }
        }
    }

    /// `frame` and what else is queued (up to [`MAX_BATCH`]) as one chunk of events.
    fn batch(&mut self, frame: Frame) -> Bytes {
        let mut out = Vec::with_capacity(frame.as_bytes().len() + 16);
        self.encode(&frame, &mut out);
        for _ in 1..MAX_BATCH {
            match self.conn.outgoing.try_recv() {
                Ok(f) => self.encode(&f, &mut out),
                Err(_) => break,
            }
        }
        Bytes::from(out)
    }

    fn encode(&mut self, frame: &Frame, out: &mut Vec<u8>) {
        self.last_was_close = self.server_close.as_ref() == Some(frame);
        codec::encode_frame(frame, out);
    }

    /// The spark ended: send what is still queued (at most `queue_size` frames), the
    /// `close` event, and end the body.
    async fn finish_stream(&mut self) {
        if self.tx.is_none() {
            return;
        }
        let limit = self.server.options.queue_size.max(1);
        let mut sent = 0;
        while sent < limit {
            let Ok(frame) = self.conn.outgoing.try_recv() else {
                break;
            };
            let chunk = self.batch(frame);
            sent += MAX_BATCH;
            if self.write(chunk).await.is_err() {
                self.tx = None;
                return;
            }
        }
        let end = self.last_was_close
            && matches!(self.conn.spark.shared.close_kind(), Some(CloseKind::Normal));
        let mut out = Vec::with_capacity(32);
        codec::close_event(end, &mut out);
        let _ = self.write(Bytes::from(out)).await;
        self.tx = None;
    }

    /// Write one chunk to the stream, bounded by `write_timeout`.
    async fn write(&self, chunk: Bytes) -> Result<(), WriteFailed> {
        let Some(tx) = &self.tx else {
            return Err(WriteFailed::Gone);
        };
        match timeout(self.write_timeout, tx.send(chunk)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(WriteFailed::Gone),
            Err(_) => Err(WriteFailed::Slow),
        }
    }
}

enum LineError {
    TooLong,
    Broken,
}

/// Splits a request body into `\n`-terminated lines, buffering one line at most.
struct Lines {
    body: RequestBody,
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned without finding `\n`.
    scanned: usize,
    limit: usize,
    done: bool,
}

impl Lines {
    fn new(body: RequestBody, limit: usize) -> Self {
        Lines {
            body,
            buf: Vec::new(),
            scanned: 0,
            limit,
            done: false,
        }
    }

    /// The next line without its `\n` (the last one may lack it); `None` at the end.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, LineError> {
        loop {
            if let Some(i) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let end = self.scanned + i;
                if end > self.limit {
                    return Err(LineError::TooLong);
                }
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                self.scanned = 0;
                return Ok(Some(line));
            }
            self.scanned = self.buf.len();
            if self.buf.len() > self.limit {
                return Err(LineError::TooLong);
            }
            if self.done {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(std::mem::take(&mut self.buf)));
            }
            match self.body.frame().await {
                None => self.done = true,
                Some(Err(_)) => return Err(LineError::Broken),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
            }
        }
    }
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut res = full(status, PLAIN, Bytes::new());
    res.headers_mut().remove(header::CONTENT_TYPE);
    res
}

fn unknown_session() -> HttpResponse {
    full(
        StatusCode::NOT_FOUND,
        PLAIN,
        "Unknown or ended sse session: open a new stream.\n",
    )
}

fn malformed(e: &SseError) -> HttpResponse {
    full(
        StatusCode::BAD_REQUEST,
        PLAIN,
        format!(
            "Bad frame line ({e}): send one frame per line, a JSON string for text or \
             `b<base64>` for binary.\n"
        ),
    )
}
