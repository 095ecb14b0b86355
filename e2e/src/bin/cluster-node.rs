//! `primus-cluster-node`: one server of a Redis-backed cluster (rooms + cluster + omega
//! plugins), for `tests/cluster` and the cluster benchmark. Clients speak JSON objects:
//!
//! - `{"op":"whoami"}` → `{"op":"whoami","id","node","nodeId"}`
//! - `{"op":"join","room"}` → `{"op":"joined","room"}`
//! - `{"op":"broadcast","msg"}` → everyone on every node gets
//!   `{"op":"msg","kind":"broadcast","from","msg"}`; the sender `{"op":"done","ref":"broadcast","local"}`
//! - `{"op":"room","room","msg"[,"except"]}` → the room's members get
//!   `{"op":"msg","kind":"room","room","from","msg"}`; the sender `{"op":"done","ref":"room","local"}`
//! - `{"op":"to","id","msg"}` → that spark gets `{"op":"msg","kind":"direct","from","msg"}`;
//!   the sender `{"op":"done","ref":"to","found":"local"|"remote"|null}`
//! - `{"op":"locate","id"}` → `{"op":"located","id","node"}` (the registry)
//! - `{"op":"stats"}` → `{"op":"stats", ...ClusterStats}`
//!
//! Flags: `--redis <url>` (required), `--name <name>`, `--port <n>` (0: any),
//! `--prefix <p>`, `--omega-user <u> --omega-pass <p>` (the HTTP broadcast),
//! `--heartbeat-ms <n>`, `--ttl-ms <n>`. Binds 127.0.0.1, prints `listening <port>` once
//! the node is registered and follows the stream, stops on SIGINT or SIGTERM.

use primus::plugins::cluster::{Cluster, ClusterHandle, FoundSpark, PrimusClusterExt};
use primus::plugins::omega::Omega;
use primus::plugins::rooms::{PrimusRoomsExt, Rooms, SparkRoomsExt};
use primus::{Options, Primus, Server, Spark};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!("primus-cluster-node: {msg}");
    std::process::exit(2);
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn reply(spark: &Spark, v: Value) {
    if let Err(e) = spark.write(&v) {
        eprintln!("primus-cluster-node: reply to {} failed: {e}", spark.id());
    }
}

fn contract(spark: &Spark, name: &Arc<str>, cluster: &ClusterHandle) {
    let name = name.clone();
    let cluster = cluster.clone();
    spark.on_data(move |spark, msg| {
        let v = &serde_json::to_value(msg.value()).unwrap_or(Value::Null);
        let from = &*name;
        match v.get("op").and_then(Value::as_str).unwrap_or_default() {
            "whoami" => reply(
                spark,
                json!({"op":"whoami","id":spark.id(),"node":from,"nodeId":cluster.node_id()}),
            ),
            "join" => {
                let room = text(v, "room");
                match spark.join(room.as_str()) {
                    Ok(()) => reply(spark, json!({"op":"joined","room":room})),
                    Err(e) => reply(spark, json!({"op":"error","reason":e.to_string()})),
                }
            }
            "broadcast" => {
                let out = json!({"op":"msg","kind":"broadcast","from":from,"msg":v["msg"]});
                let local = spark.primus().write(&out).unwrap_or(0);
                reply(spark, json!({"op":"done","ref":"broadcast","local":local}));
            }
            "room" => {
                let room = text(v, "room");
                let out = json!({"op":"msg","kind":"room","room":room,"from":from,"msg":v["msg"]});
                let mut target = spark.primus().room(room.as_str());
                if let Some(except) = v.get("except").and_then(Value::as_str) {
                    target = target.except(except);
                }
                let local = target.write(&out).unwrap_or(0);
                reply(spark, json!({"op":"done","ref":"room","local":local}));
            }
            "to" => {
                let (id, spark, cluster) = (text(v, "id"), spark.clone(), cluster.clone());
                let out = json!({"op":"msg","kind":"direct","from":from,"msg":v["msg"]});
                tokio::spawn(async move {
                    let found = match cluster.find_spark(&id).await {
                        Ok(Some(found)) => {
                            let kind = match &found {
                                FoundSpark::Local(_) => "local",
                                FoundSpark::Remote(_) => "remote",
                            };
                            found.write(&out).ok().map(|_| kind)
                        }
                        Ok(None) => None,
                        Err(e) => {
                            eprintln!("primus-cluster-node: find_spark: {e}");
                            None
                        }
                    };
                    reply(&spark, json!({"op":"done","ref":"to","found":found}));
                });
            }
            "locate" => {
                let (id, spark, cluster) = (text(v, "id"), spark.clone(), cluster.clone());
                tokio::spawn(async move {
                    let node = cluster.locate(&id).await.unwrap_or_else(|e| {
                        eprintln!("primus-cluster-node: locate: {e}");
                        None
                    });
                    reply(&spark, json!({"op":"located","id":id,"node":node}));
                });
            }
            "stats" => {
                let mut stats = serde_json::to_value(cluster.stats()).unwrap_or(json!({}));
                stats["op"] = json!("stats");
                reply(spark, stats);
            }
            other => reply(
                spark,
                json!({"op":"error","reason":format!("unknown op {other:?}")}),
            ),
        }
    });
}

