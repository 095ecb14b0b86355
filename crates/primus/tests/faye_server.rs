//! The `faye` transformer's server half, byte level (protocol.md §1.3, §1.4, §4.5): the
//! websockets frames, but the server's close frame carries 1000 as `faye-websocket`'s does
//! (`88 02 03 e8`, where `ws` sends `88 00`), and plain HTTP under the pathname gets 426.
#![cfg(feature = "faye")] // needs the `faye` transformer

mod server_support;

use server_support::*;

fn faye() -> primus::Options {
    quiet().transformer("faye")
}

/// The close frame faye sends: status 1000, no reason.
const CLOSE_1000: [u8; 4] = [0x88, 0x02, 0x03, 0xe8];

#[tokio::test]
async fn spec_says_faye_and_plain_http_gets_426() {
    let server = TestServer::start(faye()).await;
    assert_eq!(server.primus.spec().transformer, "faye");
    let spec = http_get(server.addr, "/primus/spec", "").await;
    assert_eq!(spec.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&spec.body).unwrap();
    assert_eq!(json["transformer"], "faye");
    // Name matching is case-insensitive; the spec publishes the lower-case name.
    let upper = TestServer::start(quiet().transformer("Faye")).await;
    assert_eq!(upper.primus.spec().transformer, "faye");

    for path in ["/primus", "/primus/", "/primus/anything"] {
        let res = http_get(server.addr, path, "").await;
        assert_eq!(res.status, 426, "{path}");
        assert_eq!(res.header("content-type"), Some("text/plain"), "{path}");
        assert_eq!(res.text(), "Upgrade Required", "{path}");
    }
}

#[tokio::test]
async fn messages_both_ways_are_plain_text_frames() {
    let server = TestServer::start(faye()).await;
    echo(&server.primus);
    // Any sub-path under the pathname upgrades, like the reference.
    let mut ws = RawWs::connect(server.addr, "/primus/sub?_primuscb=x", "").await;
    ws.send_text(r#"{"a":1}"#).await;
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x07{\"a\":1}");
    ws.send_text(r#""hello""#).await;
    assert_eq!(ws.read_frame().await.text(), r#""hello""#);
    // The spark's id comes through the primus:: protocol.
    ws.send_text(r#""primus::id::""#).await;
    let id = ws.read_frame().await.text();
    assert!(id.starts_with(r#""primus::id::"#), "{id}");
}

#[tokio::test]
async fn end_sends_server_close_then_a_1000_close_frame() {
    let server = TestServer::start(faye()).await;
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
            CLOSE_1000.to_vec(),
        ],
    );
    assert!(!spark.is_open());
}

#[tokio::test]
async fn end_with_reconnect_sends_only_the_1000_close_frame() {
    let server = TestServer::start(faye()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;

    spark.end(None::<&()>, true);

    let frames = ws.read_to_eof().await;
    let bytes: Vec<Vec<u8>> = frames.iter().map(RawFrame::bytes).collect();
    assert_eq!(bytes, [CLOSE_1000.to_vec()]);
}

#[tokio::test]
async fn websockets_still_closes_without_a_code() {
    // The setting is faye's alone: the websockets transformer keeps `ws`'s empty close.
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    next_spark(&mut new_sparks).await.end(None::<&()>, true);
    let frames = ws.read_to_eof().await;
    assert_eq!(frames.last().map(RawFrame::bytes), Some(vec![0x88, 0x00]));
}

#[tokio::test]
async fn a_client_close_ends_the_spark_and_is_answered() {
    let server = TestServer::start(faye()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    // faye's client closes with 1000; the server echoes the code.
    ws.send_frame(0x8, &[0x03, 0xe8]).await;
    let frames = ws.read_to_eof().await;
    assert_eq!(
        frames.last().map(RawFrame::bytes),
        Some(CLOSE_1000.to_vec())
    );
    wait_until(WAIT, "the spark to close", || !spark.is_open()).await;
}
