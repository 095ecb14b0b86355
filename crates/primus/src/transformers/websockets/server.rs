//! Server half of the `websockets` transformer.
//!
//! Every upgrade under the pathname becomes a spark (the reference accepts any sub-path);
//! plain HTTP gets `426 Upgrade Required`. Each connection is one task that owns the
//! socket and does three things, whichever is ready first:
//!
//! - reads frames and hands them to the spark (which answers protocol messages);
//! - drains the spark's bounded outgoing queue, batching what is ready into one flush;
//! - closes when the spark ends, after sending what was queued before the end.
//!
//! While the application's incoming queue is full, the task stops reading (but keeps
//! writing), so a slow consumer slows its peer down instead of growing memory.
//!
//! The shared WebSocket engine of the other transformers lives here too (see the module
//! docs of [`websockets`](super)); an `engine.io`-only build uses just its close handling,
//! the `socket.io` transformer's 0.9 half its `serve` with a `Framing` of its own.
//! A connection carries Primus frames through a `Framing`: `Plain` here and for faye,
//! Socket.IO 0.9 packets with their heartbeat for the socket.io transformer's legacy half.
#![cfg_attr(
    not(any(feature = "websockets", feature = "sockjs", feature = "faye")),
    allow(dead_code, unused_imports)
)]

use crate::error::SparkError;
use crate::options::Options;
use crate::server::spark::{CloseKind, Message, SparkConn, SparkInfo, SparkShared};
use crate::server::Inner;
use crate::service::{full, HttpRequest, HttpResponse};
use futures_util::{SinkExt, StreamExt};
use http::{header, HeaderValue, Method, StatusCode};
use hyper_util::rt::TokioIo;
use primus_core::Frame;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

/// Frames sent in one batch before flushing (bounds the time between reads).
const MAX_BATCH: usize = 64;
/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Lingering close after a protocol error: how long to keep reading and discarding what
/// the peer still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Lingering close: the least number of bytes discarded before giving up (see
/// [`linger_budget`]).
const LINGER_MIN_BYTES: usize = 16 << 20;

/// The websockets server half: its WebSocket settings.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    config: WebSocketConfig,
    write_timeout: Duration,
    /// The status code of the close frame when the spark ends without one of its own:
    /// `None` sends a close frame with no code, as `ws` does (the peer sees 1005); the
    /// `faye` transformer sends 1000, as `faye-websocket` does.
    default_close: Option<u16>,
}

impl Server {
    pub(crate) fn new(options: &Options) -> Self {
        let mut config = WebSocketConfig::default();
        // Oversize messages are refused from the frame header on: nothing of them is
        // buffered.
        config.max_message_size = Some(options.max_length);
        config.max_frame_size = Some(options.max_length);
        // Memory per idle connection is a budget: tungstenite allocates its read buffer
        // eagerly (128 KiB by default). 4 KiB reads are plenty for chat-sized messages and
        // grow on demand for big ones.
        config.read_buffer_size = 1024;
        // We batch frames ourselves and flush once per batch.
        config.write_buffer_size = 0;
        config.max_write_buffer_size = options.max_length.saturating_mul(2).max(1 << 20);
        Server {
            config,
            write_timeout: options.write_timeout,
            default_close: None,
        }
    }

    /// The same server closing with `code` when the spark ends without a code of its own
    /// (the `faye` transformer: 1000).
    pub(crate) fn default_close(mut self, code: u16) -> Self {
        self.default_close = Some(code);
        self
    }

