//! `emitter`: named events with acknowledgements on one connection, wire-compatible with
//! npm `primus-emitter` 3.x (its client and server, in either role).
//!
//! - server half: [`Emitter`] (the plugin) and [`SparkEmitterExt`] on every [`Spark`]:
//!   `spark.on_event(name, handler)`, `spark.emit(name, args)`,
//!   `spark.emit_with_ack(name, args).await`, and [`PrimusEmitterExt::emit_all`];
//! - Rust client half: [`ClientEmitter`], attached to a [`Client`](crate::client::Client);
//! - browser half: `emitter.js`, included in `<pathname>/primus.js` when the plugin is
//!   added (`primus.send(name, …args, [ack])`, `primus.on(name, handler)`).
//!
//! Arguments are serde values: a tuple gives several arguments (`&("x", 2)`), `&()`
//! none, any other value one (to send one array argument, wrap it: `&(vec![1, 2],)`).
//!
//! ```
//! use primus::plugins::emitter::{Emitter, SparkEmitterExt};
//! use primus::{Options, Primus};
//!
//! let primus = Primus::new(Options::default()).unwrap();
//! primus.plugin("emitter", Emitter::default()).unwrap();
//! primus.on_connection(|spark| {
//!     spark
//!         .on_event("ask", |spark, event| {
//!             let question: String = event.arg(0).unwrap_or_default();
//!             if let Some(ack) = event.ack() {
//!                 let _ = ack.send(&("answer", question.len()));
//!             }
//!             let _ = spark.emit("asked", &(question,));
//!         })
//!         .expect("`ask` is not a reserved name");
//! });
//! ```
//!
//! Differences from the npm plugin, on purpose: emitter packets do not also reach the
//! `data` handlers (they are consumed); an event with a reserved name, an
//! acknowledgement with an unknown id and a broken packet are reported as errors
//! ([`SparkError::Transform`](crate::SparkError::Transform) on the server) instead of
//! being dropped in silence; waiting for an acknowledgement has a timeout and a bound on
//! the number of pending ones ([`EmitterOptions`]); `null` frames are plain data (they
//! crash a Node server with the npm plugin).

mod client;
pub(crate) mod packet;
mod server;

pub use client::ClientEmitter;
pub use packet::{PacketError, MAX_ARGS, MAX_NAME};
pub use server::{Emitter, EmitterOptions, PrimusEmitterExt, SparkEmitterExt};

use super::common::{Peer, Replies, Unanswered};
use primus_core::{from_value, Value, ValueError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What went wrong with an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitterError {
    /// The name is one the library emits itself (`data`, `end`, `incoming::…`): pick another.
    #[error("event name `{0}` is reserved: pick a name that is not a built-in event")]
    Reserved(String),
    /// A packet that looks like an emitter packet but is broken.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// An acknowledgement for an id that is not waiting (answered twice, timed out, or never
    /// sent).
    #[error("acknowledgement for unknown id {0}")]
    UnknownAck(u64),
    /// No acknowledgement within [`EmitterOptions::ack_timeout`].
    #[error("no acknowledgement within {0:?}: raise `ack_timeout` or check the peer answers")]
    AckTimeout(Duration),
    /// Too many acknowledgements awaited at once on one connection.
    #[error("{limit} acknowledgements are already awaited: raise `max_pending_acks` or await some first")]
    TooManyPending {
        /// [`EmitterOptions::max_pending_acks`].
        limit: usize,
    },
    /// The connection ended before the acknowledgement came.
    #[error("the connection ended before the acknowledgement came")]
    Closed,
    /// The arguments could not be turned into values.
    #[error("event arguments: {0}")]
    Encode(#[from] ValueError),
    /// Writing the packet failed.
    #[error("writing the event: {0}")]
    Write(String),
}

/// An event received from the peer.
#[derive(Debug, Clone)]
pub struct Event {
    name: String,
    args: Vec<Value>,
    ack: Option<Ack>,
}

impl Event {
    /// The event name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The arguments, as sent.
    pub fn args(&self) -> &[Value] {
        &self.args
    }
    /// Argument `i` as a `T`.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, ValueError> {
        from_value(self.args.get(i).cloned().unwrap_or(Value::Null))
    }
    /// All arguments as one `T` (a tuple or a `Vec`).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        from_value(Value::Array(self.args.clone()))
    }
    /// The acknowledgement the sender waits for, if it asked for one.
    pub fn ack(&self) -> Option<&Ack> {
        self.ack.as_ref()
    }
}

