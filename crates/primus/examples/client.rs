//! The Rust client in a few lines: connect, write, read, and see the connection events.
//!
//! Run a server first (`cargo run -p primus-rs -- serve --port 8080`), then:
//! `cargo run -p primus-rs --example client -- http://127.0.0.1:8080`
//!
//! `Client::from_spec` asks the server for its `/primus/spec`, so the client uses the
//! server's transformer, parser and heartbeat timeout without being told.

use futures_util::StreamExt;
use primus::client::{Client, ClientEvent, ClientOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let mut client = Client::from_spec(&url, ClientOptions::default()).await?;

    // Events arrive on their own channel; the client reconnects by itself.
    let mut events = client.events();
    tokio::spawn(async move {
        while let Ok(event) = events.recv().await {
            if !matches!(event, ClientEvent::Pong(_)) {
                eprintln!("event: {event:?}");
            }
        }
    });

    // Writes are buffered until the connection opens.
    client.write(&serde_json::json!({ "hello": "from Rust" }))?;
    client.write(&"broadcast:everyone hears this")?;
    println!("my spark id: {}", client.id().await?);

    // The client is a Stream of messages (and a Sink, for `forward`/`send`).
    for _ in 0..2 {
        if let Some(msg) = client.next().await {
            println!("received: {}", msg.value());
        }
    }
    client.end();
    Ok(())
}
