//! Rooms: named groups of sparks to broadcast to (the npm `primus-rooms` 3.4.3 plugin).
//!
//! Server only: it has no client half and no wire format of its own. A room broadcast
//! sends each chosen spark exactly what [`Spark::write`] would, so any client (the
//! official JavaScript one included) needs nothing extra. Clients ask to join through
//! ordinary application messages, which your data handler answers with
//! [`SparkRoomsExt::join`].
//!
//! ```
//! use primus::plugins::rooms::{PrimusRoomsExt, Rooms, SparkRoomsExt};
//! use primus::{Options, Primus};
//!
//! let primus = Primus::new(Options::default()).unwrap();
//! primus
//!     .plugin("rooms", Rooms::new().max_rooms_per_spark(100))
//!     .unwrap();
//! primus.on_join_room(|spark, room| println!("{} joined {room}", spark.id())).unwrap();
//! primus.on_connection(|spark| {
//!     spark.on_data(|spark, msg| {
//!         // The client writes e.g. "join news sport": two rooms.
//!         if let Some(rooms) = msg.value().as_str().and_then(|t| t.strip_prefix("join ")) {
//!             match spark.join(rooms) {
//!                 Ok(()) => {
//!                     let _ = spark.room(rooms).except(spark.id()).write(&"someone joined");
//!                 }
//!                 Err(e) => {
//!                     let _ = spark.write(&e.to_string());
//!                 }
//!             }
//!         }
//!     });
//! });
//! // Nobody is connected yet: the broadcast reaches no one.
//! assert_eq!(primus.room("news").write(&"hello").unwrap(), 0);
//! assert!(primus.rooms().is_empty());
//! ```
//!
//! # Semantics (and where they differ from the npm plugin)
//!
//! * Room arguments ([`IntoRooms`]): a string is split on whitespace (`"a b"` is two
//!   rooms); slices, arrays and `Vec`s are used as they are. Duplicates are removed.
//! * A broadcast reaches each spark at most once, however many of the rooms it is in,
//!   and is encoded once (the frame is shared), like [`Primus::write`]. A spark whose
//!   outgoing queue is full is ended as too slow, as [`Primus::write`] does.
//! * `spark.room(r).write(..)` includes the spark itself (as in npm); use
//!   `.except(spark.id())` to leave it out.
//! * A broadcast to **no room** (an empty list) reaches **no one** and returns `Ok(0)`.
//!   npm sends it to every spark that is in at least one room; for that, write
//!   `primus.room(primus.rooms())`.
//! * Limits (npm has none): a spark can be in at most `max_rooms_per_spark` rooms
//!   ([`RoomsError::TooManyRooms`]; a join is all or nothing), and a room name must be
//!   non-blank and at most `max_room_name_length` bytes.
//! * Sparks leave all their rooms when they end (after their own `end` handlers, so
//!   those still see [`SparkRoomsExt::rooms`]); `leave_all_rooms` fires then.
//! * Events (npm `joinroom`, `leaveroom`, `leaveallrooms`, `roomserror`): register them
//!   on the plugin ([`Rooms::on_join_room`], …) or on the server
//!   ([`PrimusRoomsExt::on_join_room`], …); each gets the spark. `join_room` and
//!   `leave_room` fire once per room that really changed; `rooms_error` fires when a
//!   spark's join is refused (the same error is returned).
//! * Wildcard rooms (`user:*` receives what is sent to `user:42`) are opt-in
//!   ([`Rooms::wildcards`]); npm has them on by default. `wildDelete` is not ported.
//! * Not ported: per-broadcast `.transform(fn)` (use the server's outgoing transforms),
//!   and callbacks (Rust calls return their result).

mod adapter;

pub use adapter::{glob_match, MemoryAdapter, RoomsAdapter};

use crate::error::{BoxError, WriteError};
use crate::plugin::Plugin;
use crate::server::registry::HandlerList;
use crate::server::Audience;
use crate::{Primus, Spark};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Default for [`Rooms::max_rooms_per_spark`].
pub const DEFAULT_MAX_ROOMS_PER_SPARK: usize = 1000;
/// Default for [`Rooms::max_room_name_length`] (bytes).
pub const DEFAULT_MAX_ROOM_NAME_LENGTH: usize = 256;

