//! The Rust client's `engine.io` transport (issue 4): against our own server and against
//! the real Node Primus 8 server (`tests/interop/reference-server.mjs --transformer
//! engine.io`), polling only, upgraded, and WebSocket only. Needs `node` for the
//! reference half (a missing node is a failure, not a skip).
#![cfg(feature = "engineio")] // needs the `engineio` transformer

use primus::client::{Client, ClientEvent, ClientOptions};
use primus::transformers::engineio::client::EngineIoClientOptions;
use primus::{Options, Primus, Server};
use serde_json::{json, Value as Json};
use std::time::Duration;
use tokio::time::timeout;

mod client_support;
mod server_support;
use client_support::{
    echo_in_order, engineio_modes as modes, fast, next_json, values, wait_event, WAIT,
};

fn options(engineio: EngineIoClientOptions) -> ClientOptions {
    let mut o = fast("engine.io");
    o.transport.engineio = engineio;
    o
}

async fn ours() -> (Primus, String) {
    let primus = Primus::new(Options::default().transformer("engine.io")).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| match msg.value().as_str() {
            Some("end") => spark.end(Some(&"bye"), false),
            _ => {
                let _ = spark.write(msg.value());
            }
        });
    });
    let running = Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let url = format!("http://{}", running.local_addr());
    tokio::spawn(running.run_until(std::future::pending()));
    (primus, url)
}

#[tokio::test]
async fn against_our_server_in_every_mode() {
    for (label, engineio, transport) in modes() {
        let (primus, url) = ours().await;
        let mut client = Client::from_server(&primus, &url, options(engineio)).unwrap();
        let mut events = client.events();
        echo_in_order(&mut client, &values(), label).await;
        let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
        assert!(primus.spark(&id).is_some(), "{label}: id() is the spark id");
        // The transport settles (the upgrade runs in the background).
        let deadline = tokio::time::Instant::now() + WAIT;
        while primus.engineio_transport(&id) != Some(transport) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{label}: {transport}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Messages still flow after the upgrade.
        for i in 0..100 {
            client.write(&i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(next_json(&mut client).await, json!(i), "{label}");
        }
        // Server-side end: last message, then end without a reconnect.
        client.write(&"end").unwrap();
        assert_eq!(next_json(&mut client).await, json!("bye"));
        wait_event(&mut events, "End", |e| matches!(e, ClientEvent::End)).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while primus.engineio_sessions() != Some(0) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{label}: session left"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn client_end_closes_the_session() {
    for (label, engineio, _) in modes() {
        let (primus, url) = ours().await;
        let mut client = Client::from_server(&primus, &url, options(engineio)).unwrap();
        client.write(&"hi").unwrap();
        assert_eq!(next_json(&mut client).await, json!("hi"));
        client.end();
        let deadline = tokio::time::Instant::now() + WAIT;
        while primus.engineio_sessions() != Some(0) || primus.connected() != 0 {
            assert!(tokio::time::Instant::now() < deadline, "{label}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test]
async fn posts_stay_within_the_servers_max_payload() {
    let primus = Primus::new(Options::default().transformer("engine.io").max_length(1000)).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        })
    });
    let running = Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let url = format!("http://{}", running.local_addr());
    tokio::spawn(running.run_until(std::future::pending()));
    let mut client = Client::from_server(
        &primus,
        &url,
        options(EngineIoClientOptions::polling_only()),
    )
    .unwrap();
    // 20 messages of 300 bytes, written at once: several POSTs of at most 1000 bytes.
    let values: Vec<Json> = (0..20)
        .map(|i| json!(format!("{i:03}{}", "y".repeat(295))))
        .collect();
    for v in &values {
        client.write(v).unwrap();
    }
    for v in &values {
        assert_eq!(&next_json(&mut client).await, v);
    }
    assert_eq!(primus.connected(), 1, "no POST was refused");
}

#[tokio::test]
async fn reconnects_when_the_server_drops_the_session() {
    let (primus, url) = ours().await;
    let mut client = Client::from_server(
        &primus,
        &url,
        options(EngineIoClientOptions::polling_only()),
    )
    .unwrap();
    let mut events = client.events();
    client.write(&"one").unwrap();
    assert_eq!(next_json(&mut client).await, json!("one"));
    let id = client.id().await.unwrap();
    primus.spark(&id).unwrap().close(true);
    wait_event(&mut events, "Reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    client.write(&"two").unwrap();
    assert_eq!(next_json(&mut client).await, json!("two"));
    assert_ne!(client.id().await.unwrap(), id);
}

// ---------------------------------------------------------------------------------------
// Against the real Node Primus server
// ---------------------------------------------------------------------------------------

mod node_support;
use node_support::NodeServer;

#[tokio::test]
async fn against_the_node_reference_server() {
    let node = NodeServer::start(&["--transformer", "engine.io"]);
    let url = format!("http://127.0.0.1:{}", node.port);
    for (label, engineio, _) in modes() {
        let mut client = Client::new(&url, options(engineio)).unwrap();
        let mut events = client.events();
        echo_in_order(&mut client, &values(), label).await;
        client.write(&json!({"cmd": "info"})).unwrap();
        let info = next_json(&mut client).await;
        let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
        assert_eq!(info["id"], json!(id), "{label}: id() is the spark id");
        assert_eq!(info["query"]["EIO"], json!("4"));
        assert!(info["query"]["_primuscb"].is_string());
        // Enough time for the upgrade (if any), then more traffic.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for i in 0..50 {
            client.write(&i).unwrap();
        }
        for i in 0..50 {
            assert_eq!(next_json(&mut client).await, json!(i), "{label}");
        }
        client.write(&json!({"cmd": "end", "data": "bye"})).unwrap();
        assert_eq!(next_json(&mut client).await, json!("bye"));
        wait_event(&mut events, "End", |e| matches!(e, ClientEvent::End)).await;
    }
}
