//! Cluster: many Primus servers behind a load balancer, joined through Redis (the npm
//! `primus-cluster` + `metroplex` ideas, rebuilt on Redis Streams).
//!
//! Add it to every server, after the rooms plugin if you use rooms:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use primus::plugins::cluster::{Cluster, PrimusClusterExt};
//! use primus::plugins::rooms::{PrimusRoomsExt, Rooms};
//! use primus::{Options, Primus};
//!
//! let primus = Primus::new(Options::default())?;
//! primus.plugin("rooms", Rooms::new())?;
//! primus.plugin("cluster", Cluster::new("redis://127.0.0.1:6390").prefix("chat"))?;
//! let cluster = primus.cluster().expect("added above");
//! cluster.ready().await; // registered in Redis
//!
//! // Unchanged application code now reaches every server's sparks:
//! primus.write(&"to everyone, on every node")?;
//! primus.room("news").write(&"to the news room, on every node")?;
//! // A spark on any node, by id.
//! if let Some(found) = cluster.find_spark("some-spark-id").await? {
//!     found.write(&"just for you")?;
//! }
//! # Ok(()) }
//! ```
//!
//! # What goes through Redis
//!
//! Every broadcast made with [`Primus::write`], [`Primus::write_to`], the rooms plugin's
//! `room(..).write` (with `except`), and what builds on them (the emitter's `emit_all`,
//! the omega HTTP broadcast): the server delivers to its own sparks at once, then
//! appends **one** entry to a Redis stream, with the frame its parser encoded (so a
//! message is encoded once on the sender and never again). Every other server reads the
//! stream and delivers the frame to its own sparks (rooms are resolved there, from
//! membership kept in memory: nothing of it lives in Redis, so a Redis restart loses no
//! room). A server skips its own entries, so nobody gets a message twice.
//!
//! # The delivery rule (when Redis goes away)
//!
//! * Local sparks always get a broadcast at once, Redis or not.
//! * Entries for the other servers wait in a bounded **outbox** while Redis is away and
//!   are written, in order, when it is back: the other servers then deliver them,
//!   **late but exactly once** (each entry carries its origin and a sequence number;
//!   a retried write is recognised and skipped).
//! * When the outbox is over its limits ([`Cluster::outbox_limits`]: 10 000 entries,
//!   64 MiB, 60 s by default) the oldest entries are **dropped and reported**: the
//!   `on_undelivered` handlers, a `warn` log, the `dropped` counter, and, for callers who
//!   asked for one, an error from the [`Receipt`] of [`ClusterHandle::write`].
//! * Readers keep a cursor and catch up from it after a reconnect. What they cannot
//!   catch up on (entries trimmed from the stream, a Redis restart without persistence
//!   that lost entries, entries dropped by a sender's outbox) shows as a hole in a
//!   sender's sequence and is reported as a [`Gap`] (the `on_gap` handlers, a `warn`
//!   log, the `gaps` and `missed` counters). Redis losing its data (a restart without
//!   persistence) is reported too, as soon as a server reconnects.
//!   Nothing is lost without one of these reports.
//!
//! # Registry
//!
//! Each server registers itself (an alive key with a short expiry, 6 s by default,
//! refreshed every 2 s) and its sparks. [`ClusterHandle::find_spark`] finds a spark on
//! any server, checking in the same Redis call that the owner is alive, so a dead
//! server's spark is never returned. Survivors remove a dead server's sparks once its
//! key has expired; a server whose registration vanished (a Redis restart) registers
//! its sparks again.
//!
//! # Configuration
//!
//! [`Cluster::new`] takes a `redis://` or `rediss://` (TLS, with rustls) URL;
//! [`Cluster::redis_cluster`] takes the seed URLs of a Redis Cluster. Every key starts
//! with `{prefix}:` (default `primus`): the braces make it a Redis Cluster hash tag, so
//! the plugin's keys live in one slot and its scripts run there.

mod bus;
mod conn;
mod registry;

use crate::error::{BoxError, WriteError};
use crate::plugin::Plugin;
use crate::server::registry::HandlerList;
use crate::server::{Audience, Broadcast};
use crate::{Primus, Spark};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// Default for [`Cluster::prefix`].
pub const DEFAULT_PREFIX: &str = "primus";
/// Default for [`Cluster::heartbeat`].
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);
/// Default for [`Cluster::ttl`].
pub const DEFAULT_TTL: Duration = Duration::from_secs(6);

