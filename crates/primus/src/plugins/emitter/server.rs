//! Server half: the [`Emitter`] plugin and the event API of every [`Spark`].

use super::super::common::Peer;
use super::{packet, EmitterError, Event, Shared};
use crate::plugin::Plugin;
use crate::server::Transformed;
use crate::{BoxError, Primus, Spark};
use primus_core::Value;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Limits of the emitter, per connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EmitterOptions {
    /// How long [`emit_with_ack`](SparkEmitterExt::emit_with_ack) waits (default 30 s;
    /// the npm plugin waits for ever).
    pub ack_timeout: Duration,
    /// Most acknowledgements awaited at once on one connection (default 1024).
    pub max_pending_acks: usize,
}

impl Default for EmitterOptions {
    fn default() -> Self {
        EmitterOptions {
            ack_timeout: Duration::from_secs(30),
            max_pending_acks: 1024,
        }
    }
}

impl EmitterOptions {
    /// Set the acknowledgement timeout.
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        self.ack_timeout = d;
        self
    }
    /// Set the bound on awaited acknowledgements.
    pub fn max_pending_acks(mut self, n: usize) -> Self {
        self.max_pending_acks = n;
        self
    }
}

/// The emitter plugin: add it with `primus.plugin("emitter", Emitter::default())`.
#[derive(Debug, Clone, Default)]
pub struct Emitter {
    options: EmitterOptions,
}

impl Emitter {
    /// The plugin with these limits.
    pub fn new(options: EmitterOptions) -> Self {
        Emitter { options }
    }
}

/// A spark's emitter state (spark state, one per connection).
#[derive(Clone)]
struct SparkEmitter(Arc<Shared<Spark>>);

impl Default for SparkEmitter {
    fn default() -> Self {
        SparkEmitter(Arc::new(Shared::new(EmitterOptions::default())))
    }
}

fn state(spark: &Spark) -> Arc<Shared<Spark>> {
    spark.with_state(|s: &mut SparkEmitter| s.0.clone())
}

impl Plugin for Emitter {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        let options = self.options.clone();
        primus.on_connection(move |spark| {
            let shared = Arc::new(Shared::new(options.clone()));
            // Keep handlers registered by connection listeners that ran before this one.
            spark.with_state(|s: &mut SparkEmitter| {
                let old = std::mem::replace(&mut s.0, shared.clone());
                let handlers = std::mem::take(&mut old.lock().handlers);
                shared.lock().handlers = handlers;
            });
            spark.on_end(|spark| state(spark).close());
        });
        primus.transform_incoming(|spark, value| match packet::parse(value) {
            None => Ok(Transformed::Keep),
            Some(Err(e)) => Err(Box::new(EmitterError::from(e))),
            Some(Ok(p)) => {
                state(spark)
                    .receive(spark, p, Spark::reserved, || Peer::Spark(spark.clone()))
                    .map_err(|e| Box::new(e) as BoxError)?;
                Ok(Transformed::Drop)
            }
        });
        Ok(())
    }

    fn library(&self) -> Option<String> {
        Some(include_str!("emitter.js").to_string())
    }
}

/// Events on a spark (needs the [`Emitter`] plugin on its server).
pub trait SparkEmitterExt {
    /// Call `handler` for every `name` event from the client. Reserved names (see
    /// [`Spark::reserved`]) are refused.
    fn on_event(
        &self,
        name: &str,
        handler: impl Fn(&Spark, Event) + Send + Sync + 'static,
    ) -> Result<(), EmitterError>;
    /// Send the event `name` with `args` (a tuple for several, `&()` for none).
    fn emit<T: Serialize + ?Sized>(&self, name: &str, args: &T) -> Result<(), EmitterError>;
    /// Send the event and wait for the client's acknowledgement (its arguments).
    fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        name: &str,
        args: &T,
    ) -> impl Future<Output = Result<Vec<Value>, EmitterError>> + Send;
}

impl SparkEmitterExt for Spark {
    fn on_event(
        &self,
        name: &str,
        handler: impl Fn(&Spark, Event) + Send + Sync + 'static,
    ) -> Result<(), EmitterError> {
        state(self).on(name, Spark::reserved(name), Arc::new(handler))
    }

    fn emit<T: Serialize + ?Sized>(&self, name: &str, args: &T) -> Result<(), EmitterError> {
        super::check_name(name)?;
        let args = packet::args_of(args)?;
        let event = packet::event(name, &args, None);
        Peer::Spark(self.clone())
            .write(&event)
            .map_err(EmitterError::Write)
    }

    fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        name: &str,
        args: &T,
    ) -> impl Future<Output = Result<Vec<Value>, EmitterError>> + Send {
        let args = packet::args_of(args);
        let shared = state(self);
        let peer = Peer::Spark(self.clone());
        let name = name.to_string();
        async move { shared.emit_with_ack(peer, &name, args?).await }
    }
}

/// Events to every spark.
pub trait PrimusEmitterExt {
    /// Send the event to every connected spark, encoded once; returns how many got it.
    fn emit_all<T: Serialize + ?Sized>(&self, name: &str, args: &T) -> Result<usize, EmitterError>;
}

impl PrimusEmitterExt for Primus {
    fn emit_all<T: Serialize + ?Sized>(&self, name: &str, args: &T) -> Result<usize, EmitterError> {
        super::check_name(name)?;
        let args = packet::args_of(args)?;
        let event = packet::event(name, &args, None);
        let sent = self.write(&event);
        sent.map_err(|e| EmitterError::Write(e.to_string()))
    }
}
