//! Server half of Socket.IO 0.9: the handshake, one task per session, xhr-polling and
//! jsonp-polling, and the WebSocket transport on the shared WebSocket engine with the
//! 0.9 [`framing`](super::framing). Wire format and limits: the [module docs](super).
//!
//! A session's task owns its spark's outgoing queue. Until the first transport request it
//! waits (at most `close_timeout`); a poll binds the session to polling, where the task
//! answers each poll with what is waiting (or `8::` after `polling_duration`) and ends the
//! session when no poll comes for `close_timeout`; a WebSocket binds it to WebSocket, and
//! the task hands the socket and the queue to the engine until the connection ends.

use super::framing::{self, Bad, Incoming, WsFraming};
use super::SocketIo09Options;
use crate::error::{PrimusError, SparkError};
use crate::middleware::BodyError;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkShared};
use crate::server::Inner;
use crate::service::{
    body_limit, full, is_upgrade, method_not_allowed, read_body, HttpRequest, HttpResponse,
};
use crate::transformers::http_session::lock;
use crate::transformers::websockets::server as ws;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Method, StatusCode};
use primus_core::socketio09::{self as codec, Handshake, PayloadWriter};
use primus_core::{Frame, Value};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Frames in one poll answer at most.
const MAX_BATCH: usize = 64;
/// Commands a session task has not read yet (polls, replies) at most.
const COMMAND_QUEUE: usize = 16;
/// Replies (acks) waiting for a poll at most; a client that keeps asking without polling
/// is dropped.
const MAX_CONTROL: usize = 1024;
/// The transports offered in the handshake, in socket.io 0.9's order of preference.
const TRANSPORTS: [&str; 3] = ["websocket", "xhr-polling", "jsonp-polling"];
/// How long a WebSocket for an unknown session may take to get its error packet.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);
const PLAIN: &str = "text/plain; charset=UTF-8";

/// What a session is bound to: nothing yet, polling, or a WebSocket.
const UNBOUND: u8 = 0;
const POLLING: u8 = 1;
const WEBSOCKET: u8 = 2;

type Sessions = Arc<Mutex<HashMap<Arc<str>, Arc<Session>>>>;

/// A request of Socket.IO 0.9's, from its path below the pathname.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/1`, `/1/`: the handshake.
    Handshake,
    /// `/1/<transport>/<session id>`, with an optional trailing `/`.
    Transport { transport: String, sid: String },
    /// Anything else under `/1/`.
    NotFound,
}

/// The route of a path below the pathname when it is Socket.IO 0.9's: `/1` or under `/1/`
/// (the protocol revision segment). Everything else (`None`) is the Engine.IO layer's.
pub(crate) fn route(rest: &str) -> Option<Route> {
    let rest = rest.strip_prefix("/1")?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    let mut segments = rest.split('/').skip(1);
    let transport = segments.next().unwrap_or("");
    let sid = segments.next().unwrap_or("");
    if segments.next().is_some_and(|s| !s.is_empty()) || segments.next().is_some() {
        return Some(Route::NotFound);
    }
    Some(match (transport, sid) {
        ("", "") => Route::Handshake,
        (_, "") => Route::NotFound,
        (transport, sid) => Route::Transport {
            transport: transport.to_string(),
            sid: sid.to_string(),
        },
    })
}

