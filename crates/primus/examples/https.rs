//! A standalone Primus server over HTTPS (and so `wss://`).
//!
//! `primus::Server` is the ready-made server (the reference's `Primus.createServer`):
//! give it a PEM certificate chain and private key and it serves TLS with rustls.
//!
//! Make a self-signed certificate for a local try:
//!
//! ```text
//! openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
//!     -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
//!     -keyout key.pem -out cert.pem
//! ```
//!
//! Run it:
//!
//! ```text
//! cargo run -p primus-rs --example https -- --cert cert.pem --key key.pem [--port 8443]
//! ```
//!
//! Then try it (`-k`/`--insecure` because the certificate is self-signed):
//!
//! ```text
//! curl -k https://127.0.0.1:8443/primus/spec
//! websocat -k wss://127.0.0.1:8443/primus     # send "hello" (with the quotes)
//! ```
//!
//! Sparks know they came over TLS: `spark.address().secure` is `true`. Ctrl-C shuts the
//! server down gracefully: clients get a close that tells them to reconnect.

use primus::{Options, Primus, Server};
use std::path::PathBuf;

struct Args {
    cert: PathBuf,
    key: PathBuf,
    port: u16,
}

const USAGE: &str = "usage: https --cert <cert.pem> --key <key.pem> [--port <n>]";

fn args() -> Result<Args, String> {
    let (mut cert, mut key, mut port) = (None, None, 8443);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(Args {
        cert: cert.ok_or(format!("--cert is required\n{USAGE}"))?,
        key: key.ok_or(format!("--key is required\n{USAGE}"))?,
        port,
    })
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), primus::PrimusError> {
    let primus = Primus::new(Options::default())?;
    primus.on_connection(|spark| {
        let addr = spark.address();
        println!(
            "{} connected from {addr} (secure: {})",
            spark.id(),
            addr.secure
        );
        // Echo every message back to its sender.
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        });
    });

    // Loading the certificate and key happens in `start`: a bad path or PEM fails here
    // with a message naming the file.
    let server = Server::bind(primus, ([127, 0, 0, 1], args.port).into())
        .tls(&args.cert, &args.key)
        .start()
        .await?;
    println!("listening on https://{}", server.local_addr());
    server
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
