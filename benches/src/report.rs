//! Result rows, the comparison table and the markdown report.

use std::fmt::Write as _;

use crate::procfs::Machine;
use crate::servers::ServerKind;

/// Echo scenario numbers for one server.
#[derive(Debug, Clone, Default)]
pub struct EchoNumbers {
    /// Verified echoes per second.
    pub rate: f64,
    /// Median round trip, µs.
    pub p50_us: Option<u32>,
    /// 99th percentile round trip, µs.
    pub p99_us: Option<u32>,
    /// Server CPU time (user + system) per echoed message, µs.
    pub server_cpu_us: Option<f64>,
    /// Load generator CPU time per echoed message, µs.
    pub generator_cpu_us: Option<f64>,
    /// Connections that took part.
    pub connections: usize,
    /// Echoes received and verified.
    pub received: u64,
    /// Echoes expected.
    pub expected: u64,
    /// Heartbeat pings answered during the measured run.
    pub pongs: u64,
}

/// Idle scenario numbers for one server.
#[derive(Debug, Clone, Default)]
pub struct IdleNumbers {
    /// Connections asked for.
    pub requested: usize,
    /// Connections open when memory was sampled.
    pub open: usize,
    /// Whether every open connection had answered the requested ping rounds.
    pub settled: bool,
    /// Server RSS before connecting, bytes.
    pub rss_before: u64,
    /// Server RSS with the connections open, bytes.
    pub rss_after: u64,
    /// Seconds it took to open them.
    pub open_secs: f64,
}

impl IdleNumbers {
    /// RSS growth per open connection, bytes.
    pub fn bytes_per_conn(&self) -> Option<f64> {
        (self.open > 0).then(|| (self.rss_after as f64 - self.rss_before as f64) / self.open as f64)
    }
}

/// Everything measured for one server.
#[derive(Debug, Clone)]
pub struct Row {
    /// Which server.
    pub kind: ServerKind,
    /// `ok`, `unavailable: …` or `failed: …` (short).
    pub status: String,
    /// Echo results, when that scenario ran.
    pub echo: Option<EchoNumbers>,
    /// Idle results, when that scenario ran.
    pub idle: Option<IdleNumbers>,
    /// Problems worth reading (timeouts, errors, early stops).
    pub notes: Vec<String>,
}

impl Row {
    /// An empty row for `kind`.
    pub fn new(kind: ServerKind) -> Self {
        Row {
            kind,
            status: "ok".to_string(),
            echo: None,
            idle: None,
            notes: Vec::new(),
        }
    }
}

/// The parameters of a comparison run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Echo connections.
    pub connections: usize,
    /// Messages per echo connection.
    pub messages: usize,
    /// Messages in flight per connection.
    pub in_flight: usize,
    /// Payload size in bytes.
    pub size: usize,
    /// Warm-up messages per connection before measuring.
    pub warmup: usize,
    /// Measured echo rounds (the median one is reported).
    pub repeat: usize,
    /// Idle connections.
    pub idle: usize,
    /// Server heartbeat interval, ms.
    pub ping_interval_ms: u64,
    /// Ping rounds to wait for before sampling idle memory.
    pub rounds: u32,
    /// Load generator worker threads.
    pub threads: usize,
}

const HEADERS: [&str; 10] = [
    "server",
    "msg/s",
    "p50 µs",
    "p99 µs",
    "server CPU µs/msg",
    "gen CPU µs/msg",
    "idle conns",
    "RSS before MiB",
    "RSS idle MiB",
    "bytes/idle conn",
];

