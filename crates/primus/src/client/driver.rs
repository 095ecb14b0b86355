//! The connection driver: one task per client that connects, reconnects with back-off,
//! answers heartbeats, detects a silent server, and moves frames between the transport,
//! the outgoing queue and the incoming channel.
//!
//! It follows the reference's event order (protocol.md §6.4), for example on a dropped
//! connection: `readyStateChange(end)`, `close`, `reconnect scheduled`,
//! `readyStateChange(opening)`, `reconnect`, `reconnected`, `readyStateChange(open)`, `open`.

use super::events::Attempt;
use super::message::Message;
use super::shared::{Shared, Stop};
use super::transport::{Connection, Transport};
use super::url::Endpoint;
use super::{ClientError, ClientEvent, ClientOptions, ReadyState};
use primus_core::backoff::Schedule;
use primus_core::{protocol, Frame, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep, sleep_until, timeout, Instant};

/// Frames sent per loop turn before the driver looks at incoming data again.
const SEND_BATCH: usize = 64;
/// How long a graceful close may take before the socket is simply dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// `end()`: how long to wait for the server's side of the close, delivering what it
/// still sends (replies to the last writes) meanwhile.
const END_DRAIN: Duration = Duration::from_secs(2);
/// Write timeout when no heartbeat timeout is configured.
const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an open connection stopped.
enum Outcome {
    /// `end()`/`destroy()` was called; the connection is closed.
    Stop(Stop),
    /// The server sent `primus::server::close` and closed: end without reconnecting.
    ServerClosed,
    /// The connection dropped (or went silent): reconnect per strategy.
    Lost,
}

/// A running reconnect procedure (the reference's `recovery.attempt`).
struct Recovery {
    schedule: Schedule,
    start: Instant,
    scheduled: Duration,
}

impl Recovery {
    fn info(&self) -> Attempt {
        Attempt {
            attempt: self.schedule.attempt(),
            retries: self.schedule.backoff().retries,
            scheduled: self.scheduled,
            duration: self.start.elapsed(),
        }
    }
}

pub(crate) struct Driver {
    pub(crate) shared: Arc<Shared>,
    pub(crate) options: ClientOptions,
    pub(crate) endpoint: Endpoint,
    pub(crate) transport: Transport,
    pub(crate) incoming: Option<mpsc::Sender<Message>>,
    /// `end()` is closing the connection: pings go unanswered.
    pub(crate) closing: bool,
}

impl Driver {
    pub(crate) async fn run(mut self) {
        self.run_inner().await;
        // Dropping the sender ends the client's stream.
        self.incoming = None;
        self.shared.finish();
    }

    fn emit(&self, event: ClientEvent) {
        self.shared.emit(event);
    }

    /// The end of the road: `readyStateChange(end)` and `close` if a connection was still
    /// around, then `end` (and `destroy`).
    fn end_events(&self, stop: Option<Stop>) {
        if self.shared.ready_state() != ReadyState::Closed {
            self.shared.set_ready_state(ReadyState::Closed);
            self.emit(ClientEvent::Close);
        }
        self.emit(ClientEvent::End);
        if stop == Some(Stop::Destroy) {
            self.emit(ClientEvent::Destroy);
        }
    }

    /// Resolves when `end()`/`destroy()` is requested. Cancel safe.
    async fn stop_requested(shared: &Shared) -> Stop {
        loop {
            let notified = shared.wake.notified();
            if let Some(stop) = shared.stop_requested() {
                return stop;
            }
            notified.await;
        }
    }

