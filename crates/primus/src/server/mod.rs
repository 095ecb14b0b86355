//! The server: [`Primus`], its sparks, broadcasting and the heartbeat.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use primus::{Options, Primus};
//! let primus = Primus::new(Options::default())?;
//! primus.on_connection(|spark| {
//!     spark.on_data(|spark, msg| {
//!         let _ = spark.write(msg.value()); // echo
//!     });
//! });
//! primus::serve(primus, "127.0.0.1:8080".parse()?).await?;
//! # Ok(()) }
//! ```

pub mod broadcast;
mod heartbeat;
pub(crate) mod id;
pub(crate) mod registry;
pub(crate) mod spark;
mod transform;

pub use broadcast::{Audience, Broadcast};
pub use transform::Transformed;

use crate::error::{BoxError, PrimusError, SparkError, WriteError};
use crate::options::Options;
use crate::transformers::Transformer;
use futures_util::future::BoxFuture;
use futures_util::Stream;
use primus_core::parser::{self, SharedParser};
use registry::{HandlerList, Registry, SparkHandler};
use serde::Serialize;
use spark::SparkConn;
pub use spark::{Message, ReadyState, Spark, SparkInfo};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The version published in `/primus/spec`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

type ConnectionHandler = dyn Fn(Spark) -> BoxFuture<'static, Result<(), BoxError>> + Send + Sync;
type LogHandler = dyn Fn(&LogEvent<'_>) + Send + Sync;
type CloseHandler = dyn Fn() + Send + Sync;

/// What the server reports to `log` handlers (the reference's `log` event).
#[derive(Debug)]
#[non_exhaustive]
pub enum LogEvent<'a> {
    /// A spark had an error.
    Error {
        /// The spark.
        spark: &'a Spark,
        /// The error.
        error: &'a SparkError,
    },
}

/// The body of `GET <pathname>/spec`, with the reference's key order.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Heartbeat interval in ms, or `false`.
    #[serde(serialize_with = "primus_core::protocol::serialize_ms_or_false")]
    pub ping_interval: Option<u64>,
    /// The pathname.
    pub pathname: String,
    /// Our version.
    pub version: String,
    /// Parser name.
    pub parser: String,
    /// Transformer name.
    pub transformer: String,
}

/// How [`Primus::destroy`] ends the server (the reference's `destroy(options)`).
#[derive(Debug, Clone, Copy)]
pub struct DestroyOptions {
    /// Also stop the HTTP listener of a standalone [`crate::Server`] running this Primus
    /// (default `true`, like the reference).
    pub close: bool,
    /// Let clients reconnect (no `primus::server::close`): use when restarting.
    pub reconnect: bool,
    /// Wait this long before destroying (default: no wait).
    pub timeout: Option<Duration>,
}

impl Default for DestroyOptions {
    fn default() -> Self {
        DestroyOptions {
            close: true,
            reconnect: false,
            timeout: None,
        }
    }
}

/// A Primus server: owns `pathname`, tracks sparks, broadcasts.
///
/// Cheap to clone; every clone is the same server. Serve it with [`crate::serve`], or
/// nest it in your own hyper/axum stack with [`Primus::layer`].
#[derive(Clone)]
pub struct Primus {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) options: Options,
    pub(crate) pathname: String,
    pub(crate) parser: SharedParser,
    pub(crate) transformer: Transformer,
    registry: Registry,
    pub(crate) middleware: crate::middleware::Stack,
    pub(crate) transforms: transform::Transforms,
    pub(crate) plugins: crate::plugin::Plugins,
    pub(crate) plugin_events: crate::plugin::PluginEvents,
    pub(crate) plugout_events: crate::plugin::PluginEvents,
    pub(crate) authorizer: std::sync::RwLock<Option<crate::middleware::Authorizer>>,
    connection: HandlerList<ConnectionHandler>,
    disconnection: HandlerList<SparkHandler>,
    close: HandlerList<CloseHandler>,
    log: HandlerList<LogHandler>,
    /// Forwarders of broadcasts (see [`broadcast`]).
    pub(crate) broadcast: HandlerList<broadcast::BroadcastHandler>,
    /// The rooms plugin's member lookup, for [`Primus::deliver`] of room broadcasts.
    pub(crate) room_members: std::sync::RwLock<Option<Arc<broadcast::RoomMembers>>>,
    heartbeat_started: AtomicBool,
    destroyed: AtomicBool,
    /// Flipped to `true` by `destroy({close: true})`; standalone servers watch it.
    pub(crate) shutdown: watch::Sender<bool>,
    heartbeat_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Typed server-wide state for plugins and applications (like a spark's state).
    user_state: Mutex<http::Extensions>,
}

