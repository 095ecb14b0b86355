//! Plugins: a server half, optional client halves, added by name.
//!
//! A plugin is anything implementing [`Plugin`]. Its server half runs once when it is
//! added with [`Primus::plugin`]; its Rust client half runs for every
//! [`Client::from_server`](crate::client::Client::from_server) client; its JavaScript
//! (if any) is appended to the browser library. `plugout` removes it.
//!
//! Plugins build on the public extension points (middleware, transforms, events, spark
//! state), so anything a plugin does, an application can do too:
//!
//! ```
//! use primus::{plugin::Plugin, server::Transformed, BoxError, Primus, Spark};
//!
//! /// Counts the messages each spark sends, in its state.
//! struct Counter;
//! #[derive(Clone, Default)]
//! struct Count(u64);
//!
//! impl Plugin for Counter {
//!     fn server(&self, primus: &Primus) -> Result<(), BoxError> {
//!         primus.transform_incoming(|spark, _data| {
//!             spark.with_state(|c: &mut Count| c.0 += 1);
//!             Ok(Transformed::Keep)
//!         });
//!         Ok(())
//!     }
//! }
//!
//! // An extension trait gives every spark the plugin's API.
//! trait CounterExt {
//!     fn received(&self) -> u64;
//! }
//! impl CounterExt for Spark {
//!     fn received(&self) -> u64 {
//!         self.state::<Count>().map_or(0, |c| c.0)
//!     }
//! }
//!
//! let primus = Primus::new(primus::Options::default()).unwrap();
//! primus.plugin("counter", Counter).unwrap();
//! assert_eq!(primus.plugins(), ["counter"]);
//! ```

use crate::error::{BoxError, PrimusError};
use crate::Primus;
use std::sync::Arc;

/// A Primus plugin. Every method has a default, so implement only the halves you have.
pub trait Plugin: Send + Sync + 'static {
    /// Server half: runs once, when the plugin is added.
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        let _ = primus;
        Ok(())
    }

    /// Runs when the plugin is removed with [`Primus::plugout`].
    fn unplug(&self, primus: &Primus) {
        let _ = primus;
    }

    /// Rust client half: runs for each client built with `Client::from_server`.
    fn client(&self, client: &crate::client::Client) {
        let _ = client;
    }

    /// Browser client half: JavaScript appended to the library served at
    /// `<pathname>/primus.js`. It runs with `Primus` in scope.
    fn library(&self) -> Option<String> {
        None
    }
}

/// The plugins of one server, in the order they were added.
#[derive(Default)]
pub(crate) struct Plugins {
    list: std::sync::RwLock<Vec<(String, Arc<dyn Plugin>)>>,
}

impl Plugins {
    pub(crate) fn all(&self) -> Vec<(String, Arc<dyn Plugin>)> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

type NameHandler = dyn Fn(&str) + Send + Sync;

impl Primus {
    /// Add a plugin (the reference's `primus.use(name, plugin)`): its server half runs
    /// now. Names are unique; adding a second plugin under a taken name is refused.
    pub fn plugin(&self, name: &str, plugin: impl Plugin) -> Result<(), PrimusError> {
        let plugin: Arc<dyn Plugin> = Arc::new(plugin);
        {
            let mut list = self
                .inner
                .plugins
                .list
                .write()
                .unwrap_or_else(|p| p.into_inner());
            if list.iter().any(|(n, _)| n == name) {
                return Err(PrimusError::InvalidOption {
                    name: "plugin",
                    reason: format!("a plugin named `{name}` is already in use: plugout it first"),
                });
            }
            list.push((name.to_string(), plugin.clone()));
        }
        if let Err(e) = plugin.server(self) {
            self.inner
                .plugins
                .list
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(n, _)| n != name);
            return Err(PrimusError::InvalidOption {
                name: "plugin",
                reason: format!("plugin `{name}` failed to start: {e}"),
            });
        }
        for h in self.inner.plugin_events.snapshot().iter() {
            h(name);
        }
        Ok(())
    }

    /// Remove a plugin: its `unplug` runs and `plugout` handlers are told. Returns whether
    /// it was there. (What its server half registered stays, as in the reference, unless
    /// `unplug` removes it.)
    pub fn plugout(&self, name: &str) -> bool {
        let removed = {
            let mut list = self
                .inner
                .plugins
                .list
                .write()
                .unwrap_or_else(|p| p.into_inner());
            let pos = list.iter().position(|(n, _)| n == name);
            pos.map(|i| list.remove(i))
        };
        let Some((_, plugin)) = removed else {
            return false;
        };
        plugin.unplug(self);
        for h in self.inner.plugout_events.snapshot().iter() {
            h(name);
        }
        true
    }

    /// The names of the plugins, in the order they were added.
    pub fn plugins(&self) -> Vec<String> {
        self.inner
            .plugins
            .all()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    /// Run `f` with the name of every plugin added from now on.
    pub fn on_plugin(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        let f: Arc<NameHandler> = Arc::new(f);
        self.inner.plugin_events.push(f);
    }

    /// Run `f` with the name of every plugin removed from now on.
    pub fn on_plugout(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        let f: Arc<NameHandler> = Arc::new(f);
        self.inner.plugout_events.push(f);
    }
}

pub(crate) type PluginEvents = crate::server::registry::HandlerList<NameHandler>;