/// The Socket.IO 0.9 server: settings and live sessions.
pub(crate) struct Server {
    settings: SocketIo09Options,
    sessions: Sessions,
    /// The WebSocket engine, its message limit raised to `body_limit(max_length)`.
    ws: ws::Server,
    max_length: usize,
    queue_size: usize,
    /// Why handshakes are refused (the parser makes binary frames), if they are.
    refused: Option<String>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("settings", &self.settings)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

/// What the handlers of a session's requests share with its task.
struct Session {
    spark: Arc<SparkShared>,
    commands: mpsc::Sender<Command>,
    /// [`UNBOUND`], [`POLLING`] or [`WEBSOCKET`].
    transport: AtomicU8,
    /// Held while a POST is handled: packets keep their order.
    order: tokio::sync::Mutex<()>,
    /// Connection listeners have run: messages may be delivered.
    ready: watch::Receiver<bool>,
}

impl Session {
    /// Bind the session to `kind` (polling requests may repeat; a WebSocket binds once).
    fn bind(&self, kind: u8) -> bool {
        match self
            .transport
            .compare_exchange(UNBOUND, kind, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(current) => current == kind && kind == POLLING,
        }
    }

    fn open(&self) -> bool {
        self.spark.close_kind().is_none()
    }

    /// A POST broke the rules: the task ends the session.
    async fn fail(&self, err: SparkError) {
        let _ = self.commands.send(Command::Fail(err)).await;
    }
}

/// What request handlers ask of a session task.
enum Command {
    /// A poll, answered with the payload to send.
    Poll(oneshot::Sender<String>),
    /// A packet for the client (an acknowledgement, a refused endpoint).
    Reply(String),
    /// The client left (`0::`, `?disconnect`).
    Disconnect,
    /// A POST broke the rules: end the session.
    Fail(SparkError),
    /// The WebSocket transport: the connection, once hyper hands it over.
    WebSocket(hyper::upgrade::OnUpgrade),
}

impl Server {
    pub(crate) fn new(options: &Options) -> Result<Self, PrimusError> {
        options.socketio09.validate()?;
        let refused = primus_core::parser::by_name(&options.parser)
            .ok()
            .filter(|p| p.is_binary())
            .map(|p| {
                format!(
                    "Socket.IO 0.9 carries text only, and this server's parser (`{}`) makes \
                     binary frames: use socket.io-client 4 (Socket.IO protocol 5) or a text \
                     parser.\n",
                    p.name()
                )
            });
        let mut ws_options = options.clone();
        ws_options.max_length = body_limit(options.max_length);
        Ok(Server {
            settings: options.socketio09.clone(),
            sessions: Arc::default(),
            ws: ws::Server::new(&ws_options),
            max_length: options.max_length,
            queue_size: options.queue_size,
            refused,
        })
    }

    /// Sessions alive, from the handshake until they are reaped.
    pub(crate) fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    fn session(&self, sid: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(sid).cloned()
    }

