//! `engineio-bench`: the engine.io transformer under load, ours against the real Node
//! Primus server, with the same load generator (our Rust client's engine.io transport).
//!
//! For each server (`ours`: `primus-e2e-server --transformer engine.io`, next to this
//! binary; `node`: `node tests/interop/reference-server.mjs --transformer engine.io`) and
//! each mode (`polling`: polling only; `upgraded`: polling, then WebSocket), it opens
//! `--connections` clients, runs a warm-up, then has every client echo `--messages`
//! messages of `--size` bytes with `--in-flight` outstanding, and reports messages per
//! second, p50/p99 round-trip latency and the server's CPU time per message
//! (`utime + stime` of `/proc/<pid>/stat`, all threads). Only 127.0.0.1 is used and every
//! phase is bounded in time.
//!
//! ```sh
//! cargo build --release -p primus-e2e && target/release/engineio-bench --connections 20
//! ```
//!
//! Results on the 2-core workplace machine (50 connections × 500 messages of 64 B, 8 in
//! flight each; the generator shares the two cores, so CPU per message is the fair
//! comparison):
//!
//! | server | mode     | msg/s | p50 ms | p99 ms | server CPU µs/msg |
//! |--------|----------|------:|-------:|-------:|------------------:|
//! | ours   | polling  | 38642 |   6.48 |  45.66 |               7.6 |
//! | node   | polling  |  9341 |  36.69 | 127.30 |              67.2 |
//! | ours   | upgraded | 53073 |   6.61 |  17.82 |               8.0 |
//! | node   | upgraded | 31213 |  11.62 |  28.43 |              19.6 |
//!
//! Server CPU per message: 0.11× Node's over polling, 0.41× upgraded (target ≤ 0.5×).

use futures_util::StreamExt;
use primus::client::{Client, ClientOptions};
use primus::transformers::engineio::client::EngineIoClientOptions;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    connections: usize,
    messages: usize,
    in_flight: usize,
    size: usize,
    warmup: usize,
}