/// Why a rooms call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomsError {
    /// Joining would put the spark in more rooms than allowed; it joined none of them.
    #[error(
        "a spark may be in at most {limit} rooms: raise `max_rooms_per_spark` \
         (Rooms::new().max_rooms_per_spark(n)) to allow more"
    )]
    TooManyRooms {
        /// The configured `max_rooms_per_spark`.
        limit: usize,
    },
    /// A room name was empty or only whitespace.
    #[error("room names must not be empty")]
    EmptyRoomName,
    /// A room name was longer than allowed.
    #[error(
        "a room name of {len} bytes is longer than {limit}: raise `max_room_name_length` \
         (Rooms::new().max_room_name_length(n)) to allow longer names"
    )]
    RoomNameTooLong {
        /// The name's length in bytes.
        len: usize,
        /// The configured `max_room_name_length`.
        limit: usize,
    },
    /// The spark has ended (npm: `Spark is closed`).
    #[error("Spark is closed")]
    SparkClosed,
    /// The plugin is not added to this server.
    #[error("the rooms plugin is not added: call primus.plugin(\"rooms\", Rooms::new()) first")]
    NotInstalled,
}

/// Room names, the way the rooms calls take them: a string holding one or more names
/// separated by whitespace, or a list of names used as they are.
pub trait IntoRooms {
    /// The names, without duplicates, in order of first appearance.
    fn into_rooms(self) -> Vec<String>;
}

fn dedup(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for n in names {
        if seen.insert(n.clone()) {
            out.push(n);
        }
    }
    out
}

fn split(s: &str) -> Vec<String> {
    let parts: Vec<String> = s.split_whitespace().map(str::to_string).collect();
    if parts.is_empty() {
        // Keep the (blank) name so that joining it is refused, not silently ignored.
        return vec![s.to_string()];
    }
    dedup(parts)
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<String> {
        split(self)
    }
}
impl IntoRooms for String {
    fn into_rooms(self) -> Vec<String> {
        split(&self)
    }
}
impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<String> {
        split(self)
    }
}
impl IntoRooms for &[&str] {
    fn into_rooms(self) -> Vec<String> {
        dedup(self.iter().map(|s| s.to_string()))
    }
}
impl IntoRooms for &[String] {
    fn into_rooms(self) -> Vec<String> {
        dedup(self.iter().cloned())
    }
}
impl IntoRooms for &Vec<String> {
    fn into_rooms(self) -> Vec<String> {
        dedup(self.iter().cloned())
    }
}
impl IntoRooms for Vec<String> {
    fn into_rooms(self) -> Vec<String> {
        dedup(self)
    }
}
impl IntoRooms for Vec<&str> {
    fn into_rooms(self) -> Vec<String> {
        dedup(self.into_iter().map(str::to_string))
    }
}
impl<const N: usize> IntoRooms for [&str; N] {
    fn into_rooms(self) -> Vec<String> {
        dedup(self.into_iter().map(str::to_string))
    }
}

/// Spark ids, the way [`RoomTarget::except`] and [`PrimusRoomsExt::join`] take them:
/// one id (a string is one id, never split), a spark, or a list of either.
pub trait SparkIds {
    /// The ids.
    fn into_ids(self) -> Vec<String>;
}
impl SparkIds for &str {
    fn into_ids(self) -> Vec<String> {
        vec![self.to_string()]
    }
}
impl SparkIds for String {
    fn into_ids(self) -> Vec<String> {
        vec![self]
    }
}
impl SparkIds for &String {
    fn into_ids(self) -> Vec<String> {
        vec![self.clone()]
    }
}
impl SparkIds for &Spark {
    fn into_ids(self) -> Vec<String> {
        vec![self.id().to_string()]
    }
}
impl SparkIds for &[&str] {
    fn into_ids(self) -> Vec<String> {
        self.iter().map(|s| s.to_string()).collect()
    }
}
impl SparkIds for &[String] {
    fn into_ids(self) -> Vec<String> {
        self.to_vec()
    }
}
impl SparkIds for Vec<String> {
    fn into_ids(self) -> Vec<String> {
        self
    }
}
impl SparkIds for Vec<&str> {
    fn into_ids(self) -> Vec<String> {
        self.into_iter().map(str::to_string).collect()
    }
}
impl<const N: usize> SparkIds for [&str; N] {
    fn into_ids(self) -> Vec<String> {
        self.into_iter().map(str::to_string).collect()
    }
}
impl SparkIds for &[Spark] {
    fn into_ids(self) -> Vec<String> {
        self.iter().map(|s| s.id().to_string()).collect()
    }
}

