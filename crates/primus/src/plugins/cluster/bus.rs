//! The broadcast bus: one Redis stream that every server appends to and reads with its
//! own cursor. The outbox holds entries while Redis is away; the reader delivers other
//! servers' entries exactly once and reports what it could not get.
//!
//! An entry's fields: `o` origin server id, `s` the origin's sequence number (from 1,
//! per start), `k` kind (`a` all, `r` rooms, `s` spark ids), `r` rooms and `x` except
//! ids (JSON arrays), `i` spark ids (JSON array), `n` the one server it is for (spark
//! writes to a known server), `f` frame type (`t` text, `b` binary), `d` the frame.

use super::conn::{Backoff, Conn, Target};
use super::{ClusterError, Gap, GapReason, Shared, UndeliveredReason};
use crate::server::{Audience, Broadcast};
use primus_core::Frame;
use redis::streams::{StreamId, StreamReadReply};
use redis::{FromRedisValue, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// Outbox limits (see `Cluster::outbox_limits`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) entries: usize,
    pub(crate) bytes: usize,
    pub(crate) max_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries: 10_000,
            bytes: 64 << 20,
            max_age: Duration::from_secs(60),
        }
    }
}

/// One entry waiting for Redis.
struct Pending {
    seq: u64,
    audience: Audience,
    target: Option<String>,
    frame: Frame,
    at: Instant,
    receipt: Option<oneshot::Sender<Result<(), ClusterError>>>,
}

impl Pending {
    fn size(&self) -> usize {
        let ids = match &self.audience {
            Audience::All => 0,
            Audience::Rooms { rooms, except } => {
                rooms.iter().chain(except).map(|s| s.len() + 3).sum()
            }
            Audience::Sparks(ids) => ids.iter().map(|s| s.len() + 3).sum(),
        };
        frame_bytes(&self.frame).len() + ids + 64
    }

    fn settle(self, result: Result<(), ClusterError>) {
        if let Some(tx) = self.receipt {
            let _ = tx.send(result);
        }
    }
}

fn frame_bytes(frame: &Frame) -> &[u8] {
    match frame {
        Frame::Text(b) | Frame::Binary(b) => b,
    }
}

#[derive(Default)]
struct Queue {
    entries: VecDeque<Pending>,
    bytes: usize,
    /// The last sequence number handed out (entries are numbered as they are queued, so
    /// the numbers follow the order of the broadcasts).
    seq: u64,
    /// Entries taken by the publisher and not yet settled.
    in_flight: usize,
}

