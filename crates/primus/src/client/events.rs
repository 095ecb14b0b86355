//! What the client reports: its ready state and lifecycle events.

use super::ClientError;
use std::time::Duration;

/// Connection state, numbered like the reference (`Primus.OPENING = 1`, `CLOSED = 2`,
/// `OPEN = 3`). A client starts `Closed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ReadyState {
    /// A connection is being opened.
    Opening = 1,
    /// No connection.
    Closed = 2,
    /// Connected: writes go straight to the server.
    Open = 3,
}

impl ReadyState {
    /// The name the reference passes to `readyStateChange`: `opening`, `open` or `end`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadyState::Opening => "opening",
            ReadyState::Closed => "end",
            ReadyState::Open => "open",
        }
    }

    pub(crate) fn from_u8(v: u8) -> ReadyState {
        match v {
            1 => ReadyState::Opening,
            3 => ReadyState::Open,
            _ => ReadyState::Closed,
        }
    }
}

/// Where a reconnect procedure stands (the reference's `opts` object given to the
/// `reconnect*` events).
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// How many attempts are allowed (`retries`).
    pub retries: u32,
    /// The delay before this attempt (`scheduled`).
    pub scheduled: Duration,
    /// Time since the reconnect procedure started (`duration`).
    pub duration: Duration,
}

/// A lifecycle event, named after the reference's events (protocol.md §6.4).
///
/// Messages themselves are not events: read them from the client's
/// [`Stream`](futures_util::Stream) side.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// `readyStateChange`: the state changed to this one.
    ReadyStateChange(ReadyState),
    /// `open`: connected, and the messages written while offline have been sent.
    Open,
    /// `error`: something went wrong. Decode errors drop the message and keep the connection.
    Error(ClientError),
    /// `close`: the connection closed (a reconnect may follow).
    Close,
    /// `end`: the client is finished; no reconnect will follow and the stream ends.
    End,
    /// `timeout`: the first connection did not open within the connect timeout.
    Timeout,
    /// `reconnect scheduled`: an attempt will start after `scheduled`.
    ReconnectScheduled(Attempt),
    /// `reconnect`: an attempt starts now.
    Reconnect(Attempt),
    /// `reconnected`: the attempt succeeded (`duration` since the procedure started).
    Reconnected(Attempt),
    /// `reconnect timeout`: the attempt did not connect within `reconnect.timeout`.
    ReconnectTimeout(Attempt),
    /// `reconnect failed`: every attempt failed (`Unable to recover`); comes after `End`.
    ReconnectFailed(Attempt),
    /// `offline`: no heartbeat within `ping_timeout`; the connection is dropped.
    Offline,
    /// `online`: a connection opened again after `offline`.
    Online,
    /// A server `primus::ping::<value>` arrived and was answered with `primus::pong::<value>`
    /// (the reference's private `outgoing::pong`).
    Pong(String),
    /// `destroy`: [`Client::destroy`](super::Client::destroy) finished.
    Destroy,
}
