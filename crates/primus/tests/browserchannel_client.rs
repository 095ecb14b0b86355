//! The Rust client with `transformer: "browserchannel"`, against our server and against
//! the real Node Primus 8 server with npm `browserchannel` 2.1
//! (`tests/interop/reference-server.mjs --transformer browserchannel`; needs `node`, and a
//! missing node is a failure): open, messages both ways (enough to make the server end
//! and the client reopen back channels), heartbeats, the spark id and query, the server's
//! end with and without reconnect (the client acknowledging the server's `stop` at once),
//! refused authorization, a server restart, the client's end closing the spark at once,
//! and bursts of large messages batched within the server's body limit.
#![cfg(feature = "browserchannel")] // needs the `browserchannel` transformer

use primus::client::{Client, ClientEvent, ClientOptions, Strategy};
use primus::transformers::browserchannel::BrowserChannelOptions;
use primus::Options;
use serde_json::json;
use std::time::Duration;

mod client_support;
use client_support::{
    echo_scenario, end_is_seen_at_once, end_with_reconnect_scenario, fast, next_json,
    reconnects_after_a_restart, server_end_scenario, wait_event,
};
mod node_support;
use node_support::NodeServer;
mod server_support;
use server_support::{contract_server, token_authorizer, wait_connected, wait_until, TestServer};

fn bc() -> Options {
    Options::default()
        .transformer("browserchannel")
        .ping_interval(None)
}

/// A session timeout longer than any test: only the client's terminate ends a session
/// quickly.
fn long_sessions() -> Options {
    bc().browserchannel(BrowserChannelOptions::default().session_timeout(Duration::from_secs(60)))
}

/// What both servers must do for the client: open (writes before it are buffered), echo
/// in order (more than the 10 KiB a back channel carries before the server ends it), the
/// id, the query, and the server's end without reconnect.
async fn scenario(base: &str) {
    let url = format!("{base}/?room=lobby");
    let mut client = Client::new(&url, fast("browserchannel")).unwrap();
    let info = echo_scenario(&mut client, 0, true).await;
    assert_eq!(info["query"]["VER"], "8");
    assert!(info["query"].get("_primuscb").is_none(), "{info}");
    // 40 KiB in 200 messages: several forward requests, several back channels.
    let long = "x".repeat(200);
    for i in 0..200 {
        client.write(&json!([i, long])).unwrap();
    }
    for i in 0..200 {
        assert_eq!(next_json(&mut client).await, json!([i, long]));
    }
    server_end_scenario(&mut client).await;
}

/// The server ends the spark with reconnect: the client comes back as a new spark.
async fn end_with_reconnect(base: &str) {
    let mut client = Client::new(base, fast("browserchannel")).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    end_with_reconnect_scenario(&mut client).await;
    client.end();
}

/// Heartbeats ride on the channel: pings answered, nothing closes.
async fn heartbeats(base: &str) {
    let client = Client::new(base, fast("browserchannel")).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    let mut pongs = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
        match e {
            ClientEvent::Pong(_) => pongs += 1,
            ClientEvent::Close | ClientEvent::End | ClientEvent::Error(_) => {
                panic!("unexpected {e:?}")
            }
            _ => {}
        }
    }
    assert!(pongs >= 2, "{pongs} pongs");
    client.end();
}

/// A refused authorization fails the connection (401) and, without `timeout` in the
/// strategy, ends the client; with the token it connects.
async fn refused_authorization(base: &str) {
    let client = Client::new(
        base,
        ClientOptions {
            strategy: Strategy::NONE,
            ..fast("browserchannel")
        },
    )
    .unwrap();
    let mut events = client.events();
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        seen.iter()
            .any(|e| matches!(e, ClientEvent::Error(err) if err.to_string().contains("401"))),
        "{seen:?}"
    );
    let mut client = Client::new(&format!("{base}/?token=good"), fast("browserchannel")).unwrap();
    client.write("let in").unwrap();
    assert_eq!(next_json(&mut client).await, json!("let in"));
    client.end();
}

#[tokio::test]
async fn against_our_server() {
    let server = contract_server(bc());
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    scenario(&format!("http://{addr}")).await;
    wait_connected(&server, 0).await;
}

