//! The registry: which server is alive, and which server holds which spark.
//!
//! Keys: `{p}:node:<id>` (alive, expires after the ttl unless refreshed), `{p}:nodes`
//! (sorted set of server ids by last heartbeat, in Redis time), `{p}:sparks` (hash:
//! spark id → server id), `{p}:node:<id>:sparks` (set of a server's spark ids).
//!
//! One task owns all writes: it registers the server first, then flushes spark changes
//! (coalesced, so a spark that comes and goes between flushes costs one command), and
//! on every heartbeat refreshes the alive key, re-registers everything if the key had
//! vanished (a Redis restart, or a stall longer than the ttl), removes dead servers'
//! entries, and trims the broadcast stream to its retention window.

use super::conn::{Backoff, Conn, Target};
use super::{ClusterError, Shared};
use redis::Script;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Refresh the alive key and the heartbeat score (Redis time); returns 1 when the key
/// was still there, 0 when it had expired or vanished.
/// KEYS: alive key, nodes zset. ARGV: node id, ttl ms.
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prev = redis.call('SET', KEYS[1], now, 'PX', ARGV[2], 'GET')
redis.call('ZADD', KEYS[2], now, ARGV[1])
if prev then return 1 end
return 0
";

/// Remove servers whose last heartbeat is older than the ttl and whose alive key is gone,
/// with their sparks (only mappings that still point at them). Idempotent: several
/// survivors may run it at once. Returns how many servers it removed.
/// KEYS: nodes zset, sparks hash. ARGV: ttl ms, alive-key prefix.
const REAP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local n = 0
for _, id in ipairs(dead) do
  if redis.call('EXISTS', ARGV[2] .. id) == 0 then
    local set = ARGV[2] .. id .. ':sparks'
    for _, spark in ipairs(redis.call('SMEMBERS', set)) do
      if redis.call('HGET', KEYS[2], spark) == id then
        redis.call('HDEL', KEYS[2], spark)
      end
    end
    redis.call('DEL', set)
    redis.call('ZREM', KEYS[1], id)
    n = n + 1
  end
end
return n
";

/// A spark's server, only if that server is alive.
/// KEYS: sparks hash. ARGV: spark id, alive-key prefix.
const LOCATE: &str = r"
local id = redis.call('HGET', KEYS[1], ARGV[1])
if id and redis.call('EXISTS', ARGV[2] .. id) == 1 then return id end
return false
";

/// The live servers. KEYS: nodes zset. ARGV: alive-key prefix.
const NODES: &str = r"
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then table.insert(out, id) end
end
return out
";

/// Remove this server and its sparks (a clean stop).
/// KEYS: alive key, nodes zset, sparks hash, own sparks set. ARGV: node id.
const LEAVE: &str = r"
for _, spark in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  if redis.call('HGET', KEYS[3], spark) == ARGV[1] then
    redis.call('HDEL', KEYS[3], spark)
  end
end
redis.call('DEL', KEYS[4], KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
}

/// Spark changes waiting to be written, coalesced by id.
#[derive(Default)]
pub(crate) struct Pending {
    ops: Mutex<HashMap<String, Op>>,
    wake: Notify,
}

impl Pending {
    pub(crate) fn add(&self, id: &str) {
        self.set(id, Op::Add);
    }

    pub(crate) fn remove(&self, id: &str) {
        self.set(id, Op::Remove);
    }

    fn set(&self, id: &str, op: Op) {
        self.ops
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), op);
        self.wake.notify_one();
    }

    fn take(&self) -> HashMap<String, Op> {
        std::mem::take(&mut *self.ops.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Put back changes that were not written, unless a newer change came meanwhile.
    fn put_back(&self, ops: HashMap<String, Op>) {
        let mut cur = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        for (id, op) in ops {
            cur.entry(id).or_insert(op);
        }
    }
}

/// How long the registry waits to gather spark changes into one flush.
const FLUSH_DELAY: Duration = Duration::from_millis(20);

pub(crate) async fn run(shared: Arc<Shared>, target: Target) {
    let mut stop = shared.stop.subscribe();
    let mut backoff = Backoff::default();
    let beat = Script::new(BEAT);
    let reap = Script::new(REAP);
    let mut conn: Option<Conn> = None;
    let mut registered = false;
    let mut next_beat = tokio::time::Instant::now();
    loop {
        if *stop.borrow() {
            break;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match target.commands().await {
                Ok(c) => {
                    *shared.lookups.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
                    conn.insert(c)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "cluster: registry cannot reach Redis yet");
                    super::bus::sleep_or_stop(&mut stop, backoff.next_delay()).await;
                    continue;
                }
            },
        };
        let now = tokio::time::Instant::now();
        if now >= next_beat || !registered {
            match heartbeat(&shared, c, &beat, &reap, registered).await {
                Ok(()) => {
                    backoff.reset();
                    if !registered {
                        registered = true;
                        shared.ready.send_modify(|r| *r |= super::READY_REGISTERED);
                    }
                    next_beat = now + shared.heartbeat;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cluster: registry heartbeat failed; retrying");
                    super::bus::sleep_or_stop(&mut stop, backoff.next_delay()).await;
                    continue;
                }
            }
        }
        let ops = shared.registry.take();
        if !ops.is_empty() {
            if let Err(e) = flush(&shared, c, &ops).await {
                tracing::warn!(error = %e, "cluster: registry update failed; retrying");
                shared.registry.put_back(ops);
                super::bus::sleep_or_stop(&mut stop, backoff.next_delay()).await;
                continue;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_beat) => {}
            _ = shared.registry.wake.notified() => {
                tokio::time::sleep(FLUSH_DELAY).await;
            }
            _ = stop.changed() => {}
        }
    }
    // A clean stop: leave the registry now rather than after the ttl (bounded).
    if let Some(mut c) = conn {
        let keys = &shared.keys;
        let leave = Script::new(LEAVE);
        let mut inv = leave.key(keys.node(&shared.node_id));
        inv.key(keys.nodes())
            .key(keys.sparks())
            .key(keys.node_sparks(&shared.node_id))
            .arg(&shared.node_id);
        let _ = tokio::time::timeout(Duration::from_secs(1), inv.invoke_async::<i64>(&mut c)).await;
    }
}

