//! Server and spark lifecycles (protocol.md §2.5): `destroy` with `close`, `reconnect`
//! and `timeout`; graceful shutdown of the standalone server; `end`/`disconnection`
//! events; async connection listeners.

mod server_support;

use primus::{DestroyOptions, SparkError};
use server_support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

fn count_disconnections(primus: &primus::Primus) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    primus.on_disconnection(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    n
}

async fn connect_many(server: &TestServer, n: usize) -> Vec<RawWs> {
    let mut v = Vec::new();
    for _ in 0..n {
        v.push(RawWs::connect(server.addr, "/primus", "").await);
    }
    wait_until(WAIT, "all sparks", || server.primus.connected() == n).await;
    v
}

#[tokio::test]
async fn destroy_sends_server_close_to_every_spark_and_stops_the_listener() {
    let server = TestServer::start(quiet()).await;
    let gone = count_disconnections(&server.primus);
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    server.primus.on_close(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    let mut clients = connect_many(&server, 3).await;

    server.primus.destroy(DestroyOptions {
        reconnect: false,
        ..DestroyOptions::default()
    });
    assert!(server.primus.is_destroyed());
    for ws in &mut clients {
        let frames: Vec<Vec<u8>> = ws.read_to_eof().await.iter().map(RawFrame::bytes).collect();
        assert_eq!(
            frames,
            [
                b"\x81\x17\"primus::server::close\"".to_vec(),
                vec![0x88, 0x00]
            ]
        );
    }
    assert_eq!(gone.load(Ordering::SeqCst), 3);
    assert_eq!(closed.load(Ordering::SeqCst), 1);
    assert_eq!(server.primus.connected(), 0);

    // `close` (the default) stops the standalone listener: run_until returns.
    let addr = server.addr;
    server.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn destroy_twice_runs_once() {
    let server = TestServer::start(quiet()).await;
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    server.primus.on_close(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    server.primus.destroy(DestroyOptions::default());
    server.primus.destroy(DestroyOptions::default());
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn destroy_with_reconnect_sends_only_close_frames_and_refuses_new_sparks() {
    let server = TestServer::start(quiet()).await;
    let mut clients = connect_many(&server, 3).await;
    server.primus.destroy(DestroyOptions {
        reconnect: true,
        close: false,
        ..DestroyOptions::default()
    });
    for ws in &mut clients {
        let frames: Vec<Vec<u8>> = ws.read_to_eof().await.iter().map(RawFrame::bytes).collect();
        assert_eq!(frames, [vec![0x88, 0x00]]);
    }
    // Without `close` the listener keeps running, but a destroyed Primus takes no sparks.
    let res = RawWs::try_connect(server.addr, "/primus", "")
        .await
        .err()
        .expect("refused");
    assert!(res.status >= 500, "{}", res.status);
    assert_eq!(server.primus.connected(), 0);
    // Other requests are still answered.
    assert_eq!(http_get(server.addr, "/primus/spec", "").await.status, 200);
}

#[tokio::test]
async fn destroy_with_a_timeout_waits_first() {
    let server = TestServer::start(quiet()).await;
    let mut clients = connect_many(&server, 2).await;
    let started = Instant::now();
    server.primus.destroy(DestroyOptions {
        timeout: Some(Duration::from_millis(300)),
        close: false,
        ..DestroyOptions::default()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.primus.connected(), 2, "not yet");
    for ws in &mut clients {
        let frames = ws.read_to_eof().await;
        assert_eq!(frames.len(), 2, "server::close and close");
    }
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(server.primus.is_destroyed());
}

#[tokio::test]
async fn graceful_shutdown_closes_sparks_with_reconnect_and_returns() {
    let server = TestServer::start(quiet()).await;
    let gone = count_disconnections(&server.primus);
    let mut clients = connect_many(&server, 3).await;
    let addr = server.addr;

    // Also an idle keep-alive HTTP connection: shutdown must not wait on it forever.
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    idle.write_all(format!("GET /primus/spec HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = within("the spec", idle.read(&mut buf)).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));

    let started = Instant::now();
    server.shutdown().await.expect("run_until returns Ok");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "shutdown took {:?}",
        started.elapsed()
    );
    // Each client saw a bare close (restart semantics: clients reconnect).
    for ws in &mut clients {
        let frames: Vec<Vec<u8>> = ws.read_to_eof().await.iter().map(RawFrame::bytes).collect();
        assert_eq!(frames, [vec![0x88, 0x00]]);
    }
    assert_eq!(gone.load(Ordering::SeqCst), 3);
    // The idle HTTP connection was closed and the port is free.
    let n = within("EOF on the idle connection", idle.read(&mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn end_handlers_run_once_whoever_ends_the_spark() {
    let server = TestServer::start(quiet()).await;
    let ends = Arc::new(AtomicUsize::new(0));
    let e = ends.clone();
    server.primus.on_connection(move |spark| {
        let e = e.clone();
        spark.on_end(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        });
    });
    let gone = count_disconnections(&server.primus);
    let mut new_sparks = sparks(&server.primus);

    // Ended by the server, then by the client.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    spark.close(false);
    spark.close(false);
    ws.read_to_eof().await;
    // Ended by the client.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    next_spark(&mut new_sparks).await;
    ws.send_close().await;
    ws.read_to_eof().await;
    // The client vanishes.
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    next_spark(&mut new_sparks).await;
    drop(ws);

    wait_until(WAIT, "three ends", || ends.load(Ordering::SeqCst) == 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(ends.load(Ordering::SeqCst), 3);
    assert_eq!(gone.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn async_connection_listeners_run_before_messages_are_delivered() {
    let server = TestServer::start(quiet()).await;
    let (tx, mut order) = mpsc::unbounded_channel::<String>();
    let t = tx.clone();
    server.primus.on_connection_async(move |spark| {
        let t = t.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let _ = t.send("listener done".into());
            let t = t.clone();
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
}

#[tokio::test]
async fn a_failing_connection_listener_ends_the_spark() {
    let server = TestServer::start(quiet()).await;
    let (tx, mut errors) = mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(matches!(e, SparkError::Listener(_)));
        });
    });
    server
        .primus
        .on_connection_async(|_spark| async { Err("not welcome".into()) });
    let later = Arc::new(AtomicUsize::new(0));
    let l = later.clone();
    server.primus.on_connection(move |_| {
        l.fetch_add(1, Ordering::SeqCst);
    });
    let gone = count_disconnections(&server.primus);

    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    assert!(within("the error", errors.recv()).await.unwrap());
    let frames = ws.read_to_eof().await;
    assert_eq!(frames.last().map(RawFrame::opcode), Some(0x8));
    assert_eq!(later.load(Ordering::SeqCst), 0, "later listeners skipped");
    wait_until(WAIT, "the disconnection", || {
        gone.load(Ordering::SeqCst) == 1
    })
    .await;
    assert_eq!(server.primus.connected(), 0);
}
