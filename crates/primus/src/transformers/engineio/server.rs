//! Server half of the `engine.io` transformer.
//!
//! Each Engine.IO session is one spark and one task (`run`) that owns the spark's
//! outgoing queue, the Engine.IO heartbeat and, once upgraded, the WebSocket:
//!
//! - `GET …&transport=polling` without `sid` is the handshake: a spark is opened, its
//!   session task started, and the answer is the `open` packet. With a `sid` it is a
//!   poll: the request waits (in the session task) for frames or control packets and
//!   gets them as one payload.
//! - `POST …&sid=` delivers a payload: messages go to the spark with
//!   [`deliver`](crate::server::spark::SparkShared::deliver), which waits while the
//!   application's queue is full, so a slow application slows the client's POSTs down.
//! - `GET …&transport=websocket&sid=` upgrades: `2probe`/`3probe`, the pending poll is
//!   released with a `noop`, then `5` hands the socket to the session task. Without a
//!   `sid` it is a WebSocket-only session, the `open` packet being the first message.
//!
//! Bad input gets the reference's answers: `400 {"code":1,"message":"Session ID
//! unknown"}` and friends, `413` for bodies over `max_length`, and a closed session for
//! overlapping polls or undecodable packets. Sessions whose client vanished end when
//! the Engine.IO heartbeat times out; upgrades that stall end at `upgrade_timeout`.
//!
//! How Primus frames ride in Engine.IO messages is the session's `Framing`: `Plain` (one
//! frame, one `message` packet) for `engine.io`, `SocketIo` for the `socket.io` transformer
//! (Socket.IO protocol 5 packets, see [`socketio`](crate::transformers::socketio)). It is
//! applied in the few places a frame becomes a message and back: `Session::incoming` (POSTs
//! and the WebSocket loop), `SessionTask::push_frame`/`ws_frame` (polling payloads, the
//! close of a polling session, the WebSocket loop) and `SessionTask::farewell` (the
//! Socket.IO DISCONNECT before the close).

use super::EngineIoOptions;
use crate::error::SparkError;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkShared};
use crate::server::{Inner, SparkInfo};
use crate::service::{full, HttpRequest, HttpResponse, PeerInfo};
use crate::transformers::socketio::server as socketio;
use crate::transformers::websockets;
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use primus_core::engineio::{self, Packet, Protocol};
use primus_core::{forwarded, Frame};
use rand::Rng;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Frames sent in one polling payload or one WebSocket batch at most.
const MAX_BATCH: usize = 64;
/// How long a session closed by the client waits for a poll sent alongside the close
/// (the two requests race on separate connections; on a loaded machine the poll can
/// trail by more than a few milliseconds, and it carries the last replies).
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Commands a session task has not read yet (polls, pongs, upgrades) at most.
const COMMAND_QUEUE: usize = 16;

type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

/// The reference's Engine.IO error codes (engine.io `Server.errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EioError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    UnsupportedProtocolVersion = 5,
}

impl EioError {
    fn message(self) -> &'static str {
        match self {
            EioError::UnknownTransport => "Transport unknown",
            EioError::UnknownSid => "Session ID unknown",
            EioError::BadHandshakeMethod => "Bad handshake method",
            EioError::BadRequest => "Bad request",
            EioError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// `400 {"code":N,"message":"…"}`, as engine.io answers.
    fn response(self) -> HttpResponse {
        let body = format!(
            "{{\"code\":{},\"message\":\"{}\"}}",
            self as u8,
            self.message()
        );
        full(StatusCode::BAD_REQUEST, "application/json", body)
    }
}

/// Where a session's traffic goes.
const POLLING: u8 = 0;
const UPGRADING: u8 = 1;
const WEBSOCKET: u8 = 2;

/// How a session carries Primus frames in Engine.IO messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
// Without the `socketio` feature only `Plain` is made.
#[cfg_attr(not(feature = "socketio"), allow(dead_code))]
pub(crate) enum FramingKind {
    /// One frame, one Engine.IO `message` (the `engine.io` transformer).
    Plain,
    /// Socket.IO protocol 5 `message` events (the `socket.io` transformer).
    SocketIo,
}

/// A session's framing with its incoming state.
#[cfg_attr(not(feature = "socketio"), allow(dead_code))]
enum Framing {
    Plain,
    /// Incoming Socket.IO state (a binary event waiting for its attachment); locked only
    /// while one message is decoded, never across an await.
    SocketIo(Mutex<socketio::Inbound>),
}

/// What the handlers of a session's requests share with its task.
struct Session {
    protocol: Protocol,
    framing: Framing,
    /// The client asked for base64 binary (`b64=1`): binary goes as `b` packets on the
    /// WebSocket too, like the reference.
    b64: bool,
    spark: Arc<SparkShared>,
    commands: mpsc::Sender<Command>,
    transport: AtomicU8,
    /// A POST is being handled (a second one at the same time closes the session).
    posting: AtomicBool,
    /// Connection listeners have run: messages may be delivered.
    ready: watch::Receiver<bool>,
}

/// What request handlers ask of a session task.
enum Command {
    /// A poll: answer with a payload, or `None` when the poll is refused (overlap).
    Poll(oneshot::Sender<Option<String>>),
    /// Control packets that came in a POST (pong, protocol 3 ping, close).
    Control(Packet),
    /// A POST broke the rules (overlap, bad packet, too large): end the session.
    Fail(SparkError),
    /// The upgrade probe succeeded: release polls with `noop`.
    Probed,
    /// The upgrade finished: the WebSocket carries the session from now on.
    Upgraded(Box<Socket>),
    /// Socket.IO: the client connected; answer and release queued frames.
    Connect,
    /// Socket.IO: a packet to send back (ack, CONNECT_ERROR).
    Reply(Frame),
}

/// The engine.io server half: its settings and live sessions.
pub(crate) struct Server {
    framing: FramingKind,
    options: EngineIoOptions,
    allow_eio3: bool,
    max_payload: usize,
    write_timeout: Duration,
    ws_config: WebSocketConfig,
    sessions: Arc<Mutex<HashMap<Arc<str>, Arc<Session>>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("options", &self.options)
            .field("allow_eio3", &self.allow_eio3)
            .field("sessions", &self.session_count())
            .finish()
    }
}

