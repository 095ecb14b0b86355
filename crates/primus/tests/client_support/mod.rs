//! Shared helpers for the Rust client tests: bounded waits for messages and events, the
//! control contract of their servers, and the scenarios every transport passes.
#![allow(dead_code)]

use futures_util::StreamExt;
use primus::client::{Backoff, Client, ClientEvent, ClientOptions};
use primus::{Primus, PrimusError, Server};
use serde_json::{json, Value as Json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// The bound of every wait here.
pub const WAIT: Duration = Duration::from_secs(10);

/// Client options for `transformer` that reconnect quickly (50 ms, at most 200 ms apart).
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

/// The three ways to reach a server over Engine.IO (`engine.io`, `socket.io`): a label,
/// the options, and the transport the session settles on.
#[cfg(feature = "engineio")]
pub fn engineio_modes() -> Vec<(
    &'static str,
    primus::transformers::engineio::EngineIoClientOptions,
    &'static str,
)> {
    use primus::transformers::engineio::EngineIoClientOptions;
    vec![
        ("upgraded", EngineIoClientOptions::default(), "websocket"),
        (
            "polling only",
            EngineIoClientOptions::polling_only(),
            "polling",
        ),
        (
            "websocket only",
            EngineIoClientOptions::websocket_only(),
            "websocket",
        ),
    ]
}

/// Values for echo tests: non-ASCII text with a line separator (U+2028), nesting,
/// escapes, zero, the empty string and a 200 kB string.
pub fn values() -> Vec<Json> {
    vec![
        json!("ünïcödé ☃ 😀 \u{2028}"),
        json!({"a": [1, {"b": null}], "c": "d\"e\\\\f"}),
        json!(0),
        json!(""),
        json!("x".repeat(200_000)),
    ]
}

/// The next message, decoded as JSON, within [`WAIT`].
pub async fn next_json(client: &mut Client) -> Json {
    timeout(WAIT, client.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .decode::<Json>()
        .unwrap()
}

/// Write every value, then read them back in order (an echo server).
pub async fn echo_in_order(client: &mut Client, values: &[Json], label: &str) {
    for v in values {
        client.write(v).unwrap();
    }
    for v in values {
        assert_eq!(&next_json(client).await, v, "{label}");
    }
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

/// Serve `primus` on `addr` with the standalone [`Server`]; dropping the sender stops it
/// gracefully, and the task ends with the server.
pub async fn serve(
    primus: &Primus,
    addr: SocketAddr,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    JoinHandle<Result<(), PrimusError>>,
) {
    let running = Server::bind(primus.clone(), addr)
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(running.run_until(async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Wait (within [`WAIT`]) until `primus` has `n` sparks.
pub async fn wait_connected(primus: &Primus, n: usize) {
    let deadline = Instant::now() + WAIT;
    while primus.connected() != n {
        assert!(
            Instant::now() < deadline,
            "connected() stayed {} (wanted {n})",
            primus.connected()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What every transport passes against a [`contract`] server, for a client whose URL
/// carries `?room=lobby`, called right after the client was made: a write made before
/// the open arrives first, values of several kinds echo, `many` messages in a row keep
/// their order, `id()` is the spark's id, and the query reaches the spark (unless
/// `query` is false: the reference's sockjs server loses it). Returns the spark's info.
pub async fn echo_scenario(client: &mut Client, many: usize, query: bool) -> Json {
    let mut events = client.events();
    client.write("early").unwrap();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    assert_eq!(next_json(client).await, json!("early"));
    echo_all(
        client,
        &[
            json!({"a": [1, "é", null]}),
            json!("\u{2028}😀 two\nlines\r\n&=%+"),
            json!(0),
            json!(""),
        ],
    )
    .await;
    for i in 0..many {
        client.write(&i).unwrap();
    }
    for i in 0..many {
        assert_eq!(next_json(client).await, json!(i));
    }
    let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
    client.write(&json!({"cmd": "info"})).unwrap();
    let info = next_json(client).await;
    assert_eq!(info["id"], json!(id));
    if query {
        assert_eq!(info["query"]["room"], "lobby");
    }
    info
}

/// The server's `end("bye")`: "bye" arrives, and the client ends without reconnecting.
pub async fn server_end_scenario(client: &mut Client) {
    let mut events = client.events();
    client.write(&json!({"cmd": "end", "data": "bye"})).unwrap();
    assert_eq!(next_json(client).await, json!("bye"));
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        !seen.iter().any(|e| matches!(
            e,
            ClientEvent::ReconnectScheduled(_) | ClientEvent::Reconnect(_)
        )),
        "{seen:?}"
    );
}

/// Each value is written and comes back equal.
pub async fn echo_all(client: &mut Client, values: &[Json]) {
    for v in values {
        client.write(v).unwrap();
        assert_eq!(&next_json(client).await, v);
    }
}

/// The server ends the spark with reconnect: the client comes back as a new spark and
/// carries on.
pub async fn end_with_reconnect_scenario(client: &mut Client) {
    let mut events = client.events();
    let first = timeout(WAIT, client.id()).await.unwrap().unwrap();
    client
        .write(&json!({"cmd": "end", "reconnect": true}))
        .unwrap();
    wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    let second = timeout(WAIT, client.id()).await.unwrap().unwrap();
    assert_ne!(first, second);
    echo_all(client, &[json!("again")]).await;
}

/// A server made by `make` restarts gracefully on the same address: the open client sees
/// its spark end with reconnect (the graceful shutdown completes although the transport's
/// responses are long-lived), reconnects to the new server and carries on. Returns the
/// client, its events and the new server for more checks.
pub async fn reconnects_after_a_restart(
    make: impl Fn() -> Primus,
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
    assert_eq!(next_json(&mut client).await, json!("one"));
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
    assert_eq!(next_json(&mut client).await, json!("after restart"));
    assert_eq!(again.primus.connected(), 1);
    (client, events, again)
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