    /// An upgraded connection as a server-side WebSocket with these settings.
    pub(crate) async fn socket(&self, upgraded: hyper::upgrade::Upgraded) -> Socket {
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(self.config))
            .await
    }

    /// Carry a spark on `ws` with `framing` until either side ends it, for a transformer
    /// that opened the spark (and ran its connection listeners) itself; `live` is false
    /// when the listeners ended the spark. What [`handle`](Self::handle) does once the
    /// listeners ran.
    pub(crate) async fn serve<F: Framing>(
        &self,
        ws: Socket,
        shared: Arc<SparkShared>,
        outgoing: mpsc::Receiver<Frame>,
        framing: F,
        live: bool,
    ) {
        serve(
            ws,
            shared,
            outgoing,
            self.write_timeout,
            self.default_close,
            framing,
            live,
        )
        .await
    }

    pub(crate) fn handle(&self, server: &Arc<Inner>, mut req: HttpRequest) -> HttpResponse {
        if !crate::service::is_upgrade(&req) {
            return full(
                StatusCode::UPGRADE_REQUIRED,
                "text/plain",
                "Upgrade Required",
            );
        }
        let upgrade = match prepare_upgrade(&mut req) {
            Ok(upgrade) => upgrade,
            Err(res) => return *res,
        };
        let info = spark_info(server, req);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => return full(StatusCode::SERVICE_UNAVAILABLE, "text/plain", e.to_string()),
        };
        let this = self.clone();
        let server = server.clone();
        tokio::spawn(async move {
            match upgrade.on_upgrade.await {
                Ok(upgraded) => {
                    let ws = this.socket(upgraded).await;
                    // Connection listeners run before the first frame is read, so
                    // messages that arrive meanwhile wait in the socket and are delivered
                    // afterwards, in order.
                    let live = server.run_connection_listeners(&conn.spark).await;
                    let SparkConn { spark, outgoing } = conn;
                    this.serve(ws, spark.shared.clone(), outgoing, Plain, live)
                        .await;
                }
                Err(e) => conn.spark.shared.finish(
                    CloseKind::Normal,
                    Some(SparkError::Transport(format!("upgrade failed: {e}"))),
                ),
            }
        });
        switching_protocols(&upgrade.accept)
    }
}

/// A WebSocket upgrade under way: the connection once hyper hands it over, and the
/// `Sec-WebSocket-Accept` value for the 101 response.
pub(crate) struct Upgrade {
    pub(crate) on_upgrade: hyper::upgrade::OnUpgrade,
    pub(crate) accept: String,
}

/// Check an upgrade request (RFC 6455) and claim its connection; on failure, the response
/// to send instead (400 with the reason, or 500 when the server cannot upgrade at all).
/// Shared with the other transformers that speak WebSocket (sockjs).
pub(crate) fn prepare_upgrade(req: &mut HttpRequest) -> Result<Upgrade, Box<HttpResponse>> {
    if let Err(why) = check_handshake(req) {
        return Err(Box::new(full(StatusCode::BAD_REQUEST, "text/plain", why)));
    }
    if req
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none()
    {
        return Err(Box::new(full(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "this server cannot upgrade connections: serve with hyper's \
             serve_connection(..).with_upgrades() (primus::serve does)",
        )));
    }
    // check_handshake guarantees the key is there.
    let accept = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| derive_accept_key(key.as_bytes()))
        .unwrap_or_default();
    let on_upgrade = hyper::upgrade::on(req);
    Ok(Upgrade { on_upgrade, accept })
}

/// What a spark keeps of the request that opened it, with the client's address resolved.
pub(crate) fn spark_info(server: &Arc<Inner>, req: HttpRequest) -> SparkInfo {
    let (parts, _body) = req.into_parts();
    SparkInfo::from_head(parts, &server.options.trusted_proxies)
}

/// The `101 Switching Protocols` answer to an upgrade.
pub(crate) fn switching_protocols(accept: &str) -> HttpResponse {
    let mut res = full(StatusCode::SWITCHING_PROTOCOLS, "text/plain", "");
    let h = res.headers_mut();
    h.remove(header::CONTENT_TYPE);
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    res
}

/// RFC 6455 §4.2.1 checks, each with a clear reason.
fn check_handshake(req: &HttpRequest) -> Result<(), &'static str> {
    if req.method() != Method::GET {
        return Err("WebSocket upgrades must use GET");
    }
    let h = req.headers();
    let is_ws = h
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_ws {
        return Err("Upgrade header must be `websocket`");
    }
    if h.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err("Sec-WebSocket-Version must be 13");
    }
    match h.get(header::SEC_WEBSOCKET_KEY) {
        Some(k) if k.len() == 24 => Ok(()),
        _ => Err("Sec-WebSocket-Key missing or malformed"),
    }
}