/// The query parameters Engine.IO looks at.
struct EioQuery<'a> {
    eio: Option<&'a str>,
    transport: Option<&'a str>,
    sid: Option<&'a str>,
    b64: bool,
}

impl<'a> EioQuery<'a> {
    fn parse(query: &'a str) -> Self {
        let mut q = EioQuery {
            eio: None,
            transport: None,
            sid: None,
            b64: false,
        };
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "EIO" if q.eio.is_none() => q.eio = Some(v),
                "transport" if q.transport.is_none() => q.transport = Some(v),
                "sid" if q.sid.is_none() => q.sid = Some(v),
                "b64" => q.b64 = !v.is_empty() && v != "0" && v != "false",
                _ => {}
            }
        }
        q
    }
}

impl Server {
    pub(crate) fn new(options: &Options) -> Self {
        Self::with_framing(options, FramingKind::Plain)
    }

    pub(crate) fn with_framing(options: &Options, framing: FramingKind) -> Self {
        let mut ws_config = WebSocketConfig::default();
        ws_config.max_message_size = Some(options.max_length);
        ws_config.max_frame_size = Some(options.max_length);
        ws_config.read_buffer_size = 1024;
        ws_config.write_buffer_size = 0;
        ws_config.max_write_buffer_size = options.max_length.saturating_mul(2).max(1 << 20);
        Server {
            framing,
            options: options.engineio.clone(),
            allow_eio3: options.allow_eio3,
            max_payload: options.max_length,
            write_timeout: options.write_timeout,
            ws_config,
            sessions: Arc::default(),
        }
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The transport of the session whose spark has this id.
    pub(crate) fn transport_of(&self, spark_id: &str) -> Option<&'static str> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let session = match sessions.get(spark_id) {
            Some(s) if s.spark.id_arc().as_ref() == spark_id => s,
            _ => sessions
                .values()
                .find(|s| s.spark.id_arc().as_ref() == spark_id)?,
        };
        Some(match session.transport.load(Ordering::Acquire) {
            WEBSOCKET => "websocket",
            _ => "polling",
        })
    }

    fn session(&self, sid: &str) -> Option<Arc<Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sid)
            .cloned()
    }

    pub(crate) async fn handle(&self, server: &Arc<Inner>, req: HttpRequest) -> HttpResponse {
        let query = req.uri().query().unwrap_or("").to_string();
        let q = EioQuery::parse(&query);
        let upgrade = crate::service::is_upgrade(&req);
        let websocket = match q.transport {
            Some("polling") => false,
            Some("websocket") if self.options.websocket => true,
            _ => return EioError::UnknownTransport.response(),
        };
        if let Some(sid) = q.sid {
            let Some(session) = self.session(sid) else {
                return EioError::UnknownSid.response();
            };
            if websocket {
                if !upgrade {
                    return EioError::BadRequest.response();
                }
                return self.upgrade(session, req);
            }
            if session.transport.load(Ordering::Acquire) == WEBSOCKET {
                // The reference's "transport mismatch".
                return EioError::BadRequest.response();
            }
            return match *req.method() {
                Method::GET => poll(&session).await,
                Method::POST => self.post(&session, req).await,
                _ => full(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", ""),
            };
        }
        if req.method() != Method::GET {
            return EioError::BadHandshakeMethod.response();
        }
        if websocket && !upgrade {
            return EioError::BadRequest.response();
        }
        let protocol = Protocol::from_query(q.eio);
        if protocol == Protocol::V3 && !self.allow_eio3 {
            return EioError::UnsupportedProtocolVersion.response();
        }
        self.handshake(server, req, protocol, q.b64, websocket)
    }

    /// A new session: open the spark, start its task, answer with `open` (polling) or
    /// upgrade (WebSocket only).
    fn handshake(
        &self,
        server: &Arc<Inner>,
        mut req: HttpRequest,
        protocol: Protocol,
        b64: bool,
        websocket: bool,
    ) -> HttpResponse {
        let ws = if websocket {
            match accept_upgrade(&mut req) {
                Ok(ws) => Some(ws),
                Err(res) => return res,
            }
        } else {
            None
        };
        let peer = PeerInfo::of(&req);
        let (parts, _body) = req.into_parts();
        let address = forwarded::resolve(
            peer.remote,
            peer.secure,
            &parts.headers,
            &server.options.trusted_proxies,
        );
        let conn = match server.open_spark(SparkInfo::compact(parts, address)) {
            Ok(conn) => conn,
            Err(e) => return full(StatusCode::SERVICE_UNAVAILABLE, "text/plain", e.to_string()),
        };
        let spark = conn.spark.shared.clone();
        // Connection listeners run beside the session: polls and pings go on meanwhile,
        // incoming messages wait for them.
        let ready = server.spawn_connection_listeners(conn.spark.clone());
        let (commands, command_rx) = mpsc::channel(COMMAND_QUEUE);
        let session = Arc::new(Session {
            protocol,
            framing: match self.framing {
                FramingKind::Plain => Framing::Plain,
                FramingKind::SocketIo => Framing::SocketIo(Mutex::default()),
            },
            b64,
            spark: spark.clone(),
            commands,
            transport: AtomicU8::new(if websocket { WEBSOCKET } else { POLLING }),
            posting: AtomicBool::new(false),
            ready,
        });
        let sid = {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            // The spark id is the sid, so the client's `id()` (which answers with the sid
            // without asking) is right, also with an `id_generator`, as long as the id can
            // go in a URL as it is.
            let id = conn.spark.id();
            let sid: Arc<str> = if url_safe(id) && !sessions.contains_key(id) {
                spark.id_arc()
            } else {
                loop {
                    let sid = random_sid();
                    if !sessions.contains_key(sid.as_str()) {
                        break Arc::from(sid);
                    }
                }
            };
            sessions.insert(sid.clone(), session.clone());
            sid
        };
        let open = Packet::Open(self.open_json(&sid, websocket));
        let task = SessionTask {
            sid: sid.clone(),
            session: session.clone(),
            sessions: self.sessions.clone(),
            outgoing: conn.outgoing,
            commands: command_rx,
            options: self.options.clone(),
            write_timeout: self.write_timeout,
            control: VecDeque::new(),
            poll: None,
            probed: false,
            released: self.framing == FramingKind::Plain,
            farewell_sent: false,
        };
        match ws {
            Some((on_upgrade, res)) => {
                let config = self.ws_config;
                tokio::spawn(async move {
                    match on_upgrade.await {
                        Ok(upgraded) => {
                            let mut ws = WebSocketStream::from_raw_socket(
                                TokioIo::new(upgraded),
                                Role::Server,
                                Some(config),
                            )
                            .await;
                            let open = WsMessage::Text(open.encode(protocol).into());
                            if ws.send(open).await.is_ok() {
                                task.run(Some(ws)).await;
                            } else {
                                task.end(Some(SparkError::Transport("open failed".into())));
                            }
                        }
                        Err(e) => {
                            task.end(Some(SparkError::Transport(format!("upgrade failed: {e}"))))
                        }
                    }
                });
                res
            }
            None => {
                tokio::spawn(task.run(None));
                let body = engineio::encode_payload(protocol, &[open]);
                full(StatusCode::OK, "text/plain; charset=UTF-8", body)
            }
        }
    }

    /// The handshake body; a session that starts on WebSocket has no upgrades.
    fn open_json(&self, sid: &str, websocket: bool) -> String {
        let upgrades = if self.options.websocket && !websocket {
            "[\"websocket\"]"
        } else {
            "[]"
        };
        format!(
            "{{\"sid\":{},\"upgrades\":{upgrades},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            serde_json::to_string(sid).unwrap_or_default(),
            self.options.ping_interval.as_millis(),
            self.options.ping_timeout.as_millis(),
            self.max_payload
        )
    }

    /// `POST`: decode the payload and deliver it, in order.
    async fn post(&self, session: &Arc<Session>, req: HttpRequest) -> HttpResponse {
        if session.posting.swap(true, Ordering::AcqRel) {
            // The reference: "data request overlap from client" closes the transport.
            let _ = session
                .commands
                .send(Command::Fail(SparkError::Transport(
                    "two POSTs at once on one session".into(),
                )))
                .await;
            return full(StatusCode::BAD_REQUEST, "text/html", "");
        }
        let res = self.post_inner(session, req).await;
        session.posting.store(false, Ordering::Release);
        res
    }

    async fn post_inner(&self, session: &Arc<Session>, req: HttpRequest) -> HttpResponse {
        let limit = self.max_payload;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return too_large(session, limit).await;
        }
        let mut body = req.into_body();
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        if buf.len() + data.len() > limit {
                            return too_large(session, limit).await;
                        }
                        buf.extend_from_slice(&data);
                    }
                }
                Err(e) => {
                    let _ = session
                        .commands
                        .send(Command::Fail(SparkError::Transport(format!(
                            "POST body: {e}"
                        ))))
                        .await;
                    return full(StatusCode::BAD_REQUEST, "text/html", "");
                }
            }
        }
        let body = buf.freeze();
        // Node reads the body as UTF-8 text: invalid sequences (a truncated multi-byte
        // character) become U+FFFD rather than an error.
        let text = String::from_utf8_lossy(&body);
        let packets = match engineio::decode_payload(session.protocol, &text, limit) {
            Ok(p) => p,
            Err(e) => {
                // The session closes ("parse error"); the POST gets a 400, as the
                // Engine.IO protocol test suite asks.
                let _ = session
                    .commands
                    .send(Command::Fail(SparkError::Transport(format!(
                        "bad Engine.IO payload: {e}"
                    ))))
                    .await;
                return EioError::BadRequest.response();
            }
        };
        for packet in packets {
            match packet {
                Packet::Message(frame) => {
                    let incoming = match session.incoming(frame) {
                        Ok(incoming) => incoming,
                        Err(err) => {
                            let _ = session.commands.send(Command::Fail(err)).await;
                            return EioError::BadRequest.response();
                        }
                    };
                    if incoming.connect {
                        let _ = session.commands.send(Command::Connect).await;
                    }
                    if let Some(frame) = incoming.deliver {
                        let mut ready = session.ready.clone();
                        if ready.wait_for(|r| *r).await.is_err() || !session.spark_open() {
                            break;
                        }
                        session.spark.deliver(frame).await;
                    }
                    if let Some(reply) = incoming.reply {
                        let _ = session.commands.send(Command::Reply(reply)).await;
                    }
                    if incoming.disconnect {
                        let _ = session.commands.send(Command::Control(Packet::Close)).await;
                        break;
                    }
                }
                Packet::Pong(_) | Packet::Ping(_) | Packet::Close => {
                    let _ = session.commands.send(Command::Control(packet)).await;
                }
                Packet::Open(_) | Packet::Upgrade | Packet::Noop => {
                    let _ = session
                        .commands
                        .send(Command::Fail(SparkError::Transport(
                            "unexpected Engine.IO packet from the client".into(),
                        )))
                        .await;
                    return EioError::BadRequest.response();
                }
            }
        }
        ok()
    }

    /// `GET …&transport=websocket&sid=…`: accept the upgrade and run the probe exchange.
    fn upgrade(&self, session: Arc<Session>, mut req: HttpRequest) -> HttpResponse {
        if session
            .transport
            .compare_exchange(POLLING, UPGRADING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Already upgrading or upgraded: like the reference, the WebSocket is
            // accepted and closed at once; the session goes on undisturbed.
            return match accept_upgrade(&mut req) {
                Ok((on_upgrade, res)) => {
                    let config = self.ws_config;
                    tokio::spawn(async move {
                        if let Ok(upgraded) = on_upgrade.await {
                            let mut ws = WebSocketStream::from_raw_socket(
                                TokioIo::new(upgraded),
                                Role::Server,
                                Some(config),
                            )
                            .await;
                            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                                let _ = ws.close(None).await;
                                while let Some(Ok(_)) = ws.next().await {}
                            })
                            .await;
                        }
                    });
                    res
                }
                Err(res) => res,
            };
        }
        let (on_upgrade, res) = match accept_upgrade(&mut req) {
            Ok(x) => x,
            Err(res) => {
                session.transport.store(POLLING, Ordering::Release);
                return res;
            }
        };
        let config = self.ws_config;
        let timeout = self.options.upgrade_timeout;
        tokio::spawn(async move {
            let deadline = Instant::now() + timeout;
            let probe = async {
                let upgraded = on_upgrade.await.ok()?;
                let mut ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(config),
                )
                .await;
                match next_text(&mut ws).await.as_deref() {
                    Some("2probe") => {}
                    _ => return None,
                }
                ws.send(WsMessage::Text("3probe".into())).await.ok()?;
                session.commands.send(Command::Probed).await.ok()?;
                match next_text(&mut ws).await.as_deref() {
                    Some("5") => Some(ws),
                    _ => None,
                }
            };
            match tokio::time::timeout_at(deadline, probe).await {
                Ok(Some(ws)) => {
                    if session
                        .commands
                        .send(Command::Upgraded(Box::new(ws)))
                        .await
                        .is_err()
                    {
                        session.transport.store(POLLING, Ordering::Release);
                    }
                }
                // A half-finished upgrade: the socket is dropped, polling goes on.
                _ => {
                    let _ = session.transport.compare_exchange(
                        UPGRADING,
                        POLLING,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
            }
        });
        res
    }
}