type RoomHandler = dyn Fn(&Spark, &str) + Send + Sync;
type AllRoomsHandler = dyn Fn(&Spark, &[String]) + Send + Sync;
type ErrorHandler = dyn Fn(&Spark, &RoomsError) + Send + Sync;

/// The room event handlers (shared by the plugin value and the running plugin).
#[derive(Default)]
struct Events {
    join: HandlerList<RoomHandler>,
    leave: HandlerList<RoomHandler>,
    leave_all: HandlerList<AllRoomsHandler>,
    error: HandlerList<ErrorHandler>,
}

/// The rooms plugin. Add it with `primus.plugin("rooms", Rooms::new())`, then use
/// [`SparkRoomsExt`] and [`PrimusRoomsExt`].
pub struct Rooms {
    wildcards: bool,
    max_rooms_per_spark: usize,
    max_room_name_length: usize,
    adapter: Arc<dyn RoomsAdapter>,
    events: Arc<Events>,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms {
            wildcards: false,
            max_rooms_per_spark: DEFAULT_MAX_ROOMS_PER_SPARK,
            max_room_name_length: DEFAULT_MAX_ROOM_NAME_LENGTH,
            adapter: Arc::new(MemoryAdapter::new()),
            events: Arc::default(),
        }
    }
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms")
            .field("max_rooms_per_spark", &self.max_rooms_per_spark)
            .field("max_room_name_length", &self.max_room_name_length)
            .finish_non_exhaustive()
    }
}

impl Rooms {
    /// The plugin with the defaults: [`MemoryAdapter`], at most
    /// [`DEFAULT_MAX_ROOMS_PER_SPARK`] rooms per spark, names of at most
    /// [`DEFAULT_MAX_ROOM_NAME_LENGTH`] bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many rooms one spark may be in (a join past it is refused with
    /// [`RoomsError::TooManyRooms`]). At least 1.
    pub fn max_rooms_per_spark(mut self, limit: usize) -> Self {
        self.max_rooms_per_spark = limit.max(1);
        self
    }

    /// The longest room name accepted, in bytes. At least 1.
    pub fn max_room_name_length(mut self, limit: usize) -> Self {
        self.max_room_name_length = limit.max(1);
        self
    }

    /// Wildcard rooms (npm's `wildcard` option, on there by default, **off** here): a
    /// room whose name holds `*` is also a pattern, and a broadcast to room `R` also
    /// reaches the members of every pattern room matching `R` ([`glob_match`]): a spark in
    /// `user:*` gets what is sent to `user:42`. Off by default because, with room names
    /// coming from clients, joining `*` would mean receiving every room's traffic; when
    /// you turn it on, check the names clients may join.
    pub fn wildcards(mut self, on: bool) -> Self {
        self.wildcards = on;
        self
    }

    /// Keep memberships in `adapter` instead of the default [`MemoryAdapter`].
    pub fn adapter(mut self, adapter: impl RoomsAdapter) -> Self {
        self.adapter = Arc::new(adapter);
        self
    }

    /// Call `f(spark, room)` for each room a spark joins (npm `joinroom`).
    pub fn on_join_room(self, f: impl Fn(&Spark, &str) + Send + Sync + 'static) -> Self {
        self.events.join.push(Arc::new(f));
        self
    }

    /// Call `f(spark, room)` for each room a spark leaves with `leave` (npm `leaveroom`).
    pub fn on_leave_room(self, f: impl Fn(&Spark, &str) + Send + Sync + 'static) -> Self {
        self.events.leave.push(Arc::new(f));
        self
    }

    /// Call `f(spark, rooms)` when a spark leaves all its rooms, with `leave_all` or by
    /// ending (npm `leaveallrooms`). Not called when it was in no room.
    pub fn on_leave_all_rooms(self, f: impl Fn(&Spark, &[String]) + Send + Sync + 'static) -> Self {
        self.events.leave_all.push(Arc::new(f));
        self
    }

    /// Call `f(spark, error)` when a spark's join is refused (npm `roomserror`).
    pub fn on_rooms_error(self, f: impl Fn(&Spark, &RoomsError) + Send + Sync + 'static) -> Self {
        self.events.error.push(Arc::new(f));
        self
    }
}

/// The running plugin of one server, found through the server's state.
struct Shared {
    wildcards: bool,
    max_rooms_per_spark: usize,
    max_room_name_length: usize,
    adapter: Arc<dyn RoomsAdapter>,
    events: Arc<Events>,
    /// Cleared by `plugout`: the disconnection handler (which cannot be removed) stops.
    active: AtomicBool,
}

