//! The Rust client against small hand-written servers on 127.0.0.1 that misbehave on
//! purpose: never ping, send garbage, send oversize frames, refuse or stall the upgrade.

use futures_util::{SinkExt, StreamExt};
use primus::client::{Backoff, Client, ClientError, ClientEvent, ClientOptions, Strategy};
use serde_json::{json, Value as Json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};
use tokio_tungstenite::tungstenite::Message as Ws;

const WAIT: Duration = Duration::from_secs(10);

/// What a test server does with each accepted WebSocket.
type Script = fn(usize) -> Vec<Ws>;

/// A WebSocket server that sends `script(n)` on its `n`th connection (from 0), then keeps
/// the socket open and reports every text frame it receives. Returns its URL.
async fn ws_server(script: Script) -> (String, mpsc::UnboundedReceiver<(usize, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = listener.accept().await {
            let tx = tx.clone();
            let index = n;
            n += 1;
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                    return;
                };
                let _ = tx.send((index, "<connected>".to_string()));
                for message in script(index) {
                    if ws.send(message).await.is_err() {
                        return;
                    }
                }
                while let Some(Ok(message)) = ws.next().await {
                    if let Ws::Text(text) = message {
                        let _ = tx.send((index, text.to_string()));
                    }
                }
                let _ = tx.send((index, "<closed>".to_string()));
            });
        }
    });
    (url, rx)
}

async fn wait_event(
    events: &mut broadcast::Receiver<ClientEvent>,
    what: &str,
    pred: impl Fn(&ClientEvent) -> bool,
) -> (ClientEvent, Vec<ClientEvent>) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        match timeout(
            deadline.saturating_duration_since(Instant::now()),
            events.recv(),
        )
        .await
        {
            Err(_) => panic!("timed out waiting for {what}; saw {seen:#?}"),
            Ok(Err(RecvError::Lagged(n))) => panic!("lagged {n} events waiting for {what}"),
            Ok(Err(RecvError::Closed)) => {
                panic!("event channel closed waiting for {what}; saw {seen:#?}")
            }
            Ok(Ok(event)) if pred(&event) => return (event, seen),
            Ok(Ok(event)) => seen.push(event),
        }
    }
}

async fn server_saw(rx: &mut mpsc::UnboundedReceiver<(usize, String)>, expected: (usize, &str)) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = timeout(
            deadline.saturating_duration_since(Instant::now()),
            rx.recv(),
        )
        .await
        .unwrap_or_else(|_| panic!("server never saw {expected:?}"))
        .expect("server gone");
        if got.0 == expected.0 && got.1 == expected.1 {
            return;
        }
    }
}

fn fast() -> Backoff {
    Backoff {
        min: Duration::from_millis(20),
        max: Some(Duration::from_millis(100)),
        ..Backoff::default()
    }
}

fn text(s: &str) -> Ws {
    Ws::Text(s.into())
}

