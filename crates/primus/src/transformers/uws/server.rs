//! Server half of the `uws` transformer: the websockets server's behaviour on the
//! fastwebsockets engine.
//!
//! The upgrade itself is the websockets one ([`prepare_upgrade`], [`switching_protocols`],
//! [`spark_info`]); fastwebsockets only frames the upgraded connection. Each connection
//! is two tasks, because fastwebsockets' `read_frame` is not cancel-safe (it consumes a
//! frame's header before its payload has arrived) and so cannot wait in a `select!`:
//!
//! - a reader task owns the read half: it reads frames, reassembles fragmented messages
//!   within `max_length` (1009 beyond; fastwebsockets' own collector has no total limit),
//!   checks the UTF-8 of text messages (1007) and close frames, and sends what it found
//!   over a bounded channel of one event;
//! - the connection task owns the write half and does what the websockets task does:
//!   hands messages to the spark, answers pings, drains the spark's bounded outgoing
//!   queue in batches with one flush, within `write_timeout`, and closes.
//!
//! While the application's incoming queue is full the connection task stops taking
//! events, so the reader task waits on the channel and stops reading the socket: at most
//! one frame is read ahead.
//!
//! [`prepare_upgrade`]: crate::transformers::websockets::server::prepare_upgrade
//! [`switching_protocols`]: crate::transformers::websockets::server::switching_protocols
//! [`spark_info`]: crate::transformers::websockets::server::spark_info

use crate::error::SparkError;
use crate::options::Options;
use crate::server::spark::{CloseKind, SparkConn, SparkShared};
use crate::server::Inner;
use crate::service::{full, HttpRequest, HttpResponse};
use crate::transformers::websockets::server::{
    linger_budget, prepare_upgrade, spark_info, switching_protocols, Inbound, Refusal,
};
use bytes::{Bytes, BytesMut};
use fastwebsockets::{
    after_handshake_split, CloseCode, Frame as WsFrame, OpCode, Payload, Role, WebSocketError,
    WebSocketWrite,
};
use http::StatusCode;
use hyper_util::rt::TokioIo;
use primus_core::Frame;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// Frames sent in one batch before flushing (bounds the time between reads).
const MAX_BATCH: usize = 64;
/// How long to wait for the peer's close frame after sending ours.
const CLOSE_GRACE: Duration = Duration::from_secs(2);
/// Lingering close after a protocol error: how long to keep reading and discarding.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// The write buffer: batches are written into it and flushed once.
const WRITE_BUFFER: usize = 4096;

type Io = TokioIo<hyper::upgrade::Upgraded>;
/// The write half, borrowed so that it can be shut down (TCP FIN) after the close frame.
type Writer<'a> = WebSocketWrite<&'a mut BufWriter<WriteHalf<Io>>>;

/// The uws server half: its name (`uws` or `lws`) and its limits.
#[derive(Debug)]
pub(crate) struct Server {
    name: &'static str,
    max_length: usize,
    write_timeout: Duration,
}

impl Server {
    /// The server for `name`, `uws` or `lws`.
    pub(crate) fn new(name: &'static str, options: &Options) -> Self {
        Server {
            name,
            max_length: options.max_length,
            write_timeout: options.write_timeout,
        }
    }

