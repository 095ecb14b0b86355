//! Server half of the `browserchannel` transformer: the connection tests, the forward
//! channel, back channels, terminate, and one task per session. The wire format and the
//! lifetimes are in the [module docs](super).

use super::BrowserChannelOptions;
use crate::error::SparkError;
use crate::middleware::BodyError as ReadError;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkConn, SparkInfo, SparkShared};
use crate::server::Inner;
use crate::service::read_body;
use crate::service::{full, HttpRequest, HttpResponse, RequestBody};
use crate::transformers::http_session::{
    closed, end_slow, end_too_big, session_id, ChannelBody, Ready, SessionMap,
};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use primus_core::browserchannel::{self as codec, BcError, ClientMessage, Forward, ServerArray};
use primus_core::query::{self, Query, QueryValue};
use primus_core::Frame;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// Arrays written as one chunk at most.
const MAX_BATCH: usize = 64;
/// Chunks a back channel's body may hold before the session task waits for the client.
const BODY_CHUNKS: usize = 16;
/// Commands a session's task may have waiting.
const COMMANDS: usize = 16;
const PLAIN: &str = "text/plain";

/// The browserchannel server half: settings and live sessions.
#[derive(Debug)]
pub(crate) struct Server {
    settings: BrowserChannelOptions,
    sessions: SessionMap<Session>,
    write_timeout: Duration,
    max_length: usize,
    /// Most arrays waiting for acknowledgement (`Options::queue_size`).
    window: usize,
}

impl Server {
    pub(crate) fn new(options: &Options) -> Self {
        Server {
            settings: options.browserchannel.clone(),
            sessions: SessionMap::default(),
            write_timeout: options.write_timeout,
            max_length: options.max_length,
            window: options.queue_size.max(1),
        }
    }

