//! Server half of the `webtransport` transformer: the answer under
//! `<pathname>/webtransport` (a session's CONNECT, or the endpoint's description) and one
//! task per session. How sessions get here is in [`endpoint`](super::endpoint); the
//! design is in the [module docs](super).

use super::{EndpointInfo, StreamWriter, WebTransportOptions, PATH};
use crate::error::SparkError;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkConn, SparkShared};
use crate::server::Inner;
use crate::service::{full, method_not_allowed, HttpRequest, HttpResponse};
use crate::transformers::websockets::server::{spark_info, Inbound, Refusal};
use http::{header, HeaderValue, Method, StatusCode};
use primus_core::webtransport::{FrameDecoder, FrameError};
use primus_core::Frame;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use wtransport::endpoint::SessionRequest;
use wtransport::{Connection, RecvStream, VarInt};

/// Frames written in one batch (bounds the time between reads).
const MAX_BATCH: usize = 64;
/// How long the end of a session waits for the client to acknowledge the last data.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
const PLAIN: &str = "text/plain; charset=UTF-8";

/// A session's CONNECT on its way through the middleware to the transformer, which takes
/// it (the endpoint rejects it when a layer answered instead). An extension of the
/// request, so shared and behind a lock; taken once.
#[derive(Clone)]
pub(crate) struct SessionSlot(Arc<Mutex<Option<PendingSession>>>);

/// What a session task needs from its endpoint.
pub(crate) struct PendingSession {
    pub(crate) request: SessionRequest,
    /// Set when the endpoint shuts down: the session ends (its client reconnects).
    pub(crate) stop: watch::Receiver<bool>,
    /// Held while the session runs; the endpoint waits for all of them at shutdown.
    pub(crate) alive: mpsc::Sender<()>,
}

impl SessionSlot {
    pub(crate) fn new(pending: PendingSession) -> Self {
        SessionSlot(Arc::new(Mutex::new(Some(pending))))
    }

    /// The session, unless taken already.
    pub(crate) fn take(&self) -> Option<PendingSession> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Give back a session that could not be accepted, for the endpoint to reject.
    pub(crate) fn put_back(&self, pending: PendingSession) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(pending);
    }
}

/// The webtransport server half: settings, and what the running endpoint publishes.
#[derive(Debug)]
pub(crate) struct Server {
    settings: WebTransportOptions,
    max_length: usize,
    write_timeout: Duration,
    /// The running endpoint's description, with the endpoint's token.
    published: RwLock<Option<(u64, EndpointInfo)>>,
}

impl Server {
    pub(crate) fn new(options: &Options) -> Self {
        Server {
            settings: options.webtransport.clone(),
            max_length: options.max_length,
            write_timeout: options.write_timeout,
            published: RwLock::new(None),
        }
    }

    pub(crate) fn settings(&self) -> &WebTransportOptions {
        &self.settings
    }

    /// Publish a running endpoint (the last one bound wins).
    pub(crate) fn publish(&self, token: u64, info: EndpointInfo) {
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = Some((token, info));
    }

    /// Withdraw an endpoint's description, if it is still the published one.
    pub(crate) fn withdraw(&self, token: u64) {
        let mut published = self.published.write().unwrap_or_else(|p| p.into_inner());
        if published.as_ref().is_some_and(|(t, _)| *t == token) {
            *published = None;
        }
    }

