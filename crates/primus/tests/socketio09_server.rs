//! The `socket.io` transformer's Socket.IO 0.9 half at the byte level: the handshake under
//! `<pathname>/1/`, xhr-polling and jsonp-polling with `\u{fffd}`-framed payloads, the
//! WebSocket transport, 0.9 heartbeats and close timeout with short timers, `0::` both
//! ways, unknown sessions, oversized and bad input, authorization, and that everything else
//! still goes to the Engine.IO layer.
#![cfg(feature = "socketio")] // needs the `socket.io` transformer

mod server_support;

use primus::middleware::AuthError;
use primus::transformers::socketio::legacy::SocketIo09Options;
use primus::{Options, Value};
use server_support::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const M: char = '\u{fffd}';

fn sio() -> Options {
    quiet().transformer("socket.io")
}

/// Short 0.9 timers: polls end after 300 ms, sessions without a poll after 1 s, heartbeats
/// every 150 ms with 600 ms to answer.
fn fast() -> Options {
    let ms = Duration::from_millis;
    sio().socketio09(
        SocketIo09Options::default()
            .polling_duration(ms(300))
            .close_timeout(ms(1000))
            .heartbeat(ms(150), ms(600)),
    )
}

/// The handshake (with `query`): the session id, after checking the answer's shape.
async fn handshake(addr: SocketAddr, query: &str) -> String {
    let res = http_get(addr, &format!("/primus/1/?t=1{query}"), "").await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; charset=UTF-8")
    );
    let body = res.text();
    let fields: Vec<&str> = body.split(':').collect();
    assert_eq!(fields.len(), 4, "{body}");
    assert_eq!(fields[3], "websocket,xhr-polling,jsonp-polling");
    assert_eq!(fields[0].len(), 21, "{body}");
    fields[0].to_string()
}

