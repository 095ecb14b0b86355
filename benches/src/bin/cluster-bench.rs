//! `cluster-bench`: cross-node broadcast throughput and latency of the cluster plugin.
//!
//! Scenarios, one after the other on the same machine and the same Redis
//! (`redis-server` on a free loopback port, no persistence, killed at the end):
//!
//! * **cluster**: `--nodes` (3) `primus-cluster-node` processes joined through Redis; the
//!   `--clients` (3000) WebSocket clients are spread evenly over them; a sender on node 1
//!   broadcasts (`{"op":"broadcast","msg":…}`), so node 1 delivers to its own clients and
//!   the others get every message through the Redis stream;
//! * **single**: one `primus-cluster-node` (same binary, same Redis, another `--prefix`)
//!   holding every client and the sender: the same server work without the cross-node
//!   hop (it still appends each broadcast to the stream, which nobody reads);
//! * **single-no-redis**: this binary in a hidden server mode, a plain primus-rs server
//!   (rooms plugin, no cluster plugin) that answers the same `broadcast` op.
//!
//! The client sides live in `--processes` child processes (this binary in a hidden client
//! mode), so that no process comes near the open-files limit. Each scenario:
//!
//! * **latency rounds** (`--rounds`, after `--warmup` unmeasured ones): one broadcast at a
//!   time carrying the sender's send time (`SystemTime`, ns: the one clock every process
//!   on the machine shares); each client process reports, per message, the latest receive
//!   time over its clients and every client's latency; figures are the time until the
//!   *last* client has it, and the per-client latency pooled over clients and rounds;
//! * **throughput bursts** (`--bursts` × `--burst` messages back to back): deliveries/s =
//!   clients × messages / time from the first send until every client has the last one.
//!
//! Every client checks that it gets every message exactly once and in order (by index),
//! with the right payload size; any miss, duplicate or reordering is printed and makes
//! the exit status non-zero. The nodes' cluster counters are checked too (gaps, drops).
//! Clients, nodes and Redis all run on loopback on the same machine and compete for the
//! CPUs: figures are a lower bound, and the cluster/single ratio is the point.
//!
//! ```sh
//! cargo build --release -p primus-bench --bin cluster-bench -p primus-e2e --bin primus-cluster-node
//! target/release/cluster-bench            # 3000 clients, 50 rounds, 5 bursts of 200
//! target/release/cluster-bench --quick    # 300 clients, 10 rounds, 2 bursts of 50
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, ValueEnum};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use primus::plugins::rooms::Rooms;
use primus::{Options, Primus, Server};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "cluster-bench",
    about = "Cross-node broadcast throughput and latency: a Redis cluster of primus-cluster-nodes vs one node"
)]
struct Cli {
    /// WebSocket clients in all, spread evenly over the nodes [default: 3000; --quick 300].
    #[arg(long)]
    clients: Option<usize>,
    /// Nodes of the cluster scenario.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Measured one-at-a-time broadcasts [default: 50; --quick 10].
    #[arg(long)]
    rounds: Option<usize>,
    /// Unmeasured rounds before them (checked for exactness like the others).
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Bursts [default: 5; --quick 2].
    #[arg(long)]
    bursts: Option<usize>,
    /// Messages per burst, back to back [default: 200; --quick 50; at most 500].
    #[arg(long)]
    burst: Option<usize>,
    /// Bytes of the `pad` string of each message.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Smoke run: 300 clients, 10 rounds, 2 bursts of 50 (explicit flags still win).
    #[arg(long)]
    quick: bool,
    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "cluster,single,single-no-redis"
    )]
    scenarios: Vec<Scenario>,
    /// Client processes the clients are split across.
    #[arg(long, default_value_t = 3)]
    processes: usize,
    /// Connections a client process opens at a time.
    #[arg(long, default_value_t = 250)]
    batch: usize,
    /// The `primus-cluster-node` binary [default: next to this executable].
    #[arg(long)]
    node_bin: Option<PathBuf>,
    /// The `redis-server` binary.
    #[arg(long, default_value = "/usr/bin/redis-server")]
    redis_bin: PathBuf,
    /// Internal: run as a client process against these comma-separated URLs.
    #[arg(long, hide = true)]
    client: Option<String>,
    /// Internal (client): global index of this process's first connection.
    #[arg(long, hide = true, default_value_t = 0)]
    client_offset: usize,
    /// Internal (client): connections of this process.
    #[arg(long, hide = true, default_value_t = 0)]
    client_connections: usize,
    /// Internal (client): messages to expect.
    #[arg(long, hide = true, default_value_t = 0)]
    client_messages: usize,
    /// Internal (client): the first messages, whose per-client latencies are reported.
    #[arg(long, hide = true, default_value_t = 0)]
    client_timed: usize,
    /// Internal: run as the plain (no cluster plugin) server.
    #[arg(long, hide = true)]
    serve_plain: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// `--nodes` cluster nodes over Redis.
    Cluster,
    /// One cluster node (with Redis) holding everyone.
    Single,
    /// One plain primus-rs server, no cluster plugin.
    SingleNoRedis,
}

impl Scenario {
    fn key(self) -> &'static str {
        match self {
            Scenario::Cluster => "cluster",
            Scenario::Single => "single",
            Scenario::SingleNoRedis => "single-no-redis",
        }
    }
}

/// The resolved sizes of a run.
#[derive(Debug, Clone)]
struct Plan {
    clients: usize,
    nodes: usize,
    rounds: usize,
    warmup: usize,
    bursts: usize,
    burst: usize,
    size: usize,
    processes: usize,
    batch: usize,
}

