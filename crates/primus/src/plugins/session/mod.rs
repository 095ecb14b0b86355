//! `session`: the web application's session, read when a spark connects, so real-time
//! handlers see the same user as the HTTP routes (the idea of npm
//! `primus-express-session`, on [`tower-sessions`](https://docs.rs/tower-sessions)).
//!
//! Give the plugin the same store the application's `SessionManagerLayer` uses; the
//! spark's `Cookie` header names the session (cookie `id` by default, tower-sessions'
//! default), the store loads it (stores drop expired sessions themselves), and
//! [`SparkSessionExt::session`] returns what was stored. With [`Session::required`] a spark
//! without a live session is ended at once (an error for its connection listeners).
//!
//! ```
//! use primus::plugins::session::{Session, SparkSessionExt};
//! use primus::{Options, Primus};
//! use tower_sessions::MemoryStore;
//!
//! let store = MemoryStore::default(); // also given to SessionManagerLayer::new(store)
//! let primus = Primus::new(Options::default()).unwrap();
//! primus.plugin("session", Session::new(store)).unwrap();
//! primus.on_connection(|spark| {
//!     let user: Option<String> = spark.session().and_then(|s| s.get("user"));
//!     let _ = spark.write(&format!("hello {}", user.as_deref().unwrap_or("stranger")));
//! });
//! ```
//!
//! The session is a snapshot taken when the spark connects; changes made later by HTTP
//! routes are not seen until the client reconnects. Signed and private cookies
//! (`SessionManagerLayer::with_signed`/`with_private`) are not read yet: use the plain
//! cookie (the default) with this plugin.

use crate::plugin::Plugin;
use crate::{BoxError, Primus, Spark};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::SessionStore;

/// Why a spark's session could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// [`Session::required`] and the request has no live session.
    #[error("no session: log in over HTTP first (cookie `{0}` missing, unknown or expired)")]
    Missing(String),
    /// The store failed.
    #[error("the session store failed: {0}")]
    Store(String),
}

/// The session plugin: `primus.plugin("session", Session::new(store))`.
#[derive(Clone)]
pub struct Session {
    store: Arc<dyn SessionStore>,
    cookie: String,
    required: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cookie", &self.cookie)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Read sessions from `store` (the one the application's session layer uses).
    pub fn new(store: impl SessionStore) -> Self {
        Self::from_arc(Arc::new(store))
    }

    /// Read sessions from a shared store.
    pub fn from_arc(store: Arc<dyn SessionStore>) -> Self {
        Session {
            store,
            cookie: "id".into(),
            required: false,
        }
    }

    /// The session cookie's name (default `id`, as `SessionManagerLayer`'s default).
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie = name.into();
        self
    }

    /// End sparks that have no live session.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// The session id in the request's cookies, if one parses.
    fn session_id(&self, spark: &Spark) -> Option<Id> {
        spark
            .headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie)
            .and_then(|(_, value)| value.trim_matches('"').parse().ok())
    }
}

/// The session of a spark, as loaded when it connected.
#[derive(Debug, Clone)]
pub struct SessionData(Arc<Record>);

impl SessionData {
    /// The session id.
    pub fn id(&self) -> String {
        self.0.id.to_string()
    }
    /// The value stored under `key`, as a `T` (`None` when absent or of another shape).
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0
            .data
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
    /// Every key and value.
    pub fn data(&self) -> &std::collections::HashMap<String, serde_json::Value> {
        &self.0.data
    }
}

impl Plugin for Session {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        let plugin = self.clone();
        primus.on_connection_async(move |spark| {
            let plugin = plugin.clone();
            async move {
                let record = match plugin.session_id(&spark) {
                    Some(id) => plugin
                        .store
                        .load(&id)
                        .await
                        .map_err(|e| SessionError::Store(e.to_string()))?,
                    None => None,
                };
                match record {
                    Some(record) => {
                        spark.set_state(SessionData(Arc::new(record)));
                        Ok(())
                    }
                    None if plugin.required => Err(SessionError::Missing(plugin.cookie).into()),
                    None => Ok(()),
                }
            }
        });
        Ok(())
    }
}

/// The session on a spark (needs the [`Session`] plugin).
pub trait SparkSessionExt {
    /// The session loaded when the spark connected, if it had one.
    fn session(&self) -> Option<SessionData>;
}

impl SparkSessionExt for Spark {
    fn session(&self) -> Option<SessionData> {
        self.state::<SessionData>()
    }
}
