//! The `socket.io` transformer's legacy half: Socket.IO 0.9 clients (npm
//! `socket.io-client@0.9`, protocol revision 1), as the reference's socket.io transformer
//! served them until Primus 5 dropped it.
//!
//! # Connecting
//!
//! The reference gave socket.io 0.9 the Primus pathname as its `resource`, so the 0.9 URLs
//! live under it, after the protocol segment `1`: everything under `<pathname>/1/` is this
//! half's, the rest goes to the Engine.IO layer (Socket.IO protocol 5). A 0.9 client
//! passes the pathname without its leading `/` as `resource`:
//!
//! ```js
//! const io = require('socket.io-client'); // 0.9.x
//! const socket = io.connect('http://127.0.0.1:8080', { resource: 'primus', 'force new connection': true });
//! socket.on('connect', () => socket.send(JSON.stringify('hello')));   // Primus-encoded text
//! socket.on('message', (text) => console.log(JSON.parse(text)));     // ditto
//! ```
//!
//! | request under the pathname | answer |
//! |---|---|
//! | `GET /1/?<query>` | the handshake: a new spark, `<session id>:<heartbeat timeout>:<close timeout>:websocket,xhr-polling,jsonp-polling` (timeouts in seconds); with `jsonp=<n>` wrapped as `io.j[<n>]("…");` |
//! | `GET /1/websocket/<session id>` (upgrade) | the WebSocket transport |
//! | `GET /1/xhr-polling/<session id>` | a poll: the packets waiting, or `8::` after [`SocketIo09Options::polling_duration`] |
//! | `POST /1/xhr-polling/<session id>` | packets from the client (one, or a `\u{fffd}`-framed payload); `1` |
//! | `GET`, `POST /1/jsonp-polling/<session id>?i=<n>` | the same, the answer as `io.j[<n>]("…");`, the body as the form field `d` (a JSON string) |
//! | any of them with `?disconnect` | the client leaves (socket.io-client's synchronous disconnect) |
//!
//! The spark is opened at the handshake and keeps that request's headers, query and
//! address (as the reference's sparks kept socket.io's handshake data). The session id is
//! 126 random bits and **not** the spark id: it is the capability to post into the
//! session, and spark ids are often shown to other clients.
//!
//! # On the wire (codec: [`primus_core::socketio09`])
//!
//! - When the first transport request arrives, the client gets the connect packet `1::`;
//!   frames written to the spark before that wait in its queue and follow it.
//! - A Primus frame goes as a message `3:::<the Primus-encoded text>` (the reference's
//!   `socket.send(encoded)`).
//! - From the client, on the main endpoint: `3:::<text>` (`socket.send`) and `4:::<json>`
//!   (`socket.json.send`) reach the spark as that text; an event named `message`
//!   (`socket.emit('message', arg)`) reaches it as its first argument, a string as it is,
//!   anything else as JSON text. Other events are ignored (debug log). An id asks for an
//!   acknowledgement, which is sent once the message is delivered: `6:::<id>`, or
//!   `6:::<id>+[]` when the client asked for one with data.
//! - Heartbeats on WebSocket: `2::` every [`SocketIo09Options::heartbeat_interval`] (the
//!   next one an interval after the answer), however much the client sends, since
//!   socket.io-client 0.9 counts only what it receives as life; the client answers `2::`
//!   (any packet counts), and a client that stays silent for
//!   [`SocketIo09Options::heartbeat_timeout`] after a heartbeat is dropped. Those answers
//!   also count as life for Primus's own heartbeat (a bare socket.io client does not answer
//!   `primus::ping`). Polling has no heartbeats, as in 0.9: each poll is the sign of life,
//!   and a session with no poll for [`SocketIo09Options::close_timeout`] ends.
//! - Either side leaves with `0::`: the server sends it after the last frames when the
//!   spark ends (then closes the WebSocket, or answers the last poll); the client's ends
//!   the spark.
//! - An unknown or ended session id gets the error packet `7:::1+0` (client not
//!   handshaken, reconnect) on a poll or a WebSocket, as socket.io 0.9 answered, and `404`
//!   on a POST.
//!
//! Limits: a frame over `max_length` ends the session (`413` for a POST, close code 1009
//! on WebSocket); a POST body or WebSocket message may be up to `2 × max_length + 1 KiB`
//! (room for JSON quoting); an undecodable packet ends the session (`400`, close code
//! 1002); POSTs to one session are handled one at a time, in order; polls are answered with
//! at most 64 frames and about `max_length` bytes, the rest waits for the next poll; a
//! second poll while one waits releases the first with `8::`. Each session is one spark
//! with the usual bounded queues and `write_timeout`.
//!
//! # Not supported
//!
//! - Binary: Socket.IO 0.9 has none. With a binary parser (msgpack, binary) the handshake
//!   is refused with `500`; a binary frame written to a 0.9 spark is dropped (debug log);
//!   a binary WebSocket message from the client is refused with close code 1003.
//! - Endpoints (namespaces) other than `""`: `io.connect('…/chat')` gets the error packet
//!   `7::/chat:2` (socket.io-client emits `connect_failed`); packets for other endpoints
//!   are ignored.
//! - The `flashsocket` and `htmlfile` transports (`400`); they are not offered in the
//!   handshake, so clients do not ask for them.
//! - Switching a session to another transport: its first transport request binds it
//!   (socket.io-client 0.9 makes a new handshake when it reconnects).
//! - The Primus client library for 0.9 (`<pathname>/primus.js` still answers `501`):
//!   load socket.io-client 0.9 yourself.

