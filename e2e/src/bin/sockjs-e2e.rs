//! `sockjs-e2e`: our SockJS layer for the official SockJS protocol test suite
//! (sockjs/sockjs-protocol, `sockjs-protocol.py`).
//!
//! Four prefixes, each a Primus server with the sockjs transformer, a pass-through parser
//! (messages are echoed exactly as they came) and Primus's own heartbeat off, so the suite
//! sees the bare SockJS layer:
//!
//! - `/echo`: echo, `response_limit` 4096;
//! - `/close`: every session is closed at once with `c[3000,"Go away!"]`;
//! - `/disabled_websocket_echo`: echo without the websocket transports;
//! - `/cookie_needed_echo`: echo with the `JSESSIONID` cookie.
//!
//! Flags: `--port <n>` (default 8081, the suite's default; 0 picks a free port). Prints
//! `listening <port>`.

use primus::transformers::sockjs::{self, SockJsOptions};
use primus::{Frame, Options, Parser, ParserError, Primus, Server, Value};
use std::net::SocketAddr;
use std::sync::Arc;

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
    eprintln!("sockjs-e2e: {msg}");
    std::process::exit(2);
}

fn prefix(pathname: &str, settings: SockJsOptions, close: bool) -> Primus {
    let options = Options::default()
        .pathname(pathname)
        .transformer("sockjs")
        .ping_interval(None)
        .sockjs(settings);
    let primus = Primus::with_parser(options, Arc::new(PassThrough))
        .unwrap_or_else(|e| usage(&e.to_string()));
    // The suite sends origins such as `test` and `null`, which Primus's own CORS layer
    // refuses; SockJS answers CORS itself.
    primus.disable("cors");
    primus.on_connection(move |spark| {
        if close {
            sockjs::close(&spark, 3000, "Go away!");
            return;
        }
        spark.on_data(|spark, msg| {
            let _ = spark.write_frame(msg.raw().clone());
        });
    });
    primus
}

#[tokio::main]
async fn main() {
    let mut port = 8081u16;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"))
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let echo = prefix(
        "/echo",
        SockJsOptions::default().response_limit(4096),
        false,
    );
    let close = prefix("/close", SockJsOptions::default(), true);
    let disabled = prefix(
        "/disabled_websocket_echo",
        SockJsOptions::default().websocket(false),
        false,
    );
    let cookie = prefix(
        "/cookie_needed_echo",
        SockJsOptions::default().jsessionid(true),
        false,
    );
    // `/echo` answers its prefix; everything else goes down the chain of the others.
    let others = disabled.service(cookie.service(close.into_service()));
    let running = Server::bind(echo, SocketAddr::from(([127, 0, 0, 1], port)))
        .iknowhttpsisbetter(true)
        .app(others)
        .start()
        .await
        .unwrap_or_else(|e| usage(&e.to_string()));
    primus_e2e::announce(running.local_addr());
    if let Err(e) = running.run_until(primus_e2e::shutdown_signal()).await {
        usage(&e.to_string());
    }
}
