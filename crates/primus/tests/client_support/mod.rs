//! Shared helpers for the Rust client tests: bounded waits for messages and events, and a
//! server answering commands.
#![allow(dead_code)]

use futures_util::StreamExt;
use primus::client::{Backoff, Client, ClientEvent, ClientOptions};
use primus::{Options, Primus, Server};
use serde_json::{json, Value as Json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::broadcast;
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

/// Ask a [`command_server`] to end the spark with reconnect; wait until the client is back.
pub async fn end_with_reconnect(client: &Client, events: &mut broadcast::Receiver<ClientEvent>) {
    client
        .write(&json!({"cmd": "end", "reconnect": true}))
        .unwrap();
    wait_event(events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
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

/// A server whose sparks echo every message, except commands: `{"cmd": "end", "data"?,
/// "reconnect"?}` ends the spark (with `data` as last message), `{"cmd": "info"}` answers
/// `{"id", "query"}` of the spark.
pub fn command_server(options: Options) -> Primus {
    let primus = Primus::new(options).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let v = msg.value();
            match v.get("cmd").and_then(|c| c.as_str()) {
                Some("end") => spark.end(v.get("data"), v.get("reconnect").is_some()),
                Some("info") => {
                    let query = serde_json::to_value(spark.query()).unwrap();
                    let _ = spark.write(&json!({ "id": spark.id(), "query": query }));
                }
                _ => {
                    let _ = spark.write(v);
                }
            }
        });
    });
    primus
}

/// Serve `primus` on `addr` (plain HTTP); dropping the sender stops it gracefully.
pub async fn serve(
    primus: &Primus,
    addr: SocketAddr,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), primus::PrimusError>>,
) {
    let running = Server::bind(primus.clone(), addr)
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
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
