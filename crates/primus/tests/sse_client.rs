//! The Rust client's `sse` transport against our sse server: open, echo (text, binary
//! parser, many messages in order), the spark id and query, the server's end, a server
//! restart and reconnect, and the client's end closing the spark.
#![cfg(feature = "sse")] // needs the `sse` transformer

use primus::client::{Client, ClientOptions};
use primus::Options;
use serde_json::json;
use std::time::Duration;

mod client_support;
use client_support::{
    echo_all, echo_scenario, end_is_seen_at_once, end_with_reconnect_scenario, fast,
    reconnects_after_a_restart, serve, server_end_scenario, wait_connected,
};
mod server_support;
use server_support::{contract_server, TestServer};

fn sse() -> Options {
    Options::default().transformer("sse").ping_interval(None)
}

fn options() -> ClientOptions {
    fast("sse")
}

#[tokio::test]
async fn opens_echoes_and_ends_on_the_servers_end() {
    let server = contract_server(sse());
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let mut client = Client::new(&format!("http://{addr}/?room=lobby"), options()).unwrap();
    // Many messages in a row: several POSTs while one is under way.
    echo_scenario(&mut client, 200, true).await;
    assert_eq!(server.sse_sessions(), 1);
    server_end_scenario(&mut client).await;
    wait_connected(&server, 0).await;
}

#[tokio::test]
async fn binary_parsers_work() {
    let server = contract_server(sse().parser("msgpack"));
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
    let mut client = Client::from_server(&server, &format!("http://{addr}"), options()).unwrap();
    let values = [json!("hello"), json!({"bin": [0, 255, 13, 10]}), json!(1.5)];
    echo_all(&mut client, &values).await;
    client.end();
}

#[tokio::test]
async fn reconnects_after_a_server_restart() {
    let (mut client, _events, again) =
        reconnects_after_a_restart(|| contract_server(sse()), fast("sse")).await;
    // The server drops the spark with reconnect: a new spark, the client carries on.
    end_with_reconnect_scenario(&mut client).await;
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
    let (addr, _stop, _task) = serve(&server, "127.0.0.1:0".parse().unwrap()).await;
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
