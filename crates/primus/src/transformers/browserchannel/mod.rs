//! The `browserchannel` transformer: Google's BrowserChannel protocol (version 8) as the
//! npm `browserchannel` 2.1 server speaks it behind Node Primus, for the official Primus
//! client built for browserchannel and for npm `browserchannel`'s `BCSocket`.
//!
//! | request under the pathname | answer |
//! |---|---|
//! | `GET /test?VER=8&MODE=init` | `200` `[null,null]` (no host prefix), with `X-Accept` |
//! | `GET /test?VER=8&TYPE=xmlhttp` | `200`, `11111`, then `2` two seconds later (the client's buffering-proxy test) |
//! | `POST /bind?VER=8&RID=…` (no `SID`) | a new session and spark; the body's maps are delivered; the answer is one chunk: array 0 `["c",sid,null,8]` and what the spark has queued |
//! | `POST /bind?VER=8&SID=…&RID=…&AID=…` | the body's maps (`req<N>__S` = one frame) delivered in order; answer `[back channel?, last array sent, bytes unacknowledged]` |
//! | `GET /bind?VER=8&SID=…&RID=rpc&AID=…&CI=0&TYPE=xmlhttp` | the back channel: chunks of `[id, data]` arrays while it lasts (`CI=1`: one chunk, then it ends) |
//! | `GET /bind?VER=8&SID=…&RID=…&TYPE=terminate` | the client ends the session and its spark; `200` |
//! | unknown or ended `SID` | `400`, body naming `Unknown SID` (what the client looks for) |
//! | `VER` other than 8 | `400 Version 8 required` |
//! | anything else | `404` (`405` for another method on `/bind`), saying to use `/test` and `/bind` |
//!
//! Middleware (CORS, authorization, your layers) runs before all of them, as for every
//! request under the pathname: a refused authorization is the reference's `401`/`403`,
//! which the official client reports as `Request failed`. Every answer carries the
//! reference's no-cache headers and `X-Content-Type-Options: nosniff`; there is no
//! cross-domain support beyond the CORS middleware (no host prefixes).
//!
//! # Messages
//! One Primus frame is one BrowserChannel string message each way: a map `{_S: frame}` up
//! (`req0__S=%22hello%22` in the form body), one array whose data is the frame as a JSON
//! string down (`[15,"\"hello\""]`). A map carrying `JSON` (what `BCSocket.send(object)`
//! makes) is a frame of that JSON text, which the JSON parser decodes to the same value
//! the reference's spark gets; maps with neither key are skipped. Up to 1000 maps per
//! request; the body is bounded by `3 × max_length + 64 KiB`, a frame by `max_length`
//! (`413`, nothing of the request is delivered, and the spark ends as a WebSocket closed
//! with 1009 would; the request that creates a session is refused before a spark
//! exists). Our clients (Rust and browser) batch within that bound; the official closure
//! client batches up to 1000 maps with no byte bound, so a burst of large messages from
//! it can go over and end its spark. Map numbers already delivered are skipped (a
//! retried request), a gap in them is refused (`400 Bad data`): the official client
//! sends one forward request at a time, so only a broken client makes one.
//!
//! **Binary:** the protocol carries strings only (the reference fails on binary frames),
//! so binary parsers (msgpack, binary) are refused when the server is built, and a binary
//! frame queued with `Spark::write_frame` is dropped and reported as
//! `SparkError::TextOnly` on the spark (the connection stays).
//!
//! # The session task
//! One task per session owns the spark's bounded outgoing queue and numbers what it sends.
//! Arrays stay until the client acknowledges them (`AID` on any later request) and are
//! sent again on a new back channel, so nothing is lost when a back channel breaks.
//! Unacknowledged arrays are bounded by `Options::queue_size`: while that many wait, the
//! task takes nothing more from the spark's queue (so writes see `Full` or wait, as with a
//! slow WebSocket peer), and it ends the back channel once all of them were sent so that
//! the client reopens it and acknowledges. Messages written while no back channel is
//! open become arrays all the same, within that bound, and go out on the next one. A
//! back channel also ends after [`BrowserChannelOptions::back_channel_limit`] bytes
//! (10 KiB, like the reference), each write is bounded by `Options::write_timeout` (a
//! client that stops reading is dropped as a slow peer, 1008), and `["noop"]` goes out
//! after [`BrowserChannelOptions::keepalive`] (20 s) of silence. A forward request whose
//! answer waits more than `write_timeout` for the session task (busy writing to a back
//! channel read slowly) gets `503 Session busy`; that path is not covered by a test (it
//! needs a client reading just fast enough to keep each write under the timeout).
//!
//! A session without a back channel for [`BrowserChannelOptions::session_timeout`] (30 s)
//! ends its spark. When the server ends a spark, what is queued goes out, then
//! `["stop"]` (the client reports `Stopped by server`, then closes; Primus's
//! `primus::server::close` before it decides whether it reconnects); the session lingers
//! until the client acknowledges the stop, terminates, or the session timeout passes, so a
//! broken back channel still gets the last arrays again. Our clients terminate as soon as
//! they get the `stop`; the official closure client does not, so its session lingers for
//! the session timeout (the spark is gone at once all the same).
//!
//! # Differences from the reference
//! - Session ids are 128 random bits (22 characters), not 8 base-36 characters, and spark
//!   ids are ours (`Options::id_generator` or 21-character ids), not the session id: the
//!   session id is the capability to post into a spark.
//! - `TYPE=html` (the iframe back channel of old Internet Explorer) is refused with `400`;
//!   `/bcsocket.js` (the closure-compiled client) is not served.
//! - `noop` goes out after silence rather than on a fixed interval, and maps of one
//!   session are handled one request at a time, in arrival order (the reference reorders
//!   by `RID`).
//!
//! ```
//! use primus::transformers::browserchannel::BrowserChannelOptions;
//! use std::time::Duration;
//!
//! let options = primus::Options::default()
//!     .transformer("browserchannel")
//!     .browserchannel(BrowserChannelOptions::default().session_timeout(Duration::from_secs(10)));
//! let primus = primus::Primus::new(options).unwrap();
//! assert_eq!(primus.spec().transformer, "browserchannel");
//! assert_eq!(primus.browserchannel_sessions(), 0);
//! // Binary parsers cannot ride on BrowserChannel.
//! assert!(primus::Primus::new(
//!     primus::Options::default().transformer("browserchannel").parser("msgpack")
//! ).is_err());
//! ```
//!
//! The Rust client speaks it with `transformer: "browserchannel"` ([`client`]); the
//! browser client served at `<pathname>/primus.js` has its own transport (XHR back
//! channel, `fetch` forward channel). The wire format lives in
//! [`primus_core::browserchannel`].

