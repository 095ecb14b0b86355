//! The Rust client with `transformer: "faye"`: the websockets transport closing with 1000,
//! against our faye server, against a bare WebSocket server that records the close code,
//! and against the reference Node Primus server with the faye transformer
//! (`tests/interop/reference-server.mjs --transformer faye`, npm `faye-websocket` 0.11.4;
//! needs `node`, and a missing node is a failure).
#![cfg(feature = "faye")] // needs the `faye` transformer

use futures_util::StreamExt;
use primus::client::{Backoff, Client, ClientEvent, ClientOptions};
use serde_json::{json, Value as Json};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::timeout;

mod node_support;
use node_support::NodeServer;

const WAIT: Duration = Duration::from_secs(10);

fn options() -> ClientOptions {
    ClientOptions {
        transformer: "faye".into(),
        reconnect: Backoff {
            min: Duration::from_millis(50),
            max: Some(Duration::from_millis(200)),
            ..Backoff::default()
        },
        ..ClientOptions::default()
    }
}

/// Our faye server with the control protocol subset the scenario uses (echo, `end`).
async fn ours() -> (primus::Primus, String) {
    let primus = primus::Primus::new(
        primus::Options::default()
            .transformer("faye")
            .ping_interval(None),
    )
    .unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let v = msg.value();
            match v.get("cmd").and_then(|c| c.as_str()) {
                Some("end") => spark.end(v.get("data"), false),
                Some("info") => {
                    let _ = spark.write(&json!({ "id": spark.id() }));
                }
                _ => {
                    let _ = spark.write(v);
                }
            }
        });
    });
    let running = primus::Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let url = format!("http://{}", running.local_addr());
    tokio::spawn(running.run_until(std::future::pending()));
    (primus, url)
}

async fn next_json(client: &mut Client) -> Json {
    timeout(WAIT, client.next())
        .await
        .expect("a message in time")
        .expect("stream open")
        .decode::<Json>()
        .unwrap()
}

async fn wait_event(
    events: &mut broadcast::Receiver<ClientEvent>,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    timeout(WAIT, async {
        loop {
            let ev = events.recv().await.expect("event stream");
            let done = pred(&ev);
            seen.push(ev);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}; saw {seen:?}"));
    seen
}

/// Open, messages both ways, the spark id, and the server's `end` without a reconnect.
async fn scenario(url: &str) {
    let mut client = Client::new(url, options()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    for v in [json!("hello"), json!({"a": [1, "é", "\u{2028}"]}), json!(0)] {
        client.write(&v).unwrap();
        assert_eq!(next_json(&mut client).await, v);
    }
    let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
    client.write(&json!({"cmd": "info"})).unwrap();
    assert_eq!(next_json(&mut client).await["id"], json!(id));
    client.write(&json!({"cmd": "end", "data": "bye"})).unwrap();
    assert_eq!(next_json(&mut client).await, json!("bye"));
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, ClientEvent::ReconnectScheduled(_))),
        "{seen:?}"
    );
    assert!(timeout(WAIT, client.next()).await.unwrap().is_none());
}

#[tokio::test]
async fn against_our_faye_server() {
    let (_primus, url) = ours().await;
    scenario(&url).await;
}

#[tokio::test]
async fn against_the_reference_faye_server() {
    let server = NodeServer::start(&["--transformer", "faye", "--ping-interval", "off"]);
    scenario(&server.url()).await;
}

#[tokio::test]
async fn from_server_picks_faye_up() {
    let (primus, url) = ours().await;
    let mut client = Client::from_server(&primus, &url, ClientOptions::default()).unwrap();
    client.write(&"from spec").unwrap();
    assert_eq!(next_json(&mut client).await, json!("from spec"));
    client.end();
}

#[tokio::test]
async fn end_closes_with_1000() {
    // A bare WebSocket server that reports the client's close frame.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Close(frame) = msg {
                let _ = tx.send(frame.map(|f| u16::from(f.code)));
                return;
            }
        }
    });
    let client = Client::new(&format!("http://{addr}"), options()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    client.end();
    let code = timeout(WAIT, rx)
        .await
        .expect("a close frame in time")
        .unwrap();
    assert_eq!(code, Some(1000));
}