impl Plan {
    fn new(cli: &Cli) -> Result<Plan, String> {
        let pick = |v: Option<usize>, quick: usize, full: usize| {
            v.unwrap_or(if cli.quick { quick } else { full })
        };
        let plan = Plan {
            clients: pick(cli.clients, 300, 3000),
            nodes: cli.nodes,
            rounds: pick(cli.rounds, 10, 50),
            warmup: cli.warmup,
            bursts: pick(cli.bursts, 2, 5),
            burst: pick(cli.burst, 50, 200),
            size: cli.size,
            processes: cli.processes.min(pick(cli.clients, 300, 3000)),
            batch: cli.batch.max(1),
        };
        if plan.clients == 0 || plan.processes == 0 || plan.nodes == 0 || plan.rounds == 0 {
            return Err("need --clients, --processes, --nodes and --rounds >= 1".into());
        }
        // The sender gets each message and a `done` reply: keep below the 1024-message
        // outgoing queue, past which a broadcast disconnects a spark as too slow.
        if plan.burst == 0 || plan.burst > 500 {
            return Err("--burst must be 1..=500 (the server's outgoing queue is 1024)".into());
        }
        if plan.size > 1 << 20 {
            return Err("--size must be at most 1 MiB".into());
        }
        Ok(plan)
    }
    /// Messages per scenario.
    fn total(&self) -> usize {
        self.timed() + self.bursts * self.burst
    }
    /// Warm-up plus measured rounds (indices `0..timed`).
    fn timed(&self) -> usize {
        self.warmup + self.rounds
    }
}

/// Bound on any single wait for a report.
const WAIT: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let done = |r: Result<(), String>| match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster-bench: {e}");
            ExitCode::FAILURE
        }
    };
    if cli.serve_plain {
        return done(rt.block_on(serve_plain()));
    }
    if let Some(urls) = cli.client.clone() {
        return done(rt.block_on(client(cli, urls)));
    }
    let plan = match Plan::new(&cli) {
        Ok(p) => p,
        Err(e) => return done(Err(e)),
    };
    let redis = match Redis::start(&cli.redis_bin) {
        Ok(r) => r,
        Err(e) => return done(Err(e)),
    };
    let code = rt.block_on(bench(&cli, &plan, &redis));
    drop(redis);
    code
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn clip(text: &str) -> String {
    let cut: String = text.chars().take(160).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// The digits after `key` (e.g. `"i":`).
fn field_u64(text: &str, key: &str) -> Option<u64> {
    let at = text.find(key)? + key.len();
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// A broadcast as a client sees it:
/// `{"op":"msg","kind":"broadcast","from":…,"msg":{"i":k,"t":ns,"pad":"xx…"}}` (any key
/// order). Parsed by hand: the 1 KiB pad only has its length checked.
fn parse_msg(text: &str, size: usize) -> Result<(usize, u64), String> {
    if !text.contains("\"op\":\"msg\"") || !text.contains("\"kind\":\"broadcast\"") {
        return Err("not a broadcast".into());
    }
    let i = field_u64(text, "\"i\":").ok_or("no msg.i")?;
    let t = field_u64(text, "\"t\":").ok_or("no msg.t")?;
    const PAD: &str = "\"pad\":\"";
    let at = text.find(PAD).ok_or("no msg.pad")? + PAD.len();
    let len = text[at..].find('"').ok_or("unterminated msg.pad")?;
    if len != size {
        return Err(format!("msg.pad is {len} bytes, expected {size}"));
    }
    Ok((i as usize, t))
}

/// The answer to a server heartbeat, if `text` is one.
fn pong(text: &str) -> Option<Message> {
    text.strip_prefix("\"primus::ping::")
        .map(|rest| Message::text(format!("\"primus::pong::{rest}")))
}

/// Connect and ask `whoami`: once it answers, the server holds the spark and its data
/// handler (a broadcast sent later reaches it). Returns the node's name.
async fn connect_whoami(url: &str) -> Result<(Ws, String), String> {
    let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .map_err(|_| format!("connect to {url}: timed out"))?
        .map_err(|e| format!("connect to {url}: {e}"))?;
    ws.send(Message::text(r#"{"op":"whoami"}"#))
        .await
        .map_err(|e| format!("whoami to {url}: {e}"))?;
    let node = tokio::time::timeout(WAIT, async {
        while let Some(frame) = ws.next().await {
            let Ok(Message::Text(text)) = frame else {
                continue;
            };
            if let Some(p) = pong(text.as_str()) {
                let _ = ws.send(p).await;
                continue;
            }
            let v: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::Null);
            if v["op"] == "whoami" {
                return Ok(v["node"].as_str().unwrap_or("?").to_string());
            }
            return Err(format!(
                "whoami to {url}: unexpected {}",
                clip(text.as_str())
            ));
        }
        Err(format!("whoami to {url}: connection closed"))
    })
    .await
    .map_err(|_| format!("whoami to {url}: timed out"))??;
    Ok((ws, node))
}

// ---------------------------------------------------------------------------------------
// Processes: Redis, servers, clients
// ---------------------------------------------------------------------------------------

/// Child processes, killed when dropped (also on error and panic paths).
#[derive(Default)]
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// CPU time of a process so far (user + system, all threads), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the parenthesised name; utime and stime are fields 14 and 15.
    let rest = stat.rfind(')').map_or("", |at| &stat[at + 1..]);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // USER_HZ is 100 on Linux for every architecture this runs on.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A free loopback port (bound then released), never Redis's default 6379.
fn free_port() -> Result<u16, String> {
    for _ in 0..10 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        if port != 6379 {
            return Ok(port);
        }
    }
    Err("no free port".into())
}

struct Redis {
    child: Child,
    port: u16,
    version: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn redis_ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

impl Redis {
    fn start(bin: &PathBuf) -> Result<Redis, String> {
        let version = Command::new(bin)
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let version = String::from_utf8_lossy(&version.stdout)
            .split_whitespace()
            .find_map(|w| w.strip_prefix("v="))
            .unwrap_or("?")
            .to_string();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let child = Command::new(bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
            let mut redis = Redis {
                child,
                port,
                version: version.clone(),
            };
            let log = Arc::new(Mutex::new(Vec::<String>::new()));
            if let Some(out) = redis.child.stdout.take() {
                let log = log.clone();
                std::thread::spawn(move || {
                    for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                        let mut l = lock(&log);
                        if l.len() < 50 {
                            l.push(line);
                        }
                    }
                });
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if redis_ping(port) {
                    return Ok(redis);
                }
                if redis.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            last = format!(
                "redis-server on port {port} did not answer:\n{}",
                lock(&log).join("\n")
            );
            // `redis` is dropped (killed) here; try another port.
        }
        Err(last)
    }
}

/// A server process that printed `listening <port>`.
struct ServerProc {
    name: String,
    pid: u32,
    port: u16,
}

/// Spawn a server; forward its stderr (prefixed, counted in `warnings`) and wait for its
/// `listening <port>` line.
async fn spawn_server(
    procs: &mut Procs,
    mut cmd: Command,
    name: &str,
    warnings: Arc<AtomicUsize>,
) -> Result<ServerProc, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {name} ({cmd:?}): {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    procs.0.push(child);
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let label = name.to_string();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            warnings.fetch_add(1, Ordering::Relaxed);
            eprintln!("[{label}] {line}");
        }
    });
    loop {
        let line = tokio::time::timeout(WAIT, rx.recv())
            .await
            .map_err(|_| format!("{name}: no `listening <port>` line within {WAIT:?}"))?
            .ok_or_else(|| format!("{name} exited before listening"))?;
        if let Some(port) = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
        {
            return Ok(ServerProc {
                name: name.to_string(),
                pid,
                port,
            });
        }
    }
}