async fn poll(addr: SocketAddr, sid: &str) -> (u16, String) {
    let res = http_get(addr, &format!("/primus/1/xhr-polling/{sid}?t=2"), "").await;
    (res.status, res.text())
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> (u16, String) {
    let res = http_post(addr, path, "text/plain;charset=UTF-8", body).await;
    (res.status, res.text())
}

async fn post_xhr(addr: SocketAddr, sid: &str, body: &str) -> (u16, String) {
    post(addr, &format!("/primus/1/xhr-polling/{sid}?t=3"), body).await
}

/// A poll left waiting in the background.
fn poll_later(addr: SocketAddr, sid: &str) -> tokio::task::JoinHandle<(u16, String)> {
    let sid = sid.to_string();
    tokio::spawn(async move { poll(addr, &sid).await })
}

/// Handshake and the first poll, which carries the connect packet.
async fn connected(addr: SocketAddr) -> String {
    let sid = handshake(addr, "").await;
    assert_eq!(poll(addr, &sid).await, (200, "1::".to_string()));
    sid
}

#[tokio::test]
async fn polling_carries_messages_both_ways_in_framed_payloads() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let mut sparks = sparks(&server.primus);
    let a = server.addr;
    let sid = handshake(a, "&room=blue").await;
    // The spark exists from the handshake and keeps its query; its id is not the sid.
    assert_eq!(server.primus.socketio09_sessions(), 1);
    let spark = next_spark(&mut sparks).await;
    assert_eq!(spark.query()["room"].as_str(), "blue");
    assert_ne!(spark.id(), sid);
    assert_eq!(poll(a, &sid).await, (200, "1::".to_string()));

    // Two messages in one framed payload: `3:::"hi"` is 8 UTF-16 units; `4:::{"a":"é😀"}`
    // is 15 (the emoji counts two) and 18 bytes.
    let body = format!("{M}8{M}3:::\"hi\"{M}15{M}4:::{{\"a\":\"é😀\"}}");
    assert_eq!(post_xhr(a, &sid, &body).await, (200, "1".to_string()));
    assert_eq!(
        poll(a, &sid).await,
        (
            200,
            format!("{M}8{M}3:::\"hi\"{M}15{M}3:::{{\"a\":\"é😀\"}}")
        )
    );
    // A lone packet goes unframed; acks asked for are sent (after the delivery).
    assert_eq!(post_xhr(a, &sid, "3:5::\"x\"").await.0, 200);
    assert_eq!(
        poll(a, &sid).await.1,
        format!("{M}5{M}6:::5{M}7{M}3:::\"x\"")
    );
    let event = r#"5:7+::{"name":"message","args":["\"e\""]}"#;
    assert_eq!(post_xhr(a, &sid, event).await.0, 200);
    assert_eq!(
        poll(a, &sid).await.1,
        format!("{M}8{M}6:::7+[]{M}7{M}3:::\"e\"")
    );
    // Another endpoint is refused in a way socket.io-client understands.
    assert_eq!(post_xhr(a, &sid, "1::/chat").await.0, 200);
    assert_eq!(poll(a, &sid).await.1, "7::/chat:2");
    assert_eq!(
        seen.lock().unwrap().data,
        [
            Value::from("hi"),
            serde_json::from_str::<Value>(r#"{"a":"é😀"}"#).unwrap(),
            Value::from("x"),
            Value::from("e"),
        ]
    );
}

#[tokio::test]
async fn frames_written_before_the_first_poll_follow_the_connect_packet() {
    let server = TestServer::start(sio()).await;
    server.primus.on_connection(|spark| {
        let _ = spark.write(&"welcome");
    });
    let a = server.addr;
    let sid = handshake(a, "").await;
    assert_eq!(
        poll(a, &sid).await.1,
        format!("{M}3{M}1::{M}13{M}3:::\"welcome\"")
    );
}

#[tokio::test]
async fn an_idle_poll_gets_a_noop_and_a_session_without_polls_is_reaped() {
    let server = TestServer::start(fast()).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let sid = connected(a).await;
    let start = Instant::now();
    assert_eq!(poll(a, &sid).await, (200, "8::".to_string()));
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    // No poll for the close timeout (1 s): the session ends.
    wait_until(Duration::from_secs(4), "the session to be reaped", || {
        server.primus.socketio09_sessions() == 0
    })
    .await;
    assert_eq!(seen.lock().unwrap().ends, 1);
    assert!(
        seen.lock().unwrap().errors[0].contains("close timeout"),
        "{:?}",
        seen.lock().unwrap().errors
    );
    // Its id is unknown now: socket.io 0.9's answer, so that clients handshake again.
    assert_eq!(poll(a, &sid).await, (200, "7:::1+0".to_string()));
    assert_eq!(post_xhr(a, &sid, "3:::\"x\"").await.0, 404);

    // A handshake no transport ever joins is reaped too.
    handshake(a, "").await;
    assert_eq!(server.primus.socketio09_sessions(), 1);
    wait_until(
        Duration::from_secs(4),
        "the unused session to be reaped",
        || server.primus.socketio09_sessions() == 0,
    )
    .await;
    wait_until(WAIT, "its spark to end", || seen.lock().unwrap().ends == 2).await;
}

#[tokio::test]
async fn a_second_poll_releases_the_first() {
    let server = TestServer::start(sio()).await;
    let mut sparks = sparks(&server.primus);
    let a = server.addr;
    let sid = connected(a).await;
    let first = poll_later(a, &sid);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!first.is_finished());
    let second = poll_later(a, &sid);
    assert_eq!(within("the first poll", first).await.unwrap().1, "8::");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!second.is_finished(), "the newer poll waits");
    let spark = next_spark(&mut sparks).await;
    spark.write(&"news").unwrap();
    assert_eq!(
        within("the second poll", second).await.unwrap().1,
        "3:::\"news\""
    );
}

