//! The `sse` transformer's server half with a raw HTTP client: the stream's headers and
//! `open` event, messages both ways (text, multi-line, `\r`, binary parsers), the POST
//! and DELETE answers (204, 400, 404, 405, 413), keep-alive comments, the `close` event
//! on the server's end, and the spark ending when the client drops the stream.
#![cfg(feature = "sse")] // needs the `sse` transformer

mod server_support;

use primus::transformers::sse::SseOptions;
use primus::Options;
use primus_core::sse::{EventParser, ServerEvent};
use primus_core::Frame;
use serde_json::json;
use server_support::*;
use std::net::SocketAddr;
use std::time::Duration;

fn sse() -> Options {
    quiet()
        .transformer("sse")
        .sse(SseOptions::default().disconnect_delay(Duration::from_millis(200)))
}

/// An echo server with control commands: `end`, `info`, `raw` (a text frame written as
/// is, bypassing the parser).
async fn start_with(options: Options) -> TestServer {
    let primus = primus::Primus::new(options).expect("valid options");
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let v = msg.value();
            if contract_command(spark, v) {
                return;
            }
            match v.get("cmd").and_then(|c| c.as_str()) {
                Some("raw") => {
                    let text = v.get("text").and_then(|t| t.as_str()).unwrap_or("");
                    let _ = spark.write_frame(Frame::text(text));
                }
                _ => {
                    let _ = spark.write(v);
                }
            }
        });
    });
    TestServer::serve(primus).await
}

async fn start() -> TestServer {
    start_with(sse()).await
}

/// An open event stream read over raw TCP.
struct Stream {
    body: RawStream,
    parser: EventParser,
    session: String,
}

impl Stream {
    async fn open(addr: SocketAddr, path: &str, accept: &str) -> Stream {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n");
        Stream {
            body: RawStream::open(addr, &req).await,
            parser: EventParser::new(1 << 20),
            session: String::new(),
        }
    }

    /// Open a stream and read its `open` event.
    async fn connect(addr: SocketAddr) -> Stream {
        let mut s = Stream::open(
            addr,
            "/primus/sse?room=lobby&_primuscb=x",
            "text/event-stream",
        )
        .await;
        assert_eq!(s.body.status, 200, "{}", s.body.head);
        match s.event().await {
            Some(ServerEvent::Open(id)) => s.session = id,
            other => panic!("expected open, got {other:?}"),
        }
        s
    }

    /// The next event; `None` once the body ended.
    async fn event(&mut self) -> Option<ServerEvent> {
        within("an event", async {
            loop {
                if let Some(e) = self.parser.next_event().unwrap() {
                    if let Some(e) = primus_core::sse::decode_event(&e).unwrap() {
                        return Some(e);
                    }
                    continue;
                }
                self.parser.push(&self.body.more().await?);
            }
        })
        .await
    }

