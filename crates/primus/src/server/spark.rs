//! Sparks: one per client connection, whatever transformer carries it.
//!
//! A [`Spark`] is a cheap, cloneable handle. It is a [`Stream`] of incoming
//! [`Message`]s and a [`Sink`] for outgoing values, and it also offers callbacks
//! (`on_data`, `on_end`, `on_error`, `on_heartbeat`) for code that prefers them.
//!
//! Incoming messages go to the `data` handlers when at least one is registered, and to
//! the stream otherwise; the stream holds at most `incoming_queue_size` messages, after
//! which the spark stops reading its socket until the application catches up (so a slow
//! consumer slows its peer down instead of growing memory).
//!
//! The spark never knows its transport: transformers hand it frames
//! ([`SparkShared::receive`]) and drain its bounded outgoing queue.

use super::registry::Handlers;
use super::transform::Outcome;
use super::Inner;
use crate::error::{SparkError, WriteError};
use futures_util::{Sink, Stream};
use http::{HeaderMap, HeaderValue, Uri};
use primus_core::forwarded::Address;
use primus_core::protocol;
use primus_core::query::Query;
use primus_core::{to_value, Frame, Value, ValueError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::PollSender;

/// A spark's ready state, with the reference's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ReadyState {
    /// Never used on the server (kept for parity with the reference).
    Opening = 1,
    /// The spark has ended.
    Closed = 2,
    /// The spark is open.
    Open = 3,
}

/// One decoded incoming message: its value and the frame it came in.
#[derive(Debug, Clone)]
pub struct Message {
    value: Value,
    raw: Frame,
}

impl Message {
    pub(crate) fn new(value: Value, raw: Frame) -> Self {
        Message { value, raw }
    }
    /// The decoded value.
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// The frame as it arrived (the reference's `raw` argument of `data`).
    pub fn raw(&self) -> &Frame {
        &self.raw
    }
    /// Decode into a Rust type.
    ///
    /// ```
    /// # use primus::Message;
    /// # fn f(msg: &Message) -> Result<(), primus::ValueError> {
    /// #[derive(serde::Deserialize)]
    /// struct Chat { text: String }
    /// let chat: Chat = msg.decode()?;
    /// # Ok(()) }
    /// ```
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        self.value.deserialize_into()
    }
    /// The value, consuming the message.
    pub fn into_value(self) -> Value {
        self.value
    }
}

/// What a spark knows about the request that opened it.
#[derive(Debug)]
pub struct SparkInfo {
    /// Request headers (names are lower case).
    pub headers: HeaderMap,
    /// Parsed query string (repeated keys become lists, like the reference).
    pub query: Query,
    /// The client's address, honouring `X-Forwarded-*` headers from trusted proxies.
    pub address: Address,
    /// The TCP peer itself (a proxy, when there is one) and whether it came over TLS.
    pub peer: crate::service::PeerInfo,
    /// The request URI.
    pub uri: Uri,
    /// The request's extensions (whatever your middleware or framework put there).
    pub extensions: http::Extensions,
}

impl SparkInfo {
    /// [`compact`](Self::compact) with the address the `forwarded` layer resolved (or
    /// resolved now, if that layer was removed).
    pub(crate) fn from_head(
        parts: http::request::Parts,
        trusted: &[std::net::IpAddr],
    ) -> SparkInfo {
        let address = crate::middleware::resolve_address(&parts, trusted);
        Self::compact(parts, address)
    }

    /// Keep what a spark exposes of its request, in storage of its own.
    ///
    /// hyper's header values and URI are slices of the connection's read buffer (8 KiB
    /// or more): keeping them would keep that buffer alive for the spark's whole life.
    /// Copying the few bytes we need lets it go (memory per connection is a budget).
    pub(crate) fn compact(parts: http::request::Parts, address: Address) -> SparkInfo {
        let mut headers = HeaderMap::with_capacity(parts.headers.len());
        for (name, value) in parts.headers.iter() {
            let value = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
            headers.append(name.clone(), value);
        }
        let uri = Uri::try_from(parts.uri.to_string()).unwrap_or(parts.uri);
        // The peer and address are `address` now; an extension map left empty is dropped
        // (an empty `Extensions` allocates nothing).
        let mut extensions = parts.extensions;
        extensions.remove::<Address>();
        let peer = extensions
            .remove::<crate::service::PeerInfo>()
            .unwrap_or_else(|| crate::service::PeerInfo::from_extensions(&extensions));
        if extensions.is_empty() {
            extensions = http::Extensions::new();
        }
        SparkInfo {
            query: primus_core::query::parse(uri.query().unwrap_or("")),
            headers,
            address,
            peer,
            uri,
            extensions,
        }
    }
}