// The module docs link the halves, which a build without `browserchannel` leaves out.
#![cfg_attr(
    not(feature = "browserchannel"),
    allow(rustdoc::broken_intra_doc_links)
)]

#[cfg(feature = "browserchannel")]
pub mod client;
#[cfg(feature = "browserchannel")]
pub mod server;

use crate::options::de_ms;
use crate::server::Primus;
use serde::Deserialize;
use std::time::Duration;

/// Settings of the `browserchannel` transformer (`Options::browserchannel`). In a config
/// file, in milliseconds and bytes: `{"browserchannel": {"keepalive": 20000,
/// "sessionTimeout": 30000, "backChannelLimit": 10240}}`; the reference's names
/// `keepAliveInterval` and `sessionTimeoutInterval` are accepted too.
///
/// ```
/// let o: primus::transformers::browserchannel::BrowserChannelOptions =
///     serde_json::from_str(r#"{"sessionTimeoutInterval": 500}"#).unwrap();
/// assert_eq!(o.session_timeout, std::time::Duration::from_millis(500));
/// assert_eq!(o.keepalive, std::time::Duration::from_secs(20));
/// assert_eq!(o.back_channel_limit, 10 * 1024);
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct BrowserChannelOptions {
    /// Silence on a back channel after which a `["noop"]` array is sent (default 20 s, the
    /// reference's `keepAliveInterval`; zero turns it off).
    #[serde(deserialize_with = "de_ms", alias = "keepAliveInterval")]
    pub keepalive: Duration,
    /// How long a session lives without a back channel before its spark ends (default
    /// 30 s, the reference's `sessionTimeoutInterval`).
    #[serde(
        deserialize_with = "de_ms",
        alias = "sessionTimeoutInterval",
        alias = "session_timeout"
    )]
    pub session_timeout: Duration,
    /// Bytes written on one back channel after which the server ends it, so that the
    /// client opens another and acknowledges what it got (default 10 KiB, as the
    /// reference).
    #[serde(alias = "back_channel_limit")]
    pub back_channel_limit: usize,
}

impl Default for BrowserChannelOptions {
    fn default() -> Self {
        BrowserChannelOptions {
            keepalive: Duration::from_secs(20),
            session_timeout: Duration::from_secs(30),
            back_channel_limit: 10 * 1024,
        }
    }
}

impl BrowserChannelOptions {
    /// Set the keep-alive interval.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = every;
        self
    }
    /// Set how long a session lives without a back channel.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }
    /// Set the bytes after which a back channel is ended.
    pub fn back_channel_limit(mut self, bytes: usize) -> Self {
        self.back_channel_limit = bytes;
        self
    }
}

/// Options of the client's `browserchannel` transport
/// (`ClientOptions::transport.browserchannel`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BrowserChannelClientOptions {
    /// Longest back-channel chunk accepted, in UTF-16 code units (default 64 Mi: the
    /// server may send many queued 10 MiB frames in one chunk).
    pub max_chunk: usize,
    /// Extra headers sent with every request (for example a bearer token).
    pub headers: Vec<(String, String)>,
}

impl Default for BrowserChannelClientOptions {
    fn default() -> Self {
        BrowserChannelClientOptions {
            max_chunk: 64 * 1024 * 1024,
            headers: Vec::new(),
        }
    }
}

impl BrowserChannelClientOptions {
    /// Add a header sent with every request.
    ///
    /// ```
    /// let o = primus::transformers::browserchannel::BrowserChannelClientOptions::default()
    ///     .header("authorization", "Bearer t");
    /// assert_eq!(o.headers.len(), 1);
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

impl Primus {
    /// How many `browserchannel` sessions are live (including ones lingering after their
    /// spark ended, until the client acknowledges the stop or the session times out); 0
    /// for other transformers.
    pub fn browserchannel_sessions(&self) -> usize {
        match &self.inner.transformer {
            #[cfg(feature = "browserchannel")]
            crate::transformers::Transformer::BrowserChannel(t) => t.session_count(),
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }
}