    /// The next frame's text.
    async fn text(&mut self) -> String {
        match self.event().await {
            Some(ServerEvent::Frame(Frame::Text(t))) => String::from_utf8(t.to_vec()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Wait until the raw body contains `needle`.
    async fn raw_contains(&mut self, needle: &[u8]) {
        self.body.raw_contains(needle).await
    }

    async fn post(&self, addr: SocketAddr, body: &str) -> HttpResponse {
        post(addr, &format!("/primus/sse/{}", self.session), body).await
    }
}

async fn post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    http_raw(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

async fn delete(addr: SocketAddr, path: &str) -> HttpResponse {
    http_raw(
        addr,
        &format!("DELETE {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// A JSON-parser frame as a POST line.
fn line(v: &serde_json::Value) -> String {
    format!("{}\n", serde_json::to_string(&v.to_string()).unwrap())
}

#[tokio::test]
async fn the_stream_opens_with_headers_retry_and_a_session_id_that_is_not_the_spark_id() {
    let server = start().await;
    let mut s = Stream::connect(server.addr).await;
    assert_eq!(s.body.header("content-type"), Some("text/event-stream"));
    assert!(s.body.header("cache-control").unwrap().contains("no-cache"));
    assert_eq!(s.body.header("x-accel-buffering"), Some("no"));
    assert!(
        s.body.head.contains("transfer-encoding: chunked"),
        "{}",
        s.body.head
    );
    let start = format!("retry: 2147483647\nevent: open\ndata: {}\n\n", s.session);
    assert!(
        s.body.raw.starts_with(start.as_bytes()),
        "{:?}",
        String::from_utf8_lossy(&s.body.raw)
    );
    assert_eq!(s.session.len(), 22);
    assert_eq!(
        s.post(server.addr, &line(&json!({"cmd": "info"})))
            .await
            .status,
        204
    );
    let info: serde_json::Value = serde_json::from_str(&s.text().await).unwrap();
    assert_ne!(info["id"], json!(s.session));
    assert_eq!(info["query"]["room"], "lobby");
    assert_eq!(server.primus.connected(), 1);
    assert_eq!(server.primus.sse_sessions(), 1);
}

#[tokio::test]
async fn messages_go_both_ways_in_order() {
    let server = start().await;
    let mut s = Stream::connect(server.addr).await;
    let res = s.post(server.addr, &line(&json!("hello"))).await;
    assert_eq!(res.status, 204);
    assert_eq!(s.text().await, "\"hello\"");
    s.raw_contains(b"data: \"hello\"\n\n").await;
    // Several frames in one body, the last line without its `\n`, a `\r\n` line, an
    // empty line: all delivered, in order.
    let mut body = String::new();
    for i in 0..20 {
        body.push_str(&line(&json!(i)));
    }
    body.push_str("\r\n\n");
    body.push_str(&line(&json!({"a": "ünï\u{2028}😀"})).replace('\n', "\r\n"));
    body.push_str(line(&json!("last")).trim_end());
    assert_eq!(s.post(server.addr, &body).await.status, 204);
    for i in 0..20 {
        assert_eq!(s.text().await, i.to_string());
    }
    let v: serde_json::Value = serde_json::from_str(&s.text().await).unwrap();
    assert_eq!(v, json!({"a": "ünï\u{2028}😀"}));
    assert_eq!(s.text().await, "\"last\"");
}

#[tokio::test]
async fn multi_line_and_carriage_return_payloads_round_trip() {
    let server = start().await;
    let mut s = Stream::connect(server.addr).await;
    let text = "line1\nline2\n\n line4\n";
    let cmd = json!({"cmd": "raw", "text": text});
    assert_eq!(s.post(server.addr, &line(&cmd)).await.status, 204);
    assert_eq!(s.text().await, text);
    s.raw_contains(b"data: line1\ndata: line2\ndata: \ndata:  line4\ndata: \n\n")
        .await;
    let cr = "a\rb\r\nc";
    let cmd = json!({"cmd": "raw", "text": cr});
    assert_eq!(s.post(server.addr, &line(&cmd)).await.status, 204);
    assert_eq!(s.text().await, cr);
    s.raw_contains(b"event: quoted\ndata: \"a\\rb\\r\\nc\"\n\n")
        .await;
}

#[tokio::test]
async fn binary_parsers_ride_as_base64() {
    let server = start_with(sse().parser("msgpack")).await;
    let mut s = Stream::connect(server.addr).await;
    // msgpack "hello": a5 68 65 6c 6c 6f.
    assert_eq!(s.post(server.addr, "bpWhlbGxv\n").await.status, 204);
    match s.event().await {
        Some(ServerEvent::Frame(Frame::Binary(b))) => assert_eq!(&b[..], b"\xa5hello"),
        other => panic!("expected binary, got {other:?}"),
    }
    s.raw_contains(b"event: binary\ndata: pWhlbGxv\n\n").await;
}

#[tokio::test]
async fn bad_requests_get_clear_answers() {
    let server = start().await;
    let addr = server.addr;
    // Not asking for an event stream.
    let res = http_get(addr, "/primus/sse", "").await;
    assert_eq!(res.status, 400);
    assert!(
        res.text().contains("Accept: text/event-stream"),
        "{}",
        res.text()
    );
    // Other paths under the pathname.
    for path in [
        "/primus",
        "/primus/",
        "/primus/engine.io/",
        "/primus/sse/a/b",
        "/primusfoo",
    ] {
        let res = http_get(addr, path, "Accept: text/event-stream\r\n").await;
        assert_eq!(res.status, 404, "{path}");
        assert!(res.text().contains("/primus/sse"), "{path}: {}", res.text());
    }
    // Wrong methods.
    assert_eq!(post(addr, "/primus/sse", "").await.status, 405);
    let res = http_get(addr, "/primus/sse/abc", "").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("POST, DELETE"));
    // Unknown sessions.
    let res = post(addr, "/primus/sse/nosuchsession", &line(&json!(1))).await;
    assert_eq!(res.status, 404);
    assert_eq!(delete(addr, "/primus/sse/nosuchsession").await.status, 404);
    // Malformed lines: 400, the session lives on.
    let mut s = Stream::connect(addr).await;
    let res = s
        .post(
            addr,
            &format!("{}{{\"not\":\"a string\"}}\n", line(&json!("before"))),
        )
        .await;
    assert_eq!(res.status, 400);
    assert!(res.text().contains("JSON string"), "{}", res.text());
    assert_eq!(s.text().await, "\"before\"");
    assert_eq!(s.post(addr, "b!!!\n").await.status, 400);
    assert_eq!(s.post(addr, &line(&json!("still open"))).await.status, 204);
    assert_eq!(s.text().await, "\"still open\"");
    // A WebSocket client is told to use the stream.
    let res = http_get(
        addr,
        "/primus/sse",
        "Accept: text/event-stream\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
    )
    .await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn a_frame_over_max_length_is_413_and_ends_the_spark() {
    let server = start_with(sse().max_length(16)).await;
    let mut s = Stream::connect(server.addr).await;
    assert_eq!(
        s.post(server.addr, &line(&json!("short"))).await.status,
        204
    );
    assert_eq!(s.text().await, "\"short\"");
    let res = s.post(server.addr, &line(&json!("x".repeat(20)))).await;
    assert_eq!(res.status, 413);
    assert!(
        res.text().contains("max_length (16 bytes)"),
        "{}",
        res.text()
    );
    assert_eq!(
        s.event().await,
        Some(ServerEvent::Close("reconnect".into()))
    );
    assert_eq!(s.event().await, None);
    wait_until(WAIT, "the spark to end", || server.primus.connected() == 0).await;
    // A line far over the limit is refused without being buffered whole.
    let s = Stream::connect(server.addr).await;
    let res = s
        .post(server.addr, &format!("\"{}", "y".repeat(5000)))
        .await;
    assert_eq!(res.status, 413);
    assert_eq!(
        post(server.addr, &format!("/primus/sse/{}", s.session), "\"1\"")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn the_servers_end_sends_what_is_queued_then_close() {
    let server = start().await;
    let mut s = Stream::connect(server.addr).await;
    let res = s
        .post(server.addr, &line(&json!({"cmd": "end", "data": "bye"})))
        .await;
    assert_eq!(res.status, 204);
    assert_eq!(s.text().await, "\"bye\"");
    assert_eq!(s.text().await, "\"primus::server::close\"");
    assert_eq!(s.event().await, Some(ServerEvent::Close("end".into())));
    assert_eq!(s.event().await, None);
    assert!(s.body.ended, "the chunked body ended");
    assert!(s.body.raw.ends_with(b"event: close\ndata: end\n\n"));
    // Gone for POSTs.
    let res = s.post(server.addr, &line(&json!(1))).await;
    assert_eq!(res.status, 404);
    // With reconnect: no server::close, `close` says reconnect.
    let mut s = Stream::connect(server.addr).await;
    let cmd = json!({"cmd": "end", "reconnect": true});
    assert_eq!(s.post(server.addr, &line(&cmd)).await.status, 204);
    assert_eq!(
        s.event().await,
        Some(ServerEvent::Close("reconnect".into()))
    );
    assert_eq!(s.event().await, None);
    wait_until(WAIT, "sessions to be forgotten", || {
        server.primus.sse_sessions() == 0
    })
    .await;
}

#[tokio::test]
async fn delete_is_the_clients_end() {
    let server = start().await;
    let mut ends = sparks(&server.primus);
    let mut s = Stream::connect(server.addr).await;
    let spark = next_spark(&mut ends).await;
    let res = delete(server.addr, &format!("/primus/sse/{}", s.session)).await;
    assert_eq!(res.status, 204);
    assert_eq!(
        s.event().await,
        Some(ServerEvent::Close("reconnect".into()))
    );
    assert_eq!(s.event().await, None);
    assert!(!spark.is_open());
    assert_eq!(
        delete(server.addr, &format!("/primus/sse/{}", s.session))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn a_dropped_stream_ends_the_spark_after_the_disconnect_delay() {
    let server = start().await;
    let s = Stream::connect(server.addr).await;
    let path = format!("/primus/sse/{}", s.session);
    assert_eq!(server.primus.connected(), 1);
    drop(s);
    // Within the grace, POSTs still land.
    let res = post(server.addr, &path, &line(&json!("late"))).await;
    assert_eq!(res.status, 204);
    wait_until(Duration::from_secs(3), "the spark to end", || {
        server.primus.connected() == 0 && server.primus.sse_sessions() == 0
    })
    .await;
    assert_eq!(post(server.addr, &path, &line(&json!(1))).await.status, 404);
}

#[tokio::test]
async fn silence_is_broken_by_keepalive_comments_and_heartbeats_flow_as_messages() {
    let options = sse()
        .sse(SseOptions::default().keepalive(Duration::from_millis(100)))
        .ping_interval(Some(Duration::from_millis(300)));
    let server = start_with(options).await;
    let mut s = Stream::connect(server.addr).await;
    s.raw_contains(b"\n:\n").await;
    let ping = s.text().await;
    assert!(ping.starts_with("\"primus::ping::"), "{ping}");
    let pong = ping.replace("ping", "pong");
    assert_eq!(
        s.post(server.addr, &line(&serde_json::from_str(&pong).unwrap()))
            .await
            .status,
        204
    );
    // Answering keeps the spark; a second ping comes.
    let ping = s.text().await;
    assert!(ping.starts_with("\"primus::ping::"), "{ping}");
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_dropped() {
    let options = sse()
        .write_timeout(Duration::from_millis(300))
        .queue_size(100_000);
    let server = start_with(options).await;
    let mut sparks = sparks(&server.primus);
    let s = Stream::connect(server.addr).await;
    let spark = next_spark(&mut sparks).await;
    // Write far more than the socket buffers hold, and never read.
    let big = "z".repeat(64 * 1024);
    for _ in 0..2000 {
        if spark.write(&big).is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    wait_until(
        Duration::from_secs(5),
        "the slow reader to be dropped",
        || !spark.is_open(),
    )
    .await;
    drop(s);
}