/// The answer to an event sent with an acknowledgement. Only the first answer is sent,
/// like the npm plugin (clones share that).
#[derive(Clone)]
pub struct Ack {
    id: u64,
    sent: Arc<AtomicBool>,
    to: Peer,
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Ack {
    /// Answer with `args` (a tuple for several values, `&()` for none). Returns
    /// `Ok(false)` when this event was answered already.
    pub fn send<T: Serialize + ?Sized>(&self, args: &T) -> Result<bool, EmitterError> {
        let args = packet::args_of(args)?;
        if self.sent.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        self.to
            .write(&packet::ack(self.id, &args))
            .map_err(EmitterError::Write)?;
        Ok(true)
    }
}

type Handler<C> = Arc<dyn Fn(&C, Event) + Send + Sync>;

/// One side's emitter state for one connection: handlers by name, the ack counter, the
/// acknowledgements awaited. Shared by the server and client halves.
struct Core<C> {
    handlers: HashMap<String, Vec<Handler<C>>>,
    next_id: u64,
    options: EmitterOptions,
}

/// The state with the operations both halves share.
struct Shared<C> {
    core: Mutex<Core<C>>,
    acks: Replies<u64, Vec<Value>>,
}

impl<C> Shared<C> {
    fn new(options: EmitterOptions) -> Self {
        Shared {
            acks: Replies::new(options.max_pending_acks),
            core: Mutex::new(Core {
                handlers: HashMap::new(),
                next_id: 1,
                options,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Core<C>> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on(&self, name: &str, reserved: bool, handler: Handler<C>) -> Result<(), EmitterError> {
        if reserved || is_local_only(name) {
            return Err(EmitterError::Reserved(name.to_string()));
        }
        self.lock()
            .handlers
            .entry(name.to_string())
            .or_default()
            .push(handler);
        Ok(())
    }

    /// Send an event with an acknowledgement through `peer` and wait for the answer.
    async fn emit_with_ack(
        &self,
        peer: Peer,
        name: &str,
        args: Vec<Value>,
    ) -> Result<Vec<Value>, EmitterError> {
        check_name(name)?;
        let (id, timeout) = {
            let mut core = self.lock();
            let id = core.next_id;
            core.next_id += 1;
            (id, core.options.ack_timeout)
        };
        let waiter = self.acks.register(id).map_err(EmitterError::from)?;
        if let Err(e) = peer.write(&packet::event(name, &args, Some(id))) {
            self.acks.forget(&id);
            return Err(EmitterError::Write(e));
        }
        self.acks
            .wait(waiter, timeout)
            .await
            .map_err(EmitterError::from)
    }

    /// A packet from the peer: run the handlers or resolve the acknowledgement.
    fn receive(
        &self,
        conn: &C,
        packet: packet::Packet,
        reserved: impl Fn(&str) -> bool,
        peer: impl FnOnce() -> Peer,
    ) -> Result<(), EmitterError> {
        match packet {
            packet::Packet::Ack { id, args } => match self.acks.resolve(&id, args) {
                true => Ok(()),
                false => Err(EmitterError::UnknownAck(id)),
            },
            packet::Packet::Event { name, args, id } => {
                if reserved(&name) {
                    return Err(EmitterError::Reserved(name));
                }
                let handlers = self.lock().handlers.get(&name).cloned();
                let Some(handlers) = handlers else {
                    tracing::debug!(event = %name, "emitter event without a handler");
                    return Ok(());
                };
                let ack = id.map(|id| Ack {
                    id,
                    sent: Arc::new(AtomicBool::new(false)),
                    to: peer(),
                });
                let event = Event { name, args, ack };
                for h in handlers.iter() {
                    h(conn, event.clone());
                }
                Ok(())
            }
        }
    }

    /// The connection ended: awaited acknowledgements fail with `Closed`.
    fn close(&self) {
        self.acks.close();
    }
}

impl From<Unanswered> for EmitterError {
    fn from(u: Unanswered) -> Self {
        match u {
            Unanswered::TooMany { limit } => EmitterError::TooManyPending { limit },
            Unanswered::Closed => EmitterError::Closed,
            Unanswered::Timeout(d) => EmitterError::AckTimeout(d),
        }
    }
}

/// Refuse names the npm plugin never puts on the wire.
fn check_name(name: &str) -> Result<(), EmitterError> {
    if is_local_only(name) {
        return Err(EmitterError::Reserved(name.to_string()));
    }
    Ok(())
}

/// Names the npm plugin never puts on the wire (its own listener bookkeeping).
fn is_local_only(name: &str) -> bool {
    name.starts_with("newListener") || name.starts_with("removeListener")
}
