//! The Rust client against our own server, in one process: `Client::from_server` takes the
//! server's pathname, parser and ping interval.

use futures_util::StreamExt;
use primus::client::{Backoff, Client, ClientEvent, ClientOptions};
use primus::{Options, Primus, Server, Value};
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