    /// A request under `<pathname>/1`, its [`route`] read.
    pub(crate) async fn handle(
        &self,
        server: &Arc<Inner>,
        req: HttpRequest,
        route: Route,
    ) -> HttpResponse {
        let query = primus_core::query::parse(req.uri().query().unwrap_or(""));
        let (transport, sid) = match route {
            Route::Handshake => {
                let jsonp = query.get("jsonp").and_then(|v| script_index(v.as_str()));
                return self.handshake(server, req, jsonp);
            }
            Route::NotFound => return text(StatusCode::NOT_FOUND, not_found(&server.pathname)),
            Route::Transport { transport, sid } => (transport, sid),
        };
        if query.contains_key("disconnect") {
            return self.disconnect(&sid).await;
        }
        let jsonp = match transport.as_str() {
            "xhr-polling" => None,
            "jsonp-polling" => Some(
                query
                    .get("i")
                    .and_then(|v| script_index(v.as_str()))
                    .unwrap_or(0),
            ),
            "websocket" => return self.websocket(req, &sid).await,
            other => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Socket.IO 0.9 transport `{other}` is not served here: use {}.\n",
                        TRANSPORTS.join(", ")
                    ),
                )
            }
        };
        match *req.method() {
            Method::GET => self.poll(&sid, jsonp).await,
            Method::POST => self.post(req, &sid, jsonp.is_some()).await,
            _ => method_not_allowed("GET, POST"),
        }
    }

    /// `GET /1/`: open a spark, start its session, answer with the handshake.
    fn handshake(&self, server: &Arc<Inner>, req: HttpRequest, jsonp: Option<u64>) -> HttpResponse {
        if req.method() != Method::GET {
            return method_not_allowed("GET");
        }
        if is_upgrade(&req) {
            return text(
                StatusCode::BAD_REQUEST,
                "The Socket.IO 0.9 handshake is a plain GET; upgrade at /1/websocket/<session id>.\n",
            );
        }
        if let Some(why) = &self.refused {
            return text(StatusCode::INTERNAL_SERVER_ERROR, why.clone());
        }
        let info = ws::spark_info(server, req);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        let spark = conn.spark.shared.clone();
        // Connection listeners run beside the session: polls go on meanwhile, messages
        // wait for them.
        let ready = server.spawn_connection_listeners(conn.spark.clone());
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let session = Arc::new(Session {
            spark,
            commands,
            transport: AtomicU8::new(UNBOUND),
            order: tokio::sync::Mutex::new(()),
            ready,
        });
        let sid: Arc<str> = {
            let mut sessions = lock(&self.sessions);
            let sid = loop {
                let sid = crate::server::id::nanoid();
                if !sessions.contains_key(sid.as_str()) {
                    break Arc::from(sid);
                }
            };
            sessions.insert(Arc::clone(&sid), session.clone());
            sid
        };
        let task = SessionTask {
            sid: sid.clone(),
            session,
            sessions: self.sessions.clone(),
            outgoing: conn.outgoing,
            commands: command_rx,
            settings: self.settings.clone(),
            ws: self.ws.clone(),
            max_length: self.max_length,
            queue_size: self.queue_size,
            control: Vec::new(),
            poll: None,
            connected: false,
            idle_until: Instant::now() + self.settings.close_timeout,
        };
        tokio::spawn(task.run());
        let answer = Handshake {
            sid: &sid,
            heartbeat_timeout: Some(self.settings.heartbeat_timeout),
            close_timeout: Some(self.settings.close_timeout),
            transports: TRANSPORTS.to_vec(),
        }
        .encode();
        match jsonp {
            Some(i) => full(
                StatusCode::OK,
                "application/javascript",
                script_call(i, &answer),
            ),
            None => full(StatusCode::OK, PLAIN, answer),
        }
    }

    /// `GET /1/<polling transport>/<sid>`: hand the poll to the session task and wait.
    async fn poll(&self, sid: &str, jsonp: Option<u64>) -> HttpResponse {
        let Some(session) = self.session(sid) else {
            return polled(jsonp, framing::not_handshaken());
        };
        if !session.bind(POLLING) {
            return on_other_transport();
        }
        let (tx, rx) = oneshot::channel();
        if session.commands.send(Command::Poll(tx)).await.is_err() {
            return polled(jsonp, framing::not_handshaken());
        }
        match rx.await {
            Ok(payload) => polled(jsonp, payload),
            Err(_) => polled(jsonp, framing::not_handshaken()),
        }
    }

    /// `POST /1/<polling transport>/<sid>`: packets from the client, handled in order.
    async fn post(&self, req: HttpRequest, sid: &str, jsonp: bool) -> HttpResponse {
        let Some(session) = self.session(sid) else {
            return text(
                StatusCode::NOT_FOUND,
                "Unknown Socket.IO 0.9 session: handshake again.\n",
            );
        };
        if !session.bind(POLLING) {
            return on_other_transport();
        }
        let _order = session.order.lock().await;
        let limit = body_limit(self.max_length);
        let body = match read_body(req.into_body(), limit).await {
            Ok(body) => body,
            Err(BodyError::TooLarge { .. }) => {
                session
                    .fail(SparkError::MaxLength {
                        limit: self.max_length,
                    })
                    .await;
                return too_large(self.max_length);
            }
            Err(BodyError::Read(_)) => {
                return text(StatusCode::BAD_REQUEST, "Broken request body.\n");
            }
        };
        // Node reads the body as UTF-8 text: invalid sequences become U+FFFD. A valid
        // xhr-polling body is read in place: its messages reach the spark without a copy.
        let read = String::from_utf8_lossy(&body);
        let payload = match jsonp {
            false => Ok(read),
            true => jsonp_body(&read).map(Cow::Owned),
        };
        let packets = payload.and_then(|payload| {
            let texts =
                codec::decode_payload(&payload, limit).map_err(|e| Bad::Packet(e.to_string()))?;
            texts
                .into_iter()
                .map(|p| framing::incoming(&body, p, self.max_length))
                .collect::<Result<Vec<Incoming>, Bad>>()
        });
        let packets = match packets {
            Ok(packets) => packets,
            Err(bad) => {
                let answer = match bad {
                    Bad::TooLarge => too_large(self.max_length),
                    Bad::Packet(ref why) => text(
                        StatusCode::BAD_REQUEST,
                        format!("Bad Socket.IO 0.9 packet ({why}); the session ends.\n"),
                    ),
                };
                session.fail(bad.error(self.max_length)).await;
                return answer;
            }
        };
        if packets.iter().any(|p| p.deliver.is_some()) {
            let mut ready = session.ready.clone();
            if ready.wait_for(|r| *r).await.is_err() {
                return text(StatusCode::OK, "1");
            }
        }
        for packet in packets {
            if packet.heartbeat {
                session.spark.transport_pong();
            }
            if let Some(frame) = packet.deliver {
                // After the end, frames have nowhere to go (socket.io 0.9 drops them too).
                if !session.open() {
                    break;
                }
                session.spark.deliver(frame).await;
            }
            if let Some(reply) = packet.reply {
                let _ = session.commands.send(Command::Reply(reply)).await;
            }
            if packet.disconnect {
                let _ = session.commands.send(Command::Disconnect).await;
                break;
            }
        }
        text(StatusCode::OK, "1")
    }

    /// `…?disconnect`: the client leaves.
    async fn disconnect(&self, sid: &str) -> HttpResponse {
        if let Some(session) = self.session(sid) {
            if session.transport.load(Ordering::Acquire) == WEBSOCKET {
                session.spark.finish(CloseKind::Normal, None);
            } else {
                let _ = session.commands.send(Command::Disconnect).await;
            }
        }
        text(StatusCode::OK, "")
    }

    /// `GET /1/websocket/<sid>` (upgrade): the WebSocket transport.
    async fn websocket(&self, mut req: HttpRequest, sid: &str) -> HttpResponse {
        if !is_upgrade(&req) {
            return text(
                StatusCode::BAD_REQUEST,
                "The Socket.IO 0.9 websocket transport needs a WebSocket upgrade.\n",
            );
        }
        let session = self.session(sid);
        if let Some(session) = &session {
            if !session.bind(WEBSOCKET) {
                return on_other_transport();
            }
        }
        let upgrade = match ws::prepare_upgrade(&mut req) {
            Ok(upgrade) => upgrade,
            Err(res) => {
                if let Some(session) = &session {
                    let _ = session.transport.compare_exchange(
                        WEBSOCKET,
                        UNBOUND,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                return *res;
            }
        };
        // A slot in the session's queue first: a session that just ended keeps the
        // upgrade, to refuse it below.
        let refused = match &session {
            Some(session) => match session.commands.reserve().await {
                Ok(slot) => {
                    slot.send(Command::WebSocket(upgrade.on_upgrade));
                    None
                }
                Err(_) => Some(upgrade.on_upgrade),
            },
            None => Some(upgrade.on_upgrade),
        };
        if let Some(on_upgrade) = refused {
            // An unknown (or just ended) session: socket.io 0.9's error packet, so the
            // client handshakes again, then the close.
            let ws = self.ws.clone();
            tokio::spawn(async move {
                let Ok(upgraded) = on_upgrade.await else {
                    return;
                };
                let mut socket = ws.socket(upgraded).await;
                let _ = tokio::time::timeout(REFUSAL_GRACE, async {
                    if socket
                        .send(WsMessage::text(framing::not_handshaken()))
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let _ = socket.close(None).await;
                    while let Some(Ok(_)) = socket.next().await {}
                })
                .await;
            });
        }
        ws::switching_protocols(&upgrade.accept)
    }
}

/// One session's task: owns the spark's outgoing queue and the session's timers.
struct SessionTask {
    sid: Arc<str>,
    session: Arc<Session>,
    sessions: Sessions,
    outgoing: mpsc::Receiver<Frame>,
    commands: mpsc::Receiver<Command>,
    settings: SocketIo09Options,
    ws: ws::Server,
    max_length: usize,
    queue_size: usize,
    /// Packets for the next poll before any frame: `1::`, acknowledgements.
    control: Vec<String>,
    /// The poll waiting for news.
    poll: Option<oneshot::Sender<String>>,
    /// The connect packet went out: frames may follow.
    connected: bool,
    /// With no poll waiting: when the session ends for want of one.
    idle_until: Instant,
}

/// Why the polling phase stopped.
enum Stop {
    /// The spark ended (application, Primus heartbeat, destroy).
    Ended,
    /// The client left, failed, or went silent.
    Client(Option<SparkError>),
}

impl SessionTask {
    async fn run(mut self) {
        match self.polling().await {
            Ok(on_upgrade) => self.websocket(on_upgrade).await,
            Err(stop) => self.end(stop),
        }
    }

    /// Leave the registry and end the spark (once; safe if it already ended). A waiting
    /// poll gets `0::`.
    fn end(mut self, stop: Stop) {
        {
            let mut sessions = lock(&self.sessions);
            if sessions
                .get(&self.sid)
                .is_some_and(|s| Arc::ptr_eq(s, &self.session))
            {
                sessions.remove(&self.sid);
            }
        }
        let spark = &self.session.spark;
        spark.close_inbox();
        spark.finish(
            CloseKind::Normal,
            match stop {
                Stop::Ended => None,
                Stop::Client(err) => err,
            },
        );
        if let Some(poll) = self.poll.take() {
            let _ = poll.send(framing::disconnect());
        }
        self.commands.close();
    }

    /// Until the session ends, or a WebSocket binds it (returned).
    async fn polling(&mut self) -> Result<hyper::upgrade::OnUpgrade, Stop> {
        let spark = self.session.spark.clone();
        let mut closing = false;
        let mut poll_until = Instant::now();
        loop {
            if !closing && spark.close_kind().is_some() {
                closing = true;
            }
            // A poll whose client went away: nothing is sent into it.
            if self.poll.as_ref().is_some_and(|p| p.is_closed()) {
                self.poll = None;
                self.idle_until = Instant::now() + self.settings.close_timeout;
            }
            if self.poll.is_some() {
                if closing {
                    // The last frames and `0::`.
                    let payload = self.payload(None, true);
                    self.answer(payload);
                    return Err(Stop::Ended);
                }
                if !self.control.is_empty() {
                    let payload = self.payload(None, false);
                    self.answer(payload);
                }
            }
            if self.control.len() > MAX_CONTROL {
                return Err(Stop::Client(Some(SparkError::SlowPeer(format!(
                    "more than {MAX_CONTROL} Socket.IO 0.9 replies waiting for a poll"
                )))));
            }
            let waiting = self.poll.is_some();
            tokio::select! {
                biased;
                _ = spark.close_signal.notified(), if !closing => {}
                cmd = self.commands.recv() => match cmd {
                    // The session holds a sender as long as it is registered.
                    None => return Err(Stop::Client(None)),
                    Some(Command::Poll(tx)) => {
                        if let Some(old) = self.poll.replace(tx) {
                            let _ = old.send(framing::noop());
                        }
                        poll_until = Instant::now() + self.settings.polling_duration;
                        // Each poll is the polling client's sign of life, for Primus too.
                        spark.transport_pong();
                        if !self.connected {
                            self.connected = true;
                            self.control.insert(0, framing::connect());
                        }
                    }
                    Some(Command::Reply(packet)) => self.control.push(packet),
                    Some(Command::Disconnect) => {
                        if let Some(poll) = self.poll.take() {
                            let _ = poll.send(framing::disconnect());
                        }
                        return Err(Stop::Client(None));
                    }
                    Some(Command::Fail(err)) => return Err(Stop::Client(Some(err))),
                    Some(Command::WebSocket(on_upgrade)) => return Ok(on_upgrade),
                },
                frame = self.outgoing.recv(), if waiting && self.connected && !closing => {
                    if let Some(frame) = frame {
                        let payload = self.payload(Some(frame), false);
                        self.answer(payload);
                    }
                }
                _ = sleep_until(poll_until), if waiting => self.answer(framing::noop()),
                _ = sleep_until(self.idle_until), if !waiting => {
                    return Err(match closing {
                        true => Stop::Ended,
                        false => Stop::Client(Some(SparkError::Transport(format!(
                            "no Socket.IO 0.9 poll within the close timeout ({:?})",
                            self.settings.close_timeout
                        )))),
                    });
                }
            }
        }
    }

    /// A poll answer: the control packets, `first`, and what else is queued (at most
    /// [`MAX_BATCH`] frames and about `max_length` bytes past the first; everything when
    /// `last`, then `0::`), written straight into the payload.
    fn payload(&mut self, first: Option<Frame>, last: bool) -> String {
        let mut payload = PayloadWriter::default();
        for packet in self.control.drain(..) {
            payload.push_str(&packet);
        }
        let mut frames = 0;
        let mut bytes = 0;
        if let Some(frame) = first {
            frames += 1;
            bytes += frame.as_bytes().len();
            if let Some(packet) = framing::message(&frame) {
                payload.push(&packet);
            }
        }
        let limit = if last {
            self.queue_size.max(1)
        } else {
            MAX_BATCH
        };
        while self.connected && frames < limit && (last || bytes < self.max_length) {
            let Ok(frame) = self.outgoing.try_recv() else {
                break;
            };
            frames += 1;
            bytes += frame.as_bytes().len();
            if let Some(packet) = framing::message(&frame) {
                payload.push(&packet);
            }
        }
        if last {
            payload.push_str(&framing::disconnect());
        }
        if payload.is_empty() {
            // Binary frames only, all left out: the poll still gets an answer.
            payload.push_str(&framing::noop());
        }
        payload.finish()
    }

    /// Answer the waiting poll. Should its client have gone away meanwhile, what it
    /// carried is lost: the spark ends, as with a broken WebSocket.
    fn answer(&mut self, payload: String) {
        let Some(poll) = self.poll.take() else {
            return;
        };
        self.idle_until = Instant::now() + self.settings.close_timeout;
        if poll.send(payload).is_err() {
            self.session.spark.finish(
                CloseKind::Normal,
                Some(SparkError::Transport(
                    "a poll went away before its answer was sent".into(),
                )),
            );
        }
    }

    /// The WebSocket phase: the engine carries the session until the connection ends.
    async fn websocket(mut self, on_upgrade: hyper::upgrade::OnUpgrade) {
        // Polls and posts are refused from now on.
        self.commands.close();
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                let err = SparkError::Transport(format!("upgrade failed: {e}"));
                return self.end(Stop::Client(Some(err)));
            }
        };
        let socket = self.ws.socket(upgraded).await;
        let mut ready = self.session.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
        let spark = self.session.spark.clone();
        let live = spark.close_kind().is_none();
        let framing = WsFraming::new(&self.settings, self.max_length);
        let (_, closed) = mpsc::channel(1);
        let outgoing = std::mem::replace(&mut self.outgoing, closed);
        self.ws.serve(socket, spark, outgoing, framing, live).await;
        self.end(Stop::Ended);
    }
}