/// The bounded outbox.
pub(crate) struct Outbox {
    limits: Limits,
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Outbox {
    pub(crate) fn new(limits: Limits) -> Self {
        Outbox {
            limits,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        }
    }

    /// Entries not yet taken by Redis (queued or being written).
    pub(crate) fn len(&self) -> usize {
        let q = self.lock();
        q.entries.len() + q.in_flight
    }

    /// The publisher is done with its batch (written or refused).
    fn settled(&self) {
        self.lock().in_flight = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a broadcast for the other servers; past the limits, the oldest entries are
    /// dropped (and reported).
    pub(crate) fn push(
        &self,
        shared: &Shared,
        b: &Broadcast,
        target: Option<String>,
        receipt: Option<oneshot::Sender<Result<(), ClusterError>>>,
    ) {
        let mut dropped = Vec::new();
        {
            let mut q = self.lock();
            q.seq += 1;
            let p = Pending {
                seq: q.seq,
                audience: b.audience.clone(),
                target,
                frame: b.frame.clone(),
                at: Instant::now(),
                receipt,
            };
            q.bytes += p.size();
            q.entries.push_back(p);
            while q.entries.len() > self.limits.entries
                || (q.bytes > self.limits.bytes && q.entries.len() > 1)
            {
                let Some(old) = q.entries.pop_front() else {
                    break;
                };
                q.bytes -= old.size();
                dropped.push(old);
            }
        }
        for old in dropped {
            shared.report_undelivered(old.audience.clone(), UndeliveredReason::OutboxFull);
            old.settle(Err(ClusterError::Undelivered(
                UndeliveredReason::OutboxFull,
            )));
        }
        self.wake.notify_one();
    }

    /// Take up to `max` entries from the front, after dropping expired ones.
    fn take(&self, shared: &Shared, max: usize) -> Vec<Pending> {
        let mut expired = Vec::new();
        let batch = {
            let mut q = self.lock();
            while let Some(front) = q.entries.front() {
                if front.at.elapsed() <= self.limits.max_age {
                    break;
                }
                let Some(old) = q.entries.pop_front() else {
                    break;
                };
                q.bytes -= old.size();
                expired.push(old);
            }
            let n = q.entries.len().min(max);
            let batch: Vec<Pending> = q.entries.drain(..n).collect();
            q.bytes -= batch.iter().map(Pending::size).sum::<usize>();
            q.in_flight = batch.len();
            batch
        };
        for old in expired {
            shared.report_undelivered(old.audience.clone(), UndeliveredReason::Expired);
            old.settle(Err(ClusterError::Undelivered(UndeliveredReason::Expired)));
        }
        batch
    }

    /// Put a batch that Redis did not take back at the front, in order.
    fn put_back(&self, batch: Vec<Pending>) {
        let mut q = self.lock();
        q.in_flight = 0;
        for p in batch.into_iter().rev() {
            q.bytes += p.size();
            q.entries.push_front(p);
        }
    }

    /// Settle everything still queued as not delivered (the server stopped).
    fn fail_all(&self, shared: &Shared) {
        let all: Vec<Pending> = {
            let mut q = self.lock();
            q.bytes = 0;
            q.entries.drain(..).collect()
        };
        for p in all {
            shared.report_undelivered(p.audience.clone(), UndeliveredReason::Stopped);
            p.settle(Err(ClusterError::Undelivered(UndeliveredReason::Stopped)));
        }
    }
}

const BATCH: usize = 256;

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// The `XADD` for one entry.
fn xadd(shared: &Shared, p: &Pending) -> redis::Cmd {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(shared.keys.bus())
        .arg("MAXLEN")
        .arg("~")
        .arg(shared.max_stream_len)
        .arg("*")
        .arg("o")
        .arg(&shared.node_id)
        .arg("s")
        .arg(p.seq);
    match &p.audience {
        Audience::All => {
            cmd.arg("k").arg("a");
        }
        Audience::Rooms { rooms, except } => {
            cmd.arg("k")
                .arg("r")
                .arg("r")
                .arg(json_list(rooms))
                .arg("x")
                .arg(json_list(except));
        }
        Audience::Sparks(ids) => {
            cmd.arg("k").arg("s").arg("i").arg(json_list(ids));
        }
    }
    if let Some(node) = &p.target {
        cmd.arg("n").arg(node);
    }
    let (kind, bytes) = match &p.frame {
        Frame::Text(b) => ("t", b),
        Frame::Binary(b) => ("b", b),
    };
    cmd.arg("f").arg(kind).arg("d").arg(bytes.as_ref());
    cmd
}

/// The publisher: writes outbox entries to the stream, in order, retrying (with the
/// same sequence numbers) until Redis takes them.
pub(crate) async fn publish(shared: Arc<Shared>, target: Target) {
    let mut stop = shared.stop.subscribe();
    let mut backoff = Backoff::default();
    let mut conn: Option<Conn> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let batch = shared.outbox.take(&shared, BATCH);
        if batch.is_empty() {
            tokio::select! {
                _ = shared.outbox.wake.notified() => {}
                _ = stop.changed() => {}
                // Wake now and then to expire entries even when nothing new comes.
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            continue;
        }
        if conn.is_none() {
            match target.commands().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(error = %e, "cluster: publisher cannot reach Redis yet");
                    shared.outbox.put_back(batch);
                    sleep_or_stop(&mut stop, backoff.next_delay()).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut pipe = redis::pipe();
        for p in &batch {
            pipe.add_command(xadd(&shared, p));
        }
        match pipe.query_async::<Vec<Value>>(c).await {
            Ok(_) => {
                backoff.reset();
                shared
                    .counters
                    .published
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                shared.outbox.settled();
                for p in batch {
                    p.settle(Ok(()));
                }
            }
            Err(e) if is_transient(&e) => {
                // Some of the batch may have been written: readers skip the repeats.
                tracing::warn!(error = %e, waiting = batch.len(),
                    "cluster: Redis did not take broadcasts; they wait in the outbox");
                shared.outbox.put_back(batch);
                sleep_or_stop(&mut stop, backoff.next_delay()).await;
            }
            Err(e) => {
                // Redis answered with an error: find the entries it refuses (one at a
                // time) so that one bad entry never blocks the outbox.
                tracing::warn!(error = %e, "cluster: Redis refused a broadcast batch");
                shared.outbox.settled();
                let mut rest = batch.into_iter();
                while let Some(p) = rest.next() {
                    match xadd(&shared, &p).query_async::<Value>(c).await {
                        Ok(_) => {
                            shared.counters.published.fetch_add(1, Ordering::Relaxed);
                            p.settle(Ok(()));
                        }
                        Err(e) if is_transient(&e) => {
                            let mut back = vec![p];
                            back.extend(rest);
                            shared.outbox.put_back(back);
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cluster: Redis refused a broadcast");
                            shared.report_undelivered(
                                p.audience.clone(),
                                UndeliveredReason::Rejected,
                            );
                            p.settle(Err(ClusterError::Undelivered(UndeliveredReason::Rejected)));
                        }
                    }
                }
            }
        }
    }
    // Stopping: one last bounded try, then whatever is left is reported.
    if let Some(mut c) = conn {
        let batch = shared.outbox.take(&shared, usize::MAX);
        if !batch.is_empty() {
            let mut pipe = redis::pipe();
            for p in &batch {
                pipe.add_command(xadd(&shared, p));
            }
            let sent = tokio::time::timeout(
                Duration::from_secs(1),
                pipe.query_async::<Vec<Value>>(&mut c),
            )
            .await;
            if matches!(sent, Ok(Ok(_))) {
                for p in batch {
                    p.settle(Ok(()));
                }
            } else {
                shared.outbox.put_back(batch);
            }
        }
    }
    shared.outbox.fail_all(&shared);
}

/// Whether an error is about reaching Redis (retry) rather than Redis refusing a
/// command (retrying would fail again).
fn is_transient(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind as K, ServerErrorKind as S};
    !matches!(
        e.kind(),
        K::Server(S::ResponseError | S::CrossSlot | S::NoPerm | S::ExecAbort)
            | K::Extension
            | K::Parse
            | K::UnexpectedReturnType
    )
}

pub(crate) async fn sleep_or_stop(stop: &mut tokio::sync::watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.changed() => {}
    }
}

/// How long one `XREAD` blocks.
const BLOCK: Duration = Duration::from_secs(2);
/// Senders not heard from for this long are forgotten by the sequence tracker.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// The last sequence number seen from each sender.
#[derive(Default)]
pub(crate) struct Sequences {
    last: HashMap<String, (u64, Instant)>,
    swept: Option<Instant>,
}

/// What the reader should do with an entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// New: deliver it.
    New,
    /// New, after `missed` entries that never came.
    AfterGap(u64),
    /// Seen already (a retried write).
    Duplicate,
}

