//! Broadcasts beyond this process: the hook a forwarder (the cluster plugin, or your own
//! bus) uses to see every broadcast made here, and the local-only delivery it uses to
//! replay broadcasts made elsewhere.
//!
//! Every broadcast API ([`Primus::write`], [`Primus::write_to`], the rooms plugin's
//! `room(..).write`, everything built on them such as the emitter's `emit_all`) first
//! delivers to this server's sparks, then hands a [`Broadcast`] to each
//! [`Primus::on_broadcast`] handler: the audience and the frame already encoded by the
//! server's parser, so a forwarder never encodes again. The other side replays it with
//! [`Primus::deliver`], which only delivers locally and never calls the handlers, so a forwarded message cannot loop.
//!
//! ```
//! use primus::server::{Audience, Broadcast};
//! use primus::{Options, Primus};
//! use std::sync::{Arc, Mutex};
//!
//! let here = Primus::new(Options::default()).unwrap();
//! let there = Primus::new(Options::default()).unwrap();
//! // A toy bus: everything broadcast `here` is delivered `there` too.
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let (bus, target) = (seen.clone(), there.clone());
//! here.on_broadcast(move |b: &Broadcast| {
//!     bus.lock().unwrap().push(b.audience.clone());
//!     let _ = target.deliver(b);
//! });
//! assert_eq!(here.write(&"hi").unwrap(), 0); // no local spark
//! here.write_to(&["abc"], &"for abc").unwrap();
//! let seen = seen.lock().unwrap();
//! assert_eq!(seen[0], Audience::All);
//! assert_eq!(seen[1], Audience::Sparks(vec!["abc".to_string()]));
//! ```

use super::{Inner, Primus};
use crate::error::WriteError;
use primus_core::Frame;
use serde::Serialize;
use std::sync::Arc;

/// Who a [`Broadcast`] is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Audience {
    /// Every spark ([`Primus::write`]).
    All,
    /// The members of any of `rooms` except the sparks in `except` (the rooms plugin).
    Rooms {
        /// The room names.
        rooms: Vec<String>,
        /// Spark ids left out.
        except: Vec<String>,
    },
    /// These spark ids ([`Primus::write_to`]): only the ones that were **not** found on
    /// this server, since those got it already.
    Sparks(Vec<String>),
}

/// A broadcast made on this server, as [`Primus::on_broadcast`] handlers see it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Broadcast {
    /// Who it is for.
    pub audience: Audience,
    /// The message, encoded once by the server's parser (before outgoing transforms,
    /// which the receiving side runs per spark).
    pub frame: Frame,
}

impl Broadcast {
    /// A broadcast of an encoded frame (for forwarders that receive one from elsewhere).
    pub fn new(audience: Audience, frame: Frame) -> Self {
        Broadcast { audience, frame }
    }
}

pub(crate) type BroadcastHandler = dyn Fn(&Broadcast) + Send + Sync;

impl Primus {
    /// Run `f` after each broadcast made on this server has been delivered locally (see
    /// the [module docs](crate::server::broadcast)). Handlers run inline, in the caller of
    /// the broadcast: keep them short (queue the frame, don't do I/O).
    pub fn on_broadcast(&self, f: impl Fn(&Broadcast) + Send + Sync + 'static) {
        self.inner.broadcast.push(Arc::new(f));
    }

    /// Write `data` to the sparks with these ids: the ones on this server get it now, and
    /// the others are handed to the [`on_broadcast`](Self::on_broadcast) handlers (a
    /// cluster routes them to the server that holds them). Returns how many local sparks
    /// it was queued for; unknown ids are skipped, as the reference's omega-supreme does.
    pub fn write_to<T: Serialize + ?Sized>(
        &self,
        ids: &[impl AsRef<str>],
        data: &T,
    ) -> Result<usize, WriteError> {
        let frame = self.inner.shared_frame(data)?;
        let mut sent = 0;
        let mut elsewhere = Vec::new();
        for id in ids {
            let id = id.as_ref();
            match self.spark(id) {
                Some(spark) => {
                    if self.inner.write_one(&spark, frame.as_ref(), data) {
                        sent += 1;
                    }
                }
                None => elsewhere.push(id.to_string()),
            }
        }
        if !elsewhere.is_empty() {
            self.inner
                .forward(Audience::Sparks(elsewhere), frame, data)?;
        }
        Ok(sent)
    }

