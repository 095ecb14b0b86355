//! The emitter plugin's Rust halves: our client with `ClientEmitter` against the real Node
//! Primus server with npm primus-emitter (`tests/interop/reference-server.mjs --plugins
//! emitter`) and against our server, and bad input on our server (reserved names, unknown
//! acknowledgement ids, broken packets, limits) answered with errors, never a crash.

mod node_support;
mod server_support;

use futures_util::StreamExt;
use node_support::NodeServer;
use primus::client::{Client, ClientOptions};
use primus::plugins::emitter::{
    ClientEmitter, Emitter, EmitterError, EmitterOptions, SparkEmitterExt,
};
use primus::{Primus, Value};
use server_support::*;
use std::time::Duration;
use tokio::sync::mpsc;

fn values(json: &str) -> Vec<Value> {
    serde_json::from_str(json).unwrap()
}

/// The contract every emitter server here implements (see reference-server.mjs).
async fn contract(url: &str) {
    let client = Client::new(url, ClientOptions::default()).unwrap();
    let events = ClientEmitter::attach(&client);
    let (tx, mut rx) = mpsc::unbounded_channel();
    for name in ["echo", "quiz-result"] {
        let tx = tx.clone();
        events
            .on(name, move |_, event| {
                let _ = tx.send((event.name().to_string(), event.args().to_vec()));
            })
            .unwrap();
    }
    events
        .on("question", |_, event| {
            let q: String = event.arg(0).unwrap();
            event.ack().unwrap().send(&("reply to", q)).unwrap();
        })
        .unwrap();

    events.emit("echo", &("x", 2, [1, 2])).unwrap();
    let got = within("echo", rx.recv()).await.unwrap();
    assert_eq!(got, ("echo".into(), values(r#"["x",2,[1,2]]"#)));

    let answer = within("ack", events.emit_with_ack("ask", &("q", 7)))
        .await
        .unwrap();
    assert_eq!(answer, values(r#"["answer","q",7]"#));

    events.emit("quiz", &()).unwrap();
    let got = within("quiz-result", rx.recv()).await.unwrap();
    assert_eq!(got, ("quiz-result".into(), values(r#"["reply to","q?"]"#)));
    client.end();
}

#[tokio::test]
async fn our_client_emitter_against_node_primus_with_npm_primus_emitter() {
    let node = NodeServer::start(&["--plugins", "emitter", "--ping-interval", "off"]);
    contract(&node.url()).await;
}

/// Our server with the same contract (the e2e server's, written again on the API here).
async fn our_server(options: EmitterOptions) -> (TestServer, mpsc::UnboundedReceiver<String>) {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("emitter", Emitter::new(options)).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(e.to_string());
        });
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        });
        spark
            .on_event("echo", |spark, e| spark.emit("echo", e.args()).unwrap())
            .unwrap();
        spark
            .on_event("ask", |_, e| {
                let mut reply = vec![Value::from("answer")];
                reply.extend(e.args().iter().cloned());
                assert!(e.ack().unwrap().send(&reply).unwrap());
                // A second answer is not sent (like the npm plugin).
                assert!(!e.ack().unwrap().send(&("again",)).unwrap());
            })
            .unwrap();
        spark
            .on_event("quiz", |spark, _| {
                let spark = spark.clone();
                tokio::spawn(async move {
                    let reply = spark.emit_with_ack("question", &("q?",)).await;
                    let _ = match reply {
                        Ok(r) => spark.emit("quiz-result", &r),
                        Err(e) => spark.emit("quiz-result", &(e.to_string(),)),
                    };
                });
            })
            .unwrap();
        assert!(matches!(
            spark.on_event("data", |_, _| {}),
            Err(EmitterError::Reserved(_))
        ));
    });
    (TestServer::serve(primus).await, rx)
}

#[tokio::test]
async fn our_client_emitter_against_our_server() {
    let (server, _errors) = our_server(EmitterOptions::default()).await;
    contract(&format!("http://{}", server.addr)).await;
}

#[tokio::test]
async fn bad_packets_are_errors_to_the_server_and_never_reach_data() {
    let (server, mut errors) = our_server(EmitterOptions::default()).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    for (frame, error) in [
        (r#"{"type":0,"data":["end"]}"#, "reserved"),
        (r#"{"type":0,"data":["incoming::data"]}"#, "reserved"),
        (r#"{"id":99,"type":1,"data":[]}"#, "unknown id 99"),
        (r#"{"type":0,"data":[]}"#, "without a name"),
        (r#"{"type":1,"data":["x"]}"#, "without a numeric"),
    ] {
        ws.send_text(frame).await;
        let seen = within("an error", errors.recv()).await.unwrap();
        assert!(seen.contains(error), "{frame}: {seen}");
    }
    let many = format!(r#"{{"type":0,"data":["echo"{}]}}"#, ",1".repeat(1000));
    ws.send_text(&many).await;
    let seen = within("an error", errors.recv()).await.unwrap();
    assert!(seen.contains("at most 256"), "{seen}");
    // None of them was echoed as data; `null` and other values are plain data.
    ws.send_text("null").await;
    assert_eq!(ws.read_non_ping().await.text(), "null");
    ws.send_text(r#"{"type":5,"data":[]}"#).await;
    assert_eq!(ws.read_non_ping().await.text(), r#"{"type":5,"data":[]}"#);
    assert_eq!(server.primus.connected(), 1);
}

#[tokio::test]
async fn acknowledgements_time_out_and_are_bounded() {
    let options = EmitterOptions::default()
        .ack_timeout(Duration::from_millis(200))
        .max_pending_acks(2);
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("emitter", Emitter::new(options)).unwrap();
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    // A raw client that never answers.
    let _ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut sparks).await;
    let a = spark.emit_with_ack("q", &());
    let b = spark.emit_with_ack("q", &());
    let c = spark.emit_with_ack("q", &());
    let (a, b, c) = tokio::join!(a, b, c);
    assert!(
        matches!(c, Err(EmitterError::TooManyPending { limit: 2 })),
        "{c:?}"
    );
    assert!(matches!(a, Err(EmitterError::AckTimeout(_))), "{a:?}");
    assert!(matches!(b, Err(EmitterError::AckTimeout(_))), "{b:?}");
    // Timed-out waiters free their slots.
    let again = spark.emit_with_ack("q", &()).await;
    assert!(
        matches!(again, Err(EmitterError::AckTimeout(_))),
        "{again:?}"
    );
    // The connection ending fails a waiter at once.
    let waiting = spark.emit_with_ack("q", &());
    spark.end(None::<&()>, false);
    assert!(matches!(waiting.await, Err(EmitterError::Closed)));
}

#[tokio::test]
async fn plain_messages_still_reach_the_client_stream() {
    let (server, _errors) = our_server(EmitterOptions::default()).await;
    let mut client =
        Client::new(&format!("http://{}", server.addr), ClientOptions::default()).unwrap();
    let events = ClientEmitter::attach(&client);
    client.write(&"plain").unwrap();
    events.emit("echo", &("event",)).unwrap();
    client.write(&"plain 2").unwrap();
    // The stream sees the plain echoes only; the event went to the emitter.
    let first = within("first", client.next()).await.unwrap();
    let second = within("second", client.next()).await.unwrap();
    assert_eq!(first.value(), &Value::from("plain"));
    assert_eq!(second.value(), &Value::from("plain 2"));
    assert!(matches!(
        events.on("open", |_, _| {}),
        Err(EmitterError::Reserved(_))
    ));
}