fn cells(row: &Row) -> Vec<String> {
    let dash = || "–".to_string();
    let mut out = vec![row.kind.name().to_string()];
    match &row.echo {
        Some(e) => {
            out.push(format!("{:.0}", e.rate));
            out.push(e.p50_us.map_or_else(dash, |v| v.to_string()));
            out.push(e.p99_us.map_or_else(dash, |v| v.to_string()));
            out.push(e.server_cpu_us.map_or_else(dash, |v| format!("{v:.2}")));
            out.push(e.generator_cpu_us.map_or_else(dash, |v| format!("{v:.2}")));
        }
        None => out.extend((0..5).map(|_| dash())),
    }
    match &row.idle {
        Some(i) => {
            out.push(format!("{}/{}", i.open, i.requested));
            out.push(format!("{:.1}", mib(i.rss_before)));
            out.push(format!("{:.1}", mib(i.rss_after)));
            out.push(i.bytes_per_conn().map_or_else(dash, |v| format!("{v:.0}")));
        }
        None => out.extend((0..4).map(|_| dash())),
    }
    if row.status != "ok" {
        out[1] = row.status.clone();
    }
    out
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The results as an aligned plain-text table.
pub fn text_table(rows: &[Row]) -> String {
    let body: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            // A status message spans the rest of the line; don't let it widen a column.
            if !cell.starts_with("unavailable") && !cell.starts_with("failed") {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w.saturating_sub(cell.chars().count());
            if i == 0 {
                let _ = write!(out, "{cell}{}", " ".repeat(pad));
            } else {
                let _ = write!(out, "  {}{cell}", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&HEADERS.map(String::from), &mut out);
    for row in &body {
        line(row, &mut out);
    }
    out
}

/// Ratio lines comparing ours with another server (lower is better for CPU and memory).
pub fn ratios(rows: &[Row]) -> Vec<String> {
    let find = |k: ServerKind| rows.iter().find(|r| r.kind == k && r.status == "ok");
    let Some(ours) = find(ServerKind::Ours) else {
        return vec!["ours: not measured, no ratios".to_string()];
    };
    let mut out = Vec::new();
    for other in [ServerKind::Raw, ServerKind::Node] {
        let Some(them) = find(other) else {
            out.push(format!("ours/{other}: {other} not measured"));
            continue;
        };
        let cpu = ratio(
            ours.echo.as_ref().and_then(|e| e.server_cpu_us),
            them.echo.as_ref().and_then(|e| e.server_cpu_us),
        );
        let mem = ratio(
            ours.idle.as_ref().and_then(IdleNumbers::bytes_per_conn),
            them.idle.as_ref().and_then(IdleNumbers::bytes_per_conn),
        );
        let rate = ratio(
            ours.echo.as_ref().map(|e| e.rate),
            them.echo.as_ref().map(|e| e.rate),
        );
        let p99 = ratio(
            ours.echo.as_ref().and_then(|e| e.p99_us.map(f64::from)),
            them.echo.as_ref().and_then(|e| e.p99_us.map(f64::from)),
        );
        out.push(format!(
            "ours/{other}: CPU per message {cpu}, memory per idle connection {mem}, throughput {rate}, p99 {p99}"
        ));
    }
    out
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "n/a".to_string(),
    }
}

/// Facts about the run for the markdown header.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// When it ran (UTC).
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// `git describe` of the workspace.
    pub commit: String,
    /// `rustc --version`.
    pub rustc: String,
    /// `node --version`.
    pub node: String,
    /// The command line that produced it.
    pub command: String,
    /// `/proc/loadavg` when the run started (other work on the machine skews msg/s and
    /// latency more than CPU per message).
    pub loadavg: String,
}

/// The full markdown report.
pub fn markdown(info: &RunInfo, params: &Params, rows: &[Row]) -> String {
    let m = &info.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# primus-rs benchmark: ours vs raw tokio-tungstenite vs Node Primus\n"
    );
    let _ = writeln!(out, "- date: {}", info.date);
    let _ = writeln!(
        out,
        "- machine: {} CPUs (nproc), {}, {} MiB RAM, Linux {}",
        m.cpus, m.cpu_model, m.mem_mib, m.kernel
    );
    let _ = writeln!(
        out,
        "- commit: {}; {}; node {}",
        info.commit, info.rustc, info.node
    );
    let _ = writeln!(out, "- command: `{}`", info.command);
    let _ = writeln!(out, "- load average at start: {}", info.loadavg);
    let _ = writeln!(out, "\n## Scenarios\n");
    let _ = writeln!(
        out,
        "1. **echo**: {} connections × {} messages, {} in flight per connection, each a {}-byte \
         JSON string literal, after {} warm-up messages per connection; {} measured round(s) on \
         the same connections, the one with the median server CPU per message shown. Round trips are measured \
         by the generator; server CPU = utime+stime from `/proc/<pid>/stat` before/after, divided \
         by the echoed messages. The generator ({} worker threads) runs on the same {}-CPU machine \
         and uses about one core, so msg/s and latency are bounded by it; CPU per message is the \
         fair comparison. Heartbeats (every {} ms) are answered and not counted.",
        params.connections,
        params.messages,
        params.in_flight,
        params.size,
        params.warmup,
        params.repeat,
        params.threads,
        m.cpus,
        params.ping_interval_ms
    );
    let _ = writeln!(
        out,
        "2. **idle**: {} WebSocket connections opened to a fresh server with a {} ms ping \
         interval; once every connection has answered {} pings, server VmRSS minus VmRSS before \
         connecting, divided by the open connections.",
        params.idle, params.ping_interval_ms, params.rounds
    );
    let _ = writeln!(out, "\nServers:\n");
    for row in rows {
        let _ = writeln!(out, "- `{}`: {}", row.kind.name(), row.kind.description());
    }
    let _ = writeln!(out, "\n## Results\n");
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for row in rows {
        let _ = writeln!(out, "| {} |", cells(row).join(" | "));
    }
    let _ = writeln!(out, "\n## Ratios (lower is better for CPU and memory)\n");
    for line in ratios(rows) {
        let _ = writeln!(out, "- {line}");
    }
    let _ = writeln!(out, "\n## Details\n");
    for row in rows {
        let mut parts = Vec::new();
        if let Some(e) = &row.echo {
            parts.push(format!(
                "echo {}/{} messages verified over {} connections, {} heartbeats answered",
                e.received, e.expected, e.connections, e.pongs
            ));
        }
        if let Some(i) = &row.idle {
            parts.push(format!(
                "idle {}/{} connections opened in {:.1} s, heartbeats settled: {}",
                i.open,
                i.requested,
                i.open_secs,
                if i.settled { "yes" } else { "no" }
            ));
        }
        if parts.is_empty() {
            parts.push(row.status.clone());
        }
        let _ = writeln!(out, "- {}: {}", row.kind.name(), parts.join("; "));
    }
    let notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.notes
                .iter()
                .map(move |n| format!("{}: {n}", r.kind.name()))
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: ServerKind, cpu: f64, bytes: u64) -> Row {
        Row {
            echo: Some(EchoNumbers {
                rate: 1000.0,
                p50_us: Some(100),
                p99_us: Some(200),
                server_cpu_us: Some(cpu),
                ..EchoNumbers::default()
            }),
            idle: Some(IdleNumbers {
                requested: 10,
                open: 10,
                settled: true,
                rss_before: 0,
                rss_after: bytes * 10,
                open_secs: 1.0,
            }),
            ..Row::new(kind)
        }
    }

    #[test]
    fn ratios_compare_ours_with_the_others() {
        let mut unavailable = Row::new(ServerKind::Node);
        unavailable.status = "unavailable: missing".to_string();
        let rows = [
            row(ServerKind::Ours, 2.0, 4000),
            row(ServerKind::Raw, 1.0, 2000),
            unavailable,
        ];
        let lines = ratios(&rows);
        assert!(lines[0].contains("CPU per message 2.00×"), "{lines:?}");
        assert!(
            lines[0].contains("memory per idle connection 2.00×"),
            "{lines:?}"
        );
        assert!(lines[1].contains("node not measured"));
        let table = text_table(&rows);
        assert_eq!(table.lines().count(), 4);
        assert!(table.contains("unavailable: missing"));
    }
}