/// What a client process answered to `check`.
#[derive(Debug, Clone, Default)]
struct Check {
    conns: usize,
    open: usize,
    min_next: usize,
    max_next: usize,
    errors: usize,
}

/// The client processes' reports.
struct Progress {
    rx: mpsc::UnboundedReceiver<(usize, String)>,
    processes: usize,
    warmup: usize,
    done: Vec<usize>,
    last_ns: Vec<u64>,
    lats: Vec<Vec<u32>>,
    errors: Vec<String>,
    checks: Vec<Option<Check>>,
    /// Connections that closed, once `closed_fatal` is off.
    closed: Vec<String>,
    /// Whether a closed connection fails the wait (on while measuring).
    closed_fatal: bool,
}

impl Progress {
    async fn pump(&mut self) -> Result<(), String> {
        let (p, line) = tokio::time::timeout(WAIT, self.rx.recv())
            .await
            .map_err(|_| format!("no report from the client processes for {WAIT:?}"))?
            .ok_or("a client process exited")?;
        self.handle(p, &line)
    }

    fn handle(&mut self, p: usize, line: &str) -> Result<(), String> {
        let mut words = line.splitn(4, ' ');
        match words.next() {
            Some("got") => {
                let k: usize = words
                    .next()
                    .and_then(|w| w.parse().ok())
                    .filter(|k| *k < self.done.len())
                    .ok_or_else(|| format!("client process {p}: bad line {line}"))?;
                let ns: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
                self.done[k] += 1;
                self.last_ns[k] = self.last_ns[k].max(ns);
                if let (Some(list), true) = (words.next(), k >= self.warmup) {
                    self.lats[k].extend(list.split(',').filter_map(|v| v.parse::<u32>().ok()));
                }
            }
            Some("check") => {
                let n: Vec<usize> = words
                    .flat_map(|w| w.split(' '))
                    .filter_map(|w| w.parse().ok())
                    .collect();
                if n.len() != 5 {
                    return Err(format!("client process {p}: bad line {line}"));
                }
                self.checks[p] = Some(Check {
                    conns: n[0],
                    open: n[1],
                    min_next: n[2],
                    max_next: n[3],
                    errors: n[4],
                });
            }
            Some("error") => self.errors.push(format!(
                "client process {p}: {}",
                line.strip_prefix("error ").unwrap_or(line)
            )),
            Some("closed") if self.closed_fatal => {
                return Err(format!("client process {p}: {line}"))
            }
            Some("closed") => self.closed.push(format!("client process {p}: {line}")),
            _ => self.errors.push(format!(
                "client process {p}: unexpected line {}",
                clip(line)
            )),
        }
        Ok(())
    }

    /// Wait until every client process has message `k` on all its clients; the latest
    /// receive time (ns).
    async fn wait_for(&mut self, k: usize) -> Result<u64, String> {
        while self.done[k] < self.processes {
            self.pump()
                .await
                .map_err(|e| format!("waiting for message {k}: {e}"))?;
        }
        Ok(self.last_ns[k])
    }

    /// Ask every client process for its counters.
    async fn check(&mut self, stdins: &mut [Option<ChildStdin>]) -> Result<Vec<Check>, String> {
        self.checks = vec![None; self.processes];
        for s in stdins.iter_mut().flatten() {
            writeln!(s, "check")
                .and_then(|_| s.flush())
                .map_err(|e| format!("check: {e}"))?;
        }
        while self.checks.iter().any(Option::is_none) {
            self.pump().await.map_err(|e| format!("check: {e}"))?;
        }
        Ok(self.checks.iter().flatten().cloned().collect())
    }
}

