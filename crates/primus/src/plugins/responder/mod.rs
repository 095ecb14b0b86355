//! `responder`: request/response in both directions on one connection, wire-compatible
//! with npm `primus-responder` 1.x (its client and server, in either role).
//!
//! - server half: [`Responder`] (the plugin) and [`SparkResponderExt`] on every spark:
//!   `spark.on_request(handler)` answers the client's requests, `spark.request(&data).await`
//!   asks the client;
//! - Rust client half: [`ClientResponder`];
//! - browser half: `responder.js` in `<pathname>/primus.js` when the plugin is added
//!   (`primus.writeAndWait(data, fn)` and the `request` event `(data, done)`, like npm).
//!
//! On the wire a request is `{"plugin":"primus-responder","requestId":"<uuid v4>","data":…}`
//! and its response `{"plugin":"primus-responder","responseId":"<same>","data":…}`
//! (`data` left out when there is none).
//!
//! ```
//! use primus::plugins::responder::{Responder, SparkResponderExt};
//! use primus::{Options, Primus, Value};
//!
//! let primus = Primus::new(Options::default()).unwrap();
//! primus.plugin("responder", Responder::default()).unwrap();
//! primus.on_connection(|spark| {
//!     spark.on_request(|_, request| {
//!         let n: i64 = request.decode().unwrap_or(0);
//!         let _ = request.reply(&(n * 2));
//!     });
//! });
//! ```
//!
//! Beyond the npm plugin, on purpose: requests time out and are bounded in number
//! ([`ResponderOptions`]); a request is answered at most once; a response with an unknown
//! id, an envelope without an id and a request with no handler are reported as errors
//! ([`SparkError::Transform`](crate::SparkError::Transform) on the server).

mod client;
mod server;

pub use client::ClientResponder;
pub use server::{Responder, SparkResponderExt};

use super::common::{Peer, Replies, Unanswered};
use primus_core::{from_value, Value, ValueError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The `plugin` field that marks an envelope.
const MARK: &str = "primus-responder";

/// Limits of the responder, per connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ResponderOptions {
    /// How long a request waits for its response (default 30 s; npm waits for ever).
    pub timeout: Duration,
    /// Most requests awaiting a response at once on one connection (default 1024).
    pub max_pending: usize,
}

impl Default for ResponderOptions {
    fn default() -> Self {
        ResponderOptions {
            timeout: Duration::from_secs(30),
            max_pending: 1024,
        }
    }
}

impl ResponderOptions {
    /// Set the response timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Set the bound on requests awaiting a response.
    pub fn max_pending(mut self, n: usize) -> Self {
        self.max_pending = n;
        self
    }
}

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponderError {
    /// No response within [`ResponderOptions::timeout`].
    #[error("no response within {0:?}: raise `timeout` or check the peer answers requests")]
    Timeout(Duration),
    /// Too many requests await a response on this connection.
    #[error("{limit} requests already await a response: raise `max_pending` or await some first")]
    TooManyPending {
        /// [`ResponderOptions::max_pending`].
        limit: usize,
    },
    /// The connection ended before the response came.
    #[error("the connection ended before the response came")]
    Closed,
    /// A response whose id no request waits for (answered already, timed out, never sent).
    #[error("response for unknown request id `{0}`")]
    UnknownResponse(String),
    /// A responder envelope without a request or response id.
    #[error("primus-responder envelope without `requestId` or `responseId`")]
    NoId,
    /// A request arrived and nothing handles requests on this connection.
    #[error("request `{0}` without a handler: add one with on_request")]
    NoHandler(String),
    /// The data could not be turned into a value.
    #[error("request data: {0}")]
    Encode(#[from] ValueError),
    /// Writing failed.
    #[error("writing the request or response: {0}")]
    Write(String),
}

impl From<Unanswered> for ResponderError {
    fn from(u: Unanswered) -> Self {
        match u {
            Unanswered::TooMany { limit } => ResponderError::TooManyPending { limit },
            Unanswered::Closed => ResponderError::Closed,
            Unanswered::Timeout(d) => ResponderError::Timeout(d),
        }
    }
}

/// A request from the peer.
#[derive(Debug, Clone)]
pub struct Request {
    data: Option<Value>,
    reply: Reply,
}

impl Request {
    /// The request's data (`None` when the sender sent none).
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }
    /// The data as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ValueError> {
        from_value(self.data.clone().unwrap_or(Value::Null))
    }
    /// Answer with `data`. Only the first answer is sent: `Ok(false)` after that.
    pub fn reply<T: Serialize + ?Sized>(&self, data: &T) -> Result<bool, ResponderError> {
        self.reply.send(Some(primus_core::to_value(data)?))
    }
    /// Answer without data (`data` left out, like `done()` in npm).
    pub fn reply_empty(&self) -> Result<bool, ResponderError> {
        self.reply.send(None)
    }
    /// The request id (a uuid).
    pub fn id(&self) -> &str {
        &self.reply.id
    }
}

/// Where and how a request is answered (once).
#[derive(Clone)]
struct Reply {
    id: Arc<str>,
    sent: Arc<AtomicBool>,
    to: Peer,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Reply {
    fn send(&self, data: Option<Value>) -> Result<bool, ResponderError> {
        if self.sent.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        self.to
            .write(&Envelope::response(&self.id, data.as_ref()))
            .map_err(ResponderError::Write)?;
        Ok(true)
    }
}

/// The wire envelope, fields in the npm plugin's order.
#[derive(Serialize)]
struct Envelope<'a> {
    plugin: &'static str,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(rename = "responseId", skip_serializing_if = "Option::is_none")]
    response_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
}

