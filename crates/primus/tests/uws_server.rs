//! The `uws` transformer's server half (also named `lws`), byte level: the websockets
//! server's behaviour on the fastwebsockets engine (protocol.md §1.3, §1.4, §4.5) — the
//! name published in `/spec`, 426 for plain HTTP, text and binary messages, fragments
//! reassembled within `max_length`, the 1009 / 1007 / 1002 refusals, ping → pong, the
//! server's close frame without a code (like `ws`), the heartbeat, many clients at once.
#![cfg(feature = "uws")] // needs the `uws` transformer

mod server_support;

use server_support::*;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn uws() -> primus::Options {
    quiet().transformer("uws")
}

/// A client (masked) frame without FIN: the first or a middle fragment of a message.
fn fragment(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = masked_frame(opcode, payload);
    frame[0] &= 0x7f;
    frame
}

fn close_code(frames: &[RawFrame]) -> Option<u16> {
    frames
        .iter()
        .find(|f| f.opcode() == 0x8)
        .and_then(|f| f.payload.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])))
}

#[tokio::test]
async fn spec_publishes_the_name_selected_and_plain_http_gets_426() {
    for (asked, published) in [
        ("uws", "uws"),
        ("lws", "lws"),
        ("UWS", "uws"),
        ("Lws", "lws"),
    ] {
        let server = TestServer::start(quiet().transformer(asked)).await;
        assert_eq!(server.primus.spec().transformer, published, "{asked}");
        let spec = http_get(server.addr, "/primus/spec", "").await;
        assert_eq!(spec.status, 200);
        let json: serde_json::Value = serde_json::from_slice(&spec.body).unwrap();
        assert_eq!(json["transformer"], published, "{asked}");
        // The browser library knows the name (the websockets transport under it).
        let lib = http_get(server.addr, "/primus/primus.js", "").await;
        assert_eq!(lib.status, 200);
        assert!(
            lib.text()
                .contains(&format!("Primus.transports[\"{published}\"]")),
            "{asked}"
        );
    }
    let server = TestServer::start(uws()).await;
    for path in ["/primus", "/primus/", "/primus/anything"] {
        let res = http_get(server.addr, path, "").await;
        assert_eq!(res.status, 426, "{path}");
        assert_eq!(res.header("content-type"), Some("text/plain"), "{path}");
        assert_eq!(res.text(), "Upgrade Required", "{path}");
    }
    // A broken upgrade is refused as by the websockets server.
    let res = http_get(
        server.addr,
        "/primus",
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
    )
    .await;
    assert_eq!(res.status, 400);
}