impl Session {
    fn spark_open(&self) -> bool {
        self.spark.close_kind().is_none()
    }

    /// One Engine.IO message from the client, through the session's framing.
    fn incoming(&self, frame: Frame) -> Result<socketio::Incoming, SparkError> {
        match &self.framing {
            Framing::Plain => Ok(socketio::Incoming::deliver(frame)),
            Framing::SocketIo(inbound) => inbound
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .decode(frame)
                .map_err(|e| SparkError::Transport(format!("bad Socket.IO packet: {e}"))),
        }
    }

    /// An Engine.IO pong: with Socket.IO framing it is also a sign of life for Primus's
    /// heartbeat (socket.io-client does not answer `primus::ping`).
    fn pong(&self) {
        if matches!(self.framing, Framing::SocketIo(_)) {
            self.spark.transport_pong();
        }
    }
}

/// The next text message of a WebSocket being upgraded (`None` on anything else).
async fn next_text(ws: &mut Socket) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(WsMessage::Text(t)) => return Some(t.to_string()),
            Ok(WsMessage::Ping(_) | WsMessage::Pong(_)) => continue,
            _ => return None,
        }
    }
}

/// `GET` poll: hand the request to the session task and wait for its payload.
async fn poll(session: &Arc<Session>) -> HttpResponse {
    let (tx, rx) = oneshot::channel();
    if session.commands.send(Command::Poll(tx)).await.is_err() {
        return EioError::UnknownSid.response();
    }
    match rx.await {
        Ok(Some(payload)) => full(StatusCode::OK, "text/plain; charset=UTF-8", payload),
        // Overlapping polls: 400 with an empty body, as the reference.
        Ok(None) => full(StatusCode::BAD_REQUEST, "text/html", ""),
        Err(_) => EioError::UnknownSid.response(),
    }
}