impl Sequences {
    pub(crate) fn check(&mut self, origin: &str, seq: u64) -> Seen {
        let now = Instant::now();
        if self
            .swept
            .is_none_or(|t| now.duration_since(t) > FORGET_AFTER)
        {
            self.last
                .retain(|_, (_, at)| now.duration_since(*at) <= FORGET_AFTER);
            self.swept = Some(now);
        }
        match self.last.get_mut(origin) {
            None => {
                self.last.insert(origin.to_string(), (seq, now));
                Seen::New
            }
            Some((last, at)) => {
                *at = now;
                if seq <= *last {
                    Seen::Duplicate
                } else {
                    let missed = seq - *last - 1;
                    *last = seq;
                    if missed == 0 {
                        Seen::New
                    } else {
                        Seen::AfterGap(missed)
                    }
                }
            }
        }
    }
}

/// A decoded entry.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) origin: String,
    pub(crate) seq: u64,
    pub(crate) target: Option<String>,
    pub(crate) broadcast: Broadcast,
}

fn field<'a>(e: &'a StreamId, name: &str) -> Option<&'a Value> {
    e.map.get(name)
}

fn field_string(e: &StreamId, name: &str) -> Option<String> {
    field(e, name).and_then(|v| String::from_redis_value(v.clone()).ok())
}

fn field_list(e: &StreamId, name: &str) -> Option<Vec<String>> {
    field_string(e, name).and_then(|s| serde_json::from_str(&s).ok())
}

