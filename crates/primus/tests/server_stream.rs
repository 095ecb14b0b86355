//! Sparks as `futures` `Stream`s and `Sink`s (issue 2, "Stream-compatible"): the
//! connections stream, `next()`, `SinkExt::send`, `split` + `forward`, `send_all` under
//! backpressure, and how the stream ends.

mod server_support;

use futures_util::{stream, SinkExt, StreamExt};
use primus::{Frame, Value, WriteError};
use server_support::*;
use std::time::Duration;

#[tokio::test]
async fn split_and_forward_make_an_echo_server() {
    let server = TestServer::start(quiet()).await;
    let mut conns = server.primus.connections();
    tokio::spawn(async move {
        while let Some(spark) = conns.next().await {
            tokio::spawn(async move {
                let (sink, stream) = spark.split();
                stream
                    .map(|m| Ok::<_, WriteError>(m.into_value()))
                    .forward(sink)
                    .await
            });
        }
    });

    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    let messages: Vec<String> = (0..100)
        .map(|i| serde_json::json!({"n": i, "s": "héllo"}).to_string())
        .collect();
    for m in &messages {
        ws_send(&mut ws, m).await;
    }
    for m in &messages {
        assert_eq!(ws_next_text(&mut ws).await.as_deref(), Some(m.as_str()));
    }
    // Protocol messages are answered by the spark, not delivered to the stream.
    ws_send(&mut ws, "\"primus::id::\"").await;
    let id = ws_next_text(&mut ws).await.unwrap();
    assert!(id.starts_with("\"primus::id::"), "{id}");
}

#[tokio::test]
async fn next_and_sink_send_on_one_spark() {
    let server = TestServer::start(quiet()).await;
    let mut conns = server.primus.connections();
    let mut ws = ws_connect(&server.ws_url("/primus?room=1")).await;
    let mut spark = within("a spark", conns.next()).await.unwrap();
    assert_eq!(spark.query()["room"].as_str(), "1");

    ws_send(&mut ws, r#"{"hello":[1,2,3]}"#).await;
    let msg = within("a message", spark.next()).await.unwrap();
    assert_eq!(msg.value().to_string(), r#"{"hello":[1,2,3]}"#);
    assert_eq!(msg.raw(), &Frame::text(r#"{"hello":[1,2,3]}"#));
    #[derive(serde::Deserialize)]
    struct Hello {
        hello: Vec<u8>,
    }
    assert_eq!(msg.decode::<Hello>().unwrap().hello, [1, 2, 3]);

    SinkExt::send(&mut spark, serde_json::json!({"reply": true}))
        .await
        .unwrap();
    SinkExt::send(&mut spark, "text").await.unwrap();
    assert_eq!(
        ws_next_text(&mut ws).await.as_deref(),
        Some(r#"{"reply":true}"#)
    );
    assert_eq!(ws_next_text(&mut ws).await.as_deref(), Some("\"text\""));
}

#[tokio::test]
async fn the_stream_ends_when_the_client_goes() {
    let server = TestServer::start(quiet()).await;
    let mut conns = server.primus.connections();
    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    let mut spark = within("a spark", conns.next()).await.unwrap();
    ws_send(&mut ws, "1").await;
    ws.close(None).await.unwrap();
    // Messages sent before the close are still delivered, then the stream ends.
    assert_eq!(
        within("the message", spark.next())
            .await
            .unwrap()
            .value()
            .as_u64(),
        Some(1)
    );
    assert!(within("the end of the stream", spark.next())
        .await
        .is_none());
    assert!(!spark.is_open());
    assert!(matches!(
        SinkExt::send(&mut spark, 1).await,
        Err(WriteError::Closed)
    ));
}

#[tokio::test]
async fn closing_the_sink_ends_the_spark_with_server_close() {
    let server = TestServer::start(quiet()).await;
    let mut conns = server.primus.connections();
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let mut spark = within("a spark", conns.next()).await.unwrap();
    SinkExt::send(&mut spark, "bye").await.unwrap();
    SinkExt::<Value>::close(&mut spark).await.unwrap();
    let frames: Vec<Vec<u8>> = ws.read_to_eof().await.iter().map(RawFrame::bytes).collect();
    assert_eq!(
        frames,
        [
            b"\x81\x05\"bye\"".to_vec(),
            b"\x81\x17\"primus::server::close\"".to_vec(),
            vec![0x88, 0x00],
        ]
    );
}

#[tokio::test]
async fn send_all_waits_for_room_instead_of_failing() {
    // A queue of 2 and 2 000 messages: the sink must apply backpressure (poll_ready
    // waits), never report Full.
    let server = TestServer::start(quiet().queue_size(2)).await;
    let mut conns = server.primus.connections();
    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    let mut spark = within("a spark", conns.next()).await.unwrap();
    let writer = tokio::spawn(async move {
        let mut items = stream::iter(0..2000u32).map(Ok);
        spark.send_all(&mut items).await
    });
    for i in 0..2000u32 {
        assert_eq!(ws_next_text(&mut ws).await, Some(i.to_string()));
    }
    within("send_all", writer).await.unwrap().unwrap();
}

#[tokio::test]
async fn data_handlers_take_messages_instead_of_the_stream() {
    let server = TestServer::start(quiet()).await;
    let mut conns = server.primus.connections();
    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    let mut spark = within("a spark", conns.next()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    spark.on_data(move |_, m| {
        let _ = tx.send(m.value().clone());
    });
    ws_send(&mut ws, "7").await;
    assert_eq!(
        within("the handler", rx.recv()).await.unwrap().as_u64(),
        Some(7)
    );
    ws.close(None).await.unwrap();
    assert!(
        within("the end of the stream", spark.next())
            .await
            .is_none(),
        "the message went to the handler only"
    );
}

#[tokio::test]
async fn every_connections_stream_sees_every_new_spark() {
    let server = TestServer::start(quiet()).await;
    let mut a = server.primus.connections();
    let mut b = server.primus.connections();
    let _ws1 = ws_connect(&server.ws_url("/primus")).await;
    let _ws2 = ws_connect(&server.ws_url("/primus")).await;
    let a_ids = [
        within("a1", a.next()).await.unwrap().id().to_string(),
        within("a2", a.next()).await.unwrap().id().to_string(),
    ];
    let b_ids = [
        within("b1", b.next()).await.unwrap().id().to_string(),
        within("b2", b.next()).await.unwrap().id().to_string(),
    ];
    assert_eq!(a_ids, b_ids);
    // A stream made later only sees sparks that connect later.
    let mut c = server.primus.connections();
    assert!(tokio::time::timeout(Duration::from_millis(200), c.next())
        .await
        .is_err());
    let _ws3 = ws_connect(&server.ws_url("/primus")).await;
    let third = within("c1", c.next()).await.unwrap();
    assert!(!a_ids.contains(&third.id().to_string()));
}

#[tokio::test]
async fn a_dropped_connections_stream_does_not_block_new_connections() {
    let server = TestServer::start(quiet()).await;
    echo(&server.primus);
    drop(server.primus.connections());
    for _ in 0..80 {
        // More than the stream's buffer (64): each must still be served.
        let mut ws = RawWs::connect(server.addr, "/primus", "").await;
        ws.send_text("1").await;
        assert_eq!(ws.read_frame().await.bytes(), b"\x81\x011");
    }
}