/// `Shared::ready` bit: this server is registered.
pub(crate) const READY_REGISTERED: u8 = 1;
/// `Shared::ready` bit: the reader follows the stream.
pub(crate) const READY_READING: u8 = 2;

/// Why the cluster could not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A Redis URL could not be parsed.
    #[error("bad Redis URL `{url}`: {reason} (use redis://host:port/ or rediss://host:port/)")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A Redis command failed (Redis is away, or answered with an error). The plugin
    /// reconnects by itself; retry later.
    #[error("Redis command failed: {0} (the cluster reconnects by itself; retry later)")]
    Redis(String),
    /// A broadcast was dropped from the outbox before Redis took it.
    #[error("not delivered to the other servers: {0}")]
    Undelivered(UndeliveredReason),
    /// The plugin is not added (or was removed, or the server was destroyed).
    #[error(
        "the cluster plugin is not running: add it with primus.plugin(\"cluster\", Cluster::new(url))"
    )]
    NotRunning,
}

impl From<redis::RedisError> for ClusterError {
    fn from(e: redis::RedisError) -> Self {
        ClusterError::Redis(e.to_string())
    }
}

/// Why an outbox entry was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UndeliveredReason {
    /// The outbox held more entries or bytes than [`Cluster::outbox_limits`] allows
    /// (Redis was away too long, or cannot keep up).
    #[error("the outbox was full (raise Cluster::outbox_limits, or check Redis)")]
    OutboxFull,
    /// The entry waited longer than the outbox's maximum age.
    #[error("it waited in the outbox longer than its maximum age (Redis was away)")]
    Expired,
    /// The server stopped before Redis took it.
    #[error("the server stopped before Redis was reachable")]
    Stopped,
    /// Redis refused the entry (an error answer, not an outage): see the server's log.
    #[error("Redis refused it (see the warning in the log)")]
    Rejected,
}

/// A broadcast that did not reach the other servers, for `on_undelivered` handlers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Undelivered {
    /// Who it was for.
    pub audience: Audience,
    /// Why it was dropped.
    pub reason: UndeliveredReason,
}

/// Messages from other servers that this server missed, for `on_gap` handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Gap {
    /// The server the messages came from (`None` when unknown: a Redis restart).
    pub origin: Option<String>,
    /// How many were missed (`None` when unknown).
    pub missed: Option<u64>,
    /// What happened.
    pub reason: GapReason,
}

/// What caused a [`Gap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GapReason {
    /// A hole in a server's sequence numbers: entries were trimmed from the stream, lost
    /// in a Redis restart, or dropped from the sender's outbox.
    Sequence,
    /// Redis lost the cluster's keys (a restart without persistence, a flush, a
    /// failover to an empty replica): entries not yet read may be lost; any that were
    /// show up as [`GapReason::Sequence`] gaps once their sender writes again.
    RedisReset,
}

/// Counters of one server's cluster traffic, from [`ClusterHandle::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Whether the stream reader is connected to Redis now.
    pub connected: bool,
    /// Entries this server wrote to Redis.
    pub published: u64,
    /// Entries from other servers read from Redis.
    pub received: u64,
    /// Spark deliveries made for entries from other servers.
    pub delivered: u64,
    /// Entries read twice (a retried write) and skipped.
    pub duplicates: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Entries known to be missed (sum over sequence gaps).
    pub missed: u64,
    /// Entries dropped from this server's outbox.
    pub dropped: u64,
    /// Entries waiting in the outbox now.
    pub outbox: u64,
    /// Times the stream reader reconnected to Redis.
    pub reconnects: u64,
    /// Times Redis was found to have lost the cluster's keys (a restart without
    /// persistence, a flush): see [`GapReason::RedisReset`].
    pub restarts: u64,
}

type GapHandler = dyn Fn(&Gap) + Send + Sync;
type UndeliveredHandler = dyn Fn(&Undelivered) + Send + Sync;

#[derive(Default)]
struct Events {
    gap: HandlerList<GapHandler>,
    undelivered: HandlerList<UndeliveredHandler>,
}

/// Where Redis is, as configured.
#[derive(Debug, Clone)]
enum Urls {
    Single(String),
    Cluster(Vec<String>),
}

