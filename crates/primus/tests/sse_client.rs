//! The Rust client's `sse` transport against our sse server: open, echo (text, binary
//! parser, many messages in order), the spark id and query, the server's end, a server
//! restart and reconnect, and the client's end closing the spark.
#![cfg(feature = "sse")] // needs the `sse` transformer

use primus::client::Client;
use primus::Options;
use serde_json::json;
use std::time::Duration;
use tokio::time::timeout;

mod client_support;
use client_support::{
    comes_back_as_a_new_spark, end_is_seen_at_once, ends_for_good, fast, next_json,
    opens_and_echoes, reconnects_after_a_restart, WAIT,
};
mod server_support;
use server_support::{contract_server, wait_connected, TestServer};

fn sse() -> Options {
    Options::default().transformer("sse").ping_interval(None)
}

#[tokio::test]
async fn opens_echoes_and_ends_on_the_servers_end() {
    let server = contract_server(sse());
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    let (mut client, mut events) =
        opens_and_echoes(&format!("http://{addr}/?room=lobby"), fast("sse")).await;
    // Many messages in a row (several POSTs while one is under way), in order.
    for i in 0..200 {
        client.write(&i).unwrap();
    }
    for i in 0..200 {
        assert_eq!(next_json(&mut client).await, json!(i));
    }
    let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
    client.write(&json!({"cmd": "info"})).unwrap();
    let info = next_json(&mut client).await;
    assert_eq!(info["id"], json!(id));
    assert_eq!(info["query"]["room"], "lobby");
    assert_eq!(server.sse_sessions(), 1);
    ends_for_good(&mut client, &mut events).await;
    wait_connected(&server, 0).await;
}

#[tokio::test]
async fn binary_parsers_work() {
    let server = contract_server(sse().parser("msgpack"));
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    let mut client = Client::from_server(&server, &format!("http://{addr}"), fast("sse")).unwrap();
    for v in [json!("hello"), json!({"bin": [0, 255, 13, 10]}), json!(1.5)] {
        client.write(&v).unwrap();
        assert_eq!(next_json(&mut client).await, v);
    }
    client.end();
}

#[tokio::test]
async fn reconnects_after_a_server_restart() {
    let (mut client, mut events, again) =
        reconnects_after_a_restart(|| contract_server(sse()), fast("sse")).await;
    // The server drops the spark with reconnect: a new spark, the client carries on.
    comes_back_as_a_new_spark(&mut client, &mut events).await;
    client.end();
    wait_connected(&again.primus, 0).await;
}

#[tokio::test]
async fn the_clients_end_closes_the_spark_at_once() {
    // A long disconnect delay: only the client's DELETE can end the spark quickly.
    let server = contract_server(sse().sse(
        primus::transformers::sse::SseOptions::default().disconnect_delay(Duration::from_secs(30)),
    ));
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    let ended = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let ended = ended.clone();
        server.on_connection(move |spark| {
            let ended = ended.clone();
            spark.on_end(move |_| ended.lock().unwrap().push(()));
        });
    }
    end_is_seen_at_once(&format!("http://{addr}"), fast("sse"), || {
        server.connected() == 0 && server.sse_sessions() == 0
    })
    .await;
    assert_eq!(ended.lock().unwrap().len(), 1);
}

#[cfg(feature = "websockets")] // the other server is a websockets one
#[tokio::test]
async fn a_server_that_is_not_sse_is_an_error() {
    let server = contract_server(Options::default().ping_interval(None));
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    let client = Client::new(
        &format!("http://{addr}"),
        primus::client::ClientOptions {
            strategy: primus::client::Strategy::NONE,
            ..fast("sse")
        },
    )
    .unwrap();
    let mut events = client.events();
    let seen = client_support::wait_event(&mut events, "end", |e| {
        matches!(e, primus::client::ClientEvent::End)
    })
    .await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, primus::client::ClientEvent::Error(err) if err.to_string().contains("426"))),
        "{seen:?}"
    );
}