/// How a spark ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// Orderly close frame with no status code (like `ws`).
    Normal,
    /// Close with a code and reason.
    Code(u16, &'static str),
}

/// The state shared by every clone of a [`Spark`] and by its transport.
pub(crate) struct SparkShared {
    id: Arc<str>,
    info: SparkInfo,
    pub(crate) server: Arc<Inner>,
    state: AtomicU8,
    /// Liveness flag for the heartbeat: set by any incoming frame, cleared by each tick.
    pub(crate) alive: AtomicBool,
    /// The peer pings us itself (Primus ≤ 6 client): it gets no server pings.
    pub(crate) legacy: AtomicBool,
    out: mpsc::Sender<Frame>,
    /// Set once by `finish`; the transport closes after draining the queue.
    close: Mutex<Option<CloseKind>>,
    pub(crate) close_signal: Notify,
    /// Messages for the stream, created on first use (apps that use `on_data` never pay
    /// for it).
    inbox: Mutex<Inbox>,
    pub(crate) handlers: Handlers,
    /// Typed per-spark state for plugins and applications (empty: no allocation).
    user_state: Mutex<http::Extensions>,
}

/// The stream's queue. Boxed messages: tokio allocates a block of 32 slots per channel up
/// front, and pointer slots keep that small (memory per connection is a budget).
#[derive(Default)]
struct Inbox {
    rx: Option<mpsc::Receiver<Box<Message>>>,
    /// The sending half until the transport takes it.
    tx: Option<mpsc::Sender<Box<Message>>>,
    /// The transport is done: no channel will be created any more.
    closed: bool,
}

impl Inbox {
    fn ensure(&mut self, capacity: usize) {
        if self.rx.is_none() && !self.closed {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            self.rx = Some(rx);
            self.tx = Some(tx);
        }
    }
}

/// The transport's side of a new spark: the outgoing queue to drain.
pub(crate) struct SparkConn {
    pub(crate) spark: Spark,
    pub(crate) outgoing: mpsc::Receiver<Frame>,
}

/// A client connection. Cheap to clone; every clone is the same connection.
///
/// ```no_run
/// # async fn demo(primus: primus::Primus) {
/// use futures_util::StreamExt;
/// let mut sparks = primus.connections();
/// while let Some(mut spark) = sparks.next().await {
///     tokio::spawn(async move {
///         while let Some(msg) = spark.next().await {
///             let _ = spark.send(msg.value()).await; // echo
///         }
///     });
/// }
/// # }
/// ```
pub struct Spark {
    pub(crate) shared: Arc<SparkShared>,
    /// Sink state, boxed: a `Spark` is cloned into handlers and registry snapshots (every
    /// broadcast and heartbeat tick copies one per connection), so it stays two words.
    sink: Option<Box<PollSender<Frame>>>,
}

impl Clone for Spark {
    fn clone(&self) -> Self {
        Spark {
            shared: self.shared.clone(),
            sink: None,
        }
    }
}

impl fmt::Debug for Spark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spark")
            .field("id", &self.id())
            .field("ready_state", &self.ready_state())
            .field("address", &self.shared.info.address)
            .finish()
    }
}

impl Spark {
    pub(crate) fn create(server: Arc<Inner>, id: String, info: SparkInfo) -> SparkConn {
        let opts = &server.options;
        let (out_tx, out_rx) = mpsc::channel(opts.queue_size.max(1));
        let shared = Arc::new(SparkShared {
            id: Arc::from(id),
            info,
            server,
            state: AtomicU8::new(ReadyState::Open as u8),
            alive: AtomicBool::new(true),
            legacy: AtomicBool::new(false),
            out: out_tx,
            close: Mutex::new(None),
            close_signal: Notify::new(),
            inbox: Mutex::new(Inbox::default()),
            handlers: Handlers::default(),
            user_state: Mutex::new(http::Extensions::new()),
        });
        SparkConn {
            spark: Spark { shared, sink: None },
            outgoing: out_rx,
        }
    }