#[tokio::test]
async fn disconnect_both_ways_over_polling() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let mut sparks = sparks(&server.primus);
    let a = server.addr;

    // The server ends the spark: the last frames, then `0::`.
    let sid = connected(a).await;
    next_spark(&mut sparks).await.end(Some(&"bye"), false);
    assert_eq!(
        poll(a, &sid).await.1,
        format!("{M}9{M}3:::\"bye\"{M}27{M}3:::\"primus::server::close\"{M}3{M}0::")
    );
    wait_until(WAIT, "the session to go", || {
        server.primus.socketio09_sessions() == 0
    })
    .await;

    // The client sends `0::`: its waiting poll gets `0::` too.
    let sid = connected(a).await;
    let waiting = poll_later(a, &sid);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(post_xhr(a, &sid, "0::").await.0, 200);
    assert_eq!(within("the poll", waiting).await.unwrap().1, "0::");
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 2).await;

    // socket.io-client's synchronous disconnect: `GET /1//<sid>/?disconnect=1`.
    let sid = connected(a).await;
    let res = http_get(a, &format!("/primus/1//{sid}/?disconnect=1"), "").await;
    assert_eq!(res.status, 200);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 3).await;
    assert_eq!(server.primus.socketio09_sessions(), 0);
    assert!(seen.lock().unwrap().errors.is_empty());
}

/// A handshake and its WebSocket transport, past the connect packet.
async fn ws_session(addr: SocketAddr) -> (String, RawWs) {
    let sid = handshake(addr, "").await;
    let mut ws = RawWs::connect(addr, &format!("/primus/1/websocket/{sid}"), "").await;
    assert_eq!(next_text(&mut ws, true).await, "1::");
    (sid, ws)
}

/// The next text frame that is not a 0.9 heartbeat (answered when `answer`) or a Primus
/// ping.
async fn next_text(ws: &mut RawWs, answer: bool) -> String {
    loop {
        let f = ws.read_frame().await;
        assert_eq!(f.opcode(), 0x1, "{f:?}");
        let text = f.text();
        if text.starts_with("3:::\"primus::ping::") {
            continue;
        }
        if text == "2::" {
            if answer {
                ws.send_text("2::").await;
            }
            continue;
        }
        return text;
    }
}

#[tokio::test]
async fn websocket_messages_heartbeats_and_client_disconnect() {
    let server = TestServer::start(fast().ping_interval(Some(Duration::from_millis(300)))).await;
    let seen = echo_recording(&server.primus);
    let mut sparks = sparks(&server.primus);
    let a = server.addr;
    let (_, mut ws) = ws_session(a).await;
    ws.send_text("3:::\"hi\"").await;
    assert_eq!(next_text(&mut ws, true).await, "3:::\"hi\"");
    ws.send_text(r#"5:3+::{"name":"message","args":[{"n":1}]}"#)
        .await;
    // The ack comes first on WebSocket (sent as the message is read), then the echo.
    assert_eq!(next_text(&mut ws, true).await, "6:::3+[]");
    assert_eq!(next_text(&mut ws, true).await, "3:::{\"n\":1}");

    // Heartbeats every 150 ms; answered, the connection lives on past the 600 ms timeout.
    // The answers count as life for Primus's heartbeat too (every 300 ms here; this
    // client never answers `primus::ping`, which would drop it within 600 ms otherwise).
    let start = Instant::now();
    let mut beats = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        let text = ws.read_frame().await.text();
        if text.starts_with("3:::\"primus::ping::") {
            continue;
        }
        assert_eq!(text, "2::");
        beats += 1;
        ws.send_text("2::").await;
    }
    assert!((5..=15).contains(&beats), "{beats} heartbeats in 1.5 s");
    let spark = next_spark(&mut sparks).await;
    assert!(spark.is_open());

    ws.send_text("0::").await;
    let frames = ws.read_to_eof().await;
    // The server says goodbye too, then closes.
    let n = frames.len();
    assert!(n >= 2, "{frames:?}");
    assert_eq!(frames[n - 2].text(), "0::");
    assert_eq!(frames[n - 1].opcode(), 0x8);
    wait_until(WAIT, "the session to go", || {
        server.primus.socketio09_sessions() == 0
    })
    .await;
    assert_eq!(seen.lock().unwrap().ends, 1);
    assert!(seen.lock().unwrap().errors.is_empty());
}

