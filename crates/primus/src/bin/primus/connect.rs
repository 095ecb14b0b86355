//! `primus connect <url>`: a Primus client for shell pipelines and tests.
//!
//! Each stdin line is written (as JSON when it parses as JSON, else as a string); each
//! received message is printed as one JSON line on stdout; connection events go to
//! stderr. When stdin closes, its writes are sent (after the connection opens, if it was
//! not open yet) and the connection is ended the way its transport closes cleanly (the
//! WebSocket close handshake, Engine.IO's last poll); everything received before the
//! close completes is printed, within a bounded wait (`--linger` waits longer). It exits
//! 0 then or after a server `end()`, 1 when reconnecting gave up.

use futures_util::{SinkExt, StreamExt};
use primus::client::{Client, ClientEvent, ClientOptions};
use primus::Value;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

/// Flags of `primus connect`.
#[derive(clap::Args)]
pub struct ConnectArgs {
    /// Server URL, e.g. http://127.0.0.1:8080 (its path is ignored, like the reference).
    pub url: String,
    /// Transformer name.
    #[arg(long, default_value = "websockets")]
    pub transformer: String,
    /// Parser name.
    #[arg(long, default_value = "json")]
    pub parser: String,
    /// Path prefix of the server.
    #[arg(long, default_value = "/primus")]
    pub pathname: String,
    /// Configure from the server's `<pathname>/spec` instead (transformer, parser,
    /// heartbeat timeout).
    #[arg(long)]
    pub spec: bool,
    /// After stdin closes and the writes are flushed, keep printing what arrives for this
    /// many milliseconds before ending. Replies already on their way are printed without
    /// it; use it for replies the server sends later.
    #[arg(long, default_value_t = 0)]
    pub linger: u64,
    /// `webtransport`: trust the certificate hash the server publishes at
    /// `<pathname>/webtransport` (a development server's self-signed certificate).
    #[arg(long)]
    pub trust_published_hashes: bool,
}

pub async fn run(args: ConnectArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut options = ClientOptions {
        transformer: args.transformer,
        parser: primus::parser::by_name(&args.parser)?,
        pathname: args.pathname,
        ..ClientOptions::default()
    };
    options.transport.webtransport = options
        .transport
        .webtransport
        .trust_published_hashes(args.trust_published_hashes);
    let mut client = if args.spec {
        Client::from_spec(&args.url, options).await?
    } else {
        Client::new(&args.url, options)?
    };
    let mut events = client.events();
    let gave_up = tokio::spawn(async move {
        let mut gave_up = false;
        while let Ok(ev) = events.recv().await {
            match &ev {
                ClientEvent::ReconnectFailed(_) => gave_up = true,
                ClientEvent::Pong(_) | ClientEvent::ReadyStateChange(_) => continue,
                _ => {}
            }
            eprintln!("{}", describe(&ev));
        }
        gave_up
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let mut goodbye: Option<Instant> = None;
    loop {
        tokio::select! {
            line = lines.next_line(), if stdin_open => match line? {
                Some(line) => {
                    let value = serde_json::from_str::<Value>(&line)
                        .unwrap_or_else(|_| Value::from(line));
                    SinkExt::send(&mut client, value).await?;
                }
                None => {
                    stdin_open = false;
                    // Everything written is handed to the connection...
                    SinkExt::<Value>::flush(&mut client).await?;
                    // ...then, after `--linger`, say goodbye.
                    goodbye = Some(Instant::now() + Duration::from_millis(args.linger));
                }
            },
            _ = async { tokio::time::sleep_until(goodbye.unwrap_or_else(Instant::now)).await }, if goodbye.is_some() => {
                goodbye = None;
                client.end();
            },
            msg = client.next() => match msg {
                Some(msg) => println!("{}", msg.value()),
                None => break,
            },
        }
    }
    client.closed().await;
    drop(client);
    let gave_up = gave_up.await.unwrap_or(false);
    Ok(if gave_up {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(ev: &ClientEvent) -> String {
    match ev {
        ClientEvent::Error(e) => format!("error: {e}"),
        ClientEvent::ReconnectScheduled(a) => {
            format!(
                "reconnect scheduled: attempt {} in {:?}",
                a.attempt, a.scheduled
            )
        }
        ClientEvent::Reconnect(a) => format!("reconnect: attempt {}", a.attempt),
        ClientEvent::Reconnected(a) => format!("reconnected after {:?}", a.duration),
        other => format!("{other:?}").to_lowercase(),
    }
}
