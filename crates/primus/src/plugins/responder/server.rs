//! Server half: the [`Responder`] plugin and requests on every [`Spark`].

use super::super::common::Peer;
use super::{parse, Request, ResponderError, ResponderOptions, Shared};
use crate::plugin::Plugin;
use crate::server::Transformed;
use crate::{BoxError, Primus, Spark};
use primus_core::Value;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// The responder plugin: add it with `primus.plugin("responder", Responder::default())`.
#[derive(Debug, Clone, Default)]
pub struct Responder {
    options: ResponderOptions,
}

impl Responder {
    /// The plugin with these limits.
    pub fn new(options: ResponderOptions) -> Self {
        Responder { options }
    }
}

/// A spark's responder state.
#[derive(Clone)]
struct SparkResponder(Arc<Shared<Spark>>);

impl Default for SparkResponder {
    fn default() -> Self {
        SparkResponder(Arc::new(Shared::new(&ResponderOptions::default())))
    }
}

fn state(spark: &Spark) -> Arc<Shared<Spark>> {
    spark.with_state(|s: &mut SparkResponder| s.0.clone())
}

impl Plugin for Responder {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        let options = self.options.clone();
        primus.on_connection(move |spark| {
            let shared = Arc::new(Shared::new(&options));
            // Keep a handler set by a connection listener that ran before this one.
            spark.with_state(|s: &mut SparkResponder| {
                let old = std::mem::replace(&mut s.0, shared.clone());
                let handler = old.handler.lock().unwrap_or_else(|p| p.into_inner()).take();
                *shared.handler.lock().unwrap_or_else(|p| p.into_inner()) = handler;
            });
            spark.on_end(|spark| state(spark).pending.close());
        });
        primus.transform_incoming(|spark, value| match parse(value) {
            None => Ok(Transformed::Keep),
            Some(packet) => {
                let packet = packet.map_err(|e| Box::new(e) as BoxError)?;
                state(spark)
                    .receive(spark, packet, || Peer::Spark(spark.clone()))
                    .map_err(|e| Box::new(e) as BoxError)?;
                Ok(Transformed::Drop)
            }
        });
        Ok(())
    }

    fn library(&self) -> Option<String> {
        Some(include_str!("responder.js").to_string())
    }
}

/// Requests on a spark (needs the [`Responder`] plugin on its server).
pub trait SparkResponderExt {
    /// Answer the client's requests with `handler` (replaces an earlier one).
    fn on_request(&self, handler: impl Fn(&Spark, Request) + Send + Sync + 'static);
    /// Ask the client; resolves with its response's data (`None` when it sent none).
    fn request<T: Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> impl Future<Output = Result<Option<Value>, ResponderError>> + Send;
}

impl SparkResponderExt for Spark {
    fn on_request(&self, handler: impl Fn(&Spark, Request) + Send + Sync + 'static) {
        state(self).set_handler(Arc::new(handler));
    }

    fn request<T: Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> impl Future<Output = Result<Option<Value>, ResponderError>> + Send {
        let data = primus_core::to_value(data);
        let shared = state(self);
        let peer = Peer::Spark(self.clone());
        async move { shared.request(peer, Some(data?)).await }
    }
}