pub(crate) type Socket = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

pub(crate) fn to_ws(frame: Frame) -> WsMessage {
    match frame {
        Frame::Text(b) => match Utf8Bytes::try_from(b) {
            Ok(t) => WsMessage::Text(t),
            // Frames are built from valid UTF-8; should one ever not be, send bytes.
            Err(_) => WsMessage::Binary(bytes::Bytes::new()),
        },
        Frame::Binary(b) => WsMessage::Binary(b),
    }
}

/// What a connection's [`Framing`] makes of one message from the peer.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// A frame for the spark.
    pub(crate) deliver: Option<Frame>,
    /// A message to send back (an acknowledgement, say).
    pub(crate) reply: Option<WsMessage>,
    /// A transport-level sign of life, which also counts for Primus's heartbeat.
    pub(crate) alive: bool,
    /// The peer said goodbye: the spark ends, and the connection closes as after a
    /// server end (what was queued, the farewell, the close handshake).
    pub(crate) end: bool,
}

/// How the WebSocket engine carries Primus frames on one connection: [`Plain`] (one
/// frame, one message) for websockets and faye; the socket.io transformer's 0.9 half puts
/// them in Socket.IO 0.9 packets and adds its heartbeat. Everything else (batching,
/// backpressure, limits, close handling) is the engine's.
pub(crate) trait Framing: Send {
    /// Sent before anything else.
    fn greeting(&mut self) -> Option<WsMessage> {
        None
    }
    /// A frame of the spark's queue as a message; `None` leaves it out.
    fn outgoing(&mut self, frame: Frame) -> Option<WsMessage>;
    /// A text or binary message from the peer; `Err` refuses the peer (close code and
    /// lingering close, as for a protocol violation).
    fn incoming(&mut self, frame: Frame) -> Result<Received, Refusal>;
    /// When [`tick`](Self::tick) is due next (`None`: never). Read once per pass of the
    /// connection loop; a tick that is due must move it (or end the connection).
    fn next_tick(&self) -> Option<tokio::time::Instant> {
        None
    }
    /// The tick is due: a message to send, or `Err` when the peer is to be given up.
    fn tick(&mut self) -> Result<Option<WsMessage>, SparkError> {
        Ok(None)
    }
    /// Sent after what was queued when the spark ends, before the close frame.
    fn farewell(&mut self) -> Option<WsMessage> {
        None
    }
}

/// One Primus frame, one WebSocket message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plain;

impl Framing for Plain {
    #[inline]
    fn outgoing(&mut self, frame: Frame) -> Option<WsMessage> {
        Some(to_ws(frame))
    }
    #[inline]
    fn incoming(&mut self, frame: Frame) -> Result<Received, Refusal> {
        Ok(Received {
            deliver: Some(frame),
            ..Received::default()
        })
    }
}

/// How a connection loop ended.
enum Exit {
    /// The spark ended (application, heartbeat, broadcast): drain and close.
    Ended,
    /// The peer closed or the socket failed.
    Gone(Option<SparkError>),
    /// The peer broke the protocol (too large a message, invalid UTF-8, bad framing):
    /// close with a code, lingering.
    Refused(Refusal),
    /// Writing stalled past `write_timeout`.
    Stalled,
    /// The framing gave the peer up (a transport heartbeat went unanswered).
    Dead(SparkError),
}

