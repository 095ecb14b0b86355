//! Transforms (sync and async, both directions), plugins (server and client halves,
//! plugin/plugout events), typed spark state with an extension trait, reserved events,
//! and the ordering guarantees of async connection listeners: all through a real
//! WebSocket connection with the Rust client.

mod server_support;

use futures_util::StreamExt;
use primus::client::{Client, ClientEvent, ClientOptions};
use primus::plugin::Plugin;
use primus::server::Transformed;
use primus::{BoxError, Primus, Spark, SparkError, Value, WriteError};
use server_support::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn client(server: &TestServer) -> Client {
    let url = format!("http://{}", server.addr);
    Client::from_server(&server.primus, &url, ClientOptions::default()).unwrap()
}

async fn next_value(client: &mut Client) -> Value {
    within("a message", client.next())
        .await
        .expect("stream open")
        .into_value()
}

fn echo(primus: &Primus) {
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        })
    });
}

#[tokio::test]
async fn sync_incoming_transforms_change_drop_and_fail() {
    let primus = Primus::new(quiet()).unwrap();
    primus.transform_incoming(|_spark, data| {
        if let Some(s) = data.as_str() {
            if s == "spam" {
                return Ok(Transformed::Drop);
            }
            if s == "boom" {
                return Err("refused by a transform".into());
            }
            *data = Value::from(s.to_uppercase());
        }
        Ok(Transformed::Keep)
    });
    let errors = Arc::new(AtomicUsize::new(0));
    let e = errors.clone();
    primus.on_connection(move |spark| {
        let e = e.clone();
        spark.on_error(move |_, err| {
            assert!(matches!(err, SparkError::Transform(_)), "{err}");
            e.fetch_add(1, Ordering::SeqCst);
        });
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        });
    });
    let server = TestServer::serve(primus).await;
    let mut c = client(&server).await;
    for m in ["spam", "boom", "hello"] {
        c.write(&m).unwrap();
    }
    assert_eq!(
        next_value(&mut c).await,
        Value::from("HELLO"),
        "spam and boom never reach data"
    );
    assert_eq!(errors.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn async_incoming_transforms_keep_messages_in_order() {
    let primus = Primus::new(quiet()).unwrap();
    primus.transform_incoming_async(|_spark, data| async move {
        // Later messages wait less: only awaiting in order keeps them in order.
        let n = data.as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(n))).await;
        Ok(Some(Value::from(n * 10)))
    });
    echo(&primus);
    let server = TestServer::serve(primus).await;
    let mut c = client(&server).await;
    for n in 0u64..20 {
        c.write(&n).unwrap();
    }
    for n in 0u64..20 {
        assert_eq!(next_value(&mut c).await.as_u64(), Some(n * 10));
    }
}

/// Each transformer hands what its peer sent to the spark its own way (one message per
/// WebSocket message, arrays of them, polling payloads, POST bodies): an async incoming
/// transform runs on every one, in order.
#[tokio::test]
async fn async_incoming_transforms_run_on_every_transformer() {
    let transformers = [
        ("websockets", cfg!(feature = "websockets")),
        ("engine.io", cfg!(feature = "engineio")),
        ("sockjs", cfg!(feature = "sockjs")),
        ("faye", cfg!(feature = "faye")),
        ("uws", cfg!(feature = "uws")),
        ("sse", cfg!(feature = "sse")),
        ("socket.io", cfg!(feature = "socketio")),
        ("browserchannel", cfg!(feature = "browserchannel")),
    ];
    for (transformer, _) in transformers.iter().filter(|(_, on)| *on) {
        let primus = Primus::new(quiet().transformer(*transformer)).unwrap();
        primus.transform_incoming_async(|_spark, data| async move {
            tokio::task::yield_now().await;
            Ok(Some(Value::from(format!(
                "async {}",
                data.as_str().unwrap_or("?")
            ))))
        });
        echo(&primus);
        let server = TestServer::serve(primus).await;
        let options = ClientOptions {
            transformer: transformer.to_string(),
            ..ClientOptions::default()
        };
        let mut c = Client::new(&format!("http://{}", server.addr), options).unwrap();
        for n in 0..5 {
            c.write(&format!("m{n}")).unwrap();
        }
        for n in 0..5 {
            assert_eq!(
                next_value(&mut c).await,
                Value::from(format!("async m{n}")),
                "{transformer}"
            );
        }
        c.end();
    }
}

#[tokio::test]
async fn outgoing_transforms_run_per_spark_and_async_ones_need_send() {
    let primus = Primus::new(quiet()).unwrap();
    primus.transform_outgoing(|spark, data| {
        if data.as_str() == Some("secret") {
            return Ok(Transformed::Drop);
        }
        if let Some(obj) = data.as_object_mut() {
            obj.insert("to".into(), Value::from(spark.id()));
        }
        Ok(Transformed::Keep)
    });
    let mut sparks = primus.connections();
    let server = TestServer::serve(primus.clone()).await;
    let mut a = client(&server).await;
    let spark_a = within("spark", sparks.next()).await.unwrap();
    let mut b = client(&server).await;
    let spark_b = within("spark", sparks.next()).await.unwrap();

    spark_a.write(&"secret").unwrap();
    assert_eq!(primus.write(&serde_json::json!({"hi": 1})).unwrap(), 2);
    let got_a = next_value(&mut a).await;
    let got_b = next_value(&mut b).await;
    assert_eq!(
        got_a.get("to").and_then(Value::as_str),
        Some(spark_a.id()),
        "secret dropped, broadcast per spark"
    );
    assert_eq!(got_b.get("to").and_then(Value::as_str), Some(spark_b.id()));

    primus.transform_outgoing_async(|_spark, data| async move {
        tokio::task::yield_now().await;
        Ok(Some(Value::from(format!(
            "async:{}",
            data.as_str().unwrap_or("?")
        ))))
    });
    assert!(matches!(
        spark_a.write(&"x"),
        Err(WriteError::AsyncTransform)
    ));
    assert!(matches!(
        primus.write(&"x"),
        Err(WriteError::AsyncTransform)
    ));
    spark_a.send(&"one").await.unwrap();
    assert_eq!(next_value(&mut a).await, Value::from("async:one"));
    assert_eq!(primus.send_all(&"all").await.unwrap(), 2);
    assert_eq!(next_value(&mut a).await, Value::from("async:all"));
    assert_eq!(next_value(&mut b).await, Value::from("async:all"));
}