fn describe_checks(checks: &[Check]) -> String {
    checks
        .iter()
        .enumerate()
        .map(|(p, c)| {
            format!(
                "process {p}: {}/{} open, next message {}..={}, {} errors",
                c.open, c.conns, c.min_next, c.max_next, c.errors
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

// ---------------------------------------------------------------------------------------
// The sender (in the parent process)
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct SenderState {
    /// Next message index the sender itself should receive (it is a client of node 1).
    next: usize,
    dones: usize,
    errors: Vec<String>,
    closed: Option<String>,
}

struct Sender {
    sink: Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>,
    state: Arc<Mutex<SenderState>>,
    reader: tokio::task::JoinHandle<()>,
    pad: String,
}

impl Sender {
    async fn open(url: &str, expected_local: usize, plan: &Plan) -> Result<Sender, String> {
        let (ws, _) = connect_whoami(url).await?;
        let (sink, mut stream) = ws.split();
        let sink = Arc::new(tokio::sync::Mutex::new(sink));
        let state = Arc::new(Mutex::new(SenderState::default()));
        let (size, total) = (plan.size, plan.total());
        let reader = {
            let (sink, state) = (sink.clone(), state.clone());
            tokio::spawn(async move {
                let reason = loop {
                    let text = match stream.next().await {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(f))) => break format!("close frame {f:?}"),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => break e.to_string(),
                        None => break "end of stream".into(),
                    };
                    let text = text.as_str();
                    if let Some(p) = pong(text) {
                        let _ = sink.lock().await.send(p).await;
                        continue;
                    }
                    let mut s = lock(&state);
                    if let Ok((k, _)) = parse_msg(text, size) {
                        if k != s.next || k >= total {
                            let e = format!("sender: got message {k}, expected {}", s.next);
                            s.errors.push(e);
                        }
                        s.next = s.next.max(k + 1);
                        continue;
                    }
                    let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                    if v["op"] == "done" && v["ref"] == "broadcast" {
                        s.dones += 1;
                        if v["local"].as_u64() != Some(expected_local as u64) {
                            let e = format!(
                                "sender: done #{} says local {}, expected {expected_local} (clients on node 1 + the sender)",
                                s.dones, v["local"]
                            );
                            s.errors.push(e);
                        }
                    } else {
                        s.errors.push(format!("sender: unexpected {}", clip(text)));
                    }
                };
                lock(&state).closed = Some(reason);
            })
        };
        Ok(Sender {
            sink,
            state,
            reader,
            pad: "x".repeat(plan.size),
        })
    }

    /// Broadcast message `k`; its send time (ns).
    async fn send(&self, k: usize) -> Result<u64, String> {
        if let Some(why) = &lock(&self.state).closed {
            return Err(format!("the sender's connection closed: {why}"));
        }
        let mut sink = self.sink.lock().await;
        let t = now_ns();
        let text = format!(
            r#"{{"op":"broadcast","msg":{{"i":{k},"t":{t},"pad":"{}"}}}}"#,
            self.pad
        );
        sink.send(Message::text(text))
            .await
            .map_err(|e| format!("sender: {e}"))?;
        Ok(t)
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The `stats` answer of a node (cluster counters).
async fn node_stats(port: u16) -> Result<Value, String> {
    let url = format!("ws://127.0.0.1:{port}/primus");
    let (mut ws, _) = connect_whoami(&url).await?;
    ws.send(Message::text(r#"{"op":"stats"}"#))
        .await
        .map_err(|e| e.to_string())?;
    let v = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(frame)) = ws.next().await {
            if let Message::Text(t) = frame {
                let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                if v["op"] == "stats" {
                    return Ok(v);
                }
            }
        }
        Err("closed".to_string())
    })
    .await
    .map_err(|_| "stats: timed out".to_string())??;
    let _ = ws.close(None).await;
    Ok(v)
}

// ---------------------------------------------------------------------------------------
// A scenario
// ---------------------------------------------------------------------------------------

struct Outcome {
    scenario: Scenario,
    per_node: Vec<usize>,
    open_s: f64,
    /// Per measured round: until the last client has it (ms).
    last_ms: Vec<f64>,
    /// Per client and measured round (µs).
    per_client_us: Vec<u32>,
    /// Per burst: first send until every client has the last message (s).
    burst_s: Vec<f64>,
    node_cpu: f64,
    redis_cpu: f64,
    client_cpu: f64,
    /// Deliveries in the measured phases (rounds and bursts).
    deliveries: usize,
    errors: Vec<String>,
    notes: Vec<String>,
}

struct Env<'a> {
    plan: &'a Plan,
    redis: &'a Redis,
    node_bin: PathBuf,
    exe: PathBuf,
}

async fn run_scenario(env: &Env<'_>, scenario: Scenario) -> Result<Outcome, String> {
    let plan = env.plan;
    let warnings = Arc::new(AtomicUsize::new(0));
    let mut servers = Procs::default();
    let prefix = format!("cluster-bench-{}-{}", std::process::id(), scenario.key());
    let redis_url = format!("redis://127.0.0.1:{}/", env.redis.port);
    let count = if scenario == Scenario::Cluster {
        plan.nodes
    } else {
        1
    };
    let mut nodes = Vec::new();
    for i in 0..count {
        let name = format!("n{}", i + 1);
        let cmd = if scenario == Scenario::SingleNoRedis {
            let mut c = Command::new(&env.exe);
            c.arg("--serve-plain");
            c
        } else {
            let mut c = Command::new(&env.node_bin);
            c.args(["--redis", &redis_url, "--name", &name, "--port", "0"])
                .args(["--prefix", &prefix]);
            c
        };
        nodes.push(spawn_server(&mut servers, cmd, &name, warnings.clone()).await?);
    }
    let urls: Vec<String> = nodes
        .iter()
        .map(|n| format!("ws://127.0.0.1:{}/primus", n.port))
        .collect();
    let per_node: Vec<usize> = (0..urls.len())
        .map(|k| (0..plan.clients).filter(|g| g % urls.len() == k).count())
        .collect();
    println!(
        "{}: {} up ({})",
        scenario.key(),
        if count == 1 { "server" } else { "nodes" },
        nodes
            .iter()
            .map(|n| format!("{} pid {} port {}", n.name, n.pid, n.port))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Client processes; their stdout lines come back through `rx`.
    let mut client_procs = Procs::default();
    let mut stdins = Vec::new();
    let mut client_pids = Vec::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String)>();
    let n = plan.processes;
    let mut offset = 0;
    for p in 0..n {
        let conns = plan.clients / n + usize::from(p < plan.clients % n);
        let mut child = Command::new(&env.exe)
            .args(["--client", &urls.join(",")])
            .args(["--client-offset", &offset.to_string()])
            .args(["--client-connections", &conns.to_string()])
            .args(["--client-messages", &plan.total().to_string()])
            .args(["--client-timed", &plan.timed().to_string()])
            .args(["--size", &plan.size.to_string()])
            .args(["--batch", &plan.batch.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn client process: {e}"))?;
        offset += conns;
        client_pids.push(child.id());
        stdins.push(child.stdin.take());
        let stdout = child.stdout.take().expect("piped");
        client_procs.0.push(child);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send((p, line)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let open_start = Instant::now();
    let mut ready = 0;
    let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
    while ready < n {
        let (p, line) = tokio::time::timeout(Duration::from_secs(120), rx.recv())
            .await
            .map_err(|_| "timed out waiting for the clients to connect".to_string())?
            .ok_or("a client process exited while connecting")?;
        let Some(rest) = line.strip_prefix("ready ") else {
            println!("  client process {p}: {line}");
            continue;
        };
        let mut words = rest.split(' ');
        let opened: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        let failed: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        if failed > 0 {
            return Err(format!(
                "client process {p}: {failed} connections failed ({opened} open)"
            ));
        }
        for (node, c) in words.filter_map(|w| w.split_once('=')) {
            *by_node.entry(node.to_string()).or_default() += c.parse::<usize>().unwrap_or(0);
        }
        ready += 1;
    }
    let open_s = open_start.elapsed().as_secs_f64();
    let expected: BTreeMap<String, usize> = nodes
        .iter()
        .zip(&per_node)
        .map(|(n, c)| (n.name.clone(), *c))
        .collect();
    println!(
        "  {} clients open in {open_s:.1} s ({})",
        plan.clients,
        by_node
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if by_node != expected {
        return Err(format!(
            "clients landed on {by_node:?}, expected {expected:?}"
        ));
    }

    let sender = Sender::open(&urls[0], per_node[0] + 1, plan).await?;
    let mut progress = Progress {
        rx,
        processes: n,
        warmup: plan.warmup,
        done: vec![0; plan.total()],
        last_ns: vec![0; plan.total()],
        lats: vec![Vec::new(); plan.total()],
        errors: Vec::new(),
        checks: Vec::new(),
        closed: Vec::new(),
        closed_fatal: true,
    };
    let server_pids: Vec<u32> = nodes.iter().map(|n| n.pid).collect();
    let cpu = |pids: &[u32]| pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();

    let measured = measure(plan, &sender, &mut progress, || {
        [
            cpu(&server_pids),
            cpu_seconds(env.redis.child.id()),
            cpu(&client_pids),
        ]
    })
    .await;
    let (last_ms, per_client_us, burst_s, cpu_used) = match measured {
        Ok(m) => m,
        Err(e) => {
            // Say how far each client process got, then fail the scenario.
            progress.closed_fatal = false;
            let mut state = match progress.check(&mut stdins).await {
                Ok(c) => describe_checks(&c),
                Err(e) => format!("(no check: {e})"),
            };
            if !progress.closed.is_empty() {
                state += &format!(
                    "; {} more connections closed, the first: {}",
                    progress.closed.len(),
                    progress.closed[0]
                );
            }
            let mut errors = progress.errors.clone();
            errors.extend(lock(&sender.state).errors.iter().cloned());
            return Err(format!(
                "{e}\n  clients: {state}\n  errors: {}",
                if errors.is_empty() {
                    "none".into()
                } else {
                    errors.join("\n    ")
                }
            ));
        }
    };

    // Settle (late duplicates would show now), then check every counter.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut errors = Vec::new();
    let mut notes = Vec::new();
    let checks = progress.check(&mut stdins).await?;
    for (p, c) in checks.iter().enumerate() {
        if c.open != c.conns || c.min_next != plan.total() || c.max_next != plan.total() {
            errors.push(format!(
                "client process {p}: {}/{} open, next message {}..={} (expected {})",
                c.open,
                c.conns,
                c.min_next,
                c.max_next,
                plan.total()
            ));
        }
    }
    let total_errors: usize = checks.iter().map(|c| c.errors).sum();
    if total_errors > progress.errors.len() {
        notes.push(format!(
            "{total_errors} client-side errors in all (each process prints its first 20)"
        ));
    }
    errors.append(&mut progress.errors);
    // The sender's own copy and its `done` replies.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let complete = {
            let s = lock(&sender.state);
            s.next >= plan.total() && s.dones >= plan.total()
        };
        if complete {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    {
        let s = lock(&sender.state);
        errors.extend(s.errors.iter().cloned());
        if s.next != plan.total() || s.dones != plan.total() {
            errors.push(format!(
                "sender: received up to message {} and {} `done` replies, expected {} of each",
                s.next,
                s.dones,
                plan.total()
            ));
        }
        if let Some(why) = &s.closed {
            errors.push(format!("sender: connection closed: {why}"));
        }
    }

    // The nodes' cluster counters.
    if scenario != Scenario::SingleNoRedis {
        let total = plan.total() as u64;
        for (i, node) in nodes.iter().enumerate() {
            match node_stats(node.port).await {
                Ok(v) => {
                    let get = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
                    notes.push(format!(
                        "{} {}: published {}, received {}, delivered {}, duplicates {}, gaps {}, missed {}, dropped {}, reconnects {}",
                        scenario.key(),
                        node.name,
                        get("published"),
                        get("received"),
                        get("delivered"),
                        get("duplicates"),
                        get("gaps"),
                        get("missed"),
                        get("dropped"),
                        get("reconnects"),
                    ));
                    let (published, received, delivered) = if i == 0 {
                        (total, 0, 0)
                    } else {
                        (0, total, total * per_node[i] as u64)
                    };
                    let odd = get("published") != published
                        || get("received") != received
                        || get("delivered") != delivered
                        || ["duplicates", "gaps", "missed", "dropped", "reconnects"]
                            .iter()
                            .any(|k| get(k) != 0);
                    if odd {
                        notes.push(format!(
                            "  ^ odd: expected published {published}, received {received}, delivered {delivered}, no duplicates/gaps/drops/reconnects"
                        ));
                    }
                }
                Err(e) => notes.push(format!("{}: stats failed: {e}", node.name)),
            }
        }
    }
    let warned = warnings.load(Ordering::Relaxed);
    if warned > 0 {
        notes.push(format!(
            "{}: the servers wrote {warned} lines on stderr (shown above, prefixed [nX])",
            scenario.key()
        ));
    }

    // Closing their stdin tells the clients to exit; then stop the servers.
    drop(sender);
    stdins.clear();
    let deadline = Instant::now() + Duration::from_secs(10);
    for c in &mut client_procs.0 {
        while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(client_procs);
    drop(servers);

    let measured_msgs = plan.rounds + plan.bursts * plan.burst;
    Ok(Outcome {
        scenario,
        per_node,
        open_s,
        last_ms,
        per_client_us,
        burst_s,
        node_cpu: cpu_used[0],
        redis_cpu: cpu_used[1],
        client_cpu: cpu_used[2],
        deliveries: plan.clients * measured_msgs,
        errors,
        notes,
    })
}

type Measured = (Vec<f64>, Vec<u32>, Vec<f64>, [f64; 3]);

/// Warm-up and latency rounds, then bursts; CPU used by servers, Redis and clients over
/// the measured part.
async fn measure(
    plan: &Plan,
    sender: &Sender,
    progress: &mut Progress,
    cpu: impl Fn() -> [f64; 3],
) -> Result<Measured, String> {
    let mut last_ms = Vec::new();
    let mut per_client_us = Vec::new();
    let mut cpu0 = [0.0; 3];
    for k in 0..plan.timed() {
        if k == plan.warmup {
            cpu0 = cpu();
        }
        let t = sender.send(k).await?;
        let last = progress.wait_for(k).await?;
        if k >= plan.warmup {
            last_ms.push(last.saturating_sub(t) as f64 / 1e6);
            per_client_us.append(&mut progress.lats[k]);
        }
    }
    let mut burst_s = Vec::new();
    for b in 0..plan.bursts {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let first = plan.timed() + b * plan.burst;
        let t0 = now_ns();
        for k in first..first + plan.burst {
            sender.send(k).await?;
        }
        let mut end = 0;
        for k in first..first + plan.burst {
            end = end.max(progress.wait_for(k).await?);
        }
        burst_s.push(end.saturating_sub(t0) as f64 / 1e9);
    }
    let cpu1 = cpu();
    let used = [cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]];
    Ok((last_ms, per_client_us, burst_s, used))
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

fn quantile<T: Copy + PartialOrd>(v: &[T], q: f64) -> Option<T> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Some(s[((s.len() - 1) as f64 * q).round() as usize])
}

impl Outcome {
    fn throughput(&self, plan: &Plan) -> Option<f64> {
        let total: f64 = self.burst_s.iter().sum();
        (total > 0.0).then(|| (plan.clients * plan.burst * self.burst_s.len()) as f64 / total)
    }
}

type Figure = (String, Box<dyn Fn(&Outcome) -> Option<f64>>, usize);

fn figures(plan: &Plan) -> Vec<Figure> {
    let ms = |v: Option<u32>| v.map(|us| us as f64 / 1e3);
    let p = plan.clone();
    let mut f: Vec<Figure> = vec![
        (
            "round: last client has it, p50 (ms)".into(),
            Box::new(|o| quantile(&o.last_ms, 0.5)),
            2,
        ),
        (
            "round: last client has it, p99 (ms)".into(),
            Box::new(|o| quantile(&o.last_ms, 0.99)),
            2,
        ),
        (
            "round: last client has it, max (ms)".into(),
            Box::new(|o| quantile(&o.last_ms, 1.0)),
            2,
        ),
        (
            "round: per-client latency, p50 (ms)".into(),
            Box::new(move |o| ms(quantile(&o.per_client_us, 0.5))),
            2,
        ),
        (
            "round: per-client latency, p99 (ms)".into(),
            Box::new(move |o| ms(quantile(&o.per_client_us, 0.99))),
            2,
        ),
    ];
    if plan.bursts > 0 {
        f.push((
            format!("bursts of {}: deliveries/s", plan.burst),
            Box::new(move |o| o.throughput(&p)),
            0,
        ));
        f.push((
            format!("burst: {} msgs to every client, median (ms)", plan.burst),
            Box::new(|o| quantile(&o.burst_s, 0.5).map(|s| s * 1e3)),
            1,
        ));
    }
    f.push((
        "server CPU per 1000 deliveries (ms)".into(),
        Box::new(|o| Some(o.node_cpu * 1e6 / o.deliveries.max(1) as f64)),
        3,
    ));
    f.push((
        "server CPU, measured part (s)".into(),
        Box::new(|o| Some(o.node_cpu)),
        2,
    ));
    f.push((
        "Redis CPU, measured part (s)".into(),
        // Redis idles in single-no-redis: no figure, no ratio.
        Box::new(|o| (o.scenario != Scenario::SingleNoRedis).then_some(o.redis_cpu)),
        2,
    ));
    f.push((
        "client processes CPU, measured part (s)".into(),
        Box::new(|o| Some(o.client_cpu)),
        2,
    ));
    f
}

fn machine_note() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |p| p.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), Linux {kernel}")
}

async fn bench(cli: &Cli, plan: &Plan, redis: &Redis) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cluster-bench: current_exe: {e}");
            return ExitCode::FAILURE;
        }
    };
    let node_bin = cli.node_bin.clone().unwrap_or_else(|| {
        exe.parent()
            .map(|d| d.join("primus-cluster-node"))
            .unwrap_or_default()
    });
    if cli.scenarios.iter().any(|s| *s != Scenario::SingleNoRedis) && !node_bin.is_file() {
        eprintln!(
            "cluster-bench: no {} (cargo build --release -p primus-e2e --bin primus-cluster-node, or --node-bin)",
            node_bin.display()
        );
        return ExitCode::FAILURE;
    }
    println!(
        "redis-server {} on 127.0.0.1:{} (pid {}); node binary {}",
        redis.version,
        redis.port,
        redis.child.id(),
        node_bin.display()
    );
    let env = Env {
        plan,
        redis,
        node_bin,
        exe,
    };
    let started = Instant::now();
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for &s in &cli.scenarios {
        if seen.contains(&s) {
            continue;
        }
        seen.push(s);
        match run_scenario(&env, s).await {
            Ok(o) => {
                println!(
                    "  done: last client p50 {:.2} ms, {:.0} deliveries/s, {} errors",
                    quantile(&o.last_ms, 0.5).unwrap_or(0.0),
                    o.throughput(plan).unwrap_or(0.0),
                    o.errors.len()
                );
                outcomes.push(o);
            }
            Err(e) => {
                println!("  FAILED: {e}");
                failures.push(format!("{}: {e}", s.key()));
            }
        }
    }
    let elapsed = started.elapsed();

    // The table.
    let args: Vec<String> = std::env::args().collect();
    println!("\n## cluster-bench\n");
    println!("command: `{}`  ", args.join(" "));
    println!(
        "machine: {}; Redis {} on loopback; {} clients in {} client processes, the sender in the parent; \
         everything on 127.0.0.1 on this one machine, so clients, servers and Redis compete for the CPUs \
         (figures are a lower bound; compare the columns); one run, {:.0} s in all.  ",
        machine_note(),
        redis.version,
        plan.clients,
        plan.processes,
        elapsed.as_secs_f64()
    );
    println!(
        "load: {} warm-up + {} latency rounds (one broadcast at a time), {} bursts of {} back to back; \
         messages `{{\"i\",\"t\",\"pad\"}}` with a {}-byte pad; the cluster has {} nodes, the sender on n1.\n",
        plan.warmup, plan.rounds, plan.bursts, plan.burst, plan.size, plan.nodes
    );
    let find = |s: Scenario| outcomes.iter().find(|o| o.scenario == s);
    let cols: Vec<&Outcome> = outcomes.iter().collect();
    let (cl, si, nr) = (
        find(Scenario::Cluster),
        find(Scenario::Single),
        find(Scenario::SingleNoRedis),
    );
    let ratio_cs = cl.is_some() && si.is_some();
    let ratio_sn = si.is_some() && nr.is_some();
    let mut header = String::from("| figure |");
    let mut rule = String::from("|---|");
    for o in &cols {
        header += &format!(
            " {} |",
            match o.scenario {
                Scenario::Cluster => format!("cluster ({} nodes + Redis)", plan.nodes),
                Scenario::Single => "single (1 node + Redis)".into(),
                Scenario::SingleNoRedis => "single-no-redis".into(),
            }
        );
        rule += "---:|";
    }
    if ratio_cs {
        header += " cluster / single |";
        rule += "---:|";
    }
    if ratio_sn {
        header += " single / no-redis |";
        rule += "---:|";
    }
    if cols.is_empty() {
        println!("(no scenario completed)");
    } else {
        println!("{header}\n{rule}");
    }
    let blank = usize::from(ratio_cs) + usize::from(ratio_sn);
    let text_row = |name: &str, f: &dyn Fn(&Outcome) -> String| {
        let mut row = format!("| {name} |");
        for o in &cols {
            row += &format!(" {} |", f(o));
        }
        row += &" |".repeat(blank);
        println!("{row}");
    };
    text_row("clients per node", &|o| {
        o.per_node
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" / ")
    });
    text_row("time to open the clients (s)", &|o| {
        format!("{:.1}", o.open_s)
    });
    for (name, f, prec) in figures(plan) {
        let mut row = format!("| {name} |");
        for o in &cols {
            row += &match f(o) {
                Some(v) => format!(" {v:.prec$} |"),
                None => " – |".into(),
            };
        }
        let ratio =
            |a: Option<&Outcome>, b: Option<&Outcome>| match (a.and_then(&f), b.and_then(&f)) {
                (Some(x), Some(y)) if y > 0.0 => format!(" {:.2}× |", x / y),
                _ => " – |".into(),
            };
        if ratio_cs {
            row += &ratio(cl, si);
        }
        if ratio_sn {
            row += &ratio(si, nr);
        }
        println!("{row}");
    }
    text_row(
        "exactness (every client, every message, once, in order)",
        &|o| {
            if o.errors.is_empty() {
                "ok".into()
            } else {
                format!("**{} errors**", o.errors.len())
            }
        },
    );
    println!(
        "\nRatios above 1 mean the first scenario is slower for times and CPU, faster for deliveries/s. \
         \"last client\": from the sender's send until the last of the {} clients has the message \
         (latest receive time any client process saw); per-client latency: pooled over clients and rounds; \
         p99 of {} rounds is the {}. CPU: utime + stime of the processes over the rounds and bursts.",
        plan.clients,
        plan.rounds,
        match plan.rounds - ((plan.rounds - 1) as f64 * 0.99).round() as usize {
            1 => "slowest (the max)".to_string(),
            n => format!("{n}-th slowest"),
        }
    );
    let mut bad = !failures.is_empty();
    for o in &outcomes {
        if !o.notes.is_empty() {
            println!();
            for n in &o.notes {
                println!("- {n}");
            }
        }
        if !o.errors.is_empty() {
            bad = true;
            println!("\n{}: EXACTNESS FAILURES:", o.scenario.key());
            for e in o.errors.iter().take(50) {
                println!("- {e}");
            }
            if o.errors.len() > 50 {
                println!("- … and {} more", o.errors.len() - 50);
            }
        }
    }
    for f in &failures {
        println!("\nFAILED {f}");
    }
    if bad {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

// ---------------------------------------------------------------------------------------
// The plain server (single-no-redis)
// ---------------------------------------------------------------------------------------

/// A primus-rs server with the rooms plugin and no cluster plugin, answering `whoami`,
/// `broadcast` and `stats` like `primus-cluster-node` does. Exits when stdin closes.
async fn serve_plain() -> Result<(), String> {
    let primus = Primus::new(Options::default()).map_err(|e| e.to_string())?;
    primus
        .plugin("rooms", Rooms::new())
        .map_err(|e| e.to_string())?;
    primus.on_connection(|spark| {
        spark.on_data(|spark, msg| {
            let v = serde_json::to_value(msg.value()).unwrap_or(Value::Null);
            let answer = match v["op"].as_str().unwrap_or_default() {
                "whoami" => json!({"op":"whoami","id":spark.id(),"node":"n1"}),
                "broadcast" => {
                    let out = json!({"op":"msg","kind":"broadcast","from":"n1","msg":v["msg"]});
                    let local = spark.primus().write(&out).unwrap_or(0);
                    json!({"op":"done","ref":"broadcast","local":local})
                }
                "stats" => json!({"op":"stats"}),
                other => json!({"op":"error","reason":format!("unknown op {other:?}")}),
            };
            let _ = spark.write(&answer);
        });
    });
    let running = Server::bind(primus, SocketAddr::from(([127, 0, 0, 1], 0)))
        .iknowhttpsisbetter(true)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    say(&format!("listening {}", running.local_addr().port()));
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    running
        .run_until(std::future::pending())
        .await
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Client side (child processes)
// ---------------------------------------------------------------------------------------

/// A client process's counters, shared by its connections.
struct Tally {
    conns: usize,
    size: usize,
    /// Per message: clients that have it.
    counts: Vec<AtomicUsize>,
    /// Per message: the latest receive time (ns).
    last_ns: Vec<AtomicU64>,
    /// Per timed message: each client's latency (µs).
    lats: Vec<Mutex<Vec<u32>>>,
    /// Per connection: the next message index it expects.
    next: Vec<AtomicUsize>,
    open: Vec<AtomicBool>,
    errors: AtomicUsize,
}

impl Tally {
    fn error(&self, text: &str) {
        if self.errors.fetch_add(1, Ordering::Relaxed) < 20 {
            say(&format!("error {text}"));
        }
    }

    /// Client got message `k` at `now` (`t`: its send time; `None` for a missed one).
    fn deliver(&self, k: usize, now: u64, t: Option<u64>) {
        self.last_ns[k].fetch_max(now, Ordering::AcqRel);
        if let (Some(t), Some(l)) = (t, self.lats.get(k)) {
            lock(l).push((now.saturating_sub(t) / 1000).min(u32::MAX as u64) as u32);
        }
        if self.counts[k].fetch_add(1, Ordering::AcqRel) + 1 == self.conns {
            let ns = self.last_ns[k].load(Ordering::Acquire);
            match self.lats.get(k) {
                Some(l) => {
                    let v = std::mem::take(&mut *lock(l));
                    let list: Vec<String> = v.iter().map(u32::to_string).collect();
                    say(&format!("got {k} {ns} {}", list.join(",")));
                }
                None => say(&format!("got {k} {ns}")),
            }
        }
    }
}

async fn client(cli: Cli, urls: String) -> Result<(), String> {
    let urls: Vec<String> = urls.split(',').map(str::to_string).collect();
    let conns = cli.client_connections;
    let total = cli.client_messages;
    let tally = Arc::new(Tally {
        conns,
        size: cli.size,
        counts: (0..total).map(|_| AtomicUsize::new(0)).collect(),
        last_ns: (0..total).map(|_| AtomicU64::new(0)).collect(),
        lats: (0..cli.client_timed.min(total))
            .map(|_| Mutex::new(Vec::with_capacity(conns)))
            .collect(),
        next: (0..conns).map(|_| AtomicUsize::new(0)).collect(),
        open: (0..conns).map(|_| AtomicBool::new(false)).collect(),
        errors: AtomicUsize::new(0),
    });
    let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
    let (mut opened, mut failed) = (0, 0);
    let mut first = 0;
    while first < conns {
        let last = (first + cli.batch.max(1)).min(conns);
        let (ready_tx, mut ready_rx) = mpsc::channel::<Result<String, String>>(last - first);
        for c in first..last {
            let url = urls[(cli.client_offset + c) % urls.len()].clone();
            tokio::spawn(connection(c, url, tally.clone(), ready_tx.clone()));
        }
        drop(ready_tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while let Ok(Some(r)) = tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            match r {
                Ok(node) => {
                    opened += 1;
                    *by_node.entry(node).or_default() += 1;
                }
                Err(e) => {
                    if failed == 0 {
                        say(&format!("connect failed: {e}"));
                    }
                    failed += 1;
                }
            }
        }
        first = last;
    }
    let nodes: Vec<String> = by_node.iter().map(|(k, v)| format!("{k}={v}")).collect();
    say(&format!("ready {opened} {failed} {}", nodes.join(" ")));

    // Commands from the parent on stdin; its end (EOF) means exit.
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if cmd_tx.send(line).is_err() {
                break;
            }
        }
    });
    while let Some(cmd) = cmd_rx.recv().await {
        if cmd.trim() == "check" {
            let next: Vec<usize> = tally
                .next
                .iter()
                .map(|n| n.load(Ordering::Acquire))
                .collect();
            say(&format!(
                "check {} {} {} {} {}",
                conns,
                tally
                    .open
                    .iter()
                    .filter(|o| o.load(Ordering::Acquire))
                    .count(),
                next.iter().min().copied().unwrap_or(0),
                next.iter().max().copied().unwrap_or(0),
                tally.errors.load(Ordering::Relaxed)
            ));
        }
    }
    // Exit without closing the connections one by one.
    std::process::exit(0);
}

async fn connection(
    c: usize,
    url: String,
    tally: Arc<Tally>,
    ready: mpsc::Sender<Result<String, String>>,
) {
    let mut ws = match connect_whoami(&url).await {
        Ok((ws, node)) => {
            tally.open[c].store(true, Ordering::Release);
            let _ = ready.send(Ok(node)).await;
            ws
        }
        Err(e) => {
            let _ = ready.send(Err(e)).await;
            return;
        }
    };
    drop(ready);
    let total = tally.counts.len();
    let mut next = 0usize;
    let reason = loop {
        let text = match ws.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(f))) => break format!("close frame {f:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e.to_string(),
            None => break "end of stream".into(),
        };
        let text = text.as_str();
        if let Some(p) = pong(text) {
            if let Err(e) = ws.send(p).await {
                break format!("pong: {e}");
            }
            continue;
        }
        match parse_msg(text, tally.size) {
            Ok((k, t)) => {
                let now = now_ns();
                if k >= total {
                    tally.error(&format!(
                        "conn {c} ({url}): message {k}, beyond the {total} sent"
                    ));
                } else if k < next {
                    tally.error(&format!(
                        "conn {c} ({url}): message {k} again (or out of order) after {}",
                        next - 1
                    ));
                } else {
                    if k > next {
                        tally.error(&format!(
                            "conn {c} ({url}): missed messages {next}..={} (got {k})",
                            k - 1
                        ));
                        for m in next..k {
                            tally.deliver(m, now, None);
                        }
                    }
                    tally.deliver(k, now, Some(t));
                    next = k + 1;
                    tally.next[c].store(next, Ordering::Release);
                }
            }
            Err(why) => tally.error(&format!("conn {c} ({url}): {why}: {}", clip(text))),
        }
    };
    tally.open[c].store(false, Ordering::Release);
    say(&format!(
        "closed conn {c} ({url}) after {next} messages: {reason}"
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broadcasts_in_any_key_order() {
        let sorted =
            r#"{"from":"n1","kind":"broadcast","msg":{"i":7,"pad":"xxxx","t":123},"op":"msg"}"#;
        assert_eq!(parse_msg(sorted, 4), Ok((7, 123)));
        let given =
            r#"{"op":"msg","kind":"broadcast","from":"n2","msg":{"i":0,"t":9,"pad":"xxxx"}}"#;
        assert_eq!(parse_msg(given, 4), Ok((0, 9)));
        assert!(parse_msg(given, 5).is_err());
        assert!(parse_msg(r#"{"op":"done","ref":"broadcast","local":3}"#, 4).is_err());
    }

    #[test]
    fn answers_heartbeats() {
        let p = pong("\"primus::ping::1700000000000\"").expect("a ping");
        assert_eq!(p, Message::text("\"primus::pong::1700000000000\""));
        assert!(pong("\"hello\"").is_none());
    }
}