    pub(crate) fn from_shared(shared: Arc<SparkShared>) -> Spark {
        Spark { shared, sink: None }
    }

    /// The server this spark belongs to (the reference's `spark.primus`), e.g. to
    /// broadcast from a data handler without capturing a `Primus` clone.
    pub fn primus(&self) -> crate::Primus {
        crate::Primus {
            inner: self.shared.server.clone(),
        }
    }

    /// The spark id: 21 characters from `A-Za-z0-9_-` unless `id_generator` is set.
    pub fn id(&self) -> &str {
        &self.shared.id
    }
    /// Request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.shared.info.headers
    }
    /// Parsed query string.
    pub fn query(&self) -> &Query {
        &self.shared.info.query
    }
    /// The client's address.
    pub fn address(&self) -> Address {
        self.shared.info.address
    }
    /// Everything known about the request that opened the spark.
    pub fn info(&self) -> &SparkInfo {
        &self.shared.info
    }
    /// The ready state.
    pub fn ready_state(&self) -> ReadyState {
        match self.shared.state.load(Ordering::Acquire) {
            3 => ReadyState::Open,
            _ => ReadyState::Closed,
        }
    }
    /// Whether the spark is open.
    pub fn is_open(&self) -> bool {
        self.ready_state() == ReadyState::Open
    }

    /// Queue a message without waiting. Fails with [`WriteError::Full`] when the
    /// outgoing queue is full and [`WriteError::Closed`] after the spark ended.
    ///
    /// Rust has no `undefined`: writing `None` sends `null` (the reference sends nothing
    /// for `undefined`).
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), WriteError> {
        if !self.is_open() {
            return Err(WriteError::Closed);
        }
        match self.prepare_sync(data)? {
            Some(frame) => self.shared.push(frame),
            None => Ok(()),
        }
    }

    /// Outgoing transforms (sync ones only) and encoding; `None` when a transform dropped
    /// the message.
    fn prepare_sync<T: Serialize + ?Sized>(&self, data: &T) -> Result<Option<Frame>, WriteError> {
        let chain = &self.shared.server.transforms.outgoing;
        if chain.is_empty() {
            // Hot path: straight to the parser.
            return self.shared.encode(data).map(Some);
        }
        let value = to_value(data).map_err(|e| WriteError::Transform(e.to_string()))?;
        match chain.run_sync(self, value) {
            None => Err(WriteError::AsyncTransform),
            Some(outcome) => self.finish_transform(outcome),
        }
    }

    /// Outgoing transforms (async ones too) and encoding.
    async fn prepare<T: Serialize + ?Sized>(&self, data: &T) -> Result<Option<Frame>, WriteError> {
        let chain = &self.shared.server.transforms.outgoing;
        if !chain.has_async() {
            return self.prepare_sync(data);
        }
        let value = to_value(data).map_err(|e| WriteError::Transform(e.to_string()))?;
        let outcome = chain.run(self, value).await;
        self.finish_transform(outcome)
    }

    fn finish_transform(&self, outcome: Outcome) -> Result<Option<Frame>, WriteError> {
        match outcome {
            Outcome::Keep(v) => self.shared.encode(&v).map(Some),
            Outcome::Drop => Ok(None),
            Outcome::Failed(e) => {
                let msg = e.to_string();
                self.shared.emit_error(&SparkError::Transform(e));
                Err(WriteError::Transform(msg))
            }
        }
    }

    /// Queue a message, waiting for room in the outgoing queue.
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), WriteError> {
        if !self.is_open() {
            return Err(WriteError::Closed);
        }
        let Some(frame) = self.prepare(data).await? else {
            return Ok(());
        };
        self.shared
            .out
            .send(frame)
            .await
            .map_err(|_| WriteError::Closed)
    }

    /// Queue an already encoded frame, waiting for room.
    pub(crate) async fn send_frame(&self, frame: Frame) -> Result<(), WriteError> {
        if !self.is_open() {
            return Err(WriteError::Closed);
        }
        self.shared
            .out
            .send(frame)
            .await
            .map_err(|_| WriteError::Closed)
    }

    /// Queue an already encoded frame (a broadcast shares one frame across sparks).
    pub fn write_frame(&self, frame: Frame) -> Result<(), WriteError> {
        if !self.is_open() {
            return Err(WriteError::Closed);
        }
        self.shared.push(frame)
    }

    /// End the spark, with the reference's wire behaviour:
    /// `data` (if any) is written first; unless `reconnect` is true the client is told
    /// `primus::server::close` so it does not reconnect; then the connection closes.
    /// Ending a closed spark does nothing.
    pub fn end<T: Serialize + ?Sized>(&self, data: Option<&T>, reconnect: bool) {
        if !self.is_open() {
            return;
        }
        if let Some(data) = data {
            if let Err(e) = self.write(data) {
                tracing::debug!(spark = %self.id(), error = %e, "last message before end not sent");
            }
        }
        if !reconnect {
            self.shared.write_protocol(protocol::SERVER_CLOSE);
        }
        self.shared.finish(CloseKind::Normal, None);
    }

    /// End the spark without a last message (`end(undefined, {reconnect})`).
    pub fn close(&self, reconnect: bool) {
        self.end::<()>(None, reconnect);
    }

    /// Store a value of type `T` on this spark (one per type), returning the previous one.
    /// Plugins keep their per-spark data here and expose it through extension traits.
    pub fn set_state<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.shared
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(value)
    }

    /// A copy of the stored `T`, if any.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get::<T>()
            .cloned()
    }

    /// Change the stored `T` in place (created with `T::default()` if absent).
    pub fn with_state<T: Clone + Default + Send + Sync + 'static, R>(
        &self,
        f: impl FnOnce(&mut T) -> R,
    ) -> R {
        let mut state = self
            .shared
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(state.get_or_insert_default::<T>())
    }

    /// Remove and return the stored `T`.
    pub fn take_state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.shared
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove::<T>()
    }

    /// Whether an event name is one the server emits on sparks (the reference's
    /// `spark.reserved(evt)`): `incoming::*`, `outgoing::*` and the built-in events.
    pub fn reserved(event: &str) -> bool {
        primus_core::reserved::spark(event)
    }

    /// Call `f` with every incoming message. While any data handler is registered,
    /// messages go to the handlers instead of the stream.
    pub fn on_data(&self, f: impl Fn(&Spark, &Message) + Send + Sync + 'static) {
        self.shared.handlers.data.push(Arc::new(f));
    }
    /// Call `f` once when the spark ends (whoever ended it).
    pub fn on_end(&self, f: impl Fn(&Spark) + Send + Sync + 'static) {
        self.shared.handlers.end.push(Arc::new(f));
    }
    /// Call `f` on errors: undecodable messages, oversize messages, transport errors.
    pub fn on_error(&self, f: impl Fn(&Spark, &SparkError) + Send + Sync + 'static) {
        self.shared.handlers.error.push(Arc::new(f));
    }
    /// Call `f` on each sign of life the heartbeat counts (a pong or a WebSocket ping).
    pub fn on_heartbeat(&self, f: impl Fn(&Spark) + Send + Sync + 'static) {
        self.shared.handlers.heartbeat.push(Arc::new(f));
    }
}