#[allow(clippy::too_many_arguments)] // the settings of `Server`, passed along
async fn serve<F: Framing>(
    mut ws: Socket,
    shared: Arc<SparkShared>,
    mut outgoing: mpsc::Receiver<Frame>,
    write_timeout: Duration,
    default_close: Option<u16>,
    mut framing: F,
    live: bool,
) {
    let exit = if live {
        drive(&mut ws, &shared, &mut outgoing, write_timeout, &mut framing).await
    } else {
        Exit::Ended
    };
    shared.close_inbox();
    let close = match exit {
        Exit::Ended => {
            // Send what was queued before the end (last message, server::close) and the
            // framing's farewell, within `write_timeout`: a peer that stopped reading must
            // not hold the task forever.
            let drain = async {
                while let Ok(frame) = outgoing.try_recv() {
                    if let Some(msg) = framing.outgoing(frame) {
                        ws.feed(msg).await?;
                    }
                }
                if let Some(msg) = framing.farewell() {
                    ws.feed(msg).await?;
                }
                ws.flush().await
            };
            match tokio::time::timeout(write_timeout, drain).await {
                Ok(Ok(())) => {}
                // The socket failed or stalled: no close handshake is possible.
                _ => return,
            }
            match shared.close_kind() {
                Some(CloseKind::Code(code, reason)) => Some(CloseFrame {
                    code: CloseCode::from(code),
                    reason: reason.into(),
                }),
                _ => default_close.map(|code| CloseFrame {
                    code: CloseCode::from(code),
                    reason: "".into(),
                }),
            }
        }
        Exit::Refused(refusal) => {
            let frame = refusal.close_frame();
            shared.finish(CloseKind::Normal, Some(refusal.error));
            // Boxed: rare, and inline it would enlarge every connection's task.
            Box::pin(linger_close(
                &mut ws,
                frame,
                linger_budget(shared.max_length()),
            ))
            .await;
            return;
        }
        Exit::Stalled => {
            shared.finish(
                CloseKind::Normal,
                Some(SparkError::SlowPeer(format!(
                    "a write did not complete within {write_timeout:?}"
                ))),
            );
            // The socket is not draining: do not wait on it any longer.
            return;
        }
        Exit::Dead(err) => {
            // The peer stopped answering: do not wait on it either.
            shared.finish(CloseKind::Normal, Some(err));
            return;
        }
        Exit::Gone(err) => {
            shared.finish(CloseKind::Normal, err);
            answer_close(&mut ws).await;
            return;
        }
    };
    // Close handshake, bounded in time: send our close, wait for the peer's.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.close(close).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Resolves when `timer` does; never without one.
async fn tick(timer: Option<std::pin::Pin<&mut tokio::time::Sleep>>) {
    match timer {
        Some(timer) => timer.await,
        None => std::future::pending().await,
    }
}

async fn drive<F: Framing>(
    ws: &mut Socket,
    shared: &Arc<SparkShared>,
    outgoing: &mut mpsc::Receiver<Frame>,
    write_timeout: Duration,
    framing: &mut F,
) -> Exit {
    let mut inbound = Inbound::default();
    if let Some(hello) = framing.greeting() {
        match tokio::time::timeout(write_timeout, ws.send(hello)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Exit::Gone(transport_error(e)),
            Err(_) => return Exit::Stalled,
        }
    }
    // The framing's timer: made once, reset when its next tick moves. A framing without
    // ticks (`Plain`) makes none.
    let mut due = framing.next_tick();
    let mut timer = std::pin::pin!(due.map(tokio::time::sleep_until));
    loop {
        let next = framing.next_tick();
        if next != due {
            due = next;
            match (next, timer.as_mut().as_pin_mut()) {
                (Some(at), Some(sleep)) => sleep.reset(at),
                (next, _) => timer.set(next.map(tokio::time::sleep_until)),
            }
        }
        let reading = !inbound.holding();
        tokio::select! {
            biased;
            _ = shared.close_signal.notified() => return Exit::Ended,
            frame = outgoing.recv() => {
                let Some(frame) = frame else { return Exit::Ended };
                let write = async {
                    if let Some(msg) = framing.outgoing(frame) {
                        ws.feed(msg).await?;
                    }
                    let mut batch = 1;
                    while batch < MAX_BATCH {
                        match outgoing.try_recv() {
                            Ok(frame) => {
                                if let Some(msg) = framing.outgoing(frame) {
                                    ws.feed(msg).await?;
                                }
                            }
                            Err(_) => break,
                        }
                        batch += 1;
                    }
                    ws.flush().await
                };
                match tokio::time::timeout(write_timeout, write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Exit::Gone(transport_error(e)),
                    Err(_) => return Exit::Stalled,
                }
            }
            _ = inbound.release(), if !reading => {}
            msg = ws.next(), if reading => {
                let frame = match msg {
                    Some(Ok(WsMessage::Text(t))) => Frame::Text(t.into()),
                    Some(Ok(WsMessage::Binary(b))) => Frame::Binary(b),
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                        // tungstenite queues the pong answer; it goes out with the next
                        // flush. The reference counts a ping frame as a heartbeat.
                        shared.transport_pong();
                        if let Err(e) = ws.flush().await {
                            return Exit::Gone(transport_error(e));
                        }
                        continue;
                    }
                    Some(Ok(WsMessage::Close(_))) | None => return Exit::Gone(None),
                    Some(Ok(WsMessage::Frame(_))) => continue,
                    Some(Err(e)) => {
                        return match refusal(&e, shared.max_length()) {
                            Some(refused) => Exit::Refused(refused),
                            None => Exit::Gone(transport_error(e)),
                        }
                    }
                };
                let received = match framing.incoming(frame) {
                    Ok(received) => received,
                    Err(refused) => return Exit::Refused(refused),
                };
                if received.alive {
                    shared.transport_pong();
                }
                if let Some(frame) = received.deliver {
                    inbound.receive(shared, frame).await;
                }
                if let Some(reply) = received.reply {
                    match tokio::time::timeout(write_timeout, ws.send(reply)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Exit::Gone(transport_error(e)),
                        Err(_) => return Exit::Stalled,
                    }
                }
                if received.end {
                    // A goodbye in the protocol: the spark ends as a client close, and the
                    // connection closes like a server end (farewell, close handshake).
                    shared.finish(CloseKind::Normal, None);
                    return Exit::Ended;
                }
            }
            _ = tick(timer.as_mut().as_pin_mut()), if due.is_some() => {
                match framing.tick() {
                    Ok(Some(msg)) => match tokio::time::timeout(write_timeout, ws.send(msg)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Exit::Gone(transport_error(e)),
                        Err(_) => return Exit::Stalled,
                    },
                    Ok(None) => {}
                    Err(err) => return Exit::Dead(err),
                }
            }
        }
    }
}

