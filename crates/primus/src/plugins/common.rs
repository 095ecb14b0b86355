//! What several plugins share: the connection an answer goes back to, and the bounded
//! table of answers a side is waiting for (emitter acknowledgements, responder
//! responses).

use crate::client::ClientWriter;
use crate::Spark;
use serde::Serialize;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

/// The connection a plugin writes an answer to: a spark (server half) or a client (Rust
/// client half).
#[derive(Clone, Debug)]
pub(crate) enum Peer {
    Spark(Spark),
    Client(ClientWriter),
}

impl Peer {
    /// Write `data` like an application write; the error's message on failure.
    pub(crate) fn write<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), String> {
        match self {
            Peer::Spark(s) => s.write(data).map_err(|e| e.to_string()),
            Peer::Client(c) => c.write(data).map_err(|e| e.to_string()),
        }
    }
}

/// Why an answer cannot be awaited or did not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unanswered {
    /// `limit` answers are awaited already.
    TooMany { limit: usize },
    /// The connection ended.
    Closed,
    /// Nothing came within the timeout.
    Timeout(Duration),
}

/// The answers one side of one connection waits for, by key, at most `limit` at once.
#[derive(Debug)]
pub(crate) struct Replies<K, V> {
    inner: Mutex<RepliesInner<K, V>>,
    limit: usize,
}

#[derive(Debug)]
struct RepliesInner<K, V> {
    waiting: HashMap<K, oneshot::Sender<V>>,
    closed: bool,
}

/// One awaited answer (see [`Replies::wait`]).
#[derive(Debug)]
pub(crate) struct Waiter<K, V> {
    pub(crate) key: K,
    rx: oneshot::Receiver<V>,
}

impl<K: Hash + Eq + Clone, V> Replies<K, V> {
    pub(crate) fn new(limit: usize) -> Self {
        Replies {
            inner: Mutex::new(RepliesInner {
                waiting: HashMap::new(),
                closed: false,
            }),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RepliesInner<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Start waiting for the answer to `key` (make the key first: it goes on the wire).
    pub(crate) fn register(&self, key: K) -> Result<Waiter<K, V>, Unanswered> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(Unanswered::Closed);
        }
        // Forget waiters that gave up (their future was dropped).
        inner.waiting.retain(|_, tx| !tx.is_closed());
        if inner.waiting.len() >= self.limit {
            return Err(Unanswered::TooMany { limit: self.limit });
        }
        let (tx, rx) = oneshot::channel();
        inner.waiting.insert(key.clone(), tx);
        Ok(Waiter { key, rx })
    }

    /// The answer to `key` came; `false` when nobody waits for it.
    pub(crate) fn resolve(&self, key: &K, value: V) -> bool {
        let tx = self.lock().waiting.remove(key);
        tx.is_some_and(|tx| tx.send(value).is_ok())
    }

    /// Stop waiting for `key` (its request could not be sent).
    pub(crate) fn forget(&self, key: &K) {
        self.lock().waiting.remove(key);
    }

    /// The connection ended: every waiter fails with `Closed`, and so do new ones.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        inner.waiting.clear();
    }

    /// Wait for the answer, at most `timeout`.
    pub(crate) async fn wait(
        &self,
        waiter: Waiter<K, V>,
        timeout: Duration,
    ) -> Result<V, Unanswered> {
        match tokio::time::timeout(timeout, waiter.rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(Unanswered::Closed),
            Err(_) => {
                self.forget(&waiter.key);
                Err(Unanswered::Timeout(timeout))
            }
        }
    }
}
