//! The Rust client against the real Node Primus 8 server (`tests/interop/reference-server.mjs`,
//! npm `primus` 8.0.9, websockets transformer). Needs `node`; a missing node is a failure,
//! not a skip. `npm ci` is run in `tests/interop` when its `node_modules` is missing.

use futures_util::{SinkExt, StreamExt};
use primus::client::{Backoff, Client, ClientEvent, ClientOptions, Message, ReadyState};
use serde_json::{json, Value as Json};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::{sleep, timeout, Instant};

const WAIT: Duration = Duration::from_secs(10);

mod node_support;
use node_support::NodeServer;

fn fast_reconnect() -> Backoff {
    Backoff {
        min: Duration::from_millis(50),
        max: Some(Duration::from_millis(200)),
        ..Backoff::default()
    }
}

/// Wait for the first event matching `pred`, returning it and every event seen before it.
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

async fn next_message(client: &mut Client) -> Message {
    timeout(WAIT, client.next())
        .await
        .expect("timed out waiting for a message")
        .expect("stream ended")
}

async fn next_json(client: &mut Client) -> Json {
    next_message(client).await.decode::<Json>().unwrap()
}

async fn next_split(stream: &mut futures_util::stream::SplitStream<Client>) -> Json {
    timeout(WAIT, stream.next())
        .await
        .unwrap()
        .unwrap()
        .decode::<Json>()
        .unwrap()
}

fn is_open(e: &ClientEvent) -> bool {
    matches!(e, ClientEvent::Open)
}