/// Decode an entry; `None` for one that is not ours (or damaged).
pub(crate) fn decode(e: &StreamId) -> Option<Entry> {
    let origin = field_string(e, "o")?;
    let seq: u64 = field_string(e, "s")?.parse().ok()?;
    let audience = match field_string(e, "k")?.as_str() {
        "a" => Audience::All,
        "r" => Audience::Rooms {
            rooms: field_list(e, "r")?,
            except: field_list(e, "x").unwrap_or_default(),
        },
        "s" => Audience::Sparks(field_list(e, "i")?),
        _ => return None,
    };
    let bytes = Vec::<u8>::from_redis_value(field(e, "d")?.clone()).ok()?;
    let frame = match field_string(e, "f")?.as_str() {
        "t" => Frame::Text(String::from_utf8(bytes).ok()?.into()),
        "b" => Frame::Binary(bytes.into()),
        _ => return None,
    };
    Some(Entry {
        origin,
        seq,
        target: field_string(e, "n"),
        broadcast: Broadcast::new(audience, frame),
    })
}

/// The cluster's epoch: a random value stored once under `{p}:epoch` by whichever
/// server comes first. It changes only when Redis loses the cluster's keys (a restart
/// without persistence, a flush, a failover to an empty replica), which is exactly when
/// entries may have been lost. (A key, not `INFO`'s `run_id`: it routes to the right
/// node of a Redis Cluster, and a restart that kept the data is not a loss.)
const EPOCH: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
";

async fn epoch(shared: &Shared, conn: &mut Conn) -> Result<String, redis::RedisError> {
    redis::Script::new(EPOCH)
        .key(shared.keys.epoch())
        .arg(format!("{:032x}", rand::random::<u128>()))
        .invoke_async(conn)
        .await
}

/// The id of the stream's newest entry (`0-0` when it has none): where a new reader
/// starts, so it never sees what was sent before it came.
async fn last_id(conn: &mut Conn, key: &str) -> Result<String, redis::RedisError> {
    let reply: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(conn)
        .await?;
    if let Value::Array(items) = reply {
        if let Some(Value::Array(entry)) = items.into_iter().next() {
            if let Some(id) = entry.into_iter().next() {
                return String::from_redis_value(id).map_err(Into::into);
            }
        }
    }
    Ok("0-0".into())
}

/// The reader: follows the stream with a cursor, delivers other servers' entries, and
/// reconnects (forever, with back-off) when Redis goes away, catching up from the
/// cursor.
pub(crate) async fn read(shared: Arc<Shared>, target: Target) {
    let mut stop = shared.stop.subscribe();
    let mut backoff = Backoff::default();
    let mut cursor: Option<String> = None;
    let mut known_run: Option<String> = None;
    let mut sequences = Sequences::default();
    let key = shared.keys.bus();
    let mut first = true;
    'connect: loop {
        if *stop.borrow() {
            break;
        }
        let mut conn = match target.blocking(BLOCK).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(error = %e, "cluster: reader cannot reach Redis yet");
                sleep_or_stop(&mut stop, backoff.next_delay()).await;
                continue;
            }
        };
        let run = match epoch(&shared, &mut conn).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "cluster: reader cannot reach Redis yet");
                sleep_or_stop(&mut stop, backoff.next_delay()).await;
                continue;
            }
        };
        if !first {
            shared.counters.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!("cluster: reconnected to Redis");
        }
        first = false;
        if known_run.as_ref().is_some_and(|k| *k != run) {
            // Redis lost our keys: the stream starts over (ids may be lower than our
            // cursor), so read it from the start; sequence numbers skip anything seen.
            shared.counters.restarts.fetch_add(1, Ordering::Relaxed);
            shared.report_gap(Gap {
                origin: None,
                missed: None,
                reason: GapReason::RedisReset,
            });
            cursor = Some("0-0".into());
        }
        known_run = Some(run);
        if cursor.is_none() {
            match last_id(&mut conn, &key).await {
                Ok(id) => cursor = Some(id),
                Err(e) => {
                    tracing::debug!(error = %e, "cluster: reader cannot read the stream yet");
                    sleep_or_stop(&mut stop, backoff.next_delay()).await;
                    continue;
                }
            }
        }
        shared.counters.connected.store(true, Ordering::Relaxed);
        shared.ready.send_modify(|r| *r |= super::READY_READING);
        backoff.reset();
        loop {
            let from = cursor.clone().unwrap_or_else(|| "0-0".into());
            let mut cmd = redis::cmd("XREAD");
            cmd.arg("COUNT")
                .arg(BATCH)
                .arg("BLOCK")
                .arg(BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(&key)
                .arg(&from);
            let reply = tokio::select! {
                r = cmd.query_async::<Option<StreamReadReply>>(&mut conn) => r,
                _ = stop.changed() => break 'connect,
            };
            match reply {
                Ok(None) => {}
                Ok(Some(reply)) => {
                    for stream in reply.keys {
                        for e in &stream.ids {
                            handle(&shared, &mut sequences, e);
                            cursor = Some(e.id.clone());
                        }
                    }
                }
                Err(e) => {
                    shared.counters.connected.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e,
                        "cluster: lost Redis; serving local sparks, reconnecting");
                    sleep_or_stop(&mut stop, backoff.next_delay()).await;
                    continue 'connect;
                }
            }
        }
    }
    shared.counters.connected.store(false, Ordering::Relaxed);
}

