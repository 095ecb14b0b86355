//! The server heartbeat (protocol.md §2.3, §8): dead peers are dropped within
//! 2×`ping_interval` with reconnect semantics, live ones stay, any incoming frame counts
//! as a sign of life (beyond the reference), and legacy clients that ping the server
//! themselves are answered and not pinged.

mod server_support;

use futures_util::{SinkExt, StreamExt};
use server_support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const INTERVAL: Duration = Duration::from_millis(200);
/// Scheduling slack on a busy 2-core machine.
const SLACK: Duration = Duration::from_millis(400);

fn beating() -> primus::Options {
    primus::Options::default().ping_interval(Some(INTERVAL))
}

/// Send the instant of each disconnection.
fn disconnections(primus: &primus::Primus) -> mpsc::UnboundedReceiver<(String, Instant)> {
    let (tx, rx) = mpsc::unbounded_channel();
    primus.on_disconnection(move |spark| {
        let _ = tx.send((spark.id().to_string(), Instant::now()));
    });
    rx
}

/// Count heartbeats of every spark.
fn heartbeats(primus: &primus::Primus) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    primus.on_connection(move |spark| {
        let c = c.clone();
        spark.on_heartbeat(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
        });
    });
    count
}

#[tokio::test]
async fn a_peer_that_never_answers_is_dropped_within_two_intervals() {
    let server = TestServer::start(beating()).await;
    let mut gone = disconnections(&server.primus);
    let mut new_sparks = sparks(&server.primus);
    let connected_at = Instant::now();
    // Keeps the socket open, reads nothing, answers nothing.
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut new_sparks).await;
    assert_eq!(server.primus.connected(), 1);

    let (id, at) = within("the disconnection", gone.recv()).await.unwrap();
    assert_eq!(id, spark.id());
    let after = at - connected_at;
    assert!(after >= INTERVAL, "dropped too early: {after:?}");
    assert!(after <= 2 * INTERVAL + SLACK, "dropped too late: {after:?}");
    assert_eq!(server.primus.connected(), 0);
    assert!(server.primus.spark(spark.id()).is_none(), "resources freed");
    assert!(!spark.is_open());

    // On the wire: pings, then a bare close (reconnect semantics: no server::close).
    let frames = ws.read_to_eof().await;
    let (close, pings) = frames.split_last().expect("frames");
    assert_eq!(close.bytes(), [0x88, 0x00]);
    assert!(!pings.is_empty());
    for p in pings {
        assert_eq!(p.header, [0x81, 0x1d]);
        assert!(p.text().starts_with("\"primus::ping::"), "{:?}", p.text());
    }
}

#[tokio::test]
async fn a_peer_that_answers_pongs_stays_connected() {
    let server = TestServer::start(beating()).await;
    let beats = heartbeats(&server.primus);
    let mut gone = disconnections(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;

    let pings = Arc::new(AtomicUsize::new(0));
    let p = pings.clone();
    let client = tokio::spawn(async move {
        while let Some(Ok(msg)) = ws.next().await {
            if let WsMessage::Text(t) = msg {
                let t = t.as_str();
                if let Some(ms) = t
                    .strip_prefix("\"primus::ping::")
                    .and_then(|r| r.strip_suffix('"'))
                {
                    p.fetch_add(1, Ordering::SeqCst);
                    let pong = format!("\"primus::pong::{ms}\"");
                    if ws.send(WsMessage::text(pong)).await.is_err() {
                        break;
                    }
                }
            }
        }
    });

    tokio::time::sleep(5 * INTERVAL + INTERVAL / 2).await;
    assert_eq!(server.primus.connected(), 1);
    assert!(gone.try_recv().is_err(), "not disconnected");
    assert!(pings.load(Ordering::SeqCst) >= 4, "pinged every interval");
    assert!(
        beats.load(Ordering::SeqCst) >= 4,
        "heartbeat event per pong"
    );
    client.abort();
}

#[tokio::test]
async fn a_peer_busy_sending_data_is_not_dropped_for_missing_pongs() {
    // Beyond the reference (which drops it after two intervals): any frame is a sign of
    // life, so a client busy uploading is never dropped for a late pong.
    let server = TestServer::start(beating()).await;
    let received = Arc::new(AtomicUsize::new(0));
    let r = received.clone();
    server.primus.on_connection(move |spark| {
        let r = r.clone();
        spark.on_data(move |_, _| {
            r.fetch_add(1, Ordering::SeqCst);
        });
    });
    let mut gone = disconnections(&server.primus);
    // Writes only, never reads (so it never sees, let alone answers, a ping).
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let until = Instant::now() + 5 * INTERVAL + INTERVAL / 2;
    while Instant::now() < until {
        ws.send_text("\"busy\"").await;
        tokio::time::sleep(INTERVAL / 4).await;
    }
    assert_eq!(server.primus.connected(), 1);
    assert!(gone.try_recv().is_err(), "not disconnected");
    assert!(received.load(Ordering::SeqCst) >= 15);
}

#[tokio::test]
async fn websocket_ping_frames_count_as_heartbeats() {
    // The reference (ws transformer) treats a protocol-level ping as a pong.
    let server = TestServer::start(beating()).await;
    let beats = heartbeats(&server.primus);
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let until = Instant::now() + 5 * INTERVAL;
    while Instant::now() < until {
        ws.send_frame(0x9, b"hb").await;
        tokio::time::sleep(INTERVAL / 2).await;
    }
    assert_eq!(server.primus.connected(), 1);
    assert!(beats.load(Ordering::SeqCst) >= 5);
    // The server answers each ping frame with a pong frame carrying the same payload.
    let mut saw_pong = false;
    for _ in 0..20 {
        let f = ws.read_frame().await;
        if f.opcode() == 0xA {
            assert_eq!(f.bytes(), [0x8a, 0x02, b'h', b'b']);
            saw_pong = true;
            break;
        }
    }
    assert!(saw_pong);
}

#[tokio::test]
async fn a_legacy_client_is_answered_and_not_pinged() {
    let server = TestServer::start(beating()).await;
    let (tx, mut data) = mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_data(move |_, msg| {
            let _ = tx.send(msg.value().clone());
        });
    });
    let mut gone = disconnections(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;

    ws_send(&mut ws, "\"primus::ping::123\"").await;
    let first = within("the pong", ws.next()).await.unwrap().unwrap();
    assert_eq!(first, WsMessage::text("\"primus::pong::123\""));

    // Keep pinging like a Primus 6 client (more often than the interval); the server must
    // answer each and never send its own pings.
    let until = Instant::now() + 4 * INTERVAL;
    let mut n = 1000u64;
    while Instant::now() < until {
        n += 1;
        ws_send(&mut ws, &format!("\"primus::ping::{n}\"")).await;
        let got = within("a pong", ws.next()).await.unwrap().unwrap();
        assert_eq!(got, WsMessage::text(format!("\"primus::pong::{n}\"")));
        tokio::time::sleep(INTERVAL / 2).await;
    }
    // Nothing else is pending: no server ping was sent meanwhile. (Not much longer than
    // this: a legacy client's own pings are what keeps it alive.)
    let extra = tokio::time::timeout(INTERVAL / 2, ws.next()).await;
    assert!(
        extra.is_err(),
        "no server pings to a legacy client: {extra:?}"
    );
    assert_eq!(server.primus.connected(), 1);
    assert!(gone.try_recv().is_err());
    assert!(data.try_recv().is_err(), "pings are not data");
}

