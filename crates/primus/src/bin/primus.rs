//! The `primus` command: `primus serve` runs the demo server.
//!
//! The demo echoes every message to its sender, except strings starting with
//! `broadcast:`, whose remainder goes to every connected spark, and `{"cmd":"drop-all"}`,
//! which ends every spark with reconnect. Its page at `/` uses the browser client.
//! `primus library` prints the browser client for a configuration.

use clap::{Parser, Subcommand};
use primus::{Options, Primus, Server, Value};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
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

/// `primus serve`: every server option that matters to a demo or a smoke test. Flags
/// override the config file, which overrides the defaults.
#[derive(clap::Args)]
struct ServeArgs {
    /// Read the server options from a file (`.toml` or `.json`; the `Options` names:
    /// `pathname`, `transformer`, `pingInterval`/`ping_interval`, `maxLength`, …).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Transformer name (default `websockets`).
    #[arg(long)]
    transformer: Option<String>,
    /// Parser name (default `json`).
    #[arg(long)]
    parser: Option<String>,
    /// TCP port (0 picks a free one; `listening <port>` is printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Path prefix Primus owns (default `/primus`).
    #[arg(long)]
    pathname: Option<String>,
    /// Heartbeat interval in ms, or `off` (default 30000).
    #[arg(long, value_parser = parse_ping)]
    ping_interval: Option<Ping>,
    /// Largest incoming message in bytes (default 10 MiB); bigger ones close with 1009.
    #[arg(long, value_name = "BYTES")]
    max_length: Option<usize>,
    /// Bound of each spark's outgoing queue, in messages (default 1024).
    #[arg(long = "queue", value_name = "MESSAGES")]
    queue_size: Option<usize>,
    /// Bound of each spark's incoming queue for Stream consumers (default 64).
    #[arg(long = "incoming-queue", value_name = "MESSAGES")]
    incoming_queue_size: Option<usize>,
    /// How long a write to a peer may stall before it is dropped, in ms (default 30000).
    #[arg(long, value_name = "MS")]
    write_timeout: Option<u64>,
    /// CORS: allowed origins (`*` or a comma-separated list).
    #[arg(long)]
    origins: Option<String>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, alias = "cert", requires = "tls_key", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, alias = "key", requires = "tls_cert", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// Join a cluster through Redis (`redis://host:port/`, `rediss://…`): broadcasts
    /// (the demo's `broadcast:`) reach every server started with the same Redis and prefix.
    #[cfg(feature = "cluster")]
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Key prefix of the cluster in Redis (default `primus`).
    #[cfg(feature = "cluster")]
    #[arg(long, requires = "redis", value_name = "PREFIX")]
    cluster_prefix: Option<String>,
}

/// A `--ping-interval` value: `None` is `off`.
#[derive(Clone, Copy)]
struct Ping(Option<Duration>);

fn parse_ping(s: &str) -> Result<Ping, String> {
    match s {
        "off" | "false" | "0" => Ok(Ping(None)),
        ms => ms
            .parse::<u64>()
            .map(|ms| Ping(Some(Duration::from_millis(ms))))
            .map_err(|_| format!("takes milliseconds or `off`, not `{ms}`")),
    }
}

/// Why the options could not be read.
#[derive(Debug, thiserror::Error)]
enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML for the server options: {source}")]
    Toml {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("config file {path} is not valid JSON for the server options: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("config file {0} must end in .toml or .json")]
    Extension(PathBuf),
}

/// The config file's options, or the defaults.
fn read_config(path: Option<&Path>) -> Result<Options, ConfigError> {
    let Some(path) = path else {
        return Ok(Options::default());
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.into(),
        source,
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => toml::from_str(&text).map_err(|source| ConfigError::Toml {
            path: path.into(),
            source,
        }),
        Some("json") => serde_json::from_str(&text).map_err(|source| ConfigError::Json {
            path: path.into(),
            source,
        }),
        _ => Err(ConfigError::Extension(path.into())),
    }
}

impl ServeArgs {
    /// The config file (or the defaults) with the flags applied on top.
    fn options(&self) -> Result<Options, ConfigError> {
        let mut o = read_config(self.config.as_deref())?;
        if let Some(v) = &self.transformer {
            o.transformer = v.clone();
        }
        if let Some(v) = &self.parser {
            o.parser = v.clone();
        }
        if let Some(v) = &self.pathname {
            o.pathname = v.clone();
        }
        if let Some(Ping(v)) = self.ping_interval {
            o.ping_interval = v;
        }
        if let Some(v) = self.max_length {
            o.max_length = v;
        }
        if let Some(v) = self.queue_size {
            o.queue_size = v;
        }
        if let Some(v) = self.incoming_queue_size {
            o.incoming_queue_size = v;
        }
        if let Some(v) = self.write_timeout {
            o.write_timeout = Duration::from_millis(v);
        }
        if let Some(v) = &self.origins {
            o.origins = v.clone();
        }
        Ok(o)
    }
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("primus: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(code) => code,
        Err(e) => {
            // Display, not Debug: the errors' messages say what to do.
            eprintln!("primus: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<ExitCode, Box<dyn std::error::Error>> {
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
    let options = args.options()?;
    tracing::debug!(?options, "server options");
    let primus = Primus::new(options)?;
    #[cfg(feature = "cluster")]
    if let Some(url) = &args.redis {
        use primus::plugins::cluster::{Cluster, PrimusClusterExt};
        let mut cluster = Cluster::new(url.as_str());
        if let Some(p) = &args.cluster_prefix {
            cluster = cluster.prefix(p.as_str());
        }
        primus.plugin("cluster", cluster)?;
        let handle = primus.cluster().ok_or("the cluster plugin did not start")?;
        tracing::info!(node = handle.node_id(), "joining the cluster at {url}");
        if tokio::time::timeout(Duration::from_secs(10), handle.ready())
            .await
            .is_err()
        {
            // Not fatal: the cluster keeps trying, and local sparks are served meanwhile.
            tracing::warn!(
                "Redis at {url} is not reachable yet; serving local sparks and retrying"
            );
        }
    }
    demo(&primus);
    let page = demo::Page::new(primus.clone());
    let mut server = Server::bind(primus.clone(), SocketAddr::new(args.host, args.port)).app(page);
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        server = server.tls(cert, key);
    }
    let running = server.start().await?;
    println!("listening {}", running.local_addr().port());
    if let Some(wt) = primus.webtransport_endpoint() {
        // The UDP endpoint, and the hash a browser or `primus connect
        // --trust-published-hashes` trusts a self-signed certificate by.
        match wt.certificate_hashes.first() {
            Some(hash) => println!("webtransport udp {} sha-256 {hash}", wt.port),
            None => println!("webtransport udp {}", wt.port),
        }
    }
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