/// A connection's hand-over of what its peer sends to the spark: the stream's queue
/// (taken the first time a message has no data handler) and the message that queue had
/// no room for. While one is held the connection stops reading, so a slow application
/// slows its peer down instead of growing memory. Shared by the transports that read a
/// socket of their own (both WebSocket engines, webtransport).
#[derive(Default)]
pub(crate) struct Inbound {
    incoming: Option<mpsc::Sender<Box<Message>>>,
    pending: Option<Box<Message>>,
}

impl Inbound {
    /// Whether a message is held: read nothing until [`release`](Self::release) handed
    /// it over.
    pub(crate) fn holding(&self) -> bool {
        self.pending.is_some()
    }

    /// Hand a frame to the spark: decode and protocol messages, incoming transforms
    /// (async ones awaited here, keeping messages in order), handlers; a message for the
    /// spark's stream goes to its queue, or is held while that is full.
    pub(crate) async fn receive(
        &mut self,
        shared: &Arc<crate::server::spark::SparkShared>,
        frame: Frame,
    ) {
        let mut msg = shared.receive(frame);
        if shared.server.transforms.incoming.has_async() {
            if let Some(m) = msg.take() {
                // Boxed: inline, that future would enlarge every connection's task
                // (memory per connection is a budget).
                msg = Box::pin(shared.transform_async(m)).await;
            }
        }
        let Some(msg) = msg.and_then(|m| shared.dispatch(m)) else {
            return;
        };
        if self.incoming.is_none() {
            self.incoming = shared.inbox_sender();
        }
        // No queue: the transport is done, the message has nowhere to go.
        let Some(tx) = &self.incoming else { return };
        match tx.try_reserve() {
            Ok(permit) => permit.send(Box::new(msg)),
            Err(mpsc::error::TrySendError::Full(())) => self.pending = Some(Box::new(msg)),
            Err(mpsc::error::TrySendError::Closed(())) => {}
        }
    }