    /// The name it was selected by, as `/spec` publishes it.
    pub(crate) fn name(&self) -> &'static str {
        self.name
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
        let max_length = self.max_length;
        let write_timeout = self.write_timeout;
        let server = server.clone();
        tokio::spawn(async move {
            match upgrade.on_upgrade.await {
                Ok(upgraded) => {
                    let (rd, wr) = tokio::io::split(TokioIo::new(upgraded));
                    let wr = BufWriter::with_capacity(WRITE_BUFFER, wr);
                    run(server, rd, wr, conn, max_length, write_timeout).await;
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

/// What the reader task found.
#[derive(Debug)]
enum Event {
    /// A whole message.
    Message(Frame),
    /// A ping, with its payload (answered with a pong carrying it).
    Ping(Bytes),
    /// A pong.
    Pong,
    /// The peer's close frame, with its raw payload (echoed in our answer).
    Close(Bytes),
    /// The peer broke the protocol: close with a code. The reader lingers meanwhile.
    Refused(Refusal),
    /// The socket ended or failed.
    Gone(Option<SparkError>),
}

fn protocol_error(why: impl std::fmt::Display) -> Event {
    Event::Refused(Refusal::protocol(format!(
        "WebSocket protocol error: {why}"
    )))
}

fn invalid_utf8() -> Event {
    Event::Refused(Refusal::invalid_utf8("invalid UTF-8 in a text message"))
}

fn too_large(max_length: usize) -> Event {
    Event::Refused(Refusal::too_large(max_length))
}

fn into_bytes(payload: Payload<'_>) -> Bytes {
    match payload {
        Payload::Bytes(b) => b.freeze(),
        Payload::Owned(v) => Bytes::from(v),
        other => Bytes::copy_from_slice(&other),
    }
}

/// A read error's event: I/O failures and an end without a close frame are the socket
/// going away (no close handshake possible); anything else is the peer's fault.
fn read_error(e: WebSocketError, max_length: usize) -> Event {
    match e {
        WebSocketError::UnexpectedEOF | WebSocketError::ConnectionClosed => Event::Gone(None),
        WebSocketError::IoError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Event::Gone(None)
        }
        WebSocketError::IoError(io) => Event::Gone(Some(SparkError::Transport(io.to_string()))),
        WebSocketError::FrameTooLarge => too_large(max_length),
        WebSocketError::InvalidUTF8 => invalid_utf8(),
        other => protocol_error(other),
    }
}

/// A message being reassembled from fragments.
struct Partial {
    text: bool,
    data: BytesMut,
}

/// The reader task: read frames, reassemble messages, hand events over. Ends after a
/// close frame, a refusal (lingering: discarding what the peer still sends for at most
/// [`LINGER_TIME`], so our close frame is not lost to a reset) or the end of the socket.
async fn read_loop(mut rd: ReadHalf<Io>, events: mpsc::Sender<Event>, max_length: usize) {
    let refusal = {
        // fastwebsockets frames the read half only (its write half, over a sink, is
        // unused): the raw half stays ours for the lingering close.
        let (mut ws, _) = after_handshake_split(&mut rd, tokio::io::sink(), Role::Server);
        // One byte more: fastwebsockets refuses a frame of `>=` its limit; ours is `>`.
        ws.set_max_message_size(max_length.saturating_add(1));
        // Pings and close frames are answered by the connection task, which owns the
        // write half.
        ws.set_auto_pong(false);
        ws.set_auto_close(false);
        let mut partial: Option<Partial> = None;
        loop {
            // With auto pong and auto close off, nothing is ever handed to `send_fn`.
            let frame = ws
                .read_frame(&mut |_| std::future::ready(Ok::<(), WebSocketError>(())))
                .await;
            let event = match frame {
                Err(e) => read_error(e, max_length),
                Ok(frame) => match next_event(frame, &mut partial, max_length) {
                    Some(event) => event,
                    None => continue,
                },
            };
            let last = !matches!(event, Event::Message(_) | Event::Ping(_) | Event::Pong);
            let refusal = matches!(event, Event::Refused(_));
            if events.send(event).await.is_err() || last {
                break refusal;
            }
        }
    };
    if refusal {
        linger(&mut rd, linger_budget(max_length)).await;
    }
}

/// The longest payload of a control frame (ping, pong, close), RFC 6455 §5.5.
const MAX_CONTROL_PAYLOAD: usize = 125;

/// What one frame means: `None` for a fragment of a message still incomplete.
fn next_event(
    frame: WsFrame<'_>,
    partial: &mut Option<Partial>,
    max_length: usize,
) -> Option<Event> {
    let fin = frame.fin;
    let control = matches!(frame.opcode, OpCode::Ping | OpCode::Pong | OpCode::Close);
    if control && frame.payload.len() > MAX_CONTROL_PAYLOAD {
        // RFC 6455 §5.5; the engine does not check it (Autobahn 7.3.6).
        return Some(protocol_error(format!(
            "a control frame of {} bytes (at most {MAX_CONTROL_PAYLOAD})",
            frame.payload.len()
        )));
    }
    match frame.opcode {
        OpCode::Text | OpCode::Binary => {
            if partial.is_some() {
                return Some(protocol_error("a new message inside a fragmented one"));
            }
            let text = frame.opcode == OpCode::Text;
            let data = into_bytes(frame.payload);
            if fin {
                return Some(message(text, data));
            }
            *partial = Some(Partial {
                text,
                data: BytesMut::from(&data[..]),
            });
            None
        }
        OpCode::Continuation => {
            let Some(p) = partial.as_mut() else {
                return Some(protocol_error("a continuation frame without a message"));
            };
            if p.data.len().saturating_add(frame.payload.len()) > max_length {
                return Some(too_large(max_length));
            }
            p.data.extend_from_slice(&frame.payload);
            if !fin {
                return None;
            }
            let p = partial.take()?;
            Some(message(p.text, p.data.freeze()))
        }
        OpCode::Ping => Some(Event::Ping(into_bytes(frame.payload))),
        OpCode::Pong => Some(Event::Pong),
        OpCode::Close => Some(close_event(into_bytes(frame.payload))),
    }
}

fn message(text: bool, data: Bytes) -> Event {
    if !text {
        return Event::Message(Frame::Binary(data));
    }
    if std::str::from_utf8(&data).is_err() {
        return invalid_utf8();
    }
    Event::Message(Frame::Text(data))
}

/// The peer's close frame, checked as RFC 6455 §5.5.1 and §7.4 ask.
fn close_event(payload: Bytes) -> Event {
    match payload.len() {
        0 => Event::Close(payload),
        1 => protocol_error("a close frame of one byte"),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !CloseCode::from(code).is_allowed() {
                return protocol_error(format!("close code {code}"));
            }
            if std::str::from_utf8(&payload[2..]).is_err() {
                return invalid_utf8();
            }
            Event::Close(payload)
        }
    }
}

/// Read and discard what the peer still sends, within [`LINGER_TIME`] and `max_bytes`.
async fn linger(rd: &mut ReadHalf<Io>, max_bytes: usize) {
    let _ = tokio::time::timeout(LINGER_TIME, async {
        // On the heap: this future is part of every reader task's state.
        let mut scratch = vec![0u8; 8192];
        let mut discarded = 0usize;
        while discarded < max_bytes {
            match rd.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    })
    .await;
}

/// How the connection loop ended (as in the websockets server).
enum Exit {
    /// The spark ended: drain and close.
    Ended,
    /// The peer sent a close frame (its payload, echoed).
    Closed(Bytes),
    /// The socket ended or failed.
    Gone(Option<SparkError>),
    /// The peer broke the protocol.
    Refused(Refusal),
    /// Writing stalled past `write_timeout`.
    Stalled,
}

/// Stops the reader task when the connection task is done with it, whichever way.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run(
    server: Arc<Inner>,
    rd: ReadHalf<Io>,
    mut wr: BufWriter<WriteHalf<Io>>,
    conn: SparkConn,
    max_length: usize,
    write_timeout: Duration,
) {
    let SparkConn {
        spark,
        mut outgoing,
    } = conn;
    let shared = spark.shared.clone();
    let (_, mut ws) = after_handshake_split(tokio::io::empty(), &mut wr, Role::Server);
    // Connection listeners run before the first frame is read: the reader task starts
    // after them, so messages that arrive meanwhile wait in the socket, in order.
    if !server.run_connection_listeners(&spark).await {
        shared.close_inbox();
        close_after_end(&shared, &mut ws, &mut outgoing, None, write_timeout).await;
        drop(ws);
        let _ = tokio::time::timeout(CLOSE_GRACE, wr.shutdown()).await;
        return;
    }
    let (tx, mut events) = mpsc::channel(1);
    let mut reader = AbortOnDrop(tokio::spawn(read_loop(rd, tx, max_length)));
    let exit = drive(&mut ws, &shared, &mut outgoing, &mut events, write_timeout).await;
    shared.close_inbox();
    match exit {
        Exit::Ended => {
            close_after_end(
                &shared,
                &mut ws,
                &mut outgoing,
                Some(&mut events),
                write_timeout,
            )
            .await;
            drop(ws);
            let _ = tokio::time::timeout(CLOSE_GRACE, wr.shutdown()).await;
        }
        Exit::Refused(refusal) => {
            let frame = WsFrame::close(refusal.code, refusal.reason.as_bytes());
            shared.finish(CloseKind::Normal, Some(refusal.error));
            // Send the close and stop writing (TCP FIN); the reader task lingers, reading
            // and discarding, so the peer gets the close frame rather than a reset.
            let _ = tokio::time::timeout(LINGER_TIME, async {
                ws.write_frame(frame).await?;
                ws.flush().await?;
                Ok::<_, WebSocketError>(())
            })
            .await;
            drop(ws);
            let _ = tokio::time::timeout(LINGER_TIME, wr.shutdown()).await;
            // Let it finish (it is bounded in time itself).
            let _ = tokio::time::timeout(LINGER_TIME * 2, &mut reader.0).await;
        }
        Exit::Stalled => {
            shared.finish(
                CloseKind::Normal,
                Some(SparkError::SlowPeer(format!(
                    "a write did not complete within {write_timeout:?}"
                ))),
            );
            // The socket is not draining: do not wait on it any longer.
        }
        Exit::Closed(payload) => {
            shared.finish(CloseKind::Normal, None);
            // Answer with the peer's close payload (its code echoed), bounded in time.
            let _ = tokio::time::timeout(CLOSE_GRACE, async {
                ws.write_frame(WsFrame::close_raw(Payload::Borrowed(&payload)))
                    .await?;
                ws.flush().await?;
                Ok::<_, WebSocketError>(())
            })
            .await;
            drop(ws);
            let _ = tokio::time::timeout(CLOSE_GRACE, wr.shutdown()).await;
        }
        Exit::Gone(err) => shared.finish(CloseKind::Normal, err),
    }
}

/// The spark ended: send what was queued before the end within `write_timeout`, then
/// our close frame (the spark's code, else none, like `ws`), and wait for the peer's
/// close within [`CLOSE_GRACE`].
async fn close_after_end(
    shared: &Arc<SparkShared>,
    ws: &mut Writer<'_>,
    outgoing: &mut mpsc::Receiver<Frame>,
    events: Option<&mut mpsc::Receiver<Event>>,
    write_timeout: Duration,
) {
    let drain = async {
        while let Ok(frame) = outgoing.try_recv() {
            write_message(ws, &frame).await?;
        }
        ws.flush().await
    };
    match tokio::time::timeout(write_timeout, drain).await {
        Ok(Ok(())) => {}
        // The socket failed or stalled: no close handshake is possible.
        _ => return,
    }
    let close = match shared.close_kind() {
        Some(CloseKind::Code(code, reason)) => WsFrame::close(code, reason.as_bytes()),
        _ => WsFrame::close_raw(Payload::Borrowed(&[])),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if ws.write_frame(close).await.is_err() || ws.flush().await.is_err() {
            return;
        }
        if let Some(events) = events {
            while let Some(event) = events.recv().await {
                if !matches!(event, Event::Message(_) | Event::Ping(_) | Event::Pong) {
                    return;
                }
            }
        }
    })
    .await;
}

async fn write_message(ws: &mut Writer<'_>, frame: &Frame) -> Result<(), WebSocketError> {
    let frame = match frame {
        // Frames are built from valid UTF-8.
        Frame::Text(b) => WsFrame::text(Payload::Borrowed(b)),
        Frame::Binary(b) => WsFrame::binary(Payload::Borrowed(b)),
    };
    ws.write_frame(frame).await
}

async fn drive(
    ws: &mut Writer<'_>,
    shared: &Arc<SparkShared>,
    outgoing: &mut mpsc::Receiver<Frame>,
    events: &mut mpsc::Receiver<Event>,
    write_timeout: Duration,
) -> Exit {
    let mut inbound = Inbound::default();
    loop {
        let reading = !inbound.holding();
        tokio::select! {
            biased;
            _ = shared.close_signal.notified() => return Exit::Ended,
            frame = outgoing.recv() => {
                let Some(frame) = frame else { return Exit::Ended };
                let write = async {
                    write_message(ws, &frame).await?;
                    let mut batch = 1;
                    while batch < MAX_BATCH {
                        match outgoing.try_recv() {
                            Ok(frame) => write_message(ws, &frame).await?,
                            Err(_) => break,
                        }
                        batch += 1;
                    }
                    ws.flush().await
                };
                match tokio::time::timeout(write_timeout, write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Exit::Gone(write_error(e)),
                    Err(_) => return Exit::Stalled,
                }
            }
            _ = inbound.release(), if !reading => {}
            event = events.recv(), if reading => {
                let frame = match event {
                    Some(Event::Message(frame)) => frame,
                    Some(Event::Ping(payload)) => {
                        // The reference counts a ping frame as a heartbeat.
                        shared.transport_pong();
                        let pong = async {
                            ws.write_frame(WsFrame::pong(Payload::Borrowed(&payload))).await?;
                            ws.flush().await
                        };
                        match tokio::time::timeout(write_timeout, pong).await {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => return Exit::Gone(write_error(e)),
                            Err(_) => return Exit::Stalled,
                        }
                        continue;
                    }
                    Some(Event::Pong) => {
                        shared.transport_pong();
                        continue;
                    }
                    Some(Event::Close(payload)) => return Exit::Closed(payload),
                    Some(Event::Refused(refusal)) => return Exit::Refused(refusal),
                    Some(Event::Gone(err)) => return Exit::Gone(err),
                    None => return Exit::Gone(None),
                };
                inbound.receive(shared, frame).await;
            }
        }
    }
}

/// A write error: resets and closed sockets end the spark without an error.
fn write_error(e: WebSocketError) -> Option<SparkError> {
    match e {
        WebSocketError::ConnectionClosed => None,
        WebSocketError::IoError(ref io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            None
        }
        other => Some(SparkError::Transport(other.to_string())),
    }
}