/// The cluster plugin: add it with `primus.plugin("cluster", Cluster::new(url))` inside
/// a Tokio runtime; it connects in the background (see [`ClusterHandle::ready`]).
pub struct Cluster {
    urls: Urls,
    prefix: String,
    heartbeat: Duration,
    ttl: Duration,
    retention: Duration,
    max_stream_len: usize,
    limits: bus::Limits,
    reconnect_on_gap: bool,
    events: Arc<Events>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("urls", &self.urls)
            .field("prefix", &self.prefix)
            .field("heartbeat", &self.heartbeat)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// One Redis server: `redis://[user:password@]host:port[/db]`, or `rediss://…` for TLS.
    pub fn new(url: impl Into<String>) -> Self {
        Self::with_urls(Urls::Single(url.into()))
    }

    /// A Redis Cluster, from the URLs of some of its nodes.
    pub fn redis_cluster<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        Self::with_urls(Urls::Cluster(urls.into_iter().map(Into::into).collect()))
    }

    fn with_urls(urls: Urls) -> Self {
        Cluster {
            urls,
            prefix: DEFAULT_PREFIX.to_string(),
            heartbeat: DEFAULT_HEARTBEAT,
            ttl: DEFAULT_TTL,
            retention: Duration::from_secs(120),
            max_stream_len: 100_000,
            limits: bus::Limits::default(),
            reconnect_on_gap: false,
            events: Arc::default(),
        }
    }

    /// The key prefix (default `primus`): keys are `{prefix}:…`. Servers with the same
    /// prefix on the same Redis form one cluster.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often a server refreshes its registration (default 2 s, at least 50 ms).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(50));
        self
    }

    /// How long a registration lives without a refresh (default 6 s; at least twice the
    /// heartbeat). A dead server's sparks disappear from the registry within about this
    /// plus one heartbeat.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How long entries stay in the stream for readers to catch up on (default 120 s),
    /// and at most how many it keeps (default 100 000; trimmed approximately).
    pub fn retention(mut self, window: Duration, max_entries: usize) -> Self {
        self.retention = window.max(Duration::from_secs(1));
        self.max_stream_len = max_entries.max(100);
        self
    }

    /// The outbox's limits while Redis is away: entries, bytes, and age (defaults
    /// 10 000, 64 MiB, 60 s). Past them the oldest entries are dropped and reported.
    pub fn outbox_limits(mut self, entries: usize, bytes: usize, max_age: Duration) -> Self {
        self.limits = bus::Limits {
            entries: entries.max(1),
            bytes: bytes.max(1),
            max_age,
        };
        self
    }

    /// When this server finds it missed messages from others (a [`Gap`]), also end every
    /// local spark **with reconnect**, so that clients come back and load their state
    /// afresh instead of running on with a hole in it (off by default: gaps are reported
    /// only). Clients reconnect by themselves (the official client does).
    pub fn reconnect_on_gap(mut self, on: bool) -> Self {
        self.reconnect_on_gap = on;
        self
    }

    /// Call `f` when this server finds it missed messages from others (see [`Gap`]).
    pub fn on_gap(self, f: impl Fn(&Gap) + Send + Sync + 'static) -> Self {
        self.events.gap.push(Arc::new(f));
        self
    }

    /// Call `f` when a broadcast made here is dropped before Redis took it.
    pub fn on_undelivered(self, f: impl Fn(&Undelivered) + Send + Sync + 'static) -> Self {
        self.events.undelivered.push(Arc::new(f));
        self
    }

    fn target(&self) -> Result<conn::Target, ClusterError> {
        let bad = |url: &str, e: redis::RedisError| ClusterError::BadUrl {
            url: url.to_string(),
            reason: e.to_string(),
        };
        match &self.urls {
            Urls::Single(url) => conn::Target::single(url).map_err(|e| bad(url, e)),
            Urls::Cluster(urls) if urls.is_empty() => Err(ClusterError::BadUrl {
                url: String::new(),
                reason: "a Redis Cluster needs at least one node URL".into(),
            }),
            Urls::Cluster(urls) => conn::Target::cluster(urls).map_err(|e| bad(&urls.join(","), e)),
        }
    }
}