#[tokio::test]
async fn a_server_that_never_pings_is_detected_offline_and_replaced() {
    let (url, mut seen) = ws_server(|_| Vec::new()).await;
    let options = ClientOptions {
        ping_timeout: Some(Duration::from_millis(300)),
        reconnect: fast(),
        ..Default::default()
    };
    let started = Instant::now();
    let client = Client::new(&url, options).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    let (_, before) = wait_event(&mut events, "offline", |e| {
        matches!(e, ClientEvent::Offline)
    })
    .await;
    assert!(before.is_empty(), "{before:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    // protocol.md §6.4: offline → readyStateChange end → close → reconnect scheduled → … →
    // reconnected → online → open.
    let (_, between) =
        wait_event(&mut events, "online", |e| matches!(e, ClientEvent::Online)).await;
    assert!(
        matches!(
            between[0],
            ClientEvent::ReadyStateChange(primus::client::ReadyState::Closed)
        ),
        "{between:?}"
    );
    assert!(matches!(between[1], ClientEvent::Close), "{between:?}");
    assert!(
        matches!(between[2], ClientEvent::ReconnectScheduled(_)),
        "{between:?}"
    );
    assert!(
        matches!(between.last(), Some(ClientEvent::Reconnected(_))),
        "{between:?}"
    );
    wait_event(&mut events, "open", |e| matches!(e, ClientEvent::Open)).await;
    // The old connection was closed and a new one made.
    server_saw(&mut seen, (0, "<closed>")).await;
    server_saw(&mut seen, (1, "<connected>")).await;
}

#[tokio::test]
async fn pings_keep_a_quiet_connection_alive_and_pongs_echo_the_value() {
    fn script(_: usize) -> Vec<Ws> {
        vec![text("\"primus::ping::123\""), text("\"primus::ping::007\"")]
    }
    let (url, mut seen) = ws_server(script).await;
    let client = Client::new(
        &url,
        ClientOptions {
            ping_timeout: Some(Duration::from_secs(5)),
            ..Default::default()
        },
    )
    .unwrap();
    server_saw(&mut seen, (0, "\"primus::pong::123\"")).await;
    // JavaScript's String(+"007").
    server_saw(&mut seen, (0, "\"primus::pong::7\"")).await;
    drop(client);
    // Dropping the client closes its connection.
    server_saw(&mut seen, (0, "<closed>")).await;
}

#[tokio::test]
async fn bad_frames_are_reported_and_the_connection_kept() {
    fn script(_: usize) -> Vec<Ws> {
        vec![
            text("{not json"),
            text("\"primus::custom::thing\""),
            text("\"primus::ping\""),           // no second `::`: user data
            text("\"primus::server::other\""),  // known type, swallowed
            Ws::Binary(vec![1u8, 2, 3].into()), // JSON parser passes binary through
            text("{\"ok\":true}"),
        ]
    }
    let (url, mut seen) = ws_server(script).await;
    let mut client = Client::new(&url, ClientOptions::default()).unwrap();
    let mut events = client.events();
    let (error, _) = wait_event(&mut events, "decode error", |e| {
        matches!(e, ClientEvent::Error(_))
    })
    .await;
    assert!(
        matches!(error, ClientEvent::Error(ClientError::Decode(_))),
        "{error:?}"
    );
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = timeout(WAIT, client.next()).await.unwrap().unwrap();
        got.push(m.into_value());
    }
    assert_eq!(got[0], primus::Value::from("primus::custom::thing"));
    assert_eq!(got[1], primus::Value::from("primus::ping"));
    assert_eq!(got[2], primus::Value::Binary(vec![1u8, 2, 3].into()));
    assert_eq!(
        primus::from_value::<Json>(got[3].clone()).unwrap(),
        json!({"ok": true})
    );
    // Still the same connection, still writable.
    client.write("after").unwrap();
    server_saw(&mut seen, (0, "\"after\"")).await;
    sleep(Duration::from_millis(100)).await;
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, ClientEvent::Close | ClientEvent::Offline),
            "{event:?}"
        );
    }
}

#[tokio::test]
async fn an_oversize_message_drops_the_connection_and_the_client_reconnects() {
    fn script(n: usize) -> Vec<Ws> {
        if n == 0 {
            vec![text(&format!("\"{}\"", "x".repeat(2048)))]
        } else {
            vec![text("\"small\"")]
        }
    }
    let (url, _seen) = ws_server(script).await;
    let mut options = ClientOptions {
        reconnect: fast(),
        ..Default::default()
    };
    options.transport.websockets.max_message_size = Some(1024);
    options.transport.websockets.max_frame_size = Some(1024);
    let mut client = Client::new(&url, options).unwrap();
    let mut events = client.events();
    let (error, _) = wait_event(&mut events, "error", |e| matches!(e, ClientEvent::Error(_))).await;
    assert!(
        matches!(error, ClientEvent::Error(ClientError::Transport(_))),
        "{error:?}"
    );
    wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    let m = timeout(WAIT, client.next()).await.unwrap().unwrap();
    assert_eq!(m.decode::<String>().unwrap(), "small");
}

/// A TCP server that answers each connection with `response` (raw bytes) and closes.
async fn raw_server(response: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp.write_all(response).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    url
}

const UNAUTHORIZED: &[u8] =
    b"HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"error\":\"I failed\"}";

