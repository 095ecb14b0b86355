//! Scenario 1: echo throughput and round-trip latency.
//!
//! Every connection keeps `in_flight` messages outstanding: it sends that many, then sends
//! one more for each echo it gets back, until it has sent `messages`. Echoes must come back
//! in order and unchanged; the round trip of each is recorded. Heartbeat pings from the
//! server are answered with pongs and not counted.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::client::{Target, Ws};
use crate::heartbeat;

/// Shortest payload that still fits the connection and sequence numbers.
pub const MIN_SIZE: usize = 18;

/// Open connections reused across echo runs (a warm-up run, then the measured one).
#[derive(Debug)]
pub struct EchoClients {
    conns: Vec<(usize, Ws)>,
    /// Connections that could not be opened, with the reason.
    pub connect_errors: Vec<String>,
}

/// What one echo run measured.
#[derive(Debug, Default)]
pub struct EchoReport {
    /// Connections that took part.
    pub connections: usize,
    /// Echoes expected (`connections × messages`).
    pub expected: u64,
    /// Echoes received and verified.
    pub received: u64,
    /// Heartbeat pings answered.
    pub pongs: u64,
    /// From the first send to the last echo.
    pub elapsed: Duration,
    /// Round trips in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// Connections that failed, with the reason (timeouts, closes, wrong echoes).
    pub errors: Vec<String>,
}

impl EchoReport {
    /// Verified echoes per second.
    pub fn rate(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile of the round trips in microseconds (`q` in 0..=1).
    pub fn percentile(&self, q: f64) -> Option<u32> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Some(self.latencies_us[rank - 1])
    }
}

/// What a single connection did during a run.
#[derive(Debug, Default)]
struct ConnOutcome {
    received: u64,
    pongs: u64,
    latencies_us: Vec<u32>,
    finished: Option<Instant>,
    error: Option<String>,
}

impl EchoClients {
    /// Opens `count` connections at once; gives up on those not open within `timeout`.
    pub async fn connect(target: &Target, count: usize, timeout: Duration) -> Self {
        let deadline = Instant::now() + timeout;
        let mut set = JoinSet::new();
        for index in 0..count {
            let target = target.clone();
            set.spawn(async move {
                let result = match timeout_at(deadline, target.connect(index)).await {
                    Ok(result) => result,
                    Err(_) => Err("connect timed out".to_string()),
                };
                (index, result)
            });
        }
        let mut clients = EchoClients {
            conns: Vec::with_capacity(count),
            connect_errors: Vec::new(),
        };
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((index, Ok(ws))) => clients.conns.push((index, ws)),
                Ok((index, Err(e))) => clients.connect_errors.push(format!("#{index}: {e}")),
                Err(e) => clients.connect_errors.push(format!("task: {e}")),
            }
        }
        clients.conns.sort_by_key(|(index, _)| *index);
        clients
    }

    /// Number of open connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Runs one echo round on every open connection. Connections that fail are dropped.
    pub async fn run(
        &mut self,
        messages: usize,
        in_flight: usize,
        size: usize,
        timeout: Duration,
    ) -> EchoReport {
        let start = Instant::now();
        let deadline = start + timeout;
        let mut set = JoinSet::new();
        let connections = self.conns.len();
        for (index, ws) in self.conns.drain(..) {
            set.spawn(async move {
                let mut ws = ws;
                let outcome =
                    drive(&mut ws, index, messages, in_flight.max(1), size, deadline).await;
                (index, ws, outcome)
            });
        }
        let mut report = EchoReport {
            connections,
            expected: (connections * messages) as u64,
            ..EchoReport::default()
        };
        let mut last = start;
        while let Some(joined) = set.join_next().await {
            let Ok((index, ws, outcome)) = joined else {
                report.errors.push("connection task panicked".to_string());
                continue;
            };
            report.received += outcome.received;
            report.pongs += outcome.pongs;
            report.latencies_us.extend_from_slice(&outcome.latencies_us);
            last = last.max(outcome.finished.unwrap_or(last));
            match outcome.error {
                Some(e) => report.errors.push(format!("#{index}: {e}")),
                None => self.conns.push((index, ws)),
            }
        }
        self.conns.sort_by_key(|(index, _)| *index);
        report.elapsed = last - start;
        report.latencies_us.sort_unstable();
        report
    }
}

