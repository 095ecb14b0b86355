// Multi-process cluster suite: three primus-cluster-node processes sharing one Redis,
// driven by the official npm `primus` client (see README notes in run.sh).
//   1. broadcast and rooms across nodes      2. direct messages and the registry
//   3. the HTTP (omega-supreme) broadcast      4. Redis killed and restarted
//   5. a node killed behind a round-robin proxy
// Every wait is bounded; "exactly once" = every expected client has the payload
// once, 500 ms after the last one got it, and the others have none.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './lib/redis.mjs';
import { startNode, OMEGA_USER, OMEGA_PASS, HEARTBEAT_MS, TTL_MS } from './lib/node.mjs';
import { startProxy } from './lib/proxy.mjs';
import { connectClient } from './lib/client.mjs';
import { httpRequest, sleep, waitFor } from './lib/util.mjs';

const NAMES = ['A', 'B', 'C'];
const SETTLE_MS = 500;

let counter = 0;
/** A payload no other test (or run) uses. */
function payload(tag) {
  counter += 1;
  return `${tag}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Redis + the three nodes (started in parallel); `stop()` tears everything down. */
async function startCluster() {
  const cluster = {
    redis: null,
    nodes: [],
    byName: {},
    clients: [],
    proxy: null,
    diagnostics() {
      const parts = [];
      for (const node of this.nodes) parts.push(node.diagnostics());
      if (this.redis) parts.push(`--- redis (port ${this.redis.port}, starts ${this.redis.starts}):\n${this.redis.output.text.slice(-1500)}`);
      if (this.proxy) parts.push(`--- proxy: ${JSON.stringify(this.proxy.stats)}`);
      for (const c of this.clients) {
        parts.push(`--- ${c.label}: opens=${c.opens} me=${JSON.stringify(c.me)} last=${JSON.stringify(c.received.slice(-5))}`);
      }
      return parts.join('\n');
    },
    async stop() {
      await Promise.all(this.clients.map((c) => c.close()));
      if (this.proxy) await this.proxy.close();
      await Promise.all(this.nodes.map((n) => n.kill('SIGKILL')));
      if (this.redis) await this.redis.stop();
    },
  };
  try {
    cluster.redis = await startRedis();
    const results = await Promise.allSettled(NAMES.map((name) => startNode({ name, redisPort: cluster.redis.port })));
    for (const r of results) if (r.status === 'fulfilled') cluster.nodes.push(r.value);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const node of cluster.nodes) cluster.byName[node.name] = node;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Two clients per node, connected directly: c1,c2 → A; c3,c4 → B; c5,c6 → C. */
async function connectDirect(cluster) {
  let i = 0;
  for (const node of cluster.nodes) {
    for (let k = 0; k < 2; k += 1) {
      i += 1;
      const client = await connectClient(node.port, { label: `c${i}(${node.name})` });
      cluster.clients.push(client);
      const me = await client.whoami();
      assert.equal(me.node, node.name, `${client.label} whoami.node`);
      assert.ok(me.id, `${client.label} has a spark id`);
    }
  }
  return cluster.clients;
}

/** Runs `fn`, appending the cluster's diagnostics (node stderr etc.) to any failure. */
async function withDiagnostics(getCluster, fn) {
  try {
    await fn();
  } catch (err) {
    const cluster = getCluster();
    if (cluster) {
      err.message += `\n${cluster.diagnostics()}`;
    }
    throw err;
  }
}

/** Asserts `expected` got `p` exactly once each and `others` never did. */
async function exactlyOnce(p, expected, others = [], { timeout = 5000 } = {}) {
  try {
    await waitFor(() => expected.every((c) => c.countOf(p) >= 1), { timeout, interval: 20, what: `"${p}"` });
  } catch (err) {
    const counts = expected.map((c) => `${c.label}=${c.countOf(p)}`).join(' ');
    throw new Error(`not every client got "${p}" within ${timeout} ms: ${counts}`);
  }
  await sleep(SETTLE_MS);
  for (const c of expected) assert.equal(c.countOf(p), 1, `${c.label} must get "${p}" exactly once`);
  for (const c of others) assert.equal(c.countOf(p), 0, `${c.label} must not get "${p}"`);
}

function sameSet(a, b) {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function omegaAuth(user = OMEGA_USER, pass = OMEGA_PASS) {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

function omega(node, body, auth = omegaAuth()) {
  return httpRequest({
    port: node.port,
    method: 'PUT',
    path: '/primus/omega/supreme',
    headers: { authorization: auth },
    body,
  });
}

describe('healthy cluster: 3 nodes, 1 Redis, 2 clients per node', () => {
  let cluster;
  let c1; let c2; let c3; let c4; let c5; let c6; let all;
  const d = (fn) => (t) => withDiagnostics(() => cluster, () => fn(t));

  before(async () => {
    cluster = await startCluster();
    all = await connectDirect(cluster);
    [c1, c2, c3, c4, c5, c6] = all;
  }, { timeout: 40_000 });

  after(async () => {
    if (cluster) await cluster.stop();
  });

  async function joinNews() {
    for (const c of [c1, c3, c5]) {
      const reply = await c.request({ op: 'join', room: 'news' });
      assert.deepEqual(reply, { op: 'joined', room: 'news' });
    }
  }

  test('0. whoami: each node has its own cluster node id', { timeout: 10_000 }, d(async () => {
    const ids = new Set(all.map((c) => c.me.id));
    assert.equal(ids.size, 6, 'six distinct spark ids');
    for (const [x, y] of [[c1, c2], [c3, c4], [c5, c6]]) {
      assert.ok(x.me.nodeId, `${x.label} has a nodeId`);
      assert.equal(x.me.nodeId, y.me.nodeId, 'clients of one node share its nodeId');
    }
    assert.equal(new Set([c1.me.nodeId, c3.me.nodeId, c5.me.nodeId]).size, 3, 'three distinct nodeIds');
  }));

  test('1a. a broadcast from each node reaches all 6 clients exactly once', { timeout: 20_000 }, d(async () => {
    for (const [sender, name] of [[c1, 'A'], [c3, 'B'], [c6, 'C']]) {
      const p = payload(`bcast-${name}`);
      const reply = await sender.request({ op: 'broadcast', msg: p });
      assert.deepEqual(reply, { op: 'done', ref: 'broadcast', local: 2 }, `reply to the broadcast from ${name}`);
      await exactlyOnce(p, all);
      for (const c of all) {
        assert.deepEqual(c.messagesOf(p)[0], { op: 'msg', kind: 'broadcast', from: name, msg: p }, `${c.label} message shape`);
      }
    }
  }));

  test('1b. a room message from each node reaches exactly the members of "news"', { timeout: 20_000 }, d(async () => {
    await joinNews();
    const members = [c1, c3, c5];
    const others = [c2, c4, c6];
    // A non-member on A, a member on B, a non-member on C.
    for (const [sender, name, local] of [[c2, 'A', 1], [c3, 'B', 1], [c6, 'C', 1]]) {
      const p = payload(`room-${name}`);
      const reply = await sender.request({ op: 'room', room: 'news', msg: p });
      assert.deepEqual(reply, { op: 'done', ref: 'room', local }, `reply to the room message from ${name}`);
      await exactlyOnce(p, members, others);
      for (const c of members) {
        assert.deepEqual(c.messagesOf(p)[0], { op: 'msg', kind: 'room', room: 'news', from: name, msg: p });
      }
    }
  }));

  test('1c. "except" leaves one member out (remote and local except)', { timeout: 20_000 }, d(async () => {
    await joinNews();
    // From A, excluding c3 (a member on node B).
    const p1 = payload('except-remote');
    const r1 = await c2.request({ op: 'room', room: 'news', msg: p1, except: c3.me.id });
    assert.deepEqual(r1, { op: 'done', ref: 'room', local: 1 });
    await exactlyOnce(p1, [c1, c5], [c2, c3, c4, c6]);
    // From B, excluding c3 (local to B).
    const p2 = payload('except-local');
    const r2 = await c4.request({ op: 'room', room: 'news', msg: p2, except: c3.me.id });
    assert.deepEqual(r2, { op: 'done', ref: 'room', local: 0 });
    await exactlyOnce(p2, [c1, c5], [c2, c3, c4, c6]);
  }));

  test('2. direct message: A → a spark on C, and the registry', { timeout: 20_000 }, d(async () => {
    const p = payload('direct');
    const reply = await c1.request({ op: 'to', id: c5.me.id, msg: p });
    assert.deepEqual(reply, { op: 'done', ref: 'to', found: 'remote' });
    await exactlyOnce(p, [c5], [c1, c2, c3, c4, c6]);
    assert.deepEqual(c5.messagesOf(p)[0], { op: 'msg', kind: 'direct', from: 'A', msg: p });

    const located = await c1.request({ op: 'locate', id: c5.me.id });
    assert.deepEqual(located, { op: 'located', id: c5.me.id, node: c5.me.nodeId });
    const self = await c1.request({ op: 'locate', id: c2.me.id });
    assert.deepEqual(self, { op: 'located', id: c2.me.id, node: c1.me.nodeId }, 'a local spark is in the registry too');

    // Local direct, then an unknown id.
    const pl = payload('direct-local');
    assert.deepEqual(await c1.request({ op: 'to', id: c2.me.id, msg: pl }), { op: 'done', ref: 'to', found: 'local' });
    await exactlyOnce(pl, [c2], [c1, c3, c4, c5, c6]);
    const unknown = `no-such-spark-${process.pid}`;
    const pu = payload('direct-unknown');
    assert.deepEqual(await c1.request({ op: 'to', id: unknown, msg: pu }), { op: 'done', ref: 'to', found: null });
    assert.deepEqual(await c1.request({ op: 'locate', id: unknown }), { op: 'located', id: unknown, node: null });
    await sleep(SETTLE_MS);
    for (const c of all) assert.equal(c.countOf(pu), 0, `${c.label} must not get a message for an unknown id`);
  }));

  test('3. HTTP broadcast (PUT /primus/omega/supreme on node B)', { timeout: 20_000 }, d(async () => {
    await joinNews();
    const B = cluster.byName.B;

    const pAll = payload('http-all');
    const rAll = await omega(B, { msg: pAll });
    assert.equal(rAll.status, 200, `status (body ${rAll.body})`);
    assert.deepEqual(JSON.parse(rAll.body), { ok: true, send: 2 });
    await exactlyOnce(pAll, all);
    for (const c of all) assert.equal(c.messagesOf(pAll)[0], pAll, `${c.label} gets the bare payload (not wrapped)`);

    const pSpark = payload('http-spark');
    const rSpark = await omega(B, { msg: pSpark, sparks: [c5.me.id] });
    assert.equal(rSpark.status, 200, `status (body ${rSpark.body})`);
    assert.deepEqual(JSON.parse(rSpark.body), { ok: true, send: 0 }, 'the spark lives on C: no local write on B');
    await exactlyOnce(pSpark, [c5], [c1, c2, c3, c4, c6]);

    const pRoom = payload('http-room');
    const rRoom = await omega(B, { msg: pRoom, rooms: ['news'] });
    assert.equal(rRoom.status, 200, `status (body ${rRoom.body})`);
    assert.deepEqual(JSON.parse(rRoom.body), { ok: true, send: 1 }, 'c3 is the one local member on B');
    await exactlyOnce(pRoom, [c1, c3, c5], [c2, c4, c6]);

    const pBad = payload('http-bad-auth');
    const rBad = await omega(B, { msg: pBad }, omegaAuth(OMEGA_USER, 'wrong'));
    assert.equal(rBad.status, 401, `wrong password (body ${rBad.body})`);
    await sleep(SETTLE_MS);
    for (const c of all) assert.equal(c.countOf(pBad), 0, `${c.label} must not get an unauthorized broadcast`);
  }));
});

describe('4. fault: Redis killed and restarted', () => {
  let cluster;
  const d = (fn) => (t) => withDiagnostics(() => cluster, () => fn(t));

  before(async () => {
    cluster = await startCluster();
    await connectDirect(cluster);
  }, { timeout: 40_000 });

  after(async () => {
    if (cluster) await cluster.stop();
  });

  test('4. broadcasts made while Redis is down reach the other nodes once it is back', { timeout: 40_000 }, d(async (t) => {
    const all = cluster.clients;
    const [a1, a2, b1, b2, cc1, cc2] = all;
    const elsewhere = [b1, b2, cc1, cc2];

    // Warm-up: the cluster works.
    const p0 = payload('before-fault');
    await a1.request({ op: 'broadcast', msg: p0 });
    await exactlyOnce(p0, all);

    await cluster.redis.stop();
    // Node A notices (heartbeat 500 ms) before we broadcast "while down".
    await waitFor(async () => (await a1.request({ op: 'stats' })).connected === false, {
      timeout: 3000, interval: 100, what: 'node A stats.connected === false after Redis was killed',
    });

    const p = payload('while-down');
    const t0 = Date.now();
    const replyP = a1.request({ op: 'broadcast', msg: p }, 3000);
    await waitFor(() => a1.countOf(p) >= 1 && a2.countOf(p) >= 1, {
      timeout: 1000, interval: 10, what: "A's own clients to get the broadcast while Redis is down",
    });
    const reply = await replyP;
    assert.deepEqual(reply, { op: 'done', ref: 'broadcast', local: 2 }, 'the reply comes while Redis is down');
    await sleep(Math.max(0, t0 + 1000 - Date.now()));
    for (const c of elsewhere) assert.equal(c.countOf(p), 0, `${c.label} must not get it while Redis is down`);

    await cluster.redis.restart();
    const tUp = Date.now();
    await exactlyOnce(p, all, [], { timeout: 10_000 });
    t.diagnostic(`held broadcast reached B and C ${Date.now() - tUp - SETTLE_MS} ms after the Redis restart`);

    // All three nodes report the link up again, then broadcasts cross nodes again.
    for (const c of [a1, b1, cc1]) {
      await waitFor(async () => (await c.request({ op: 'stats' })).connected === true, {
        timeout: 10_000, interval: 100, what: `node ${c.me.node} stats.connected === true`,
      });
    }
    const p2 = payload('after-restart');
    const r2 = await b1.request({ op: 'broadcast', msg: p2 });
    assert.deepEqual(r2, { op: 'done', ref: 'broadcast', local: 2 });
    await exactlyOnce(p2, all);
    const p3 = payload('after-restart-c');
    await cc2.request({ op: 'broadcast', msg: p3 });
    await exactlyOnce(p3, all);

    const statsB = await b1.request({ op: 'stats' });
    assert.ok(statsB.reconnects >= 1, `node B stats.reconnects >= 1: ${JSON.stringify(statsB)}`);
    assert.ok(statsB.restarts >= 1, `node B stats.restarts >= 1: ${JSON.stringify(statsB)}`);
    const statsA = await a1.request({ op: 'stats' });
    assert.equal(statsA.dropped, 0, `node A stats.dropped == 0: ${JSON.stringify(statsA)}`);
  }));
});

describe('5. fault: a node killed behind a round-robin proxy', () => {
  let cluster;
  const d = (fn) => (t) => withDiagnostics(() => cluster, () => fn(t));
  const joinedOps = (c) => c.received.filter((v) => v && v.op === 'joined' && v.room === 'ops').length;

  before(async () => {
    cluster = await startCluster();
    cluster.proxy = await startProxy(cluster.nodes.map((n) => n.port));
    // Sequential connects: the proxy hands them to A, B, C, A, B, C.
    for (let i = 1; i <= 6; i += 1) {
      const client = await connectClient(cluster.proxy.port, {
        label: `p${i}`,
        onOpen: (c) => c.write({ op: 'join', room: 'ops' }),
      });
      cluster.clients.push(client);
      await client.whoami();
      client.label = `p${i}(${client.me.node})`;
      await client.waitFor((c) => joinedOps(c) >= 1, 5000, 'joined "ops"');
    }
  }, { timeout: 40_000 });

  after(async () => {
    if (cluster) await cluster.stop();
  });

  test('5. its sparks leave the registry and its clients move to A/B and rejoin', { timeout: 40_000 }, d(async (t) => {
    const all = cluster.clients;
    const on = (name) => all.filter((c) => c.me.node === name);
    assert.deepEqual(NAMES.map((n) => on(n).length), [2, 2, 2], 'round robin put two clients on each node');
    const locator = on('A')[0];
    const victims = on('C');
    const oldIds = victims.map((c) => c.me.id);
    const nodeIdC = victims[0].me.nodeId;
    for (const id of oldIds) {
      assert.deepEqual(await locator.request({ op: 'locate', id }), { op: 'located', id, node: nodeIdC });
    }

    // Before the fault: an "ops" room message reaches everyone.
    const p0 = payload('ops-before');
    await locator.request({ op: 'room', room: 'ops', msg: p0 });
    await exactlyOnce(p0, all);

    const tKill = Date.now();
    await cluster.byName.C.kill('SIGKILL');

    // Registry: gone within ttl + heartbeat + 1 s.
    const limit = TTL_MS + HEARTBEAT_MS + 1000;
    const gone = new Set();
    for (let round = 0; round < Math.ceil(limit / 200) + 2 && gone.size < oldIds.length; round += 1) {
      const replies = await Promise.all(oldIds.filter((id) => !gone.has(id))
        .map((id) => locator.request({ op: 'locate', id }, 1000)));
      for (const r of replies) if (r.node === null) gone.add(r.id);
      if (gone.size === oldIds.length || Date.now() - tKill >= limit) break;
      await sleep(200);
    }
    const elapsed = Date.now() - tKill;
    assert.equal(gone.size, oldIds.length,
      `C's sparks still located after ${elapsed} ms (limit ${limit}): ${oldIds.filter((id) => !gone.has(id)).join(', ')}`);
    assert.ok(elapsed <= limit + 300, `registry cleanup took ${elapsed} ms (limit ${limit})`);
    t.diagnostic(`C's sparks left the registry within ${elapsed} ms of the SIGKILL (limit ${limit} ms)`);

    // C's clients reconnect through the proxy to A or B and re-join "ops".
    for (const c of victims) {
      await c.waitFor((x) => x.opens >= 2 && joinedOps(x) >= 2, 10_000, 'reconnect and re-join "ops"');
      const before = c.me;
      const me = await c.whoami();
      assert.ok(['A', 'B'].includes(me.node), `${c.label} reconnected to A or B, got ${me.node}`);
      assert.notEqual(me.id, before.id, `${c.label} has a new spark id`);
      const loc = await locator.request({ op: 'locate', id: me.id });
      assert.notEqual(loc.node, null, `${c.label}'s new spark is in the registry`);
    }

    const p = payload('ops-after');
    const reply = await locator.request({ op: 'room', room: 'ops', msg: p });
    assert.equal(reply.op, 'done');
    assert.equal(reply.local, all.filter((c) => c.me.node === 'A').length, 'local = ops members now on A');
    await exactlyOnce(p, all);
    for (const c of all) {
      assert.deepEqual(c.messagesOf(p)[0], { op: 'msg', kind: 'room', room: 'ops', from: 'A', msg: p });
    }
  }));
});
