//! The Rust client (the reference's `Socket`): connects to any Primus server, ours or the
//! Node one, and keeps the connection alive.
//!
//! - **Reconnects** with the reference's randomised exponential back-off
//!   ([`primus_core::backoff`]); every reconnect is a new server connection (new spark id).
//! - **Heartbeats**: answers the server's `primus::ping::<t>` with `primus::pong::<t>`, and
//!   declares the server gone when no ping arrives within
//!   [`ping_timeout`](ClientOptions::ping_timeout) (`offline`, then a reconnect).
//! - **Buffers** writes made while not connected (at most
//!   [`queue_size`](ClientOptions::queue_size), dropping the oldest) and sends them before
//!   `open` fires.
//! - Is a [`Stream`] of received [`Message`]s and a [`Sink`] of anything `Serialize`; both
//!   survive reconnects and end with the client.
//!
//! # Example
//!
//! ```no_run
//! use futures_util::{SinkExt, StreamExt};
//! use primus::client::{Client, ClientOptions};
//!
//! # async fn demo() -> Result<(), primus::client::ClientError> {
//! let mut client = Client::from_spec("http://localhost:8080", ClientOptions::default()).await?;
//! client.write(&serde_json::json!({ "hello": "world" }))?;
//! client.send("also through the Sink").await?;
//! while let Some(message) = client.next().await {
//!     let text: String = message.decode().unwrap_or_default();
//!     println!("{text}");
//! }
//! # Ok(()) }
//! ```
//!
//! # Events
//!
//! Lifecycle events ([`ClientEvent`]) go out on a bounded `tokio::sync::broadcast` channel:
//! [`Client::events`] gives a receiver. The **first** call returns a receiver that has
//! seen every event since the client was created (so nothing is missed between `new` and
//! the call, within `event_capacity`); later calls see events from then on. A subscriber
//! that falls more than `event_capacity` events behind gets `RecvError::Lagged` and
//! continues with newer events: events never slow the connection down. Messages are not
//! events; read them from the stream.
//!
//! # Differences from the reference
//!
//! - `end()` is final: the client cannot be opened again (build a new one).
//! - Every queue is bounded (`queue_size`, `incoming_capacity`, `event_capacity`).
//! - The default `ping_timeout` is 45 s (the reference's uncompiled default), never
//!   silently "off" as with the reference's `createSocket`; [`Client::from_spec`] derives
//!   it from the server.
//! - A connection error during a reconnect attempt is reported as an `error` event too.

mod driver;
mod error;
mod events;
mod message;
pub(crate) mod net;
mod options;
mod shared;
mod spec;
pub(crate) mod transport;
pub(crate) mod url;

pub use error::ClientError;
pub use events::{Attempt, ClientEvent, ReadyState};
pub use message::Message;
pub use options::{
    ClientOptions, Strategy, TransportOptions, WebSocketOptions, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_EVENT_CAPACITY, DEFAULT_INCOMING_CAPACITY, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_PING_TIMEOUT, DEFAULT_QUEUE_SIZE,
};
pub use primus_core::backoff::Backoff;
pub use spec::{fetch_spec, Spec};

use futures_util::{Sink, Stream};
use primus_core::{protocol, Value};
use serde::Serialize;
use shared::{Shared, Stop};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::{broadcast, mpsc};

