//! Server half: the [`Multiplex`] plugin and the substream API of every [`Spark`].

use super::{Link, MultiplexError, MultiplexOptions, Shared, Substream};
use crate::plugin::Plugin;
use crate::server::Transformed;
use crate::{BoxError, Primus, Spark};
use std::sync::Arc;

/// The multiplex plugin: add it with `primus.plugin("multiplex", Multiplex::default())`.
///
/// ```
/// use primus::plugins::multiplex::{Multiplex, MultiplexOptions};
/// let primus = primus::Primus::new(primus::Options::default()).unwrap();
/// let options = MultiplexOptions::default().max_substreams(16);
/// primus.plugin("multiplex", Multiplex::new(options)).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Multiplex {
    options: MultiplexOptions,
}

impl Multiplex {
    /// The plugin with these limits.
    pub fn new(options: MultiplexOptions) -> Self {
        Multiplex { options }
    }
}

/// The limits, as server-wide state (sparks read them when their registry is created).
#[derive(Clone)]
struct ServerOptions(MultiplexOptions);

/// A spark's substreams (spark state), created on first use.
#[derive(Clone, Default)]
struct SparkMux(Option<Arc<Shared<Spark>>>);

/// The spark's registry, if it has one.
fn existing(spark: &Spark) -> Option<Arc<Shared<Spark>>> {
    spark.state::<SparkMux>().and_then(|m| m.0)
}

/// The spark's registry, created if needed.
fn state(spark: &Spark) -> Arc<Shared<Spark>> {
    if let Some(shared) = existing(spark) {
        return shared;
    }
    let options = spark
        .primus()
        .state::<ServerOptions>()
        .map(|o| o.0)
        .unwrap_or_default();
    let shared = spark
        .with_state(|m: &mut SparkMux| m.0.get_or_insert_with(|| Shared::new(options)).clone());
    // Created after the spark ended (its `end` handler found nothing to close).
    if !spark.is_open() {
        shared.close_all();
    }
    shared
}

impl Plugin for Multiplex {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        primus.set_state(ServerOptions(self.options.clone()));
        primus.on_connection(|spark| {
            spark.on_end(|spark| {
                if let Some(shared) = existing(spark) {
                    shared.close_all();
                }
            });
        });
        let max_name = self.options.max_name_len;
        primus.transform_incoming(move |spark, value| {
            if !super::looks_like_packet(value) {
                return Ok(Transformed::Keep);
            }
            let Some(shared) = existing(spark) else {
                // Nothing open, nothing accepted: plain data, unless broken.
                return match super::packet::parse(value, max_name) {
                    Some(Err(e)) => Err(Box::new(MultiplexError::from(e))),
                    _ => Ok(Transformed::Keep),
                };
            };
            match shared.receive(spark, value, || Link::Spark(spark.clone())) {
                Ok(true) => Ok(Transformed::Drop),
                Ok(false) => Ok(Transformed::Keep),
                Err(e) => Err(Box::new(e)),
            }
        });
        Ok(())
    }

    fn library(&self) -> Option<String> {
        Some(
            include_str!("multiplex.js")
                .replace(
                    "__MAX_SUBSTREAMS__",
                    &self.options.max_substreams.to_string(),
                )
                .replace("__MAX_NAME_LEN__", &self.options.max_name_len.to_string()),
        )
    }
}

/// Substreams on a spark (needs the [`Multiplex`] plugin on its server).
pub trait SparkMultiplexExt {
    /// The substream `name` of this connection: the open one, or a new one (nothing is
    /// sent until you write). Fails when the name is too long, the connection has its
    /// maximum of substreams, or the spark has ended.
    ///
    /// ```no_run
    /// # fn f(spark: primus::Spark) -> Result<(), primus::plugins::multiplex::MultiplexError> {
    /// use primus::plugins::multiplex::SparkMultiplexExt;
    /// spark.substream("news")?.write(&serde_json::json!({ "headline": "hi" }))?;
    /// # Ok(()) }
    /// ```
    fn substream(&self, name: &str) -> Result<Substream, MultiplexError>;

    /// Accept the substreams the client opens: when a packet comes for a substream not
    /// open here, `handler` gets it, new, with that packet as its first message (see the
    /// [module docs](super#choices-differences-from-npm-substream)). A later call
    /// replaces the handler. Without one, such packets are plain data (like npm).
    ///
    /// ```no_run
    /// # fn f(spark: primus::Spark) {
    /// use primus::plugins::multiplex::SparkMultiplexExt;
    /// spark.on_substream(|spark, sub| {
    ///     println!("{} opened {}", spark.id(), sub.name());
    /// });
    /// # }
    /// ```
    fn on_substream(&self, handler: impl Fn(&Spark, Substream) + Send + Sync + 'static);

    /// The names of the substreams open on this connection, sorted (npm's
    /// `Object.keys(spark.streams)`).
    fn substreams(&self) -> Vec<String>;
}

impl SparkMultiplexExt for Spark {
    fn substream(&self, name: &str) -> Result<Substream, MultiplexError> {
        if !self.is_open() {
            return Err(MultiplexError::Closed);
        }
        state(self).open(name, || Link::Spark(self.clone()))
    }

    fn on_substream(&self, handler: impl Fn(&Spark, Substream) + Send + Sync + 'static) {
        state(self).on_substream(Arc::new(handler));
    }

    fn substreams(&self) -> Vec<String> {
        existing(self).map(|s| s.names()).unwrap_or_default()
    }
}
