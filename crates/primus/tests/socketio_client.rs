//! The Rust client's `socket.io` transport: against our socket.io server (open, messages
//! both ways, the binary parser's frames as attachments, `id()`, heartbeat, the server's
//! end with and without reconnect, the client's end, upgraded / polling only / WebSocket
//! only), and against a plain Socket.IO 4 server (npm `socket.io` 4.8.1,
//! `tests/interop/socketio-echo-server.mjs`) to prove it speaks real Socket.IO: echoed
//! `message` events (text and a binary attachment), the CONNECT's `auth`, a refused
//! CONNECT, the server's DISCONNECT, and the DISCONNECT it sends on `end()`. Needs `node`
//! for the second half (a missing node is a failure, not a skip).
#![cfg(feature = "socketio")] // needs the `socketio` transformer

use primus::client::{Client, ClientError, ClientEvent, ClientOptions, Strategy};
use primus::transformers::engineio::client::EngineIoClientOptions;
use primus::transformers::socketio::SocketIoClientOptions;
use primus::{Options, Primus};
use serde_json::json;
use std::time::Duration;
use tokio::time::{timeout, Instant};

mod client_support;
mod server_support;
use client_support::{
    echo_in_order, end_with_reconnect_scenario, engineio_modes, fast, next_json, serve, values,
    wait_connected, wait_event, WAIT,
};
use server_support::{contract_server, wait_until};

/// The ways to reach a server over Engine.IO, and one more: binary as WebSocket binary
/// messages instead of base64 text.
fn modes() -> Vec<(&'static str, EngineIoClientOptions, &'static str)> {
    let mut raw_binary = EngineIoClientOptions::default();
    raw_binary.force_base64 = false;
    let mut modes = engineio_modes();
    modes.push((
        "upgraded, binary as WebSocket binary",
        raw_binary,
        "websocket",
    ));
    modes
}

fn options(engineio: EngineIoClientOptions) -> ClientOptions {
    let mut o = fast("socket.io");
    o.transport.engineio = engineio;
    o
}

fn sio() -> Options {
    Options::default().transformer("socket.io")
}

async fn ours(options: Options) -> (Primus, String) {
    let primus = contract_server(options);
    let (addr, stop, _task) = serve(&primus, "127.0.0.1:0".parse().unwrap()).await;
    // The server lives as long as the test's runtime.
    std::mem::forget(stop);
    (primus, format!("http://{addr}"))
}