    /// Wait for room for the held message and hand it over (dropped when the stream is
    /// gone); never completes while nothing is held. Cancel safe.
    pub(crate) async fn release(&mut self) {
        let (Some(tx), true) = (&self.incoming, self.pending.is_some()) else {
            return std::future::pending().await;
        };
        match tx.reserve().await {
            Ok(permit) => {
                if let Some(msg) = self.pending.take() {
                    permit.send(msg);
                }
            }
            Err(_) => self.pending = None,
        }
    }
}

/// Why a connection is refused after a read error that is the peer's fault, and the close
/// it gets (RFC 6455 §7.4.1, the codes the reference's `ws` uses).
#[derive(Debug)]
pub(crate) struct Refusal {
    /// 1009 for too large a message, 1007 for invalid UTF-8, 1002 for any other protocol
    /// violation.
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    /// What the spark's error listeners see.
    pub(crate) error: SparkError,
}

impl Refusal {
    /// 1009: a message over `max_length`.
    pub(crate) fn too_large(max_length: usize) -> Self {
        Refusal {
            code: 1009,
            reason: "Max payload size exceeded",
            error: SparkError::MaxLength { limit: max_length },
        }
    }

    /// 1007: a text message that is not UTF-8.
    pub(crate) fn invalid_utf8(what: impl std::fmt::Display) -> Self {
        Refusal {
            code: 1007,
            reason: "Invalid UTF-8 sequence",
            error: SparkError::Transport(what.to_string()),
        }
    }

    /// 1002: any other violation of the protocol.
    pub(crate) fn protocol(what: impl std::fmt::Display) -> Self {
        Refusal {
            code: 1002,
            reason: "Protocol error",
            error: SparkError::Transport(what.to_string()),
        }
    }

    pub(crate) fn close_frame(&self) -> CloseFrame {
        CloseFrame {
            code: CloseCode::from(self.code),
            reason: self.reason.into(),
        }
    }
}

/// The refusal that answers a read error, or `None` for I/O failures and resets, after
/// which no close handshake is possible.
pub(crate) fn refusal(e: &WsError, max_length: usize) -> Option<Refusal> {
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { .. } | CapacityError::TooManyHeaders) => {
            Some(Refusal::too_large(max_length))
        }
        WsError::Utf8(_) => Some(Refusal::invalid_utf8(e)),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) | WsError::AttackAttempt => Some(Refusal::protocol(e)),
        _ => None,
    }
}

/// After the peer's close frame (or a failure): send the close frame tungstenite queued
/// in answer, within [`CLOSE_GRACE`], so the peer sees a complete close handshake. A no-op
/// when nothing is queued or the socket is gone.
pub(crate) async fn answer_close<S>(ws: &mut WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_GRACE, ws.flush()).await;
}

/// How many bytes a lingering close discards at most for a server whose largest message
/// is `max_length`: enough for the rest of one refused message.
pub(crate) fn linger_budget(max_length: usize) -> usize {
    max_length.saturating_mul(2).max(LINGER_MIN_BYTES)
}

/// Close after refusing the peer's input, the way mature servers do (a lingering close):
/// send `frame`, stop writing (TCP FIN), then read and discard what the peer still sends,
/// within [`LINGER_TIME`] and `max_bytes`, until it closes too. Dropping the socket at
/// once instead makes the kernel answer the peer's unread data with a reset, and the peer
/// loses the close frame (it sees 1006 instead of, say, 1009).
pub(crate) async fn linger_close<S>(
    ws: &mut WebSocketStream<S>,
    frame: CloseFrame,
    max_bytes: usize,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tokio::time::timeout(LINGER_TIME, async {
        if ws.close(Some(frame)).await.is_err() {
            return;
        }
        let io = ws.get_mut();
        if io.shutdown().await.is_err() {
            return;
        }
        // On the heap: this future is part of every connection task's state.
        let mut scratch = vec![0u8; 8192];
        let mut discarded = 0usize;
        while discarded < max_bytes {
            match io.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

pub(crate) fn transport_error(e: WsError) -> Option<SparkError> {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => None,
        WsError::Io(ref io) if io.kind() == std::io::ErrorKind::ConnectionReset => None,
        WsError::Protocol(ref p)
            if matches!(
                p,
                tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            ) =>
        {
            None
        }
        other => Some(SparkError::Transport(other.to_string())),
    }
}