    /// Sessions alive (including ones lingering after their spark ended).
    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) async fn handle(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        let path = req.uri().path();
        let rest = path.get(server.pathname.len()..).unwrap_or("");
        let query = query::parse(req.uri().query().unwrap_or(""));
        match rest {
            "/test" | "/bind" if one(&query, "VER") != Some("8") => {
                refusal(StatusCode::BAD_REQUEST, "Version 8 required")
            }
            "/test" => test(req.method(), &query, self.write_timeout),
            "/bind" => self.bind(server, req, query).await,
            _ => with_headers(full(
                StatusCode::NOT_FOUND,
                PLAIN,
                format!(
                    "Not found: this server speaks the browserchannel transformer at \
                     {0}/test and {0}/bind.\n",
                    server.pathname
                ),
            )),
        }
    }

    async fn bind(&self, server: &Arc<Inner>, req: HttpRequest, query: Query) -> HttpResponse {
        let session = match one(&query, "SID") {
            Some(sid) => match self.session(sid) {
                Some(s) => Some(s),
                None => return refusal(StatusCode::BAD_REQUEST, "Unknown SID"),
            },
            None => None,
        };
        // `AID=-1` (nothing received yet) acknowledges nothing.
        let aid = one(&query, "AID").and_then(|a| a.parse::<u64>().ok());
        match (req.method().clone(), session) {
            (Method::POST, None) => self.create(server, req, &query).await,
            (Method::POST, Some(session)) => self.forward(&session, req, aid).await,
            (Method::GET, session) => match (one(&query, "TYPE"), session) {
                (Some("xmlhttp"), Some(session)) => self.back_channel(&session, &query, aid).await,
                (Some("terminate"), Some(session)) => self.terminate(&session, aid).await,
                (Some("html"), _) => refusal(
                    StatusCode::BAD_REQUEST,
                    "TYPE=html (the iframe back channel of old Internet Explorer) is not \
                     supported: use TYPE=xmlhttp",
                ),
                (Some("xmlhttp" | "terminate"), None) => {
                    refusal(StatusCode::BAD_REQUEST, "Missing SID")
                }
                _ => refusal(
                    StatusCode::BAD_REQUEST,
                    "Unknown TYPE: GET /bind takes TYPE=xmlhttp (back channel) or \
                     TYPE=terminate",
                ),
            },
            _ => {
                let mut res = refusal(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
                res.headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
                res
            }
        }
    }

    fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.sessions.get(sid)
    }

    /// Read and decode a forward-channel body.
    async fn read_forward(
        &self,
        headers: &HeaderMap,
        body: RequestBody,
    ) -> Result<Option<Forward>, BodyError> {
        let bytes = match read_body(body, codec::body_limit(self.max_length)).await {
            Ok(bytes) => bytes,
            Err(ReadError::TooLarge { .. }) => return Err(BodyError::TooLarge),
            Err(ReadError::Read(_)) => return Err(BodyError::Broken),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| BodyError::Bad(BcError::Utf8))?;
        let json = headers
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes() == b"application/json");
        if json {
            codec::decode_json_body(text)
        } else {
            codec::decode_form(text)
        }
        .map_err(BodyError::Bad)
    }

    /// `POST /bind` without `SID`: a new session and spark. The answer is the session's
    /// first back channel: one chunk, starting with array 0 `["c", …]`.
    async fn create(&self, server: &Arc<Inner>, req: HttpRequest, query: &Query) -> HttpResponse {
        let (parts, body) = req.into_parts();
        let forward = match self.read_forward(&parts.headers, body).await {
            Ok(f) => f,
            Err(e) => return e.response(self.max_length),
        };
        // Maps that cannot be delivered are refused before a spark exists.
        if let Some(e) = forward.as_ref().and_then(|f| refuse(f, 0, self.max_length)) {
            return e.response(self.max_length);
        }
        // A client reconnecting with the previous session's id evicts that session.
        let old = one(query, "OSID").and_then(|id| self.session(id));
        if let Some(old) = old {
            let oaid = one(query, "OAID").and_then(|a| a.parse::<u64>().ok());
            if let Some(aid) = oaid {
                let _ = old.cmd.send(Command::Ack(aid)).await;
            }
            let _ = old.cmd.send(Command::Terminate).await;
        }
        let info = SparkInfo::from_head(parts, &server.options.trusted_proxies);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => return refusal(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
        let sid: Arc<str> = Arc::from(session_id());
        let (cmd, cmds) = mpsc::channel(COMMANDS);
        let session = Arc::new(Session {
            spark: conn.spark.shared.clone(),
            ready: Ready::new(),
            next_map: tokio::sync::Mutex::new(0),
            cmd,
        });
        self.sessions.insert(sid.clone(), session.clone());
        let task = SessionTask {
            server: server.clone(),
            conn,
            cmds,
            settings: self.settings.clone(),
            write_timeout: self.write_timeout,
            window: self.window,
            arrays: VecDeque::new(),
            next_id: 0,
            last_sent: -1,
            back: None,
            keepalive_at: None,
            stop_id: None,
        };
        let run = {
            let (sid, session) = (sid.clone(), session.clone());
            async move { task.run(&sid, &session.ready).await }
        };
        self.sessions.spawn(sid, session.clone(), run);
        if let Err(res) = self.wait_ready(&session).await {
            // Nobody will learn the session id: end it once the listeners are done.
            let _ = session.cmd.try_send(Command::Terminate);
            return res;
        }
        if let Some(forward) = forward {
            let mut next = session.next_map.lock().await;
            if let Err(e) = deliver(&session, forward, &mut next, self.max_length).await {
                return e.response(self.max_length);
            }
        }
        let (tx, rx) = mpsc::channel(BODY_CHUNKS);
        let attach = Command::BackChannel {
            tx,
            chunked: false,
            aid: None,
        };
        if session.cmd.send(attach).await.is_err() {
            return refusal(StatusCode::BAD_REQUEST, "Unknown SID");
        }
        with_headers(ChannelBody::response(rx))
    }

    /// Wait until the connection listeners ran (messages wait for them).
    async fn wait_ready(&self, session: &Session) -> Result<(), HttpResponse> {
        if session.ready.wait(self.write_timeout).await {
            Ok(())
        } else {
            Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Session not ready: the connection listeners are still running",
            ))
        }
    }

    /// `POST /bind` with `SID`: maps from the client, delivered in order; the answer says
    /// how the back channel stands.
    async fn forward(&self, session: &Session, req: HttpRequest, aid: Option<u64>) -> HttpResponse {
        let (parts, body) = req.into_parts();
        let forward = match self.read_forward(&parts.headers, body).await {
            Ok(f) => f,
            Err(BodyError::TooLarge) => {
                end_too_big(&session.spark, self.max_length);
                return BodyError::TooLarge.response(self.max_length);
            }
            Err(e) => return e.response(self.max_length),
        };
        if let Err(res) = self.wait_ready(session).await {
            return res;
        }
        // One request at a time per session, so maps keep their order.
        let mut next = session.next_map.lock().await;
        if let Some(aid) = aid {
            let _ = session.cmd.send(Command::Ack(aid)).await;
        }
        if let Some(forward) = forward {
            if let Err(e) = deliver(session, forward, &mut next, self.max_length).await {
                return e.response(self.max_length);
            }
        }
        let (tx, rx) = oneshot::channel();
        if session.cmd.send(Command::Status(tx)).await.is_err() {
            return refusal(StatusCode::BAD_REQUEST, "Unknown SID");
        }
        match timeout(self.write_timeout, rx).await {
            Ok(Ok(a)) => with_headers(full(
                StatusCode::OK,
                PLAIN,
                codec::forward_answer(a.back_channel, a.last_sent, a.outstanding),
            )),
            Ok(Err(_)) => refusal(StatusCode::BAD_REQUEST, "Unknown SID"),
            // The task is stuck writing to a back channel nobody reads.
            Err(_) => refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "Session busy: its back channel is not being read",
            ),
        }
    }

    /// `GET /bind?TYPE=xmlhttp`: a back channel, replacing the previous one.
    async fn back_channel(
        &self,
        session: &Session,
        query: &Query,
        aid: Option<u64>,
    ) -> HttpResponse {
        if one(query, "RID") != Some("rpc") {
            return refusal(StatusCode::BAD_REQUEST, "Expected RPC");
        }
        let (tx, rx) = mpsc::channel(BODY_CHUNKS);
        let attach = Command::BackChannel {
            tx,
            chunked: one(query, "CI") == Some("0"),
            aid,
        };
        if session.cmd.send(attach).await.is_err() {
            return refusal(StatusCode::BAD_REQUEST, "Unknown SID");
        }
        with_headers(ChannelBody::response(rx))
    }

    /// `GET /bind?TYPE=terminate`: the client ends the session (after the forward requests
    /// under way).
    async fn terminate(&self, session: &Session, aid: Option<u64>) -> HttpResponse {
        let _order = session.next_map.lock().await;
        if let Some(aid) = aid {
            let _ = session.cmd.send(Command::Ack(aid)).await;
        }
        let _ = session.cmd.send(Command::Terminate).await;
        with_headers(full(StatusCode::OK, PLAIN, Bytes::new()))
    }
}