#[tokio::test]
async fn unknown_protocol_messages_are_data() {
    // protocol.md §2.1 rule 4: unknown types are emitted as data on both sides.
    let server = TestServer::start(quiet()).await;
    let (tx, mut data) = mpsc::unbounded_channel();
    server.primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_data(move |_, msg| {
            let _ = tx.send(msg.value().as_str().map(str::to_owned));
        });
    });
    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    for msg in [
        "primus::custom::x",
        // The server only knows pong, id (and ping, for legacy clients).
        "primus::server::close",
        // No second `::`: a broken type, user data.
        "primus::pong",
        "primus:",
    ] {
        ws_send(&mut ws, &serde_json::to_string(msg).unwrap()).await;
        let got = within("data", data.recv()).await.unwrap();
        assert_eq!(got.as_deref(), Some(msg));
    }
    // A known message is swallowed: the next data is the marker.
    ws_send(&mut ws, "\"primus::pong::1\"").await;
    ws_send(&mut ws, "\"marker\"").await;
    let got = within("data", data.recv()).await.unwrap();
    assert_eq!(got.as_deref(), Some("marker"));
}

#[tokio::test]
async fn no_pings_and_no_drops_when_heartbeats_are_off() {
    let server = TestServer::start(quiet()).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let frame = tokio::time::timeout(Duration::from_millis(600), ws.try_read_frame()).await;
    assert!(frame.is_err(), "nothing sent: {frame:?}");
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn many_silent_peers_are_all_dropped() {
    let server = TestServer::start(beating()).await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(RawWs::connect(server.addr, "/primus", "").await);
    }
    wait_until(WAIT, "20 sparks", || server.primus.connected() == 20).await;
    wait_until(2 * INTERVAL + 2 * SLACK, "all dropped", || {
        server.primus.connected() == 0
    })
    .await;
}

#[tokio::test]
async fn a_dead_peers_socket_is_released() {
    // The peer neither reads, answers pings, nor completes the close handshake: after the
    // heartbeat drops it, the server must let go of the socket on its own (bounded close
    // handshake), not keep it until the peer's TCP stack gives up.
    let server = TestServer::start(beating()).await;
    let mut gone = disconnections(&server.primus);
    let ws = RawWs::connect(server.addr, "/primus", "").await;
    let client = ws.tcp.local_addr().unwrap();
    assert!(server_holds_socket(server.addr, client));
    within("the disconnection", gone.recv()).await.unwrap();
    wait_until(
        Duration::from_secs(5),
        "the server to release the socket",
        || !server_holds_socket(server.addr, client),
    )
    .await;
    drop(ws);
}

#[tokio::test]
async fn a_legacy_client_that_stops_pinging_is_dropped() {
    let server = TestServer::start(beating()).await;
    let mut gone = disconnections(&server.primus);
    let mut ws = ws_connect(&server.ws_url("/primus")).await;
    ws_send(&mut ws, "\"primus::ping::1\"").await;
    let started = Instant::now();
    within("the pong", ws.next()).await.unwrap().unwrap();
    within("the disconnection", gone.recv()).await.unwrap();
    assert!(started.elapsed() <= 2 * INTERVAL + SLACK);
}