#[tokio::test]
async fn websocket_client_that_keeps_sending_still_gets_heartbeats() {
    // socket.io-client 0.9 counts only what it receives as life: a client that sends often
    // but is sent nothing else must still get `2::` every interval, or it closes itself
    // after its heartbeat timeout.
    let server = TestServer::start(fast()).await;
    let (_, mut ws) = ws_session(server.addr).await;
    for _ in 0..10 {
        ws.send_text("3:::\"x\"").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ws.send_text("0::").await;
    let frames = within("the close", ws.read_to_eof()).await;
    let texts: Vec<String> = frames
        .iter()
        .filter(|f| f.opcode() == 0x1)
        .map(|f| f.text())
        .collect();
    // Every 150 ms, each answered (by the next message) within 100 ms: about 5 in 1 s.
    let beats = texts.iter().filter(|t| *t == "2::").count();
    assert!(beats >= 3, "{beats} heartbeats in 1 s: {texts:?}");
}

#[tokio::test]
async fn websocket_client_that_does_not_answer_heartbeats_is_dropped() {
    let server = TestServer::start(fast()).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let sid = handshake(a, "").await;
    let mut ws = RawWs::connect(a, &format!("/primus/1/websocket/{sid}"), "").await;
    assert_eq!(next_text(&mut ws, false).await, "1::");
    let start = Instant::now();
    let frames = within_for(Duration::from_secs(4), "the drop", ws.read_to_eof()).await;
    // One heartbeat at 150 ms, unanswered for 600 ms.
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(600) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert_eq!(frames[0].text(), "2::");
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    assert!(seen.lock().unwrap().errors[0].contains("heartbeat"));
    assert_eq!(server.primus.socketio09_sessions(), 0);
}

#[tokio::test]
async fn websocket_server_end_sends_disconnect_before_the_close() {
    let server = TestServer::start(sio()).await;
    let mut sparks = sparks(&server.primus);
    let a = server.addr;
    let (_, mut ws) = ws_session(a).await;
    next_spark(&mut sparks).await.end(Some(&"bye"), false);
    let frames = ws.read_to_eof().await;
    let texts: Vec<String> = frames
        .iter()
        .filter(|f| f.opcode() == 0x1)
        .map(|f| f.text())
        .collect();
    assert_eq!(
        texts,
        ["3:::\"bye\"", "3:::\"primus::server::close\"", "0::"]
    );
    assert_eq!(frames.last().map(|f| f.opcode()), Some(0x8));
}

#[tokio::test]
async fn unknown_sessions_get_the_not_handshaken_error() {
    let server = TestServer::start(sio()).await;
    let a = server.addr;
    assert_eq!(poll(a, "nope").await, (200, "7:::1+0".to_string()));
    assert_eq!(post_xhr(a, "nope", "3:::\"x\"").await.0, 404);
    let res = http_get(a, "/primus/1/jsonp-polling/nope?i=4", "").await;
    assert_eq!(res.text(), "io.j[4](\"7:::1+0\");");
    let mut ws = RawWs::connect(a, "/primus/1/websocket/nope", "").await;
    let frames = ws.read_to_eof().await;
    assert_eq!(frames[0].text(), "7:::1+0");
    assert_eq!(frames.last().map(|f| f.opcode()), Some(0x8));
    // Transports that are not served.
    let res = http_get(a, "/primus/1/htmlfile/nope", "").await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("websocket, xhr-polling, jsonp-polling"));
    assert_eq!(http_get(a, "/primus/1/xhr-polling", "").await.status, 404);
}

