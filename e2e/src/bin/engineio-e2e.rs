//! `engineio-e2e`: our Engine.IO layer for conformance suites.
//!
//! Default mode: the bare Engine.IO layer the way the official Engine.IO protocol test
//! suite (socketio/engine.io-protocol, `test-suite/`) expects it: path `/engine.io/`,
//! every message echoed as it came, `pingInterval` 300 ms, `pingTimeout` 200 ms,
//! `maxPayload` 1000000, Primus's own heartbeat off. Messages still pass through a spark
//! (with a pass-through parser), so the suite exercises the real transformer.
//!
//! `--primus`: a Primus server on `/primus` with the engine.io transformer and the JSON
//! parser (echo, `{cmd: "end", data}`, `{cmd: "info"}`), for the Primus 7 (Engine.IO 3)
//! interop test; `--allow-eio3` turns protocol 3 on.
//!
//! Flags: `--port <n>` (default 3000; 0 picks a free port). Prints `listening <port>`.

use primus::transformers::engineio::EngineIoOptions;
use primus::{Frame, Options, Parser, ParserError, Primus, Server, Spark, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Frames in, strings out: text frames decode to the string they hold.
#[derive(Debug)]
struct PassThrough;

impl Parser for PassThrough {
    fn name(&self) -> &str {
        "custom"
    }
    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        match primus::to_value(value) {
            Ok(v) if v.as_str().is_some() => Ok(Frame::text(v.as_str().unwrap_or_default())),
            _ => Err(ParserError::Encode(
                "the pass-through parser sends strings".into(),
            )),
        }
    }
    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        Ok(frame.as_str().map(Value::from).unwrap_or(Value::Null))
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("engineio-e2e: {msg}");
    std::process::exit(2);
}

fn control(spark: &Spark, data: &Value) {
    match data.get("cmd").and_then(Value::as_str) {
        Some("end") => spark.end(data.get("data"), false),
        Some("info") => {
            let _ = spark.write(&serde_json::json!({"id": spark.id(), "query": spark.query()}));
        }
        _ => {
            let _ = spark.write(data);
        }
    }
}

#[tokio::main]
async fn main() {
    let mut port = 3000u16;
    let mut primus_mode = false;
    let mut allow_eio3 = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"))
            }
            "--primus" => primus_mode = true,
            "--allow-eio3" => allow_eio3 = true,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let primus = if primus_mode {
        let primus = Primus::new(
            Options::default()
                .transformer("engine.io")
                .allow_eio3(allow_eio3),
        )
        .unwrap_or_else(|e| usage(&e.to_string()));
        primus.on_connection(|spark| spark.on_data(|spark, msg| control(spark, msg.value())));
        primus
    } else {
        let engineio = EngineIoOptions::default()
            .heartbeat(Duration::from_millis(300), Duration::from_millis(200));
        let options = Options::default()
            .pathname("/engine.io")
            .transformer("engine.io")
            .ping_interval(None)
            .max_length(1_000_000)
            .allow_eio3(allow_eio3)
            .engineio(engineio);
        let primus = Primus::with_parser(options, Arc::new(PassThrough))
            .unwrap_or_else(|e| usage(&e.to_string()));
        // Echo the frame exactly as it came (text or binary).
        primus.on_connection(|spark| {
            spark.on_data(|spark, msg| {
                let _ = spark.write_frame(msg.raw().clone());
            })
        });
        primus
    };
    let running = Server::bind(primus, SocketAddr::from(([127, 0, 0, 1], port)))
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap_or_else(|e| usage(&e.to_string()));
    primus_e2e::announce(running.local_addr());
    if let Err(e) = running.run_until(primus_e2e::shutdown_signal()).await {
        usage(&e.to_string());
    }
}