impl fmt::Debug for Primus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Primus")
            .field("pathname", &self.inner.pathname)
            .field("transformer", &self.inner.transformer.name())
            .field("parser", &self.inner.parser.name())
            .field("connected", &self.connected())
            .finish()
    }
}

impl Primus {
    /// Build a server from options. Fails on an unknown transformer or parser name, or
    /// an option we cannot honour, with an error that says what to use instead.
    pub fn new(options: Options) -> Result<Self, PrimusError> {
        let parser = parser::by_name(&options.parser)?;
        Self::with_parser(options, parser)
    }

    /// Build a server with a parser given by value (your own [`crate::Parser`]).
    pub fn with_parser(options: Options, parser: SharedParser) -> Result<Self, PrimusError> {
        if options.compression {
            return Err(PrimusError::CompressionUnsupported);
        }
        if options.max_length == 0 {
            return Err(PrimusError::InvalidOption {
                name: "max_length",
                reason: "must be at least 1 byte".into(),
            });
        }
        if options.ping_interval.is_some_and(|d| d.is_zero()) {
            return Err(PrimusError::InvalidOption {
                name: "ping_interval",
                reason: "use None (false) to turn heartbeats off".into(),
            });
        }
        let transformer = Transformer::by_name(&options.transformer, &options)?;
        // Text-only transformers refuse binary parsers at start, also ones given by value.
        if transformer.text_only() {
            crate::transformers::check_text_parser(transformer.name(), &*parser)?;
        }
        let pathname = options.normalized_pathname();
        let primus = Primus {
            inner: Arc::new(Inner {
                pathname,
                parser,
                transformer,
                options,
                registry: Registry::default(),
                middleware: crate::middleware::Stack::default(),
                transforms: transform::Transforms::default(),
                plugins: Default::default(),
                plugin_events: Default::default(),
                plugout_events: Default::default(),
                authorizer: std::sync::RwLock::new(None),
                connection: HandlerList::default(),
                disconnection: HandlerList::default(),
                close: HandlerList::default(),
                log: HandlerList::default(),
                broadcast: HandlerList::default(),
                room_members: std::sync::RwLock::new(None),
                heartbeat_started: AtomicBool::new(false),
                destroyed: AtomicBool::new(false),
                shutdown: watch::Sender::new(false),
                heartbeat_task: Mutex::new(None),
                user_state: Mutex::new(http::Extensions::new()),
            }),
        };
        crate::middleware::install_builtins(&primus);
        Ok(primus)
    }

    /// The options the server was built with.
    pub fn options(&self) -> &Options {
        &self.inner.options
    }

    /// The pathname the server owns (with its leading `/`).
    pub fn pathname(&self) -> &str {
        &self.inner.pathname
    }

    /// The parser.
    pub fn parser(&self) -> &SharedParser {
        &self.inner.parser
    }

    /// What `GET <pathname>/spec` answers.
    pub fn spec(&self) -> Spec {
        Spec {
            ping_interval: self
                .inner
                .options
                .ping_interval
                .map(|d| d.as_millis() as u64),
            pathname: self.inner.pathname.clone(),
            version: VERSION.to_string(),
            parser: self.inner.parser.name().to_string(),
            transformer: self.inner.transformer.name().to_string(),
        }
    }

    /// Run `f` for every new spark, before its first message is read.
    pub fn on_connection(&self, f: impl Fn(Spark) + Send + Sync + 'static) {
        self.inner.connection.push(Arc::new(move |spark| {
            f(spark);
            Box::pin(async { Ok(()) })
        }));
    }

