//! `rooms-bench`: fan-out of the rooms plugin over real WebSocket connections.
//!
//! One process runs a primus-rs server (websockets transformer, JSON, heartbeat off) with
//! the rooms plugin and holds every server-side socket; `--processes` child processes
//! (this same binary in client mode) open the client sides, so that no process comes
//! near the 20 000 open-files limit (client and server in one process would need two
//! descriptors per connection). `--members` of the `--connections` join room `bench`,
//! the others join `lobby`. Then the server broadcasts to `bench`:
//!
//! * **rounds**: one message at a time; for each, the time of the `write` call (select
//!   members, encode once, queue on each) and the time until the *last* member has it
//!   (each client process reports when all of its members got message `i`; the report
//!   travels over a pipe, so it includes a few µs of pipe latency);
//! * **bursts**: `--burst` messages back to back, then wait until every member has the
//!   last one; deliveries/s = members × messages / elapsed.
//!
//! Clients check that every member gets each message exactly once and that non-members
//! get nothing. Everything runs on loopback, on the same machine: the clients compete
//! with the server for the CPUs, so figures are a lower bound for the server alone.
//!
//! ```sh
//! cargo run --release -p primus-bench --bin rooms-bench -- --connections 15000 --members 10000
//! ```

use std::io::{BufRead, Write};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use primus::plugins::rooms::{PrimusRoomsExt, Rooms, SparkRoomsExt};
use primus::{Options, Primus};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "rooms-bench",
    about = "Room broadcast fan-out of the rooms plugin"
)]
struct Cli {
    /// Connections in all.
    #[arg(long, default_value_t = 15_000)]
    connections: usize,
    /// How many of them join the broadcast room.
    #[arg(long, default_value_t = 10_000)]
    members: usize,
    /// Client processes the connections are split across.
    #[arg(long, default_value_t = 3)]
    processes: usize,
    /// One-at-a-time broadcasts (latency).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Bursts (throughput).
    #[arg(long, default_value_t = 5)]
    bursts: usize,
    /// Messages per burst (below the server's queue size of 1024).
    #[arg(long, default_value_t = 16)]
    burst: usize,
    /// Size of each message, a JSON string literal, in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Connections a client process opens at a time.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// Internal: run as a client process against this URL.
    #[arg(long, hide = true)]
    client: Option<String>,
    /// Internal (client): connections of this process.
    #[arg(long, hide = true, default_value_t = 0)]
    client_connections: usize,
    /// Internal (client): members among them.
    #[arg(long, hide = true, default_value_t = 0)]
    client_members: usize,
}

