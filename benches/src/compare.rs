//! The `compare` command: both scenarios against each server, one after the other, with the
//! same load generator, then one table.

use std::thread;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::client::Target;
use crate::echo::{EchoClients, EchoReport};
use crate::idle::IdleClients;
use crate::procfs;
use crate::report::{EchoNumbers, IdleNumbers, Params, Row};
use crate::servers::{Locations, Server, ServerKind, StartError};

/// Time limits of the phases.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Opening the echo connections.
    pub echo_connect: Duration,
    /// One echo run (warm-up or measured).
    pub echo_run: Duration,
    /// Opening one idle connection.
    pub idle_connect: Duration,
    /// Opening all idle connections.
    pub idle_phase: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            echo_connect: Duration::from_secs(20),
            echo_run: Duration::from_secs(120),
            idle_connect: Duration::from_secs(15),
            idle_phase: Duration::from_secs(240),
        }
    }
}

/// Runs the comparison for `servers` and returns one row per server.
pub fn run(
    rt: &Runtime,
    servers: &[ServerKind],
    at: &Locations,
    params: &Params,
    idle_batch: usize,
    timeouts: Timeouts,
) -> Vec<Row> {
    servers
        .iter()
        .map(|&kind| {
            println!("== {kind}: {}", kind.description());
            let mut row = Row::new(kind);
            if params.connections > 0 && params.messages > 0 {
                if let Err(e) = echo_phase(rt, &mut row, at, params, timeouts) {
                    row.status = short(&e);
                    row.notes.push(e.to_string());
                    println!("   {e}");
                    if matches!(e, StartError::Unavailable(_)) {
                        return row;
                    }
                }
            }
            if params.idle > 0 {
                if let Err(e) = idle_phase(rt, &mut row, at, params, idle_batch, timeouts) {
                    if row.status == "ok" {
                        row.status = short(&e);
                    }
                    row.notes.push(e.to_string());
                    println!("   {e}");
                }
            }
            row
        })
        .collect()
}

/// A status short enough for a table cell.
fn short(e: &StartError) -> String {
    match e {
        StartError::Unavailable(_) => "unavailable".to_string(),
        StartError::Failed(_) => "failed".to_string(),
    }
}

fn echo_phase(
    rt: &Runtime,
    row: &mut Row,
    at: &Locations,
    params: &Params,
    timeouts: Timeouts,
) -> Result<(), StartError> {
    let mut server = Server::start(row.kind, at, params.ping_interval_ms)?;
    let pid = server.pid();
    let target = Target::parse(&server.url()).map_err(StartError::Failed)?;
    println!("   echo: server pid {pid} on {}", server.url());

    let mut clients = rt.block_on(EchoClients::connect(
        &target,
        params.connections,
        timeouts.echo_connect,
    ));
    if !clients.connect_errors.is_empty() {
        row.notes.push(format!(
            "echo: {} of {} connections failed to open, e.g. {}",
            clients.connect_errors.len(),
            params.connections,
            clients.connect_errors[0]
        ));
    }
    if clients.len() == 0 {
        return Err(StartError::Failed(format!(
            "no echo connection could be opened{}",
            server.stderr_tail()
        )));
    }
    if params.warmup > 0 {
        let warm = rt.block_on(clients.run(
            params.warmup,
            params.in_flight,
            params.size,
            timeouts.echo_run,
        ));
        note_errors(row, "warm-up", &warm);
    }

    let mut rounds = Vec::with_capacity(params.repeat);
    for round in 1..=params.repeat.max(1) {
        let numbers = measured_round(rt, &mut clients, pid, params, timeouts, row);
        println!(
            "   echo round {round}: {}/{} echoes = {:.0} msg/s, p50 {} µs, p99 {} µs, server CPU {} µs/msg, generator CPU {} µs/msg, {} pongs",
            numbers.received,
            numbers.expected,
            numbers.rate,
            fmt_opt(numbers.p50_us),
            fmt_opt(numbers.p99_us),
            fmt_f(numbers.server_cpu_us),
            fmt_f(numbers.generator_cpu_us),
            numbers.pongs,
        );
        let complete = numbers.received == numbers.expected;
        rounds.push(numbers);
        if !complete || clients.len() == 0 {
            break;
        }
    }
    // Report the round with the median server CPU per message, whole, so that its numbers
    // belong together; the spread goes into the notes.
    rounds.sort_by(|a, b| {
        let key = |n: &EchoNumbers| n.server_cpu_us.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b))
    });
    if rounds.len() > 1 {
        let cpu: Vec<String> = rounds.iter().map(|n| fmt_f(n.server_cpu_us)).collect();
        let rate: Vec<String> = rounds.iter().map(|n| format!("{:.0}", n.rate)).collect();
        row.notes.push(format!(
            "echo: {} measured rounds, median shown; server CPU µs/msg {}; msg/s {}",
            rounds.len(),
            cpu.join(", "),
            rate.join(", ")
        ));
    }
    let numbers = rounds.swap_remove((rounds.len() - 1) / 2);
    row.echo = Some(numbers);
    if !server.is_running() {
        row.notes.push(format!(
            "echo: server exited during the run{}",
            server.stderr_tail()
        ));
    }
    rt.block_on(async move { drop(clients) });
    server.stop();
    Ok(())
}