#[tokio::main]
async fn main() {
    // Warnings and up on stderr (RUST_LOG overrides): a cluster's trouble must be visible.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let (mut port, mut redis, mut name, mut prefix) = (0u16, None, "node".to_string(), None);
    let (mut omega_user, mut omega_pass) = (None, None);
    let (mut heartbeat, mut ttl) = (None, None);
    let mut args = std::env::args().skip(1);
    let ms = |v: &str| Duration::from_millis(v.parse().unwrap_or_else(|_| usage("bad ms value")));
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => port = value.parse().unwrap_or_else(|_| usage("bad --port")),
            "--redis" => redis = Some(value),
            "--name" => name = value,
            "--prefix" => prefix = Some(value),
            "--omega-user" => omega_user = Some(value),
            "--omega-pass" => omega_pass = Some(value),
            "--heartbeat-ms" => heartbeat = Some(ms(&value)),
            "--ttl-ms" => ttl = Some(ms(&value)),
            other => usage(&format!("unknown flag {other}")),
        }
    }
    let redis = redis.unwrap_or_else(|| usage("--redis <url> is required"));
    let primus = Primus::new(Options::default()).unwrap_or_else(|e| usage(&e.to_string()));
    primus
        .plugin("rooms", Rooms::new())
        .unwrap_or_else(|e| usage(&e.to_string()));
    let mut cluster = Cluster::new(redis);
    if let Some(p) = prefix {
        cluster = cluster.prefix(p);
    }
    if let Some(h) = heartbeat {
        cluster = cluster.heartbeat(h);
    }
    if let Some(t) = ttl {
        cluster = cluster.ttl(t);
    }
    let label = name.clone();
    cluster = cluster.on_gap(move |gap| eprintln!("primus-cluster-node {label}: gap {gap:?}"));
    primus
        .plugin("cluster", cluster)
        .unwrap_or_else(|e| usage(&e.to_string()));
    if let (Some(u), Some(p)) = (omega_user, omega_pass) {
        primus
            .plugin("omega", Omega::new(u, p))
            .unwrap_or_else(|e| usage(&e.to_string()));
    }
    let handle = primus.cluster().unwrap_or_else(|| usage("no cluster"));
    let name: Arc<str> = name.into();
    {
        let handle = handle.clone();
        primus.on_connection(move |spark| contract(&spark, &name, &handle));
    }
    let running = Server::bind(primus, SocketAddr::from(([127, 0, 0, 1], port)))
        .iknowhttpsisbetter(true)
        .start()
        .await
        .unwrap_or_else(|e| usage(&e.to_string()));
    if tokio::time::timeout(Duration::from_secs(20), handle.ready())
        .await
        .is_err()
    {
        usage("not registered in Redis after 20 s: is it running at --redis?");
    }
    primus_e2e::announce(running.local_addr());
    if let Err(e) = running.run_until(primus_e2e::shutdown_signal()).await {
        usage(&e.to_string());
    }
}
