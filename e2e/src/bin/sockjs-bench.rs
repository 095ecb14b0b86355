//! `sockjs-bench`: messages per second and server CPU time per message over SockJS
//! (websocket and xhr-streaming), our server against the Node Primus server, in one run
//! with one load generator (the Rust client's sockjs transport).
//!
//! ```text
//! cargo build --release -p primus-e2e --bins
//! target/release/sockjs-bench [--connections 20] [--messages 1000] [--inflight 8]
//!     [--server target/release/primus-e2e-server] [--node tests/interop/reference-server.mjs]
//! ```
//!
//! Each server runs as its own process (`--transformer sockjs --ping-interval off`); its
//! CPU time (user + system, from `/proc/<pid>/stat`) is read before and after the echo
//! rounds. Every connection sends `--messages` 64-byte strings with `--inflight` of them
//! unanswered at most, and waits for every echo. Prints a markdown table.

use futures_util::StreamExt;
use primus::client::{Client, ClientEvent, ClientOptions, TransportOptions};
use primus::transformers::sockjs::client::{SockJsClientOptions, SockJsTransport};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn usage(msg: &str) -> ! {
    eprintln!("sockjs-bench: {msg}");
    std::process::exit(2);
}

struct Args {
    connections: usize,
    messages: usize,
    inflight: usize,
    server: String,
    node: String,
}

fn args() -> Args {
    let root = std::env::current_dir().unwrap_or_default();
    let mut a = Args {
        connections: 20,
        messages: 1000,
        inflight: 8,
        server: root
            .join("target/release/primus-e2e-server")
            .display()
            .to_string(),
        node: root
            .join("tests/interop/reference-server.mjs")
            .display()
            .to_string(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = || {
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("bad {flag}")))
        };
        match flag.as_str() {
            "--connections" => a.connections = num(),
            "--messages" => a.messages = num(),
            "--inflight" => a.inflight = num().max(1),
            "--server" => a.server = value,
            "--node" => a.node = value,
            other => usage(&format!("unknown flag {other}")),
        }
    }
    a
}

/// A server process; killed on drop.
struct Proc {
    child: Child,
    port: u16,
}

impl Proc {
    fn start(mut cmd: Command) -> Proc {
        let mut child = cmd
            .args([
                "--port",
                "0",
                "--transformer",
                "sockjs",
                "--ping-interval",
                "off",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| usage(&format!("cannot start server: {e}")));
        let stdout = child.stdout.take().unwrap_or_else(|| usage("no stdout"));
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| usage(&format!("unexpected first line {line:?}")));
        Proc { child, port }
    }

    /// User + system CPU time of the process so far.
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        // CLK_TCK is 100 on Linux.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(port: u16, transport: SockJsTransport) -> Client {
    let options = ClientOptions {
        transformer: "sockjs".into(),
        ping_timeout: None,
        transport: TransportOptions {
            sockjs: SockJsClientOptions::default().transports([transport]),
            ..TransportOptions::default()
        },
        ..ClientOptions::default()
    };
    let client = Client::new(&format!("http://127.0.0.1:{port}"), options)
        .unwrap_or_else(|e| usage(&e.to_string()));
    let mut events = client.events();
    let opened = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(e) = events.recv().await {
            if matches!(e, ClientEvent::Open) {
                return true;
            }
        }
        false
    })
    .await;
    if opened != Ok(true) {
        usage("a client did not open within 10 s");
    }
    client
}

/// One connection's echo rounds.
async fn echo(mut client: Client, messages: usize, inflight: usize) {
    let payload = "x".repeat(62); // 64 bytes as JSON
    let mut sent = 0;
    let mut received = 0;
    while sent < inflight.min(messages) {
        let _ = client.write(&payload);
        sent += 1;
    }
    while received < messages {
        match tokio::time::timeout(Duration::from_secs(30), client.next()).await {
            Ok(Some(_)) => received += 1,
            _ => usage("an echo did not come back within 30 s"),
        }
        if sent < messages {
            let _ = client.write(&payload);
            sent += 1;
        }
    }
    client.end();
}

struct Row {
    server: &'static str,
    transport: &'static str,
    msgs: usize,
    elapsed: Duration,
    cpu: Duration,
}

async fn run(server: &'static str, cmd: Command, transport: SockJsTransport, a: &Args) -> Row {
    let proc = Proc::start(cmd);
    let mut clients = Vec::new();
    for _ in 0..a.connections {
        clients.push(connect(proc.port, transport).await);
    }
    let cpu0 = proc.cpu();
    let t0 = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|c| tokio::spawn(echo(c, a.messages, a.inflight)))
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = t0.elapsed();
    let cpu = proc.cpu().saturating_sub(cpu0);
    Row {
        server,
        transport: match transport {
            SockJsTransport::WebSocket => "websocket",
            _ => "xhr-streaming",
        },
        msgs: a.connections * a.messages,
        elapsed,
        cpu,
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let mut rows = Vec::new();
    for transport in [SockJsTransport::WebSocket, SockJsTransport::XhrStreaming] {
        rows.push(run("primus-rs", Command::new(&a.server), transport, &a).await);
        let mut node = Command::new("node");
        node.arg(&a.node);
        rows.push(run("Node Primus 8 (sockjs 0.3.24)", node, transport, &a).await);
    }
    println!(
        "{} connections × {} echoed messages of 64 bytes, {} in flight each\n",
        a.connections, a.messages, a.inflight
    );
    println!("| server | transport | msg/s | server CPU µs/msg |");
    println!("|---|---|---|---|");
    for r in &rows {
        let rate = r.msgs as f64 / r.elapsed.as_secs_f64();
        let cpu = r.cpu.as_secs_f64() * 1e6 / r.msgs as f64;
        println!(
            "| {} | {} | {:.0} | {:.2} |",
            r.server, r.transport, rate, cpu
        );
    }
    for pair in rows.chunks(2) {
        if let [ours, node] = pair {
            let ratio = ours.cpu.as_secs_f64() / node.cpu.as_secs_f64().max(1e-9);
            println!("\n{}: CPU per message {:.2}× Node's", ours.transport, ratio);
        }
    }
}