async fn too_large(session: &Arc<Session>, limit: usize) -> HttpResponse {
    let _ = session
        .commands
        .send(Command::Fail(SparkError::MaxLength { limit }))
        .await;
    full(StatusCode::PAYLOAD_TOO_LARGE, "text/html", "")
}

fn ok() -> HttpResponse {
    full(StatusCode::OK, "text/html", "ok")
}

/// Check a WebSocket handshake and prepare the `101` answer (or the error answer).
#[allow(clippy::result_large_err)] // both sides are responses, built once per upgrade
fn accept_upgrade(
    req: &mut HttpRequest,
) -> Result<(hyper::upgrade::OnUpgrade, HttpResponse), HttpResponse> {
    let key_ok = req.method() == Method::GET
        && req
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
        && req
            .headers()
            .get(header::SEC_WEBSOCKET_VERSION)
            .map(|v| v.as_bytes())
            == Some(b"13")
        && req
            .headers()
            .get(header::SEC_WEBSOCKET_KEY)
            .is_some_and(|k| k.len() == 24);
    if !key_ok {
        return Err(EioError::BadRequest.response());
    }
    if req
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none()
    {
        return Err(full(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "this server cannot upgrade connections: serve with hyper's \
             serve_connection(..).with_upgrades() (primus::serve does)",
        ));
    }
    let accept = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| derive_accept_key(key.as_bytes()))
        .unwrap_or_default();
    let on_upgrade = hyper::upgrade::on(req);
    let mut res = full(StatusCode::SWITCHING_PROTOCOLS, "text/plain", "");
    let h = res.headers_mut();
    h.remove(header::CONTENT_TYPE);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Ok((on_upgrade, res))
}