/// The keys of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    /// `{prefix}:` (with the hash tag).
    base: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Keys {
            base: format!("{{{prefix}}}:"),
        }
    }
    /// The cluster's epoch (see the reader).
    pub(crate) fn epoch(&self) -> String {
        format!("{}epoch", self.base)
    }
    /// The broadcast stream.
    pub(crate) fn bus(&self) -> String {
        format!("{}bus", self.base)
    }
    /// A server's alive key.
    pub(crate) fn node(&self, id: &str) -> String {
        format!("{}node:{id}", self.base)
    }
    /// The prefix of alive keys (scripts append the id).
    pub(crate) fn node_prefix(&self) -> String {
        format!("{}node:", self.base)
    }
    /// A server's set of spark ids.
    pub(crate) fn node_sparks(&self, id: &str) -> String {
        format!("{}node:{id}:sparks", self.base)
    }
    /// Servers by last heartbeat (a sorted set).
    pub(crate) fn nodes(&self) -> String {
        format!("{}nodes", self.base)
    }
    /// Spark id → server id (a hash).
    pub(crate) fn sparks(&self) -> String {
        format!("{}sparks", self.base)
    }
}

/// Counters, shared by the tasks.
#[derive(Default)]
pub(crate) struct Counters {
    connected: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    delivered: AtomicU64,
    duplicates: AtomicU64,
    gaps: AtomicU64,
    missed: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
    restarts: AtomicU64,
}

/// What the plugin's tasks share.
pub(crate) struct Shared {
    pub(crate) node_id: String,
    pub(crate) keys: Keys,
    pub(crate) primus: std::sync::Weak<crate::server::Inner>,
    pub(crate) outbox: bus::Outbox,
    pub(crate) counters: Counters,
    events: Arc<Events>,
    pub(crate) registry: registry::Pending,
    pub(crate) heartbeat: Duration,
    pub(crate) ttl: Duration,
    pub(crate) retention: Duration,
    pub(crate) max_stream_len: usize,
    reconnect_on_gap: bool,
    /// [`READY_REGISTERED`] and [`READY_READING`] bits, set as they become true.
    pub(crate) ready: watch::Sender<u8>,
    /// Flipped to `true` to stop the tasks.
    pub(crate) stop: watch::Sender<bool>,
    /// A command connection for lookups, once the registry task has one.
    pub(crate) lookups: Mutex<Option<conn::Conn>>,
    /// Cleared by `plugout` or `destroy`.
    active: AtomicBool,
}

impl Shared {
    pub(crate) fn primus(&self) -> Option<Primus> {
        self.primus.upgrade().map(|inner| Primus { inner })
    }

    pub(crate) fn report_gap(&self, gap: Gap) {
        self.counters.gaps.fetch_add(1, Ordering::Relaxed);
        if let Some(n) = gap.missed {
            self.counters.missed.fetch_add(n, Ordering::Relaxed);
        }
        tracing::warn!(origin = ?gap.origin, missed = ?gap.missed, reason = ?gap.reason,
            "cluster: messages from other servers were missed");
        for h in self.events.gap.snapshot().iter() {
            h(&gap);
        }
        if self.reconnect_on_gap {
            if let Some(primus) = self.primus() {
                let mut n = 0;
                primus.for_each(|spark| {
                    spark.close(true);
                    n += 1;
                });
                tracing::warn!(
                    sparks = n,
                    "cluster: ended local sparks with reconnect after a gap"
                );
            }
        }
    }

    pub(crate) fn report_undelivered(&self, audience: Audience, reason: UndeliveredReason) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            ?reason,
            "cluster: a broadcast did not reach the other servers"
        );
        let u = Undelivered { audience, reason };
        for h in self.events.undelivered.snapshot().iter() {
            h(&u);
        }
    }

    fn stop(&self) {
        if self.active.swap(false, Ordering::AcqRel) {
            self.stop.send_replace(true);
        }
    }
}

#[derive(Clone)]
struct Handle(Arc<Shared>);

