//! Encode+decode throughput of each parser against the reference's JavaScript
//! implementations, in one run.
//!
//! ```text
//! cargo bench -p primus-core --bench parsers            # 0.5 s per case
//! PARSER_BENCH_SECONDS=2 cargo bench -p primus-core --bench parsers
//! ```
//!
//! The messages are `tests/parsers/bench-corpus.json`. After timing ours, this runs
//! `node tests/parsers/bench.mjs` (the npm packages Primus uses, from
//! `tests/parsers/node_modules`: `cd tests/parsers && npm ci`) on the same messages and
//! prints round trips per second for both and the ratio ours / reference. Without node
//! or the packages it prints our figures only.

use primus_core::parser::{Binary, Ejson, Json, MsgPack};
use primus_core::{Frame, Parser, Value};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/parsers")
}

/// A corpus value (`{"$binrep": [byte, n]}` for bytes) as a [`Value`].
fn value(spec: &Value) -> Value {
    if let Some(o) = spec.as_object() {
        if let (1, Some(rep)) = (o.len(), o.get("$binrep").and_then(Value::as_array)) {
            let byte = rep[0].as_u64().unwrap() as u8;
            let n = rep[1].as_u64().unwrap() as usize;
            return Value::from(vec![byte; n]);
        }
        return o.iter().map(|(k, v)| (k.clone(), value(v))).collect();
    }
    match spec.as_array() {
        Some(a) => a.iter().map(value).collect(),
        None => spec.clone(),
    }
}

/// Round trips per second of `encode` + `decode` on `v`, and the encoded size.
fn measure(p: &dyn Parser, v: &Value, seconds: f64) -> Result<(f64, usize), String> {
    let frame = p.encode(v).map_err(|e| e.to_string())?;
    p.decode(&frame).map_err(|e| e.to_string())?;
    let round = |v: &Value| -> Frame {
        let f = p.encode(black_box(v)).unwrap();
        black_box(p.decode(&f).unwrap());
        f
    };
    let warm = Instant::now() + Duration::from_millis(100);
    while Instant::now() < warm {
        round(v);
    }
    let start = Instant::now();
    let budget = Duration::from_secs_f64(seconds);
    let mut ops = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            round(v);
        }
        ops += 16;
    }
    Ok((ops as f64 / start.elapsed().as_secs_f64(), frame.len()))
}

fn main() {
    let seconds: f64 = std::env::var("PARSER_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.5);
    let text = std::fs::read_to_string(dir().join("bench-corpus.json")).unwrap();
    let corpus: Value = serde_json::from_str(&text).unwrap();
    let corpus: Vec<(String, Value)> = corpus
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m.get("name").and_then(Value::as_str).unwrap().to_string();
            (name, value(m.get("value").unwrap()))
        })
        .collect();
    let parsers: [&dyn Parser; 4] = [&Json, &MsgPack, &Ejson, &Binary];

    let mut ours = Vec::new();
    for p in parsers {
        for (name, v) in &corpus {
            ours.push((p.name(), name.as_str(), measure(p, v, seconds)));
        }
    }

    let node = Command::new("node")
        .arg(dir().join("bench.mjs"))
        .arg(seconds.to_string())
        .output();
    let reference: Option<Value> = match node {
        Ok(out) if out.status.success() => serde_json::from_slice(&out.stdout).ok(),
        Ok(out) => {
            eprintln!(
                "node bench failed (cd tests/parsers && npm ci?): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("node not run: {e}");
            None
        }
    };

    println!(
        "encode+decode round trips per second, {seconds} s per case, one run \
         (ours: primus-core, release; reference: npm packages on node {})",
        node_version().unwrap_or_else(|| "?".into())
    );
    println!(
        "{:<8} {:<14} {:>8} {:>12} {:>12} {:>8}",
        "parser", "message", "bytes", "ours/s", "node/s", "ratio"
    );
    let mut per_parser: Vec<(&str, Vec<f64>)> = Vec::new();
    for (parser, name, result) in &ours {
        let theirs = reference
            .as_ref()
            .and_then(|r| r.get(parser))
            .and_then(|r| r.get(name));
        let node_ops = theirs.and_then(|t| t.get("ops")).and_then(Value::as_f64);
        let node_err = theirs.and_then(|t| t.get("error")).and_then(Value::as_str);
        match result {
            Ok((ops, bytes)) => {
                let ratio = node_ops.map(|n| ops / n);
                if let Some(r) = ratio {
                    match per_parser.iter_mut().find(|(p, _)| p == parser) {
                        Some((_, rs)) => rs.push(r),
                        None => per_parser.push((parser, vec![r])),
                    }
                }
                println!(
                    "{:<8} {:<14} {:>8} {:>12.0} {:>12} {:>8}",
                    parser,
                    name,
                    bytes,
                    ops,
                    node_ops.map_or_else(
                        || node_err.map_or("-".into(), |_| "error".into()),
                        |n| format!("{n:.0}")
                    ),
                    ratio.map_or("-".into(), |r| format!("{r:.1}x")),
                );
            }
            Err(e) => println!("{parser:<8} {name:<14} error: {e}"),
        }
    }
    for (parser, ratios) in per_parser {
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        println!(
            "{parser}: ours is {geo:.1}x the reference (geometric mean over {} messages)",
            ratios.len()
        );
    }
}

fn node_version() -> Option<String> {
    let out = Command::new("node").arg("--version").output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
