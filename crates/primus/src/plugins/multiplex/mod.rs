//! `multiplex`: named substreams over one connection, wire-compatible with npm
//! `substream` 0.2.0 (its client and server halves, in either role).
//!
//! - server half: [`Multiplex`] (the plugin) and [`SparkMultiplexExt`] on every
//!   [`Spark`]: `spark.substream(name)`, `spark.on_substream(handler)`;
//! - Rust client half: [`ClientMultiplex`], attached to a [`Client`](crate::client::Client);
//! - browser half: `multiplex.js`, included in `<pathname>/primus.js` when the plugin is
//!   added (`primus.substream(name)` with `write`, `end`, `on('data' | 'end' | 'close')`,
//!   like npm substream's client, plus `primus.on('substream', fn)` to accept).
//!
//! A [`Substream`] is a [`Stream`] of the values the peer wrote on it
//! and a [`Sink`] of anything `Serialize`; it also has
//! [`write`](Substream::write), [`send`](Substream::send) and [`end`](Substream::end).
//! Either side opens a substream just by naming it: there is no handshake, the first write
//! is the first frame (`{"substream":"<name>","args":<value>}`), and ending sends
//! `{"substream":"<name>","args":"substream::end"}`.
//!
//! ```
//! use futures_util::StreamExt;
//! use primus::plugins::multiplex::{Multiplex, SparkMultiplexExt};
//! use primus::{Options, Primus};
//!
//! let primus = Primus::new(Options::default()).unwrap();
//! primus.plugin("multiplex", Multiplex::default()).unwrap();
//! primus.on_connection(|spark| {
//!     // A substream of our own: the client gets its writes once it opened `news` too.
//!     let news = spark.substream("news").expect("within the limits");
//!     let _ = news.write(&"welcome");
//!     // Substreams the client opens: echo them.
//!     spark.on_substream(|_, mut sub| {
//!         tokio::spawn(async move {
//!             while let Some(value) = sub.next().await {
//!                 let _ = sub.write(&value);
//!             }
//!         });
//!     });
//! });
//! ```
//!
//! # Choices (differences from npm substream)
//!
//! - **Accepting substreams.** npm delivers a packet for a substream the receiver has not
//!   opened as ordinary data, envelope included. We do the same *unless* the receiver
//!   registered an accept handler ([`SparkMultiplexExt::on_substream`],
//!   [`ClientMultiplex::on_substream`], `primus.on('substream', fn)` in the browser): then
//!   such a packet opens the substream on this side, the handler gets it, and the packet
//!   is its first message. A stray end marker for an unknown substream is then dropped.
//! - **Bounds.** At most [`MultiplexOptions::max_substreams`] substreams per connection
//!   (default 64), names of at most [`max_name_len`](MultiplexOptions::max_name_len) bytes
//!   (default 256), and each substream queues at most
//!   [`queue_size`](MultiplexOptions::queue_size) unread messages (default 256). A message
//!   for a full queue is **dropped with an error** ([`MultiplexError::QueueFull`], a
//!   [`SparkError::Transform`](crate::SparkError::Transform) on the server) instead of
//!   stalling the whole connection: one slow substream never blocks the others or the
//!   main stream.
//! - **Bad packets are errors.** A packet (an object with `substream` and `args`) whose
//!   name is not a string or is too long, or that would open one substream too many, is
//!   refused with an error (on the server: the transform fails, so `on_error` handlers see
//!   a `SparkError::Transform`; the client logs it) and reaches nobody. npm would pass
//!   them on as data. `null` and other non-packets are plain data.
//! - **The end marker is not data.** Writing the string `"substream::end"` is refused
//!   ([`MultiplexError::ReservedPayload`]): npm would send it and close the receiver's
//!   substream while the sender's stays open.
//! - Transforms see the envelope: outgoing transforms run once on
//!   `{"substream":…,"args":…}` (npm runs them on the payload) and the payload is not run
//!   through the incoming transforms a second time.
//! - A substream whose every handle was dropped is forgotten (its later packets are
//!   unknown again); the peer is only told with [`Substream::end`].
//! - Substreams end (locally, no frames) when the spark ends. On the Rust client they end
//!   when the client is dropped or with [`ClientMultiplex::close_all`]; they survive
//!   reconnects, like npm's (the new spark has none open, so it sees plain data until it
//!   opens or accepts them again).