#[tokio::test]
async fn a_refused_upgrade_ends_the_client_when_the_strategy_lacks_timeout() {
    let url = raw_server(UNAUTHORIZED).await;
    let options = ClientOptions {
        strategy: "disconnect,online".parse().unwrap(),
        ..Default::default()
    };
    let mut client = Client::new(&url, options).unwrap();
    let mut events = client.events();
    let (_, before) = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    let error = before.iter().find_map(|e| match e {
        ClientEvent::Error(err) => Some(err.clone()),
        _ => None,
    });
    assert!(
        matches!(&error, Some(ClientError::Connect(m)) if m.contains("401")),
        "{before:?}"
    );
    assert!(
        !before
            .iter()
            .any(|e| matches!(e, ClientEvent::ReconnectScheduled(_))),
        "{before:?}"
    );
    assert!(timeout(WAIT, client.next()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_refused_upgrade_is_retried_with_the_timeout_strategy() {
    let url = raw_server(UNAUTHORIZED).await;
    let options = ClientOptions {
        reconnect: Backoff {
            retries: 2,
            ..fast()
        },
        ..Default::default()
    };
    let client = Client::new(&url, options).unwrap();
    let mut events = client.events();
    let (_, before) = wait_event(&mut events, "reconnect failed", |e| {
        matches!(e, ClientEvent::ReconnectFailed(_))
    })
    .await;
    assert_eq!(
        before
            .iter()
            .filter(|e| matches!(e, ClientEvent::ReconnectScheduled(_)))
            .count(),
        2
    );
}

#[tokio::test]
async fn garbage_and_early_close_during_the_handshake_are_errors_not_panics() {
    for response in [
        &b"garbage\r\n\r\n"[..],
        b"",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
    ] {
        let url = raw_server(Box::leak(response.to_vec().into_boxed_slice())).await;
        let options = ClientOptions {
            strategy: Strategy::NONE,
            ..Default::default()
        };
        let client = Client::new(&url, options).unwrap();
        let mut events = client.events();
        let (_, before) = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
        assert!(
            before
                .iter()
                .any(|e| matches!(e, ClientEvent::Error(ClientError::Connect(_)))),
            "{before:?}"
        );
    }
}

#[tokio::test]
async fn a_stalled_upgrade_hits_the_connect_timeout_then_reconnects() {
    // Accepts TCP and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn({
        let accepted = accepted.clone();
        async move {
            // Hold every socket open without answering.
            let mut held: Vec<TcpStream> = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp);
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
    });
    let options = ClientOptions {
        timeout: Some(Duration::from_millis(200)),
        reconnect: Backoff {
            timeout: Duration::from_millis(200),
            retries: 1,
            ..fast()
        },
        ..Default::default()
    };
    let client = Client::new(&url, options).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "timeout", |e| {
        matches!(e, ClientEvent::Timeout)
    })
    .await;
    wait_event(&mut events, "reconnect scheduled", |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    wait_event(&mut events, "reconnect timeout", |e| {
        matches!(e, ClientEvent::ReconnectTimeout(_))
    })
    .await;
    wait_event(&mut events, "reconnect failed", |e| {
        matches!(e, ClientEvent::ReconnectFailed(_))
    })
    .await;
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn destroy_and_end_stop_a_reconnect_loop() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let options = ClientOptions {
        reconnect: Backoff {
            min: Duration::from_secs(60),
            ..Backoff::default()
        },
        ..Default::default()
    };
    let client = Client::new(&format!("http://127.0.0.1:{port}"), options.clone()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "scheduled", |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    client.destroy();
    let (_, before) = wait_event(&mut events, "destroy", |e| {
        matches!(e, ClientEvent::Destroy)
    })
    .await;
    assert!(matches!(before[..], [ClientEvent::End]), "{before:?}");
    timeout(WAIT, client.closed()).await.unwrap();
    assert!(client.write("x").is_err());
    assert!(!client.open());

    // end() while a reconnect is scheduled: `end` only (no connection to close), and an
    // id() that was waiting fails instead of hanging.
    let client =
        std::sync::Arc::new(Client::new(&format!("http://127.0.0.1:{port}"), options).unwrap());
    let mut events = client.events();
    wait_event(&mut events, "scheduled", |e| {
        matches!(e, ClientEvent::ReconnectScheduled(_))
    })
    .await;
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.id().await }
    });
    sleep(Duration::from_millis(50)).await;
    client.end();
    let result = timeout(WAIT, waiting).await.unwrap().unwrap();
    assert_eq!(result, Err(ClientError::Closed));
    let (_, before) = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(before.is_empty(), "{before:?}");
    timeout(WAIT, client.closed()).await.unwrap();
}

#[tokio::test]
async fn invalid_urls_and_options_are_rejected_up_front() {
    for url in ["localhost:8080", "ftp://x", "http://"] {
        assert!(
            matches!(
                Client::new(url, ClientOptions::default()),
                Err(ClientError::InvalidUrl(_))
            ),
            "{url}"
        );
    }
    let bad = ClientOptions {
        transformer: "no-such-transformer".into(),
        ..Default::default()
    };
    assert!(matches!(
        Client::new("http://127.0.0.1:1", bad),
        Err(ClientError::UnsupportedTransformer(_))
    ));
    let wss = Client::new(
        "wss://127.0.0.1:1",
        ClientOptions {
            strategy: Strategy::NONE,
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = wss.events();
    let (_, before) = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        before.iter().any(|e| matches!(e, ClientEvent::Error(_))),
        "{before:?}"
    );
}