/// The two connection tests (stateless): host prefixes, then buffering-proxy detection.
fn test(method: &Method, query: &Query, write_timeout: Duration) -> HttpResponse {
    if one(query, "MODE") == Some("init") && method == Method::GET {
        let mut res = with_headers(full(StatusCode::OK, PLAIN, codec::TEST_INIT_ANSWER));
        res.headers_mut()
            .insert("x-accept", HeaderValue::from_static(codec::X_ACCEPT));
        return res;
    }
    if one(query, "TYPE") == Some("html") {
        return refusal(
            StatusCode::BAD_REQUEST,
            "TYPE=html (the iframe transport of old Internet Explorer) is not supported: use \
             TYPE=xmlhttp",
        );
    }
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let first = Bytes::from_static(codec::TEST_FIRST_CHUNK.as_bytes());
        if !matches!(timeout(write_timeout, tx.send(first)).await, Ok(Ok(()))) {
            return;
        }
        tokio::select! {
            _ = sleep(Duration::from_millis(codec::TEST_DELAY_MS)) => {
                let second = Bytes::from_static(codec::TEST_SECOND_CHUNK.as_bytes());
                let _ = timeout(write_timeout, tx.send(second)).await;
            }
            _ = tx.closed() => {}
        }
    });
    with_headers(ChannelBody::response(rx))
}

/// Why a request's maps cannot be delivered, found before any is: a gap in their
/// numbers (the first one after `next`, the number of the next map to deliver), or a
/// message over `max_length` among those not delivered yet.
fn refuse(forward: &Forward, next: u64, max_length: usize) -> Option<BodyError> {
    if forward.ofs > next {
        return Some(BodyError::Gap);
    }
    let new = usize::try_from(next - forward.ofs).unwrap_or(usize::MAX);
    forward
        .messages
        .iter()
        .skip(new)
        .any(|m| match m {
            ClientMessage::Text(t) | ClientMessage::Json(t) => t.len() > max_length,
            ClientMessage::Ignored => false,
        })
        .then_some(BodyError::TooLarge)
}