    async fn run_inner(&mut self) {
        if self.options.manual {
            loop {
                let notified = self.shared.wake.notified();
                if let Some(stop) = self.shared.stop_requested() {
                    return self.end_events(Some(stop));
                }
                if self.shared.take_open_request() {
                    break;
                }
                notified.await;
            }
        }
        let mut online = true;
        let mut recovery: Option<Recovery> = None;
        loop {
            // ---- connect ----
            self.shared.set_ready_state(ReadyState::Opening);
            if let Some(r) = &recovery {
                self.emit(ClientEvent::Reconnect(r.info()));
            }
            let limit = match recovery {
                Some(_) => Some(self.options.reconnect.timeout),
                None => self.options.timeout,
            };
            let connect = self.transport.connect(&self.endpoint, &self.options);
            let attempt = async {
                match limit {
                    Some(limit) => timeout(limit, connect)
                        .await
                        .unwrap_or(Err(ClientError::Timeout)),
                    None => connect.await,
                }
            };
            // `end()` while the first connection is being opened, with writes queued:
            // finish opening (within the connect timeout) so they are sent, like
            // writes made before `end()` on an open connection. `destroy()`, or `end()`
            // with nothing queued or during a reconnect, stops at once.
            let end_can_wait = recovery.is_none();
            let shared = self.shared.clone();
            let stopped = async {
                loop {
                    let stop = Self::stop_requested(&shared).await;
                    if !(end_can_wait && stop == Stop::End && shared.queued() > 0) {
                        return stop;
                    }
                    // Wait for a change (a destroy) without spinning; a wake that came
                    // meanwhile is kept as a permit by `notify_one`.
                    shared.wake.notified().await;
                }
            };
            let result = tokio::select! {
                result = attempt => result,
                stop = stopped => return self.end_events(Some(stop)),
            };
            match result {
                Ok(mut conn) => {
                    if let Some(r) = recovery.take() {
                        self.emit(ClientEvent::Reconnected(r.info()));
                    }
                    if !online {
                        online = true;
                        self.emit(ClientEvent::Online);
                    }
                    self.shared.set_ready_state(ReadyState::Open);
                    let outcome = self.serve(&mut conn, &mut online).await;
                    drop(conn);
                    match outcome {
                        Outcome::Stop(stop) => return self.end_events(Some(stop)),
                        Outcome::ServerClosed => return self.end_events(None),
                        Outcome::Lost => {
                            self.shared.set_ready_state(ReadyState::Closed);
                            self.emit(ClientEvent::Close);
                            self.shared.reask_id_if_waiting();
                            if !self.options.strategy.disconnect {
                                return self.end_events(None);
                            }
                            recovery = Some(self.new_recovery());
                        }
                    }
                }
                Err(error) => {
                    let timed_out = error == ClientError::Timeout;
                    match &recovery {
                        Some(r) => {
                            if timed_out {
                                self.emit(ClientEvent::ReconnectTimeout(r.info()));
                            } else {
                                self.emit(ClientEvent::Error(error));
                            }
                            self.shared.set_ready_state(ReadyState::Closed);
                        }
                        None => {
                            self.emit(if timed_out {
                                ClientEvent::Timeout
                            } else {
                                ClientEvent::Error(error)
                            });
                            if !self.options.strategy.timeout {
                                return self.end_events(None);
                            }
                            self.shared.set_ready_state(ReadyState::Closed);
                            recovery = Some(self.new_recovery());
                        }
                    }
                }
            }

            // ---- back off ----
            let Some(r) = recovery.as_mut() else {
                return self.end_events(None);
            };
            let Some((_, delay)) = r.schedule.next_attempt(rand::random::<f64>) else {
                let info = r.info();
                self.end_events(None);
                self.emit(ClientEvent::ReconnectFailed(info));
                return;
            };
            r.scheduled = delay;
            self.emit(ClientEvent::ReconnectScheduled(r.info()));
            tokio::select! {
                _ = sleep(delay) => {}
                stop = Self::stop_requested(&self.shared) => return self.end_events(Some(stop)),
            }
        }
    }

    fn new_recovery(&self) -> Recovery {
        Recovery {
            schedule: self.options.reconnect.schedule(),
            start: Instant::now(),
            scheduled: Duration::ZERO,
        }
    }

    fn write_timeout(&self) -> Duration {
        self.options.ping_timeout.unwrap_or(DEFAULT_WRITE_TIMEOUT)
    }

    /// Send up to `max` queued frames. `Ok(true)` when frames remain.
    async fn send_queued(&self, conn: &mut Connection, max: usize) -> Result<bool, ClientError> {
        let frames = self.shared.take_frames(max);
        if frames.is_empty() {
            return Ok(false);
        }
        let count = frames.len();
        let send = async {
            let mut iter = frames.into_iter();
            while let Some(frame) = iter.next() {
                if let Err(e) = conn.feed(frame).await {
                    return Err((e, iter.collect::<Vec<_>>()));
                }
            }
            conn.flush().await.map_err(|e| (e, Vec::new()))
        };
        match timeout(self.write_timeout(), send).await {
            Ok(Ok(())) => Ok(count == max),
            Ok(Err((e, unsent))) => {
                // Keep what never left for the next connection.
                self.shared.requeue_front(unsent);
                Err(e)
            }
            Err(_) => Err(ClientError::Transport("write timed out".into())),
        }
    }