fn url_safe(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// A 20-character session id from `A-Za-z0-9_-` (the shape of engine.io's base64id).
fn random_sid() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[(rng.random::<u8>() & 63) as usize] as char)
        .collect()
}

/// One session's task: owns the spark's outgoing queue and the heartbeat.
struct SessionTask {
    sid: Arc<str>,
    session: Arc<Session>,
    sessions: Arc<Mutex<HashMap<Arc<str>, Arc<Session>>>>,
    outgoing: mpsc::Receiver<Frame>,
    commands: mpsc::Receiver<Command>,
    options: EngineIoOptions,
    write_timeout: Duration,
    /// Control packets waiting for the next poll.
    control: VecDeque<Packet>,
    /// The pending poll.
    poll: Option<oneshot::Sender<Option<String>>>,
    /// The upgrade probe succeeded: polls are released with `noop`.
    probed: bool,
    /// Frames may go out (always with plain framing; after the Socket.IO CONNECT).
    released: bool,
    /// Socket.IO: the DISCONNECT went out.
    farewell_sent: bool,
}

/// Heartbeat timers, the same over polling and WebSocket.
struct Heartbeat {
    protocol: Protocol,
    interval: Duration,
    timeout: Duration,
    /// When to send the next ping (protocol 4).
    next_ping: Instant,
    /// When the session dies without a sign of life.
    deadline: Instant,
    awaiting_pong: bool,
}

impl Heartbeat {
    fn new(protocol: Protocol, interval: Duration, timeout: Duration) -> Self {
        let now = Instant::now();
        Heartbeat {
            protocol,
            interval,
            timeout,
            next_ping: now + interval,
            // Protocol 3: the client pings every interval; protocol 4: replaced when the
            // first ping goes out.
            deadline: now + interval + timeout,
            awaiting_pong: false,
        }
    }
    /// A ping goes out now (protocol 4).
    fn pinged(&mut self) {
        // Timed from when the ping was due, as the reference's timers are.
        self.awaiting_pong = true;
        self.deadline = self.next_ping + self.timeout;
        self.next_ping += self.interval + self.timeout;
    }
    /// The client answered (protocol 4) or pinged (protocol 3).
    fn alive(&mut self) {
        let now = Instant::now();
        self.awaiting_pong = false;
        self.next_ping = now + self.interval;
        self.deadline = now + self.interval + self.timeout;
    }
    fn sends_pings(&self) -> bool {
        self.protocol == Protocol::V4 && !self.awaiting_pong
    }
}

/// Why a session loop stopped.
enum Stop {
    /// The spark ended (application, Primus heartbeat, destroy).
    SparkEnded,
    /// The client closed or failed, or the Engine.IO heartbeat timed out.
    Client(Option<SparkError>),
}

impl SessionTask {
    async fn run(mut self, ws: Option<Socket>) {
        let protocol = self.session.protocol;
        let mut heartbeat = Heartbeat::new(
            protocol,
            self.options.ping_interval,
            self.options.ping_timeout,
        );
        let mut ws = ws;
        let stop = loop {
            let stop = match ws.take() {
                None => match self.polling(&mut heartbeat).await {
                    Ok(upgraded) => {
                        ws = Some(*upgraded);
                        continue;
                    }
                    Err(stop) => stop,
                },
                Some(socket) => self.websocket(socket, &mut heartbeat).await,
            };
            break stop;
        };
        match stop {
            Stop::SparkEnded => self.end(None),
            Stop::Client(err) => self.end(err),
        }
    }