/// Hand a request's maps to the spark in order: numbers already delivered are skipped (a
/// retried request); a gap or a message over `max_length` refuses the whole request
/// (the latter ends the spark as with a WebSocket 1009).
async fn deliver(
    session: &Session,
    forward: Forward,
    next: &mut u64,
    max_length: usize,
) -> Result<(), BodyError> {
    if let Some(e) = refuse(&forward, *next, max_length) {
        if let BodyError::TooLarge = e {
            end_too_big(&session.spark, max_length);
        }
        return Err(e);
    }
    let Forward { ofs, messages } = forward;
    for (number, message) in (ofs..).zip(messages) {
        if number < *next {
            continue;
        }
        *next = number + 1;
        let text = match message {
            ClientMessage::Text(t) | ClientMessage::Json(t) => t,
            ClientMessage::Ignored => continue,
        };
        // A lingering session (its spark ended) takes no more messages.
        if session.spark.close_kind().is_some() {
            continue;
        }
        session.spark.deliver(Frame::text(text)).await;
    }
    Ok(())
}

/// Why a forward-channel body was refused.
enum BodyError {
    TooLarge,
    Broken,
    Bad(BcError),
    Gap,
}

impl BodyError {
    fn response(&self, max_length: usize) -> HttpResponse {
        match self {
            BodyError::TooLarge => refusal(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "A message is larger than max_length ({max_length} bytes), or the \
                     request larger than {} bytes",
                    codec::body_limit(max_length)
                ),
            ),
            BodyError::Broken => refusal(StatusCode::BAD_REQUEST, "Broken request body"),
            // The reference answers every bad body `Bad data`; the reason follows.
            BodyError::Bad(e) => refusal(StatusCode::BAD_REQUEST, &format!("Bad data: {e}")),
            BodyError::Gap => refusal(
                StatusCode::BAD_REQUEST,
                "Bad data: maps must be numbered on from the last one delivered",
            ),
        }
    }
}

/// A session: its spark and what its requests need.
struct Session {
    spark: Arc<SparkShared>,
    /// Set once the connection listeners have run (messages wait for it).
    ready: Ready,
    /// The number of the next map to deliver; held while a forward request (or a
    /// terminate) is handled, so requests of one session go one at a time.
    next_map: tokio::sync::Mutex<u64>,
    /// To the session task.
    cmd: mpsc::Sender<Command>,
}

/// What requests ask of the session task.
enum Command {
    /// A new back channel replacing any other, after acknowledging `aid`.
    BackChannel {
        tx: mpsc::Sender<Bytes>,
        /// `CI=0`: keep it open across chunks; otherwise one chunk and it ends.
        chunked: bool,
        aid: Option<u64>,
    },
    /// The client has every array up to this one.
    Ack(u64),
    /// The values of a forward-channel answer.
    Status(oneshot::Sender<Status>),
    /// The client ends the session.
    Terminate,
}

struct Status {
    back_channel: bool,
    last_sent: i64,
    outstanding: u64,
}

/// One array, encoded once (`[id,data]`), kept until acknowledged.
struct Entry {
    id: u64,
    json: String,
    /// Its length in UTF-16 code units (what chunk prefixes count).
    units: usize,
}

/// The open back channel.
struct Back {
    tx: mpsc::Sender<Bytes>,
    chunked: bool,
    /// Bytes written on it.
    written: usize,
}

/// How the task loop goes on after a step.
enum Flow {
    Continue,
    /// The session is over.
    End,
}

/// The task that owns a session's arrays, its back channel and its timers.
struct SessionTask {
    server: Arc<Inner>,
    conn: SparkConn,
    cmds: mpsc::Receiver<Command>,
    settings: BrowserChannelOptions,
    write_timeout: Duration,
    window: usize,
    /// Arrays not yet acknowledged, oldest first: the sent ones, then the unsent ones.
    arrays: VecDeque<Entry>,
    next_id: u64,
    /// Id of the last array written to a back channel (-1: none).
    last_sent: i64,
    back: Option<Back>,
    /// When a `noop` is due (while a back channel is open and keep-alives are on).
    keepalive_at: Option<Instant>,
    /// The `stop` array, once the spark ended and it was queued.
    stop_id: Option<u64>,
}

