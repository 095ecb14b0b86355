//! `primus-bench`: load generator and comparison servers for primus-rs.
//!
//! * `primus-bench compare` starts each server under test (primus-rs, a raw tokio-tungstenite
//!   echo server, the Node Primus reference), runs the echo and idle-memory scenarios against
//!   it with the same load generator and prints one table (optionally as markdown).
//! * `primus-bench load --url ws://127.0.0.1:<port>/primus` runs the generator against any
//!   local server, for debugging.
//! * `primus-bench raw-echo` is the raw tokio-tungstenite baseline server.
//!
//! See `benches/README.md` for the method and `benches/run.sh` for the one-command run.

mod client;
mod compare;
mod echo;
mod heartbeat;
mod idle;
mod parsers;
mod procfs;
mod raw_echo;
mod report;
mod servers;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::runtime::Runtime;

use crate::client::Target;
use crate::compare::{fmt_f, Timeouts};
use crate::echo::{EchoClients, MIN_SIZE};
use crate::idle::IdleClients;
use crate::report::{Params, RunInfo};
use crate::servers::{Locations, ServerKind};

/// Command line of `primus-bench`.
#[derive(Debug, Parser)]
#[command(name = "primus-bench", about = "Benchmarks for primus-rs", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run every scenario against several servers and print a comparison table.
    Compare(CompareArgs),
    /// Run the load generator against one WebSocket URL.
    Load(LoadArgs),
    /// Serve the raw tokio-tungstenite echo baseline (prints `listening <port>`).
    RawEcho(RawEchoArgs),
    /// End-to-end echo throughput of our server with the msgpack parser vs JSON.
    ParserEcho(parsers::ParserEchoArgs),
}