    /// Run an async listener for every new spark. Listeners run one after another in
    /// registration order; messages that arrive meanwhile are held and delivered after,
    /// in order. An error ends the spark (the reference's `next(err)`).
    pub fn on_connection_async<F, Fut>(&self, f: F)
    where
        F: Fn(Spark) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), BoxError>> + Send + 'static,
    {
        self.inner
            .connection
            .push(Arc::new(move |spark| Box::pin(f(spark))));
    }

    /// Run `f` when a spark ends.
    pub fn on_disconnection(&self, f: impl Fn(&Spark) + Send + Sync + 'static) {
        self.inner.disconnection.push(Arc::new(f));
    }

    /// Run `f` when the server is destroyed.
    pub fn on_close(&self, f: impl Fn() + Send + Sync + 'static) {
        self.inner.close.push(Arc::new(f));
    }

    /// Run `f` for log events (spark errors, …).
    pub fn on_log(&self, f: impl Fn(&LogEvent<'_>) + Send + Sync + 'static) {
        self.inner.log.push(Arc::new(f));
    }

    /// New sparks as a stream. Each call makes a new stream that sees the sparks that
    /// connect from then on. While its buffer (64) is full, new connections wait.
    pub fn connections(&self) -> Connections {
        let (tx, rx) = mpsc::channel(64);
        self.on_connection_async(move |spark| {
            let tx = tx.clone();
            async move {
                // A dropped stream just stops receiving sparks.
                let _ = tx.send(spark).await;
                Ok(())
            }
        });
        Connections { rx }
    }

    /// Whether an event name is one the server emits itself (the reference's
    /// `primus.reserved(evt)`).
    pub fn reserved(event: &str) -> bool {
        primus_core::reserved::server(event)
    }

    /// The spark with this id, if it is connected.
    pub fn spark(&self, id: &str) -> Option<Spark> {
        self.inner.registry.get(id)
    }

    /// How many sparks are connected.
    pub fn connected(&self) -> usize {
        self.inner.registry.len()
    }

    /// Run `f` for every connected spark.
    pub fn for_each(&self, mut f: impl FnMut(&Spark)) {
        for spark in self.inner.registry.snapshot() {
            f(&spark);
        }
    }

    /// Run an async `f` for every connected spark, one after another.
    pub async fn for_each_async<F, Fut>(&self, mut f: F)
    where
        F: FnMut(Spark) -> Fut,
        Fut: Future<Output = ()>,
    {
        for spark in self.inner.registry.snapshot() {
            f(spark).await;
        }
    }

    /// Broadcast a message to every connected spark. The message is encoded once and the
    /// bytes are shared. A spark whose outgoing queue is full is disconnected as too slow
    /// (it can reconnect). Returns how many sparks the message was queued for here; the
    /// [`on_broadcast`](Self::on_broadcast) handlers (a cluster) then take it further.
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<usize, WriteError> {
        let frame = self.inner.shared_frame(data)?;
        let mut sent = 0;
        for spark in self.inner.registry.snapshot() {
            if self.inner.write_one(&spark, frame.as_ref(), data) {
                sent += 1;
            }
        }
        self.inner.forward(Audience::All, frame, data)?;
        Ok(sent)
    }

    /// Broadcast, waiting for room in each spark's queue and running async outgoing
    /// transforms. Returns how many sparks the message was queued for here; the
    /// [`on_broadcast`](Self::on_broadcast) handlers then take it further (servers that
    /// receive it run their sync transforms only).
    pub async fn send_all<T: Serialize + ?Sized>(&self, data: &T) -> Result<usize, WriteError> {
        let transforms = &self.inner.transforms.outgoing;
        let frame = if transforms.is_empty() || self.inner.forwarding() {
            Some(self.inner.parser.encode(&data)?)
        } else {
            None
        };
        let mut sent = 0;
        for spark in self.inner.registry.snapshot() {
            let result = match &frame {
                Some(frame) if transforms.is_empty() => spark.send_frame(frame.clone()).await,
                _ => spark.send(data).await,
            };
            if result.is_ok() {
                sent += 1;
            }
        }
        self.inner.forward(Audience::All, frame, data)?;
        Ok(sent)
    }

    /// End every spark (with `server::close` unless `reconnect`), stop the heartbeat,
    /// stop a standalone server's listener (with `close`), and run the `close` handlers.
    /// New connections are refused from then on. With `timeout`, all this happens that
    /// long from now (in a background task).
    pub fn destroy(&self, opts: DestroyOptions) {
        if let Some(delay) = opts.timeout {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                me.destroy(DestroyOptions {
                    timeout: None,
                    ..opts
                });
            });
            return;
        }
        if self.inner.destroyed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(task) = self
            .inner
            .heartbeat_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
        for spark in self.inner.registry.snapshot() {
            spark.close(opts.reconnect);
        }
        if opts.close {
            self.inner.shutdown.send_replace(true);
        }
        for h in self.inner.close.snapshot().iter() {
            h();
        }
    }

    /// Store a value of type `T` on the server (one per type), returning the previous
    /// one. Plugins keep their server-wide data here (as they keep per-spark data with
    /// [`Spark::set_state`]) and expose it through extension traits.
    pub fn set_state<T: Clone + Send + Sync + 'static>(&self, value: T) -> Option<T> {
        self.inner
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(value)
    }

    /// A copy of the stored `T`, if any (store an `Arc` to share without copying).
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.inner
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get::<T>()
            .cloned()
    }

    /// Remove and return the stored `T`.
    pub fn take_state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.inner
            .user_state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove::<T>()
    }

    /// Whether [`destroy`](Self::destroy) was called.
    pub fn is_destroyed(&self) -> bool {
        self.inner.destroyed.load(Ordering::Acquire)
    }
}