    /// Deliver a broadcast made elsewhere to this server's sparks only: every spark for
    /// [`Audience::All`], the connected ones among the ids for [`Audience::Sparks`], the
    /// local members of the rooms for [`Audience::Rooms`] (none without the rooms
    /// plugin). The [`on_broadcast`](Self::on_broadcast) handlers are **not** called.
    /// Outgoing transforms (sync ones) run per spark on the decoded message. Returns how
    /// many sparks it was queued for.
    pub fn deliver(&self, broadcast: &Broadcast) -> Result<usize, WriteError> {
        match &broadcast.audience {
            Audience::All => self.inner.deliver_frame(None, &broadcast.frame),
            Audience::Sparks(ids) => self.inner.deliver_frame(Some(ids), &broadcast.frame),
            Audience::Rooms { rooms, except } => {
                let resolver = self
                    .inner
                    .room_members
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let Some(resolve) = resolver else {
                    return Ok(0);
                };
                let ids = resolve(rooms, except);
                self.inner.deliver_frame(Some(&ids), &broadcast.frame)
            }
        }
    }
}

/// Finds the local members of some rooms, except some ids: set by the rooms plugin so
/// that [`Primus::deliver`] can replay [`Audience::Rooms`].
pub(crate) type RoomMembers = dyn Fn(&[String], &[String]) -> Vec<String> + Send + Sync;

impl Inner {
    /// Whether any forwarder listens (so a frame must be encoded even with transforms).
    pub(crate) fn forwarding(&self) -> bool {
        !self.broadcast.snapshot().is_empty()
    }

    /// The one shared encoding of a broadcast: `None` when outgoing transforms make each
    /// spark's copy its own and nobody forwards.
    pub(crate) fn shared_frame<T: Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> Result<Option<Frame>, WriteError> {
        let transforms = &self.transforms.outgoing;
        if !transforms.is_empty() && transforms.has_async() {
            return Err(WriteError::AsyncTransform);
        }
        if transforms.is_empty() || self.forwarding() {
            Ok(Some(self.parser.encode(&data)?))
        } else {
            Ok(None)
        }
    }

    /// Queue one spark's copy: the shared frame, or its own through the transforms. A
    /// full queue ends it as too slow. Returns whether it was queued.
    pub(crate) fn write_one<T: Serialize + ?Sized>(
        &self,
        spark: &super::Spark,
        frame: Option<&Frame>,
        data: &T,
    ) -> bool {
        let result = match frame {
            Some(frame) if self.transforms.outgoing.is_empty() => spark.write_frame(frame.clone()),
            _ => spark.write(data),
        };
        match result {
            Ok(()) => true,
            Err(WriteError::Full) => {
                self.end_slow(spark);
                false
            }
            Err(_) => false,
        }
    }

    /// Hand a broadcast that was delivered locally to the forwarders.
    pub(crate) fn forward<T: Serialize + ?Sized>(
        &self,
        audience: Audience,
        frame: Option<Frame>,
        data: &T,
    ) -> Result<(), WriteError> {
        let handlers = self.broadcast.snapshot();
        if handlers.is_empty() {
            return Ok(());
        }
        let frame = match frame {
            Some(f) => f,
            None => self.parser.encode(&data)?,
        };
        let b = Broadcast { audience, frame };
        for h in handlers.iter() {
            h(&b);
        }
        Ok(())
    }

    /// Local-only delivery of an encoded frame to every spark or to some ids.
    pub(crate) fn deliver_frame(
        &self,
        ids: Option<&[String]>,
        frame: &Frame,
    ) -> Result<usize, WriteError> {
        let sparks = match ids {
            None => self.sparks(),
            Some(ids) => ids.iter().filter_map(|id| self.registry.get(id)).collect(),
        };
        if self.transforms.outgoing.is_empty() {
            let mut sent = 0;
            for spark in &sparks {
                if self.write_one(spark, Some(frame), &()) {
                    sent += 1;
                }
            }
            return Ok(sent);
        }
        if self.transforms.outgoing.has_async() {
            return Err(WriteError::AsyncTransform);
        }
        // Transforms work on values: decode once, then each spark's copy goes through them.
        let value = self
            .parser
            .decode(frame)
            .map_err(|e| WriteError::Transform(format!("cannot decode a forwarded frame: {e}")))?;
        let mut sent = 0;
        for spark in &sparks {
            if self.write_one(spark, None, &value) {
                sent += 1;
            }
        }
        Ok(sent)
    }
}