#[tokio::test]
async fn text_messages_both_ways() {
    let server = TestServer::start(uws()).await;
    echo(&server.primus);
    // Any sub-path under the pathname upgrades, like the reference.
    let mut ws = RawWs::connect(server.addr, "/primus/sub?_primuscb=x", "").await;
    ws.send_text(r#"{"a":1}"#).await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x07{\"a\":1}");
    let long = format!("\"{}\"", "é".repeat(3000));
    ws.send_text(&long).await;
    let echoed = ws.read_frame().await;
    assert_eq!(echoed.opcode(), 0x1);
    assert_eq!(echoed.text(), long);
    ws.send_text(r#""primus::id::""#).await;
    let id = ws.read_frame().await.text();
    assert!(id.starts_with(r#""primus::id::"#), "{id}");
}

#[tokio::test]
async fn binary_parser_messages_are_binary_frames() {
    let server = TestServer::start(uws().parser("binary")).await;
    echo(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    // BinaryPack: the positive fixint 5.
    ws.send_frame(0x2, &[0x05]).await;
    assert_eq!(ws.read_frame().await.bytes(), [0x82, 0x01, 0x05]);
}

#[tokio::test]
async fn a_fragmented_message_is_reassembled() {
    let server = TestServer::start(uws()).await;
    echo(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut bytes = fragment(0x1, b"\"hel");
    // A ping between fragments is answered and does not break the message.
    bytes.extend(masked_frame(0x9, b"p"));
    bytes.extend(fragment(0x0, "l\u{e9}".as_bytes()));
    bytes.extend(masked_frame(0x0, b"o\""));
    ws.tcp.write_all(&bytes).await.unwrap();
    assert_eq!(ws.read_frame().await.bytes(), [0x8a, 0x01, b'p']);
    assert_eq!(ws.read_frame().await.text(), "\"hell\u{e9}o\"");
    // A multi-byte character split across fragments is valid UTF-8 once whole.
    let e = "é".as_bytes();
    let mut bytes = fragment(0x1, &[b'"', e[0]]);
    bytes.extend(masked_frame(0x0, &[e[1], b'"']));
    ws.tcp.write_all(&bytes).await.unwrap();
    assert_eq!(ws.read_frame().await.text(), "\"é\"");
}

#[tokio::test]
async fn an_oversize_message_is_refused_with_1009() {
    let server = TestServer::start(uws().max_length(1000)).await;
    echo(&server.primus);
    let (tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(e.to_string());
        });
    });
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    // Exactly max_length fits.
    let fits = format!("\"{}\"", "x".repeat(998));
    ws.send_text(&fits).await;
    assert_eq!(ws.read_frame().await.text(), fits);
    ws.send_text(&format!("\"{}\"", "x".repeat(999))).await;
    let frames = ws.read_to_eof().await;
    assert_eq!(close_code(&frames), Some(1009));
    let error = within("the error", errors.recv()).await.unwrap();
    assert!(error.contains("1000"), "{error}");
    wait_until(WAIT, "the spark to be gone", || {
        server.primus.connected() == 0
    })
    .await;

    // Fragments that fit one by one but not together.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut bytes = fragment(0x1, &[b'x'; 400]);
    bytes.extend(fragment(0x0, &[b'x'; 400]));
    bytes.extend(masked_frame(0x0, &[b'x'; 400]));
    ws.tcp.write_all(&bytes).await.unwrap();
    let frames = ws.read_to_eof().await;
    assert_eq!(close_code(&frames), Some(1009));

    // A frame announced as 1 GiB is refused from its header alone.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 30).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.tcp.write_all(&header).await.unwrap();
    let frames = ws.read_to_eof().await;
    assert_eq!(close_code(&frames), Some(1009));
    wait_until(WAIT, "the sparks to be gone", || {
        server.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_is_refused_with_1007_and_bad_framing_with_1002() {
    let server = TestServer::start(uws()).await;
    echo(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text("1").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x011");
    ws.send_frame(0x1, &[0xff, 0xfe]).await;
    assert_eq!(close_code(&ws.read_to_eof().await), Some(1007));

    // Invalid once reassembled.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut bytes = fragment(0x1, b"\"a");
    bytes.extend(masked_frame(0x0, &[0xc3, b'"']));
    ws.tcp.write_all(&bytes).await.unwrap();
    assert_eq!(close_code(&ws.read_to_eof().await), Some(1007));

    // A continuation without a message, and reserved bits: protocol errors.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_frame(0x0, b"x").await;
    assert_eq!(close_code(&ws.read_to_eof().await), Some(1002));
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut frame = masked_frame(0x1, b"1");
    frame[0] |= 0x40;
    ws.tcp.write_all(&frame).await.unwrap();
    assert_eq!(close_code(&ws.read_to_eof().await), Some(1002));
    // A close frame of 126 bytes: longer than a control frame may be (Autobahn 7.3.6).
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend(std::iter::repeat_n(b'a', 124));
    ws.send_frame(0x8, &close).await;
    assert_eq!(close_code(&ws.read_to_eof().await), Some(1002));
    wait_until(WAIT, "the sparks to be gone", || {
        server.primus.connected() == 0
    })
    .await;
    // The server goes on.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text("2").await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x012");
}

#[tokio::test]
async fn ping_is_answered_with_pong_and_counts_as_a_heartbeat() {
    let server = TestServer::start(uws()).await;
    let (tx, mut beats) = tokio::sync::mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_heartbeat(move |_| {
            let _ = tx.send(());
        });
    });
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_frame(0x9, b"hb").await;
    assert_eq!(ws.read_frame().await.bytes(), [0x8a, 0x02, b'h', b'b']);
    within("a heartbeat", beats.recv()).await.unwrap();
}

#[tokio::test]
async fn server_end_sends_what_was_queued_then_a_close_without_a_code() {
    let server = TestServer::start(uws()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    spark.end(Some(&"bye"), false);
    let bytes: Vec<Vec<u8>> = ws.read_to_eof().await.iter().map(RawFrame::bytes).collect();
    assert_eq!(
        bytes,
        [
            b"\x81\x05\"bye\"".to_vec(),
            b"\x81\x17\"primus::server::close\"".to_vec(),
            vec![0x88, 0x00],
        ],
    );
    assert!(!spark.is_open());

    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    next_spark(&mut new_sparks).await.end(None::<&()>, true);
    let bytes: Vec<Vec<u8>> = ws.read_to_eof().await.iter().map(RawFrame::bytes).collect();
    assert_eq!(bytes, [vec![0x88, 0x00]]);
}

#[tokio::test]
async fn a_client_close_ends_the_spark_and_is_echoed() {
    let server = TestServer::start(uws()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    ws.send_frame(0x8, &[0x03, 0xe8]).await;
    let frames = ws.read_to_eof().await;
    assert_eq!(
        frames.last().map(RawFrame::bytes),
        Some(vec![0x88, 0x02, 0x03, 0xe8])
    );
    wait_until(WAIT, "the spark to close", || !spark.is_open()).await;
}

#[tokio::test]
async fn the_heartbeat_drops_a_silent_peer_and_releases_its_socket() {
    let interval = Duration::from_millis(200);
    let server = TestServer::start(
        primus::Options::default()
            .transformer("lws")
            .ping_interval(Some(interval)),
    )
    .await;
    let (tx, mut gone) = tokio::sync::mpsc::unbounded_channel();
    server.primus.on_disconnection(move |_| {
        let _ = tx.send(());
    });
    // Neither reads nor answers: no pong, no close handshake.
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    let client = ws.tcp.local_addr().unwrap();
    within("the disconnection", gone.recv()).await.unwrap();
    assert_eq!(server.primus.connected(), 0);
    wait_until(
        Duration::from_secs(5),
        "the server to release the socket",
        || !server_holds_socket(server.addr, client),
    )
    .await;
    drop(ws);
}

#[tokio::test]
async fn a_hundred_concurrent_clients_echo() {
    let server = TestServer::start(uws()).await;
    echo(&server.primus);
    let url = server.ws_url("/primus");
    let mut tasks = Vec::new();
    for i in 0..100 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = ws_connect(&url).await;
            for j in 0..10 {
                let msg = format!("\"{i}-{j}\"");
                ws_send(&mut ws, &msg).await;
                assert_eq!(ws_next_text(&mut ws).await.as_deref(), Some(msg.as_str()));
            }
            ws
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(within("a client", task).await.unwrap());
    }
    assert_eq!(server.primus.connected(), 100);
    drop(clients);
    wait_until(WAIT, "every spark gone", || server.primus.connected() == 0).await;
}

#[tokio::test]
async fn our_rust_client_speaks_uws() {
    use futures_util::StreamExt;
    let server = TestServer::start(uws()).await;
    echo(&server.primus);
    let url = format!("http://{}", server.addr);
    let mut client = primus::client::Client::new(
        &url,
        primus::client::ClientOptions {
            transformer: "uws".into(),
            ..Default::default()
        },
    )
    .unwrap();
    client.write(&serde_json::json!({"hello": "uws"})).unwrap();
    let got = within("the echo", client.next())
        .await
        .expect("open")
        .decode::<serde_json::Value>()
        .unwrap();
    assert_eq!(got, serde_json::json!({"hello": "uws"}));
    client.end();
}

#[tokio::test]
async fn connection_listeners_run_before_the_first_read() {
    let server = TestServer::start(uws()).await;
    let (tx, mut order) = tokio::sync::mpsc::unbounded_channel::<String>();
    server.primus.on_connection_async(move |spark| {
        let t = tx.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = t.send("listener done".into());
            spark.on_data(move |_, m| {
                let _ = t.send(m.value().to_string());
            });
            Ok(())
        }
    });
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text("1").await;
    ws.send_text("2").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(within("events", order.recv()).await.unwrap());
    }
    assert_eq!(got, ["listener done", "1", "2"]);

    // A failing listener ends the spark with a close frame.
    let server = TestServer::start(uws()).await;
    server
        .primus
        .on_connection_async(|_spark| async { Err("not welcome".into()) });
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let frames = ws.read_to_eof().await;
    assert_eq!(frames.last().map(RawFrame::bytes), Some(vec![0x88, 0x00]));
    wait_until(WAIT, "the spark to be gone", || {
        server.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn a_slow_stream_consumer_pauses_reading_without_losing_messages() {
    use futures_util::StreamExt;
    let server = TestServer::start(uws()).await;
    let mut conns = server.primus.connections();
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut spark = within("a spark", conns.next()).await.unwrap();
    // Far more than the incoming queue (64) holds; nobody consumes yet.
    for i in 0..500 {
        ws.send_text(&i.to_string()).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..500 {
        let msg = within("a message", spark.next()).await.expect("open");
        assert_eq!(msg.value().as_u64(), Some(i));
    }
}

#[tokio::test]
async fn a_stalled_writer_ends_the_spark_as_a_slow_peer() {
    let timeout = Duration::from_millis(300);
    let server = TestServer::start(uws().queue_size(4).write_timeout(timeout)).await;
    let mut new_sparks = sparks(&server.primus);
    let (tx, mut errors) = tokio::sync::mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(matches!(e, primus::SparkError::SlowPeer(_)));
        });
    });
    // Never reads.
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    let client = ws.tcp.local_addr().unwrap();
    let spark = next_spark(&mut new_sparks).await;
    let chunk = "x".repeat(64 * 1024);
    within_for(Duration::from_secs(20), "the spark to end", async {
        while spark.is_open() {
            let _ = spark.write(&chunk);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        within("the error", errors.recv()).await.unwrap(),
        "SlowPeer"
    );
    assert_eq!(server.primus.connected(), 0);
    wait_until(WAIT, "the socket to be released", || {
        !server_holds_socket(server.addr, client)
    })
    .await;

    // end() with a backlog to a peer that never reads: the drain gives up after
    // write_timeout and the socket is released.
    let ws2 = RawWs::connect(server.addr, "/primus", "").await;
    let client = ws2.tcp.local_addr().unwrap();
    let spark = next_spark(&mut new_sparks).await;
    spark.end(Some(&"y".repeat(8 * 1024 * 1024)), false);
    wait_until(
        timeout + Duration::from_secs(4),
        "the server to release the socket",
        || !server_holds_socket(server.addr, client),
    )
    .await;
    drop((ws, ws2));
}
