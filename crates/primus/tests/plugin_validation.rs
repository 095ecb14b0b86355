//! The validation plugin: per-event rules (serde types and check functions) refuse bad
//! messages before the emitter's handlers or `data` handlers see them, tell the sender
//! with an `invalid` event, and report a spark error.

mod server_support;

use primus::plugins::emitter::{Emitter, SparkEmitterExt};
use primus::plugins::validation::Validation;
use primus::{Primus, Value};
use server_support::*;
use tokio::sync::mpsc;

#[derive(serde::Deserialize)]
#[allow(dead_code)] // read only by serde
struct Chat {
    room: String,
    text: String,
}

/// What the server saw: handled events, data and errors, in order.
async fn server(strict: bool) -> (TestServer, mpsc::UnboundedReceiver<String>) {
    let primus = Primus::new(quiet()).unwrap();
    // Added after the emitter on purpose: validation still runs first.
    primus.plugin("emitter", Emitter::default()).unwrap();
    let mut rules = Validation::new()
        .event::<(Chat,)>("say")
        .event::<(String, u32)>("move")
        .event_with("join", |args| match args.first().and_then(Value::as_str) {
            Some(room) if !room.is_empty() => Ok(()),
            _ => Err("join needs a room name".into()),
        })
        .data::<String>();
    if strict {
        rules = rules.strict();
    }
    primus.plugin("validation", rules).unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    primus.on_connection(move |spark| {
        for name in ["say", "move", "join", "other"] {
            let tx = tx.clone();
            spark
                .on_event(name, move |_, e| {
                    let _ = tx.send(format!("event {}", e.name()));
                })
                .unwrap();
        }
        let t = tx.clone();
        spark.on_data(move |_, m| {
            let _ = t.send(format!("data {}", m.value()));
        });
        let t = tx.clone();
        spark.on_error(move |_, e| {
            let _ = t.send(format!("error {e}"));
        });
    });
    (TestServer::serve(primus).await, rx)
}

#[tokio::test]
async fn valid_messages_pass_and_invalid_ones_are_refused_with_a_reply() {
    let (server, mut seen) = server(false).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    let cases = [
        (
            r#"{"type":0,"data":["say",{"room":"r","text":"hi"}]}"#,
            None,
        ),
        (r#"{"type":0,"data":["say",{"room":"r"}]}"#, Some("say")),
        (r#"{"type":0,"data":["move","x",3]}"#, None),
        (r#"{"type":0,"data":["move","x",-3]}"#, Some("move")),
        (r#"{"type":0,"data":["join",""]}"#, Some("join")),
        (r#"{"type":0,"data":["other",1]}"#, None),
        (r#""plain""#, None),
        (r#"{"not":"a string"}"#, Some("data")),
    ];
    for (frame, refused) in cases {
        ws.send_text(frame).await;
        let got = within("the server's view", seen.recv()).await.unwrap();
        match refused {
            None => assert!(
                got.starts_with("event ") || got.starts_with("data "),
                "{frame}: {got}"
            ),
            Some(event) => {
                assert!(got.starts_with("error "), "{frame}: {got}");
                assert!(
                    got.contains(&format!("`{event}` refused")),
                    "{frame}: {got}"
                );
                let reply = ws.read_non_ping().await.text();
                assert!(
                    reply.starts_with(&format!(
                        r#"{{"type":0,"data":["invalid",{{"event":"{event}","error":"#
                    )),
                    "{frame}: {reply}"
                );
            }
        }
    }
    let reason = "join needs a room name";
    ws.send_text(r#"{"type":0,"data":["join",5]}"#).await;
    assert!(within("error", seen.recv()).await.unwrap().contains(reason));
    assert!(ws.read_non_ping().await.text().contains(reason));
}

#[tokio::test]
async fn strict_refuses_events_without_a_rule() {
    let (server, mut seen) = server(true).await;
    let mut ws = RawWs::connect(server.addr, "/primus", "").await;
    ws.send_text(r#"{"type":0,"data":["other",1]}"#).await;
    let got = within("error", seen.recv()).await.unwrap();
    assert!(got.contains("`other` has no validation rule"), "{got}");
    let reply = ws.read_non_ping().await.text();
    assert!(reply.contains(r#""event":"other""#), "{reply}");
    ws.send_text(r#"{"type":0,"data":["move","y",1]}"#).await;
    assert_eq!(within("event", seen.recv()).await.unwrap(), "event move");
}