#[derive(Clone)]
struct Handle(Arc<Shared>);

fn shared_of(primus: &Primus) -> Option<Arc<Shared>> {
    primus.state::<Handle>().map(|h| h.0)
}

impl Plugin for Rooms {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        if shared_of(primus).is_some() {
            return Err(
                "the rooms plugin is already added to this server (under another name)".into(),
            );
        }
        let shared = Arc::new(Shared {
            wildcards: self.wildcards,
            max_rooms_per_spark: self.max_rooms_per_spark,
            max_room_name_length: self.max_room_name_length,
            adapter: self.adapter.clone(),
            events: self.events.clone(),
            active: AtomicBool::new(true),
        });
        primus.set_state(Handle(shared.clone()));
        // Room broadcasts made on other servers are delivered here by member lookup.
        let weak = Arc::downgrade(&shared);
        *primus
            .inner
            .room_members
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(move |rooms, except| {
            weak.upgrade().map_or_else(Vec::new, |s| {
                s.adapter.members_of_any(rooms, except, s.wildcards)
            })
        }));
        // Leave every room when a spark ends (runs after the spark's own end handlers).
        let weak = Arc::downgrade(&shared);
        primus.on_disconnection(move |spark| {
            if let Some(shared) = weak.upgrade() {
                if shared.active.load(Ordering::Acquire) {
                    shared.leave_all(spark);
                }
            }
        });
        Ok(())
    }

    fn unplug(&self, primus: &Primus) {
        if let Some(Handle(shared)) = primus.take_state::<Handle>() {
            shared.active.store(false, Ordering::Release);
            *primus
                .inner
                .room_members
                .write()
                .unwrap_or_else(|p| p.into_inner()) = None;
            primus.for_each(|spark| {
                shared.adapter.del_all(spark.id());
            });
        }
    }
}

impl Shared {
    fn validate(&self, rooms: &[String]) -> Result<(), RoomsError> {
        for room in rooms {
            if room.trim().is_empty() {
                return Err(RoomsError::EmptyRoomName);
            }
            if room.len() > self.max_room_name_length {
                return Err(RoomsError::RoomNameTooLong {
                    len: room.len(),
                    limit: self.max_room_name_length,
                });
            }
        }
        Ok(())
    }

    fn join(&self, spark: &Spark, rooms: &[String]) -> Result<(), RoomsError> {
        let result = self.try_join(spark, rooms);
        if let Err(e) = &result {
            for h in self.events.error.snapshot().iter() {
                h(spark, e);
            }
        }
        result
    }

    fn try_join(&self, spark: &Spark, rooms: &[String]) -> Result<(), RoomsError> {
        if !spark.is_open() {
            return Err(RoomsError::SparkClosed);
        }
        self.validate(rooms)?;
        let joined = self
            .adapter
            .add(spark.id(), rooms, self.max_rooms_per_spark)?;
        if !spark.is_open() {
            // It ended while joining; its end-time cleanup may already have run.
            self.adapter.del_all(spark.id());
            return Err(RoomsError::SparkClosed);
        }
        let handlers = self.events.join.snapshot();
        for room in &joined {
            for h in handlers.iter() {
                h(spark, room);
            }
        }
        Ok(())
    }

    fn leave(&self, spark: &Spark, rooms: &[String]) -> usize {
        let handlers = self.events.leave.snapshot();
        let mut left = 0;
        for room in rooms {
            if self.adapter.del(spark.id(), room) {
                left += 1;
                for h in handlers.iter() {
                    h(spark, room);
                }
            }
        }
        left
    }

    fn leave_all(&self, spark: &Spark) -> Vec<String> {
        let left = self.adapter.del_all(spark.id());
        if !left.is_empty() {
            for h in self.events.leave_all.snapshot().iter() {
                h(spark, &left);
            }
        }
        left
    }
}

/// The rooms API of a spark (needs the [`Rooms`] plugin on its server).
pub trait SparkRoomsExt {
    /// Join one or more rooms (npm `spark.join`). All or nothing: refused with
    /// [`RoomsError::TooManyRooms`] past `max_rooms_per_spark`, with
    /// [`RoomsError::EmptyRoomName`] / [`RoomsError::RoomNameTooLong`] for a bad name,
    /// [`RoomsError::SparkClosed`] after the spark ended. A refusal also fires
    /// `rooms_error`. Joining a room the spark is in already does nothing.
    fn join(&self, rooms: impl IntoRooms) -> Result<(), RoomsError>;
    /// Leave one or more rooms; returns how many it was in (and left).
    fn leave(&self, rooms: impl IntoRooms) -> usize;
    /// Leave every room; returns the rooms left, in join order.
    fn leave_all(&self) -> Vec<String>;
    /// The rooms of this spark, in join order.
    fn rooms(&self) -> Vec<String>;
    /// A broadcast to the members of `rooms`, **this spark included** (as in npm); add
    /// `.except(spark.id())` to leave it out.
    fn room(&self, rooms: impl IntoRooms) -> RoomTarget;
}