impl Plugin for Cluster {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        if primus.state::<Handle>().is_some() {
            return Err("the cluster plugin is already added to this server".into());
        }
        if self.ttl < self.heartbeat * 2 {
            return Err(format!(
                "the cluster ttl ({:?}) must be at least twice the heartbeat ({:?})",
                self.ttl, self.heartbeat
            )
            .into());
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            "the cluster plugin starts background tasks: add it inside a Tokio runtime"
        })?;
        let target = self.target()?;
        let node_id = format!("{:032x}", rand::random::<u128>());
        let shared = Arc::new(Shared {
            node_id,
            keys: Keys::new(&self.prefix),
            primus: Arc::downgrade(&primus.inner),
            outbox: bus::Outbox::new(self.limits),
            counters: Counters::default(),
            events: self.events.clone(),
            registry: registry::Pending::default(),
            heartbeat: self.heartbeat,
            ttl: self.ttl,
            retention: self.retention,
            max_stream_len: self.max_stream_len,
            reconnect_on_gap: self.reconnect_on_gap,
            ready: watch::Sender::new(0),
            stop: watch::Sender::new(false),
            lookups: Mutex::new(None),
            active: AtomicBool::new(true),
        });
        primus.set_state(Handle(shared.clone()));

        // Broadcasts made here go to the outbox (after local delivery, by the core).
        let weak = Arc::downgrade(&shared);
        primus.on_broadcast(move |b: &Broadcast| {
            if let Some(shared) = weak.upgrade() {
                if shared.active.load(Ordering::Acquire) {
                    shared.outbox.push(&shared, b, None, None);
                }
            }
        });
        // Sparks are registered as they come and go (in the background, coalesced).
        let weak = Arc::downgrade(&shared);
        primus.on_connection(move |spark| {
            if let Some(shared) = weak.upgrade() {
                shared.registry.add(spark.id());
            }
        });
        let weak = Arc::downgrade(&shared);
        primus.on_disconnection(move |spark| {
            if let Some(shared) = weak.upgrade() {
                shared.registry.remove(spark.id());
            }
        });
        let weak = Arc::downgrade(&shared);
        primus.on_close(move || {
            if let Some(shared) = weak.upgrade() {
                shared.stop();
            }
        });

        runtime.spawn(registry::run(shared.clone(), target.clone()));
        runtime.spawn(bus::publish(shared.clone(), target.clone()));
        runtime.spawn(bus::read(shared, target));
        Ok(())
    }

    fn unplug(&self, primus: &Primus) {
        if let Some(Handle(shared)) = primus.take_state::<Handle>() {
            shared.stop();
        }
    }
}

/// The cluster API of a server (needs the [`Cluster`] plugin).
pub trait PrimusClusterExt {
    /// The running cluster plugin, if it is added.
    fn cluster(&self) -> Option<ClusterHandle>;
}

impl PrimusClusterExt for Primus {
    fn cluster(&self) -> Option<ClusterHandle> {
        self.state::<Handle>().map(|h| ClusterHandle(h.0))
    }
}

/// The running cluster plugin of one server, from [`PrimusClusterExt::cluster`].
#[derive(Clone)]
pub struct ClusterHandle(Arc<Shared>);

impl std::fmt::Debug for ClusterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterHandle")
            .field("node_id", &self.0.node_id)
            .finish_non_exhaustive()
    }
}

impl ClusterHandle {
    /// This server's id in the cluster (128 random bits, in hex; new at every start).
    pub fn node_id(&self) -> &str {
        &self.0.node_id
    }

    /// Wait until this server is registered in Redis and follows the stream (at once
    /// when it does). Sparks that connect before are registered right after; broadcasts
    /// made before wait in the outbox, and broadcasts other servers make before are not
    /// seen here.
    pub async fn ready(&self) {
        let mut rx = self.0.ready.subscribe();
        let _ = rx
            .wait_for(|r| *r == READY_REGISTERED | READY_READING)
            .await;
    }

    /// The counters of this server's cluster traffic.
    pub fn stats(&self) -> ClusterStats {
        let c = &self.0.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClusterStats {
            connected: c.connected.load(Ordering::Relaxed),
            published: get(&c.published),
            received: get(&c.received),
            delivered: get(&c.delivered),
            duplicates: get(&c.duplicates),
            gaps: get(&c.gaps),
            missed: get(&c.missed),
            dropped: get(&c.dropped),
            outbox: self.0.outbox.len() as u64,
            reconnects: get(&c.reconnects),
            restarts: get(&c.restarts),
        }
    }

