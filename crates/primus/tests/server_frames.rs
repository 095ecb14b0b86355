//! Byte-exact WebSocket frames (protocol.md §2.2, §2.5): a raw TCP client does the
//! handshake by hand and compares every header and payload byte with what the reference
//! server (npm `primus` 8 with `ws`) puts on the wire.

mod server_support;

use server_support::*;
use std::time::Duration;

fn is_nanoid(id: &str) -> bool {
    id.len() == 21
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[tokio::test]
async fn heartbeat_ping_is_81_1d_with_a_13_digit_timestamp() {
    let server = TestServer::start(
        primus::Options::default().ping_interval(Some(Duration::from_millis(100))),
    )
    .await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let frame = ws.read_frame().await;
    assert_eq!(frame.header, [0x81, 0x1d], "text frame, FIN, 29 bytes");
    let text = frame.text();
    let ms = text
        .strip_prefix("\"primus::ping::")
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not a ping: {text:?}"));
    assert_eq!(ms.len(), 13, "{ms}");
    let ms: u64 = ms.parse().expect("digits");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        now.abs_diff(ms) < 10_000,
        "ping carries the server's Date.now()"
    );
}

#[tokio::test]
async fn id_request_is_answered_with_81_23_and_the_spark_id() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    // Client request, as the reference client frames it: `81 8e` + mask + 14 bytes.
    let request = masked_frame(0x1, b"\"primus::id::\"");
    assert_eq!(&request[..2], [0x81, 0x8e]);
    use tokio::io::AsyncWriteExt;
    ws.tcp.write_all(&request).await.unwrap();

    let frame = ws.read_frame().await;
    assert_eq!(frame.header, [0x81, 0x23], "text frame, FIN, 35 bytes");
    let expected = format!("\"primus::id::{}\"", spark.id());
    assert_eq!(frame.text(), expected);
    assert!(is_nanoid(spark.id()), "{}", spark.id());
}

#[tokio::test]
async fn user_data_is_echoed_as_81_07() {
    let server = TestServer::start(quiet()).await;
    echo(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text(r#"{"a":1}"#).await;
    let frame = ws.read_frame().await;
    assert_eq!(frame.bytes(), b"\x81\x07{\"a\":1}");
}

#[tokio::test]
async fn end_sends_server_close_then_an_empty_close_frame() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.end(None::<&()>, false);

    let frames = ws.read_to_eof().await;
    let bytes: Vec<Vec<u8>> = frames.iter().map(RawFrame::bytes).collect();
    assert_eq!(
        bytes,
        [
            b"\x81\x17\"primus::server::close\"".to_vec(),
            vec![0x88, 0x00]
        ],
    );
    assert!(!spark.is_open());
}

#[tokio::test]
async fn end_with_data_sends_the_data_first() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.end(Some(&"bye"), false);

    let frames = ws.read_to_eof().await;
    let bytes: Vec<Vec<u8>> = frames.iter().map(RawFrame::bytes).collect();
    assert_eq!(
        bytes,
        [
            b"\x81\x05\"bye\"".to_vec(),
            b"\x81\x17\"primus::server::close\"".to_vec(),
            vec![0x88, 0x00],
        ],
    );
}

#[tokio::test]
async fn end_with_reconnect_sends_only_the_close_frame() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.close(true);

    let frames = ws.read_to_eof().await;
    let bytes: Vec<Vec<u8>> = frames.iter().map(RawFrame::bytes).collect();
    assert_eq!(bytes, [vec![0x88, 0x00]]);
}

#[tokio::test]
async fn end_with_data_and_reconnect_sends_data_then_close() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.end(Some(&"bye"), true);

    let frames = ws.read_to_eof().await;
    let bytes: Vec<Vec<u8>> = frames.iter().map(RawFrame::bytes).collect();
    assert_eq!(bytes, [b"\x81\x05\"bye\"".to_vec(), vec![0x88, 0x00]]);
}

#[tokio::test]
async fn ending_twice_sends_nothing_more_and_writes_fail() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.end(Some(&"first"), false);
    spark.end(Some(&"second"), false);
    assert!(matches!(
        spark.write(&"late"),
        Err(primus::WriteError::Closed)
    ));

    let frames = ws.read_to_eof().await;
    let texts: Vec<String> = frames
        .iter()
        .filter(|f| f.opcode() == 1)
        .map(RawFrame::text)
        .collect();
    assert_eq!(texts, ["\"first\"", "\"primus::server::close\""]);
}

#[tokio::test]
async fn unicode_line_separators_are_escaped_on_the_wire() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.write(&"a\u{2028}b\u{2029}é").unwrap();

    let frame = ws.read_frame().await;
    // `"a\u2028b\u2029é"`: the separators as 6-character escapes, é as raw UTF-8.
    let payload = "\"a\\u2028b\\u2029é\"";
    assert_eq!(frame.header, text_header(payload.len()));
    assert_eq!(frame.text(), payload);
}

#[tokio::test]
async fn large_messages_use_extended_lengths() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    let medium = "m".repeat(300);
    let large = "L".repeat(70_000);
    spark.write(&medium).unwrap();
    spark.write(&large).unwrap();

    let f = ws.read_frame().await;
    assert_eq!(
        f.header,
        [0x81, 126, 0x01, 0x2e],
        "302 bytes, 16-bit length"
    );
    assert_eq!(f.text(), format!("\"{medium}\""));
    let f = ws.read_frame().await;
    assert_eq!(f.header, text_header(70_002));
    assert_eq!(f.header.len(), 10, "64-bit length");
    assert_eq!(f.payload.len(), 70_002);
}