    pub(crate) fn published(&self) -> Option<EndpointInfo> {
        self.published
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|(_, info)| info.clone())
    }

    pub(crate) fn handle(&self, server: &Arc<Inner>, mut req: HttpRequest) -> HttpResponse {
        let path = req.uri().path();
        let rest = path.get(server.pathname.len()..).unwrap_or("");
        if rest.strip_suffix('/').unwrap_or(rest) != PATH {
            return full(
                StatusCode::NOT_FOUND,
                PLAIN,
                format!(
                    "Not found: this server speaks the webtransport transformer. Open a \
                     WebTransport session to {0}{PATH} on its UDP endpoint; \
                     `GET {0}{PATH}` says where that is.\n",
                    server.pathname
                ),
            );
        }
        if let Some(slot) = req.extensions_mut().remove::<SessionSlot>() {
            return self.accept(server, req, &slot);
        }
        match *req.method() {
            Method::GET | Method::HEAD => match self.published() {
                Some(info) => {
                    let mut res = full(StatusCode::OK, "application/json", info.to_json());
                    res.headers_mut()
                        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    res
                }
                None => full(
                    StatusCode::SERVICE_UNAVAILABLE,
                    PLAIN,
                    "No WebTransport endpoint is running for this server.\n",
                ),
            },
            Method::CONNECT => full(
                StatusCode::BAD_REQUEST,
                PLAIN,
                "WebTransport sessions are opened over HTTP/3 on the UDP endpoint.\n",
            ),
            _ => method_not_allowed("GET, HEAD"),
        }
    }

    /// The CONNECT passed the middleware: make the spark and start the session's task.
    fn accept(&self, server: &Arc<Inner>, req: HttpRequest, slot: &SessionSlot) -> HttpResponse {
        let Some(pending) = slot.take() else {
            // Only a layer that called the service twice could get here.
            return full(StatusCode::INTERNAL_SERVER_ERROR, PLAIN, "");
        };
        let info = spark_info(server, req);
        let conn = match server.open_spark(info) {
            Ok(conn) => conn,
            Err(e) => {
                // Back in the slot: the endpoint rejects it.
                slot.put_back(pending);
                return full(StatusCode::SERVICE_UNAVAILABLE, PLAIN, e.to_string());
            }
        };
        let task = Session {
            server: server.clone(),
            handshake_timeout: self.settings.handshake_timeout,
            write_timeout: self.write_timeout,
            max_length: self.max_length,
        };
        tokio::spawn(task.run(pending, conn));
        full(StatusCode::OK, PLAIN, "")
    }
}

/// One session's task: settings copied from the server half.
struct Session {
    server: Arc<Inner>,
    handshake_timeout: Duration,
    write_timeout: Duration,
    max_length: usize,
}

/// How the message loop ended.
enum Exit {
    /// The spark ended (application, heartbeat, broadcast): send what is queued, close.
    Ended,
    /// The client finished its side of the stream: end the spark, then as `Ended`.
    Finished,
    /// The stream or the connection failed, or the client closed the session.
    Gone(Option<SparkError>),
    /// The client broke the framing: close with a code.
    Refused(Refusal),
    /// Writing stalled past `write_timeout`.
    Stalled,
    /// The endpoint is shutting down.
    Shutdown,
}