/// One measured echo round, with the server's and the generator's CPU time around it.
fn measured_round(
    rt: &Runtime,
    clients: &mut EchoClients,
    pid: u32,
    params: &Params,
    timeouts: Timeouts,
    row: &mut Row,
) -> EchoNumbers {
    let me = std::process::id();
    let (server_before, gen_before) = (procfs::cpu_seconds(pid), procfs::cpu_seconds(me));
    let report = rt.block_on(clients.run(
        params.messages,
        params.in_flight,
        params.size,
        timeouts.echo_run,
    ));
    let (server_after, gen_after) = (procfs::cpu_seconds(pid), procfs::cpu_seconds(me));
    note_errors(row, "echo", &report);
    let per_msg = |before: Option<f64>, after: Option<f64>| match (before, after) {
        (Some(b), Some(a)) if report.received > 0 => Some((a - b) * 1e6 / report.received as f64),
        _ => None,
    };
    EchoNumbers {
        rate: report.rate(),
        p50_us: report.percentile(0.50),
        p99_us: report.percentile(0.99),
        server_cpu_us: per_msg(server_before, server_after),
        generator_cpu_us: per_msg(gen_before, gen_after),
        connections: report.connections,
        received: report.received,
        expected: report.expected,
        pongs: report.pongs,
    }
}

fn note_errors(row: &mut Row, phase: &str, report: &EchoReport) {
    if let Some(first) = report.errors.first() {
        row.notes.push(format!(
            "{phase}: {} connection(s) failed, e.g. {first}",
            report.errors.len()
        ));
    }
}

fn idle_phase(
    rt: &Runtime,
    row: &mut Row,
    at: &Locations,
    params: &Params,
    batch: usize,
    timeouts: Timeouts,
) -> Result<(), StartError> {
    // Let the previous run's sockets go away before opening thousands more.
    thread::sleep(Duration::from_millis(500));
    let mut server = Server::start(row.kind, at, params.ping_interval_ms)?;
    let pid = server.pid();
    let target = Target::parse(&server.url()).map_err(StartError::Failed)?;
    // Give the runtime (V8 in particular) a moment to settle before the baseline.
    thread::sleep(Duration::from_secs(1));
    let rss_before = procfs::rss_bytes(pid).unwrap_or(0);
    println!(
        "   idle: server pid {pid}, RSS before {:.1} MiB, opening {} connections",
        rss_before as f64 / 1048576.0,
        params.idle
    );
    let clients = rt.block_on(IdleClients::open(
        &target,
        params.idle,
        batch,
        timeouts.idle_connect,
        timeouts.idle_phase,
    ));
    let opened = clients.open_count();
    println!(
        "   idle: {opened} open after {:.1}s ({} failed)",
        clients.open_time.as_secs_f64(),
        clients.failed
    );
    if clients.failed > 0 {
        row.notes.push(format!(
            "idle: {} connection(s) failed to open, e.g. {}",
            clients.failed,
            clients.errors.join("; ")
        ));
    }
    if let Some(why) = &clients.stopped {
        row.notes
            .push(format!("idle: opening stopped early: {why}"));
    }
    let interval = Duration::from_millis(params.ping_interval_ms.max(1));
    let limit = interval * (params.rounds + 3) + Duration::from_secs(10);
    let settled =
        params.ping_interval_ms == 0 || rt.block_on(clients.wait_for_pings(params.rounds, limit));
    if !settled {
        row.notes.push(format!(
            "idle: only {} of {} open connections saw {} pings within {limit:?}",
            clients.settled_count(params.rounds),
            clients.open_count(),
            params.rounds
        ));
    }
    let rss_after = procfs::rss_bytes(pid).unwrap_or(0);
    if clients.dropped_count() > 0 {
        row.notes.push(format!(
            "idle: the server closed {} connection(s) after they were open",
            clients.dropped_count()
        ));
    }
    let numbers = IdleNumbers {
        requested: params.idle,
        open: clients.open_count(),
        settled,
        rss_before,
        rss_after,
        open_secs: clients.open_time.as_secs_f64(),
    };
    println!(
        "   idle: {} open, RSS {:.1} MiB, {} bytes per connection{}",
        numbers.open,
        rss_after as f64 / 1048576.0,
        fmt_f(numbers.bytes_per_conn()),
        if settled {
            ""
        } else {
            " (heartbeats not settled)"
        }
    );
    row.idle = Some(numbers);
    if !server.is_running() {
        row.notes
            .push(format!("idle: server exited{}", server.stderr_tail()));
    }
    // Kill the server first so that it, not the generator, holds the TIME_WAIT sockets and
    // the next server gets the whole ephemeral port range.
    server.stop();
    rt.block_on(clients.close());
    Ok(())
}

fn fmt_opt(v: Option<u32>) -> String {
    v.map_or_else(|| "–".to_string(), |v| v.to_string())
}

/// Formats an optional float with two decimals.
pub fn fmt_f(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"))
}