impl Inner {
    /// A broadcast found this spark's queue full: it is too slow, end it.
    pub(crate) fn end_slow(&self, spark: &Spark) {
        let limit = self.options.queue_size;
        spark.shared.finish(
            spark::CloseKind::Code(1008, "outgoing queue full"),
            Some(SparkError::SlowPeer(format!(
                "outgoing queue full ({limit} messages) during a broadcast"
            ))),
        );
    }

    /// A transformer accepted a connection: create the spark and register it.
    pub(crate) fn open_spark(self: &Arc<Self>, info: SparkInfo) -> Result<SparkConn, PrimusError> {
        if self.destroyed.load(Ordering::Acquire) {
            return Err(PrimusError::InvalidOption {
                name: "destroyed",
                reason: "the server was destroyed".into(),
            });
        }
        let id = match &self.options.id_generator {
            Some(f) => f(),
            None => id::nanoid(),
        };
        let conn = Spark::create(self.clone(), id, info);
        self.registry.insert(&conn.spark);
        self.ensure_heartbeat();
        Ok(conn)
    }

    /// Run the connection listeners in order; an error ends the spark.
    pub(crate) async fn run_connection_listeners(&self, spark: &Spark) -> bool {
        for h in self.connection.snapshot().iter() {
            if let Err(e) = h(spark.clone()).await {
                spark
                    .shared
                    .finish(spark::CloseKind::Normal, Some(SparkError::Listener(e)));
                return false;
            }
            if !spark.is_open() {
                return false;
            }
        }
        true
    }

    /// Run the connection listeners in a task of their own, for transports whose
    /// requests go on meanwhile (polls, heartbeats): the receiver turns `true` once they
    /// ran, and incoming messages wait for that.
    #[cfg(any(feature = "engineio", feature = "socketio"))]
    pub(crate) fn spawn_connection_listeners(
        self: &Arc<Self>,
        spark: Spark,
    ) -> watch::Receiver<bool> {
        let (ready_tx, ready) = watch::channel(false);
        let server = self.clone();
        tokio::spawn(async move {
            server.run_connection_listeners(&spark).await;
            let _ = ready_tx.send(true);
        });
        ready
    }

    pub(crate) fn spark_ended(&self, spark: &Spark) {
        self.registry.remove(spark.id());
        for h in self.disconnection.snapshot().iter() {
            h(spark);
        }
    }

    pub(crate) fn log_error(&self, spark: &Spark, error: &SparkError) {
        let ev = LogEvent::Error { spark, error };
        for h in self.log.snapshot().iter() {
            h(&ev);
        }
    }

    fn ensure_heartbeat(self: &Arc<Self>) {
        let Some(interval) = self.options.ping_interval else {
            return;
        };
        if self.heartbeat_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let task = tokio::spawn(heartbeat::run(Arc::downgrade(self), interval));
        *self
            .heartbeat_task
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    pub(crate) fn sparks(&self) -> Vec<Spark> {
        self.registry.snapshot()
    }
}

/// A stream of new sparks, from [`Primus::connections`].
#[derive(Debug)]
pub struct Connections {
    rx: mpsc::Receiver<Spark>,
}

impl Stream for Connections {
    type Item = Spark;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Spark>> {
        self.rx.poll_recv(cx)
    }
}