impl SessionTask {
    async fn run(mut self, sid: &str, ready: &Ready) {
        let shared = self.conn.spark.shared.clone();
        self.push(&ServerArray::Created {
            sid: sid.to_owned(),
            host_prefix: None,
            version: codec::VERSION,
        });
        self.server.run_connection_listeners(&self.conn.spark).await;
        ready.set();
        // No back channel yet: the session timeout runs.
        let mut deadline = Some(Instant::now() + self.settings.session_timeout);
        loop {
            if self.stop_id.is_none() && shared.close_kind().is_some() {
                self.queue_stop();
                self.flush(&mut deadline).await;
            }
            let room = self.stop_id.is_none() && self.arrays.len() < self.window;
            let flow = tokio::select! {
                biased;
                _ = shared.close_signal.notified(), if self.stop_id.is_none() => Flow::Continue,
                cmd = self.cmds.recv() => match cmd {
                    Some(cmd) => self.command(cmd, &mut deadline).await,
                    None => Flow::End,
                },
                frame = self.conn.outgoing.recv(), if room => {
                    if let Some(frame) = frame {
                        self.take(frame);
                        self.flush(&mut deadline).await;
                    }
                    Flow::Continue
                }
                _ = closed(self.back.as_ref().map(|b| &b.tx)) => {
                    self.detach(&mut deadline);
                    Flow::Continue
                }
                _ = sleep_until(self.keepalive_at.unwrap_or_else(Instant::now)),
                    if self.keepalive_at.is_some() =>
                {
                    self.keepalive_at = None;
                    if self.stop_id.is_none() && self.arrays.len() < self.window {
                        self.push(&ServerArray::Noop);
                        self.flush(&mut deadline).await;
                    }
                    Flow::Continue
                }
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    // No back channel for `session_timeout`: the client is gone.
                    shared.finish(CloseKind::Normal, None);
                    Flow::End
                }
            };
            if let Flow::End = flow {
                break;
            }
        }
        shared.close_inbox();
    }

    async fn command(&mut self, cmd: Command, deadline: &mut Option<Instant>) -> Flow {
        match cmd {
            Command::Ack(aid) => return self.ack(aid),
            Command::BackChannel { tx, chunked, aid } => {
                if let Some(aid) = aid {
                    if let Flow::End = self.ack(aid) {
                        return Flow::End;
                    }
                }
                // Replacing the back channel ends the previous one's response.
                self.back = Some(Back {
                    tx,
                    chunked,
                    written: 0,
                });
                *deadline = None;
                self.keepalive_at = self.next_keepalive();
                // What was sent but not acknowledged may be lost with the old one: again.
                if let Some(first) = self.arrays.front() {
                    self.last_sent = first.id as i64 - 1;
                }
                self.flush(deadline).await;
            }
            Command::Status(reply) => {
                let outstanding = self
                    .arrays
                    .iter()
                    .take_while(|e| (e.id as i64) <= self.last_sent)
                    .map(|e| e.json.len() as u64 + 1)
                    .sum::<u64>();
                let _ = reply.send(Status {
                    back_channel: self.back.is_some(),
                    last_sent: self.last_sent,
                    outstanding,
                });
            }
            Command::Terminate => {
                self.conn.spark.shared.finish(CloseKind::Normal, None);
                return Flow::End;
            }
        }
        Flow::Continue
    }

    /// The client has every array up to `aid` (never more than was sent).
    fn ack(&mut self, aid: u64) -> Flow {
        let aid = aid.min(u64::try_from(self.last_sent).unwrap_or(0));
        if self.last_sent < 0 {
            return Flow::Continue;
        }
        while self.arrays.front().is_some_and(|e| e.id <= aid) {
            self.arrays.pop_front();
        }
        match self.stop_id {
            // The client got the `stop`: nothing left to resend.
            Some(stop) if aid >= stop => Flow::End,
            _ => Flow::Continue,
        }
    }

    fn next_keepalive(&self) -> Option<Instant> {
        let every = self.settings.keepalive;
        (!every.is_zero() && self.back.is_some()).then(|| Instant::now() + every)
    }

    /// Number and encode one array.
    fn push(&mut self, array: &ServerArray) {
        let mut json = String::new();
        codec::encode_array(self.next_id, array, &mut json);
        self.push_json(json);
    }

    fn push_json(&mut self, json: String) {
        let units = codec::utf16_len(&json);
        self.arrays.push_back(Entry {
            id: self.next_id,
            json,
            units,
        });
        self.next_id += 1;
    }

    /// Turn a queued frame, and what else is queued while the window has room, into
    /// arrays.
    fn take(&mut self, frame: Frame) {
        self.take_one(&frame);
        for _ in 1..MAX_BATCH {
            if self.arrays.len() >= self.window {
                break;
            }
            match self.conn.outgoing.try_recv() {
                Ok(f) => self.take_one(&f),
                Err(_) => break,
            }
        }
    }

    fn take_one(&mut self, frame: &Frame) {
        match frame {
            Frame::Text(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                // encode_message reserves what the entry needs.
                let mut json = String::new();
                codec::encode_message(self.next_id, &text, &mut json);
                self.push_json(json);
            }
            Frame::Binary(_) => self.conn.spark.shared.emit_error(&SparkError::TextOnly {
                transformer: "browserchannel",
            }),
        }
    }

    /// The spark ended: what is still queued becomes arrays, then `["stop"]`.
    fn queue_stop(&mut self) {
        while let Ok(frame) = self.conn.outgoing.try_recv() {
            self.take_one(&frame);
        }
        self.stop_id = Some(self.next_id);
        self.push(&ServerArray::Stop);
    }

    /// Write the unsent arrays to the back channel, if there is one, in chunks of up to
    /// [`MAX_BATCH`]; then end the back channel if it is not chunked, has carried its
    /// limit, or the window is full (the client acknowledges when it reopens).
    async fn flush(&mut self, deadline: &mut Option<Instant>) {
        while let Some(back) = &self.back {
            let first_unsent = self
                .arrays
                .partition_point(|e| (e.id as i64) <= self.last_sent);
            if first_unsent == self.arrays.len() {
                break;
            }
            // Up to MAX_BATCH arrays, the last one the first to take the back channel
            // past its byte limit.
            let (mut count, mut bytes) = (0, back.written);
            for entry in self.arrays.range(first_unsent..).take(MAX_BATCH) {
                // A `,` before every entry but the first.
                bytes += entry.json.len() + usize::from(count > 0);
                count += 1;
                if bytes > self.settings.back_channel_limit {
                    break;
                }
            }
            let batch = self.arrays.range(first_unsent..first_unsent + count);
            let last = batch
                .clone()
                .next_back()
                .map_or(self.last_sent, |e| e.id as i64);
            let chunk = codec::chunk_of(batch.map(|e| (e.json.as_str(), e.units)));
            let len = chunk.len();
            match timeout(self.write_timeout, back.tx.send(Bytes::from(chunk))).await {
                Ok(Ok(())) => {
                    self.last_sent = last;
                    self.keepalive_at = self.next_keepalive();
                    let back = self.back.as_mut().expect("checked above");
                    back.written += len;
                    let all_sent = self.arrays.back().is_some_and(|e| e.id as i64 == last);
                    let window_full = self.arrays.len() >= self.window && all_sent;
                    if !back.chunked
                        || back.written > self.settings.back_channel_limit
                        || window_full
                        || (self.stop_id.is_some() && all_sent)
                    {
                        self.detach(deadline);
                    }
                }
                Ok(Err(_)) => self.detach(deadline),
                Err(_) => {
                    self.detach(deadline);
                    end_slow(&self.conn.spark.shared, "back channel", self.write_timeout);
                }
            }
        }
    }

    /// The back channel is over (ended by us, or dropped by the client): its response
    /// ends, and the session timeout runs until the next one.
    fn detach(&mut self, deadline: &mut Option<Instant>) {
        self.back = None;
        self.keepalive_at = None;
        *deadline = Some(Instant::now() + self.settings.session_timeout);
    }
}

/// The first value of a query parameter.
fn one<'a>(query: &'a Query, key: &str) -> Option<&'a str> {
    query.get(key).map(QueryValue::as_str)
}

/// The headers the reference puts on every answer.
fn with_headers(mut res: HttpResponse) -> HttpResponse {
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(PLAIN));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, max-age=0, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::EXPIRES,
        HeaderValue::from_static("Fri, 01 Jan 1990 00:00:00 GMT"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// An error answer shaped like the reference's (`<html><body><h1>message</h1>…`): the
/// official client looks for `Unknown SID` inside the body, after its start.
fn refusal(status: StatusCode, message: &str) -> HttpResponse {
    let mut escaped = String::with_capacity(message.len());
    for c in message.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            c => escaped.push(c),
        }
    }
    with_headers(full(
        status,
        PLAIN,
        format!("<html><body><h1>{escaped}</h1></body></html>"),
    ))
}
