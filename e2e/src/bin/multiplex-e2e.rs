//! `multiplex-e2e`: a Primus server with the `multiplex` plugin, for the interop suites
//! (`tests/plugins/multiplex-interop.test.mjs`, `tests/browser/multiplex.test.mjs`). The same
//! contract as `tests/plugins/multiplex-reference-server.mjs` (Node Primus + npm substream):
//!
//! - every substream the client opens is accepted and its messages are echoed back on it;
//!   when it ends, the server writes plain `ended:<name>`;
//! - plain `open:<name>` opens `<name>` on the server and writes `hello` on it (then echoes
//!   it like the others); plain `close:<name>` ends `<name>` from the server;
//! - other plain values are echoed back as plain data.
//!
//! Flags: `--port <n>` (default 0, a free port), `--pathname <p>` (default `/primus`),
//! `--ping-interval <ms|off>` (default off). Binds 127.0.0.1 only, prints
//! `listening <port>` once it accepts connections, and stops on SIGINT or SIGTERM.

use futures_util::StreamExt;
use primus::plugins::multiplex::{Multiplex, SparkMultiplexExt, Substream};
use primus::{Options, Primus, Server, Spark};
use std::net::SocketAddr;
use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!("multiplex-e2e: {msg}");
    std::process::exit(2);
}

/// Echo `sub` on itself until it ends, then say so on the main stream.
fn echo(spark: &Spark, mut sub: Substream) {
    let spark = spark.clone();
    tokio::spawn(async move {
        while let Some(value) = sub.next().await {
            if let Err(e) = sub.send(&value).await {
                eprintln!("multiplex-e2e: substream {}: echo failed: {e}", sub.name());
            }
        }
        let _ = spark.write(&format!("ended:{}", sub.name()));
    });
}

fn contract(spark: &Spark) {
    spark.on_substream(echo);
    spark.on_data(|spark, msg| {
        let text = msg.value().as_str().unwrap_or_default();
        if let Some(name) = text.strip_prefix("open:") {
            let fresh = !spark.substreams().iter().any(|n| n == name);
            match spark.substream(name) {
                Ok(sub) => {
                    let _ = sub.write(&"hello");
                    if fresh {
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

#[tokio::main]
async fn main() {
    let mut port = 0u16;
    let mut options = Options::default().ping_interval(None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => port = value.parse().unwrap_or_else(|_| usage("bad --port")),
            "--pathname" => options = options.pathname(value),
            "--ping-interval" => {
                options = options.ping_interval(match value.as_str() {
                    "off" | "false" => None,
                    ms => Some(Duration::from_millis(
                        ms.parse().unwrap_or_else(|_| usage("bad --ping-interval")),
                    )),
                })
            }
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let primus = Primus::new(options).unwrap_or_else(|e| usage(&e.to_string()));
    primus
        .plugin("multiplex", Multiplex::default())
        .unwrap_or_else(|e| usage(&e.to_string()));
    primus.on_connection(|spark| contract(&spark));
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