impl SparkShared {
    fn spark(self: &Arc<Self>) -> Spark {
        Spark::from_shared(self.clone())
    }

    pub(crate) fn id_arc(&self) -> Arc<str> {
        self.id.clone()
    }

    fn encode<T: Serialize + ?Sized>(&self, data: &T) -> Result<Frame, WriteError> {
        Ok(self.server.parser.encode(&data)?)
    }

    fn push(&self, frame: Frame) -> Result<(), WriteError> {
        self.out.try_send(frame).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => WriteError::Full,
            mpsc::error::TrySendError::Closed(_) => WriteError::Closed,
        })
    }

    /// Write a protocol message: parser-encoded, no transforms.
    pub(crate) fn write_protocol(&self, msg: &str) {
        match self.server.parser.encode(&msg) {
            Ok(frame) => {
                if let Err(e) = self.push(frame) {
                    tracing::debug!(spark = %self.id, error = %e, "protocol message not queued");
                }
            }
            Err(e) => {
                tracing::warn!(spark = %self.id, error = %e, "cannot encode protocol message")
            }
        }
    }

    /// Mark the spark closed (once), ask the transport to close after draining its
    /// queue, run `end` handlers and the server's `disconnection` handlers, and leave the
    /// registry. Safe to call from anywhere, any number of times.
    pub(crate) fn finish(self: &Arc<Self>, kind: CloseKind, error: Option<SparkError>) {
        if self
            .state
            .compare_exchange(
                ReadyState::Open as u8,
                ReadyState::Closed as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return;
        }
        *self.close.lock().unwrap_or_else(|p| p.into_inner()) = Some(kind);
        self.close_signal.notify_one();
        let spark = self.spark();
        if let Some(err) = error {
            self.emit_error(&err);
        }
        for h in self.handlers.end.snapshot().iter() {
            h(&spark);
        }
        self.server.spark_ended(&spark);
    }

    /// How the transport should close, once `finish` has run.
    pub(crate) fn close_kind(&self) -> Option<CloseKind> {
        self.close.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn emit_error(self: &Arc<Self>, err: &SparkError) {
        let handlers = self.handlers.error.snapshot();
        if handlers.is_empty() {
            tracing::debug!(spark = %self.id, error = %err, "spark error");
        }
        let spark = self.spark();
        for h in handlers.iter() {
            h(&spark, err);
        }
        self.server.log_error(&spark, err);
    }

    fn heartbeat(self: &Arc<Self>) {
        self.alive.store(true, Ordering::Relaxed);
        let handlers = self.handlers.heartbeat.snapshot();
        if !handlers.is_empty() {
            let spark = self.spark();
            for h in handlers.iter() {
                h(&spark);
            }
        }
    }

    /// A WebSocket-level ping or pong frame arrived: the reference counts it as a pong.
    pub(crate) fn transport_pong(self: &Arc<Self>) {
        self.heartbeat();
    }

    /// Handle one incoming frame: decode, answer protocol messages, and return the
    /// message to deliver to the application, if any. Hot path: one decode, no copies
    /// of the payload. Nothing is delivered once the spark has ended: a transport that
    /// received several frames at once (a polling payload, a stream read) stops at the
    /// one whose handler ended the spark.
    pub(crate) fn receive(self: &Arc<Self>, frame: Frame) -> Option<Message> {
        if self.state.load(Ordering::Acquire) != ReadyState::Open as u8 {
            return None;
        }
        // Beyond the reference: any frame proves the peer is alive, so a client busy
        // sending large payloads is never dropped for a late pong.
        self.alive.store(true, Ordering::Relaxed);
        let value = match self.server.parser.decode(&frame) {
            Ok(v) => v,
            Err(e) => {
                self.emit_error(&SparkError::Parser(e));
                return None;
            }
        };
        if let Value::String(s) = &value {
            if let Some(msg) = protocol::parse(s) {
                match msg.kind {
                    "pong" => {
                        self.heartbeat();
                        return None;
                    }
                    "id" => {
                        self.write_protocol(&protocol::id_answer(&self.id));
                        return None;
                    }
                    "ping" => {
                        // A Primus ≤ 6 client pings the server itself (protocol.md §8):
                        // answer, and stop sending it pings it would show as data.
                        self.legacy.store(true, Ordering::Relaxed);
                        self.write_protocol(&protocol::pong(msg.value));
                        self.heartbeat();
                        return None;
                    }
                    // Unknown types are data, as in the reference.
                    _ => {}
                }
            }
        }
        let chain = &self.server.transforms.incoming;
        if chain.is_empty() || chain.has_async() {
            // With an async transform in the chain, `transform_async` runs all of it.
            return Some(Message::new(value, frame));
        }
        match chain.run_sync(&self.spark(), value) {
            Some(outcome) => self.transformed(outcome, frame),
            None => None,
        }
    }

    /// Run the incoming chain when it has async transforms (after [`receive`]); a no-op
    /// otherwise, as `receive` already ran the sync-only chain.
    ///
    /// [`receive`]: Self::receive
    pub(crate) async fn transform_async(self: &Arc<Self>, msg: Message) -> Option<Message> {
        let chain = &self.server.transforms.incoming;
        if !chain.has_async() {
            return Some(msg);
        }
        let Message { value, raw } = msg;
        let outcome = chain.run(&self.spark(), value).await;
        self.transformed(outcome, raw)
    }

    fn transformed(self: &Arc<Self>, outcome: Outcome, raw: Frame) -> Option<Message> {
        match outcome {
            Outcome::Keep(value) => Some(Message::new(value, raw)),
            Outcome::Drop => None,
            Outcome::Failed(e) => {
                self.emit_error(&SparkError::Transform(e));
                None
            }
        }
    }

    /// Deliver to the data handlers; returns the message back when there are none, so
    /// the transport queues it on the stream.
    pub(crate) fn dispatch(self: &Arc<Self>, msg: Message) -> Option<Message> {
        let handlers = self.handlers.data.snapshot();
        if handlers.is_empty() {
            return Some(msg);
        }
        let spark = self.spark();
        for h in handlers.iter() {
            h(&spark, &msg);
        }
        None
    }

    /// A sender into the stream's queue (the queue is created on first use; `None` once
    /// the transport is done). Transports that must not block use it with `try_reserve`.
    pub(crate) fn inbox_sender(&self) -> Option<mpsc::Sender<Box<Message>>> {
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        inbox.ensure(self.server.options.incoming_queue_size);
        inbox.tx.clone()
    }

    /// Everything a transport does with an incoming frame, for transports that can wait:
    /// decode and answer protocol messages ([`receive`](Self::receive)), then hand user
    /// data to the data handlers or, without handlers, to the stream, waiting while its
    /// queue is full (which is how a slow application slows its peer down).
    #[cfg(any(
        feature = "engineio",
        feature = "sockjs",
        feature = "sse",
        feature = "browserchannel"
    ))]
    pub(crate) async fn deliver(self: &Arc<Self>, frame: Frame) {
        let Some(msg) = self.receive(frame) else {
            return;
        };
        let Some(msg) = self.transform_async(msg).await else {
            return;
        };
        let Some(msg) = self.dispatch(msg) else {
            return;
        };
        if let Some(tx) = self.inbox_sender() {
            // An error means the transport is done: the message has nowhere to go.
            let _ = tx.send(Box::new(msg)).await;
        }
    }

    /// The transport is done: the stream ends once drained.
    pub(crate) fn close_inbox(&self) {
        let mut inbox = self.inbox.lock().unwrap_or_else(|p| p.into_inner());
        inbox.closed = true;
        inbox.tx = None;
    }

    pub(crate) fn max_length(&self) -> usize {
        self.server.options.max_length
    }
}

