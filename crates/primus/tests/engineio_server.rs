//! The `engine.io` transformer's server half at the byte level (issue 4): handshake,
//! polling both ways, protocol 3, the upgrade, and every bad-input case with the
//! reference's answer, plus abandoned sessions being reclaimed.
#![cfg(feature = "engineio")] // needs the `engineio` transformer

mod server_support;

use primus::transformers::engineio::EngineIoOptions;
use primus::{Options, Value};
use server_support::*;
use std::net::SocketAddr;

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn eio_options() -> Options {
    quiet().transformer("engine.io")
}

/// Send raw request bytes with `Connection: close` and read the whole answer.
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, String) {
    within("an HTTP answer", async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut req = head.as_bytes().to_vec();
        req.extend_from_slice(body);
        tcp.write_all(&req).await.unwrap();
        let mut buf = Vec::new();
        tcp.read_to_end(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    })
    .await
}

async fn get(addr: SocketAddr, query: &str) -> (u16, String, String) {
    let head =
        format!("GET /primus/?{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    raw(addr, &head, b"").await
}

/// A poll in the background.
fn spawn_poll(addr: SocketAddr, query: String) -> tokio::task::JoinHandle<(u16, String, String)> {
    tokio::spawn(async move { get(addr, &query).await })
}

async fn post(addr: SocketAddr, query: &str, body: &[u8]) -> (u16, String, String) {
    let head = format!(
        "POST /primus/?{query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    raw(addr, &head, body).await
}

/// Polling handshake (protocol 4); returns the sid and the `open` body.
async fn handshake(addr: SocketAddr) -> (String, serde_json::Value) {
    let (status, head, body) = get(addr, "EIO=4&transport=polling&t=x&b64=1").await;
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("cache-control: no-store, no-cache"), "{head}");
    let open = body.strip_prefix('0').expect("an open packet");
    let json: serde_json::Value = serde_json::from_str(open).unwrap();
    (json["sid"].as_str().unwrap().to_string(), json)
}

fn q(sid: &str) -> String {
    format!("EIO=4&transport=polling&sid={sid}")
}

const UNKNOWN_SID: &str = r#"{"code":1,"message":"Session ID unknown"}"#;

#[tokio::test]
async fn handshake_then_messages_both_ways_over_polling() {
    let server = TestServer::start(eio_options().max_length(1234)).await;
    let seen = echo_recording(&server.primus);
    let (sid, open) = handshake(server.addr).await;
    assert_eq!(open["upgrades"], serde_json::json!(["websocket"]));
    assert_eq!(open["pingInterval"], 25000);
    assert_eq!(open["pingTimeout"], 20000);
    assert_eq!(open["maxPayload"], 1234, "maxPayload is max_length");
    let (status, _, body) = post(server.addr, &q(&sid), "4\"a\"\x1e4{\"b\":[1]}".as_bytes()).await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (status, head, body) = get(server.addr, &q(&sid)).await;
    assert_eq!(status, 200);
    assert!(head.contains("text/plain; charset=utf-8"), "{head}");
    assert_eq!(body, "4\"a\"\x1e4{\"b\":[1]}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.ids, vec![sid], "the spark id is the sid");
    assert_eq!(seen.data.len(), 2);
}

#[tokio::test]
async fn id_generator_ids_become_the_sid() {
    let server = TestServer::start(eio_options().id_generator(|| "my-id.1".into())).await;
    let (sid, _) = handshake(server.addr).await;
    assert_eq!(sid, "my-id.1");
    assert!(server.primus.spark("my-id.1").is_some());
    // A second session cannot reuse it: it gets a random sid, the spark keeps ours.
    let (sid2, _) = handshake(server.addr).await;
    assert_ne!(sid2, "my-id.1");
    assert_eq!(sid2.len(), 20);
}

#[tokio::test]
async fn errors_answer_like_the_reference() {
    let server = TestServer::start(eio_options()).await;
    let a = server.addr;
    let cases = [
        ("EIO=4&transport=polling&sid=forged", 400, UNKNOWN_SID),
        (
            "EIO=4&transport=carrier-pigeon",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        ("EIO=4", 400, r#"{"code":0,"message":"Transport unknown"}"#),
        (
            "EIO=3&transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "EIO=4&transport=websocket",
            400,
            r#"{"code":3,"message":"Bad request"}"#,
        ),
    ];
    for (query, status, body) in cases {
        let (s, head, b) = get(a, query).await;
        assert_eq!((s, b.as_str()), (status, body), "{query}");
        assert!(head.contains("content-type: application/json"), "{head}");
    }
    let (s, _, b) = post(a, "EIO=4&transport=polling", b"4x").await;
    assert_eq!(
        (s, b.as_str()),
        (400, r#"{"code":2,"message":"Bad handshake method"}"#)
    );
    let (s, _, b) = post(a, "EIO=4&transport=polling&sid=forged", b"4x").await;
    assert_eq!((s, b.as_str()), (400, UNKNOWN_SID));
    // A forged sid on an upgrade, too.
    let res = RawWs::try_connect(a, "/primus/?EIO=4&transport=websocket&sid=forged", "").await;
    let res = res.err().expect("no upgrade for a forged sid");
    assert_eq!((res.status, res.text().as_str()), (400, UNKNOWN_SID));
}

#[tokio::test]
async fn bad_packet_types_end_the_session() {
    let server = TestServer::start(eio_options()).await;
    let seen = echo_recording(&server.primus);
    for body in ["9oops", "4\"ok\"\x1e\x1e", "b!!!", "0{}", ""] {
        let (sid, _) = handshake(server.addr).await;
        let (status, _, answer) = post(server.addr, &q(&sid), body.as_bytes()).await;
        // The session closes ("parse error") and the POST gets a 400 (the Engine.IO
        // protocol test suite's expectation).
        assert_eq!(
            (status, answer.as_str()),
            (400, r#"{"code":3,"message":"Bad request"}"#),
            "{body:?}"
        );
        wait_until(WAIT, "the session to close", || {
            server.primus.engineio_sessions() == Some(0)
        })
        .await;
        let (status, _, answer) = get(server.addr, &q(&sid)).await;
        assert_eq!((status, answer.as_str()), (400, UNKNOWN_SID), "{body:?}");
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.ends, 5);
    assert_eq!(seen.errors.len(), 5, "{:?}", seen.errors);
    assert_eq!(server.primus.connected(), 0);
}

#[tokio::test]
async fn payloads_over_max_length_get_413_and_end_the_spark() {
    let server = TestServer::start(eio_options().max_length(100)).await;
    let seen = echo_recording(&server.primus);
    let (sid, _) = handshake(server.addr).await;
    let big = format!("4\"{}\"", "x".repeat(200));
    let (status, _, _) = post(server.addr, &q(&sid), big.as_bytes()).await;
    assert_eq!(status, 413);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    assert!(seen.lock().unwrap().max_length);
    // Chunked bodies without a length are counted as they arrive.
    let (sid, _) = handshake(server.addr).await;
    let chunk = "x".repeat(80);
    let head = format!(
        "POST /primus/?{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
        q(&sid),
        server.addr
    );
    let body = format!("50\r\n{chunk}\r\n50\r\n{chunk}\r\n0\r\n\r\n");
    let (status, _, _) = raw(server.addr, &head, body.as_bytes()).await;
    assert_eq!(status, 413);
    wait_until(WAIT, "the second spark to end", || {
        seen.lock().unwrap().ends == 2
    })
    .await;
}

#[tokio::test]
async fn truncated_utf8_becomes_a_replacement_character_like_node() {
    let server = TestServer::start(eio_options()).await;
    let seen = echo_recording(&server.primus);
    let (sid, _) = handshake(server.addr).await;
    let (status, _, _) = post(server.addr, &q(&sid), b"4\"h\xc3\"").await;
    assert_eq!(status, 200);
    let (_, _, body) = get(server.addr, &q(&sid)).await;
    assert_eq!(body, "4\"h\u{fffd}\"");
    assert_eq!(seen.lock().unwrap().data, vec![Value::from("h\u{fffd}")]);
}

#[tokio::test]
async fn racing_polls_close_the_session() {
    let server = TestServer::start(eio_options()).await;
    let seen = echo_recording(&server.primus);
    let (sid, _) = handshake(server.addr).await;
    let first = spawn_poll(server.addr, q(&sid));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, _, _) = get(server.addr, &q(&sid)).await;
    assert_eq!(status, 400, "the overlapping poll is refused");
    let (status, _, body) = within("the first poll", first).await.unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, "1"),
        "the first one gets `close`"
    );
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    assert_eq!(server.primus.engineio_sessions(), Some(0));
}

#[tokio::test]
async fn racing_posts_close_the_session() {
    let server = TestServer::start(eio_options()).await;
    let seen = echo_recording(&server.primus);
    let (sid, _) = handshake(server.addr).await;
    // A POST whose body never finishes keeps the session busy…
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /primus/?{} HTTP/1.1\r\nHost: {}\r\nContent-Length: 100\r\n\r\n4",
        q(&sid),
        server.addr
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // …so a second one is an overlap.
    let (status, _, _) = post(server.addr, &q(&sid), b"4\"x\"").await;
    assert_eq!(status, 400);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
}

#[tokio::test]
async fn abandoned_sessions_are_reclaimed() {
    let engineio = EngineIoOptions::default()
        .heartbeat(Duration::from_millis(100), Duration::from_millis(100))
        .upgrade_timeout(Duration::from_millis(200));
    let server = TestServer::start(eio_options().engineio(engineio)).await;
    let seen = echo_recording(&server.primus);
    // Polling clients that vanish after the handshake or after one poll…
    let mut sids = Vec::new();
    for _ in 0..5 {
        sids.push(handshake(server.addr).await.0);
    }
    let (sid, _) = handshake(server.addr).await;
    let poller = spawn_poll(server.addr, q(&sid));
    // …and upgrades that never finish (no probe; probe but no `5`).
    let (half, _) = handshake(server.addr).await;
    let mut ws1 = RawWs::connect(
        server.addr,
        &format!("/primus/?EIO=4&transport=websocket&sid={half}"),
        "",
    )
    .await;
    let (half2, _) = handshake(server.addr).await;
    let mut ws2 = RawWs::connect(
        server.addr,
        &format!("/primus/?EIO=4&transport=websocket&sid={half2}"),
        "",
    )
    .await;
    ws2.send_text("2probe").await;
    assert_eq!(ws2.read_frame().await.text(), "3probe");
    assert_eq!(server.primus.engineio_sessions(), Some(8));
    assert_eq!(server.primus.connected(), 8);
    // The stalled upgrades are dropped at upgrade_timeout…
    ws1.read_to_eof().await;
    ws2.read_to_eof().await;
    // …and every session ends once its Engine.IO heartbeat times out.
    wait_until(
        Duration::from_secs(3),
        "every session to be reclaimed",
        || server.primus.engineio_sessions() == Some(0),
    )
    .await;
    assert_eq!(server.primus.connected(), 0);
    assert_eq!(seen.lock().unwrap().ends, 8);
    let (_, _, body) = within("the abandoned poll", poller).await.unwrap();
    assert!(body.starts_with('2'), "the poll got a ping: {body:?}");
}

#[tokio::test]
async fn a_live_polling_client_is_kept_by_answering_pings() {
    let engineio = EngineIoOptions::default()
        .heartbeat(Duration::from_millis(100), Duration::from_millis(150));
    let server = TestServer::start(eio_options().engineio(engineio)).await;
    let (sid, _) = handshake(server.addr).await;
    for _ in 0..5 {
        let (status, _, body) = get(server.addr, &q(&sid)).await;
        assert_eq!((status, body.as_str()), (200, "2"));
        let (status, _, _) = post(server.addr, &q(&sid), b"3").await;
        assert_eq!(status, 200);
    }
    assert_eq!(server.primus.engineio_sessions(), Some(1));
}

#[tokio::test]
async fn upgrade_with_probe_then_websocket_carries_the_session() {
    let server = TestServer::start(eio_options()).await;
    let seen = echo_recording(&server.primus);
    let (sid, _) = handshake(server.addr).await;
    let pending = spawn_poll(server.addr, q(&sid));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ws = RawWs::connect(
        server.addr,
        &format!("/primus/?EIO=4&transport=websocket&sid={sid}&b64=1"),
        "",
    )
    .await;
    ws.send_text("2probe").await;
    assert_eq!(ws.read_frame().await.text(), "3probe");
    let (_, _, body) = within("the pending poll", pending).await.unwrap();
    assert_eq!(body, "6", "the pending poll is released with noop");
    // A second upgrade on the same session is accepted and closed at once.
    let mut again = RawWs::connect(
        server.addr,
        &format!("/primus/?EIO=4&transport=websocket&sid={sid}"),
        "",
    )
    .await;
    let frames = again.read_to_eof().await;
    assert_eq!(frames.last().map(|f| f.opcode()), Some(0x8));
    ws.send_text("5").await;
    ws.send_text("4\"over ws\"").await;
    assert_eq!(ws.read_frame().await.text(), "4\"over ws\"");
    // Polling is over for this session: the reference's transport mismatch.
    let (status, _, body) = get(server.addr, &q(&sid)).await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":3,"message":"Bad request"}"#)
    );
    // Server-side end: the last message, server::close, then a WebSocket close.
    server.primus.spark(&sid).unwrap().end(Some("bye"), false);
    let frames = ws.read_to_eof().await;
    let texts: Vec<String> = frames.iter().map(|f| f.text()).collect();
    assert_eq!(texts[0], "4\"bye\"");
    assert_eq!(texts[1], "4\"primus::server::close\"");
    assert_eq!(frames[2].opcode(), 0x8);
    assert_eq!(seen.lock().unwrap().data, vec![Value::from("over ws")]);
}

#[tokio::test]
async fn binary_frames_are_base64_on_polling_and_b64_websockets() {
    // A parser that passes binary through is not needed: the transformer carries
    // whatever frames the spark queues.
    let server = TestServer::start(eio_options()).await;
    let (sid, _) = handshake(server.addr).await;
    let spark = server.primus.spark(&sid).unwrap();
    spark
        .write_frame(primus::Frame::binary(vec![1u8, 2, 3]))
        .unwrap();
    let (_, _, body) = get(server.addr, &q(&sid)).await;
    assert_eq!(body, "bAQID");
    // WebSocket-only session without b64: native binary messages.
    let mut ws = RawWs::connect(server.addr, "/primus/?EIO=4&transport=websocket", "").await;
    let open = ws.read_frame().await.text();
    let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let spark = server.primus.spark(json["sid"].as_str().unwrap()).unwrap();
    spark.write_frame(primus::Frame::binary(vec![9u8])).unwrap();
    let f = ws.read_frame().await;
    assert_eq!((f.opcode(), f.payload), (0x2, vec![9u8]));
    // With b64=1: a `b` text message, as the reference does for Primus clients.
    let mut ws = RawWs::connect(server.addr, "/primus/?EIO=4&transport=websocket&b64=1", "").await;
    let open = ws.read_frame().await.text();
    let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let spark = server.primus.spark(json["sid"].as_str().unwrap()).unwrap();
    spark.write_frame(primus::Frame::binary(vec![9u8])).unwrap();
    assert_eq!(ws.read_frame().await.text(), "bCQ==");
}

#[tokio::test]
async fn protocol_3_behind_allow_eio3() {
    let engineio = EngineIoOptions::default()
        .heartbeat(Duration::from_millis(200), Duration::from_millis(200));
    let server = TestServer::start(eio_options().allow_eio3(true).engineio(engineio)).await;
    let seen = echo_recording(&server.primus);
    let (status, _, body) = get(server.addr, "EIO=3&transport=polling&b64=1").await;
    assert_eq!(status, 200);
    let (len, open) = body.split_once(':').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), open.len());
    let json: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = json["sid"].as_str().unwrap().to_string();
    let q3 = format!("EIO=3&transport=polling&sid={sid}");
    // The client pings in protocol 3; messages are length-prefixed (UTF-16 units).
    let (status, _, _) = post(server.addr, &q3, "1:25:4\"😀\"".as_bytes()).await;
    assert_eq!(status, 200);
    let (_, _, body) = get(server.addr, &q3).await;
    assert_eq!(body, "1:35:4\"😀\"");
    assert_eq!(seen.lock().unwrap().data, vec![Value::from("😀")]);
    // Without pings the session ends after pingInterval + pingTimeout.
    wait_until(
        Duration::from_secs(2),
        "the protocol 3 session to time out",
        || server.primus.engineio_sessions() == Some(0),
    )
    .await;
}

#[tokio::test]
async fn polling_payloads_stay_near_max_length() {
    let server = TestServer::start(eio_options().max_length(1000)).await;
    let (sid, _) = handshake(server.addr).await;
    let spark = server.primus.spark(&sid).unwrap();
    let big = "z".repeat(398);
    for _ in 0..10 {
        spark.write(&big).unwrap();
    }
    // 400-byte frames: a payload stops once it holds 1000 bytes or more.
    let mut counts = Vec::new();
    while counts.iter().sum::<usize>() < 10 {
        let (status, _, body) = get(server.addr, &q(&sid)).await;
        assert_eq!(status, 200);
        counts.push(body.split('\x1e').count());
        assert!(counts.len() <= 10);
    }
    assert_eq!(counts, vec![3, 3, 3, 1]);
}
