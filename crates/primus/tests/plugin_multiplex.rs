//! The multiplex plugin's Rust halves: our client with `ClientMultiplex` against our server
//! and against the real Node Primus server with npm substream
//! (`tests/plugins/multiplex-reference-server.mjs`), frames byte-equal to the npm fixture
//! (`tests/plugins/fixtures/substream.json`), and bad input and limits on our server
//! answered with spark errors, never a crash.
//!
//! The contract every multiplex server here implements (also `e2e/src/bin/multiplex-e2e.rs`
//! and the Node reference server): every substream the client opens is accepted and its
//! messages are echoed back on it; when one ends, the server writes plain `ended:<name>`;
//! plain `open:<name>` opens `<name>` on the server and writes `hello` on it (echoing it
//! from then on); plain `close:<name>` ends `<name>` from the server; other plain values
//! are echoed back as plain data.

mod node_support;
mod server_support;

use futures_util::{SinkExt, StreamExt};
use node_support::NodeServer;
use primus::client::{Client, ClientOptions};
use primus::plugins::multiplex::{
    ClientMultiplex, Multiplex, MultiplexError, MultiplexOptions, PacketError, SparkMultiplexExt,
    Substream,
};
use primus::{Primus, Spark, Value};
use server_support::*;
use std::path::PathBuf;
use tokio::sync::mpsc;

fn value(json: &str) -> Value {
    serde_json::from_str(json).unwrap()
}

// ---------------------------------------------------------------------------------------
// The contract, on our server
// ---------------------------------------------------------------------------------------

fn echo(spark: &Spark, mut sub: Substream) {
    let spark = spark.clone();
    tokio::spawn(async move {
        while let Some(v) = sub.next().await {
            let _ = sub.write(&v);
        }
        let _ = spark.write(&format!("ended:{}", sub.name()));
    });
}

fn contract(spark: &Spark) {
    spark.on_substream(echo);
    spark.on_data(|spark, msg| {
        let text = msg.value().as_str().unwrap_or_default();
        if let Some(name) = text.strip_prefix("open:") {
            let new = !spark.substreams().iter().any(|n| n == name);
            match spark.substream(name) {
                Ok(sub) => {
                    let _ = sub.write(&"hello");
                    if new {
                        echo(spark, sub);
                    }
                }
                Err(e) => {
                    let _ = spark.write(&format!("error:{e}"));
                }
            }
        } else if let Some(name) = text.strip_prefix("close:") {
            if spark.substreams().iter().any(|n| n == name) {
                if let Ok(sub) = spark.substream(name) {
                    let _ = sub.end();
                }
            }
        } else {
            let _ = spark.write(msg.value());
        }
    });
}

async fn our_server(options: MultiplexOptions) -> (TestServer, mpsc::UnboundedReceiver<String>) {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("multiplex", Multiplex::new(options)).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(e.to_string());
        });
        contract(&spark);
    });
    (TestServer::serve(primus).await, rx)
}

// ---------------------------------------------------------------------------------------
// The contract, from our client (against our server and the Node reference)
// ---------------------------------------------------------------------------------------

async fn next_value(
    what: &str,
    s: &mut (impl futures_util::Stream<Item = Value> + Unpin),
) -> Value {
    within(what, s.next())
        .await
        .unwrap_or_else(|| panic!("{what}: the substream ended"))
}

async fn next_plain(client: &mut Client) -> Value {
    within("a plain message", client.next())
        .await
        .expect("the client is open")
        .into_value()
}