/// The payload of message `seq` on connection `conn`: a JSON string literal exactly `size`
/// bytes long, e.g. `"c00007m00000042xxx…x"`.
fn payload(conn: usize, seq: usize, size: usize) -> Utf8Bytes {
    let mut text = format!("\"c{conn:05}m{seq:08}");
    while text.len() < size.saturating_sub(1) {
        text.push('x');
    }
    text.push('"');
    Utf8Bytes::from(text)
}

/// The per-connection loop: keep `in_flight` messages outstanding until all `messages`
/// came back, or until `deadline`.
async fn drive(
    ws: &mut Ws,
    conn: usize,
    messages: usize,
    in_flight: usize,
    size: usize,
    deadline: Instant,
) -> ConnOutcome {
    let mut out = ConnOutcome {
        latencies_us: Vec::with_capacity(messages),
        ..ConnOutcome::default()
    };
    let mut pending: VecDeque<(Utf8Bytes, Instant)> = VecDeque::with_capacity(in_flight);
    let mut next_seq = 0;
    let result: Result<(), String> = async {
        while next_seq < messages && pending.len() < in_flight {
            let text = payload(conn, next_seq, size);
            ws.feed(Message::Text(text.clone()))
                .await
                .map_err(|e| format!("send: {e}"))?;
            pending.push_back((text, Instant::now()));
            next_seq += 1;
        }
        while (out.received as usize) < messages {
            flush(ws, deadline).await?;
            let first = match timeout_at(deadline, ws.next()).await {
                Ok(msg) => msg,
                Err(_) => {
                    return Err(format!(
                        "timed out after {}/{messages} echoes",
                        out.received
                    ))
                }
            };
            // Handle this message and any others already buffered, then flush once.
            let mut next = Some(first);
            while let Some(msg) = next {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {
                        next = ws.next().now_or_never();
                        continue;
                    }
                    Some(Ok(Message::Binary(_))) => return Err("unexpected binary frame".into()),
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!(
                            "closed by server after {} echoes: {frame:?}",
                            out.received
                        ))
                    }
                    Some(Err(e)) => return Err(format!("after {} echoes: {e}", out.received)),
                    None => return Err(format!("connection ended after {} echoes", out.received)),
                };
                if let Some(ms) = heartbeat::ping_value(&text) {
                    let pong = heartbeat::pong_frame(ms);
                    ws.feed(Message::text(pong))
                        .await
                        .map_err(|e| format!("pong: {e}"))?;
                    out.pongs += 1;
                } else {
                    let Some((expected, sent)) = pending.pop_front() else {
                        return Err(format!("echo nobody asked for: {}", preview(&text)));
                    };
                    if text != expected {
                        return Err(format!(
                            "echo out of order or changed: got {}, expected {}",
                            preview(&text),
                            preview(&expected)
                        ));
                    }
                    out.latencies_us
                        .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    out.received += 1;
                    if next_seq < messages {
                        let text = payload(conn, next_seq, size);
                        ws.feed(Message::Text(text.clone()))
                            .await
                            .map_err(|e| format!("send: {e}"))?;
                        pending.push_back((text, Instant::now()));
                        next_seq += 1;
                    }
                }
                next = ws.next().now_or_never();
            }
        }
        flush(ws, deadline).await
    }
    .await;
    out.finished = Some(Instant::now());
    out.error = result.err();
    out
}

async fn flush(ws: &mut Ws, deadline: Instant) -> Result<(), String> {
    match timeout_at(deadline, ws.flush()).await {
        Ok(result) => result.map_err(|e| format!("flush: {e}")),
        Err(_) => Err("timed out while sending".to_string()),
    }
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_a_json_string_of_the_requested_size() {
        let p = payload(7, 42, 64);
        assert_eq!(p.len(), 64);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert!(v.as_str().unwrap().starts_with("c00007m00000042x"));
        assert_eq!(payload(0, 0, MIN_SIZE).len(), MIN_SIZE);
    }

    #[test]
    fn percentiles() {
        let report = EchoReport {
            latencies_us: (1..=100).collect(),
            ..EchoReport::default()
        };
        assert_eq!(report.percentile(0.5), Some(50));
        assert_eq!(report.percentile(0.99), Some(99));
        assert_eq!(report.percentile(1.0), Some(100));
    }
}
