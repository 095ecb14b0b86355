//! Bookkeeping shared by the server and its sparks: handler lists and the spark registry.

use super::spark::{Message, Spark, SparkShared};
use crate::error::SparkError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

/// A grow-only list of callbacks. Calling takes a snapshot (one reference-count bump,
/// no allocation), so a handler may register more handlers without deadlocking.
pub(crate) struct HandlerList<F: ?Sized>(Mutex<Arc<[Arc<F>]>>);

impl<F: ?Sized> Default for HandlerList<F> {
    fn default() -> Self {
        HandlerList(Mutex::new(Arc::from(Vec::new())))
    }
}

impl<F: ?Sized> HandlerList<F> {
    pub(crate) fn push(&self, f: Arc<F>) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<Arc<F>> = guard.iter().cloned().collect();
        v.push(f);
        *guard = Arc::from(v);
    }

    /// Add `f` before every callback registered so far.
    pub(crate) fn push_front(&self, f: Arc<F>) {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let v: Vec<Arc<F>> = std::iter::once(f).chain(guard.iter().cloned()).collect();
        *guard = Arc::from(v);
    }

    pub(crate) fn snapshot(&self) -> Arc<[Arc<F>]> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub(crate) type DataHandler = dyn Fn(&Spark, &Message) + Send + Sync;
pub(crate) type SparkHandler = dyn Fn(&Spark) + Send + Sync;
pub(crate) type ErrorHandler = dyn Fn(&Spark, &SparkError) + Send + Sync;

/// A spark's callbacks.
#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) data: HandlerList<DataHandler>,
    pub(crate) end: HandlerList<SparkHandler>,
    pub(crate) error: HandlerList<ErrorHandler>,
    pub(crate) heartbeat: HandlerList<SparkHandler>,
}

/// Every open spark by id.
#[derive(Default)]
pub(crate) struct Registry {
    sparks: RwLock<HashMap<Arc<str>, Arc<SparkShared>>>,
}

impl Registry {
    pub(crate) fn insert(&self, spark: &Spark) {
        self.sparks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(spark.shared.id_arc(), spark.shared.clone());
    }

    pub(crate) fn remove(&self, id: &str) {
        self.sparks
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    pub(crate) fn get(&self, id: &str) -> Option<Spark> {
        self.sparks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map(|s| Spark::from_shared(s.clone()))
    }

    pub(crate) fn len(&self) -> usize {
        self.sparks.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// A copy of the current sparks, so callers can iterate without holding the lock
    /// (a callback may end sparks, which removes them).
    pub(crate) fn snapshot(&self) -> Vec<Spark> {
        self.sparks
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|s| Spark::from_shared(s.clone()))
            .collect()
    }
}