impl<'a> Envelope<'a> {
    fn request(id: &'a str, data: Option<&'a Value>) -> Self {
        Envelope {
            plugin: MARK,
            request_id: Some(id),
            response_id: None,
            data,
        }
    }
    fn response(id: &'a str, data: Option<&'a Value>) -> Self {
        Envelope {
            plugin: MARK,
            request_id: None,
            response_id: Some(id),
            data,
        }
    }
}

/// A decoded envelope.
#[derive(Debug, PartialEq)]
enum Packet {
    Request { id: String, data: Option<Value> },
    Response { id: String, data: Option<Value> },
}

/// `None` for values that are not responder envelopes (ordinary data); an error for an
/// envelope without an id. Like npm, a truthy `requestId` wins over `responseId`.
fn parse(value: &mut Value) -> Option<Result<Packet, ResponderError>> {
    let obj = value.as_object_mut()?;
    if obj.get("plugin").and_then(Value::as_str) != Some(MARK) {
        return None;
    }
    let id = |key: &str| match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let (request, response) = (id("requestId"), id("responseId"));
    let data = obj.shift_remove("data");
    Some(match (request, response) {
        (Some(id), _) => Ok(Packet::Request { id, data }),
        (None, Some(id)) => Ok(Packet::Response { id, data }),
        (None, None) => Err(ResponderError::NoId),
    })
}

/// A fresh request id: a random uuid v4, like npm's node-uuid.
fn new_id() -> String {
    let n: u128 = rand::random();
    // Version 4 and the RFC 4122 variant.
    let n = (n & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

type Handler<C> = Arc<dyn Fn(&C, Request) + Send + Sync>;

/// One side's responder state for one connection; shared by both halves.
struct Shared<C> {
    handler: Mutex<Option<Handler<C>>>,
    pending: Replies<String, Option<Value>>,
    timeout: Duration,
}

impl<C> Shared<C> {
    fn new(options: &ResponderOptions) -> Self {
        Shared {
            handler: Mutex::new(None),
            pending: Replies::new(options.max_pending),
            timeout: options.timeout,
        }
    }

    fn set_handler(&self, h: Handler<C>) {
        *self.handler.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
    }

    /// Send a request through `peer` and wait for its response's data.
    async fn request(
        &self,
        peer: Peer,
        data: Option<Value>,
    ) -> Result<Option<Value>, ResponderError> {
        let id = new_id();
        let waiter = self.pending.register(id.clone())?;
        if let Err(e) = peer.write(&Envelope::request(&id, data.as_ref())) {
            self.pending.forget(&id);
            return Err(ResponderError::Write(e));
        }
        Ok(self.pending.wait(waiter, self.timeout).await?)
    }

    /// An envelope from the peer.
    fn receive(
        &self,
        conn: &C,
        packet: Packet,
        peer: impl FnOnce() -> Peer,
    ) -> Result<(), ResponderError> {
        match packet {
            Packet::Response { id, data } => match self.pending.resolve(&id, data) {
                true => Ok(()),
                false => Err(ResponderError::UnknownResponse(id)),
            },
            Packet::Request { id, data } => {
                let handler = self
                    .handler
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let Some(handler) = handler else {
                    return Err(ResponderError::NoHandler(id));
                };
                let reply = Reply {
                    id: id.into(),
                    sent: Arc::new(AtomicBool::new(false)),
                    to: peer(),
                };
                handler(conn, Request { data, reply });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn envelopes_are_byte_equal_to_the_npm_plugin() {
        let id = "0f5c7a4e-1b2d-4c3e-8f9a-0123456789ab";
        let q = value(r#"{"q":1}"#);
        assert_eq!(
            serde_json::to_string(&Envelope::request(id, Some(&q))).unwrap(),
            format!(r#"{{"plugin":"primus-responder","requestId":"{id}","data":{{"q":1}}}}"#)
        );
        assert_eq!(
            serde_json::to_string(&Envelope::response(id, None)).unwrap(),
            format!(r#"{{"plugin":"primus-responder","responseId":"{id}"}}"#)
        );
    }

    #[test]
    fn parses_envelopes_and_leaves_other_values_alone() {
        let mut v = value(r#"{"plugin":"primus-responder","requestId":"a","data":[1]}"#);
        assert_eq!(
            parse(&mut v).unwrap().unwrap(),
            Packet::Request {
                id: "a".into(),
                data: Some(value("[1]"))
            }
        );
        let mut v = value(r#"{"plugin":"primus-responder","responseId":"b"}"#);
        assert_eq!(
            parse(&mut v).unwrap().unwrap(),
            Packet::Response {
                id: "b".into(),
                data: None
            }
        );
        let mut v = value(r#"{"plugin":"primus-responder"}"#);
        assert!(matches!(parse(&mut v), Some(Err(ResponderError::NoId))));
        for s in ["null", "1", r#"{"plugin":"other","requestId":"a"}"#, "[]"] {
            assert!(parse(&mut value(s)).is_none(), "{s}");
        }
    }

    #[test]
    fn ids_are_uuid_v4() {
        for _ in 0..100 {
            let id = new_id();
            assert_eq!(id.len(), 36);
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'), "{id}");
            assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{id}");
        }
        assert_ne!(new_id(), new_id());
    }
}
