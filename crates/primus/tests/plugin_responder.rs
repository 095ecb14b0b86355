//! The responder plugin's Rust halves: our client with `ClientResponder` against the real
//! Node Primus server with npm primus-responder (`tests/interop/reference-server.mjs
//! --plugins responder`) and against our server; bad input on our server answered with
//! errors; timeouts and limits.

mod node_support;
mod server_support;

use node_support::NodeServer;
use primus::client::{Client, ClientOptions};
use primus::plugins::responder::{
    ClientResponder, Responder, ResponderError, ResponderOptions, SparkResponderExt,
};
use primus::{Primus, Value};
use server_support::*;
use std::time::Duration;
use tokio::sync::mpsc;

fn value(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

/// The contract every responder server here implements (see reference-server.mjs).
async fn contract(url: &str) {
    let client = Client::new(url, ClientOptions::default()).unwrap();
    let responder = ClientResponder::attach(&client);
    responder.on_request(|_, request| {
        let q: String = request.decode().unwrap();
        assert!(request.reply(&format!("{q} answered")).unwrap());
        assert!(!request.reply(&"twice").unwrap(), "answered once only");
    });
    let q = value(r#"{"q":1}"#);
    let (a, b) = tokio::join!(responder.request(&q), responder.request(&"two"));
    assert_eq!(a.unwrap(), Some(value(r#"{"echo":{"q":1}}"#)));
    assert_eq!(b.unwrap(), Some(value(r#"{"echo":"two"}"#)));
    let reverse = within("reverse", responder.request(&"reverse"))
        .await
        .unwrap();
    assert_eq!(reverse, Some(value(r#"{"client said":"q? answered"}"#)));
    client.end();
}

#[tokio::test]
async fn our_client_responder_against_node_primus_with_npm_primus_responder() {
    let node = NodeServer::start(&["--plugins", "responder", "--ping-interval", "off"]);
    contract(&node.url()).await;
}

async fn our_server(options: ResponderOptions) -> (TestServer, mpsc::UnboundedReceiver<String>) {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("responder", Responder::new(options)).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        let tx = tx.clone();
        spark.on_error(move |_, e| {
            let _ = tx.send(e.to_string());
        });
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        });
        if spark.query().get("handler").is_some() {
            return;
        }
        spark.on_request(|spark, request| {
            if request.data() == Some(&Value::from("reverse")) {
                let spark = spark.clone();
                tokio::spawn(async move {
                    let said = spark.request(&"q?").await.unwrap();
                    request
                        .reply(&serde_json::json!({ "client said": said }))
                        .unwrap();
                });
            } else {
                request
                    .reply(&serde_json::json!({ "echo": request.data() }))
                    .unwrap();
            }
        });
    });
    (TestServer::serve(primus).await, rx)
}

#[tokio::test]
async fn our_client_responder_against_our_server() {
    let (server, _errors) = our_server(ResponderOptions::default()).await;
    contract(&format!("http://{}", server.addr)).await;
}

#[tokio::test]
async fn bad_envelopes_are_errors_and_never_reach_data() {
    let (server, mut errors) = our_server(ResponderOptions::default()).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    for (frame, error) in [
        (
            r#"{"plugin":"primus-responder","responseId":"nope"}"#,
            "unknown request id `nope`",
        ),
        (
            r#"{"plugin":"primus-responder","data":1}"#,
            "without `requestId`",
        ),
    ] {
        ws.send_text(frame).await;
        let seen = within("an error", errors.recv()).await.unwrap();
        assert!(seen.contains(error), "{frame}: {seen}");
    }
    ws.send_text("null").await;
    assert_eq!(ws.read_non_ping().await.text(), "null");
    // A spark without a handler reports the request instead of leaving it unexplained.
    let mut bare = RawWs::connect(server.addr, "/primus?handler=none", "").await;
    bare.send_text(r#"{"plugin":"primus-responder","requestId":"r1"}"#)
        .await;
    let seen = within("an error", errors.recv()).await.unwrap();
    assert!(seen.contains("without a handler"), "{seen}");
    bare.send_text(r#"{"other":"data"}"#).await;
    assert_eq!(bare.read_non_ping().await.text(), r#"{"other":"data"}"#);
}

#[tokio::test]
async fn requests_time_out_are_bounded_and_fail_when_the_spark_ends() {
    let options = ResponderOptions::default()
        .timeout(Duration::from_millis(200))
        .max_pending(2);
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("responder", Responder::new(options)).unwrap();
    let mut sparks = sparks(&primus);
    let server = TestServer::serve(primus).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let spark = next_spark(&mut sparks).await;
    let (a, b, c) = tokio::join!(spark.request(&1), spark.request(&2), spark.request(&3));
    assert!(
        matches!(c, Err(ResponderError::TooManyPending { limit: 2 })),
        "{c:?}"
    );
    assert!(matches!(a, Err(ResponderError::Timeout(_))), "{a:?}");
    assert!(matches!(b, Err(ResponderError::Timeout(_))), "{b:?}");
    // The request frames went out, uuids and all.
    let first = ws.read_non_ping().await.text();
    assert!(
        first.starts_with(r#"{"plugin":"primus-responder","requestId":""#),
        "{first}"
    );
    assert!(first.ends_with(r#"","data":1}"#), "{first}");
    let waiting = spark.request(&4);
    spark.end(None::<&()>, false);
    assert!(matches!(waiting.await, Err(ResponderError::Closed)));
}