#[tokio::test]
async fn messages_flow_both_ways() {
    let server = NodeServer::start(&[]);
    let mut client = Client::new(&server.url(), ClientOptions::default()).unwrap();
    let mut events = client.events();
    // Written before the connection opened: buffered, then flushed before `open`.
    client.write("early").unwrap();
    let (_, before) = wait_event(&mut events, "open", is_open).await;
    assert!(
        matches!(
            before[..],
            [
                ClientEvent::ReadyStateChange(ReadyState::Opening),
                ClientEvent::ReadyStateChange(ReadyState::Open)
            ]
        ),
        "{before:?}"
    );
    assert_eq!(client.ready_state(), ReadyState::Open);
    assert_eq!(next_json(&mut client).await, json!("early"));

    client
        .write(&json!({"a": 1, "nested": [1, "two", null, true]}))
        .unwrap();
    let message = next_message(&mut client).await;
    assert_eq!(
        message.decode::<Json>().unwrap(),
        json!({"a": 1, "nested": [1, "two", null, true]})
    );
    // The raw frame is exactly the JSON text the server sent.
    assert_eq!(
        message.raw().as_str(),
        Some(r#"{"a":1,"nested":[1,"two",null,true]}"#)
    );

    for value in [
        json!(0),
        json!(""),
        json!(false),
        json!(null),
        json!("héllo ✓"),
        json!(1.5),
    ] {
        client.write(&value).unwrap();
        assert_eq!(next_json(&mut client).await, value);
    }
    // Through the Sink too.
    client.send(json!({"via": "sink"})).await.unwrap();
    assert_eq!(next_json(&mut client).await, json!({"via": "sink"}));

    // An unknown primus:: message is data on both sides (protocol.md §2.1).
    client.write("primus::custom::probe").unwrap();
    assert_eq!(next_json(&mut client).await, json!("primus::custom::probe"));
}

#[tokio::test]
async fn transforms_modify_and_drop() {
    let server = NodeServer::start(&[]);
    let options = ClientOptions {
        manual: true,
        ..ClientOptions::default()
    };
    let mut client = Client::new(&server.url(), options).unwrap();
    client.transform_outgoing(|v| {
        if v.as_str() == Some("drop me") {
            return false;
        }
        if let primus::Value::String(s) = v {
            s.push_str(" (out)");
        }
        true
    });
    client.transform_incoming(|v| {
        if v.as_str() == Some("secret (out)") {
            return false;
        }
        if let primus::Value::String(s) = v {
            s.push_str(" (in)");
        }
        true
    });
    assert!(client.open());
    client.write("drop me").unwrap();
    client.write("secret").unwrap();
    client.write("hello").unwrap();
    assert_eq!(next_json(&mut client).await, json!("hello (out) (in)"));
    // Protocol messages skip the transforms: id() still works.
    assert!(!timeout(WAIT, client.id())
        .await
        .unwrap()
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn id_matches_the_spark_and_the_query_is_passed_through() {
    let server = NodeServer::start(&[]);
    let url = format!("{}/ignored/path?foo=bar&n=1", server.url());
    let mut client = Client::new(&url, ClientOptions::default()).unwrap();
    let id = timeout(WAIT, client.id())
        .await
        .expect("id() timed out")
        .unwrap();
    assert_eq!(id.len(), 21, "nanoid expected, got {id}");
    client.write(&json!({"cmd": "info"})).unwrap();
    let info = next_json(&mut client).await;
    assert_eq!(info["id"], json!(id));
    assert_eq!(info["query"]["foo"], json!("bar"));
    assert_eq!(info["query"]["n"], json!("1"));
    let cb = info["query"]["_primuscb"]
        .as_str()
        .expect("_primuscb cache buster");
    assert!(cb.len() >= 7, "{cb}");
    // Asking twice gives the same id on the same connection.
    assert_eq!(timeout(WAIT, client.id()).await.unwrap().unwrap(), id);
}

#[tokio::test]
async fn heartbeats_are_answered_and_keep_the_connection() {
    let server = NodeServer::start(&["--ping-interval", "200"]);
    // From the spec: ping_timeout = 200 + round(200 / 2) = 300 ms.
    let client = Client::from_spec(&server.url(), ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(
        client.options().ping_timeout,
        Some(Duration::from_millis(300))
    );
    let mut events = client.events();
    wait_event(&mut events, "open", is_open).await;
    let id = timeout(WAIT, client.id()).await.unwrap().unwrap();

    let mut pongs = 0;
    let deadline = Instant::now() + Duration::from_millis(1500);
    while let Ok(event) = timeout(
        deadline.saturating_duration_since(Instant::now()),
        events.recv(),
    )
    .await
    {
        match event.unwrap() {
            ClientEvent::Pong(value) => {
                assert!(value.parse::<u64>().is_ok(), "pong value {value}");
                pongs += 1;
            }
            other => panic!("unexpected event during heartbeats: {other:?}"),
        }
    }
    // The server pings every 200 ms and drops a spark that misses one pong; a 300 ms
    // client timeout would fire without pings: six or so pings and no disconnect.
    assert!(pongs >= 5, "only {pongs} pings answered in 1.5 s");
    assert_eq!(client.ready_state(), ReadyState::Open);
    assert_eq!(
        timeout(WAIT, client.id()).await.unwrap().unwrap(),
        id,
        "the connection was replaced"
    );
}

#[tokio::test]
async fn server_end_ends_the_client_without_reconnect() {
    let server = NodeServer::start(&[]);
    let mut client = Client::new(
        &server.url(),
        ClientOptions {
            reconnect: fast_reconnect(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", is_open).await;
    client.write(&json!({"cmd": "end", "data": "bye"})).unwrap();
    assert_eq!(next_json(&mut client).await, json!("bye"));
    let (_, before) = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        matches!(
            before[..],
            [
                ClientEvent::ReadyStateChange(ReadyState::Closed),
                ClientEvent::Close
            ]
        ),
        "{before:?}"
    );
    // The stream ends and nothing reconnects.
    assert!(timeout(WAIT, client.next()).await.unwrap().is_none());
    timeout(WAIT, client.closed()).await.unwrap();
    sleep(Duration::from_millis(300)).await;
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(
                event,
                ClientEvent::ReconnectScheduled(_) | ClientEvent::Reconnect(_)
            ),
            "{event:?}"
        );
    }
    assert!(client.write("late").is_err());
}

#[tokio::test]
async fn server_end_with_reconnect_gives_a_new_connection() {
    let server = NodeServer::start(&[]);
    let mut client = Client::new(
        &server.url(),
        ClientOptions {
            reconnect: fast_reconnect(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", is_open).await;
    let first = timeout(WAIT, client.id()).await.unwrap().unwrap();
    client
        .write(&json!({"cmd": "end", "reconnect": true}))
        .unwrap();
    let (_, before) = wait_event(&mut events, "open again", is_open).await;
    let names: Vec<&str> = before
        .iter()
        .map(|e| match e {
            ClientEvent::ReadyStateChange(s) => s.as_str(),
            ClientEvent::Close => "close",
            ClientEvent::ReconnectScheduled(_) => "reconnect scheduled",
            ClientEvent::Reconnect(_) => "reconnect",
            ClientEvent::Reconnected(_) => "reconnected",
            ClientEvent::Pong(_) => "pong",
            _ => "other",
        })
        .collect();
    // protocol.md §6.4, server end(undefined, {reconnect: true}).
    assert_eq!(
        names,
        [
            "end",
            "close",
            "reconnect scheduled",
            "opening",
            "reconnect",
            "reconnected",
            "open"
        ]
    );
    if let ClientEvent::ReconnectScheduled(a) = &before[2] {
        assert_eq!((a.attempt, a.scheduled), (1, Duration::from_millis(50)));
    }
    let second = timeout(WAIT, client.id()).await.unwrap().unwrap();
    assert_ne!(first, second, "a reconnect must be a new spark");
    client.write("still here").unwrap();
    assert_eq!(next_json(&mut client).await, json!("still here"));
}

#[tokio::test]
async fn server_restart_on_the_same_port_reconnects() {
    let mut server = NodeServer::start(&[]);
    let port = server.port;
    let mut client = Client::new(
        &server.url(),
        ClientOptions {
            reconnect: fast_reconnect(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", is_open).await;
    let first = timeout(WAIT, client.id()).await.unwrap().unwrap();

    server.kill();
    wait_event(&mut events, "close", |e| matches!(e, ClientEvent::Close)).await;
    wait_event(&mut events, "a failed attempt", |e| {
        matches!(e, ClientEvent::Error(_))
    })
    .await;
    // Written while the server is down: delivered after the reconnect.
    client.write("queued while down").unwrap();
    let _server = NodeServer::start_on(port, &[]);
    let (reconnected, _) = wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    if let ClientEvent::Reconnected(a) = reconnected {
        assert!(a.attempt >= 2, "{a:?}");
    }
    assert_eq!(next_json(&mut client).await, json!("queued while down"));
    let second = timeout(WAIT, client.id()).await.unwrap().unwrap();
    assert_ne!(first, second);
}

#[tokio::test]
async fn reconnect_failed_after_the_retries_when_nothing_listens() {
    // A port that nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let options = ClientOptions {
        reconnect: Backoff {
            min: Duration::from_millis(10),
            max: Some(Duration::from_millis(40)),
            retries: 3,
            ..Backoff::default()
        },
        ..ClientOptions::default()
    };
    let mut client = Client::new(&format!("http://127.0.0.1:{port}"), options).unwrap();
    let mut events = client.events();
    let (failed, before) = wait_event(&mut events, "reconnect failed", |e| {
        matches!(e, ClientEvent::ReconnectFailed(_))
    })
    .await;
    let scheduled: Vec<u32> = before
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ReconnectScheduled(a) => Some(a.attempt),
            _ => None,
        })
        .collect();
    assert_eq!(scheduled, [1, 2, 3]);
    let errors = before
        .iter()
        .filter(|e| matches!(e, ClientEvent::Error(_)))
        .count();
    assert_eq!(errors, 4, "first connect + 3 attempts: {before:?}");
    assert!(
        matches!(before.last(), Some(ClientEvent::End)),
        "`end` comes right before `reconnect failed`"
    );
    if let ClientEvent::ReconnectFailed(a) = failed {
        assert_eq!((a.attempt, a.retries), (3, 3));
    }
    assert!(timeout(WAIT, client.next()).await.unwrap().is_none());
    assert!(client.is_ended());
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest() {
    let server = NodeServer::start(&[]);
    let options = ClientOptions {
        manual: true,
        queue_size: 2,
        ..ClientOptions::default()
    };
    let mut client = Client::new(&server.url(), options).unwrap();
    for n in 1..=5 {
        client.write(&n).unwrap();
    }
    assert_eq!((client.queued(), client.dropped()), (2, 3));
    client.open();
    assert_eq!(next_json(&mut client).await, json!(4));
    assert_eq!(next_json(&mut client).await, json!(5));
    client.write(&6).unwrap();
    assert_eq!(next_json(&mut client).await, json!(6));
}

#[tokio::test]
async fn stream_and_sink_survive_a_reconnect() {
    let server = NodeServer::start(&[]);
    let client = Client::new(
        &server.url(),
        ClientOptions {
            reconnect: fast_reconnect(),
            ..Default::default()
        },
    )
    .unwrap();
    let mut events = client.events();
    let (mut sink, mut stream) = client.split();
    sink.send(json!("one")).await.unwrap();
    assert_eq!(next_split(&mut stream).await, json!("one"));
    sink.send(json!({"cmd": "end", "reconnect": true}))
        .await
        .unwrap();
    wait_event(&mut events, "reconnected", |e| {
        matches!(e, ClientEvent::Reconnected(_))
    })
    .await;
    sink.send(json!("two")).await.unwrap();
    assert_eq!(next_split(&mut stream).await, json!("two"));
    // Closing the sink ends the client, which ends the stream.
    timeout(WAIT, sink.close()).await.unwrap().unwrap();
    assert!(timeout(WAIT, stream.next()).await.unwrap().is_none());
}

#[tokio::test]
async fn client_end_sends_the_last_message_and_ends() {
    let server = NodeServer::start(&[]);
    let mut client = Client::new(&server.url(), ClientOptions::default()).unwrap();
    let mut events = client.events();
    wait_event(&mut events, "open", is_open).await;
    client.end_with("last words").unwrap();
    let (_, before) = wait_event(&mut events, "end", |e| matches!(e, ClientEvent::End)).await;
    assert!(
        matches!(
            before[..],
            [
                ClientEvent::ReadyStateChange(ReadyState::Closed),
                ClientEvent::Close
            ]
        ),
        "{before:?}"
    );
    // The echo may or may not make it back before the close; either way the stream ends.
    let mut rest = Vec::new();
    while let Some(m) = timeout(WAIT, client.next()).await.unwrap() {
        rest.push(m.decode::<Json>().unwrap());
    }
    assert!(rest.is_empty() || rest == [json!("last words")], "{rest:?}");
    assert!(client.id().await.is_err());
}

#[tokio::test]
async fn spec_configures_the_client() {
    let server = NodeServer::start(&["--ping-interval", "off"]);
    let spec = primus::client::fetch_spec(&server.url(), &ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(spec.ping_interval, None);
    assert_eq!(spec.version, "8.0.9");
    assert_eq!(
        (
            spec.parser.as_str(),
            spec.transformer.as_str(),
            spec.pathname.as_str()
        ),
        ("json", "websockets", "/primus")
    );
    let mut client = Client::from_spec(&server.url(), ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(client.options().ping_timeout, None);
    client.write("via spec").unwrap();
    assert_eq!(next_json(&mut client).await, json!("via spec"));
    // A wrong pathname: the spec request fails with a clear error.
    let wrong = ClientOptions {
        pathname: "/nope".into(),
        ..ClientOptions::default()
    };
    let err = Client::from_spec(&server.url(), wrong).await.unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn every_parser_talks_to_the_node_server() {
    // The Node server with each parser (primus-msgpack, ejson, binary-pack from npm) and
    // our client configured from its /spec: values survive the round trip both ways.
    for parser in ["json", "msgpack", "ejson", "binary"] {
        let server = NodeServer::start(&["--parser", parser]);
        let mut client = Client::from_spec(&server.url(), ClientOptions::default())
            .await
            .unwrap();
        assert_eq!(client.options().parser.name(), parser);
        for value in [
            json!({"a": 1, "list": [1, "two", null, true], "text": "héllo ✓"}),
            json!("plain"),
            json!(1.5),
            json!([]),
        ] {
            client.write(&value).unwrap();
            assert_eq!(next_json(&mut client).await, value, "{parser}");
        }
        let id = timeout(WAIT, client.id()).await.unwrap().unwrap();
        assert!(!id.is_empty(), "{parser}: id() over the parser");
        client.end();
    }
}