    async fn send_now(&self, conn: &mut Connection, frame: Frame) -> Result<(), ClientError> {
        let send = async {
            conn.feed(frame).await?;
            conn.flush().await
        };
        timeout(self.write_timeout(), send)
            .await
            .unwrap_or_else(|_| Err(ClientError::Transport("write timed out".into())))
    }

    async fn close(conn: &mut Connection) {
        let _ = timeout(CLOSE_TIMEOUT, conn.close()).await;
    }

    /// A clean close for `end()`: start the transport's close, then deliver what arrives
    /// until the server's side of it (or [`END_DRAIN`]). Heartbeat pings are not answered
    /// any more: the connection is going away.
    async fn drain_close(&mut self, conn: &mut Connection) {
        conn.begin_close().await;
        let deadline = Instant::now() + END_DRAIN;
        let mut disconnect = false;
        self.closing = true;
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, conn.recv()).await {
            let delivered = self.on_frame(frame, conn, &mut disconnect);
            if !matches!(
                tokio::time::timeout_at(deadline, delivered).await,
                Ok(Ok(_))
            ) {
                break;
            }
        }
    }

    /// Drive one open connection until it stops.
    async fn serve(&mut self, conn: &mut Connection, online: &mut bool) -> Outcome {
        // Flush what was written while offline, then announce `open` (reference order).
        loop {
            match self.send_queued(conn, SEND_BATCH).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    self.emit(ClientEvent::Error(e));
                    return Outcome::Lost;
                }
            }
        }
        self.emit(ClientEvent::Open);

        let ping_timeout = self.options.ping_timeout;
        let heartbeat = sleep_until(Instant::now() + ping_timeout.unwrap_or(Duration::ZERO));
        tokio::pin!(heartbeat);
        let mut disconnect = false;
        let shared = self.shared.clone();
        loop {
            let notified = shared.wake.notified();
            if let Some(stop) = shared.stop_requested() {
                if stop == Stop::End {
                    // `end(data)`: the last write goes out before the close, and what
                    // the server sends until its side of the close is still delivered.
                    while let Ok(true) = self.send_queued(conn, SEND_BATCH).await {}
                    self.drain_close(conn).await;
                }
                Self::close(conn).await;
                return Outcome::Stop(stop);
            }
            match self.send_queued(conn, SEND_BATCH).await {
                Ok(true) => shared.wake.notify_one(),
                Ok(false) => {}
                Err(e) => {
                    self.emit(ClientEvent::Error(e));
                    return Outcome::Lost;
                }
            }
            tokio::select! {
                biased;
                _ = notified => {}
                _ = &mut heartbeat, if ping_timeout.is_some() => {
                    // No `primus::ping` for `ping_timeout`: the server is gone or stalled.
                    *online = false;
                    self.emit(ClientEvent::Offline);
                    Self::close(conn).await;
                    return Outcome::Lost;
                }
                received = conn.recv() => match received {
                    Some(Ok(frame)) => {
                        match self.on_frame(frame, conn, &mut disconnect).await {
                            Ok(Some(pinged)) => {
                                *online = true;
                                if let (true, Some(t)) = (pinged, ping_timeout) {
                                    heartbeat.as_mut().reset(Instant::now() + t);
                                }
                            }
                            Ok(None) => {}
                            Err(Some(stop)) => {
                                Self::close(conn).await;
                                return Outcome::Stop(stop);
                            }
                            Err(None) => return Outcome::Lost,
                        }
                    }
                    Some(Err(e)) => {
                        self.emit(ClientEvent::Error(e));
                        return if disconnect { Outcome::ServerClosed } else { Outcome::Lost };
                    }
                    None => return if disconnect { Outcome::ServerClosed } else { Outcome::Lost },
                }
            }
        }
    }

    /// Handle one incoming frame. `Ok(Some(true))` when it was a heartbeat ping;
    /// `Err(Some(stop))` when a stop was requested while waiting on a slow reader;
    /// `Err(None)` when the connection failed.
    async fn on_frame(
        &mut self,
        frame: Frame,
        conn: &mut Connection,
        disconnect: &mut bool,
    ) -> Result<Option<bool>, Option<Stop>> {
        let value = match self.shared.parser.decode(&frame) {
            Ok(value) => value,
            Err(e) => {
                // Like the reference: report, drop the message, keep the connection.
                self.emit(ClientEvent::Error(e.into()));
                return Ok(None);
            }
        };
        if let Value::String(text) = &value {
            if let Some(message) = protocol::parse(text) {
                match message.kind {
                    "ping" if self.closing => return Ok(None),
                    "ping" => {
                        let answer = protocol::pong(&js_number(message.value));
                        let result = match self.shared.encode_protocol(&answer) {
                            Ok(pong) => self.send_now(conn, pong).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = result {
                            self.emit(ClientEvent::Error(e));
                            return Err(None);
                        }
                        self.emit(ClientEvent::Pong(
                            answer["primus::pong::".len()..].to_string(),
                        ));
                        return Ok(Some(true));
                    }
                    "server" => {
                        if message.value == "close" {
                            *disconnect = true;
                        }
                        return Ok(None);
                    }
                    "id" => {
                        self.shared.resolve_id(message.value);
                        return Ok(None);
                    }
                    // Unknown types are user data, as in the reference.
                    _ => {}
                }
            }
        }
        let Some(value) = self.shared.transform_incoming(value) else {
            return Ok(None);
        };
        let Some(tx) = self.incoming.clone() else {
            return Ok(None);
        };
        let message = Message::new(value, frame);
        match tx.try_send(message) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // Nobody reads the stream any more.
                self.incoming = None;
                Ok(None)
            }
            Err(mpsc::error::TrySendError::Full(message)) if self.closing => {
                // `end()` already asked to stop; the drain's deadline bounds this wait.
                if tx.send(message).await.is_err() {
                    self.incoming = None;
                }
                Ok(None)
            }
            Err(mpsc::error::TrySendError::Full(message)) => {
                // Back-pressure: stop reading until the application catches up.
                tokio::select! {
                    sent = tx.send(message) => {
                        if sent.is_err() {
                            self.incoming = None;
                        }
                        Ok(None)
                    }
                    stop = Self::stop_requested(&self.shared) => Err(Some(stop)),
                }
            }
        }
    }
}