/// Load shape shared by `compare` and `load`.
#[derive(Debug, Args, Clone)]
struct LoadShape {
    /// Echo connections.
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Messages per echo connection.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Messages outstanding per connection.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Total size of each message, a JSON string literal, in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Unmeasured messages per connection sent first.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Measured echo rounds per server in `compare` (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Idle connections for the memory scenario (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Idle connections opened at a time.
    #[arg(long, default_value_t = 500)]
    idle_batch: usize,
    /// Ping rounds every idle connection must answer before memory is sampled.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Load generator worker threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Debug, Args)]
struct CompareArgs {
    #[command(flatten)]
    shape: LoadShape,
    /// Servers to measure, in order.
    #[arg(long, value_delimiter = ',', default_value = "ours,raw,node")]
    servers: Vec<ServerKind>,
    /// Server heartbeat interval in ms (`--ping-interval` of each server).
    #[arg(long, default_value_t = 1000)]
    ping_interval: u64,
    /// Workspace root.
    #[arg(long)]
    root: Option<PathBuf>,
    /// The primus-rs server binary (default: <root>/target/release/primus).
    #[arg(long)]
    primus_bin: Option<PathBuf>,
    /// Also write the report as markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// Target, e.g. ws://127.0.0.1:8080/primus (loopback only).
    #[arg(long)]
    url: String,
    #[command(flatten)]
    shape: LoadShape,
    /// The server's ping interval in ms, to know how long to wait for ping rounds.
    #[arg(long, default_value_t = 1000)]
    ping_interval: u64,
    /// The server's pid, to report its CPU time and memory.
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Debug, Args)]
struct RawEchoArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Heartbeat interval in ms (0 turns it off).
    #[arg(long, default_value_t = 30_000)]
    ping_interval: u64,
}

/// Set when this process re-executed itself with a raised open-file limit.
const RAISED_ENV: &str = "PRIMUS_BENCH_NOFILE_RAISED";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Compare(args) => cmd_compare(args),
        Cmd::Load(args) => cmd_load(args),
        Cmd::RawEcho(args) => cmd_raw_echo(args),
        Cmd::ParserEcho(args) => runtime(None).and_then(|rt| parsers::run(args, &rt)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("primus-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Makes sure this process may open `needed` files: if the soft limit is lower, re-executes
/// itself through `sh -c 'ulimit -n <hard>; exec …'` (no `unsafe` setrlimit needed).
fn ensure_open_files(needed: u64) {
    let Some((soft, hard)) = procfs::open_files_limit("self") else {
        return;
    };
    if soft >= needed {
        return;
    }
    if std::env::var_os(RAISED_ENV).is_some() || hard <= soft {
        eprintln!(
            "warning: open-file limit is {soft} (hard {hard}) but {needed} are needed; \
             some connections will fail"
        );
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let err = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {hard} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(RAISED_ENV, "1")
        .exec();
    eprintln!("warning: could not re-exec with a higher open-file limit: {err}");
}

fn runtime(threads: Option<usize>) -> Result<Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

fn check_shape(shape: &LoadShape) -> Result<(), String> {
    if shape.size < MIN_SIZE {
        return Err(format!("--size must be at least {MIN_SIZE}"));
    }
    Ok(())
}

fn params(shape: &LoadShape, ping_interval_ms: u64) -> Params {
    Params {
        connections: shape.connections,
        messages: shape.messages,
        in_flight: shape.in_flight.max(1),
        size: shape.size,
        warmup: shape.warmup,
        repeat: shape.repeat.max(1),
        idle: shape.idle,
        ping_interval_ms,
        rounds: shape.rounds,
        threads: shape
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn cmd_compare(args: CompareArgs) -> Result<(), String> {
    check_shape(&args.shape)?;
    let shape = &args.shape;
    ensure_open_files((shape.idle.max(shape.connections) + 256) as u64);
    let root = args.root.clone().unwrap_or_else(servers::default_root);
    let nofile = procfs::open_files_limit("self").map_or(20_000, |(_, hard)| hard.min(1 << 20));
    let at = Locations {
        primus_bin: args
            .primus_bin
            .clone()
            .unwrap_or_else(|| root.join("target/release/primus")),
        root: root.clone(),
        nofile,
    };
    let params = params(shape, args.ping_interval);
    let rt = runtime(shape.threads)?;
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let rows = compare::run(
        &rt,
        &args.servers,
        &at,
        &params,
        shape.idle_batch,
        Timeouts::default(),
    );

    println!("\n{}", report::text_table(&rows));
    for line in report::ratios(&rows) {
        println!("{line}");
    }
    for row in &rows {
        for note in &row.notes {
            println!("note: {}: {note}", row.kind);
        }
    }
    if let Some(path) = &args.markdown {
        let mut info = run_info(&root);
        info.loadavg = loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        let text = report::markdown(&info, &params, &rows);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

fn run_info(root: &std::path::Path) -> RunInfo {
    let root = root.to_string_lossy();
    let out = |program: &str, args: &[&str]| {
        procfs::command_output(program, args).unwrap_or_else(|| "unknown".to_string())
    };
    RunInfo {
        date: out("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
        machine: procfs::Machine::detect(),
        commit: out("git", &["-C", &root, "describe", "--always", "--dirty"]),
        rustc: out("rustc", &["--version"]),
        node: out("node", &["--version"]),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        loadavg: String::new(),
    }
}

fn cmd_load(args: LoadArgs) -> Result<(), String> {
    check_shape(&args.shape)?;
    let shape = &args.shape;
    ensure_open_files((shape.idle.max(shape.connections) + 256) as u64);
    let target = Target::parse(&args.url)?;
    let rt = runtime(shape.threads)?;
    let timeouts = Timeouts::default();
    let me = std::process::id();
    let cpu = |pid: Option<u32>| pid.and_then(procfs::cpu_seconds);

    if shape.connections > 0 && shape.messages > 0 {
        let mut clients = rt.block_on(EchoClients::connect(
            &target,
            shape.connections,
            timeouts.echo_connect,
        ));
        println!(
            "echo: {} connections open to {} ({} failed{})",
            clients.len(),
            target.url(),
            clients.connect_errors.len(),
            clients
                .connect_errors
                .first()
                .map_or(String::new(), |e| format!(", e.g. {e}"))
        );
        if shape.warmup > 0 {
            rt.block_on(clients.run(shape.warmup, shape.in_flight, shape.size, timeouts.echo_run));
        }
        let (server0, gen0) = (cpu(args.pid), cpu(Some(me)));
        let r = rt.block_on(clients.run(
            shape.messages,
            shape.in_flight,
            shape.size,
            timeouts.echo_run,
        ));
        let (server1, gen1) = (cpu(args.pid), cpu(Some(me)));
        let per_msg = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if r.received > 0 => Some((b - a) * 1e6 / r.received as f64),
            _ => None,
        };
        println!(
            "echo: {}/{} echoes in {:.2}s = {:.0} msg/s, p50 {:?} µs, p99 {:?} µs, {} pongs",
            r.received,
            r.expected,
            r.elapsed.as_secs_f64(),
            r.rate(),
            r.percentile(0.5),
            r.percentile(0.99),
            r.pongs
        );
        println!(
            "echo: CPU per message: server {} µs, generator {} µs",
            fmt_f(per_msg(server0, server1)),
            fmt_f(per_msg(gen0, gen1))
        );
        for e in r.errors.iter().take(5) {
            println!("echo error: {e}");
        }
        rt.block_on(async move { drop(clients) });
    }

    if shape.idle > 0 {
        let rss0 = args.pid.and_then(procfs::rss_bytes);
        let clients = rt.block_on(IdleClients::open(
            &target,
            shape.idle,
            shape.idle_batch,
            timeouts.idle_connect,
            timeouts.idle_phase,
        ));
        println!(
            "idle: {} open after {:.1}s, {} failed {:?}{}",
            clients.open_count(),
            clients.open_time.as_secs_f64(),
            clients.failed,
            clients.errors,
            clients
                .stopped
                .as_ref()
                .map_or(String::new(), |s| format!(", stopped: {s}"))
        );
        let limit = Duration::from_millis(args.ping_interval) * (shape.rounds + 3)
            + Duration::from_secs(10);
        let settled = rt.block_on(clients.wait_for_pings(shape.rounds, limit));
        println!(
            "idle: {} of {} open connections answered {} pings (settled: {settled}), {} closed by the server",
            clients.settled_count(shape.rounds),
            clients.open_count(),
            shape.rounds,
            clients.dropped_count()
        );
        if let (Some(before), Some(after)) = (rss0, args.pid.and_then(procfs::rss_bytes)) {
            let open = clients.open_count().max(1) as f64;
            println!(
                "idle: server RSS {:.1} → {:.1} MiB, {:.0} bytes per connection",
                before as f64 / 1048576.0,
                after as f64 / 1048576.0,
                (after as f64 - before as f64) / open
            );
        }
        rt.block_on(clients.close());
    }
    Ok(())
}

fn cmd_raw_echo(args: RawEchoArgs) -> Result<(), String> {
    let rt = runtime(None)?;
    rt.block_on(raw_echo::serve(
        args.port,
        Duration::from_millis(args.ping_interval),
    ))
    .map_err(|e| format!("raw-echo: {e}"))
}
