//! The `primus` command: `primus serve` runs the demo server.
//!
//! The demo echoes every message to its sender, except strings starting with
//! `broadcast:`, whose remainder goes to every connected spark, and `{"cmd":"drop-all"}`,
//! which ends every spark with reconnect. Its page at `/` uses the browser client.
//! `primus library` prints the browser client for a configuration.

use clap::{Parser, Subcommand};
use primus::{Options, Primus, Server, Value};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

#[path = "primus/connect.rs"]
mod connect;
#[path = "primus/demo.rs"]
mod demo;

#[derive(Parser)]
#[command(
    name = "primus",
    version,
    about = "Primus, the universal wrapper for real-time frameworks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo server: echo, and `broadcast:<text>` to everyone.
    Serve(ServeArgs),
    /// Connect to a Primus server: stdin lines out, received messages as JSON lines.
    Connect(connect::ConnectArgs),
    /// Print the browser client library (`<pathname>/primus.js`) for a configuration.
    Library(demo::LibraryArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Transformer name.
    #[arg(long, default_value = "websockets")]
    transformer: String,
    /// Parser name.
    #[arg(long, default_value = "json")]
    parser: String,
    /// TCP port (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Path prefix Primus owns.
    #[arg(long, default_value = "/primus")]
    pathname: String,
    /// Heartbeat interval in ms, or `off`.
    #[arg(long, default_value = "30000")]
    ping_interval: String,
    /// PEM certificate chain: serve HTTPS (with --key).
    #[arg(long, requires = "key")]
    cert: Option<std::path::PathBuf>,
    /// PEM private key.
    #[arg(long, requires = "cert")]
    key: Option<std::path::PathBuf>,
}

fn parse_ping(s: &str) -> Result<Option<Duration>, String> {
    match s {
        "off" | "false" | "0" => Ok(None),
        ms => ms
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| format!("--ping-interval takes milliseconds or `off`, not `{ms}`")),
    }
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await.map(|()| ExitCode::SUCCESS),
        Command::Connect(args) => connect::run(args).await,
        Command::Library(args) => demo::library(args).map(|()| ExitCode::SUCCESS),
    }
}

async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::default()
        .transformer(args.transformer)
        .parser(args.parser)
        .pathname(args.pathname)
        .ping_interval(parse_ping(&args.ping_interval)?);
    let primus = Primus::new(options)?;
    demo(&primus);
    let page = demo::Page::new(primus.clone());
    let mut server = Server::bind(primus, SocketAddr::new(args.host, args.port)).app(page);
    if let (Some(cert), Some(key)) = (args.cert, args.key) {
        server = server.tls(cert, key);
    }
    let running = server.start().await?;
    println!("listening {}", running.local_addr().port());
    running
        .run_until(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing a SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}

/// The demo's behaviour: echo, and broadcast on request.
fn demo(primus: &Primus) {
    primus.on_connection(|spark| {
        tracing::info!(id = spark.id(), address = %spark.address(), "connection");
        spark.on_data(|spark, msg| {
            let sent = match msg.value() {
                Value::String(s) if s.starts_with("broadcast:") => {
                    spark.primus().write(&s["broadcast:".len()..]).map(|_| ())
                }
                v if demo::is_drop_all(v) => {
                    demo::drop_all(&spark.primus());
                    Ok(())
                }
                other => spark.write(other),
            };
            if let Err(e) = sent {
                tracing::warn!(id = spark.id(), error = %e, "reply not sent");
            }
        });
        spark.on_end(|spark| tracing::info!(id = spark.id(), "disconnection"));
    });
}
