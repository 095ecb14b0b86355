//! `raw-echo`: a Primus WebSocket echo server for Autobahn|Testsuite
//! (`tests/autobahn/run.sh`).
//!
//! It runs a [`primus::Primus`] with the `websockets` transformer (or, with
//! `--transformer`, another plain-WebSocket one: `uws`/`lws` on the second engine, or
//! `faye`), Primus's heartbeat off
//! (a `primus::ping::…` text frame would be an unexpected message to the fuzzing client),
//! `max_length` 64 MiB (the 9.* cases send messages of up to 16 MiB) and [`Raw`], a parser
//! that passes frames through untouched: a text frame is a [`Value::String`], a binary
//! frame a [`Value::Binary`], and writing either sends the same kind of frame back. Every
//! message is echoed to the spark it came from, through the parser (`spark.write`), so
//! the suite exercises the spark's decode → write → encode path as well as the
//! transformer.
//!
//! The server binds `127.0.0.1` only. Any path under `/primus` upgrades; Autobahn is
//! pointed at `ws://127.0.0.1:<port>/primus`.
//!
//! Flags: `--port <n>` (default 0, a free port), `--transformer <websockets|uws|lws|faye>`
//! (default websockets). Prints `listening <port>` on stdout once
//! it accepts connections, and stops on SIGINT or SIGTERM.

use primus::{Frame, Options, Parser, ParserError, Primus, Server, Value};
use std::net::SocketAddr;
use std::sync::Arc;

/// The largest message accepted, in bytes: 64 MiB, four times Autobahn's largest case.
const MAX_LENGTH: usize = 64 * 1024 * 1024;

/// Outgoing frames a spark may queue before `write` reports the queue full. Autobahn
/// waits for each echo in all but a few cases, so this is far more than it needs.
const QUEUE_SIZE: usize = 4096;

/// A pass-through parser: frames are values and values are frames.
///
/// Text frames decode to [`Value::String`] and binary frames to [`Value::Binary`];
/// encoding accepts exactly those two kinds of value and produces the matching frame.
/// Anything else (a number, an object, …) cannot be encoded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Raw;

impl Parser for Raw {
    fn name(&self) -> &str {
        "custom"
    }

    fn encode(&self, value: &dyn erased_serde::Serialize) -> Result<Frame, ParserError> {
        let value = primus::to_value(value).map_err(|e| ParserError::Encode(e.to_string()))?;
        match value {
            Value::String(_) => Ok(Frame::text(value.into_string().unwrap_or_default())),
            Value::Binary(_) => Ok(Frame::Binary(value.into_bytes().unwrap_or_default())),
            other => Err(ParserError::Encode(format!(
                "the raw parser sends strings and bytes only, not {other}"
            ))),
        }
    }

    fn decode(&self, frame: &Frame) -> Result<Value, ParserError> {
        match frame {
            Frame::Text(_) => Ok(Value::String(
                frame.as_str().unwrap_or_default().to_string(),
            )),
            Frame::Binary(b) => Ok(Value::Binary(b.clone())),
        }
    }

    fn is_binary(&self) -> bool {
        // It sends binary frames whenever it echoes one.
        true
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("raw-echo: {msg}");
    std::process::exit(2);
}

#[tokio::main]
async fn main() {
    let mut port = 0u16;
    let mut transformer = String::from("websockets");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--transformer" => match args.next().as_deref() {
                Some(t @ ("websockets" | "uws" | "lws" | "faye")) => transformer = t.to_string(),
                _ => usage("--transformer takes websockets, uws, lws or faye"),
            },
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"))
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let options = Options::default()
        .transformer(transformer)
        .ping_interval(None)
        .max_length(MAX_LENGTH)
        .queue_size(QUEUE_SIZE);
    let primus =
        Primus::with_parser(options, Arc::new(Raw)).unwrap_or_else(|e| usage(&e.to_string()));
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            if let Err(e) = spark.write(msg.value()) {
                eprintln!("raw-echo: spark {}: echo failed: {e}", spark.id());
            }
        })
    });
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
