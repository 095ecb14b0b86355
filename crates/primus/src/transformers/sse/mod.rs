//! The `sse` transformer (beyond the reference): Server-Sent Events down, HTTP POST up,
//! for networks where only plain HTTP requests and streamed responses get through (no
//! WebSocket upgrade, no long-polling-hostile proxies that still pass `text/event-stream`).
//!
//! | request under the pathname | answer |
//! |---|---|
//! | `GET /sse?<query>` with `Accept: text/event-stream` | `200 text/event-stream`: a new spark, its events until it ends |
//! | `POST /sse/<session id>` | frames from the client, one per line; `204` |
//! | `DELETE /sse/<session id>` | the client ends the spark; `204` |
//! | `GET /sse` without that `Accept` | `400`, saying what to send |
//! | anything else | `404` (`405` for a wrong method on `/sse`), saying to use `/sse` |
//!
//! Middleware (CORS, authorization, `no-cache`, your layers) runs before all of them, as
//! for every request under the pathname.
//!
//! # The stream
//! `Cache-Control: no-cache` and `X-Accel-Buffering: no` (nginx passes it through
//! unbuffered). It starts with `retry: 2147483647` (so an `EventSource` never reconnects
//! by itself: the Primus client owns reconnection) and `event: open` whose data is the
//! **session id**: 128 random bits in base64url, **not** the spark id. The session id is
//! the capability to POST into the spark, and spark ids are often shown to other clients
//! (rooms, presence), so they must not double as one.
//!
//! Then one event per Primus frame:
//! - a text frame: one `data:` line per `\n`-separated line of it, so the event's data
//!   is the frame, whatever it contains (an `EventSource` joins the lines with `\n`);
//! - a text frame that contains `\r` (a line break in SSE, which `\n` splitting cannot
//!   protect): `event: quoted`, data = the frame as a JSON string literal;
//! - a binary frame (binary parsers work): `event: binary`, data = base64.
//!
//! A `:` comment line goes out after [`SseOptions::keepalive`] (15 s) of silence so that
//! proxies do not time the stream out; Primus's own heartbeat flows as ordinary messages
//! on top. When the spark ends, what is still queued is sent, then `event: close` with
//! data `end` (the last frame was `primus::server::close`) or `reconnect` (any other end),
//! and the body ends. The data is informational: clients close the transport on `close`
//! and the Primus protocol decides whether to reconnect.
//!
//! # Messages from the client
//! `POST <pathname>/sse/<session id>` with a `text/plain` body (CORS-safelisted: no
//! preflight), one frame per line: a text frame as its JSON string literal
//! (`"\"hello\""`), a binary frame as `b<base64>`. Frames reach the spark in order as
//! the body is read (POSTs to one session are handled one at a time); the answer is `204`
//! once all were handed over, `404` for an unknown or ended session, `400` for a line that
//! is neither form, and `413` for a line longer than `2 × max_length + 1 KiB` or a frame
//! longer than `max_length` (the spark then ends like a WebSocket closed with 1009).
//! Frames before a bad line are delivered. The body as a whole is not bounded: one line at
//! a time is buffered, and a slow application slows the POST down.
//!
//! # Lifetimes and backpressure
//! One task per session owns the spark's bounded outgoing queue and writes events into
//! the streaming response through a small bounded channel, each write bounded by
//! `Options::write_timeout`: a client that stops reading is dropped as a slow peer. When
//! the client drops the stream, the spark ends after [`SseOptions::disconnect_delay`]
//! (2 s), which lets POSTs already under way land; there is no resuming a stream.
//!
//! ```
//! use primus::transformers::sse::SseOptions;
//! use std::time::Duration;
//!
//! let options = primus::Options::default()
//!     .transformer("sse")
//!     .sse(SseOptions::default().keepalive(Duration::from_secs(10)));
//! let primus = primus::Primus::new(options).unwrap();
//! assert_eq!(primus.spec().transformer, "sse");
//! assert_eq!(primus.sse_sessions(), 0);
//! ```
//!
//! The Rust client speaks it with `transformer: "sse"` ([`client`]); the browser client
//! served at `<pathname>/primus.js` uses `EventSource` and `fetch`. The wire format lives
//! in [`primus_core::sse`].

// The module docs link the halves, which a build without `sse` leaves out.
#![cfg_attr(not(feature = "sse"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "sse")]
pub mod client;
#[cfg(feature = "sse")]
pub mod server;

use crate::options::de_ms;
use crate::server::Primus;
use serde::Deserialize;
use std::time::Duration;

/// Settings of the `sse` transformer (`Options::sse`). In a config file:
/// `{"sse": {"keepalive": 15000, "disconnectDelay": 2000}}` (milliseconds).
///
/// ```
/// let o: primus::transformers::sse::SseOptions =
///     serde_json::from_str(r#"{"disconnectDelay": 500}"#).unwrap();
/// assert_eq!(o.disconnect_delay, std::time::Duration::from_millis(500));
/// assert_eq!(o.keepalive, std::time::Duration::from_secs(15));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct SseOptions {
    /// Silence on the stream after which a `:` comment line is sent (default 15 s; zero
    /// turns the comments off).
    #[serde(deserialize_with = "de_ms")]
    pub keepalive: Duration,
    /// How long a session lives on after its stream was dropped, for POSTs under way; then
    /// the spark ends (default 2 s).
    #[serde(deserialize_with = "de_ms", alias = "disconnect_delay")]
    pub disconnect_delay: Duration,
}

impl Default for SseOptions {
    fn default() -> Self {
        SseOptions {
            keepalive: Duration::from_secs(15),
            disconnect_delay: Duration::from_secs(2),
        }
    }
}

impl SseOptions {
    /// Set the keep-alive interval.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }
    /// Set the grace after a lost stream.
    pub fn disconnect_delay(mut self, delay: Duration) -> Self {
        self.disconnect_delay = delay;
        self
    }
}

/// Options of the client's `sse` transport (`ClientOptions::transport.sse`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SseClientOptions {
    /// Longest line (and event) accepted from the stream (default 16 MiB: a 10 MiB binary
    /// frame in base64 fits).
    pub max_line: usize,
    /// Extra headers sent with every request (for example a bearer token).
    pub headers: Vec<(String, String)>,
}

impl Default for SseClientOptions {
    fn default() -> Self {
        SseClientOptions {
            max_line: 16 * 1024 * 1024,
            headers: Vec::new(),
        }
    }
}

impl SseClientOptions {
    /// Add a header sent with every request.
    ///
    /// ```
    /// let o = primus::transformers::sse::SseClientOptions::default()
    ///     .header("authorization", "Bearer t");
    /// assert_eq!(o.headers.len(), 1);
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Primus {
    /// How many `sse` sessions are live (streaming, or within `disconnect_delay` of a lost
    /// stream); 0 for other transformers.
    pub fn sse_sessions(&self) -> usize {
        match &self.inner.transformer {
            #[cfg(feature = "sse")]
            crate::transformers::Transformer::Sse(t) => t.session_count(),
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }
}
