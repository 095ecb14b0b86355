//! Backpressure (issue 2): each spark's outgoing queue is bounded (`queue_size`); `write`
//! reports `Full`, `send().await` waits for room, a broadcast disconnects a spark that
//! cannot keep up, a stalled socket is dropped after `write_timeout`, and a slow `Stream`
//! consumer pauses reading instead of buffering without bound.

mod server_support;

use futures_util::StreamExt;
use primus::{Options, SparkError, WriteError};
use server_support::*;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// 64 KiB per message: the kernel's socket buffers fill after a few hundred of them.
fn chunk() -> String {
    "x".repeat(64 * 1024)
}

/// `write` until the queue reports `Full` (the client is not reading). Returns how many
/// writes succeeded.
async fn fill(spark: &primus::Spark) -> usize {
    let chunk = chunk();
    within_for(Duration::from_secs(20), "the queue to fill", async {
        for n in 0.. {
            match spark.write(&chunk) {
                Ok(()) => {
                    // Let the connection task move frames into the socket.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Err(WriteError::Full) => return n,
                Err(e) => panic!("unexpected write error after {n} writes: {e}"),
            }
            assert!(n < 5000, "the queue never filled (is the socket read?)");
        }
        unreachable!()
    })
    .await
}

fn slow_options() -> Options {
    // A long write timeout so that the stalled socket is not dropped during the test.
    quiet().queue_size(4).write_timeout(Duration::from_secs(60))
}

#[tokio::test]
async fn write_reports_full_when_the_peer_does_not_read() {
    let server = TestServer::start(slow_options()).await;
    let mut new_sparks = sparks(&server.primus);
    let _ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    let n = fill(&spark).await;
    assert!(n >= 4, "at least the queue itself: {n}");
    // Full is not fatal: the spark is still open and later writes still say Full.
    assert!(spark.is_open());
    assert!(matches!(spark.write(&"more"), Err(WriteError::Full)));
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn a_broadcast_disconnects_a_spark_whose_queue_is_full() {
    let server = TestServer::start(slow_options()).await;
    let mut new_sparks = sparks(&server.primus);
    let (err_tx, mut errors) = mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = err_tx.clone();
        spark.on_error(move |s, e| {
            let _ = tx.send((
                s.id().to_string(),
                matches!(e, SparkError::SlowPeer(_)),
                e.to_string(),
            ));
        });
    });
    let (gone_tx, mut gone) = mpsc::unbounded_channel();
    server.primus.on_disconnection(move |s| {
        let _ = gone_tx.send(s.id().to_string());
    });

    let _slow = RawWs::connect(server.addr, "/primus", "").await;
    let slow = next_spark(&mut new_sparks).await;
    let mut fast = RawWs::connect(server.addr, "/primus", "").await;
    let fast_spark = next_spark(&mut new_sparks).await;
    fill(&slow).await;

    let queued = server.primus.write(&"news").unwrap();
    assert_eq!(queued, 1, "queued for the fast spark only");
    let (id, slow_peer, msg) = within("the slow peer error", errors.recv()).await.unwrap();
    assert_eq!(id, slow.id());
    assert!(slow_peer, "{msg}");
    assert_eq!(
        within("disconnection", gone.recv()).await.unwrap(),
        slow.id()
    );
    assert!(!slow.is_open());
    assert!(fast_spark.is_open());
    assert_eq!(server.primus.connected(), 1);
    assert_eq!(fast.read_frame().await.bytes(), b"\x81\x06\"news\"");
}

#[tokio::test]
async fn send_waits_for_room_and_completes_once_the_peer_reads() {
    let server = TestServer::start(slow_options()).await;
    let mut new_sparks = sparks(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    fill(&spark).await;

    let sender = spark.clone();
    let mut send = tokio::spawn(async move { sender.send(&"last").await });
    // Still waiting: nobody reads.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut send)
            .await
            .is_err(),
        "send must wait while the queue is full"
    );
    // The client reads everything; the send completes and "last" arrives, in order.
    let reader = tokio::spawn(async move {
        let mut frames = 0usize;
        loop {
            let f = ws.read_frame().await;
            frames += 1;
            if f.payload == b"\"last\"" {
                return frames;
            }
            assert_eq!(f.payload.len(), 64 * 1024 + 2, "chunks before `last`");
        }
    });
    within("send to complete", send)
        .await
        .unwrap()
        .expect("sent");
    let frames = within_for(Duration::from_secs(20), "the last message", reader)
        .await
        .unwrap();
    assert!(frames > 4);
    assert!(spark.is_open());
}

#[tokio::test]
async fn a_stalled_socket_is_dropped_after_write_timeout() {
    let timeout = Duration::from_millis(300);
    let server = TestServer::start(quiet().queue_size(4).write_timeout(timeout)).await;
    let mut new_sparks = sparks(&server.primus);
    let (tx, mut errors) = mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(matches!(e, SparkError::SlowPeer(_)));
        });
    });
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    let client = ws.tcp.local_addr().unwrap();
    let spark = next_spark(&mut new_sparks).await;

    // Write until the socket stalls; the spark must then end on its own.
    let chunk = chunk();
    let started = Instant::now();
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
    assert!(started.elapsed() >= timeout);
    assert_eq!(server.primus.connected(), 0);
    wait_until(WAIT, "the socket to be released", || {
        !server_holds_socket(server.addr, client)
    })
    .await;
    drop(ws);
}

#[tokio::test]
async fn a_slow_stream_consumer_pauses_reading_without_losing_messages() {
    let server = TestServer::start(quiet()).await;
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
async fn ending_a_spark_with_a_backlog_releases_the_socket_of_a_peer_that_never_reads() {
    // end() with a last message bigger than the socket buffers, to a peer that neither reads
    // nor closes: the server gives up on the drain after `write_timeout` and closes the
    // socket (as `drive` does for stalled writes), instead of holding it until the peer's
    // TCP stack times out. (Regression test: the drain used to wait forever.)
    let write_timeout = Duration::from_millis(300);
    let server = TestServer::start(quiet().write_timeout(write_timeout)).await;
    let mut new_sparks = sparks(&server.primus);
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    let client = ws.tcp.local_addr().unwrap();
    let spark = next_spark(&mut new_sparks).await;

    let big = "y".repeat(8 * 1024 * 1024);
    spark.end(Some(&big), false);
    assert!(!spark.is_open());
    // write_timeout for the drain, 2 s for the close handshake, and slack.
    wait_until(
        write_timeout + Duration::from_secs(4),
        "the server to release the socket",
        || !server_holds_socket(server.addr, client),
    )
    .await;
    drop(ws);
}