mod client;
mod packet;
mod server;

pub use client::ClientMultiplex;
pub use packet::{PacketError, END_MARKER};
pub use server::{Multiplex, SparkMultiplexExt};

use crate::client::{ClientError, ClientWriter};
use crate::Spark;
use futures_util::{Sink, Stream};
use primus_core::{from_value, to_value, Value, ValueError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// What went wrong with a substream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MultiplexError {
    /// A broken packet, or a name too long to open.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// The connection has its maximum of substreams open.
    #[error("{limit} substreams are already open on this connection: end some, or raise `max_substreams`")]
    TooMany {
        /// [`MultiplexOptions::max_substreams`].
        limit: usize,
    },
    /// A message came for a substream whose queue is full; it was dropped.
    #[error("substream `{name}` has {capacity} unread messages: message dropped (read the substream faster or raise `queue_size`)")]
    QueueFull {
        /// The substream.
        name: String,
        /// [`MultiplexOptions::queue_size`].
        capacity: usize,
    },
    /// The substream has ended (on this side or the peer's).
    #[error("substream `{0}` has ended: open it again with `substream(name)` to write more")]
    Ended(String),
    /// The connection has ended.
    #[error("the connection has ended: substreams need an open connection")]
    Closed,
    /// The payload is the end marker, which cannot travel as data.
    #[error("`substream::end` is the end marker and cannot be written as data: call `end()` to end, or wrap the string")]
    ReservedPayload,
    /// The payload could not be turned into a value.
    #[error("substream payload: {0}")]
    Encode(#[from] ValueError),
    /// Writing to the connection failed.
    #[error("writing on the substream: {0}")]
    Write(String),
}

/// Limits of the multiplexer, per connection (the same for both halves).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MultiplexOptions {
    /// Most substreams open at once on one connection (default 64).
    pub max_substreams: usize,
    /// Longest substream name, in bytes (default 256).
    pub max_name_len: usize,
    /// Most unread messages each substream queues (default 256; at least 1).
    pub queue_size: usize,
}

impl Default for MultiplexOptions {
    fn default() -> Self {
        MultiplexOptions {
            max_substreams: 64,
            max_name_len: 256,
            queue_size: 256,
        }
    }
}

impl MultiplexOptions {
    /// Set the bound on open substreams per connection.
    ///
    /// ```
    /// use primus::plugins::multiplex::MultiplexOptions;
    /// let options = MultiplexOptions::default().max_substreams(8).queue_size(16);
    /// assert_eq!(options.max_substreams, 8);
    /// ```
    pub fn max_substreams(mut self, n: usize) -> Self {
        self.max_substreams = n;
        self
    }
    /// Set the longest accepted name, in bytes.
    pub fn max_name_len(mut self, n: usize) -> Self {
        self.max_name_len = n;
        self
    }
    /// Set each substream's incoming queue bound (0 counts as 1).
    pub fn queue_size(mut self, n: usize) -> Self {
        self.queue_size = n.max(1);
        self
    }
}

/// Where a substream writes: the spark (server) or the client.
#[derive(Clone)]
enum Link {
    Spark(Spark),
    Client(ClientWriter),
}

impl Link {
    fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), MultiplexError> {
        match self {
            Link::Spark(s) => s.write(data).map_err(|e| match e {
                crate::WriteError::Closed => MultiplexError::Closed,
                e => MultiplexError::Write(e.to_string()),
            }),
            Link::Client(c) => c.write(data).map_err(|e| match e {
                ClientError::Closed => MultiplexError::Closed,
                e => MultiplexError::Write(e.to_string()),
            }),
        }
    }
}