#[tokio::test]
async fn against_the_reference_server() {
    let node = NodeServer::start(&["--transformer", "browserchannel", "--ping-interval", "off"]);
    scenario(&node.url()).await;
}

#[tokio::test]
async fn end_with_reconnect_against_both() {
    let server = contract_server(bc());
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    end_with_reconnect(&format!("http://{addr}")).await;
    let node = NodeServer::start(&["--transformer", "browserchannel", "--ping-interval", "off"]);
    end_with_reconnect(&node.url()).await;
}

#[tokio::test]
async fn heartbeats_against_both() {
    let server = contract_server(bc().ping_interval(Some(Duration::from_millis(200))));
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    heartbeats(&format!("http://{addr}")).await;
    let node = NodeServer::start(&["--transformer", "browserchannel", "--ping-interval", "200"]);
    heartbeats(&node.url()).await;
}

#[tokio::test]
async fn refused_authorization_against_both() {
    let server = contract_server(bc());
    token_authorizer(&server);
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    refused_authorization(&format!("http://{addr}")).await;
    let node = NodeServer::start(&[
        "--transformer",
        "browserchannel",
        "--ping-interval",
        "off",
        "--auth",
        "on",
    ]);
    refused_authorization(&node.url()).await;
}

#[tokio::test]
async fn reconnects_after_a_server_restart() {
    // A graceful shutdown sends `stop` on every back channel.
    let (client, _events, again) =
        reconnects_after_a_restart(|| contract_server(bc()), fast("browserchannel")).await;
    client.end();
    wait_connected(&again.primus, 0).await;
}

#[tokio::test]
async fn the_clients_end_closes_the_spark_at_once() {
    let server = contract_server(long_sessions());
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    end_is_seen_at_once(&format!("http://{addr}"), fast("browserchannel"), || {
        server.connected() == 0 && server.browserchannel_sessions() == 0
    })
    .await;
}

#[tokio::test]
async fn from_server_picks_browserchannel_up() {
    let server = contract_server(bc());
    let running = TestServer::serve(server.clone()).await;
    let addr = running.addr;
    let mut client =
        Client::from_server(&server, &format!("http://{addr}"), ClientOptions::default()).unwrap();
    client.write("from spec").unwrap();
    assert_eq!(next_json(&mut client).await, json!("from spec"));
    client.end();
}

#[tokio::test]
async fn the_servers_stop_is_acknowledged_at_once() {
    let server = contract_server(long_sessions());
    let running = TestServer::serve(server.clone()).await;
    let mut client =
        Client::new(&format!("http://{}", running.addr), fast("browserchannel")).unwrap();
    client.write("hello").unwrap();
    assert_eq!(next_json(&mut client).await, json!("hello"));
    assert_eq!(server.browserchannel_sessions(), 1);
    server_end_scenario(&mut client).await;
    wait_until(Duration::from_secs(3), "the session to go", || {
        server.connected() == 0 && server.browserchannel_sessions() == 0
    })
    .await;
}

#[tokio::test]
async fn bursts_of_large_messages_stay_within_the_servers_body_limit() {
    // 64 frames of 802 bytes (400 × 'é' in quotes), 2.4 KB each percent-encoded: in one
    // request ~154 KB, over the server's 3 × 1000 + 64 KiB.
    let server = contract_server(bc().max_length(1000));
    let running = TestServer::serve(server.clone()).await;
    let mut client =
        Client::new(&format!("http://{}", running.addr), fast("browserchannel")).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    let long = "é".repeat(400);
    for round in 0..2 {
        for i in 0..64 {
            client
                .write(&json!([round, i, long]))
                .unwrap_or_else(|e| panic!("write {i}: {e}"));
        }
        for i in 0..64 {
            assert_eq!(next_json(&mut client).await, json!([round, i, long]));
        }
    }
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(
                e,
                ClientEvent::Close | ClientEvent::End | ClientEvent::Error(_)
            ),
            "{e:?}"
        );
    }
    assert_eq!(server.connected(), 1);
    client.end();
}
