//! The Rust client against our own server, in one process: `Client::from_server` takes the
//! server's pathname, parser and ping interval.

use futures_util::StreamExt;
use primus::client::{Backoff, Client, ClientEvent, ClientOptions};
use primus::{Options, Primus, Server, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn start(opts: Options) -> (Primus, String) {
    let primus = Primus::new(opts).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| match msg.value().as_str() {
            Some("end") => spark.end(Some(&"bye"), false),
            Some("drop") => spark.close(true),
            _ => {
                let _ = spark.write(msg.value());
            }
        });
    });
    let running = Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let url = format!("http://{}", running.local_addr());
    tokio::spawn(running.run_until(std::future::pending()));
    (primus, url)
}

fn fast_reconnect() -> ClientOptions {
    ClientOptions {
        reconnect: Backoff {
            min: Duration::from_millis(20),
            max: Some(Duration::from_millis(100)),
            ..Backoff::default()
        },
        ..ClientOptions::default()
    }
}

async fn wait_for(
    events: &mut broadcast::Receiver<ClientEvent>,
    pred: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(ev) if pred(&ev) => return ev,
                Ok(_) => {}
                Err(e) => panic!("event stream failed: {e}"),
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

#[tokio::test]
async fn messages_and_id_round_trip() {
    let (primus, url) = start(Options::default()).await;
    let mut client = Client::from_server(&primus, &url, ClientOptions::default()).unwrap();
    let values = [
        serde_json::json!("ünïcödé ☃ 😀"),
        serde_json::json!({"a": [1, {"b": null}], "c": "d"}),
        serde_json::json!(0),
        serde_json::json!(""),
        serde_json::json!(null),
    ];
    for v in &values {
        client.write(v).unwrap();
    }
    for v in &values {
        let msg = timeout(WAIT, client.next()).await.unwrap().unwrap();
        assert_eq!(&msg.decode::<serde_json::Value>().unwrap(), v);
    }
    let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
    assert!(primus.spark(&id).is_some(), "id() must name a live spark");
    client.end();
}

#[tokio::test]
async fn heartbeats_keep_the_connection() {
    let (primus, url) =
        start(Options::default().ping_interval(Some(Duration::from_millis(100)))).await;
    let client = Client::from_server(&primus, &url, ClientOptions::default()).unwrap();
    assert_eq!(
        client.options().ping_timeout,
        Some(Duration::from_millis(150))
    );
    let mut events = client.events();
    wait_for(&mut events, |e| matches!(e, ClientEvent::Open)).await;
    let id = client.id().await.unwrap();
    let mut pongs = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    while let Ok(ev) = tokio::time::timeout_at(deadline, events.recv()).await {
        match ev.unwrap() {
            ClientEvent::Pong(_) => pongs += 1,
            ev @ (ClientEvent::Close | ClientEvent::Offline) => {
                panic!("connection dropped: {ev:?}")
            }
            _ => {}
        }
    }
    assert!(
        pongs >= 4,
        "only {pongs} pongs in 800 ms at a 100 ms interval"
    );
    assert_eq!(client.id().await.unwrap(), id, "same connection throughout");
    client.end();
}

#[tokio::test]
async fn server_end_ends_the_client_and_reconnect_makes_a_new_spark() {
    let (primus, url) = start(Options::default()).await;
    let mut client = Client::from_server(&primus, &url, fast_reconnect()).unwrap();
    let mut events = client.events();
    wait_for(&mut events, |e| matches!(e, ClientEvent::Open)).await;
    let first = client.id().await.unwrap();

    // end(reconnect: true): the client comes back as a new spark.
    client.write(&"drop").unwrap();
    wait_for(&mut events, |e| matches!(e, ClientEvent::Reconnected(_))).await;
    let second = client.id().await.unwrap();
    assert_ne!(first, second);

    // end("bye"): the last message arrives, then the client ends for good.
    client.write(&"end").unwrap();
    let bye = timeout(WAIT, client.next()).await.unwrap().unwrap();
    assert_eq!(bye.value(), &Value::from("bye"));
    wait_for(&mut events, |e| matches!(e, ClientEvent::End)).await;
    assert!(
        timeout(WAIT, client.next()).await.unwrap().is_none(),
        "stream ends"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(primus.connected(), 0);
}

#[tokio::test]
async fn a_restarted_server_gets_its_clients_back() {
    let primus = Primus::new(Options::default()).unwrap();
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        })
    });
    let running = Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    let addr = running.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let first = tokio::spawn(running.run_until(async {
        let _ = stopped.await;
    }));
    let mut client =
        Client::from_server(&primus, &format!("http://{addr}"), fast_reconnect()).unwrap();
    let mut events = client.events();
    wait_for(&mut events, |e| matches!(e, ClientEvent::Open)).await;

    // Graceful shutdown ends sparks with `reconnect`: the client waits for a new server.
    drop(stop);
    timeout(WAIT, first).await.unwrap().unwrap().unwrap();
    wait_for(&mut events, |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    let again = Primus::new(Options::default()).unwrap();
    again.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        })
    });
    let running = Server::bind(again.clone(), addr)
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap();
    tokio::spawn(running.run_until(std::future::pending()));
    wait_for(&mut events, |e| matches!(e, ClientEvent::Reconnected(_))).await;
    client.write(&"after restart").unwrap();
    let msg = timeout(WAIT, client.next()).await.unwrap().unwrap();
    assert_eq!(msg.value(), &Value::from("after restart"));
    assert_eq!(again.connected(), 1);
    client.end();
}