/// What a substream needs from the connection's registry when it ends.
trait Registry: Send + Sync {
    fn forget(&self, name: &str, sub: &SubShared);
}

/// The state shared by every handle of one substream.
struct SubShared {
    name: String,
    rx: Mutex<mpsc::Receiver<Value>>,
    ended: AtomicBool,
    registry: Weak<dyn Registry>,
    link: Link,
}

/// One named substream of a connection.
///
/// Clones are the same substream (they share its queue). Read it as a
/// [`Stream`] of [`Value`]s (or with [`next_as`](Self::next_as));
/// write with [`write`](Self::write), [`send`](Self::send) or as a
/// [`Sink`]; [`end`](Self::end) tells the peer.
///
/// ```no_run
/// # async fn demo(spark: primus::Spark) -> Result<(), primus::plugins::multiplex::MultiplexError> {
/// use futures_util::StreamExt;
/// use primus::plugins::multiplex::SparkMultiplexExt;
///
/// let mut chat = spark.substream("chat")?;
/// chat.write(&"hello")?;
/// if let Some(value) = chat.next().await {
///     println!("chat: {value}");
/// }
/// chat.end()?;
/// # Ok(()) }
/// ```
pub struct Substream {
    inner: Arc<SubShared>,
    /// The spark used as a `Sink` (its own reservation state), created on first use.
    sink: Option<Spark>,
}

impl Clone for Substream {
    fn clone(&self) -> Self {
        Substream {
            inner: self.inner.clone(),
            sink: None,
        }
    }
}

impl std::fmt::Debug for Substream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Substream")
            .field("name", &self.inner.name)
            .field("ended", &self.is_ended())
            .finish_non_exhaustive()
    }
}

impl Substream {
    /// The substream's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether it has ended (on either side, or with the connection).
    pub fn is_ended(&self) -> bool {
        self.inner.ended.load(Ordering::Acquire)
    }

    fn payload<T: Serialize + ?Sized>(&self, data: &T) -> Result<Value, MultiplexError> {
        if self.is_ended() {
            return Err(MultiplexError::Ended(self.inner.name.clone()));
        }
        let args = to_value(data)?;
        if args.as_str() == Some(END_MARKER) {
            return Err(MultiplexError::ReservedPayload);
        }
        Ok(args)
    }

    /// Write `data` on the substream without waiting (like `Spark::write` /
    /// `Client::write`: fails when the connection's outgoing queue is full, on the server).
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), MultiplexError> {
        let args = self.payload(data)?;
        self.inner.link.write(&packet::Envelope {
            substream: &self.inner.name,
            args: &args,
        })
    }

    /// Write `data`, waiting for room in the spark's outgoing queue (on the client, the
    /// same as [`write`](Self::write)).
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), MultiplexError> {
        let args = self.payload(data)?;
        let envelope = packet::Envelope {
            substream: &self.inner.name,
            args: &args,
        };
        match &self.inner.link {
            Link::Spark(s) => s.send(&envelope).await.map_err(|e| match e {
                crate::WriteError::Closed => MultiplexError::Closed,
                e => MultiplexError::Write(e.to_string()),
            }),
            link => link.write(&envelope),
        }
    }

    /// End the substream: the peer is told (`substream::end`), the stream ends here once
    /// drained, later writes fail with [`MultiplexError::Ended`]. Ending twice does nothing.
    pub fn end(&self) -> Result<(), MultiplexError> {
        if self.inner.ended.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(registry) = self.inner.registry.upgrade() {
            registry.forget(&self.inner.name, &self.inner);
        }
        self.inner.link.write(&packet::Envelope {
            substream: &self.inner.name,
            args: END_MARKER,
        })
    }

    /// Write a last message, then [`end`](Self::end) (npm's `end(data)`: two frames).
    pub fn end_with<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), MultiplexError> {
        let written = self.write(data);
        self.end()?;
        written
    }

    /// The next value decoded as a `T`; `None` once the substream has ended.
    pub async fn next_as<T: DeserializeOwned>(&mut self) -> Option<Result<T, ValueError>> {
        use futures_util::StreamExt;
        self.next().await.map(from_value)
    }
}