// The module docs link the server half, which a build without `socketio` leaves out.
#![cfg_attr(not(feature = "socketio"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "socketio")]
mod framing;
#[cfg(feature = "socketio")]
pub(crate) mod server;

use crate::error::PrimusError;
use crate::server::Primus;
use serde::Deserialize;
use std::time::Duration;

/// Timers of the Socket.IO 0.9 half of the `socket.io` transformer (`Options::socketio09`).
/// The defaults are socket.io 0.9's. In a config file, milliseconds:
/// `{"socketio09": {"heartbeatInterval": 25000, "closeTimeout": 60000}}`.
///
/// ```
/// use primus::transformers::socketio::legacy::SocketIo09Options;
/// use std::time::Duration;
///
/// let o: SocketIo09Options = serde_json::from_str(r#"{"pollingDuration": 5000}"#).unwrap();
/// assert_eq!(o.polling_duration, Duration::from_secs(5));
/// assert_eq!(o.heartbeat_interval, Duration::from_secs(25));
/// let fast = SocketIo09Options::default().heartbeat(Duration::from_millis(200), Duration::from_millis(600));
/// let primus = primus::Primus::new(
///     primus::Options::default().transformer("socket.io").socketio09(fast),
/// ).unwrap();
/// assert_eq!(primus.socketio09_sessions(), 0);
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct SocketIo09Options {
    /// Time between the server's heartbeats (`2::`) on a WebSocket (default 25 s).
    #[serde(
        deserialize_with = "crate::options::de_ms",
        alias = "heartbeat_interval"
    )]
    pub heartbeat_interval: Duration,
    /// Published in the handshake: the client closes a WebSocket that brings nothing for
    /// this long. The server drops a WebSocket client that has not answered a heartbeat
    /// after this long (default 60 s). Must be longer than `heartbeat_interval`.
    #[serde(
        deserialize_with = "crate::options::de_ms",
        alias = "heartbeat_timeout"
    )]
    pub heartbeat_timeout: Duration,
    /// Published in the handshake: the client gives the connection up after this long
    /// without data. The server ends a session that no transport joined, or that has had
    /// no poll, for this long (default 60 s). Must be longer than `polling_duration` and
    /// `heartbeat_interval`.
    #[serde(deserialize_with = "crate::options::de_ms", alias = "close_timeout")]
    pub close_timeout: Duration,
    /// How long a poll waits for news before it is answered with a noop `8::`
    /// (default 20 s).
    #[serde(deserialize_with = "crate::options::de_ms", alias = "polling_duration")]
    pub polling_duration: Duration,
}

impl Default for SocketIo09Options {
    fn default() -> Self {
        SocketIo09Options {
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(60),
            close_timeout: Duration::from_secs(60),
            polling_duration: Duration::from_secs(20),
        }
    }
}

impl SocketIo09Options {
    /// Set the heartbeat interval and timeout.
    pub fn heartbeat(mut self, interval: Duration, timeout: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.heartbeat_timeout = timeout;
        self
    }
    /// Set the close timeout.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
    /// Set the polling duration.
    pub fn polling_duration(mut self, duration: Duration) -> Self {
        self.polling_duration = duration;
        self
    }

    /// Check that socket.io-client 0.9 can live with these timers.
    #[cfg_attr(not(feature = "socketio"), allow(dead_code))]
    pub(crate) fn validate(&self) -> Result<(), PrimusError> {
        let fail = |reason: &str| {
            Err(PrimusError::InvalidOption {
                name: "socketio09",
                reason: reason.into(),
            })
        };
        let zero = Duration::ZERO;
        if [
            self.heartbeat_interval,
            self.heartbeat_timeout,
            self.close_timeout,
            self.polling_duration,
        ]
        .contains(&zero)
        {
            return fail("Socket.IO 0.9 timers must be longer than zero");
        }
        if self.heartbeat_interval >= self.heartbeat_timeout
            || self.heartbeat_interval >= self.close_timeout
        {
            return fail(
                "heartbeatInterval must be shorter than heartbeatTimeout and closeTimeout, \
                 or socket.io-client 0.9 closes between two heartbeats",
            );
        }
        if self.polling_duration >= self.close_timeout {
            return fail(
                "pollingDuration must be shorter than closeTimeout, or socket.io-client 0.9 \
                 gives up while a poll waits",
            );
        }
        Ok(())
    }
}

impl Primus {
    /// How many Socket.IO 0.9 sessions of the `socket.io` transformer are live, from the
    /// handshake until they are reaped (0 for other transformers).
    pub fn socketio09_sessions(&self) -> usize {
        match &self.inner.transformer {
            #[cfg(feature = "socketio")]
            crate::transformers::Transformer::SocketIo(t) => t.legacy.session_count(),
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_socket_io_09_cannot_live_with_are_refused() {
        assert!(SocketIo09Options::default().validate().is_ok());
        let ms = Duration::from_millis;
        for bad in [
            SocketIo09Options::default().heartbeat(ms(0), ms(10)),
            SocketIo09Options::default().heartbeat(ms(100), ms(100)),
            SocketIo09Options::default()
                .heartbeat(ms(100), ms(200))
                .close_timeout(ms(100)),
            SocketIo09Options::default().polling_duration(ms(60_000)),
        ] {
            let err = bad.validate().unwrap_err();
            assert!(err.to_string().contains("socketio09"), "{err}");
        }
    }
}