/// A poll's answer: the payload as text, or for jsonp-polling as a script call.
fn polled(jsonp: Option<u64>, payload: String) -> HttpResponse {
    match jsonp {
        None => full(StatusCode::OK, PLAIN, payload),
        Some(i) => {
            let mut res = full(
                StatusCode::OK,
                "text/javascript; charset=UTF-8",
                script_call(i, &payload),
            );
            res.headers_mut()
                .insert("x-xss-protection", HeaderValue::from_static("0"));
            res
        }
    }
}

/// `io.j[<i>]("<text>");`: the text as a JavaScript string literal (JSON, with U+2028
/// and U+2029 escaped, which older engines do not accept raw in a string literal).
fn script_call(i: u64, text: &str) -> String {
    format!("io.j[{i}]({});", Value::from(text))
}

/// A script callback index (`jsonp=`, `i=`): digits, as socket.io 0.9 requires.
fn script_index(v: &str) -> Option<u64> {
    (!v.is_empty() && v.len() <= 15 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

/// A jsonp-polling POST body: the form field `d`, a JSON string holding the payload.
fn jsonp_body(body: &str) -> Result<String, Bad> {
    let form = primus_core::query::parse(body);
    let d = form
        .get("d")
        .ok_or_else(|| Bad::Packet("a jsonp-polling POST needs the form field `d`".into()))?;
    serde_json::from_str::<String>(d.as_str())
        .map_err(|e| Bad::Packet(format!("the form field `d` is not a JSON string: {e}")))
}

fn text(status: StatusCode, body: impl Into<bytes::Bytes>) -> HttpResponse {
    full(status, PLAIN, body)
}

fn too_large(max_length: usize) -> HttpResponse {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("A frame is larger than max_length ({max_length} bytes); the session ends.\n"),
    )
}

fn on_other_transport() -> HttpResponse {
    text(
        StatusCode::BAD_REQUEST,
        "This Socket.IO 0.9 session uses another transport: handshake again to switch.\n",
    )
}

fn not_found(pathname: &str) -> String {
    format!(
        "Not a Socket.IO 0.9 URL: handshake with `GET {pathname}/1/`, then use \
         `{pathname}/1/<transport>/<session id>`.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_helpers() {
        assert_eq!(route("/1"), Some(Route::Handshake));
        assert_eq!(route("/1/"), Some(Route::Handshake));
        let polling = Route::Transport {
            transport: "xhr-polling".into(),
            sid: "abc".into(),
        };
        assert_eq!(route("/1/xhr-polling/abc"), Some(polling));
        assert!(matches!(
            route("/1/websocket/abc/"),
            Some(Route::Transport { .. })
        ));
        for bad in ["/1/websocket", "/1/websocket/", "/1/a/b/c", "/1/a/b//"] {
            assert_eq!(route(bad), Some(Route::NotFound), "{bad}");
        }
        for theirs in ["/", "", "/10/", "/socket.io/1/"] {
            assert_eq!(route(theirs), None, "{theirs}");
        }
        assert_eq!(script_index("12"), Some(12));
        assert_eq!(script_index(""), None);
        assert_eq!(script_index("1x"), None);
        assert_eq!(
            script_call(3, "3:::\"a\u{2028}\""),
            "io.j[3](\"3:::\\\"a\\u2028\\\"\");"
        );
        assert_eq!(jsonp_body("d=%223%3A%3A%3Ax%22").unwrap(), "3:::x");
        assert!(jsonp_body("d=3:::x").is_err());
        assert!(jsonp_body("e=1").is_err());
    }
}
