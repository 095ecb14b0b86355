//! `validation`: declare what each event (and plain message) must look like; invalid
//! messages are refused before any handler sees them (the idea of npm `fortress-maximus`,
//! on the emitter's events).
//!
//! Rules are serde types: an event's arguments must deserialize into the declared type,
//! read as a list (a tuple for several arguments, a 1-tuple for one: `(Chat,)`, or a
//! `Vec`), or pass a check function. A refused message never reaches the emitter or the
//! `data` handlers; the spark gets a [`SparkError::Transform`](crate::SparkError::Transform)
//! naming the rule, and the sender gets the emitter event `invalid` with
//! `{"event": name, "error": reason}` (fortress-maximus tells the sender nothing).
//!
//! The plugin's transform runs before every other incoming transform, whatever the order
//! the plugins were added in ([`Primus::transform_incoming_first`]).
//!
//! ```
//! use primus::plugins::emitter::Emitter;
//! use primus::plugins::validation::Validation;
//! use primus::{Options, Primus};
//!
//! #[derive(serde::Deserialize)]
//! struct Chat {
//!     room: String,
//!     text: String,
//! }
//!
//! let primus = Primus::new(Options::default()).unwrap();
//! primus.plugin("emitter", Emitter::default()).unwrap();
//! primus
//!     .plugin(
//!         "validation",
//!         Validation::new()
//!             .event::<(Chat,)>("say")
//!             .event::<(String, u32)>("move")
//!             .event_with("join", |args| match args.first().and_then(|v| v.as_str()) {
//!                 Some(room) if !room.is_empty() => Ok(()),
//!                 _ => Err("join needs a room name".into()),
//!             })
//!             .strict(),
//!     )
//!     .unwrap();
//! ```
//!
//! JSON Schema rules are not supported; a check function can call a JSON Schema crate.

use super::emitter::packet::{self, Packet};
use crate::plugin::Plugin;
use crate::server::Transformed;
use crate::{BoxError, Primus, Spark};
use primus_core::{from_value, Value};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Arc;

/// A check of an event's arguments (or of a plain message, as one argument).
type Rule = Arc<dyn Fn(&[Value]) -> Result<(), String> + Send + Sync>;

/// Why a message was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The event's arguments do not match its rule.
    #[error("event `{event}` refused: {reason}")]
    Invalid {
        /// The event name (`data` for plain messages).
        event: String,
        /// What the rule said.
        reason: String,
    },
    /// [`Validation::strict`]: an event that has no rule.
    #[error("event `{0}` has no validation rule: declare one, or drop `strict()`")]
    NoRule(String),
}

/// The validation plugin: add it with `primus.plugin("validation", Validation::new()...)`.
#[derive(Clone, Default)]
pub struct Validation {
    events: HashMap<String, Rule>,
    data: Option<Rule>,
    strict: bool,
}

impl std::fmt::Debug for Validation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.events.keys().collect();
        names.sort();
        f.debug_struct("Validation")
            .field("events", &names)
            .field("data", &self.data.is_some())
            .field("strict", &self.strict)
            .finish()
    }
}

/// A rule from a serde type: the values, as a list, must deserialize into `T`.
fn typed<T: DeserializeOwned>() -> Rule {
    Arc::new(|args: &[Value]| {
        from_value::<T>(Value::Array(args.to_vec()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

impl Validation {
    /// No rules yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Event `name`'s arguments, as a list, must deserialize into `T` (a tuple, a 1-tuple
    /// for a single argument, or a `Vec`).
    pub fn event<T: DeserializeOwned + 'static>(mut self, name: &str) -> Self {
        self.events.insert(name.to_string(), typed::<T>());
        self
    }

    /// Event `name`'s arguments must pass `check` (its error is the reason sent back).
    pub fn event_with(
        mut self,
        name: &str,
        check: impl Fn(&[Value]) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.events.insert(name.to_string(), Arc::new(check));
        self
    }

    /// Plain messages (those that are not emitter packets) must deserialize into `T`.
    pub fn data<T: DeserializeOwned + 'static>(mut self) -> Self {
        self.data = Some(Arc::new(|v: &[Value]| {
            from_value::<T>(v[0].clone())
                .map(|_| ())
                .map_err(|e| e.to_string())
        }));
        self
    }

    /// Refuse events that have no rule (fortress-maximus refuses them too).
    pub fn strict(mut self) -> Self {
        self.strict = true;
        self
    }

    /// Check one incoming value; `Err` when it is refused.
    fn check(&self, value: &Value) -> Result<(), ValidationError> {
        match packet::parse(value) {
            Some(Ok(Packet::Event { name, args, .. })) => match self.events.get(&name) {
                Some(rule) => rule(&args).map_err(|reason| ValidationError::Invalid {
                    event: name,
                    reason,
                }),
                None if self.strict => Err(ValidationError::NoRule(name)),
                None => Ok(()),
            },
            // Acknowledgements and broken packets are the emitter's to judge.
            Some(_) => Ok(()),
            None => match &self.data {
                Some(rule) => {
                    rule(std::slice::from_ref(value)).map_err(|reason| ValidationError::Invalid {
                        event: "data".into(),
                        reason,
                    })
                }
                None => Ok(()),
            },
        }
    }
}

/// Tell the sender what was refused: the emitter event `invalid`.
fn tell(spark: &Spark, err: &ValidationError) {
    let (event, reason) = match err {
        ValidationError::Invalid { event, reason } => (event.as_str(), reason.as_str()),
        ValidationError::NoRule(event) => (event.as_str(), "no validation rule for this event"),
    };
    let mut detail = primus_core::Map::new();
    detail.insert("event".into(), Value::from(event));
    detail.insert("error".into(), Value::from(reason));
    let args = [Value::Object(detail)];
    let _ = spark.write(&packet::event("invalid", &args, None));
}

impl Plugin for Validation {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        let rules = Arc::new(self.clone());
        primus.transform_incoming_first(move |spark, value| match rules.check(value) {
            Ok(()) => Ok(Transformed::Keep),
            Err(e) => {
                tell(spark, &e);
                Err(Box::new(e))
            }
        });
        Ok(())
    }
}