    /// Broadcast to every spark of every server, like [`Primus::write`], and get a
    /// [`Receipt`] that tells whether Redis took it for the other servers. Returns how
    /// many local sparks it was queued for.
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(usize, Receipt), WriteError> {
        let primus = self.0.primus().ok_or(WriteError::Closed)?;
        let frame = primus.parser().encode(&data)?;
        let b = Broadcast::new(Audience::All, frame);
        let sent = primus.deliver(&b)?;
        Ok((sent, self.publish(&b)))
    }

    /// Send an already delivered broadcast to the other servers (no local delivery).
    pub fn publish(&self, broadcast: &Broadcast) -> Receipt {
        let (tx, rx) = oneshot::channel();
        if !self.0.active.load(Ordering::Acquire) {
            let _ = tx.send(Err(ClusterError::NotRunning));
        } else {
            self.0.outbox.push(&self.0, broadcast, None, Some(tx));
        }
        Receipt(rx)
    }

    /// Find a spark on any server: this one's first, then the registry (which only
    /// answers for servers that are alive). `Ok(None)` when no live server has it.
    pub async fn find_spark(&self, id: &str) -> Result<Option<FoundSpark>, ClusterError> {
        let primus = self.0.primus().ok_or(ClusterError::NotRunning)?;
        if let Some(spark) = primus.spark(id) {
            return Ok(Some(FoundSpark::Local(spark)));
        }
        Ok(self.locate(id).await?.map(|node| {
            FoundSpark::Remote(RemoteSpark {
                id: id.to_string(),
                node,
                cluster: self.clone(),
            })
        }))
    }

    /// The id of the live server that holds a spark, from the registry.
    pub async fn locate(&self, id: &str) -> Result<Option<String>, ClusterError> {
        registry::locate(&self.0, id).await
    }

    /// The ids of the live servers (this one included once it is registered).
    pub async fn nodes(&self) -> Result<Vec<String>, ClusterError> {
        registry::nodes(&self.0).await
    }
}

/// A spark found by [`ClusterHandle::find_spark`].
#[derive(Debug, Clone)]
pub enum FoundSpark {
    /// On this server.
    Local(Spark),
    /// On another server.
    Remote(RemoteSpark),
}

impl FoundSpark {
    /// The spark id.
    pub fn id(&self) -> &str {
        match self {
            FoundSpark::Local(s) => s.id(),
            FoundSpark::Remote(r) => &r.id,
        }
    }

    /// Write to it wherever it is (see [`RemoteSpark::write`] for the remote case).
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), WriteError> {
        match self {
            FoundSpark::Local(s) => s.write(data),
            FoundSpark::Remote(r) => r.write(data).map(|_| ()),
        }
    }
}

/// A spark on another server of the cluster.
#[derive(Clone)]
pub struct RemoteSpark {
    id: String,
    node: String,
    cluster: ClusterHandle,
}

impl std::fmt::Debug for RemoteSpark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSpark")
            .field("id", &self.id)
            .field("node", &self.node)
            .finish()
    }
}

impl RemoteSpark {
    /// The spark id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id of the server that holds it.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Write to it: the message is encoded here and routed to its server, which queues
    /// it like [`Spark::write`] (running its outgoing transforms). The [`Receipt`] says
    /// whether Redis took it; whether the spark was still connected is not reported.
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<Receipt, WriteError> {
        let shared = &self.cluster.0;
        let primus = shared.primus().ok_or(WriteError::Closed)?;
        let frame = primus.parser().encode(&data)?;
        let b = Broadcast::new(Audience::Sparks(vec![self.id.clone()]), frame);
        let (tx, rx) = oneshot::channel();
        shared
            .outbox
            .push(shared, &b, Some(self.node.clone()), Some(tx));
        Ok(Receipt(rx))
    }
}

/// Whether Redis took a broadcast for the other servers: a future that resolves to
/// `Ok(())` once it did, or to [`ClusterError::Undelivered`] when it was dropped. Dropping
/// the receipt does not cancel anything.
#[derive(Debug)]
#[must_use = "a receipt does nothing unless awaited; drop it if you don't need the outcome"]
pub struct Receipt(oneshot::Receiver<Result<(), ClusterError>>);

impl Future for Receipt {
    type Output = Result<(), ClusterError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClusterError::Undelivered(UndeliveredReason::Stopped))))
    }
}
