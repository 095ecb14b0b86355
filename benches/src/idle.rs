//! Scenario 2: many idle connections that only answer heartbeats.
//!
//! Connections are opened in batches; each then sits in a small task that answers every
//! `"primus::ping::<ms>"` with a pong and counts the pings, so the caller can wait until
//! every open connection has seen a few heartbeat rounds before sampling server memory.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Target, Ws};
use crate::heartbeat;

/// State of one idle connection, shared with its task.
#[derive(Debug, Default)]
struct Slot {
    open: AtomicBool,
    /// Set when the server closed the connection (or it failed) after it was open.
    dropped: AtomicBool,
    pings: AtomicU32,
}

/// A set of idle connections held open by background tasks.
#[derive(Debug)]
pub struct IdleClients {
    slots: Arc<[Slot]>,
    tasks: JoinSet<()>,
    /// Time it took to open them.
    pub open_time: Duration,
    /// Connections that could not be opened (first few reasons, plus a count).
    pub errors: Vec<String>,
    /// Total connection failures.
    pub failed: usize,
    /// Why opening stopped early, if it did.
    pub stopped: Option<String>,
}

/// How many distinct failure messages to keep.
const KEEP_ERRORS: usize = 5;

impl IdleClients {
    /// Opens up to `count` connections, `batch` at a time. Each connection gets
    /// `connect_timeout`; the whole phase stops after `phase_timeout`, or when a whole batch
    /// fails.
    pub async fn open(
        target: &Target,
        count: usize,
        batch: usize,
        connect_timeout: Duration,
        phase_timeout: Duration,
    ) -> Self {
        let start = Instant::now();
        let slots: Arc<[Slot]> = (0..count).map(|_| Slot::default()).collect();
        let mut clients = IdleClients {
            slots: slots.clone(),
            tasks: JoinSet::new(),
            open_time: Duration::ZERO,
            errors: Vec::new(),
            failed: 0,
            stopped: None,
        };
        let batch = batch.max(1);
        let mut first = 0;
        while first < count {
            if start.elapsed() > phase_timeout {
                clients.stopped = Some(format!(
                    "phase timeout ({:?}) after {first} attempts",
                    phase_timeout
                ));
                break;
            }
            let last = (first + batch).min(count);
            // Each task reports whether it connected, then goes on holding the connection,
            // so that heartbeats are answered from the first one on.
            let (tx, mut rx) = mpsc::channel(last - first);
            for index in first..last {
                let target = target.clone();
                let slots = slots.clone();
                let tx = tx.clone();
                clients.tasks.spawn(async move {
                    match timeout(connect_timeout, target.connect(index)).await {
                        Ok(Ok(ws)) => {
                            slots[index].open.store(true, Ordering::Relaxed);
                            let _ = tx.send(Ok(())).await;
                            drop(tx);
                            hold(ws, &slots[index]).await;
                        }
                        Ok(Err(e)) => {
                            let _ = tx.send(Err(format!("#{index}: {e}"))).await;
                        }
                        Err(_) => {
                            let _ = tx.send(Err(format!("#{index}: connect timed out"))).await;
                        }
                    }
                });
            }
            drop(tx);
            let mut opened = 0;
            while let Some(result) = rx.recv().await {
                match result {
                    Ok(()) => opened += 1,
                    Err(e) => clients.record_error(e),
                }
            }
            if opened == 0 {
                clients.stopped = Some(format!("a whole batch failed at #{first}"));
                break;
            }
            first = last;
        }
        clients.open_time = start.elapsed();
        clients
    }

    fn record_error(&mut self, error: String) {
        self.failed += 1;
        if self.errors.len() < KEEP_ERRORS {
            self.errors.push(error);
        }
    }

    /// Connections currently open.
    pub fn open_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.open.load(Ordering::Relaxed))
            .count()
    }

    /// Connections that were open and then closed by the server (or failed).
    pub fn dropped_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.dropped.load(Ordering::Relaxed))
            .count()
    }

    /// Open connections that have answered at least `rounds` pings.
    pub fn settled_count(&self, rounds: u32) -> usize {
        self.slots
            .iter()
            .filter(|s| s.open.load(Ordering::Relaxed) && s.pings.load(Ordering::Relaxed) >= rounds)
            .count()
    }

    /// Waits until every open connection has answered `rounds` pings, or `limit` passed.
    /// Returns whether they all did.
    pub async fn wait_for_pings(&self, rounds: u32, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let open = self.open_count();
            if open > 0 && self.settled_count(rounds) == open {
                return true;
            }
            if Instant::now() >= deadline || open == 0 {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Drops every connection.
    pub async fn close(mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Keeps one connection open, answering pings, until the server closes it.
async fn hold(mut ws: Ws, slot: &Slot) {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Text(text)) => {
                if let Some(ms) = heartbeat::ping_value(&text) {
                    slot.pings.fetch_add(1, Ordering::Relaxed);
                    if ws
                        .send(Message::text(heartbeat::pong_frame(ms)))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    slot.open.store(false, Ordering::Relaxed);
    slot.dropped.store(true, Ordering::Relaxed);
}
