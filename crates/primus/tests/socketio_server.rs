//! The `socket.io` transformer's server half at the byte level (issue 14): raw Engine.IO
//! polling and WebSocket carrying Socket.IO protocol 5 packets. CONNECT and its sid,
//! messages both ways, a binary attachment, namespace refusal, frames held until CONNECT,
//! server end (`1` then the Engine.IO close), client `1`, `max_length`, and the browser
//! library served for it (the client halves are tested in `socketio_client.rs` and the
//! browser suite).
#![cfg(feature = "socketio")] // needs the `socketio` transformer

mod server_support;

use primus::{Options, Value};
use server_support::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn sio() -> Options {
    quiet().transformer("socket.io")
}

const POLLING: &str = "/primus/?EIO=4&transport=polling";

/// The polling handshake: the session id.
async fn handshake(addr: SocketAddr) -> String {
    let res = http_get(addr, POLLING, "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    let body = res.text();
    let open: serde_json::Value = serde_json::from_str(body.strip_prefix('0').unwrap()).unwrap();
    open["sid"].as_str().unwrap().to_string()
}

/// A poll: its status and body.
async fn poll(addr: SocketAddr, sid: &str) -> (u16, String) {
    let res = http_get(addr, &format!("{POLLING}&sid={sid}"), "").await;
    (res.status, res.text())
}

/// A POST of `body`: its status.
async fn post(addr: SocketAddr, sid: &str, body: &str) -> u16 {
    let req = format!(
        "POST {POLLING}&sid={sid} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    http_raw(addr, &req).await.status
}

/// Handshake and CONNECT: the session id, which the CONNECT answer gives as socket id.
async fn connected(addr: SocketAddr) -> String {
    let sid = handshake(addr).await;
    assert_eq!(post(addr, &sid, "40").await, 200);
    assert_eq!(
        poll(addr, &sid).await,
        (200, format!("40{{\"sid\":\"{sid}\"}}"))
    );
    sid
}

#[tokio::test]
async fn connect_then_messages_both_ways_over_polling() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let sid = connected(a).await;
    // The socket id is the spark id.
    assert_eq!(seen.lock().unwrap().ids, std::slice::from_ref(&sid));
    assert_eq!(server.primus.engineio_transport(&sid), Some("polling"));

    // A string argument is the Primus-encoded text.
    assert_eq!(post(a, &sid, r#"42["message","\"hi\""]"#).await, 200);
    assert_eq!(poll(a, &sid).await.1, r#"42["message","\"hi\""]"#);
    // Any other argument is encoded as JSON text; other events are ignored.
    let body = "42[\"other\",\"x\"]\x1e42[\"message\",{\"a\":[1,\"é\"]}]";
    assert_eq!(post(a, &sid, body).await, 200);
    assert_eq!(
        poll(a, &sid).await.1,
        r#"42["message","{\"a\":[1,\"é\"]}"]"#
    );
    // An ack asked for gets an empty one.
    assert_eq!(post(a, &sid, r#"427["message","5"]"#).await, 200);
    let mut got = String::new();
    for _ in 0..3 {
        if got.matches('\x1e').count() == 1 {
            break;
        }
        if !got.is_empty() {
            got.push('\x1e');
        }
        got.push_str(&poll(a, &sid).await.1);
    }
    let mut packets: Vec<&str> = got.split('\x1e').collect();
    packets.sort();
    assert_eq!(packets, [r#"42["message","5"]"#, "437[]"]);
    let data = seen.lock().unwrap().data.clone();
    assert_eq!(
        data,
        [
            Value::from("hi"),
            serde_json::from_str::<Value>(r#"{"a":[1,"é"]}"#).unwrap(),
            Value::from(5),
        ]
    );
}

#[tokio::test]
async fn frames_wait_for_connect() {
    let server = TestServer::start(sio()).await;
    server.primus.on_connection(|spark| {
        let _ = spark.write(&"welcome");
    });
    let a = server.addr;
    let sid = handshake(a).await;
    // Before CONNECT a poll gets nothing: it is still pending when CONNECT arrives.
    let pending = tokio::spawn({
        let sid = sid.clone();
        async move { poll(a, &sid).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!pending.is_finished(), "a frame went out before CONNECT");
    assert_eq!(post(a, &sid, "40{\"token\":\"t\"}").await, 200);
    let (status, body) = within("the poll", pending).await.unwrap();
    assert_eq!(status, 200);
    let mut body = body;
    if !body.contains('\x1e') {
        body.push('\x1e');
        body.push_str(&poll(a, &sid).await.1);
    }
    assert_eq!(
        body,
        format!("40{{\"sid\":\"{sid}\"}}\x1e42[\"message\",\"\\\"welcome\\\"\"]")
    );
}

#[tokio::test]
async fn other_namespaces_are_refused() {
    let server = TestServer::start(sio()).await;
    echo_recording(&server.primus);
    let a = server.addr;
    let sid = handshake(a).await;
    assert_eq!(post(a, &sid, "40/chat,").await, 200);
    assert_eq!(
        poll(a, &sid).await.1,
        r#"44/chat,{"message":"Invalid namespace"}"#
    );
    // The main namespace still connects.
    assert_eq!(post(a, &sid, "40").await, 200);
    assert_eq!(poll(a, &sid).await.1, format!("40{{\"sid\":\"{sid}\"}}"));
}

#[tokio::test]
async fn server_end_sends_disconnect_then_close() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let spark = Arc::new(Mutex::new(None));
    let s = spark.clone();
    server.primus.on_connection(move |spark| {
        *s.lock().unwrap() = Some(spark.clone());
    });
    let a = server.addr;
    let sid = connected(a).await;
    let spark = spark.lock().unwrap().clone().unwrap();
    spark.end(Some(&"bye"), false);
    // The last frames and DISCONNECT, then in a payload of its own the Engine.IO close.
    let (_, body) = poll(a, &sid).await;
    let packets: Vec<&str> = body.split('\x1e').collect();
    assert_eq!(packets.last(), Some(&"41"), "{body}");
    assert!(packets.contains(&r#"42["message","\"bye\""]"#), "{body}");
    assert!(!packets.contains(&"1"), "{body}");
    assert_eq!(poll(a, &sid).await.1, "1");
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
}

#[tokio::test]
async fn client_disconnect_ends_the_spark() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let sid = connected(a).await;
    assert_eq!(post(a, &sid, "41").await, 200);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    wait_until(WAIT, "the session to go", || {
        server.primus.engineio_sessions() == Some(0)
    })
    .await;
}

#[tokio::test]
async fn bad_packets_and_max_length_end_the_session() {
    let server = TestServer::start(sio().max_length(100)).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let sid = connected(a).await;
    let big = format!("42[\"message\",\"\\\"{}\\\"\"]", "x".repeat(200));
    assert_eq!(post(a, &sid, &big).await, 413);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    assert!(seen.lock().unwrap().max_length);

    // Two attachments in one event: more than the limit of one.
    let sid = connected(a).await;
    assert_eq!(post(a, &sid, r#"452-["message",{},{}]"#).await, 400);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 2).await;
    // An event before CONNECT.
    let sid = handshake(a).await;
    assert_eq!(post(a, &sid, r#"42["message","1"]"#).await, 400);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 3).await;
    assert!(seen.lock().unwrap().data.is_empty());
}

/// A text WebSocket message that is not a Primus heartbeat ping or an Engine.IO ping.
async fn next_text(ws: &mut RawWs) -> String {
    loop {
        let f = ws.read_frame().await;
        let text = f.text();
        if f.opcode() == 0x1 && text == "2" {
            ws.send_text("3").await;
            continue;
        }
        if !text.contains("primus::ping::") {
            return text;
        }
    }
}

#[tokio::test]
async fn websocket_binary_attachments_with_the_binary_parser() {
    let server = TestServer::start(sio().parser("binary")).await;
    let seen = echo_recording(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus/?EIO=4&transport=websocket", "").await;
    let open = next_text(&mut ws).await;
    assert!(open.starts_with("0{\"sid\""), "{open}");
    ws.send_text("40").await;
    let sid = seen.lock().unwrap().ids[0].clone();
    assert_eq!(next_text(&mut ws).await, format!("40{{\"sid\":\"{sid}\"}}"));
    // BinaryPack: the positive fixint 5, as the one attachment of a binary event.
    ws.send_text(r#"451-["message",{"_placeholder":true,"num":0}]"#)
        .await;
    ws.send_frame(0x2, &[0x05]).await;
    assert_eq!(
        next_text(&mut ws).await,
        r#"451-["message",{"_placeholder":true,"num":0}]"#
    );
    let attachment = ws.read_frame().await;
    assert_eq!(attachment.opcode(), 0x2);
    assert_eq!(attachment.bytes(), [0x82, 0x01, 0x05]);
    assert_eq!(seen.lock().unwrap().data, [Value::from(5)]);

    // The client's DISCONNECT ends the spark.
    ws.send_text("41").await;
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
}

#[tokio::test]
async fn websocket_server_end_sends_disconnect_before_the_close() {
    let server = TestServer::start(sio()).await;
    server.primus.on_connection(|spark| {
        spark.on_data(|spark, _| spark.end(None::<&()>, false));
    });
    let mut ws = RawWs::connect(server.addr, "/primus/?EIO=4&transport=websocket", "").await;
    next_text(&mut ws).await;
    ws.send_text("40").await;
    assert!(next_text(&mut ws).await.starts_with("40{"));
    ws.send_text(r#"42["message","\"end\""]"#).await;
    let frames = ws.read_to_eof().await;
    let texts: Vec<String> = frames
        .iter()
        .filter(|f| f.opcode() == 0x1)
        .map(|f| f.text())
        .collect();
    assert_eq!(texts.last().map(String::as_str), Some("41"), "{texts:?}");
    assert_eq!(frames.last().map(|f| f.opcode()), Some(0x8));
}

#[tokio::test]
async fn the_browser_library_carries_the_socketio_transport() {
    let server = TestServer::start(sio()).await;
    assert_eq!(server.primus.spec().transformer, "socket.io");
    let res = http_get(server.addr, "/primus/primus.js", "").await;
    assert_eq!(res.status, 200);
    let js = res.text();
    assert!(js.contains(r#""transformer":"socket.io""#));
    assert!(js.contains("Primus.transports['socket.io']"));
}