#[tokio::test]
async fn against_our_server_in_every_mode() {
    for (label, engineio, transport) in modes() {
        let (primus, url) = ours(sio()).await;
        let mut client = Client::new(&format!("{url}/?room=lobby"), options(engineio)).unwrap();
        let mut events = client.events();
        // Written before the connection opens: sent once the CONNECT is answered.
        echo_in_order(&mut client, &values(), label).await;
        let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
        assert!(primus.spark(&id).is_some(), "{label}: id() is the spark id");
        client.write(&json!({"cmd": "info"})).unwrap();
        let info = next_json(&mut client).await;
        assert_eq!(info["id"], json!(id));
        assert_eq!(info["query"]["room"], "lobby", "{label}");
        wait_until(WAIT, &format!("{label}: settles on {transport}"), || {
            primus.engineio_transport(&id) == Some(transport)
        })
        .await;
        // Messages still flow once the transport settled.
        for i in 0..100 {
            client.write(&i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(next_json(&mut client).await, json!(i), "{label}");
        }
        // The server's end: the last message, DISCONNECT, then the client ends.
        client.write(&json!({"cmd": "end", "data": "bye"})).unwrap();
        assert_eq!(next_json(&mut client).await, json!("bye"), "{label}");
        let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
        assert!(
            !seen.iter().any(|e| matches!(e, ClientEvent::Reconnect(_))),
            "{label}: {seen:?}"
        );
        wait_until(WAIT, &format!("{label}: session left"), || {
            primus.engineio_sessions() == Some(0)
        })
        .await;
    }
}

#[tokio::test]
async fn binary_parser_frames_ride_as_attachments() {
    for (label, engineio, _) in modes() {
        let server = sio().parser("binary");
        let (primus, url) = ours(server).await;
        let mut client = Client::from_server(&primus, &url, options(engineio)).unwrap();
        for v in [
            json!("hello"),
            json!({"bin": [0, 255, 13, 10], "s": "é"}),
            json!(1.5),
            json!({"big": "y".repeat(100_000)}),
        ] {
            client.write(&v).unwrap();
            assert_eq!(next_json(&mut client).await, v, "{label}");
        }
        client.end();
        wait_connected(&primus, 0).await;
    }
}

#[tokio::test]
async fn heartbeat_pings_are_answered_through_socketio() {
    let (primus, url) = ours(sio().ping_interval(Some(Duration::from_millis(200)))).await;
    // From the server: a ping timeout of 1.5 × 200 ms, so a missed ping would show.
    let mut client = Client::from_server(&primus, &url, options(Default::default())).unwrap();
    let mut events = client.events();
    // Four pings answered in a row (each wait fails after `WAIT`), and no close between.
    for _ in 0..4 {
        let seen = wait_event(&mut events, "pong", |e| matches!(e, ClientEvent::Pong(_))).await;
        assert!(
            !seen
                .iter()
                .any(|e| matches!(e, ClientEvent::Offline | ClientEvent::Close)),
            "{seen:?}"
        );
    }
    client.write("still here").unwrap();
    assert_eq!(next_json(&mut client).await, json!("still here"));
    assert_eq!(primus.connected(), 1);
    client.end();
}

#[tokio::test]
async fn server_end_with_reconnect_makes_a_new_spark() {
    for (label, engineio, _) in modes() {
        let (primus, url) = ours(sio()).await;
        let mut client = Client::new(&url, options(engineio)).unwrap();
        client.write("one").unwrap();
        assert_eq!(next_json(&mut client).await, json!("one"), "{label}");
        end_with_reconnect_scenario(&mut client).await;
        // A spark closed without Primus's goodbye (just DISCONNECT): a lost connection.
        let mut events = client.events();
        let id = client.id().await.unwrap();
        primus.spark(&id).unwrap().close(true);
        wait_event(&mut events, "reconnected", |e| {
            matches!(e, ClientEvent::Reconnected(_))
        })
        .await;
        client.write("three").unwrap();
        assert_eq!(next_json(&mut client).await, json!("three"), "{label}");
        client.end();
        wait_connected(&primus, 0).await;
    }
}

#[tokio::test]
async fn client_end_closes_the_session() {
    for (label, engineio, _) in modes() {
        let (primus, url) = ours(sio()).await;
        // What the sparks got, beside the contract's echo.
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        primus.on_connection(move |spark| {
            let g = g.clone();
            spark.on_data(move |_, msg| g.lock().unwrap().push(msg.value().clone()));
        });
        let mut client = Client::new(&url, options(engineio)).unwrap();
        client.write("hi").unwrap();
        assert_eq!(next_json(&mut client).await, json!("hi"));
        // Written right before end(): sent before the DISCONNECT.
        client.write("last").unwrap();
        client.end();
        wait_until(WAIT, &format!("{label}: session and spark gone"), || {
            primus.engineio_sessions() == Some(0) && primus.connected() == 0
        })
        .await;
        assert_eq!(
            *got.lock().unwrap(),
            [primus::Value::from("hi"), primus::Value::from("last")],
            "{label}"
        );
    }
}

#[tokio::test]
async fn the_transformer_is_selected_by_name_and_from_the_spec() {
    let (_primus, url) = ours(sio()).await;
    let mut client = Client::from_spec(&url, ClientOptions::default())
        .await
        .unwrap();
    client.write("via spec").unwrap();
    assert_eq!(next_json(&mut client).await, json!("via spec"));
    client.end();
    // A socket.io client against an engine.io server: the CONNECT is delivered as a
    // Primus message there and never answered, so the attempt times out.
    let engine = Primus::new(Options::default().transformer("engine.io")).unwrap();
    let (addr, _stop, _task) = serve(&engine, "127.0.0.1:0".parse().unwrap()).await;
    let client = Client::new(
        &format!("http://{addr}"),
        ClientOptions {
            timeout: Some(Duration::from_millis(500)),
            strategy: Strategy::NONE,
            ..options(Default::default())
        },
    )
    .unwrap();
    let mut events = client.events();
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        seen.iter().any(|e| matches!(e, ClientEvent::Timeout)),
        "{seen:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Against a plain Socket.IO 4 server (npm socket.io 4.8.1)
// ---------------------------------------------------------------------------------------

mod node_support;
use node_support::NodeServer;

fn echo_server() -> NodeServer {
    NodeServer::start_script(
        "tests/interop",
        "socketio-echo-server.mjs",
        &["--port", "0", "--pathname", "/primus"],
    )
}

/// Options for a plain Socket.IO server: it sends no `primus::ping`.
fn plain(engineio: EngineIoClientOptions) -> ClientOptions {
    ClientOptions {
        ping_timeout: None,
        ..options(engineio)
    }
}

#[tokio::test]
async fn a_socketio_4_server_echoes_text_and_binary_messages() {
    let node = echo_server();
    for (label, engineio, transport) in modes() {
        let mut o = plain(engineio.clone());
        o.transport.socketio = SocketIoClientOptions::default()
            .auth(json!({"token": "t1"}).as_object().unwrap().clone());
        let mut client = Client::new(&format!("{}/?room=a", node.url()), o).unwrap();
        echo_in_order(&mut client, &values(), label).await;
        // The auth payload and the query reached the Socket.IO server.
        let deadline = Instant::now() + WAIT;
        loop {
            client.write("info").unwrap();
            let info = next_json(&mut client).await;
            assert_eq!(info["auth"], json!({"token": "t1"}), "{label}");
            assert_eq!(info["query"]["room"], "a", "{label}");
            assert_eq!(info["query"]["EIO"], "4", "{label}");
            if info["transport"] == transport {
                break;
            }
            assert!(Instant::now() < deadline, "{label}: {info}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        client.end();

        // Binary frames (the binary parser) as one attachment, echoed by socket.io.
        let mut o = plain(engineio);
        o.parser = primus_core::parser::by_name("binary").unwrap();
        let mut client = Client::new(&node.url(), o).unwrap();
        for v in [
            json!({"bin": [0, 255], "s": "é"}),
            json!("x".repeat(70_000)),
        ] {
            client.write(&v).unwrap();
            assert_eq!(next_json(&mut client).await, v, "{label}: binary");
        }
        client.end();
    }
}

#[tokio::test]
async fn a_socketio_4_server_refusing_the_connect_is_a_typed_error() {
    let node = echo_server();
    let mut o = plain(Default::default());
    o.strategy = Strategy::NONE;
    o.transport.socketio = SocketIoClientOptions::default()
        .auth(json!({"token": "refuse"}).as_object().unwrap().clone());
    let client = Client::new(&node.url(), o).unwrap();
    let mut events = client.events();
    let seen = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        seen.iter().any(|e| matches!(
            e,
            ClientEvent::Error(ClientError::SocketIoRefused(m)) if m == "not authorized"
        )),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|e| matches!(e, ClientEvent::Open)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_socketio_4_server_sees_disconnects_both_ways() {
    for (label, engineio, _) in modes() {
        // A server per mode: its list of disconnect reasons is this mode's.
        let node = echo_server();
        // The server's DISCONNECT (no Primus goodbye before it): a lost connection, so
        // the client reconnects as a new socket.
        let mut client = Client::new(&node.url(), plain(engineio)).unwrap();
        let mut events = client.events();
        client.write("info").unwrap();
        let first = next_json(&mut client).await["id"].clone();
        client.write("bye").unwrap();
        wait_event(&mut events, "reconnected", |e| {
            matches!(e, ClientEvent::Reconnected(_))
        })
        .await;
        client.write("info").unwrap();
        let second = next_json(&mut client).await["id"].clone();
        assert!(first.is_string() && second.is_string(), "{label}");
        assert_ne!(first, second, "{label}");
        // The client's end sends DISCONNECT: the server names it as the reason.
        client.end();
        wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
        let mut probe = Client::new(&node.url(), plain(Default::default())).unwrap();
        let want = json!(["server namespace disconnect", "client namespace disconnect"]);
        let deadline = Instant::now() + WAIT;
        loop {
            probe.write("reasons").unwrap();
            let reasons = next_json(&mut probe).await;
            if reasons == want {
                break;
            }
            assert!(Instant::now() < deadline, "{label}: {reasons}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        probe.end();
    }
}
