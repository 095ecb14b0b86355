//! Shared helpers for the Rust client tests: bounded waits for messages and events.
#![allow(dead_code)]

use futures_util::StreamExt;
use primus::client::{Client, ClientEvent};
use serde_json::Value as Json;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::{timeout, Instant};

/// The bound of every wait here.
pub const WAIT: Duration = Duration::from_secs(10);

/// The next message, decoded as JSON, within [`WAIT`].
pub async fn next_json(client: &mut Client) -> Json {
    timeout(WAIT, client.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .decode::<Json>()
        .unwrap()
}

/// Wait (within [`WAIT`]) for an event matching `pred`; returns the events before it.
pub async fn wait_event(
    events: &mut broadcast::Receiver<ClientEvent>,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            events.recv(),
        )
        .await
        {
            Ok(Ok(e)) if pred(&e) => return seen,
            Ok(Ok(e)) => seen.push(e),
            other => panic!("no {what}: {other:?}; saw {seen:?}"),
        }
    }
}