/// Deliver one entry (unless it is ours, a repeat, or for another server).
fn handle(shared: &Shared, sequences: &mut Sequences, e: &StreamId) {
    let Some(entry) = decode(e) else {
        tracing::debug!(id = %e.id, "cluster: skipped an entry that is not a broadcast");
        return;
    };
    if entry.origin == shared.node_id {
        return;
    }
    shared.counters.received.fetch_add(1, Ordering::Relaxed);
    match sequences.check(&entry.origin, entry.seq) {
        Seen::Duplicate => {
            shared.counters.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Seen::AfterGap(missed) => shared.report_gap(Gap {
            origin: Some(entry.origin.clone()),
            missed: Some(missed),
            reason: GapReason::Sequence,
        }),
        Seen::New => {}
    }
    if entry.target.as_ref().is_some_and(|n| *n != shared.node_id) {
        return;
    }
    let Some(primus) = shared.primus() else {
        return;
    };
    match primus.deliver(&entry.broadcast) {
        Ok(n) => {
            shared
                .counters
                .delivered
                .fetch_add(n as u64, Ordering::Relaxed);
        }
        Err(e) => tracing::warn!(error = %e, "cluster: a broadcast from another server failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_spot_repeats_and_holes() {
        let mut s = Sequences::default();
        assert_eq!(s.check("a", 5), Seen::New); // first sight: any number
        assert_eq!(s.check("a", 6), Seen::New);
        assert_eq!(s.check("a", 6), Seen::Duplicate);
        assert_eq!(s.check("a", 4), Seen::Duplicate);
        assert_eq!(s.check("a", 9), Seen::AfterGap(2));
        assert_eq!(s.check("b", 1), Seen::New);
        assert_eq!(s.check("a", 10), Seen::New);
    }

    fn entry(fields: &[(&str, &[u8])]) -> StreamId {
        StreamId {
            id: "1-0".into(),
            map: fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::BulkString(v.to_vec())))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn entries_decode_and_bad_ones_are_skipped() {
        let e = entry(&[
            ("o", b"n1"),
            ("s", b"3"),
            ("k", b"r"),
            ("r", br#"["news","sport"]"#),
            ("x", br#"["id1"]"#),
            ("f", b"t"),
            ("d", b"\"hi\""),
        ]);
        let d = decode(&e).expect("a room entry");
        assert_eq!(d.origin, "n1");
        assert_eq!(d.seq, 3);
        assert_eq!(
            d.broadcast.audience,
            Audience::Rooms {
                rooms: vec!["news".into(), "sport".into()],
                except: vec!["id1".into()]
            }
        );
        assert_eq!(d.broadcast.frame, Frame::text("\"hi\""));
        let bin = entry(&[
            ("o", b"n1"),
            ("s", b"4"),
            ("k", b"s"),
            ("i", br#"["x"]"#),
            ("n", b"n2"),
            ("f", b"b"),
            ("d", &[0, 159, 1]),
        ]);
        let d = decode(&bin).expect("a spark entry");
        assert_eq!(d.target.as_deref(), Some("n2"));
        assert_eq!(d.broadcast.frame, Frame::Binary(vec![0u8, 159, 1].into()));
        // Not UTF-8 in a text frame, unknown kind, missing fields: skipped, no panic.
        assert!(decode(&entry(&[
            ("o", b"n"),
            ("s", b"1"),
            ("k", b"a"),
            ("f", b"t"),
            ("d", &[0xff])
        ]))
        .is_none());
        assert!(decode(&entry(&[
            ("o", b"n"),
            ("s", b"1"),
            ("k", b"?"),
            ("f", b"t"),
            ("d", b"1")
        ]))
        .is_none());
        assert!(decode(&entry(&[("o", b"n"), ("s", b"x")])).is_none());
    }
}
