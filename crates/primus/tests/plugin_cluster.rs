//! The cluster plugin against a real `redis-server` (Debian's; `scripts/test-all.sh`
//! installs it) started on a free loopback port: two servers in this process, real
//! WebSocket clients, broadcasts and room messages across them exactly once, routed
//! spark writes, the registry, and the delivery rule when Redis goes away (the outbox
//! holds and then delivers; past its limits it drops and reports) and comes back empty
//! (the restart and the missed entries are reported). The multi-process tests with the
//! npm client are in `tests/cluster`.

mod server_support;

use primus::plugins::cluster::{
    Cluster, ClusterError, FoundSpark, GapReason, PrimusClusterExt, UndeliveredReason,
};
use primus::plugins::rooms::{PrimusRoomsExt, Rooms, SparkRoomsExt};
use primus::{Primus, Spark};
use server_support::*;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `redis-server` on a free loopback port, without persistence; killed on drop.
struct Redis {
    port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Redis {
    fn start() -> Redis {
        Self::start_with(Vec::new())
    }

    fn start_with(extra: Vec<String>) -> Redis {
        let mut r = Redis {
            port: free_port(),
            extra,
            child: None,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed (scripts/test-all.sh installs Debian's)");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One cluster server with rooms, and the sparks that connect to it.
struct Node {
    server: TestServer,
    sparks: Arc<Mutex<Vec<Spark>>>,
}

/// (Boxed: the server futures are large, and debug builds keep every awaited future in
/// the test's own stack frame.)
async fn node(cluster: Cluster) -> Node {
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("rooms", Rooms::new()).unwrap();
    primus.plugin("cluster", cluster).unwrap();
    let sparks = Arc::new(Mutex::new(Vec::new()));
    let s = sparks.clone();
    primus.on_connection(move |spark| s.lock().unwrap().push(spark));
    within("the node to register", primus.cluster().unwrap().ready()).await;
    Node {
        server: Box::pin(TestServer::serve(primus)).await,
        sparks,
    }
}

fn fast(url: &str, prefix: &str) -> Cluster {
    Cluster::new(url)
        .prefix(prefix)
        .heartbeat(Duration::from_millis(100))
        .ttl(Duration::from_millis(300))
}

impl Node {
    async fn client(&self) -> (RawWs, Spark) {
        let before = self.sparks.lock().unwrap().len();
        let ws = RawWs::connect(self.server.addr, "/primus", "").await;
        wait_until(WAIT, "the spark", || {
            self.sparks.lock().unwrap().len() > before
        })
        .await;
        let spark = self.sparks.lock().unwrap()[before].clone();
        (ws, spark)
    }
    fn primus(&self) -> &Primus {
        &self.server.primus
    }
}

/// The next data frame's text. (Boxed, like the other big futures here: a WebSocket read
/// is large, and debug builds give every call site its own copy in the caller's frame.)
async fn next_text(ws: &mut RawWs) -> String {
    Box::pin(within("a frame", ws.read_non_ping())).await.text()
}

/// Nothing but `marker` arrives next (so nothing was delivered twice, or wrongly).
async fn nothing_before_marker(ws: &mut RawWs, spark: &Spark) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    spark.write("marker").unwrap();
    assert_eq!(
        next_text(ws).await,
        "\"marker\"",
        "no other frame came first"
    );
}

#[tokio::test]
async fn broadcasts_rooms_and_spark_writes_cross_servers_exactly_once() {
    let redis = Redis::start();
    let a = Box::pin(node(fast(&redis.url(), "t1"))).await;
    let b = Box::pin(node(fast(&redis.url(), "t1"))).await;
    let (mut wa, sa) = a.client().await;
    let (mut wb, sb) = b.client().await;
    let (mut wb2, sb2) = b.client().await;

    // A broadcast on A: A's spark at once (counted), B's sparks through Redis.
    assert_eq!(a.primus().write("hello all").unwrap(), 1);
    assert_eq!(next_text(&mut wa).await, "\"hello all\"");
    assert_eq!(next_text(&mut wb).await, "\"hello all\"");
    assert_eq!(next_text(&mut wb2).await, "\"hello all\"");
    for (ws, s) in [(&mut wa, &sa), (&mut wb, &sb), (&mut wb2, &sb2)] {
        nothing_before_marker(ws, s).await;
    }

    // A room on B reaches its members on both servers; except leaves one out.
    sa.join("news").unwrap();
    sb.join("news").unwrap();
    assert_eq!(
        b.primus()
            .room("news")
            .except(sb.id())
            .write("news!")
            .unwrap(),
        0
    );
    assert_eq!(next_text(&mut wa).await, "\"news!\"");
    nothing_before_marker(&mut wb, &sb).await;
    nothing_before_marker(&mut wb2, &sb2).await;

    // A spark on B, found from A through the registry, and written to.
    let cluster_a = a.primus().cluster().unwrap();
    let cluster_b = b.primus().cluster().unwrap();
    let found = within("find_spark", async {
        loop {
            if let Some(f) = cluster_a.find_spark(sb2.id()).await.unwrap() {
                break f;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let FoundSpark::Remote(remote) = &found else {
        panic!("expected a remote spark, got {found:?}");
    };
    assert_eq!(remote.node(), cluster_b.node_id());
    within("the receipt", remote.write("just you").unwrap())
        .await
        .unwrap();
    assert_eq!(next_text(&mut wb2).await, "\"just you\"");
    nothing_before_marker(&mut wb, &sb).await;
    // write_to: a local id now, the other one through the cluster.
    assert_eq!(a.primus().write_to(&[sa.id(), sb.id()], "two").unwrap(), 1);
    assert_eq!(next_text(&mut wa).await, "\"two\"");
    assert_eq!(next_text(&mut wb).await, "\"two\"");
    nothing_before_marker(&mut wb2, &sb2).await;
    // The async broadcast goes across too.
    assert_eq!(b.primus().send_all("waited").await.unwrap(), 2);
    assert_eq!(next_text(&mut wa).await, "\"waited\"");

    let mut nodes = cluster_a.nodes().await.unwrap();
    nodes.sort();
    let mut want = vec![
        cluster_a.node_id().to_string(),
        cluster_b.node_id().to_string(),
    ];
    want.sort();
    assert_eq!(nodes, want);
    let stats = cluster_b.stats();
    assert!(stats.connected);
    assert_eq!(stats.gaps, 0);
    assert_eq!(stats.duplicates, 0);
    assert!(stats.received >= 3, "{stats:?}");

    // A spark that leaves is gone from the registry; a server that stops leaves it.
    drop(wb);
    within("sb's spark to leave the registry", async {
        while cluster_a.locate(sb.id()).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let _ = Box::pin(b.server.shutdown()).await;
    within("b to leave the node list", async {
        while cluster_a.nodes().await.unwrap().len() != 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(cluster_a.locate(sb2.id()).await.unwrap(), None);
}

#[tokio::test]
async fn redis_away_outbox_holds_then_delivers_and_a_restart_is_reported() {
    let mut redis = Redis::start();
    let gaps = Arc::new(Mutex::new(Vec::new()));
    let g = gaps.clone();
    let a = Box::pin(node(fast(&redis.url(), "t2"))).await;
    let b = Box::pin(node(
        fast(&redis.url(), "t2").on_gap(move |gap| g.lock().unwrap().push(gap.clone())),
    ))
    .await;
    let (mut wa, _sa) = a.client().await;
    let (mut wb, sb) = b.client().await;
    let cluster_a = a.primus().cluster().unwrap();
    let cluster_b = b.primus().cluster().unwrap();

    redis.kill();
    // Local sparks are served at once; the others get it when Redis is back.
    let (sent, receipt) = cluster_a.write("while away").unwrap();
    assert_eq!(sent, 1);
    assert_eq!(next_text(&mut wa).await, "\"while away\"");
    a.primus().write("also while away").unwrap();
    assert_eq!(next_text(&mut wa).await, "\"also while away\"");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cluster_a.stats().outbox, 2);

    redis.spawn();
    within_for(Duration::from_secs(10), "the receipt", receipt)
        .await
        .expect("Redis took it after coming back");
    // In order, exactly once, on the other server.
    assert_eq!(
        within_for(
            Duration::from_secs(10),
            "catch-up",
            Box::pin(wb.read_non_ping())
        )
        .await
        .text(),
        "\"while away\""
    );
    assert_eq!(next_text(&mut wb).await, "\"also while away\"");
    nothing_before_marker(&mut wb, &sb).await;
    let stats = cluster_b.stats();
    assert!(stats.reconnects >= 1, "{stats:?}");
    assert_eq!(stats.restarts, 1, "{stats:?}");
    assert_eq!(cluster_a.stats().dropped, 0);
    assert!(gaps
        .lock()
        .unwrap()
        .iter()
        .any(|g| g.reason == GapReason::RedisReset));

    // Registrations came back after the empty restart.
    within_for(Duration::from_secs(5), "re-registration", async {
        while cluster_a.locate(sb.id()).await.ok().flatten().is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn past_its_limits_the_outbox_drops_and_reports_and_receivers_see_the_gap() {
    let mut redis = Redis::start();
    let undelivered = Arc::new(Mutex::new(Vec::new()));
    let u = undelivered.clone();
    let a = Box::pin(node(
        fast(&redis.url(), "t3")
            .outbox_limits(2, 1 << 20, Duration::from_secs(60))
            .on_undelivered(move |x| u.lock().unwrap().push(x.reason)),
    ))
    .await;
    let b = Box::pin(node(fast(&redis.url(), "t3"))).await;
    let (mut wb, sb) = b.client().await;
    let cluster_a = a.primus().cluster().unwrap();
    let cluster_b = b.primus().cluster().unwrap();
    // A first message, so B knows A's sequence.
    a.primus().write("one").unwrap();
    assert_eq!(next_text(&mut wb).await, "\"one\"");

    redis.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, first) = cluster_a.write("two").unwrap();
    a.primus().write("three").unwrap();
    a.primus().write("four").unwrap();
    // The oldest was dropped, and its caller told.
    assert_eq!(
        within("the receipt", first).await,
        Err(ClusterError::Undelivered(UndeliveredReason::OutboxFull))
    );
    assert_eq!(
        *undelivered.lock().unwrap(),
        [UndeliveredReason::OutboxFull]
    );
    assert_eq!(cluster_a.stats().dropped, 1);

    redis.spawn();
    assert_eq!(
        within_for(
            Duration::from_secs(10),
            "catch-up",
            Box::pin(wb.read_non_ping())
        )
        .await
        .text(),
        "\"three\""
    );
    assert_eq!(next_text(&mut wb).await, "\"four\"");
    nothing_before_marker(&mut wb, &sb).await;
    // B saw the hole in A's sequence: one message missed.
    let stats = cluster_b.stats();
    assert_eq!(stats.missed, 1, "{stats:?}");
    assert!(stats.gaps >= 1);
}

#[tokio::test]
async fn reconnect_on_gap_ends_the_local_sparks_with_reconnect() {
    let redis = Redis::start();
    let a = Box::pin(node(fast(&redis.url(), "t6"))).await;
    let b = Box::pin(node(fast(&redis.url(), "t6").reconnect_on_gap(true))).await;
    let (mut wb, sb) = b.client().await;
    a.primus().write("one").unwrap();
    assert_eq!(next_text(&mut wb).await, "\"one\"");
    // An entry from A with a hole before it (as after a drop or a trim).
    let origin = a.primus().cluster().unwrap().node_id().to_string();
    redis_cli(
        &redis,
        &[
            "XADD", "{t6}:bus", "*", "o", &origin, "s", "5", "k", "a", "f", "t", "d", "\"five\"",
        ],
    );
    // B ends its spark with reconnect (no primus::server::close): the client comes back
    // and loads its state afresh rather than going on past the hole.
    within("the spark to end", async {
        while sb.is_open() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let frame = within("the close", Box::pin(wb.read_non_ping())).await;
    assert_eq!(
        frame.opcode(),
        0x8,
        "a close frame, without primus::server::close first"
    );
    assert_eq!(b.primus().cluster().unwrap().stats().missed, 3);
}

/// Run a command with `redis-cli` (Debian's redis-tools, installed with redis-server).
fn redis_cli(redis: &Redis, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn a_dead_servers_sparks_are_never_routed_and_are_reaped() {
    let redis = Redis::start();
    let a = Box::pin(node(fast(&redis.url(), "t4"))).await;
    let cluster_a = a.primus().cluster().unwrap();
    // What a crashed server leaves behind: its spark mappings and its heartbeat score,
    // but no alive key (it expired).
    redis_cli(&redis, &["HSET", "{t4}:sparks", "ghost-spark", "deadnode"]);
    redis_cli(
        &redis,
        &["SADD", "{t4}:node:deadnode:sparks", "ghost-spark"],
    );
    redis_cli(&redis, &["ZADD", "{t4}:nodes", "1", "deadnode"]);
    // Never routed to a dead server, even before the reaper ran.
    assert_eq!(cluster_a.locate("ghost-spark").await.unwrap(), None);
    assert!(matches!(
        cluster_a.find_spark("ghost-spark").await,
        Ok(None)
    ));
    // And removed by the survivors' reaper within a heartbeat or two.
    within_for(Duration::from_secs(2), "the reaper", async {
        while !redis_cli(&redis, &["HGET", "{t4}:sparks", "ghost-spark"]).is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        redis_cli(&redis, &["EXISTS", "{t4}:node:deadnode:sparks"]),
        "0"
    );
    assert_eq!(redis_cli(&redis, &["ZSCORE", "{t4}:nodes", "deadnode"]), "");
    assert_eq!(cluster_a.nodes().await.unwrap(), [cluster_a.node_id()]);
}

#[tokio::test]
async fn adding_the_plugin_checks_its_options() {
    let primus = Primus::new(quiet()).unwrap();
    let err = primus
        .plugin("cluster", Cluster::new("http://nope"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad Redis URL"), "{err}");
    let err = primus
        .plugin(
            "cluster",
            Cluster::new("redis://127.0.0.1:1/")
                .heartbeat(Duration::from_secs(2))
                .ttl(Duration::from_secs(3)),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least twice the heartbeat"), "{err}");
}

#[tokio::test]
async fn on_a_redis_cluster_too() {
    // Three masters, no replicas, on free loopback ports; their config files go in a
    // throw-away directory.
    let dir = std::env::temp_dir().join(format!("primus-redis-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let masters: Vec<Redis> = (0..3)
        .map(|i| {
            let conf = dir.join(format!("nodes-{i}.conf"));
            let _ = std::fs::remove_file(&conf);
            Redis::start_with(vec![
                "--cluster-enabled".into(),
                "yes".into(),
                "--cluster-config-file".into(),
                conf.display().to_string(),
            ])
        })
        .collect();
    let addrs: Vec<String> = masters
        .iter()
        .map(|r| format!("127.0.0.1:{}", r.port))
        .collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(
        out.status.success(),
        "cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    within_for(Duration::from_secs(20), "cluster_state:ok", async {
        while !masters
            .iter()
            .all(|m| redis_cli(m, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let urls: Vec<String> = masters.iter().map(Redis::url).collect();
    let cluster = || {
        Cluster::redis_cluster(urls.clone())
            .prefix("rc")
            .heartbeat(Duration::from_millis(100))
            .ttl(Duration::from_millis(300))
    };
    let a = Box::pin(node(cluster())).await;
    let b = Box::pin(node(cluster())).await;
    let (mut wa, sa) = a.client().await;
    let (mut wb, sb) = b.client().await;

    a.primus().write("over the cluster").unwrap();
    assert_eq!(next_text(&mut wa).await, "\"over the cluster\"");
    assert_eq!(next_text(&mut wb).await, "\"over the cluster\"");
    sb.join("r").unwrap();
    a.primus().room("r").write("room").unwrap();
    assert_eq!(next_text(&mut wb).await, "\"room\"");
    nothing_before_marker(&mut wa, &sa).await;
    let cluster_a = a.primus().cluster().unwrap();
    let node_b = b.primus().cluster().unwrap().node_id().to_string();
    within("the registry", async {
        while cluster_a.locate(sb.id()).await.ok().flatten().as_deref() != Some(&node_b) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    drop(masters);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_server_started_before_redis_serves_its_sparks_and_joins_later() {
    let mut redis = Redis {
        port: free_port(),
        extra: Vec::new(),
        child: None,
    };
    let primus = Primus::new(quiet()).unwrap();
    primus.plugin("cluster", fast(&redis.url(), "t5")).unwrap();
    let sparks = Arc::new(Mutex::new(Vec::new()));
    let s = sparks.clone();
    primus.on_connection(move |spark| s.lock().unwrap().push(spark));
    let a = Node {
        server: Box::pin(TestServer::serve(primus)).await,
        sparks,
    };
    let (mut wa, sa) = a.client().await;
    let cluster = a.primus().cluster().unwrap();
    // No Redis yet: local traffic flows, the rest waits.
    assert_eq!(a.primus().write("local first").unwrap(), 1);
    assert_eq!(next_text(&mut wa).await, "\"local first\"");
    let (_, receipt) = cluster.write("for later").unwrap();
    assert_eq!(next_text(&mut wa).await, "\"for later\"");
    assert!(!cluster.stats().connected);

    redis.spawn();
    within_for(Duration::from_secs(10), "joining", cluster.ready()).await;
    within_for(Duration::from_secs(10), "the receipt", receipt)
        .await
        .unwrap();
    within_for(Duration::from_secs(5), "its spark registered", async {
        while cluster.locate(sa.id()).await.ok().flatten().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}