/// Bound on any single phase wait.
const PHASE: Duration = Duration::from_secs(120);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = match cli.client.clone() {
        Some(url) => rt.block_on(client(cli, url)),
        None => rt.block_on(server(cli)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rooms-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn total_messages(cli: &Cli) -> usize {
    cli.rounds + cli.bursts * cli.burst
}

/// Message `i`: a JSON string of exactly `size` bytes, `"m<i>:xxx…"`.
fn payload(i: usize, size: usize) -> String {
    let mut s = format!("m{i}:");
    while s.len() + 2 < size {
        s.push('x');
    }
    s
}

/// The index of a message as the client sees it (`"m<i>:…"`).
fn index_of(text: &str) -> Option<usize> {
    let rest = text.strip_prefix("\"m")?;
    rest.split(':').next()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Server side (the parent process)
// ---------------------------------------------------------------------------------------

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let pick = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    format!(
        "min {:.2} ms, median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        v[0].as_secs_f64() * 1e3,
        pick(0.5).as_secs_f64() * 1e3,
        pick(0.9).as_secs_f64() * 1e3,
        v[v.len() - 1].as_secs_f64() * 1e3
    )
}

/// What the client processes reported: per message, how many processes have all of
/// their members served, and when the last report arrived.
struct Progress {
    rx: mpsc::UnboundedReceiver<(usize, String, Instant)>,
    processes: usize,
    done: Vec<usize>,
    last_arrival: Vec<Option<Instant>>,
}

impl Progress {
    /// Wait until every client process reported message `i` complete; when the last did.
    async fn wait_for(&mut self, i: usize) -> Result<Instant, String> {
        while self.done[i] < self.processes {
            let (p, line, at) = tokio::time::timeout(PHASE, self.rx.recv())
                .await
                .map_err(|_| format!("timed out waiting for message {i}"))?
                .ok_or("a client process exited")?;
            match line
                .strip_prefix("got ")
                .and_then(|s| s.parse::<usize>().ok())
            {
                Some(k) if k < self.done.len() => {
                    self.done[k] += 1;
                    self.last_arrival[k] = Some(self.last_arrival[k].map_or(at, |t| t.max(at)));
                }
                _ => return Err(format!("client process {p}: {line}")),
            }
        }
        Ok(self.last_arrival[i].expect("set"))
    }
}

async fn server(cli: Cli) -> Result<(), String> {
    if cli.members > cli.connections || cli.processes == 0 || cli.rounds == 0 {
        return Err("need members <= connections, processes >= 1, rounds >= 1".into());
    }
    let primus = Primus::new(Options::default().ping_interval(None)).map_err(|e| e.to_string())?;
    primus
        .plugin("rooms", Rooms::new())
        .map_err(|e| e.to_string())?;
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let room = match msg.value().as_str() {
                Some("join") => "bench",
                Some("lobby") => "lobby",
                _ => return,
            };
            if spark.join(room).is_ok() {
                let _ = spark.write("joined");
            }
        });
    });
    let running = primus::Server::bind(primus.clone(), "127.0.0.1:0".parse().unwrap())
        .iknowhttpsisbetter(true)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("ws://{}/primus", running.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(running.run_until(async {
        let _ = stopped.await;
    }));
    let rss_before = rss_kib();

    // Start the client processes; their stdout lines come back with arrival times.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    let mut children = Children(Vec::new());
    let n = cli.processes;
    for p in 0..n {
        let conns = cli.connections / n + usize::from(p < cli.connections % n);
        let members = cli.members / n + usize::from(p < cli.members % n);
        let mut child = Command::new(&exe)
            .args(["--client", &url])
            .args(["--client-connections", &conns.to_string()])
            .args(["--client-members", &members.to_string()])
            .args(["--rounds", &cli.rounds.to_string()])
            .args(["--bursts", &cli.bursts.to_string()])
            .args(["--burst", &cli.burst.to_string()])
            .args(["--batch", &cli.batch.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn client: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send((p, line, Instant::now())).is_err() {
                    break;
                }
            }
        });
        children.0.push(child);
    }
    drop(tx);

    let open_start = Instant::now();
    let mut ready = 0;
    while ready < n {
        let (p, line, _) = tokio::time::timeout(PHASE, rx.recv())
            .await
            .map_err(|_| "timed out waiting for the clients to connect".to_string())?
            .ok_or("a client process exited")?;
        if let Some(rest) = line.strip_prefix("ready ") {
            println!("client process {p}: {rest}");
            ready += 1;
        } else {
            println!("client process {p}: {line}");
        }
    }
    let open_time = open_start.elapsed();
    let members = primus.room_members("bench").len();
    println!(
        "{} connections open ({} in `bench`, {} in `lobby`) in {:.1} s; server RSS {} MiB (before: {} MiB)",
        primus.connected(),
        members,
        primus.room_members("lobby").len(),
        open_time.as_secs_f64(),
        rss_kib().unwrap_or(0) / 1024,
        rss_before.unwrap_or(0) / 1024,
    );
    if members != cli.members {
        return Err(format!(
            "{members} members joined, expected {}",
            cli.members
        ));
    }

    let mut progress = Progress {
        rx,
        // Only processes with members report.
        processes: (0..n)
            .filter(|p| cli.members / n + usize::from(*p < cli.members % n) > 0)
            .count(),
        done: vec![0; total_messages(&cli)],
        last_arrival: vec![None; total_messages(&cli)],
    };

    let mut select_times = Vec::new();
    let mut write_times = Vec::new();
    let mut last_times = Vec::new();
    let rounds_start = Instant::now();
    for i in 0..cli.rounds {
        let msg = payload(i, cli.size);
        // The selection alone (what `write` does first), to split the write() time.
        let t0 = Instant::now();
        let selected = primus.room("bench").members().len();
        select_times.push(t0.elapsed());
        if selected != cli.members {
            return Err(format!("{selected} members selected"));
        }
        let t0 = Instant::now();
        let sent = primus
            .room("bench")
            .write(&msg)
            .map_err(|e| e.to_string())?;
        write_times.push(t0.elapsed());
        if sent != cli.members {
            return Err(format!("message {i} queued for {sent} sparks"));
        }
        let last = progress.wait_for(i).await?;
        last_times.push(last - t0);
    }
    let rounds_time = rounds_start.elapsed();

    let mut burst_times = Vec::new();
    for b in 0..cli.bursts {
        let first = cli.rounds + b * cli.burst;
        let t0 = Instant::now();
        for i in first..first + cli.burst {
            let sent = primus
                .room("bench")
                .write(&payload(i, cli.size))
                .map_err(|e| e.to_string())?;
            if sent != cli.members {
                return Err(format!("message {i} queued for {sent} sparks"));
            }
        }
        let last = progress.wait_for(first + cli.burst - 1).await?;
        burst_times.push(last - t0);
        for i in first..first + cli.burst {
            progress.wait_for(i).await?;
        }
    }

    let m = cli.members as f64;
    println!(
        "\nroom broadcast to {} members ({}-byte messages), {} other connections, {} client processes, {} CPUs",
        cli.members,
        cli.size,
        cli.connections - cli.members,
        n,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!(
        "  write() call (select + encode once + queue): {}",
        stats(write_times)
    );
    println!(
        "    of which selecting the members (ids):     {}",
        stats(select_times)
    );
    println!(
        "  until the last member has it:               {}",
        stats(last_times)
    );
    println!(
        "  one at a time: {:.0} deliveries/s ({} rounds in {:.2} s)",
        m * cli.rounds as f64 / rounds_time.as_secs_f64(),
        cli.rounds,
        rounds_time.as_secs_f64()
    );
    if !burst_times.is_empty() {
        let total: Duration = burst_times.iter().sum();
        println!(
            "  bursts of {}: {:.0} deliveries/s ({} bursts; per burst: {})",
            cli.burst,
            m * (cli.burst * burst_times.len()) as f64 / total.as_secs_f64(),
            burst_times.len(),
            stats(burst_times)
        );
    }

    // Baseline: the server's own broadcast to every connection (clients ignore it), to
    // compare the per-spark cost of the write call.
    let mut all_times = Vec::new();
    for _ in 0..cli.rounds.min(10) {
        let t0 = Instant::now();
        let sent = primus
            .write(&format!("all:{}", "x".repeat(cli.size.saturating_sub(6))))
            .map_err(|e| e.to_string())?;
        all_times.push(t0.elapsed());
        if sent != cli.connections {
            return Err(format!("Primus::write queued for {sent} sparks"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    println!(
        "  baseline Primus::write to all {} connections, call time: {}",
        cli.connections,
        stats(all_times)
    );
    println!("  server RSS after: {} MiB", rss_kib().unwrap_or(0) / 1024);

    // Closing their stdin tells the clients to exit.
    for c in &mut children.0 {
        drop(c.stdin.take());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in &mut children.0 {
        while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(children);
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Client side (child processes)
// ---------------------------------------------------------------------------------------

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn client(cli: Cli, url: String) -> Result<(), String> {
    let total = total_messages(&cli);
    let counts: Arc<[AtomicUsize]> = (0..total).map(|_| AtomicUsize::new(0)).collect();
    let members = cli.client_members;
    let mut tasks = JoinSet::new();
    let mut opened = 0;
    let mut failed = 0;
    let mut first = 0;
    while first < cli.client_connections {
        let last = (first + cli.batch.max(1)).min(cli.client_connections);
        let (ready_tx, mut ready_rx) = mpsc::channel::<bool>(last - first);
        for i in first..last {
            let url = url.clone();
            let counts = counts.clone();
            let ready = ready_tx.clone();
            tasks.spawn(connection(url, i < members, members, counts, ready));
        }
        drop(ready_tx);
        while let Ok(Some(ok)) = tokio::time::timeout(PHASE, ready_rx.recv()).await {
            if ok {
                opened += 1;
            } else {
                failed += 1;
            }
        }
        first = last;
    }
    say(&format!("ready {opened} open, {failed} failed"));
    // Run until the parent closes our stdin.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
    // Exit without closing 5 000 connections one by one.
    std::process::exit(0);
}

async fn connection(
    url: String,
    member: bool,
    members: usize,
    counts: Arc<[AtomicUsize]>,
    ready: mpsc::Sender<bool>,
) {
    let Ok(Ok((mut ws, _))) =
        tokio::time::timeout(PHASE, tokio_tungstenite::connect_async(url.as_str())).await
    else {
        let _ = ready.send(false).await;
        return;
    };
    let ask = if member { "\"join\"" } else { "\"lobby\"" };
    if ws.send(Message::text(ask)).await.is_err() {
        let _ = ready.send(false).await;
        return;
    }
    let mut ready = Some(ready);
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else {
            continue;
        };
        if text.as_str().starts_with("\"all:") {
            continue; // the baseline broadcast
        }
        if text.as_str() == "\"joined\"" {
            if let Some(r) = ready.take() {
                let _ = r.send(true).await;
            }
            continue;
        }
        match index_of(text.as_str()) {
            Some(i) if member && i < counts.len() => {
                let n = counts[i].fetch_add(1, Ordering::AcqRel) + 1;
                if n == members {
                    say(&format!("got {i}"));
                } else if n > members {
                    say(&format!("duplicate delivery of message {i}"));
                }
            }
            _ => say(&format!("unexpected message to a non-member: {text}")),
        }
    }
    if let Some(r) = ready.take() {
        let _ = r.send(false).await;
    }
}