async fn client_contract(url: &str) {
    let mut client = Client::new(url, ClientOptions::default()).unwrap();
    let mux = ClientMultiplex::attach(&client);

    // Two substreams at once, data both ways, interleaved.
    let mut a = mux.substream("a").unwrap();
    let mut b = mux.substream("b").unwrap();
    a.write(&"x1").unwrap();
    b.write(&value(r#"{"n":1}"#)).unwrap();
    a.write(&value("[1,2]")).unwrap();
    b.write(&Value::Null).unwrap();
    assert_eq!(next_value("a 1", &mut a).await, Value::from("x1"));
    assert_eq!(next_value("b 1", &mut b).await, value(r#"{"n":1}"#));
    assert_eq!(next_value("a 2", &mut a).await, value("[1,2]"));
    assert_eq!(next_value("b 2", &mut b).await, Value::Null);
    assert_eq!(mux.substreams(), ["a", "b"]);

    // The server opens a substream we have open: routed to it.
    let mut srv = mux.substream("srv").unwrap();
    client.write(&"open:srv").unwrap();
    assert_eq!(
        next_value("srv hello", &mut srv).await,
        Value::from("hello")
    );
    srv.write(&"back").unwrap();
    assert_eq!(next_value("srv echo", &mut srv).await, Value::from("back"));

    // One we have not opened, without an accept handler: plain data, envelope included.
    client.write(&"open:loose").unwrap();
    assert_eq!(
        next_plain(&mut client).await,
        value(r#"{"substream":"loose","args":"hello"}"#)
    );

    // With an accept handler: opened here, the packet is its first message.
    let (tx, mut accepted) = mpsc::unbounded_channel();
    mux.on_substream(move |_, sub| {
        let _ = tx.send(sub);
    });
    client.write(&"open:acc").unwrap();
    let mut acc = within("an accepted substream", accepted.recv())
        .await
        .unwrap();
    assert_eq!(acc.name(), "acc");
    assert_eq!(
        next_value("acc hello", &mut acc).await,
        Value::from("hello")
    );

    // End from the client: the server sees it end.
    a.end().unwrap();
    assert!(a.is_ended());
    assert!(matches!(a.write(&1), Err(MultiplexError::Ended(_))));
    assert_eq!(next_plain(&mut client).await, Value::from("ended:a"));
    assert_eq!(within("a to end", a.next()).await, None);

    // End from the server: our substream ends.
    client.write(&"close:b").unwrap();
    assert_eq!(within("b to end", b.next()).await, None);
    assert!(b.is_ended());
    assert_eq!(next_plain(&mut client).await, Value::from("ended:b"));

    // Opening again after the end is a new substream.
    let mut a2 = mux.substream("a").unwrap();
    a2.send(&"again").await.unwrap();
    assert_eq!(next_value("a again", &mut a2).await, Value::from("again"));

    // `null` and non-packets are plain data.
    client.write(&Value::Null).unwrap();
    assert_eq!(next_plain(&mut client).await, Value::Null);
    client.write(&value(r#"{"substream":1}"#)).unwrap();
    assert_eq!(next_plain(&mut client).await, value(r#"{"substream":1}"#));
    assert!(matches!(
        a2.write(&"substream::end"),
        Err(MultiplexError::ReservedPayload)
    ));
    client.end();
}

#[tokio::test]
async fn our_client_against_our_server() {
    let (server, _errors) = our_server(MultiplexOptions::default()).await;
    client_contract(&format!("http://{}", server.addr)).await;
}

#[tokio::test]
async fn our_client_against_node_primus_with_npm_substream() {
    // Node Primus 8.0.9 + npm substream 0.2.0, pinned by tests/plugins/package-lock.json.
    let node = NodeServer::start_script(
        "tests/plugins",
        "multiplex-reference-server.mjs",
        &["--port", "0"],
    );
    client_contract(&node.url()).await;
}

// ---------------------------------------------------------------------------------------
// Frames, byte for byte (raw WebSocket client)
// ---------------------------------------------------------------------------------------

/// The frames of fixture step `step` (1-based), in order.
fn fixture(step: usize) -> Vec<(String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/plugins/fixtures/substream.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let step = &json["steps"][step - 1];
    step["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["dir"].as_str().unwrap().to_string(),
                f["frame"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn frame(step: usize, i: usize) -> String {
    fixture(step)[i].1.clone()
}

async fn expect_frame(ws: &mut RawWs, text: &str) {
    let f = ws.read_non_ping().await;
    assert_eq!(f.text(), text);
    let mut bytes = text_header(text.len());
    bytes.extend_from_slice(text.as_bytes());
    assert_eq!(f.bytes(), bytes, "exact bytes of {text}");
}

#[tokio::test]
async fn frames_are_byte_equal_to_the_npm_fixture() {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("multiplex", Multiplex::default()).unwrap();
    let (data_tx, mut data) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let tx = data_tx.clone();
        spark.on_data(move |_, msg| {
            let _ = tx.send(msg.value().clone());
        });
    });
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut sparks).await;

    // 1: not open on the server, no accept handler: plain data, envelope included.
    ws.send_text(&frame(1, 0)).await;
    let got = within("main data", data.recv()).await.unwrap();
    assert_eq!(got, value(r#"{"substream":"news","args":"hi"}"#));

    // 2: open on the server: routed to it.
    let mut news = spark.substream("news").unwrap();
    ws.send_text(&frame(2, 0)).await;
    assert_eq!(
        next_value("news data", &mut news).await,
        value(r#"{"a":1}"#)
    );

    // 3, 4: the server writes (and as a Sink).
    let mut chat = spark.substream("chat").unwrap();
    chat.write(&"from server").unwrap();
    expect_frame(&mut ws, &frame(3, 0)).await;
    SinkExt::send(&mut chat, value(r#"["x",2]"#)).await.unwrap();
    expect_frame(&mut ws, &frame(4, 0)).await;

    // 5: plain writes are untouched.
    spark.write(&value(r#"{"substream":1}"#)).unwrap();
    expect_frame(&mut ws, &frame(5, 0)).await;
    ws.send_text(&frame(5, 1)).await;
    assert_eq!(
        within("main data", data.recv()).await.unwrap(),
        Value::from("main")
    );

    // 6: the client ends `news`.
    ws.send_text(&frame(6, 0)).await;
    assert_eq!(within("news to end", news.next()).await, None);
    assert!(news.is_ended());

    // 7: the server ends `chat` with last words: two frames.
    chat.end_with(&"last words").unwrap();
    let step7 = fixture(7);
    expect_frame(&mut ws, &step7[0].1).await;
    expect_frame(&mut ws, &step7[1].1).await;
    assert!(chat.is_ended());
    chat.end().unwrap(); // a second end sends nothing

    // 8: `substream::end` from the peer is an end, never data.
    let mut raw = spark.substream("raw").unwrap();
    ws.send_text(&frame(8, 0)).await;
    assert_eq!(within("raw to end", raw.next()).await, None);

    // 9: nothing open any more.
    assert!(spark.substreams().is_empty());
    // Nothing else was sent: the next frame is the answer to this plain write.
    spark.write(&"done").unwrap();
    expect_frame(&mut ws, "\"done\"").await;
}

// ---------------------------------------------------------------------------------------
// Bad input and limits
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_packets_and_limits_are_spark_errors() {
    let options = MultiplexOptions::default()
        .max_substreams(2)
        .max_name_len(16);
    let (server, mut errors) = our_server(options).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let long = format!(r#"{{"substream":"{}","args":1}}"#, "n".repeat(17));
    for (frame, error) in [
        (r#"{"substream":1,"args":"x"}"#, "not a string"),
        (r#"{"substream":null,"args":"x"}"#, "not a string"),
        (long.as_str(), "at most 16"),
    ] {
        ws.send_text(frame).await;
        let seen = within("an error", errors.recv()).await.unwrap();
        assert!(seen.contains(error), "{frame}: {seen}");
    }
    // Two accepted substreams (echoed), the third is one too many.
    ws.send_text(r#"{"substream":"s1","args":1}"#).await;
    expect_frame(&mut ws, r#"{"substream":"s1","args":1}"#).await;
    ws.send_text(r#"{"substream":"s2","args":2}"#).await;
    expect_frame(&mut ws, r#"{"substream":"s2","args":2}"#).await;
    ws.send_text(r#"{"substream":"s3","args":3}"#).await;
    let seen = within("an error", errors.recv()).await.unwrap();
    assert!(seen.contains("2 substreams are already open"), "{seen}");
    // The server cannot open one more either, and says so.
    ws.send_text(r#""open:s4""#).await;
    let answer = ws.read_non_ping().await.text();
    assert!(answer.contains("already open"), "{answer}");
    // Ending one makes room.
    ws.send_text(r#"{"substream":"s1","args":"substream::end"}"#)
        .await;
    expect_frame(&mut ws, r#""ended:s1""#).await;
    ws.send_text(r#"{"substream":"s3","args":3}"#).await;
    expect_frame(&mut ws, r#"{"substream":"s3","args":3}"#).await;
    // A stray end for an unknown substream is dropped (an accept handler is set).
    ws.send_text(r#"{"substream":"zz","args":"substream::end"}"#)
        .await;
    // None of the refused packets was echoed; `null` and non-packets are plain data.
    ws.send_text("null").await;
    expect_frame(&mut ws, "null").await;
    ws.send_text(r#"{"substream":"s2"}"#).await;
    expect_frame(&mut ws, r#"{"substream":"s2"}"#).await;
    assert!(errors.try_recv().is_err(), "no other error");
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn a_full_substream_queue_drops_with_an_error() {
    let primus = Primus::new(quiet()).unwrap();
    primus
        .plugin(
            "multiplex",
            Multiplex::new(MultiplexOptions::default().queue_size(2)),
        )
        .unwrap();
    let (tx, mut errors) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(e.to_string());
        });
    });
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut sparks).await;
    let mut slow = spark.substream("slow").unwrap();
    for i in 0..3 {
        ws.send_text(&format!(r#"{{"substream":"slow","args":{i}}}"#))
            .await;
    }
    let seen = within("an error", errors.recv()).await.unwrap();
    assert!(seen.contains("`slow` has 2 unread messages"), "{seen}");
    assert_eq!(next_value("first", &mut slow).await, Value::from(0));
    assert_eq!(next_value("second", &mut slow).await, Value::from(1));
    // Room again.
    ws.send_text(r#"{"substream":"slow","args":3}"#).await;
    assert_eq!(next_value("fourth", &mut slow).await, Value::from(3));
}

#[tokio::test]
async fn substreams_end_with_the_spark() {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("multiplex", Multiplex::default()).unwrap();
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut sparks).await;
    let mut a = spark.substream("a").unwrap();
    let mut b = spark.substream("b").unwrap();
    // The same name is the same substream.
    let a_again = spark.substream("a").unwrap();
    ws.send_text(r#"{"substream":"a","args":"x"}"#).await;
    assert_eq!(next_value("a data", &mut a).await, Value::from("x"));
    // Local limits.
    assert!(matches!(
        spark.substream(&"n".repeat(300)),
        Err(MultiplexError::Packet(PacketError::NameTooLong {
            len: 300,
            max: 256
        }))
    ));
    assert!(matches!(
        a.write(&"substream::end"),
        Err(MultiplexError::ReservedPayload)
    ));
    ws.send_close().await;
    assert_eq!(within("a to end", a.next()).await, None);
    assert_eq!(within("b to end", b.next()).await, None);
    assert!(a.is_ended() && b.is_ended() && a_again.is_ended());
    assert!(matches!(a.write(&1), Err(MultiplexError::Ended(_))));
    assert!(matches!(b.send(&1).await, Err(MultiplexError::Ended(_))));
    assert!(matches!(
        SinkExt::send(&mut b, 1).await,
        Err(MultiplexError::Ended(_))
    ));
    wait_until(WAIT, "the spark to close", || !spark.is_open()).await;
    assert!(matches!(spark.substream("c"), Err(MultiplexError::Closed)));
    assert!(spark.substreams().is_empty());
}

#[tokio::test]
async fn dropped_substreams_are_forgotten() {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("multiplex", Multiplex::default()).unwrap();
    let (data_tx, mut data) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let tx = data_tx.clone();
        spark.on_data(move |_, msg| {
            let _ = tx.send(msg.value().clone());
        });
    });
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut sparks).await;
    let sub = spark.substream("gone").unwrap();
    assert_eq!(spark.substreams(), ["gone"]);
    drop(sub);
    assert!(spark.substreams().is_empty());
    ws.send_text(r#"{"substream":"gone","args":1}"#).await;
    let got = within("main data", data.recv()).await.unwrap();
    assert_eq!(got, value(r#"{"substream":"gone","args":1}"#));
}

#[tokio::test]
async fn our_client_refuses_bad_packets_and_bounds_accepted_substreams() {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("multiplex", Multiplex::default()).unwrap();
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    let mut client =
        Client::new(&format!("http://{}", server.addr), ClientOptions::default()).unwrap();
    let mux = ClientMultiplex::attach_with(
        &client,
        MultiplexOptions::default()
            .max_substreams(1)
            .max_name_len(8),
    );
    let (tx, mut accepted) = mpsc::unbounded_channel();
    mux.on_substream(move |_, sub| {
        let _ = tx.send(sub);
    });
    client.write(&"hi").unwrap();
    let spark = next_spark(&mut sparks).await;
    // Broken packets and one substream too many reach neither a substream nor the stream.
    for bad in [
        r#"{"substream":1,"args":"x"}"#,
        r#"{"substream":"far-too-long","args":"x"}"#,
    ] {
        spark.write(&value(bad)).unwrap();
    }
    spark
        .write(&value(r#"{"substream":"one","args":1}"#))
        .unwrap();
    spark
        .write(&value(r#"{"substream":"two","args":2}"#))
        .unwrap();
    spark.write(&"after").unwrap();
    let mut one = within("an accepted substream", accepted.recv())
        .await
        .unwrap();
    assert_eq!(one.name(), "one");
    assert_eq!(next_value("one", &mut one).await, Value::from(1));
    assert_eq!(next_plain(&mut client).await, Value::from("after"));
    assert!(accepted.try_recv().is_err(), "`two` was one too many");
    assert_eq!(mux.substreams(), ["one"]);
    assert!(matches!(
        mux.substream("three"),
        Err(MultiplexError::TooMany { limit: 1 })
    ));
    // close_all ends them locally.
    mux.close_all();
    assert_eq!(within("one to end", one.next()).await, None);
    assert!(one.is_ended());
    assert!(matches!(mux.substream("x"), Err(MultiplexError::Closed)));
}