impl Session {
    async fn run(self, pending: PendingSession, conn: SparkConn) {
        let PendingSession {
            request,
            mut stop,
            alive,
        } = pending;
        let _alive = alive;
        let shared = conn.spark.shared.clone();
        let opened = timeout(self.handshake_timeout, async {
            let connection = request.accept().await.map_err(|e| e.to_string())?;
            let (send, recv) = connection.accept_bi().await.map_err(|e| e.to_string())?;
            Ok::<_, String>((connection, send, recv))
        })
        .await;
        let (connection, send, recv) = match opened {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                return shared.finish(
                    CloseKind::Normal,
                    Some(SparkError::Transport(format!(
                        "the webtransport session failed before its stream opened: {e}"
                    ))),
                )
            }
            Err(_) => {
                return shared.finish(
                    CloseKind::Normal,
                    Some(SparkError::Transport(format!(
                        "the client did not open its webtransport stream within {:?}",
                        self.handshake_timeout
                    ))),
                )
            }
        };
        let SparkConn {
            spark,
            mut outgoing,
        } = conn;
        let mut writer = StreamWriter::new(send);
        let mut reader = Reader {
            recv,
            decoder: FrameDecoder::new(self.max_length),
        };
        // Connection listeners run before the first frame is read: what the client
        // sends meanwhile waits in the stream, in order.
        let exit = if self.server.run_connection_listeners(&spark).await {
            let io = (&connection, &mut writer, &mut reader);
            self.drive(io, &shared, &mut outgoing, &mut stop).await
        } else {
            Exit::Ended
        };
        shared.close_inbox();
        let (code, reason): (u32, &str) = match exit {
            Exit::Ended | Exit::Finished | Exit::Shutdown => {
                if matches!(exit, Exit::Finished | Exit::Shutdown) {
                    shared.finish(CloseKind::Normal, None);
                }
                // What was queued before the end (a last message, `primus::server::close`),
                // within `write_timeout`; then the stream's end, delivered within the grace.
                let drain = async {
                    while let Ok(frame) = outgoing.try_recv() {
                        push(&mut writer, &shared, &frame);
                    }
                    writer.flush().await
                };
                if matches!(timeout(self.write_timeout, drain).await, Ok(Ok(()))) {
                    let _ = timeout(CLOSE_GRACE, writer.send.finish()).await;
                }
                match shared.close_kind() {
                    Some(CloseKind::Code(code, reason)) => (code.into(), reason),
                    _ => (0, ""),
                }
            }
            Exit::Refused(refusal) => {
                shared.finish(CloseKind::Normal, Some(refusal.error));
                (refusal.code.into(), refusal.reason)
            }
            Exit::Stalled => {
                shared.finish(
                    CloseKind::Code(1008, "write timeout"),
                    Some(SparkError::SlowPeer(format!(
                        "a write did not complete within {:?}",
                        self.write_timeout
                    ))),
                );
                (1008, "write timeout")
            }
            Exit::Gone(err) => {
                shared.finish(CloseKind::Normal, err);
                (0, "")
            }
        };
        connection.close(VarInt::from_u32(code), reason.as_bytes());
    }

    async fn drive(
        &self,
        (connection, writer, reader): (&Connection, &mut StreamWriter, &mut Reader),
        shared: &Arc<SparkShared>,
        outgoing: &mut mpsc::Receiver<Frame>,
        stop: &mut watch::Receiver<bool>,
    ) -> Exit {
        let mut inbound = Inbound::default();
        loop {
            // Frames already received go first (a read may bring several).
            while !inbound.holding() {
                match reader.decoder.next_frame() {
                    Ok(Some(frame)) => inbound.receive(shared, frame).await,
                    Ok(None) => break,
                    Err(e) => return Exit::Refused(refusal(e)),
                }
            }
            let reading = !inbound.holding();
            tokio::select! {
                biased;
                _ = shared.close_signal.notified() => return Exit::Ended,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return Exit::Shutdown,
                frame = outgoing.recv() => {
                    let Some(frame) = frame else { return Exit::Ended };
                    push(writer, shared, &frame);
                    for _ in 1..MAX_BATCH {
                        match outgoing.try_recv() {
                            Ok(frame) => push(writer, shared, &frame),
                            Err(_) => break,
                        }
                    }
                    match timeout(self.write_timeout, writer.flush()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Exit::Gone(gone(connection, &e.to_string())),
                        Err(_) => return Exit::Stalled,
                    }
                }
                _ = inbound.release(), if !reading => {}
                read = reader.recv.read_buf(reader.decoder.read_buffer()), if reading => match read {
                    Ok(0) => return Exit::Finished,
                    Ok(_) => {}
                    Err(e) => return Exit::Gone(gone(connection, &e.to_string())),
                },
            }
        }
    }
}

/// The session stream's receiving half and its frame decoder.
struct Reader {
    recv: RecvStream,
    decoder: FrameDecoder,
}

/// Add a frame to the batch; one that cannot be framed (over 4 GiB) is dropped and
/// reported, and the stream stays in step.
fn push(writer: &mut StreamWriter, shared: &Arc<SparkShared>, frame: &Frame) {
    if let Err(e) = writer.push(frame) {
        shared.emit_error(&SparkError::Transport(e.to_string()));
    }
}

/// The refusal of a frame the peer should not have sent (the WebSocket codes); the
/// client half closes with the same codes.
pub(crate) fn refusal(e: FrameError) -> Refusal {
    match e {
        FrameError::TooLarge { limit, .. } => Refusal::too_large(limit),
        FrameError::InvalidUtf8 => Refusal::invalid_utf8(e),
        _ => Refusal::protocol(e),
    }
}

/// The error (if any) of a stream that failed: none when the client closed the session
/// (its `end()`), else what the connection says.
fn gone(connection: &Connection, what: &str) -> Option<SparkError> {
    use wtransport::quinn::ConnectionError as E;
    match connection.quic_connection().close_reason() {
        Some(E::ApplicationClosed(_) | E::LocallyClosed) => None,
        Some(reason) => Some(SparkError::Transport(format!(
            "webtransport connection lost: {reason}"
        ))),
        None => Some(SparkError::Transport(format!(
            "webtransport stream failed: {what}"
        ))),
    }
}