    /// Leave the registry and end the spark (once; safe if it already ended).
    fn end(mut self, err: Option<SparkError>) {
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.sid);
        self.session.spark.close_inbox();
        self.session.spark.finish(CloseKind::Normal, err);
        if let Some(poll) = self.poll.take() {
            let _ = poll.send(Some(engineio::encode_payload(
                self.session.protocol,
                &[Packet::Close],
            )));
        }
        self.commands.close();
    }

    /// The polling phase. Returns the WebSocket when an upgrade finishes.
    async fn polling(&mut self, hb: &mut Heartbeat) -> Result<Box<Socket>, Stop> {
        let spark = self.session.spark.clone();
        // Once the spark ended: the last poll gets what was queued, then `close`.
        let mut closing: Option<Instant> = None;
        loop {
            // A late heartbeat wins over a request that arrives at the same moment.
            if Instant::now() >= hb.deadline {
                return Err(Stop::Client(Some(SparkError::Transport(
                    "Engine.IO ping timeout".into(),
                ))));
            }
            if closing.is_none() && spark.close_kind().is_some() {
                closing = Some(Instant::now() + self.options.ping_timeout);
            }
            if self.poll.is_some() {
                // With Socket.IO the DISCONNECT goes in a payload of its own, the Engine.IO
                // `close` in the next poll: socket.io-client handles Socket.IO packets a
                // tick later than Engine.IO ones, and a `close` in the same payload would
                // win ("transport close" instead of "io server disconnect").
                if closing.is_some() && self.flush_poll(true) {
                    return Err(Stop::SparkEnded);
                }
                if self.probed {
                    self.control.push_back(Packet::Noop);
                }
                if !self.control.is_empty() {
                    self.flush_poll(false);
                }
            }
            let waiting = self.poll.is_some();
            tokio::select! {
                biased;
                _ = spark.close_signal.notified(), if closing.is_none() => {}
                _ = sleep_until(closing.unwrap_or_else(Instant::now)), if closing.is_some() => {
                    return Err(Stop::SparkEnded);
                }
                cmd = self.commands.recv() => match cmd {
                    None => return Err(Stop::Client(None)),
                    Some(Command::Poll(tx)) => {
                        if Instant::now() >= hb.deadline {
                            // Timed out already: the poll gets "Session ID unknown".
                            drop(tx);
                            return Err(Stop::Client(Some(SparkError::Transport(
                                "Engine.IO ping timeout".into(),
                            ))));
                        }
                        if self.poll.is_some() {
                            // Overlapping polls: refuse the new one, close the session.
                            let _ = tx.send(None);
                            return Err(Stop::Client(Some(SparkError::Transport(
                                "two polls at once on one session".into(),
                            ))));
                        }
                        self.poll = Some(tx);
                    }
                    Some(Command::Control(packet)) => {
                        if let Some(stop) = self.control_packet(packet, hb) {
                            // The client closed: its pending poll ends with a `noop`,
                            // as the reference's polling transport does.
                            // A poll sent alongside the close may arrive a moment
                            // later: give it the same answer instead of an error.
                            // Beyond the reference (which drops them): what was queued
                            // for the client before its close (replies to its last
                            // messages) goes in that answer too.
                            let mut last: Vec<Packet> = Vec::new();
                            while self.released && last.len() < MAX_BATCH {
                                match self.outgoing.try_recv() {
                                    Ok(frame) => self.push_frame(frame, &mut last),
                                    Err(_) => break,
                                }
                            }
                            last.push(Packet::Noop);
                            let answer = engineio::encode_payload(self.session.protocol, &last);
                            if self.poll.is_none() {
                                let grace = tokio::time::sleep(CLOSE_GRACE);
                                tokio::pin!(grace);
                                loop {
                                    tokio::select! {
                                        _ = &mut grace => break,
                                        cmd = self.commands.recv() => match cmd {
                                            Some(Command::Poll(tx)) => {
                                                self.poll = Some(tx);
                                                break;
                                            }
                                            Some(_) => {}
                                            None => break,
                                        },
                                    }
                                }
                            }
                            if let Some(poll) = self.poll.take() {
                                let _ = poll.send(Some(answer));
                            }
                            return Err(stop);
                        }
                    }
                    Some(Command::Fail(err)) => return Err(Stop::Client(Some(err))),
                    Some(Command::Probed) => self.probed = true,
                    Some(Command::Connect) => {
                        let connected = self.connect_packet();
                        self.control.push_back(connected);
                    }
                    Some(Command::Reply(frame)) => self.control.push_back(Packet::Message(frame)),
                    Some(Command::Upgraded(ws)) => {
                        self.session.transport.store(WEBSOCKET, Ordering::Release);
                        if let Some(poll) = self.poll.take() {
                            let _ = poll.send(Some(engineio::encode_payload(
                                self.session.protocol,
                                &[Packet::Noop],
                            )));
                        }
                        return Ok(ws);
                    }
                },
                frame = self.outgoing.recv(), if waiting && closing.is_none() && self.released => {
                    if let Some(frame) = frame {
                        self.flush_poll_with(Some(frame), false);
                    }
                }
                _ = sleep_until(hb.next_ping), if hb.sends_pings() => {
                    hb.pinged();
                    self.control.push_back(Packet::Ping(String::new()));
                }
                _ = sleep_until(hb.deadline) => {
                    return Err(Stop::Client(Some(SparkError::Transport(
                        "Engine.IO ping timeout".into(),
                    ))));
                }
            }
        }
    }

    /// [`flush_poll_with`](Self::flush_poll_with) without a first frame.
    fn flush_poll(&mut self, close: bool) -> bool {
        self.flush_poll_with(None, close)
    }

    /// Answer the pending poll with the control packets and queued frames. With `close`,
    /// `close` follows (or first the Socket.IO DISCONNECT, see
    /// [`farewell`](Self::farewell)); returns whether `close` went out.
    fn flush_poll_with(&mut self, first: Option<Frame>, close: bool) -> bool {
        let Some(poll) = self.poll.take() else {
            return false;
        };
        let mut packets: Vec<Packet> = self.control.drain(..).collect();
        // A payload holds at most MAX_BATCH frames and, past its first frame, about
        // max_length bytes (base64 grows binary by a third): a client whose limits match
        // the server's can always read it. The rest waits for the next poll.
        let budget = self.session.spark.max_length();
        let mut bytes = 0;
        if let Some(frame) = first {
            bytes += frame.as_bytes().len();
            self.push_frame(frame, &mut packets);
        }
        // Socket.IO: nothing goes out before the client's CONNECT, not even at the end.
        while self.released && ((packets.len() < MAX_BATCH && bytes < budget) || close) {
            match self.outgoing.try_recv() {
                Ok(frame) => {
                    bytes += frame.as_bytes().len();
                    self.push_frame(frame, &mut packets);
                }
                Err(_) => break,
            }
        }
        let mut closed = false;
        if close {
            match self.farewell() {
                Some(bye) => packets.push(bye),
                None => {
                    packets.push(Packet::Close);
                    closed = true;
                }
            }
        }
        if packets.is_empty() {
            self.poll = Some(poll);
            return false;
        }
        let payload = engineio::encode_payload(self.session.protocol, &packets);
        if poll.send(Some(payload)).is_err() {
            // The poll's connection went away with our frames: like the reference
            // ("poll connection closed prematurely"), the session ends.
            tracing::debug!(sid = %self.sid, "poll closed before its answer was sent");
            self.session.spark.finish(
                CloseKind::Normal,
                Some(SparkError::Transport(
                    "poll connection closed prematurely".into(),
                )),
            );
        }
        closed
    }

    /// A control packet from the client; `Some` when the session must stop.
    fn control_packet(&mut self, packet: Packet, hb: &mut Heartbeat) -> Option<Stop> {
        match packet {
            Packet::Pong(_) if self.session.protocol == Protocol::V4 => {
                hb.alive();
                self.session.pong();
            }
            Packet::Ping(data) if self.session.protocol == Protocol::V3 => {
                hb.alive();
                self.control.push_back(Packet::Pong(data));
            }
            Packet::Close => return Some(Stop::Client(None)),
            _ => {}
        }
        None
    }

    /// The WebSocket phase, until the session ends.
    async fn websocket(&mut self, mut ws: Socket, hb: &mut Heartbeat) -> Stop {
        let spark = self.session.spark.clone();
        let protocol = self.session.protocol;
        // Control packets queued for polling go out first.
        let pending: Vec<Packet> = self.control.drain(..).collect();
        for p in pending {
            if ws.feed(self.ws_message(p)).await.is_err() {
                return Stop::Client(None);
            }
        }
        if ws.flush().await.is_err() {
            return Stop::Client(None);
        }
        let stop = loop {
            if spark.close_kind().is_some() {
                break Stop::SparkEnded;
            }
            if Instant::now() >= hb.deadline {
                break Stop::Client(Some(SparkError::Transport("Engine.IO ping timeout".into())));
            }
            tokio::select! {
                biased;
                _ = spark.close_signal.notified() => break Stop::SparkEnded,
                cmd = self.commands.recv() => match cmd {
                    None => break Stop::Client(None),
                    Some(Command::Poll(tx)) => { let _ = tx.send(None); }
                    Some(Command::Fail(err)) => break Stop::Client(Some(err)),
                    Some(Command::Control(_) | Command::Probed | Command::Upgraded(_)) => {}
                    // A POST that raced the upgrade.
                    Some(Command::Connect) => {
                        let connected = self.connect_packet();
                        let connected = self.ws_message(connected);
                        if ws.send(connected).await.is_err() {
                            break Stop::Client(None);
                        }
                    }
                    Some(Command::Reply(frame)) => {
                        if ws.send(self.ws_message(Packet::Message(frame))).await.is_err() {
                            break Stop::Client(None);
                        }
                    }
                },
                frame = self.outgoing.recv(), if self.released => {
                    let Some(frame) = frame else { break Stop::SparkEnded };
                    let write_timeout = self.write_timeout;
                    let write = async {
                        let (first, attachment) = self.ws_frame(frame);
                        ws.feed(first).await?;
                        if let Some(m) = attachment {
                            ws.feed(m).await?;
                        }
                        let mut n = 1;
                        while n < MAX_BATCH {
                            match self.outgoing.try_recv() {
                                Ok(f) => {
                                    let (first, attachment) = self.ws_frame(f);
                                    ws.feed(first).await?;
                                    if let Some(m) = attachment {
                                        ws.feed(m).await?;
                                    }
                                }
                                Err(_) => break,
                            }
                            n += 1;
                        }
                        ws.flush().await
                    };
                    match tokio::time::timeout(write_timeout, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break Stop::Client(None),
                        Err(_) => break Stop::Client(Some(SparkError::SlowPeer(format!(
                            "a write did not complete within {write_timeout:?}"
                        )))),
                    }
                }
                msg = ws.next() => {
                    let packet = match msg {
                        Some(Ok(WsMessage::Text(t))) => Packet::decode(protocol, t.as_str()),
                        Some(Ok(WsMessage::Binary(b))) => Packet::decode_binary(protocol, b),
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {
                            continue
                        }
                        Some(Ok(WsMessage::Close(_))) | None => {
                            websockets::server::answer_close(&mut ws).await;
                            break Stop::Client(None);
                        }
                        Some(Err(e)) => {
                            let max_length = spark.max_length();
                            match websockets::server::refusal(&e, max_length) {
                                // The peer's fault (too large, bad UTF-8, bad framing): a
                                // close frame it will see, like the reference's `ws`.
                                Some(refused) => {
                                    let budget = websockets::server::linger_budget(max_length);
                                    let frame = refused.close_frame();
                                    // Boxed: rare, and inline it would enlarge every
                                    // session's task.
                                    Box::pin(websockets::server::linger_close(&mut ws, frame, budget)).await;
                                    break Stop::Client(Some(refused.error));
                                }
                                None => break Stop::Client(Some(SparkError::Transport(e.to_string()))),
                            }
                        }
                    };
                    match packet {
                        Ok(Packet::Message(frame)) => {
                            let incoming = match self.session.incoming(frame) {
                                Ok(incoming) => incoming,
                                Err(err) => break Stop::Client(Some(err)),
                            };
                            if incoming.connect {
                                let connected = self.connect_packet();
                                let connected = self.ws_message(connected);
                                if ws.send(connected).await.is_err() {
                                    break Stop::Client(None);
                                }
                            }
                            if let Some(frame) = incoming.deliver {
                                let mut ready = self.session.ready.clone();
                                if ready.wait_for(|r| *r).await.is_err() {
                                    break Stop::SparkEnded;
                                }
                                spark.deliver(frame).await;
                            }
                            if let Some(reply) = incoming.reply {
                                if ws.send(self.ws_message(Packet::Message(reply))).await.is_err() {
                                    break Stop::Client(None);
                                }
                            }
                            if incoming.disconnect {
                                break Stop::Client(None);
                            }
                        }
                        Ok(Packet::Ping(data)) if protocol == Protocol::V3 => {
                            hb.alive();
                            let pong = self.ws_message(Packet::Pong(data));
                            if ws.send(pong).await.is_err() {
                                break Stop::Client(None);
                            }
                        }
                        Ok(Packet::Pong(_)) => {
                            hb.alive();
                            self.session.pong();
                        }
                        Ok(Packet::Close) => break Stop::Client(None),
                        Ok(_) => {}
                        Err(e) => break Stop::Client(Some(SparkError::Transport(format!(
                            "bad Engine.IO packet: {e}"
                        )))),
                    }
                }
                _ = sleep_until(hb.next_ping), if hb.sends_pings() => {
                    hb.pinged();
                    let ping = self.ws_message(Packet::Ping(String::new()));
                    if ws.send(ping).await.is_err() {
                        break Stop::Client(None);
                    }
                }
                _ = sleep_until(hb.deadline) => {
                    break Stop::Client(Some(SparkError::Transport("Engine.IO ping timeout".into())));
                }
            }
        };
        if let Stop::SparkEnded = stop {
            // What was queued before the end (last message, server::close), then a
            // WebSocket close: the reference sends no Engine.IO `close` packet here.
            // Socket.IO: a DISCONNECT before the close, and nothing queued before the
            // client's CONNECT.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while self.released {
                    let Ok(frame) = self.outgoing.try_recv() else {
                        break;
                    };
                    let (first, attachment) = self.ws_frame(frame);
                    if ws.feed(first).await.is_err() {
                        return;
                    }
                    if let Some(m) = attachment {
                        if ws.feed(m).await.is_err() {
                            return;
                        }
                    }
                }
                if let Some(bye) = self.farewell() {
                    if ws.feed(self.ws_message(bye)).await.is_err() {
                        return;
                    }
                }
                let _ = ws.close(None).await;
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
        stop
    }

    /// A Primus frame as Engine.IO messages, through the session's framing: one message,
    /// and with Socket.IO a binary event's attachment.
    fn frame_packets(&self, frame: Frame) -> (Packet, Option<Packet>) {
        match self.session.framing {
            Framing::Plain => (Packet::Message(frame), None),
            Framing::SocketIo(_) => {
                let (event, attachment) = socketio::encode_message(frame);
                (Packet::Message(event), attachment.map(Packet::Message))
            }
        }
    }

    /// [`frame_packets`](Self::frame_packets), appended to a payload.
    fn push_frame(&self, frame: Frame, out: &mut Vec<Packet>) {
        let (first, attachment) = self.frame_packets(frame);
        out.push(first);
        out.extend(attachment);
    }

    /// [`frame_packets`](Self::frame_packets) as WebSocket messages.
    fn ws_frame(&self, frame: Frame) -> (WsMessage, Option<WsMessage>) {
        let (first, attachment) = self.frame_packets(frame);
        (
            self.ws_message(first),
            attachment.map(|p| self.ws_message(p)),
        )
    }

    /// Socket.IO: the answer to the client's CONNECT; queued frames are released.
    fn connect_packet(&mut self) -> Packet {
        self.released = true;
        Packet::Message(socketio::connect_reply(&self.session.spark.id_arc()))
    }

    /// What goes before the Engine.IO close when the spark ends: Socket.IO's DISCONNECT
    /// (once connected, once), nothing with plain framing.
    fn farewell(&mut self) -> Option<Packet> {
        match self.session.framing {
            Framing::SocketIo(_) if self.released && !self.farewell_sent => {
                self.farewell_sent = true;
                Some(Packet::Message(socketio::disconnect()))
            }
            _ => None,
        }
    }

    fn ws_message(&self, packet: Packet) -> WsMessage {
        let protocol = self.session.protocol;
        if !self.session.b64 {
            if let Some(bin) = packet.encode_binary(protocol) {
                return WsMessage::Binary(bin);
            }
        }
        WsMessage::Text(Utf8Bytes::from(packet.encode(protocol)))
    }
}