#[tokio::test]
async fn a_session_keeps_its_first_transport() {
    let server = TestServer::start(sio()).await;
    let a = server.addr;
    let sid = connected(a).await;
    let res = RawWs::try_connect(a, &format!("/primus/1/websocket/{sid}"), "").await;
    assert_eq!(res.err().map(|r| r.status), Some(400));
    // Still polling.
    assert_eq!(post_xhr(a, &sid, "3:::\"x\"").await.0, 200);

    let (sid, _ws) = ws_session(a).await;
    assert_eq!(poll(a, &sid).await.0, 400);
    assert_eq!(post_xhr(a, &sid, "3:::\"x\"").await.0, 400);
}

#[tokio::test]
async fn oversized_frames_and_bodies_end_the_session() {
    let server = TestServer::start(sio().max_length(100)).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    // A frame of 101 bytes: 413.
    let sid = connected(a).await;
    let big = format!("3:::\"{}\"", "x".repeat(99));
    assert_eq!(post_xhr(a, &sid, &big).await.0, 413);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    assert!(seen.lock().unwrap().max_length);
    // A frame of exactly max_length is fine.
    let sid = connected(a).await;
    let fits = format!("3:::\"{}\"", "x".repeat(98));
    assert_eq!(post_xhr(a, &sid, &fits).await.0, 200);
    // A body over 2 × max_length + 1 KiB, whatever it holds: 413.
    let huge = "2::".repeat(500);
    assert_eq!(post_xhr(a, &sid, &huge).await.0, 413);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 2).await;

    // On WebSocket: close code 1009.
    let (_, mut ws) = ws_session(a).await;
    ws.send_text(&big).await;
    let frames = ws.read_to_eof().await;
    let close = frames.last().unwrap();
    assert_eq!(close.opcode(), 0x8);
    assert_eq!(close.payload[..2], 1009u16.to_be_bytes());
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 3).await;
    assert_eq!(seen.lock().unwrap().data.len(), 1);
}

#[tokio::test]
async fn bad_packets_end_the_session() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let sid = connected(a).await;
    let (status, body) = post_xhr(a, &sid, "hello").await;
    assert_eq!(status, 400);
    assert!(body.contains("Socket.IO 0.9"), "{body}");
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 1).await;
    // A payload whose length runs past its end: nothing of it is delivered.
    let sid = connected(a).await;
    let (status, _) = post_xhr(a, &sid, &format!("{M}7{M}3:::\"a\"{M}9{M}3:::\"b\"")).await;
    assert_eq!(status, 400);
    wait_until(WAIT, "the spark to end", || seen.lock().unwrap().ends == 2).await;
    assert!(seen.lock().unwrap().data.is_empty());

    // On WebSocket: 1002 for a bad packet, 1003 for binary.
    for (opcode, payload, code) in [(0x1, &b"9::"[..], 1002u16), (0x2, &[1u8, 2][..], 1003)] {
        let (_, mut ws) = ws_session(a).await;
        ws.send_frame(opcode, payload).await;
        let frames = ws.read_to_eof().await;
        let close = frames.last().unwrap();
        assert_eq!(close.payload[..2], code.to_be_bytes());
    }
}

#[tokio::test]
async fn jsonp_polling() {
    let server = TestServer::start(sio()).await;
    let seen = echo_recording(&server.primus);
    let a = server.addr;
    let res = http_get(a, "/primus/1/?t=1&jsonp=2", "").await;
    assert_eq!(res.header("content-type"), Some("application/javascript"));
    let body = res.text();
    let hs = body
        .strip_prefix("io.j[2](\"")
        .and_then(|b| b.strip_suffix("\");"))
        .unwrap_or_else(|| panic!("{body}"));
    let sid = hs.split(':').next().unwrap().to_string();
    let path = format!("/primus/1/jsonp-polling/{sid}?t=2&i=1");
    let res = http_get(a, &path, "").await;
    assert_eq!(
        res.header("content-type"),
        Some("text/javascript; charset=UTF-8")
    );
    assert_eq!(res.text(), "io.j[1](\"1::\");");
    // The POST body is the form field `d`, a JSON string; U+2028 is escaped in the answer.
    let form = "application/x-www-form-urlencoded";
    let d = "d=%223%3A%3A%3A%5C%22a%E2%80%A8%5C%22%22"; // "3:::\"a\u2028\""
    assert_eq!(http_post(a, &path, form, d).await.status, 200);
    assert_eq!(
        http_get(a, &path, "").await.text(),
        // The JSON parser escapes U+2028 in the echo itself (as Primus does).
        "io.j[1](\"3:::\\\"a\\\\u2028\\\"\");"
    );
    assert_eq!(seen.lock().unwrap().data, [Value::from("a\u{2028}")]);
    assert_eq!(http_post(a, &path, form, "d=3:::x").await.status, 400);
}