impl SparkRoomsExt for Spark {
    fn join(&self, rooms: impl IntoRooms) -> Result<(), RoomsError> {
        let shared = shared_of(&self.primus()).ok_or(RoomsError::NotInstalled)?;
        shared.join(self, &rooms.into_rooms())
    }

    fn leave(&self, rooms: impl IntoRooms) -> usize {
        shared_of(&self.primus()).map_or(0, |s| s.leave(self, &rooms.into_rooms()))
    }

    fn leave_all(&self) -> Vec<String> {
        shared_of(&self.primus()).map_or_else(Vec::new, |s| s.leave_all(self))
    }

    fn rooms(&self) -> Vec<String> {
        shared_of(&self.primus()).map_or_else(Vec::new, |s| s.adapter.rooms_of(self.id()))
    }

    fn room(&self, rooms: impl IntoRooms) -> RoomTarget {
        self.primus().room(rooms)
    }
}

/// The rooms API of a server (needs the [`Rooms`] plugin).
pub trait PrimusRoomsExt {
    /// A broadcast to the members of `rooms` (npm `primus.room(..)` / `primus.in(..)`).
    fn room(&self, rooms: impl IntoRooms) -> RoomTarget;
    /// Every room with at least one member, sorted.
    fn rooms(&self) -> Vec<String>;
    /// The ids of the members of one room (npm `room(name).clients()`).
    fn room_members(&self, room: &str) -> Vec<String>;
    /// Put the connected sparks among `sparks` in `rooms` (npm `primus.join`). Ids that
    /// are not connected are skipped; a spark whose join is refused (e.g. its room
    /// limit) is skipped too and gets `rooms_error`. A bad room name refuses the whole
    /// call. Returns how many sparks joined.
    fn join(&self, sparks: impl SparkIds, rooms: impl IntoRooms) -> Result<usize, RoomsError>;
    /// Take the connected sparks among `sparks` out of `rooms` (npm `primus.leave`);
    /// returns how many left at least one room.
    fn leave(&self, sparks: impl SparkIds, rooms: impl IntoRooms) -> usize;
    /// Call `f(spark, room)` for each room a spark joins (npm `joinroom`).
    fn on_join_room(
        &self,
        f: impl Fn(&Spark, &str) + Send + Sync + 'static,
    ) -> Result<(), RoomsError>;
    /// Call `f(spark, room)` for each room a spark leaves with `leave` (npm `leaveroom`).
    fn on_leave_room(
        &self,
        f: impl Fn(&Spark, &str) + Send + Sync + 'static,
    ) -> Result<(), RoomsError>;
    /// Call `f(spark, rooms)` when a spark leaves all its rooms (`leave_all` or its end).
    fn on_leave_all_rooms(
        &self,
        f: impl Fn(&Spark, &[String]) + Send + Sync + 'static,
    ) -> Result<(), RoomsError>;
    /// Call `f(spark, error)` when a spark's join is refused (npm `roomserror`).
    fn on_rooms_error(
        &self,
        f: impl Fn(&Spark, &RoomsError) + Send + Sync + 'static,
    ) -> Result<(), RoomsError>;
}

impl PrimusRoomsExt for Primus {
    fn room(&self, rooms: impl IntoRooms) -> RoomTarget {
        RoomTarget {
            primus: self.clone(),
            shared: shared_of(self),
            rooms: rooms.into_rooms(),
            except: Vec::new(),
        }
    }

    fn rooms(&self) -> Vec<String> {
        shared_of(self).map_or_else(Vec::new, |s| s.adapter.rooms())
    }

    fn room_members(&self, room: &str) -> Vec<String> {
        shared_of(self).map_or_else(Vec::new, |s| s.adapter.members(room))
    }