impl Stream for Substream {
    type Item = Value;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        let mut rx = self.inner.rx.lock().unwrap_or_else(|p| p.into_inner());
        rx.poll_recv(cx)
    }
}

/// Writes on the substream: on the server `poll_ready` waits for room in the spark's
/// outgoing queue; `poll_close` ends the substream (not the connection).
impl<T: Serialize> Sink<T> for Substream {
    type Error = MultiplexError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.is_ended() {
            return Poll::Ready(Err(MultiplexError::Ended(self.inner.name.clone())));
        }
        let Link::Spark(spark) = &self.inner.link else {
            return Poll::Ready(Ok(()));
        };
        let spark = spark.clone();
        let sink = self.sink.get_or_insert(spark);
        <Spark as Sink<packet::OwnedEnvelope>>::poll_ready(Pin::new(sink), cx).map_err(
            |e| match e {
                crate::WriteError::Closed => MultiplexError::Closed,
                e => MultiplexError::Write(e.to_string()),
            },
        )
    }

    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let args = self.payload(&item)?;
        let envelope = packet::OwnedEnvelope {
            substream: self.inner.name.clone(),
            args,
        };
        match self.sink.as_mut() {
            Some(sink) => Pin::new(sink).start_send(envelope).map_err(|e| match e {
                crate::WriteError::Closed => MultiplexError::Closed,
                e => MultiplexError::Write(e.to_string()),
            }),
            None => self.inner.link.write(&envelope),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(self.end())
    }
}

type Accept<C> = Arc<dyn Fn(&C, Substream) + Send + Sync>;

/// A substream as the registry knows it: where its messages go, and the substream itself
/// (weakly: dropping every handle forgets it).
struct Entry {
    tx: mpsc::Sender<Value>,
    sub: Weak<SubShared>,
}

impl Entry {
    /// Some handle still reads it.
    fn live(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// One side's substreams of one connection.
struct Core<C> {
    streams: HashMap<String, Entry>,
    accept: Option<Accept<C>>,
    options: MultiplexOptions,
    closed: bool,
}

/// The registry behind a lock, with the operations both halves share.
struct Shared<C>(Mutex<Core<C>>);

impl<C: 'static> Registry for Shared<C> {
    fn forget(&self, name: &str, sub: &SubShared) {
        let mut core = self.lock();
        let mine = core
            .streams
            .get(name)
            .is_some_and(|e| std::ptr::eq(e.sub.as_ptr(), sub));
        if mine {
            core.streams.remove(name);
        }
    }
}

/// Whether a value can be a substream packet at all (cheap pre-check).
fn looks_like_packet(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|o| o.contains_key("substream") && o.contains_key("args"))
}

