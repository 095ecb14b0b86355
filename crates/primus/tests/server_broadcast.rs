//! Broadcasting and the spark registry: `primus.write` to every spark (one encoding, the
//! same bytes for all), `spark(id)`, `connected()`, `for_each` and `for_each_async`.

mod server_support;

use server_support::*;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn broadcast_to_50_raw_clients_sends_the_same_bytes() {
    let server = TestServer::start(quiet()).await;
    let ids = Arc::new(Mutex::new(Vec::new()));
    let i = ids.clone();
    server.primus.on_connection(move |spark| {
        i.lock().unwrap().push(spark.id().to_string());
    });

    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(RawWs::connect(server.addr, "/primus", "").await);
    }
    wait_until(WAIT, "50 sparks", || server.primus.connected() == 50).await;

    let payload = serde_json::json!({"msg": "to all", "n": [1, 2.5, null], "ü": "✓"});
    let queued = server.primus.write(&payload).unwrap();
    assert_eq!(queued, 50);

    let text = payload.to_string();
    let mut expected = text_header(text.len());
    expected.extend_from_slice(text.as_bytes());
    for ws in &mut clients {
        assert_eq!(ws.read_frame().await.bytes(), expected);
    }

    // The registry knows each of them by id.
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 50);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        50,
        "ids are unique"
    );
    for id in &ids {
        let spark = server.primus.spark(id).expect("registered");
        assert_eq!(spark.id(), id);
        assert!(spark.is_open());
    }
    assert!(server.primus.spark("no-such-id").is_none());

    // for_each visits every connected spark once.
    let mut seen = HashSet::new();
    server.primus.for_each(|s| {
        assert!(seen.insert(s.id().to_string()));
    });
    assert_eq!(seen, ids.iter().cloned().collect());
}

#[tokio::test]
async fn for_each_async_can_await_per_spark() {
    let server = TestServer::start(quiet()).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(RawWs::connect(server.addr, "/primus", "").await);
    }
    wait_until(WAIT, "5 sparks", || server.primus.connected() == 5).await;
    let mut n = 0;
    server
        .primus
        .for_each_async(|spark| {
            n += 1;
            async move { spark.send(&spark.id().to_string()).await.unwrap() }
        })
        .await;
    assert_eq!(n, 5);
    let mut got = HashSet::new();
    for ws in &mut clients {
        let id: String = serde_json::from_str(&ws.read_frame().await.text()).unwrap();
        assert!(server.primus.spark(&id).is_some());
        got.insert(id);
    }
    assert_eq!(got.len(), 5, "each spark got its own id");
}

#[tokio::test]
async fn connected_follows_connects_and_disconnects() {
    let server = TestServer::start(quiet()).await;
    assert_eq!(server.primus.connected(), 0);
    let mut new_sparks = sparks(&server.primus);
    let a = RawWs::connect(server.addr, "/primus", "").await;
    let spark_a = next_spark(&mut new_sparks).await;
    let mut b = RawWs::connect(server.addr, "/primus", "").await;
    let spark_b = next_spark(&mut new_sparks).await;
    assert_eq!(server.primus.connected(), 2);

    // A client going away (TCP close without a close frame).
    drop(a);
    wait_until(WAIT, "one spark left", || server.primus.connected() == 1).await;
    assert!(server.primus.spark(spark_a.id()).is_none());
    assert!(!spark_a.is_open());

    // A client closing properly.
    b.send_close().await;
    b.read_to_eof().await;
    wait_until(WAIT, "no sparks left", || server.primus.connected() == 0).await;
    assert!(server.primus.spark(spark_b.id()).is_none());

    // Broadcasting to nobody is fine.
    assert_eq!(server.primus.write(&"anyone?").unwrap(), 0);
}

#[tokio::test]
async fn a_broadcast_skips_sparks_that_ended() {
    let server = TestServer::start(quiet()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut a = RawWs::connect(server.addr, "/primus", "").await;
    let spark_a = next_spark(&mut new_sparks).await;
    let mut b = RawWs::connect(server.addr, "/primus", "").await;
    let _spark_b = next_spark(&mut new_sparks).await;
    spark_a.close(true);
    assert_eq!(server.primus.write(&1).unwrap(), 1);
    assert_eq!(b.read_frame().await.bytes(), b"\x81\x011");
    let frames = a.read_to_eof().await;
    assert_eq!(frames.len(), 1, "only the close frame: {frames:?}");
}

#[tokio::test]
async fn broadcast_encoding_errors_are_reported_not_sent() {
    let server = TestServer::start(quiet()).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    wait_until(WAIT, "a spark", || server.primus.connected() == 1).await;
    // A map with non-string keys cannot be JSON.
    let mut bad = std::collections::BTreeMap::new();
    bad.insert(vec![1u8], 1);
    assert!(matches!(
        server.primus.write(&bad),
        Err(primus::WriteError::Encode(_))
    ));
    server.primus.write(&"fine").unwrap();
    assert_eq!(ws.read_frame().await.bytes(), b"\x81\x06\"fine\"");
}