/// JavaScript's `String(+value)` for the ping value, which the reference echoes in its pong.
pub(crate) fn js_number(value: &str) -> String {
    let t = value.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    if t.is_empty() {
        return "0".to_string();
    }
    let radix = |prefix: &str, radix: u32| {
        t.strip_prefix(prefix)
            .or_else(|| t.strip_prefix(&prefix.to_ascii_uppercase()))
            .map(|digits| u64::from_str_radix(digits, radix).ok().map(|n| n as f64))
    };
    let number = if let Some(n) = radix("0x", 16)
        .or_else(|| radix("0o", 8))
        .or_else(|| radix("0b", 2))
    {
        n
    } else {
        match t {
            "Infinity" | "+Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ if t
                .bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)) =>
            {
                t.parse::<f64>().ok()
            }
            _ => None,
        }
    };
    match number {
        None => "NaN".to_string(),
        Some(n) if n.is_nan() => "NaN".to_string(),
        Some(n) if n.is_infinite() => if n > 0.0 { "Infinity" } else { "-Infinity" }.to_string(),
        Some(n) if n == n.trunc() && n.abs() < 1e21 => format!("{n:.0}").replace("-0", "0"),
        Some(n) => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::js_number;

    #[test]
    fn ping_values_round_trip_like_javascript_numbers() {
        assert_eq!(js_number("1795303241019"), "1795303241019");
        assert_eq!(js_number("007"), "7");
        assert_eq!(js_number(""), "0");
        assert_eq!(js_number(" 12 "), "12");
        assert_eq!(js_number("0x10"), "16");
        assert_eq!(js_number("1e3"), "1000");
        assert_eq!(js_number("1.5"), "1.5");
        assert_eq!(js_number("abc"), "NaN");
        assert_eq!(js_number("inf"), "NaN");
        assert_eq!(js_number("-0"), "0");
        assert_eq!(js_number("Infinity"), "Infinity");
    }
}
