//! Bad input (issue 2, "Bad input"): undecodable and oversize messages, binary frames with
//! the JSON parser, upgrades outside the pathname, broken handshakes, and the plain HTTP
//! answers under the pathname (426, `/spec`).

mod server_support;

use futures_util::StreamExt;
use primus::{SparkError, Value};
use server_support::*;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What the server side saw, in order.
#[derive(Debug)]
enum Seen {
    Data(Value),
    Error(
        String,
        bool, /* is Parser */
        bool, /* is MaxLength */
    ),
    End,
}

/// Record data, errors and end of every spark; echo data back.
fn record(primus: &primus::Primus) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let t = tx.clone();
        spark.on_data(move |spark, msg| {
            let _ = t.send(Seen::Data(msg.value().clone()));
            let _ = spark.write(msg.value());
        });
        let t = tx.clone();
        spark.on_error(move |_, err| {
            let _ = t.send(Seen::Error(
                err.to_string(),
                matches!(err, SparkError::Parser(_)),
                matches!(err, SparkError::MaxLength { .. }),
            ));
        });
        let t = tx.clone();
        spark.on_end(move |_| {
            let _ = t.send(Seen::End);
        });
    });
    rx
}

#[tokio::test]
async fn malformed_json_emits_a_parser_error_and_keeps_the_connection() {
    let server = TestServer::start(quiet()).await;
    let mut seen = record(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;

    ws_send(&mut ws, "{not json").await;
    ws_send(&mut ws, r#"{"after":true}"#).await;

    match within("the parser error", seen.recv()).await.unwrap() {
        Seen::Error(msg, true, false) => {
            assert!(msg.starts_with("Failed to decode incoming data: "), "{msg}")
        }
        other => panic!("expected a parser error first, got {other:?}"),
    }
    match within("the next message", seen.recv()).await.unwrap() {
        Seen::Data(v) => assert_eq!(v.to_string(), r#"{"after":true}"#),
        other => panic!("the bad message must be dropped, got {other:?}"),
    }
    // The echo of the valid message is the first (and only) thing the client receives.
    assert_eq!(
        ws_next_text(&mut ws).await.as_deref(),
        Some(r#"{"after":true}"#)
    );
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn malformed_json_is_logged_to_the_server_too() {
    let server = TestServer::start(quiet()).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    server.primus.on_log(move |ev| {
        let primus::LogEvent::Error { spark, error } = ev else {
            return;
        };
        let _ = tx.send((spark.id().to_string(), error.to_string()));
    });
    let mut new_sparks = sparks(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    let spark = next_spark(&mut new_sparks).await;
    ws_send(&mut ws, "[1,").await;
    let (id, msg) = within("a log event", rx.recv()).await.unwrap();
    assert_eq!(id, spark.id());
    assert!(msg.contains("Failed to decode"), "{msg}");
    assert!(spark.is_open());
}

#[tokio::test]
async fn oversize_message_closes_with_1009_and_a_max_length_error() {
    let server = TestServer::start(quiet().max_length(1000)).await;
    let mut seen = record(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;

    ws_send(&mut ws, "\"ok\"").await;
    assert_eq!(ws_next_text(&mut ws).await.as_deref(), Some("\"ok\""));
    let big = format!("\"{}\"", "x".repeat(1998));
    assert_eq!(big.len(), 2000);
    ws_send(&mut ws, &big).await;

    let close = match within("the close frame", ws.next()).await {
        Some(Ok(WsMessage::Close(frame))) => frame.expect("a close frame with a status code"),
        Some(Ok(other)) => panic!("unexpected message {other:?}"),
        Some(Err(e)) => panic!("expected a close frame, got error {e}"),
        None => panic!("closed without a close frame"),
    };
    assert_eq!(close.code, CloseCode::Size);
    assert_eq!(u16::from(close.code), 1009);

    assert!(matches!(seen.recv().await, Some(Seen::Data(_))));
    match within("the error", seen.recv()).await.unwrap() {
        Seen::Error(msg, false, true) => assert!(msg.contains("1000"), "{msg}"),
        other => panic!("expected MaxLength, got {other:?}"),
    }
    assert!(matches!(
        within("the end", seen.recv()).await,
        Some(Seen::End)
    ));
    wait_until(WAIT, "the spark to be gone", || {
        server.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn oversize_frame_is_refused_from_its_header() {
    // Announce a 1 GiB frame but send only the header: the server must refuse it from the
    // length alone (no buffering of the oversize frame) and close with 1009.
    let server = TestServer::start(quiet().max_length(1000)).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    use tokio::io::AsyncWriteExt;
    ws.tcp.write_all(&header).await.unwrap();
    let frames = ws.read_to_eof().await;
    let close = frames.last().expect("a close frame");
    assert_eq!(close.opcode(), 0x8);
    assert_eq!(&close.payload[..2], 1009u16.to_be_bytes());
    wait_until(WAIT, "the spark to be gone", || {
        server.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn binary_frame_with_the_json_parser_is_delivered_as_binary() {
    let server = TestServer::start(quiet()).await;
    let mut seen = record(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;

    use futures_util::SinkExt;
    ws.send(WsMessage::binary(vec![1u8, 2, 3])).await.unwrap();
    match within("the binary message", seen.recv()).await.unwrap() {
        Seen::Data(v) => match v.as_bytes() {
            Some(b) => assert_eq!(&b[..], [1, 2, 3]),
            None => panic!("expected Value::Binary, got {v:?}"),
        },
        other => panic!("expected data, got {other:?}"),
    }
    // Echoing it JSON-encodes the bytes (the reference writes a Buffer's JSON form); all
    // that matters here is a valid JSON text frame and no panic.
    let echoed = ws_next_text(&mut ws).await.expect("an echo");
    serde_json::from_str::<serde_json::Value>(&echoed).expect("valid JSON");
    // The connection is still usable.
    ws_send(&mut ws, "2").await;
    assert_eq!(ws_next_text(&mut ws).await.as_deref(), Some("2"));
}

#[tokio::test]
async fn empty_and_invalid_utf8_frames_do_not_panic() {
    let server = TestServer::start(quiet()).await;
    let mut seen = record(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    // Empty text frame: not JSON, so a parser error and the connection stays.
    ws.send_text("").await;
    assert!(matches!(
        within("a parser error", seen.recv()).await,
        Some(Seen::Error(_, true, _))
    ));
    ws.send_text("1").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x011");
    // Invalid UTF-8 in a text frame is a WebSocket protocol violation: the connection
    // ends with 1007 (RFC 6455 §8.1, what the reference's `ws` sends), no crash.
    ws.send_frame(0x1, &[0xff, 0xfe]).await;
    let frames = ws.read_to_eof().await;
    assert_eq!(close_code(&frames), Some(1007));
    wait_until(WAIT, "the spark to be gone", || {
        server.primus.connected() == 0
    })
    .await;
    // And it still serves others.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text("3").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x013");
}

#[tokio::test]
async fn upgrade_outside_the_pathname_is_404() {
    let server = TestServer::start(quiet()).await;
    let res = RawWs::try_connect(server.addr, "/other", "")
        .await
        .err()
        .expect("not upgraded");
    assert_eq!(res.status, 404);
    assert_eq!(server.primus.connected(), 0);
}

#[tokio::test]
async fn upgrade_under_a_sub_path_or_prefix_is_accepted_like_the_reference() {
    // The reference's match is a plain prefix test (protocol.md §1.1).
    let server = TestServer::start(quiet()).await;
    echo(&server.primus);
    for path in ["/primus/", "/primus/anything?x=1", "/primusfoo"] {
        let mut ws = RawWs::connect(server.addr, path, "").await;
        ws.send_text("1").await;
        assert_eq!(ws.read_frame().await.bytes(), b"\x81\x011", "{path}");
    }
}

async fn assert_400(server: &TestServer, request: String) {
    let res = http_raw(server.addr, &request).await;
    assert_eq!(res.status, 400, "{request}: {}", res.text());
    assert!(
        res.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain")),
        "{:?}",
        res.headers
    );
    assert!(!res.text().is_empty(), "a reason in the body");
    assert_eq!(server.primus.connected(), 0);
}

#[tokio::test]
async fn handshake_without_a_key_is_400() {
    let server = TestServer::start(quiet()).await;
    let a = server.addr;
    assert_400(
        &server,
        format!(
            "GET /primus HTTP/1.1\r\nHost: {a}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        ),
    )
    .await;
}

#[tokio::test]
async fn handshake_with_a_malformed_key_is_400() {
    let server = TestServer::start(quiet()).await;
    let a = server.addr;
    assert_400(
        &server,
        format!(
            "GET /primus HTTP/1.1\r\nHost: {a}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    )
    .await;
}

#[tokio::test]
async fn handshake_with_version_12_is_400() {
    let server = TestServer::start(quiet()).await;
    let a = server.addr;
    assert_400(
        &server,
        format!(
            "GET /primus HTTP/1.1\r\nHost: {a}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 12\r\n\r\n"
        ),
    )
    .await;
}

#[tokio::test]
async fn handshake_with_post_is_400() {
    let server = TestServer::start(quiet()).await;
    let a = server.addr;
    assert_400(
        &server,
        format!(
            "POST /primus HTTP/1.1\r\nHost: {a}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
        ),
    )
    .await;
}

#[tokio::test]
async fn handshake_with_another_protocol_is_400() {
    let server = TestServer::start(quiet()).await;
    let a = server.addr;
    assert_400(
        &server,
        format!(
            "GET /primus HTTP/1.1\r\nHost: {a}\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ),
    )
    .await;
}

#[tokio::test]
async fn plain_get_on_the_pathname_is_426_without_caching() {
    let server = TestServer::start(quiet()).await;
    let res = http_get(server.addr, "/primus", "").await;
    assert_eq!(res.status, 426);
    assert_eq!(res.text(), "Upgrade Required");
    assert_eq!(res.header("content-type"), Some("text/plain"));
    assert_eq!(
        res.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, max-age=0")
    );
    assert_eq!(res.header("pragma"), Some("no-cache"));
}

#[tokio::test]
async fn spec_is_the_reference_json_with_its_key_order() {
    let server = TestServer::start(primus::Options::default()).await;
    let res = http_get(server.addr, "/primus/spec", "").await;
    assert_eq!(res.status, 200);
    assert!(res
        .header("content-type")
        .is_some_and(|v| v.starts_with("application/json")));
    let expected = format!(
        r#"{{"pingInterval":30000,"pathname":"/primus","version":"{}","parser":"json","transformer":"websockets"}}"#,
        primus::server::VERSION
    );
    assert_eq!(res.text(), expected);
    // Served before the no-cache middleware, like the reference.
    assert_eq!(res.header("cache-control"), None);
    // Any method works.
    let a = server.addr;
    let res = http_raw(
        a,
        &format!("POST /primus/spec HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert_eq!(res.text(), expected);
}

#[tokio::test]
async fn spec_says_false_when_heartbeats_are_off() {
    let server = TestServer::start(quiet().pathname("live")).await;
    let res = http_get(server.addr, "/live/spec", "").await;
    assert_eq!(
        res.text(),
        format!(
            r#"{{"pingInterval":false,"pathname":"/live","version":"{}","parser":"json","transformer":"websockets"}}"#,
            primus::server::VERSION
        )
    );
}

#[tokio::test]
async fn paths_outside_the_pathname_get_404_from_the_standalone_server() {
    let server = TestServer::start(quiet()).await;
    let res = http_get(server.addr, "/", "").await;
    assert_eq!(res.status, 404);
    let res = http_get(server.addr, "/prim", "").await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn fragments_adding_up_past_max_length_close_with_1009() {
    let server = TestServer::start(quiet().max_length(1000)).await;
    let mut seen = record(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    // Three 400-byte fragments: each fits, the message does not.
    let part = vec![b'x'; 400];
    let mut first = masked_frame(0x1, &part);
    first[0] &= 0x7f; // no FIN
    let mut middle = masked_frame(0x0, &part);
    middle[0] &= 0x7f;
    let last = masked_frame(0x0, &part);
    use tokio::io::AsyncWriteExt;
    for f in [first, middle, last] {
        // The server may close before reading everything.
        let _ = ws.tcp.write_all(&f).await;
    }
    let frames = ws.read_to_eof().await;
    let close = frames.last().expect("a close frame");
    assert_eq!(close.opcode(), 0x8);
    assert_eq!(&close.payload[..2], 1009u16.to_be_bytes());
    match within("the error", seen.recv()).await.unwrap() {
        Seen::Error(_, false, true) => {}
        other => panic!("expected MaxLength, got {other:?}"),
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_parser_error_not_a_stack_overflow() {
    let server = TestServer::start(quiet()).await;
    let mut seen = record(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    ws.send_text(&nested).await;
    match within("the parser error", seen.recv()).await.unwrap() {
        Seen::Error(_, true, false) => {}
        other => panic!("expected a parser error, got {other:?}"),
    }
    ws.send_text("[[1]]").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x05[[1]]");
}

#[tokio::test]
async fn an_incomplete_request_head_is_not_held_forever() {
    // Slowloris: a client sends part of a request head and then nothing. hyper's 30 s
    // `header_read_timeout` only applies when the builder has a timer
    // (`.timer(hyper_util::rt::TokioTimer::new())`); without one the connection is held
    // until shutdown. (Node's http server closes it after `headersTimeout`, 60 s.)
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let running = primus::Server::bind(
        primus::Primus::new(quiet()).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .iknowhttpsisbetter(true)
    .header_read_timeout(std::time::Duration::from_millis(300))
    .start()
    .await
    .unwrap();
    let addr = running.local_addr();
    tokio::spawn(running.run_until(std::future::pending()));
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /primus/spec HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
    assert!(
        closed.is_ok(),
        "the server still holds the connection 5 s after a 300 ms header timeout"
    );
}

/// The status code of the close frame among `frames`, if any.
fn close_code(frames: &[RawFrame]) -> Option<u16> {
    frames
        .iter()
        .find(|f| f.opcode() == 0x8)
        .and_then(|f| f.payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])))
}

#[tokio::test]
async fn a_protocol_violation_closes_with_1002_and_the_server_goes_on() {
    let server = TestServer::start(quiet()).await;
    let mut seen = record(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    // Opcode 0x3 is reserved (RFC 6455 §5.2).
    ws.send_frame(0x3, b"?").await;
    let frames = ws.read_to_eof().await;
    assert_eq!(close_code(&frames), Some(1002));
    // The spark saw an error naming the violation, then ended.
    let mut error = None;
    while let Some(ev) = within("spark events", seen.recv()).await {
        match ev {
            Seen::Error(e, _, _) => error = Some(e),
            Seen::End => break,
            _ => {}
        }
    }
    assert!(error.is_some(), "an error event before the end");
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text("4").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x014");
}