#[tokio::test]
async fn authorization_guards_the_handshake_and_every_request() {
    let primus = primus::Primus::new(sio()).unwrap();
    primus.authorize(|req| {
        let ok = req.uri.query().unwrap_or("").contains("token=good");
        async move {
            match ok {
                true => Ok(()),
                false => Err(AuthError::new("no entry")),
            }
        }
    });
    let server = TestServer::serve(primus).await;
    let a = server.addr;
    let res = http_get(a, "/primus/1/?t=1", "").await;
    assert_eq!(res.status, 401, "{}", res.text());
    assert!(res.text().contains("no entry"), "{}", res.text());
    assert_eq!(server.primus.socketio09_sessions(), 0);
    let sid = handshake(a, "&token=good").await;
    // socket.io-client 0.9 repeats its query on every transport request.
    let res = http_get(a, &format!("/primus/1/xhr-polling/{sid}?t=2"), "").await;
    assert_eq!(res.status, 401);
    let res = http_get(
        a,
        &format!("/primus/1/xhr-polling/{sid}?t=2&token=good"),
        "",
    )
    .await;
    assert_eq!((res.status, res.text()), (200, "1::".to_string()));
    let res = RawWs::try_connect(a, &format!("/primus/1/websocket/{sid}"), "").await;
    assert_eq!(res.err().map(|r| r.status), Some(401));
}

#[tokio::test]
async fn routing_binary_parsers_and_protocol_5_alongside() {
    let server = TestServer::start(sio().parser("binary")).await;
    let a = server.addr;
    // 0.9 cannot carry binary frames: its handshake is refused, saying why.
    let res = http_get(a, "/primus/1/?t=1", "").await;
    assert_eq!(res.status, 500);
    assert!(res.text().contains("socket.io-client 4"), "{}", res.text());
    // Protocol 5 on Engine.IO is unaffected, also under the pathname without `/1`.
    let res = http_get(a, "/primus/?EIO=4&transport=polling", "").await;
    assert_eq!(res.status, 200);
    assert!(res.text().starts_with("0{\"sid\""), "{}", res.text());
    assert_eq!(server.primus.engineio_sessions(), Some(1));

    let server = TestServer::start(sio().pathname("/rt")).await;
    // `/rt/1` without a trailing slash is the handshake too; `/rt/12/` is not 0.9's.
    let res = http_get(server.addr, "/rt/1?t=1", "").await;
    assert_eq!(res.status, 200);
    assert_eq!(server.primus.socketio09_sessions(), 1);
    let res = http_get(server.addr, "/rt/12/?EIO=4&transport=polling", "").await;
    assert_eq!(res.status, 200, "Engine.IO ignores the sub-path");
    assert_eq!(server.primus.engineio_sessions(), Some(1));
    // Only GET handshakes.
    let (status, _) = post(server.addr, "/rt/1/", "x").await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn bad_timers_are_refused_at_start() {
    let ms = Duration::from_millis;
    let err = primus::Primus::new(
        sio().socketio09(SocketIo09Options::default().polling_duration(ms(90_000))),
    )
    .unwrap_err();
    assert!(err.to_string().contains("pollingDuration"), "{err}");
}