    fn join(&self, sparks: impl SparkIds, rooms: impl IntoRooms) -> Result<usize, RoomsError> {
        let shared = shared_of(self).ok_or(RoomsError::NotInstalled)?;
        let rooms = rooms.into_rooms();
        shared.validate(&rooms)?;
        let mut joined = 0;
        for id in sparks.into_ids() {
            if let Some(spark) = self.spark(&id) {
                if shared.join(&spark, &rooms).is_ok() {
                    joined += 1;
                }
            }
        }
        Ok(joined)
    }

    fn leave(&self, sparks: impl SparkIds, rooms: impl IntoRooms) -> usize {
        let Some(shared) = shared_of(self) else {
            return 0;
        };
        let rooms = rooms.into_rooms();
        let mut left = 0;
        for id in sparks.into_ids() {
            if let Some(spark) = self.spark(&id) {
                if shared.leave(&spark, &rooms) > 0 {
                    left += 1;
                }
            }
        }
        left
    }

    fn on_join_room(
        &self,
        f: impl Fn(&Spark, &str) + Send + Sync + 'static,
    ) -> Result<(), RoomsError> {
        let shared = shared_of(self).ok_or(RoomsError::NotInstalled)?;
        shared.events.join.push(Arc::new(f));
        Ok(())
    }

    fn on_leave_room(
        &self,
        f: impl Fn(&Spark, &str) + Send + Sync + 'static,
    ) -> Result<(), RoomsError> {
        let shared = shared_of(self).ok_or(RoomsError::NotInstalled)?;
        shared.events.leave.push(Arc::new(f));
        Ok(())
    }

    fn on_leave_all_rooms(
        &self,
        f: impl Fn(&Spark, &[String]) + Send + Sync + 'static,
    ) -> Result<(), RoomsError> {
        let shared = shared_of(self).ok_or(RoomsError::NotInstalled)?;
        shared.events.leave_all.push(Arc::new(f));
        Ok(())
    }

    fn on_rooms_error(
        &self,
        f: impl Fn(&Spark, &RoomsError) + Send + Sync + 'static,
    ) -> Result<(), RoomsError> {
        let shared = shared_of(self).ok_or(RoomsError::NotInstalled)?;
        shared.events.error.push(Arc::new(f));
        Ok(())
    }
}

/// A broadcast to the members of some rooms, from [`PrimusRoomsExt::room`] or
/// [`SparkRoomsExt::room`]. Without the plugin it has no members.
pub struct RoomTarget {
    primus: Primus,
    shared: Option<Arc<Shared>>,
    rooms: Vec<String>,
    except: Vec<String>,
}

impl std::fmt::Debug for RoomTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomTarget")
            .field("rooms", &self.rooms)
            .field("except", &self.except)
            .finish()
    }
}

impl RoomTarget {
    /// Leave these sparks out of the broadcast (npm `except`). Adds to earlier calls.
    pub fn except(mut self, sparks: impl SparkIds) -> Self {
        self.except.extend(sparks.into_ids());
        self
    }

    /// The ids of the sparks the broadcast would reach: in at least one of the rooms,
    /// each once, without the excepted ones (no particular order).
    pub fn members(&self) -> Vec<String> {
        match &self.shared {
            Some(s) => s
                .adapter
                .members_of_any(&self.rooms, &self.except, s.wildcards),
            None => Vec::new(),
        }
    }

    /// Queue `data` on every member once (see [`members`](Self::members)), encoded once
    /// and shared, like [`Primus::write`]: each member gets exactly what
    /// [`Spark::write`] would send it. A member whose outgoing queue is full is ended as
    /// too slow. Returns how many sparks it was queued for (0 for no room).
    ///
    /// With outgoing transforms registered, each member's copy goes through them (sync
    /// ones only: with async ones this returns [`WriteError::AsyncTransform`]).
    pub fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<usize, WriteError> {
        if self.rooms.is_empty() {
            return Ok(0);
        }
        let inner = &self.primus.inner;
        let members = self.members();
        if members.is_empty() && !inner.forwarding() {
            // Nobody here and no other server to tell: nothing to encode.
            return Ok(0);
        }
        let frame = inner.shared_frame(data)?;
        let mut sent = 0;
        for id in &members {
            if let Some(spark) = self.primus.spark(id) {
                if inner.write_one(&spark, frame.as_ref(), data) {
                    sent += 1;
                }
            }
        }
        // Other servers (a cluster) resolve the rooms among their own sparks.
        let audience = Audience::Rooms {
            rooms: self.rooms.clone(),
            except: self.except.clone(),
        };
        inner.forward(audience, frame, data)?;
        Ok(sent)
    }
}
