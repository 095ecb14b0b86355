//! `primus-bench parser-echo`: end-to-end echo throughput of our server with the msgpack
//! parser against the same server with the JSON parser.
//!
//! For each parser it starts `primus-e2e-server --parser <name> --ping-interval off`, opens
//! `--connections` WebSocket clients that each echo `--messages` copies of one chat message
//! (`{"emit":["chat",{…}]}`, encoded as JSON text or MessagePack binary) with `--in-flight`
//! outstanding, and prints messages per second and the ratio. The server decodes every
//! message with the parser and encodes the echo with it, so the difference is the parser's
//! share of the per-message cost. Parser-only throughput (ours vs the npm packages) is
//! `cargo bench -p primus-core --bench parsers`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::client::Target;

/// Options of `parser-echo`.
#[derive(Debug, Args)]
pub struct ParserEchoArgs {
    /// Echo connections.
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Messages per connection.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Messages outstanding per connection.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Measured rounds per parser, alternating json and msgpack (the median is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The e2e server binary (default: <workspace>/target/release/primus-e2e-server).
    #[arg(long)]
    server_bin: Option<PathBuf>,
}

/// The message, as `JSON.stringify` writes it.
const CHAT_JSON: &str =
    r#"{"emit":["chat",{"room":"lobby","user":"alice","text":"hello, world","seq":42}]}"#;

/// The same message as msgpack-lite writes it.
fn chat_msgpack() -> Vec<u8> {
    fn str(out: &mut Vec<u8>, s: &str) {
        out.push(0xa0 | s.len() as u8); // fixstr: every string here is under 32 bytes
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = vec![0x81]; // {
    str(&mut out, "emit");
    out.push(0x92); // [
    str(&mut out, "chat");
    out.push(0x84); // {
    for (k, v) in [
        ("room", "lobby"),
        ("user", "alice"),
        ("text", "hello, world"),
    ] {
        str(&mut out, k);
        str(&mut out, v);
    }
    str(&mut out, "seq");
    out.push(42);
    out
}

/// Runs the benchmark.
pub fn run(args: ParserEchoArgs, runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let bin = args
        .server_bin
        .clone()
        .unwrap_or_else(|| crate::servers::default_root().join("target/release/primus-e2e-server"));
    let cases = [
        ("json", Message::text(CHAT_JSON)),
        ("msgpack", Message::binary(chat_msgpack())),
    ];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    // Alternate the parsers so drift in machine load hits both alike.
    for _ in 0..args.rounds.max(1) {
        for (i, (parser, frame)) in cases.iter().enumerate() {
            let mut server = Server::start(&bin, parser)?;
            let url = format!("ws://127.0.0.1:{}/primus", server.port);
            let rate = runtime.block_on(echo(&url, frame, &args));
            server.stop();
            rates[i].push(rate?);
        }
    }
    let mut medians = [0.0; 2];
    for (i, (parser, frame)) in cases.iter().enumerate() {
        let r = &mut rates[i];
        r.sort_by(f64::total_cmp);
        medians[i] = r[r.len() / 2];
        let size = match frame {
            Message::Text(t) => t.len(),
            other => other.len(),
        };
        let all: Vec<String> = r.iter().map(|x| format!("{x:.0}")).collect();
        println!(
            "{parser:<8} {size:>4} bytes/message {:>10.0} messages/s (median of {})",
            medians[i],
            all.join(", ")
        );
    }
    println!(
        "msgpack / json: {:.2}x ({} connections x {} messages, {} in flight, {} rounds)",
        medians[1] / medians[0],
        args.connections,
        args.messages,
        args.in_flight,
        args.rounds.max(1)
    );
    Ok(())
}

/// Total echoed messages per second over all connections.
async fn echo(url: &str, frame: &Message, args: &ParserEchoArgs) -> Result<f64, String> {
    let target = Target::parse(url)?;
    let mut sockets = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        sockets.push(target.connect(i).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let frame = frame.clone();
        let (total, in_flight) = (args.messages, args.in_flight.max(1));
        tasks.push(tokio::spawn(async move {
            let (mut sent, mut received) = (0, 0);
            while sent < in_flight.min(total) {
                ws.send(frame.clone()).await.map_err(|e| e.to_string())?;
                sent += 1;
            }
            while received < total {
                let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
                    .await
                    .map_err(|_| "no echo within 30 s".to_string())?
                    .ok_or("connection closed")?
                    .map_err(|e| e.to_string())?;
                if msg != frame {
                    continue; // not the echo (nothing else is expected without heartbeats)
                }
                received += 1;
                if sent < total {
                    ws.send(frame.clone()).await.map_err(|e| e.to_string())?;
                    sent += 1;
                }
            }
            let _ = ws.close(None).await;
            Ok::<_, String>(received)
        }));
    }
    let mut echoed = 0usize;
    for t in tasks {
        echoed += t.await.map_err(|e| e.to_string())??;
    }
    Ok(echoed as f64 / start.elapsed().as_secs_f64())
}

/// A running `primus-e2e-server`.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(bin: &PathBuf, parser: &str) -> Result<Self, String> {
        let mut child = Command::new(bin)
            .args(["--port", "0", "--parser", parser, "--ping-interval", "off"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "{}: {e} (cargo build --release -p primus-e2e)",
                    bin.display()
                )
            })?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?;
        Ok(Server { child, port })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msgpack_message_is_what_primus_msgpack_writes() {
        // node: require('primus-msgpack').encode(JSON.parse(CHAT_JSON)).toString('hex')
        let want = "81a4656d697492a46368617484a4726f6f6da56c6f626279a475736572a5616c696365\
                    a474657874ac68656c6c6f2c20776f726c64a37365712a";
        let hex: String = chat_msgpack().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, want);
    }
}