impl<C: 'static> Shared<C> {
    fn new(options: MultiplexOptions) -> Arc<Self> {
        Arc::new(Shared(Mutex::new(Core {
            streams: HashMap::new(),
            accept: None,
            options,
            closed: false,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, Core<C>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new substream in `core` (limits already checked), with its sender.
    fn create(self: &Arc<Self>, core: &mut Core<C>, name: &str, link: Link) -> Substream {
        let (tx, rx) = mpsc::channel(core.options.queue_size.max(1));
        let registry: Arc<dyn Registry> = self.clone();
        let inner = Arc::new(SubShared {
            name: name.to_string(),
            rx: Mutex::new(rx),
            ended: AtomicBool::new(false),
            registry: Arc::downgrade(&registry),
            link,
        });
        core.streams.insert(
            name.to_string(),
            Entry {
                tx,
                sub: Arc::downgrade(&inner),
            },
        );
        Substream { inner, sink: None }
    }

    /// Room for one more substream, after forgetting dropped ones.
    fn check_room(core: &mut Core<C>) -> Result<(), MultiplexError> {
        core.streams.retain(|_, e| e.live());
        let limit = core.options.max_substreams;
        if core.streams.len() >= limit {
            return Err(MultiplexError::TooMany { limit });
        }
        Ok(())
    }

    /// The substream `name`: the open one, or a new one.
    fn open(
        self: &Arc<Self>,
        name: &str,
        link: impl FnOnce() -> Link,
    ) -> Result<Substream, MultiplexError> {
        let mut core = self.lock();
        if core.closed {
            return Err(MultiplexError::Closed);
        }
        let max = core.options.max_name_len;
        if name.len() > max {
            return Err(PacketError::NameTooLong {
                len: name.len(),
                max,
            }
            .into());
        }
        if let Some(e) = core.streams.get(name) {
            if let (true, Some(inner)) = (e.live(), e.sub.upgrade()) {
                return Ok(Substream { inner, sink: None });
            }
            core.streams.remove(name);
        }
        Self::check_room(&mut core)?;
        Ok(self.create(&mut core, name, link()))
    }

    fn on_substream(&self, handler: Accept<C>) {
        let mut core = self.lock();
        if !core.closed {
            core.accept = Some(handler);
        }
    }

    fn names(&self) -> Vec<String> {
        let core = self.lock();
        let mut names: Vec<String> = core
            .streams
            .iter()
            .filter(|(_, e)| e.live())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// A value from the peer: route it to its substream (`Ok(true)`: consumed) or leave
    /// it to the main stream (`Ok(false)`).
    fn receive(
        self: &Arc<Self>,
        conn: &C,
        value: &mut Value,
        link: impl FnOnce() -> Link,
    ) -> Result<bool, MultiplexError> {
        if !looks_like_packet(value) {
            return Ok(false);
        }
        let mut core = self.lock();
        let (name, end) = match packet::parse(value, core.options.max_name_len) {
            None => return Ok(false),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(h)) => (h.name.to_string(), h.end),
        };
        if core.closed {
            return Ok(false);
        }
        let mut args = || {
            value
                .as_object_mut()
                .and_then(|o| o.get_mut("args"))
                .map(Value::take)
                .unwrap_or(Value::Null)
        };
        if let Some(e) = core.streams.get(&name) {
            if e.live() {
                if end {
                    let entry = core.streams.remove(&name);
                    drop(core);
                    if let Some(inner) = entry.and_then(|e| e.sub.upgrade()) {
                        inner.ended.store(true, Ordering::Release);
                    }
                    return Ok(true);
                }
                let capacity = core.options.queue_size;
                return match e.tx.try_send(args()) {
                    Ok(()) => Ok(true),
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        Err(MultiplexError::QueueFull { name, capacity })
                    }
                    // Dropped just now: forgotten.
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        core.streams.remove(&name);
                        Ok(true)
                    }
                };
            }
            core.streams.remove(&name);
        }
        let Some(accept) = core.accept.clone() else {
            // Like npm: a packet for a substream not open here is ordinary data.
            return Ok(false);
        };
        if end {
            tracing::debug!(substream = %name, "end of a substream that is not open: dropped");
            return Ok(true);
        }
        Self::check_room(&mut core)?;
        let sub = self.create(&mut core, &name, link());
        if let Some(e) = core.streams.get(&name) {
            // A fresh queue has room for one.
            let _ = e.tx.try_send(args());
        }
        drop(core);
        accept(conn, sub);
        Ok(true)
    }

    /// The connection ended: every substream ends (no frames), nothing opens any more.
    fn close_all(&self) {
        let streams = {
            let mut core = self.lock();
            core.closed = true;
            core.accept = None;
            std::mem::take(&mut core.streams)
        };
        for (_, e) in streams {
            if let Some(inner) = e.sub.upgrade() {
                inner.ended.store(true, Ordering::Release);
            }
        }
    }
}