impl Stream for Spark {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let capacity = self.shared.server.options.incoming_queue_size;
        let mut inbox = self.shared.inbox.lock().unwrap_or_else(|p| p.into_inner());
        inbox.ensure(capacity);
        match inbox.rx.as_mut() {
            Some(rx) => rx.poll_recv(cx).map(|m| m.map(|m| *m)),
            None => Poll::Ready(None),
        }
    }
}

impl<T: Serialize> Sink<T> for Spark {
    type Error = WriteError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        if !self.is_open() {
            return Poll::Ready(Err(WriteError::Closed));
        }
        let out = self.shared.out.clone();
        let sink = self
            .sink
            .get_or_insert_with(|| Box::new(PollSender::new(out)));
        sink.poll_reserve(cx).map_err(|_| WriteError::Closed)
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), WriteError> {
        let Some(frame) = self.prepare_sync(&item)? else {
            return Ok(());
        };
        match self.sink.as_mut() {
            Some(sink) => sink.send_item(frame).map_err(|_| WriteError::Closed),
            None => self.shared.push(frame),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        // Frames are handed to the transport as soon as they are queued.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), WriteError>> {
        self.close(false);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn a_spark_handle_is_two_words() {
        // Registry snapshots (broadcast, heartbeat) copy one per connection.
        assert_eq!(
            std::mem::size_of::<super::Spark>(),
            2 * std::mem::size_of::<usize>()
        );
    }
}