#[derive(Clone, Default)]
struct Count(u64);

trait CountExt {
    fn received(&self) -> u64;
}

impl CountExt for Spark {
    fn received(&self) -> u64 {
        self.state::<Count>().map_or(0, |c| c.0)
    }
}

/// Server half counts messages per spark; client half upper-cases what clients receive.
struct Counter {
    unplugged: Arc<AtomicUsize>,
}

impl Plugin for Counter {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        primus.transform_incoming(|spark, _| {
            spark.with_state(|c: &mut Count| c.0 += 1);
            Ok(Transformed::Keep)
        });
        Ok(())
    }
    fn unplug(&self, _primus: &Primus) {
        self.unplugged.fetch_add(1, Ordering::SeqCst);
    }
    fn client(&self, client: &Client) {
        client.transform_incoming(|v| {
            if let Some(s) = v.as_str() {
                *v = Value::from(s.to_uppercase());
            }
            true
        });
    }
}

struct Failing;
impl Plugin for Failing {
    fn server(&self, _: &Primus) -> Result<(), BoxError> {
        Err("no database".into())
    }
}

#[tokio::test]
async fn plugins_have_server_and_client_halves_and_spark_state() {
    let primus = Primus::new(quiet()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    primus.on_plugin(move |n| e.lock().unwrap().push(format!("plugin {n}")));
    let e = events.clone();
    primus.on_plugout(move |n| e.lock().unwrap().push(format!("plugout {n}")));
    let unplugged = Arc::new(AtomicUsize::new(0));
    primus
        .plugin(
            "counter",
            Counter {
                unplugged: unplugged.clone(),
            },
        )
        .unwrap();
    assert!(
        primus.plugin("counter", Failing).is_err(),
        "names are unique"
    );
    let err = primus.plugin("failing", Failing).unwrap_err().to_string();
    assert!(err.contains("no database"), "{err}");
    assert_eq!(primus.plugins(), ["counter"]);

    let mut sparks = primus.connections();
    echo(&primus);
    let server = TestServer::serve(primus.clone()).await;
    let mut c = client(&server).await;
    let spark = within("spark", sparks.next()).await.unwrap();
    c.write(&"a").unwrap();
    c.write(&"b").unwrap();
    assert_eq!(
        next_value(&mut c).await,
        Value::from("A"),
        "client half ran"
    );
    assert_eq!(next_value(&mut c).await, Value::from("B"));
    assert_eq!(spark.received(), 2, "server half counted in spark state");
    assert_eq!(spark.take_state::<Count>().map(|c| c.0), Some(2));
    assert_eq!(spark.received(), 0);
    assert_eq!(spark.set_state(Count(7)).map(|c| c.0), None);
    assert_eq!(spark.received(), 7);

    assert!(primus.plugout("counter"));
    assert!(!primus.plugout("counter"));
    assert_eq!(unplugged.load(Ordering::SeqCst), 1);
    assert_eq!(
        *events.lock().unwrap(),
        ["plugin counter", "plugout counter"]
    );
}

#[tokio::test]
async fn async_connection_listeners_run_in_order_and_hold_messages() {
    let primus = Primus::new(quiet()).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = order.clone();
    primus.on_connection_async(move |_spark| {
        let o = o.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(150)).await;
            o.lock().unwrap().push("slow first");
            Ok(())
        }
    });
    let o = order.clone();
    primus.on_connection_async(move |spark| {
        let o = o.clone();
        async move {
            o.lock().unwrap().push("second");
            // Refuse sparks whose query says so: the spark ends.
            if spark.query().get("refuse").is_some() {
                return Err("refused by a listener".into());
            }
            Ok(())
        }
    });
    echo(&primus);
    let server = TestServer::serve(primus.clone()).await;
    let mut c = client(&server).await;
    // Written at once; the listeners take 150 ms; all arrive afterwards, in order.
    for n in 0u64..5 {
        c.write(&n).unwrap();
    }
    for n in 0u64..5 {
        assert_eq!(next_value(&mut c).await.as_u64(), Some(n));
    }
    assert_eq!(*order.lock().unwrap(), ["slow first", "second"]);

    let url = format!("http://{}/?refuse=1", server.addr);
    let refused = Client::from_server(&primus, &url, ClientOptions::default()).unwrap();
    let mut ev = refused.events();
    within("close", async {
        loop {
            if let Ok(ClientEvent::Close) = ev.recv().await {
                break;
            }
        }
    })
    .await;
    refused.end();
}

#[test]
fn reserved_event_names() {
    assert!(Primus::reserved("connection") && Primus::reserved("incoming::data"));
    assert!(!Primus::reserved("chat"));
    assert!(Spark::reserved("heartbeat") && !Spark::reserved("connection"));
    assert!(Client::reserved("reconnect scheduled") && !Client::reserved("news"));
}
