//! What the transformers with HTTP sessions share (sockjs, sse, browserchannel; Socket.IO
//! 0.9's polling sessions use [`lock`]): the live sessions by id and their removal when a
//! session's task ends, the flag requests wait on until the connection listeners ran, a
//! streaming response body fed by a session task through a bounded channel, the ends of
//! a spark for an oversized message or a peer that stops reading, and random session
//! ids. Request bodies are read with [`crate::service::read_body`].

use std::sync::{Mutex, MutexGuard};

#[cfg(any(feature = "sockjs", feature = "sse", feature = "browserchannel"))]
pub(crate) use sessions::*;

/// Lock a mutex, going on with the data if another thread panicked while holding it
/// (the maps it guards stay consistent: every change is one insert or remove).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(any(feature = "sockjs", feature = "sse", feature = "browserchannel"))]
mod sessions {
    use super::lock;
    use crate::error::{BoxError, SparkError};
    use crate::server::spark::{CloseKind, SparkShared};
    use crate::service::HttpResponse;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use std::collections::HashMap;
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, MutexGuard};
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::sync::{mpsc, watch};

    /// The live sessions of a server half by id, shared with their tasks.
    pub(crate) struct SessionMap<S>(Arc<Mutex<HashMap<Arc<str>, Arc<S>>>>);

    impl<S> Default for SessionMap<S> {
        fn default() -> Self {
            SessionMap(Arc::default())
        }
    }

    impl<S> Clone for SessionMap<S> {
        fn clone(&self) -> Self {
            SessionMap(self.0.clone())
        }
    }

    impl<S> std::fmt::Debug for SessionMap<S> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("SessionMap")
                .field("len", &self.len())
                .finish()
        }
    }

    impl<S> SessionMap<S> {
        /// How many sessions are live.
        pub(crate) fn len(&self) -> usize {
            self.lock().len()
        }

        /// The session with this id.
        pub(crate) fn get(&self, id: &str) -> Option<Arc<S>> {
            self.lock().get(id).cloned()
        }

        /// Add a session.
        #[cfg(any(feature = "sse", feature = "browserchannel"))]
        pub(crate) fn insert(&self, id: Arc<str>, session: Arc<S>) {
            self.lock().insert(id, session);
        }

        /// The map itself, to look up and insert under one lock.
        pub(crate) fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Arc<S>>> {
            lock(&self.0)
        }

        /// Run a session's task on its own; when it ends, the session leaves the map
        /// (unless its id was given to another session meanwhile).
        pub(crate) fn spawn(
            &self,
            id: Arc<str>,
            session: Arc<S>,
            task: impl Future<Output = ()> + Send + 'static,
        ) where
            S: Send + Sync + 'static,
        {
            let sessions = self.clone();
            tokio::spawn(async move {
                task.await;
                let mut map = sessions.lock();
                if map.get(&id).is_some_and(|s| Arc::ptr_eq(s, &session)) {
                    map.remove(&id);
                }
            });
        }
    }

    /// Set once a session's connection listeners ran: requests carrying messages wait for
    /// it, so the listeners see every message.
    #[derive(Debug)]
    pub(crate) struct Ready(watch::Sender<bool>);

    impl Ready {
        pub(crate) fn new() -> Self {
            Ready(watch::Sender::new(false))
        }

        /// The connection listeners ran.
        pub(crate) fn set(&self) {
            self.0.send_replace(true);
        }

        /// Wait until [`set`](Self::set), at most `limit`; false when it was not.
        pub(crate) async fn wait(&self, limit: Duration) -> bool {
            let mut ready = self.0.subscribe();
            let waited = tokio::time::timeout(limit, ready.wait_for(|r| *r)).await;
            matches!(waited, Ok(Ok(_)))
        }
    }

    /// Resolves when the receiving half of `tx` is gone (hyper dropped the response the
    /// channel feeds: the client went away); never without a sender.
    pub(crate) async fn closed<T>(tx: Option<&mpsc::Sender<T>>) {
        match tx {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    }

    /// A message or body over `max_length`: the spark ends as with a WebSocket 1009.
    pub(crate) fn end_too_big(spark: &Arc<SparkShared>, limit: usize) {
        spark.finish(
            CloseKind::Code(1009, "Max payload size exceeded"),
            Some(SparkError::MaxLength { limit }),
        );
    }

    /// The client did not read `what` for `write_timeout`: the spark ends as a slow peer
    /// (1008).
    #[cfg(any(feature = "sse", feature = "browserchannel"))]
    pub(crate) fn end_slow(spark: &Arc<SparkShared>, what: &str, write_timeout: Duration) {
        spark.finish(
            CloseKind::Code(1008, "write timeout"),
            Some(SparkError::SlowPeer(format!(
                "the {what} was not read for {write_timeout:?}"
            ))),
        );
    }

    /// A response body fed by a session task through a bounded channel (the bound is the
    /// task's backpressure); it ends when the task drops the sending half.
    pub(crate) struct ChannelBody {
        rx: mpsc::Receiver<Bytes>,
    }

    impl ChannelBody {
        /// A `200` response streaming what is sent into `rx`'s channel.
        pub(crate) fn response(rx: mpsc::Receiver<Bytes>) -> HttpResponse {
            http::Response::new(ChannelBody { rx }.boxed())
        }
    }

    impl http_body::Body for ChannelBody {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            self.rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(http_body::Frame::data(b))))
        }
    }
}

/// 128 random bits, base64url without padding (22 characters): a session id is the
/// capability to act on the session, so it must not be guessable.
#[cfg(any(feature = "sse", feature = "browserchannel"))]
pub(crate) fn session_id() -> String {
    let mut b64 = String::with_capacity(24);
    primus_core::engineio::base64_encode_into(&rand::random::<[u8; 16]>(), &mut b64);
    b64.trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect()
}

#[cfg(all(test, any(feature = "sse", feature = "browserchannel")))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn session_ids_are_22_url_safe_characters() {
        let a = session_id();
        assert_eq!(a.len(), 22);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(a, session_id());
    }

    #[tokio::test]
    async fn a_session_leaves_the_map_when_its_task_ends_unless_replaced() {
        let map: SessionMap<u32> = SessionMap::default();
        let (a, b) = (Arc::new(1), Arc::new(2));
        let (done_a, wait_a) = tokio::sync::oneshot::channel::<()>();
        map.insert("x".into(), a.clone());
        map.spawn("x".into(), a, async move {
            let _ = wait_a.await;
        });
        let (done_b, wait_b) = tokio::sync::oneshot::channel::<()>();
        map.insert("y".into(), b.clone());
        map.spawn("y".into(), b, async move {
            let _ = wait_b.await;
        });
        // Session "x"'s id is given to another session before its task ends.
        map.insert("x".into(), Arc::new(3));
        let _ = done_a.send(());
        let _ = done_b.send(());
        for _ in 0..100 {
            if map.len() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("x").as_deref(), Some(&3));
        assert!(map.get("y").is_none());
        assert!(format!("{map:?}").contains("len: 1"));
    }

    #[tokio::test]
    async fn ready_waits_with_a_limit() {
        let ready = Ready::new();
        assert!(!ready.wait(std::time::Duration::from_millis(20)).await);
        ready.set();
        assert!(ready.wait(std::time::Duration::from_millis(20)).await);
    }
}