/// A Primus client connection (the reference's `Socket` / `Primus` client).
///
/// Create it inside a Tokio runtime; it runs a background task that connects (unless
/// [`manual`](ClientOptions::manual)), reconnects and answers heartbeats until
/// [`end`](Client::end), [`destroy`](Client::destroy), a server `end()`, or recovery gives
/// up. Dropping the client destroys it.
pub struct Client {
    shared: Arc<Shared>,
    incoming: mpsc::Receiver<Message>,
    first_events: Mutex<Option<broadcast::Receiver<ClientEvent>>>,
    url: String,
    options: ClientOptions,
    /// Set by the Sink's `poll_close` once it asked for the end.
    closing: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("ready_state", &self.ready_state())
            .field("queued", &self.shared.queued())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connect to `url` (`http(s)://` or `ws(s)://`; its path is ignored, the pathname comes
    /// from the options; its query string is passed on) with explicit options.
    ///
    /// Returns at once; the connection opens in the background (watch
    /// [`events`](Self::events) for `Open`). Must be called within a Tokio runtime.
    pub fn new(url: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let options = options.validate()?;
        let endpoint = url::Endpoint::parse(url)?;
        let transport = transport::Transport::by_name(&options.transformer)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            ClientError::InvalidOptions("Client::new must be called within a Tokio runtime".into())
        })?;
        let (events, first) = broadcast::channel(options.event_capacity);
        let shared = Arc::new(Shared::new(
            options.queue_size,
            options.parser.clone(),
            events,
        ));
        let (tx, rx) = mpsc::channel(options.incoming_capacity);
        let driver = driver::Driver {
            shared: shared.clone(),
            options: options.clone(),
            endpoint,
            transport,
            incoming: Some(tx),
            closing: false,
        };
        runtime.spawn(driver.run());
        Ok(Client {
            shared,
            incoming: rx,
            first_events: Mutex::new(Some(first)),
            url: url.to_string(),
            options,
            closing: false,
        })
    }

    /// Fetch the server's `<pathname>/spec` (with `options.pathname`, default `/primus`),
    /// configure pathname, parser, transformer and `ping_timeout` (1.5 × the server's ping
    /// interval) from it, and connect.
    pub async fn from_spec(url: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let spec = fetch_spec(url, &options).await?;
        Client::new(url, spec.configure(options)?)
    }

    /// A client for a server built in this process (the reference's `primus.Socket`):
    /// same pathname, transformer and parser (the very same instance, custom ones
    /// included), and `ping_timeout` = `P + round(P/2)` from its `ping_interval`.
    ///
    /// ```no_run
    /// # async fn f(primus: primus::Primus) -> Result<(), primus::client::ClientError> {
    /// use primus::client::{Client, ClientOptions};
    /// let client = Client::from_server(&primus, "http://127.0.0.1:8080", ClientOptions::default())?;
    /// client.write(&"hello")?;
    /// # Ok(()) }
    /// ```
    pub fn from_server(
        primus: &crate::Primus,
        url: &str,
        mut options: ClientOptions,
    ) -> Result<Client, ClientError> {
        options.pathname = primus.pathname().to_string();
        options.parser = primus.parser().clone();
        options.transformer = primus.spec().transformer;
        // Like the library the reference compiles for a server with an authorizer: a
        // refused client should end, not retry forever.
        if primus.has_authorizer() && options.strategy == Strategy::default() {
            options.strategy.timeout = false;
        }
        options.ping_timeout = primus.options().ping_interval.map(|p| {
            std::time::Duration::from_millis(primus_core::protocol::ping_timeout_ms(
                p.as_millis() as u64
            ))
        });
        let client = Client::new(url, options)?;
        for (_, plugin) in primus.inner.plugins.all() {
            plugin.client(&client);
        }
        Ok(client)
    }

    /// Whether an event name is one the client emits itself (the reference's
    /// `primus.reserved(evt)`).
    pub fn reserved(event: &str) -> bool {
        primus_core::reserved::client(event)
    }

    /// Start connecting when [`manual`](ClientOptions::manual) is set. Returns `false` if the
    /// client has already ended. Calling it more than once, or without `manual`, does nothing.
    pub fn open(&self) -> bool {
        self.shared.request_open()
    }

    /// Send a message: outgoing transforms, then the parser, then the connection (or the
    /// queue while not connected; when the queue is full the oldest message is dropped).
    ///
    /// Errors: [`ClientError::Encode`] when the parser cannot represent the value,
    /// [`ClientError::Closed`] when the client has ended. A message dropped by a transform
    /// is not an error.
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), ClientError> {
        self.shared.write(data)
    }

    /// A cheap, clonable handle that writes through this client (for callbacks and
    /// plugins that answer messages). It holds the client weakly: once the client is
    /// dropped, its writes fail with [`ClientError::Closed`].
    pub fn writer(&self) -> ClientWriter {
        ClientWriter {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Ask the server for this connection's spark id (`primus::id::`). Waits for the
    /// connection if it is not open yet. Fails with [`ClientError::Closed`] if the client ends
    /// first.
    pub async fn id(&self) -> Result<String, ClientError> {
        let answer = self.shared.add_id_waiter()?;
        self.shared
            .push(self.shared.encode_protocol(protocol::ID_REQUEST)?)?;
        answer.await.map_err(|_| ClientError::Closed)
    }

    /// Close the connection for good: no reconnect; pending writes are sent first, and
    /// what the server sends until its side of the close (the WebSocket close handshake,
    /// Engine.IO's last poll; at most 2 s) is still delivered to the stream. Emits
    /// `end` (after `readyStateChange` and `close` if a connection was open), then the
    /// stream ends. Use [`closed`](Self::closed) to wait for it.
    pub fn end(&self) {
        self.shared.request_stop(Stop::End);
    }

    /// Write a last message, then [`end`](Self::end).
    pub fn end_with<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), ClientError> {
        let written = self.write(data);
        self.end();
        written
    }

    /// Stop at once: queued writes are discarded, the connection closed, `end` and then
    /// `destroy` emitted. Dropping the client does the same.
    pub fn destroy(&self) {
        self.shared.request_stop(Stop::Destroy);
    }

    /// Wait until the client has ended (its task is gone and the stream is finished).
    pub async fn closed(&self) {
        let mut finished = self.shared.subscribe_finished();
        let _ = finished.wait_for(|done| *done).await;
    }

    /// Whether the client has ended.
    pub fn is_ended(&self) -> bool {
        self.shared.is_finished()
    }

    /// The current connection state.
    pub fn ready_state(&self) -> ReadyState {
        self.shared.ready_state()
    }

    /// Subscribe to lifecycle events (see the [module docs](self#events)).
    pub fn events(&self) -> broadcast::Receiver<ClientEvent> {
        let first = self
            .first_events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        first.unwrap_or_else(|| self.shared.events.subscribe())
    }

    /// Add an incoming transform (the reference's `transform('incoming', fn)`): runs on every
    /// received user message, in the order added; it may change the value, and returning
    /// `false` drops the message. Protocol messages never reach transforms.
    pub fn transform_incoming(
        &self,
        transform: impl Fn(&mut Value) -> bool + Send + Sync + 'static,
    ) {
        self.shared.add_transform(true, Arc::new(transform));
    }

    /// Add an outgoing transform (`transform('outgoing', fn)`): runs on every written value
    /// before encoding; returning `false` drops the message.
    pub fn transform_outgoing(
        &self,
        transform: impl Fn(&mut Value) -> bool + Send + Sync + 'static,
    ) {
        self.shared.add_transform(false, Arc::new(transform));
    }

    /// Messages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.shared.queued()
    }

    /// How many queued messages were dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped()
    }

    /// The URL the client was given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The options in effect (after validation and any spec).
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The task closes the connection and exits; it holds no reference back to us.
        self.shared.request_stop(Stop::Destroy);
    }
}

/// Received messages, across reconnects; ends when the client ends.
impl Stream for Client {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.incoming.poll_recv(cx)
    }
}

/// Outgoing messages. `poll_ready` waits while the queue is full (back-pressure instead of
/// [`write`](Client::write)'s drop-oldest), `poll_flush` waits until everything queued was
/// handed to the connection (so it waits through a reconnect), and `poll_close` flushes,
/// then ends the client and waits for the end.
impl<T: Serialize> Sink<T> for Client {
    type Error = ClientError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.shared.poll_room(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), ClientError> {
        self.write(&item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        self.shared.poll_flushed(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        if !self.closing {
            match self.shared.poll_flushed(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {}
            }
            self.closing = true;
            self.end();
        }
        self.shared.poll_finished(cx).map(Ok)
    }
}

/// Writes through a [`Client`] from elsewhere: see [`Client::writer`].
#[derive(Clone, Debug)]
pub struct ClientWriter {
    shared: std::sync::Weak<Shared>,
}

impl ClientWriter {
    /// Like [`Client::write`].
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), ClientError> {
        self.shared
            .upgrade()
            .ok_or(ClientError::Closed)?
            .write(data)
    }
}
