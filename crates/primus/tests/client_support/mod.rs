//! Shared helpers for the Rust client tests: bounded waits for messages and events, and
//! checks every transport must pass. [`reconnects_after_a_restart`] needs
//! `server_support` next to this module (every file that uses it has both).
#![allow(dead_code)]

use futures_util::StreamExt;
use primus::client::{Backoff, Client, ClientEvent, ClientOptions};
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

/// Client options for `transformer` with a fast reconnect (50 ms, at most 200 ms).
pub fn fast(transformer: &str) -> ClientOptions {
    ClientOptions {
        transformer: transformer.into(),
        reconnect: Backoff {
            min: Duration::from_millis(50),
            max: Some(Duration::from_millis(200)),
            ..Backoff::default()
        },
        ..ClientOptions::default()
    }
}

/// The server ends the spark with reconnect (the interop contract's `{cmd: "end",
/// reconnect: true}`): the open client comes back as a new spark and carries on.
pub async fn comes_back_as_a_new_spark(
    client: &mut Client,
    events: &mut broadcast::Receiver<ClientEvent>,
) {
    let first = timeout(WAIT, client.id()).await.unwrap().unwrap();
    client
        .write(&serde_json::json!({"cmd": "end", "reconnect": true}))
        .unwrap();
    wait_event(events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    let second = timeout(WAIT, client.id()).await.unwrap().unwrap();
    assert_ne!(first, second);
    client.write("again").unwrap();
    assert_eq!(next_json(client).await, serde_json::json!("again"));
}

/// A server made by `make` restarts gracefully on the same address: the open client sees
/// its spark end with reconnect (the graceful shutdown completes although the transport's
/// responses are long-lived), reconnects to the new server and carries on. Returns the
/// client, its events and the new server for more checks.
pub async fn reconnects_after_a_restart(
    make: impl Fn() -> primus::Primus,
    options: ClientOptions,
) -> (
    Client,
    broadcast::Receiver<ClientEvent>,
    super::server_support::TestServer,
) {
    use super::server_support::TestServer;
    let running = TestServer::serve(make()).await;
    let addr = running.addr;
    let mut client = Client::new(&format!("http://{addr}"), options).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    client.write("one").unwrap();
    assert_eq!(next_json(&mut client).await, serde_json::json!("one"));
    running.shutdown().await.unwrap();
    wait_event(&mut events, "reconnect scheduled", |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    let again = TestServer::serve_on(make(), addr).await;
    wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    client.write("after restart").unwrap();
    assert_eq!(
        next_json(&mut client).await,
        serde_json::json!("after restart")
    );
    assert_eq!(again.primus.connected(), 1);
    (client, events, again)
}

/// The server ends the spark without reconnect (`{cmd: "end", data: "bye"}`): the last
/// message arrives, then `end`, and the client does not reconnect.
pub async fn ends_for_good(client: &mut Client, events: &mut broadcast::Receiver<ClientEvent>) {
    client
        .write(&serde_json::json!({"cmd": "end", "data": "bye"}))
        .unwrap();
    assert_eq!(next_json(client).await, serde_json::json!("bye"));
    let seen = wait_event(events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ClientEvent::ReconnectScheduled(_) | ClientEvent::Reconnect(_)
        )),
        "{seen:?}"
    );
}

/// Open a client on `url`: a write made before `open` is buffered and echoed first, then
/// values that need escaping on any transport (U+2028, emoji, line breaks, `&=%+`, `0`,
/// the empty string) come back as they went. Returns the open client and its events.
pub async fn opens_and_echoes(
    url: &str,
    options: ClientOptions,
) -> (Client, broadcast::Receiver<ClientEvent>) {
    let mut client = Client::new(url, options).unwrap();
    let mut events = client.events();
    client.write("early").unwrap();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    assert_eq!(next_json(&mut client).await, serde_json::json!("early"));
    for v in [
        serde_json::json!({"a": [1, "é", null]}),
        serde_json::json!("\u{2028}😀 two\nlines\r\n&=%+"),
        serde_json::json!(0),
        serde_json::json!(""),
    ] {
        client.write(&v).unwrap();
        assert_eq!(next_json(&mut client).await, v);
    }
    (client, events)
}

/// The client writes a last message and ends: `gone` (the server has no spark or session
/// left) must hold within 3 s, well before any server-side timeout the caller configured.
pub async fn end_is_seen_at_once(url: &str, options: ClientOptions, gone: impl Fn() -> bool) {
    let client = Client::new(url, options).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    client.write("last words").unwrap();
    client.end();
    wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    timeout(Duration::from_secs(3), async {
        while !gone() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server saw the end well before its own timeout");
}