#[tokio::test]
async fn a_refused_client_ends_when_its_strategy_lacks_timeout() {
    let (primus, url) = start(Options::default()).await;
    primus.authorize(|_req| async { Err(primus::middleware::AuthError::new("go away")) });
    // from_server drops `timeout` from the default strategy when the server authorizes,
    // like the library the reference compiles.
    let client = Client::from_server(&primus, &url, fast_reconnect()).unwrap();
    assert!(!client.options().strategy.timeout);
    let mut events = client.events();
    let err = wait_for(&mut events, |e| matches!(e, ClientEvent::Error(_))).await;
    assert!(format!("{err:?}").contains("401"), "{err:?}");
    wait_for(&mut events, |e| matches!(e, ClientEvent::End)).await;
    assert_eq!(primus.connected(), 0);
}

/// A TCP relay in front of the server that can freeze: it stops moving bytes without
/// closing anything (a stalled server, as a hung process or a dead route looks).
struct Relay {
    addr: std::net::SocketAddr,
    frozen: Arc<std::sync::atomic::AtomicBool>,
}

async fn pump<R, W>(mut r: R, mut w: W, frozen: Arc<std::sync::atomic::AtomicBool>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Frozen: hold the bytes (and the socket) without a word, for at most 30 s.
        for _ in 0..3000 {
            if !frozen.load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Relay {
    async fn start(target: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = frozen.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                tokio::spawn(pump(ri, wo, f.clone()));
                tokio::spawn(pump(ro, wi, f.clone()));
            }
        });
        Relay { addr, frozen }
    }

    fn freeze(&self, on: bool) {
        self.frozen.store(on, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_stalled_server_is_detected_and_the_client_recovers() {
    let (primus, url) =
        start(Options::default().ping_interval(Some(Duration::from_millis(100)))).await;
    let server_addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let relay = Relay::start(server_addr).await;
    let mut client =
        Client::from_server(&primus, &format!("http://{}", relay.addr), fast_reconnect()).unwrap();
    let ping_timeout = client.options().ping_timeout.unwrap();
    let mut events = client.events();
    wait_for(&mut events, |e| matches!(e, ClientEvent::Open)).await;
    let first = client.id().await.unwrap();

    relay.freeze(true);
    let frozen_at = tokio::time::Instant::now();
    wait_for(&mut events, |e| matches!(e, ClientEvent::Offline)).await;
    let noticed = frozen_at.elapsed();
    assert!(
        noticed <= ping_timeout + Duration::from_millis(150),
        "offline after {noticed:?} with a {ping_timeout:?} ping timeout"
    );
    relay.freeze(false);
    wait_for(&mut events, |e| matches!(e, ClientEvent::Online)).await;
    client.write(&"back").unwrap();
    let msg = timeout(WAIT, client.next()).await.unwrap().unwrap();
    assert_eq!(msg.value(), &Value::from("back"));
    assert_ne!(
        client.id().await.unwrap(),
        first,
        "a new spark after recovery"
    );
    client.end();
}
