//! Message transforms (the reference's `primus.transform('incoming'|'outgoing', fn)`).
//!
//! A transform sees each user message of one direction as a [`Value`] it may change, and
//! decides: keep it ([`Transformed::Keep`]), drop it silently ([`Transformed::Drop`]), or
//! fail (an `error` event on the spark; no `data` event, nothing written). Protocol
//! messages (`primus::ping`, …) never pass through transforms.
//!
//! Transforms run in registration order. Sync transforms run inline; async ones are
//! awaited in order: incoming messages stay in order because the connection awaits them
//! before reading the next frame, and outgoing ones need the async write paths
//! ([`Spark::send`](crate::Spark::send), [`Primus::send_all`](crate::Primus::send_all)):
//! the sync `write` refuses with [`WriteError::AsyncTransform`](crate::WriteError) rather
//! than reorder messages behind your back.
//!
//! ```
//! use primus::server::Transformed;
//! # let primus = primus::Primus::new(primus::Options::default()).unwrap();
//! primus.transform_outgoing(|_spark, data| {
//!     if let Some(obj) = data.as_object_mut() {
//!         obj.insert("server".into(), "primus-rs".into());
//!     }
//!     Ok(Transformed::Keep)
//! });
//! primus.transform_incoming(|_spark, data| {
//!     Ok(if data.as_str() == Some("spam") { Transformed::Drop } else { Transformed::Keep })
//! });
//! ```

use super::registry::HandlerList;
use super::spark::Spark;
use crate::error::BoxError;
use futures_util::future::BoxFuture;
use primus_core::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a transform decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transformed {
    /// Go on with the (possibly changed) message.
    Keep,
    /// Drop the message without an error.
    Drop,
}

type SyncFn = dyn Fn(&Spark, &mut Value) -> Result<Transformed, BoxError> + Send + Sync;
type AsyncFn =
    dyn Fn(Spark, Value) -> BoxFuture<'static, Result<Option<Value>, BoxError>> + Send + Sync;

/// One transform.
pub(crate) enum Transform {
    Sync(Arc<SyncFn>),
    Async(Arc<AsyncFn>),
}

/// The transforms of one direction.
#[derive(Default)]
pub(crate) struct Chain {
    list: HandlerList<Transform>,
    any: AtomicBool,
    any_async: AtomicBool,
}

/// The outcome of running a chain.
pub(crate) enum Outcome {
    Keep(Value),
    Drop,
    Failed(BoxError),
}

impl Chain {
    fn push(&self, t: Transform) {
        self.add(t, false);
    }

    /// Add `t` at the end, or with `first` before every transform added so far.
    fn add(&self, t: Transform, first: bool) {
        if matches!(t, Transform::Async(_)) {
            self.any_async.store(true, Ordering::Release);
        }
        if first {
            self.list.push_front(Arc::new(t));
        } else {
            self.list.push(Arc::new(t));
        }
        self.any.store(true, Ordering::Release);
    }

    /// Whether any transform is registered (the fast path checks this first).
    pub(crate) fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }

    /// Whether an async transform is registered.
    pub(crate) fn has_async(&self) -> bool {
        self.any_async.load(Ordering::Acquire)
    }

    /// Run the chain when every transform is sync; `None` when an async one is there.
    pub(crate) fn run_sync(&self, spark: &Spark, mut value: Value) -> Option<Outcome> {
        if self.has_async() {
            return None;
        }
        for t in self.list.snapshot().iter() {
            if let Transform::Sync(f) = t.as_ref() {
                match f(spark, &mut value) {
                    Ok(Transformed::Keep) => {}
                    Ok(Transformed::Drop) => return Some(Outcome::Drop),
                    Err(e) => return Some(Outcome::Failed(e)),
                }
            }
        }
        Some(Outcome::Keep(value))
    }

    /// Run the whole chain, awaiting async transforms in order.
    pub(crate) async fn run(&self, spark: &Spark, mut value: Value) -> Outcome {
        for t in self.list.snapshot().iter() {
            match t.as_ref() {
                Transform::Sync(f) => match f(spark, &mut value) {
                    Ok(Transformed::Keep) => {}
                    Ok(Transformed::Drop) => return Outcome::Drop,
                    Err(e) => return Outcome::Failed(e),
                },
                Transform::Async(f) => match f(spark.clone(), value).await {
                    Ok(Some(v)) => value = v,
                    Ok(None) => return Outcome::Drop,
                    Err(e) => return Outcome::Failed(e),
                },
            }
        }
        Outcome::Keep(value)
    }
}

/// Both directions.
#[derive(Default)]
pub(crate) struct Transforms {
    pub(crate) incoming: Chain,
    pub(crate) outgoing: Chain,
}

impl crate::Primus {
    /// Add a sync transform for messages arriving from clients.
    pub fn transform_incoming(
        &self,
        f: impl Fn(&Spark, &mut Value) -> Result<Transformed, BoxError> + Send + Sync + 'static,
    ) {
        self.inner
            .transforms
            .incoming
            .push(Transform::Sync(Arc::new(f)));
    }

    /// Add a sync transform for messages arriving from clients that runs before every
    /// incoming transform added so far: for plugins that must see messages before other
    /// plugins consume them (validation before the emitter, say), whatever the order the
    /// plugins were added in.
    pub fn transform_incoming_first(
        &self,
        f: impl Fn(&Spark, &mut Value) -> Result<Transformed, BoxError> + Send + Sync + 'static,
    ) {
        self.inner
            .transforms
            .incoming
            .add(Transform::Sync(Arc::new(f)), true);
    }

    /// Add a sync transform for messages written to clients.
    pub fn transform_outgoing(
        &self,
        f: impl Fn(&Spark, &mut Value) -> Result<Transformed, BoxError> + Send + Sync + 'static,
    ) {
        self.inner
            .transforms
            .outgoing
            .push(Transform::Sync(Arc::new(f)));
    }

    /// Add an async transform for messages arriving from clients: it returns the message
    /// to deliver (`Some`), `None` to drop it, or an error.
    pub fn transform_incoming_async<F, Fut>(&self, f: F)
    where
        F: Fn(Spark, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Value>, BoxError>> + Send + 'static,
    {
        self.inner
            .transforms
            .incoming
            .push(Transform::Async(Arc::new(move |s, v| Box::pin(f(s, v)))));
    }

    /// Add an async transform for messages written to clients. From then on, write with
    /// [`Spark::send`] and [`Primus::send_all`](crate::Primus::send_all): the sync
    /// `write`s refuse, since they cannot wait for it.
    pub fn transform_outgoing_async<F, Fut>(&self, f: F)
    where
        F: Fn(Spark, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Value>, BoxError>> + Send + 'static,
    {
        self.inner
            .transforms
            .outgoing
            .push(Transform::Async(Arc::new(move |s, v| Box::pin(f(s, v)))));
    }
}
