//! A plugin with a server half and a browser half.
//!
//! `Greeter` greets every new spark with `{"greet": "welcome <id>"}` (server half) and
//! teaches the browser client to turn that message into a `greeting` event and a
//! `primus.greeting` property instead of ordinary data (browser half, appended to
//! `/primus/primus.js` by the server).
//!
//! ```sh
//! cargo run -p primus-rs --example plugin -- --port 8080
//! # then, in a page: <script src="http://127.0.0.1:8080/primus/primus.js"></script>
//! #   const primus = new Primus('http://127.0.0.1:8080');
//! #   primus.on('greeting', (text) => console.log(text));
//! ```
//! `tests/browser/plugin.test.mjs` runs exactly that in Chromium.

use primus::{plugin::Plugin, BoxError, Options, Primus, Server};

/// Greets sparks; its browser half turns greetings into an event.
struct Greeter;

impl Plugin for Greeter {
    fn server(&self, primus: &Primus) -> Result<(), BoxError> {
        primus.on_connection(|spark| {
            let greeting = format!("welcome {}", spark.id());
            let _ = spark.write(&serde_json::json!({ "greet": greeting }));
        });
        Ok(())
    }

    fn library(&self) -> Option<String> {
        // Runs once per client made in the page; `primus` is the client.
        Some(
            r#"Primus.prototype.ark.greeter = function greeter(primus) {
  primus.transform('incoming', function (packet) {
    if (packet.data && typeof packet.data.greet === 'string') {
      primus.greeting = packet.data.greet;
      primus.emit('greeting', packet.data.greet);
      return false; // not ordinary data
    }
  });
};"#
            .to_string(),
        )
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = match std::env::args().skip_while(|a| a != "--port").nth(1) {
        Some(p) => p.parse()?,
        None => 8080,
    };
    let primus = Primus::new(Options::default())?;
    primus.plugin("greeter", Greeter)?;
    // Echo, so the page can check ordinary data still flows.
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let _ = spark.write(msg.value());
        })
    });
    let running = Server::bind(primus, ([127, 0, 0, 1], port).into())
        .iknowhttpsisbetter(true)
        .start()
        .await?;
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