fn args() -> Args {
    let mut a = Args {
        connections: 20,
        messages: 500,
        in_flight: 8,
        size: 64,
        warmup: 50,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v: usize = it
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{flag} needs a number"));
        match flag.as_str() {
            "--connections" => a.connections = v.clamp(1, 500),
            "--messages" => a.messages = v.clamp(1, 100_000),
            "--in-flight" => a.in_flight = v.clamp(1, 256),
            "--size" => a.size = v.clamp(16, 1 << 20),
            "--warmup" => a.warmup = v.min(10_000),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct ServerProc {
    child: Child,
    port: u16,
}

impl ServerProc {
    fn start(mut cmd: Command) -> Option<ServerProc> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let stdout = child.stdout.take()?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx.recv_timeout(Duration::from_secs(15)).ok()?;
        let port = line.strip_prefix("listening ")?.trim().parse().ok()?;
        Some(ServerProc { child, port })
    }

    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        ticks as f64 / 100.0
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn payload(conn: usize, seq: usize, size: usize) -> String {
    let mut s = format!("c{conn:05}m{seq:08}");
    while s.len() + 2 < size {
        s.push('x');
    }
    s
}

/// One client echoing `messages` messages, `in_flight` at a time; returns the RTTs (µs).
async fn drive(
    client: &mut Client,
    conn: usize,
    messages: usize,
    in_flight: usize,
    size: usize,
) -> Result<Vec<u32>, String> {
    let mut rtts = Vec::with_capacity(messages);
    let mut pending: VecDeque<(String, Instant)> = VecDeque::new();
    let mut sent = 0;
    while rtts.len() < messages {
        while sent < messages && pending.len() < in_flight {
            let p = payload(conn, sent, size);
            client.write(&p).map_err(|e| e.to_string())?;
            pending.push_back((p, Instant::now()));
            sent += 1;
        }
        let msg = tokio::time::timeout(Duration::from_secs(30), client.next())
            .await
            .map_err(|_| "no echo within 30 s".to_string())?
            .ok_or("connection ended")?;
        let got: String = msg.decode().map_err(|e| e.to_string())?;
        let (want, at) = pending.pop_front().ok_or("unexpected message")?;
        if got != want {
            return Err(format!("out of order: {got} != {want}"));
        }
        rtts.push(at.elapsed().as_micros().min(u32::MAX as u128) as u32);
    }
    Ok(rtts)
}

struct Row {
    server: &'static str,
    mode: &'static str,
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
    note: String,
}

async fn measure(server: &'static str, srv: &ServerProc, mode: &'static str, a: &Args) -> Row {
    let mut options = ClientOptions {
        transformer: "engine.io".into(),
        ping_timeout: None,
        ..ClientOptions::default()
    };
    options.transport.engineio = if mode == "polling" {
        EngineIoClientOptions::polling_only()
    } else {
        EngineIoClientOptions::default()
    };
    let url = format!("http://127.0.0.1:{}", srv.port);
    let mut clients = Vec::new();
    for _ in 0..a.connections {
        clients.push(Client::new(&url, options.clone()).expect("client"));
    }
    let fail = |note: String| Row {
        server,
        mode,
        rate: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        cpu_us: 0.0,
        note,
    };
    // Warm-up (also lets the upgrades finish).
    let warm = futures_util::future::join_all(
        clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| drive(c, i, a.warmup.max(1), a.in_flight, a.size)),
    );
    match tokio::time::timeout(Duration::from_secs(120), warm).await {
        Ok(results) => {
            if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
                return fail(format!("warm-up failed: {e}"));
            }
        }
        Err(_) => return fail("warm-up timed out".into()),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu0 = srv.cpu_seconds();
    let start = Instant::now();
    let round = futures_util::future::join_all(
        clients
            .iter_mut()
            .enumerate()
            .map(|(i, c)| drive(c, i, a.messages, a.in_flight, a.size)),
    );
    let results = match tokio::time::timeout(Duration::from_secs(300), round).await {
        Ok(r) => r,
        Err(_) => return fail("measured round timed out".into()),
    };
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = srv.cpu_seconds() - cpu0;
    let mut rtts = Vec::new();
    for r in results {
        match r {
            Ok(v) => rtts.extend(v),
            Err(e) => return fail(format!("round failed: {e}")),
        }
    }
    for c in &clients {
        c.end();
    }
    rtts.sort_unstable();
    let pct = |q: f64| rtts[((rtts.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    Row {
        server,
        mode,
        rate: rtts.len() as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        cpu_us: cpu * 1e6 / rtts.len() as f64,
        note: String::new(),
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_default();
    let ours = || {
        let mut c = Command::new(exe_dir.join("primus-e2e-server"));
        c.args(["--port", "0", "--transformer", "engine.io"]);
        c
    };
    let node = || {
        let mut c = Command::new("node");
        c.arg(repo_root().join("tests/interop/reference-server.mjs"))
            .args(["--port", "0", "--transformer", "engine.io"])
            .current_dir(repo_root());
        c
    };
    println!(
        "engine.io echo: {} connections × {} messages of {} bytes, {} in flight each",
        a.connections, a.messages, a.size, a.in_flight
    );
    println!();
    println!("| server | mode | msg/s | p50 ms | p99 ms | server CPU µs/msg | note |");
    println!("|---|---|---:|---:|---:|---:|---|");
    for mode in ["polling", "upgraded"] {
        for (name, cmd) in [("ours", ours()), ("node", node())] {
            let Some(srv) = ServerProc::start(cmd) else {
                println!("| {name} | {mode} | | | | | unavailable |");
                continue;
            };
            let r = measure(name, &srv, mode, &a).await;
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.1} | {} |",
                r.server, r.mode, r.rate, r.p50_ms, r.p99_ms, r.cpu_us, r.note
            );
        }
    }
}
