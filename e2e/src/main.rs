//! `primus-e2e-server`: the server the node and browser interop suites drive.
//!
//! It implements the contract written at the top of `tests/interop/reference-server.mjs`
//! (the same contract the real Node Primus server runs there), so every scenario runs
//! against both servers: echo, `broadcast:<text>`, and `{cmd: end|info|count|end-all}`.

use primus::http::StatusCode;
use primus::middleware::AuthError;
use primus::plugins::emitter::{Emitter, Event, PrimusEmitterExt, SparkEmitterExt};
use primus::plugins::responder::{Responder, SparkResponderExt};
use primus::{Options, Primus, Server, Spark, Value};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!("primus-e2e-server: {msg}");
    std::process::exit(2);
}

/// What the command line asked for beyond the server options.
struct Extras {
    port: u16,
    auth: bool,
    /// `--plugins emitter`: the emitter contract (see tests/interop/reference-server.mjs).
    emitter: bool,
    /// `--plugins responder`: the responder contract.
    responder: bool,
}

fn options() -> (Options, Extras) {
    let mut opts = Options::default();
    let mut port = 0u16;
    let mut auth = false;
    let mut emitter = false;
    let mut responder = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => port = value.parse().unwrap_or_else(|_| usage("bad --port")),
            "--pathname" => opts = opts.pathname(value),
            "--transformer" => opts = opts.transformer(value),
            "--parser" => opts = opts.parser(value),
            "--ping-interval" => {
                opts = opts.ping_interval(match value.as_str() {
                    "off" | "0" => None,
                    ms => Some(Duration::from_millis(
                        ms.parse().unwrap_or_else(|_| usage("bad --ping-interval")),
                    )),
                })
            }
            "--auth" => match value.as_str() {
                "on" => auth = true,
                "off" => auth = false,
                _ => usage("--auth takes on or off"),
            },
            "--origins" => opts.origins = value,
            "--max-length" => {
                opts = opts.max_length(value.parse().unwrap_or_else(|_| usage("bad --max-length")))
            }
            "--plugins" => {
                for name in value.split(',').filter(|n| !n.is_empty()) {
                    match name {
                        "emitter" => emitter = true,
                        "responder" => responder = true,
                        other => usage(&format!("unknown plugin {other}")),
                    }
                }
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    (
        opts,
        Extras {
            port,
            auth,
            emitter,
            responder,
        },
    )
}

/// The responder contract: a request is answered with `{"echo": data}`; the request
/// `"reverse"` makes the server ask the client `"q?"` first and answer
/// `{"client said": response}`.
fn responder_contract(spark: &Spark) {
    spark.on_request(|spark, request| {
        if request.data() == Some(&Value::from("reverse")) {
            let spark = spark.clone();
            tokio::spawn(async move {
                let said = spark.request(&"q?").await.ok().flatten();
                let _ = request.reply(&json!({ "client said": said }));
            });
        } else {
            let _ = request.reply(&json!({ "echo": request.data() }));
        }
    });
}

/// The emitter contract: `echo` is sent back, `ask` is acknowledged with `answer` and
/// its arguments, `quiz` makes the server ask `question` and report the client's
/// acknowledgement as `quiz-result`, `shout` is sent to every spark as `all`.
fn emitter_contract(spark: &Spark) {
    let on = |name: &str, f: fn(&Spark, Event)| {
        spark
            .on_event(name, f)
            .unwrap_or_else(|e| usage(&e.to_string()))
    };
    on("echo", |spark, event| {
        let _ = spark.emit("echo", event.args());
    });
    on("ask", |_, event| {
        if let Some(ack) = event.ack() {
            let mut reply = vec![Value::from("answer")];
            reply.extend(event.args().iter().cloned());
            let _ = ack.send(&reply);
        }
    });
    on("quiz", |spark, _| {
        let spark = spark.clone();
        tokio::spawn(async move {
            match spark.emit_with_ack("question", &("q?",)).await {
                Ok(reply) => {
                    let _ = spark.emit("quiz-result", &reply);
                }
                Err(e) => {
                    let _ = spark.emit("quiz-result", &(format!("error: {e}"),));
                }
            }
        });
    });
    on("shout", |spark, event| {
        let _ = spark.primus().emit_all("all", event.args());
    });
}

/// The contract's authorizer: the `token` query parameter of every request decides.
fn authorize(primus: &Primus) {
    primus.authorize(|req| {
        let token = req
            .uri
            .query()
            .map(primus::query::parse)
            .and_then(|q| q.get("token").map(|v| v.as_str().to_owned()));
        async move {
            match token.as_deref() {
                Some("good") => Ok(()),
                Some("forbidden") => Err(AuthError::new("forbidden").status(StatusCode::FORBIDDEN)),
                _ => Err(AuthError::new("unauthorized").authenticate("Bearer realm=\"primus\"")),
            }
        }
    });
}

fn info(spark: &Spark) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = spark
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                json!(String::from_utf8_lossy(v.as_bytes())),
            )
        })
        .collect();
    json!({
        "id": spark.id(),
        "query": spark.query(),
        "headers": headers,
        "address": spark.address(),
    })
}

fn control(primus: &Primus, spark: &Spark, data: &Value) {
    if let Value::String(s) = data {
        if let Some(rest) = s.strip_prefix("broadcast:") {
            let _ = primus.write(rest);
            return;
        }
    }
    if let Value::Object(obj) = data {
        match obj.get("cmd").and_then(Value::as_str) {
            Some("end") => {
                let reconnect = obj.get("reconnect").is_some_and(truthy);
                spark.end(obj.get("data"), reconnect);
                return;
            }
            Some("info") => {
                let _ = spark.write(&info(spark));
                return;
            }
            Some("count") => {
                let _ = spark.write(&json!({ "count": primus.connected() }));
                return;
            }
            Some("end-all") => {
                let reconnect = obj.get("reconnect").is_some_and(truthy);
                primus.for_each(|s| s.close(reconnect));
                return;
            }
            _ => {}
        }
    }
    let _ = spark.write(data);
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
        && v.as_str() != Some("")
        && v.as_f64() != Some(0.0)
}

#[tokio::main]
async fn main() {
    let (opts, extras) = options();
    let primus = Primus::new(opts).unwrap_or_else(|e| usage(&e.to_string()));
    if extras.auth {
        authorize(&primus);
    }
    if extras.emitter {
        primus
            .plugin("emitter", Emitter::default())
            .unwrap_or_else(|e| usage(&e.to_string()));
    }
    if extras.responder {
        primus
            .plugin("responder", Responder::default())
            .unwrap_or_else(|e| usage(&e.to_string()));
    }
    let (emitter, responder) = (extras.emitter, extras.responder);
    primus.on_connection(move |spark| {
        if emitter {
            emitter_contract(&spark);
        }
        if responder {
            responder_contract(&spark);
        }
        spark.on_data(|spark, msg| control(&spark.primus(), spark, msg.value()));
    });
    let running = Server::bind(primus, SocketAddr::from(([127, 0, 0, 1], extras.port)))
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap_or_else(|e| usage(&e.to_string()));
    primus_e2e::announce(running.local_addr());
    if let Err(e) = running.run_until(primus_e2e::shutdown_signal()).await {
        usage(&e.to_string());
    }
}