/// Refresh this server's registration; when it had vanished (or on the first beat),
/// write all local sparks again. Then reap dead servers and trim the stream.
async fn heartbeat(
    shared: &Shared,
    c: &mut Conn,
    beat: &Script,
    reap: &Script,
    registered: bool,
) -> Result<(), redis::RedisError> {
    let keys = &shared.keys;
    let ttl_ms = shared.ttl.as_millis() as u64;
    let was_alive: i64 = beat
        .key(keys.node(&shared.node_id))
        .key(keys.nodes())
        .arg(&shared.node_id)
        .arg(ttl_ms)
        .invoke_async(c)
        .await?;
    if was_alive == 0 {
        if registered {
            tracing::warn!("cluster: this server's registration had vanished; registering again");
        }
        // Everything connected now; later changes are already pending and win.
        if let Some(primus) = shared.primus() {
            let mut ops = HashMap::new();
            primus.for_each(|s| {
                ops.insert(s.id().to_string(), Op::Add);
            });
            shared.registry.put_back(ops);
        }
    }
    let reaped: i64 = reap
        .key(keys.nodes())
        .key(keys.sparks())
        .arg(ttl_ms)
        .arg(keys.node_prefix())
        .invoke_async(c)
        .await?;
    if reaped > 0 {
        tracing::info!(
            servers = reaped,
            "cluster: removed dead servers from the registry"
        );
    }
    // Keep the stream to its window (approximate trimming is cheap).
    let window = shared.retention.as_millis() as u64;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    redis::cmd("XTRIM")
        .arg(keys.bus())
        .arg("MINID")
        .arg("~")
        .arg(now_ms.saturating_sub(window))
        .query_async::<i64>(c)
        .await?;
    Ok(())
}

async fn flush(
    shared: &Shared,
    c: &mut Conn,
    ops: &HashMap<String, Op>,
) -> Result<(), redis::RedisError> {
    let keys = &shared.keys;
    let sparks = keys.sparks();
    let own = keys.node_sparks(&shared.node_id);
    let mut pipe = redis::pipe();
    for (id, op) in ops {
        match op {
            Op::Add => {
                pipe.cmd("HSET")
                    .arg(&sparks)
                    .arg(id)
                    .arg(&shared.node_id)
                    .ignore();
                pipe.cmd("SADD").arg(&own).arg(id).ignore();
            }
            Op::Remove => {
                pipe.cmd("HDEL").arg(&sparks).arg(id).ignore();
                pipe.cmd("SREM").arg(&own).arg(id).ignore();
            }
        }
    }
    pipe.query_async::<()>(c).await
}

fn lookup_conn(shared: &Shared) -> Result<Conn, ClusterError> {
    shared
        .lookups
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| ClusterError::Redis("not connected to Redis yet".into()))
}

pub(crate) async fn locate(shared: &Shared, id: &str) -> Result<Option<String>, ClusterError> {
    let mut c = lookup_conn(shared)?;
    let found: Option<String> = Script::new(LOCATE)
        .key(shared.keys.sparks())
        .arg(id)
        .arg(shared.keys.node_prefix())
        .invoke_async(&mut c)
        .await?;
    Ok(found)
}

pub(crate) async fn nodes(shared: &Shared) -> Result<Vec<String>, ClusterError> {
    let mut c = lookup_conn(shared)?;
    let ids: Vec<String> = Script::new(NODES)
        .key(shared.keys.nodes())
        .arg(shared.keys.node_prefix())
        .invoke_async(&mut c)
        .await?;
    Ok(ids)
}
