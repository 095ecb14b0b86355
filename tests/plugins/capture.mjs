#!/usr/bin/env node
// Captures the exact WebSocket text frames exchanged by the npm Primus plugins
// (real Node Primus 8 server + the official Node client built by
// `primus.Socket`, which includes each plugin's client half).
//
//   node capture.mjs            # run every scenario, (re)write fixtures/*.json
//   node capture.mjs --check    # run every scenario, compare with fixtures/*.json
//   node capture.mjs [--check] emitter rooms   # only some scenarios
//
// Frames are recorded at the `ws` level on the server (the WebSocket object
// handed out by `handleUpgrade`: its 'message' events and its `send` calls), so
// they are exactly the text that travels on the wire. Primus heartbeats are
// disabled (`pingInterval: false`) and any `primus::ping::`/`primus::pong::`
// frame is dropped anyway. Everything listens on 127.0.0.1 only and every wait
// is bounded.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.join(HERE, 'fixtures');
const Primus = require('primus');

const pkgVersion = (name) => require(`${name}/package.json`).version;

const argv = process.argv.slice(2);
const CHECK = argv.includes('--check');
const ONLY = argv.filter((a) => !a.startsWith('--'));

// Hard cap on the whole run.
const GLOBAL_TIMEOUT_MS = 120_000;
const globalTimer = setTimeout(() => {
  console.error(`capture: global timeout (${GLOBAL_TIMEOUT_MS} ms) exceeded`);
  process.exit(3);
}, GLOBAL_TIMEOUT_MS);
globalTimer.unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A plain-JSON snapshot of a value for the `observed` log.
function snap(v) {
  if (v instanceof Error) {
    const o = { error: v.name, message: v.message };
    if (v.event !== undefined) o.event = v.event;
    return o;
  }
  if (typeof v === 'function') return '<function>';
  if (v === undefined) return '<undefined>';
  if (Array.isArray(v)) return v.map(snap);
  if (v && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = snap(v[k]);
    return o;
  }
  return v;
}

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

class Harness {
  constructor(name, plugins, serverOptions = {}) {
    this.name = name;
    this.plugins = plugins; // [[name, module, npmName]]
    this.serverOptions = serverOptions;
    this.steps = [];
    this.current = null;
    this.recording = false;
    this.volatile = new Map(); // value -> placeholder
    this.sparks = {}; // conn name -> server spark
    this.clients = {}; // conn name -> client
    this.lastFrameAt = 0;
    this.frameCount = 0;
  }

  async start() {
    this.server = http.createServer();
    this.primus = new Primus(this.server, {
      transformer: 'websockets',
      pingInterval: false,
      ...this.serverOptions,
    });
    for (const [name, mod] of this.plugins) this.primus.plugin(name, mod);

    // Spy at the ws level.
    const svc = this.primus.transformer.service;
    const handleUpgrade = svc.handleUpgrade.bind(svc);
    svc.handleUpgrade = (req, socket, head, cb) => {
      const conn = new URL(req.url, 'http://x').searchParams.get('name') || '?';
      handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => this.record('c2s', conn, data, isBinary));
        const send = ws.send.bind(ws);
        ws.send = (data, ...rest) => {
          this.record('s2c', conn, data, false);
          return send(data, ...rest);
        };
        cb(ws);
      });
    };

    this.connWaiters = {};
    this.primus.on('connection', (spark) => {
      const conn = spark.query.name;
      this.sparks[conn] = spark;
      this.vol(spark.id, `<spark-id:${conn}>`);
      const w = this.connWaiters[conn];
      if (w) w(spark);
    });

    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.Socket = this.primus.Socket; // compiled client incl. plugin client halves
  }

  vol(value, placeholder) {
    if (typeof value === 'string' && value.length >= 4) this.volatile.set(value, placeholder);
  }

  record(dir, conn, data, isBinary) {
    if (!this.recording) return;
    const frame = isBinary ? `<binary ${Buffer.from(data).toString('hex')}>` : data.toString();
    if (/^"?primus::(ping|pong)::/.test(frame)) return;
    this.lastFrameAt = Date.now();
    this.frameCount++;
    if (this.current) this.current.frames.push({ dir, conn, frame });
  }

  // Client and server both write to `observed`.
  log(side, what, ...values) {
    if (this.current) this.current.observed.push({ side, what, values: snap(values) });
  }

  async connect(conn, clientOptions = {}) {
    const sparkP = new Promise((resolve) => { this.connWaiters[conn] = resolve; });
    const client = new this.Socket(`http://127.0.0.1:${this.port}/?name=${conn}`, {
      strategy: false,
      ...clientOptions,
    });
    this.clients[conn] = client;
    await withTimeout(new Promise((resolve) => client.once('open', resolve)), 3000, `open ${conn}`);
    const spark = await withTimeout(sparkP, 3000, `connection ${conn}`);
    return { client, spark };
  }

  // Run one scripted step: perform `action`, then wait until `until()` holds
  // (if given) and the wire has been quiet for `quiet` ms; bounded by `max`.
  async step(scenario, action, { until, quiet = 80, max = 3000, settle = 0 } = {}) {
    this.current = { scenario, frames: [], observed: [] };
    this.steps.push(this.current);
    this.recording = true;
    this.lastFrameAt = Date.now();
    const t0 = Date.now();
    await action();
    if (settle) await sleep(settle);
    for (;;) {
      const now = Date.now();
      if (now - t0 > max) {
        if (until && !until()) throw new Error(`step timed out: ${this.name}: ${scenario}`);
        break;
      }
      if ((!until || until()) && now - this.lastFrameAt >= quiet) break;
      await sleep(10);
    }
    this.current = null;
  }

  async stop() {
    this.recording = false;
    for (const c of Object.values(this.clients)) {
      try { c.end(); } catch { /* ignore */ }
    }
    await sleep(30);
    await new Promise((resolve) => {
      try { this.primus.destroy({ close: true, timeout: 0 }, resolve); } catch { resolve(); }
      setTimeout(resolve, 1000).unref();
    });
  }

  normalize(s) {
    let out = s;
    const entries = [...this.volatile.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [value, ph] of entries) out = out.split(value).join(ph);
    out = out.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => {
      if (!this.uuids) this.uuids = new Map();
      if (!this.uuids.has(u)) this.uuids.set(u, `<uuid:${this.uuids.size + 1}>`);
      return this.uuids.get(u);
    });
    return out;
  }

  fixture(meta) {
    return {
      plugin: meta.plugin,
      version: meta.version,
      primus: pkgVersion('primus'),
      ws: pkgVersion('ws'),
      serverPlugins: this.plugins.map(([name, , npm]) => ({ name, npm, version: pkgVersion(npm) })),
      description: meta.description,
      notes: 'Frames are exact WebSocket text frames. `norm` (only when it differs from `frame`) is the frame with volatile values (spark ids, uuids, random channel ids) replaced by placeholders; --check compares `norm`. `conn` names the client connection (A, B, C). `observed` is what the application handlers saw on each side.',
      steps: this.steps.map((s, i) => ({
        step: i + 1,
        scenario: s.scenario,
        frames: s.frames.map((f) => {
          const norm = this.normalize(f.frame);
          const o = { dir: f.dir, conn: f.conn, frame: f.frame };
          if (norm !== f.frame) o.norm = norm;
          return o;
        }),
        observed: s.observed.map((o) => JSON.parse(this.normalize(JSON.stringify(o)))),
      })),
    };
  }
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms); }),
  ]);
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

const scenarios = {};

// --------------------------------------------------------------- emitter ---
scenarios.emitter = {
  plugin: 'primus-emitter',
  description: 'primus-emitter: events with arguments and acks in both directions, reserved names, raw writes.',
  plugins: [['emitter', require('primus-emitter'), 'primus-emitter']],
  async run(h) {
    const { client, spark } = await h.connect('A');
    let acks = 0;
    const onData = (side) => (d) => h.log(side, 'data', d);
    spark.on('data', onData('server'));
    client.on('data', onData('client'));
    for (const ev of ['news', 'many', 'noargs', 'ask', 'spoof', 'nulls', 'twice']) {
      spark.on(ev, (...args) => {
        const fn = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        h.log('server', `event:${ev}`, ...args, ...(fn ? ['<ack fn>'] : []));
        if (ev === 'ask' && fn) fn('answer', { ok: true });
        if (ev === 'twice' && fn) { fn('first'); fn('second'); }
      });
    }
    // Listeners for reserved names: these must NOT fire from remote events.
    spark.on('end', () => h.log('server', 'event:end (local)'));
    for (const ev of ['hello', 'question', 'noreply', 'open', 'data2']) {
      client.on(ev, (...args) => {
        const fn = typeof args[args.length - 1] === 'function' ? args.pop() : null;
        h.log('client', `event:${ev}`, ...args, ...(fn ? ['<ack fn>'] : []));
        if (ev === 'question' && fn) fn('client-answer', 42);
        if (ev === 'noreply' && fn) fn();
      });
    }

    await h.step("client send('news', {a:1})", () => client.send('news', { a: 1 }));
    await h.step("server spark.send('hello', 'x', 2)", () => spark.send('hello', 'x', 2));
    await h.step("client send('ask', 'q', fn) - server acks with fn('answer', {ok:true})",
      () => client.send('ask', 'q', (...r) => { acks++; h.log('client', 'ack-callback', ...r); }),
      { until: () => acks >= 1 });
    await h.step("client send('ask', fn) - ack with no event args (second ack id)",
      () => client.send('ask', (...r) => { acks++; h.log('client', 'ack-callback', ...r); }),
      { until: () => acks >= 2 });
    await h.step("server spark.send('question', 'why?', fn) - client acks with fn('client-answer', 42)",
      () => spark.send('question', 'why?', (...r) => { acks++; h.log('server', 'ack-callback', ...r); }),
      { until: () => acks >= 3 });
    await h.step("server spark.send('noreply', fn) - client acks with fn() (no args)",
      () => spark.send('noreply', (...r) => { acks++; h.log('server', 'ack-callback', ...r); }),
      { until: () => acks >= 4 });
    await h.step("client send('twice', fn) - server calls the ack fn twice (second call is dropped)",
      () => client.send('twice', (...r) => { acks++; h.log('client', 'ack-callback', ...r); }),
      { until: () => acks >= 5, quiet: 120 });
    await h.step("client send('many', 1, 'two', [3], {four:4}, null, true)",
      () => client.send('many', 1, 'two', [3], { four: 4 }, null, true));
    await h.step("client send('noargs')", () => client.send('noargs'));
    await h.step("client send('nulls', undefined, NaN) - JSON turns both into null",
      () => client.send('nulls', undefined, NaN));
    await h.step("client send('end', 'x') and send('data', 'y') - reserved on the server: frames travel, no event fires",
      async () => { client.send('end', 'x'); client.send('data', 'y'); });
    await h.step("server spark.send('open', 1), spark.send('data', 2) - reserved on the client: frames travel, no event fires",
      async () => { spark.send('open', 1); spark.send('data', 2); spark.send('data2', 3); });
    await h.step("client send('newListener', 1) and server spark.send('removeListener', 1) - filtered before the wire (no frame)",
      async () => { client.send('newListener', 1); spark.send('removeListener', 1); }, { settle: 50 });
    await h.step("plain writes mixed with send: client write('plain'), write([1,2]), send('news', 2), write({type:0,data:['spoof','forged']})",
      async () => {
        client.write('plain');
        client.write([1, 2]);
        client.send('news', 2);
        client.write({ type: 0, data: ['spoof', 'forged'] });
      });
    await h.step("server spark.write('plain-from-server') then spark.send('hello')",
      async () => { spark.write('plain-from-server'); spark.send('hello'); });
    await h.step("raw packets: unknown ack id 99, string id, id 0 with EVENT, ACK without data array",
      async () => {
        client.write({ type: 1, id: 99, data: ['nobody'] });
        client.write({ type: 0, id: 'abc', data: ['news', 'string-id'] });
        client.write({ type: 0, id: 0, data: ['news', 'zero-id'] });
        client.write({ type: 1, id: 1 });
      });
    await h.step("server primus.send('hello', 'broadcast') (primus-emitter broadcast to every spark)",
      () => h.primus.send('hello', 'broadcast'));
  },
};

// ----------------------------------------------------------------- rooms ---
scenarios.rooms = {
  plugin: 'primus-rooms',
  description: 'primus-rooms (server-only) together with primus-emitter: joins/leaves requested by the client through application messages, room broadcasts with write and send.',
  plugins: [
    ['emitter', require('primus-emitter'), 'primus-emitter'],
    ['rooms', require('primus-rooms'), 'primus-rooms'],
  ],
  async run(h) {
    const A = await h.connect('A');
    const B = await h.connect('B');
    const C = await h.connect('C');
    const sparks = { A: A.spark, B: B.spark, C: C.spark };
    let pending = 0;
    for (const [name, { client, spark }] of Object.entries({ A, B, C })) {
      client.on('data', (d) => h.log(`client ${name}`, 'data', d));
      client.on('news', (...a) => h.log(`client ${name}`, 'event:news', ...a));
      for (const ev of ['joinroom', 'leaveroom', 'leaveallrooms', 'roomserror']) {
        spark.on(ev, (arg) => h.log(`server spark ${name}`, `event:${ev}`, arg));
      }
      // README pattern: the client asks for join/leave with a plain message.
      spark.on('data', (msg) => {
        if (!msg || typeof msg !== 'object' || !msg.action) return;
        h.log(`server spark ${name}`, 'request', msg);
        pending++;
        const done = (err) => {
          spark.write(`${msg.action} ${msg.room} ${err ? 'failed' : 'ok'}`);
          pending--;
        };
        if (msg.action === 'join') spark.join(msg.room, done);
        else if (msg.action === 'leave') spark.leave(msg.room, done);
        else if (msg.action === 'leaveAll') spark.leaveAll(done);
      });
      // emitter flavour: client send('join', room, ack)
      spark.on('join', (room, fn) => {
        pending++;
        spark.join(room, (err) => { fn(err ? String(err.message) : null, spark.rooms()); pending--; });
      });
    }
    for (const ev of ['joinroom', 'leaveroom', 'leaveallrooms', 'roomserror']) {
      h.primus.on(ev, (arg, spark) => h.log('server primus', `event:${ev}`, arg, spark && spark.id));
    }
    const idle = () => pending === 0;

    await h.step("A write({action:'join', room:'news'}) - server spark.join('news') then writes an ack string",
      () => A.client.write({ action: 'join', room: 'news' }), { until: idle });
    await h.step("B send('join', 'news', fn) - emitter flavour, server acks with (null, spark.rooms())",
      () => B.client.send('join', 'news', (...r) => h.log('client B', 'ack-callback', ...r)), { until: idle });
    await h.step("A joins several rooms at once: write({action:'join', room:'sport tech'}) (space separated)",
      () => A.client.write({ action: 'join', room: 'sport tech' }), { until: idle });
    await h.step("server-side spark.join(['tech', 'user:*']) for B (array form + wildcard room)",
      async () => { pending++; sparks.B.join(['tech', 'user:*'], () => { pending--; }); }, { until: idle });
    await h.step("server: A spark.rooms(), primus.rooms(), primus.room('news').clients(fn), primus.isRoomEmpty('nobody')",
      async () => {
        h.log('server', 'spark A rooms()', sparks.A.rooms());
        h.log('server', 'primus.rooms()', h.primus.rooms());
        pending++;
        h.primus.room('news').clients((err, ids) => { h.log('server', "room('news').clients", err, ids); pending--; });
        h.log('server', "isRoomEmpty('nobody')", h.primus.isRoomEmpty('nobody'));
      }, { until: idle });
    await h.step("server sparkA.room('news').write('from A to news') - includes A itself",
      () => sparks.A.room('news').write('from A to news'));
    await h.step("server sparkA.room('news').except(sparkA.id).write('to news but not A')",
      () => sparks.A.room('news').except(sparks.A.id).write('to news but not A'));
    await h.step("server primus.room('news').write({n:1})", () => h.primus.room('news').write({ n: 1 }));
    await h.step("server primus.room('news sport').except(B.id).write('news+sport except B') - A once (dedup)",
      () => h.primus.room('news sport').except(sparks.B.id).write('news+sport except B'));
    await h.step("server primus.room(['news','tech']).send('news', 'via send', 3) - emitter packets, each spark once",
      () => h.primus.room(['news', 'tech']).send('news', 'via send', 3));
    await h.step("server primus.room('user:42').write('wild') - reaches B through its 'user:*' room",
      () => h.primus.room('user:42').write('wild'));
    await h.step("server primus.except(A.id).write('no room given') - only sparks that are in SOME room (C is in none)",
      () => h.primus.except(sparks.A.id).write('no room given'));
    await h.step("server primus.room('news').transform(fn).write('t') - per-spark transformer rewrites data",
      () => h.primus.room('news').transform(function (packet) { packet.data[0] = `${packet.data[0]} for ${this.query.name}`; }).write('t'));
    await h.step("server primus.room('news').send('news', fn) - callbacks are refused (RoomsError thrown, nothing sent)",
      async () => {
        try { h.primus.room('news').send('news', () => {}); } catch (e) { h.log('server', 'thrown', e); }
      });
    await h.step("client C send('joinroom', 'news') - reserved by rooms, the server ignores it",
      () => C.client.send('joinroom', 'news'));
    await h.step("A write({action:'leave', room:'sport'})",
      () => A.client.write({ action: 'leave', room: 'sport' }), { until: idle });
    await h.step("A write({action:'leaveAll'})",
      () => A.client.write({ action: 'leaveAll' }), { until: idle });
    await h.step("server primus.join([sparkA, C.id], 'lobby', fn) then primus.room('lobby').write('lobby')",
      async () => {
        pending++;
        h.primus.join([sparks.A, sparks.C.id], 'lobby', () => { h.primus.room('lobby').write('lobby'); pending--; });
      }, { until: idle });
    await h.step("server primus.leave(sparkA, 'lobby', fn); primus.room('lobby').clients()",
      async () => {
        pending++;
        h.primus.leave(sparks.A, 'lobby', () => { h.log('server', "room('lobby').clients()", h.primus.room('lobby').clients()); pending--; });
      }, { until: idle });
    await h.step("C disconnects, then server sparkC.join('late', fn) - roomserror 'Spark is closed'",
      async () => {
        C.client.end();
        await sleep(100);
        pending++;
        sparks.C.join('late', (err) => { h.log('server', 'join callback', err); pending--; });
      }, { until: idle });
  },
};

// ------------------------------------------------------------- responder ---
scenarios.responder = {
  plugin: 'primus-responder',
  description: 'primus-responder: writeAndWait request/response in both directions; unanswered request; envelope edge cases.',
  plugins: [['responder', require('primus-responder'), 'primus-responder']],
  async run(h) {
    const { client, spark } = await h.connect('A');
    let responses = 0;
    spark.on('data', (d) => h.log('server', 'data', d));
    client.on('data', (d) => h.log('client', 'data', d));
    spark.on('request', (data, done) => {
      h.log('server', 'request', data);
      if (data === 'ignore me') return; // never answered
      if (data === 'error') return done(new Error('boom'));
      if (data === 'twice') { done('one'); done('two'); return; }
      done({ echo: data });
    });
    client.on('request', (data, done) => {
      h.log('client', 'request', data);
      done(`client got ${data}`);
    });

    await h.step("client writeAndWait({q:1}, fn) - server done({echo: data})",
      () => client.writeAndWait({ q: 1 }, (r) => { responses++; h.log('client', 'response', r); }),
      { until: () => responses >= 1 });
    await h.step("server spark.writeAndWait('ping?', fn) - client done('client got ping?')",
      () => spark.writeAndWait('ping?', (r) => { responses++; h.log('server', 'response', r); }),
      { until: () => responses >= 2 });
    await h.step("client writeAndWait('ignore me', fn) - server never answers: no timeout exists, the callback just never runs",
      async () => {
        client.writeAndWait('ignore me', (r) => { h.log('client', 'response (unexpected)', r); });
      }, { settle: 300 });
    await h.step("server-side pending callbacks after the unanswered request (spark.responseCallbacks keys)",
      async () => { h.log('server', 'responseCallbacks count', Object.keys(spark.responseCallbacks).length); });
    await h.step("client writeAndWait('error', fn) - server done(new Error('boom')): an Error serialises to {}",
      () => client.writeAndWait('error', (r) => { responses++; h.log('client', 'response', r); }),
      { until: () => responses >= 3 });
    await h.step("client writeAndWait('twice', fn) - server calls done twice: two response frames, callback runs once",
      () => client.writeAndWait('twice', (r) => { responses++; h.log('client', 'response', r); }),
      { until: () => responses >= 4, quiet: 120 });
    await h.step("raw envelopes: response for an unknown id, envelope with neither id, a non-envelope object",
      async () => {
        client.write({ plugin: 'primus-responder', responseId: 'no-such-id', data: 1 });
        client.write({ plugin: 'primus-responder', data: 'neither' });
        client.write({ plugin: 'other', requestId: 'x', data: 2 });
      });
    await h.step("client writeAndWait(undefined, fn) - data key dropped by JSON; server done() with no data",
      async () => {
        spark.removeAllListeners('request');
        spark.on('request', (data, done) => { h.log('server', 'request', data); done(); });
        client.writeAndWait(undefined, (r) => { responses++; h.log('client', 'response', r); });
      }, { until: () => responses >= 5 });
  },
};

// ------------------------------------------------------------- substream ---
scenarios.substream = {
  plugin: 'substream',
  description: 'substream: named sub streams over one Primus connection, opened from both sides, written on, ended.',
  plugins: [['substream', require('substream'), 'substream']],
  async run(h) {
    const { client, spark } = await h.connect('A');
    spark.on('data', (d) => h.log('server', 'main data', d));
    client.on('data', (d) => h.log('client', 'main data', d));
    const watch = (side, s) => {
      s.on('data', (d) => h.log(side, `substream ${s.name} data`, d));
      s.on('end', () => h.log(side, `substream ${s.name} end`));
      return s;
    };

    await h.step("client primus.substream('news').write('hi') - server has no 'news' substream yet: arrives as plain data",
      () => watch('client', client.substream('news')).write('hi'));
    await h.step("server spark.substream('news'); client news.write({a:1}) - now routed to the server substream",
      async () => { watch('server', spark.substream('news')); client.substream('news').write({ a: 1 }); });
    await h.step("server opens spark.substream('chat').write('from server') - client has no 'chat' yet: plain data on the client",
      () => watch('server', spark.substream('chat')).write('from server'));
    await h.step("client primus.substream('chat'); server chat.write(['x', 2]) - routed to the client substream",
      async () => { watch('client', client.substream('chat')); spark.substream('chat').write(['x', 2]); });
    await h.step("plain writes are untouched: client write('main'), server spark.write({substream:1})",
      async () => { client.write('main'); spark.write({ substream: 1 }); });
    await h.step("client news.end() - sends the end marker; server substream emits end",
      () => client.substream('news').end());
    await h.step("server chat.end('last words') - data then end marker",
      () => spark.substream('chat').end('last words'));
    await h.step("client writes the literal string 'substream::end' on a new 'raw' substream (both sides open): it is an end, not data",
      async () => {
        watch('server', spark.substream('raw'));
        watch('client', client.substream('raw')).write('substream::end');
      });
    await h.step("after end: server/client streams maps", async () => {
      h.log('server', 'spark.streams keys', Object.keys(spark.streams));
      h.log('client', 'primus.streams keys', Object.keys(client.streams));
    });
  },
};

// ------------------------------------------------------------- multiplex ---
scenarios.multiplex = {
  plugin: 'primus-multiplex',
  description: 'primus-multiplex (with primus-emitter so channel sparks get send): channels subscribed from the client, messages, ends from both sides.',
  plugins: [
    ['emitter', require('primus-emitter'), 'primus-emitter'],
    ['multiplex', require('primus-multiplex'), 'primus-multiplex'],
  ],
  async run(h) {
    const chSparks = {};
    const news = h.primus.channel('news');
    const sport = h.primus.channel('sport');
    for (const ch of [news, sport]) {
      ch.on('connection', (s) => {
        chSparks[`${ch.name}#${Object.keys(chSparks).filter((k) => k.startsWith(ch.name)).length + 1}`] = s;
        h.log('server', `channel ${ch.name} connection`, s.id);
        s.on('data', (d) => h.log('server', `channel ${ch.name} data`, d));
        s.on('end', () => h.log('server', `channel ${ch.name} spark end`));
        s.on('ev', (...a) => h.log('server', `channel ${ch.name} event:ev`, ...a));
        s.write(`welcome to ${ch.name}`);
      });
      ch.on('disconnection', () => h.log('server', `channel ${ch.name} disconnection`));
    }
    const { client, spark } = await h.connect('A');
    spark.on('data', (d) => h.log('server', 'main data', d));
    client.on('data', (d) => h.log('client', 'main data', d));
    const open = (name, label) => {
      const c = client.channel(name);
      h.vol(c.id, `<mp-id:${label}>`);
      c.on('data', (d) => h.log('client', `channel ${label} data`, d));
      c.on('end', () => h.log('client', `channel ${label} end`));
      c.on('hello', (...a) => h.log('client', `channel ${label} event:hello`, ...a));
      return c;
    };
    let n1, n2, sp, other;

    await h.step("client primus.channel('news') - SUBSCRIBE; server channel 'connection' writes a welcome",
      async () => { n1 = open('news', 'news#1'); }, { until: () => chSparks['news#1'] });
    await h.step("client news.write({a:1})", () => n1.write({ a: 1 }));
    await h.step("server channel spark write('to one') and news.write('to all on news')",
      async () => { chSparks['news#1'].write('to one'); news.write('to all on news'); });
    await h.step("client opens a second 'news' channel and 'sport' (each gets its own random id)",
      async () => { n2 = open('news', 'news#2'); sp = open('sport', 'sport#1'); },
      { until: () => chSparks['news#2'] && chSparks['sport#1'] });
    await h.step("emitter over a channel: client news.send('ev', 1, 'two'); server channel spark send('hello', 'x')",
      async () => { n1.send('ev', 1, 'two'); chSparks['news#1'].send('hello', 'x'); });
    await h.step("client subscribes to 'adhoc', a channel the server never declared (auto-created, nobody listens)",
      async () => { other = open('adhoc', 'adhoc#1'); other.write('anyone?'); });
    await h.step("client sport.end() - UNSUBSCRIBE; the server echoes an UNSUBSCRIBE back",
      () => sp.end(), { quiet: 120 });
    await h.step("server channel spark news#2 .end() - server-initiated UNSUBSCRIBE",
      () => chSparks['news#2'].end(), { quiet: 120 });
    await h.step("plain main-connection writes pass through: client write('main'), server spark.write('main-s')",
      async () => { client.write('main'); spark.write('main-s'); });
    await h.step("a plain array written on the main connection looks like a multiplex packet: client write([0, 'zz', 'news', 'forged'])",
      async () => { client.write([0, 'zz', 'news', 'forged']); });
  },
};

// ------------------------------------------------------ fortress-maximus ---
scenarios['fortress-maximus'] = {
  plugin: 'fortress-maximus',
  description: 'fortress-maximus validating primus-emit events ({emit:[name, ...args]}) and plain data; fortress registered first.',
  plugins: [
    ['fortress maximus', require('fortress-maximus'), 'fortress-maximus'],
    ['emit', require('primus-emit'), 'primus-emit'],
  ],
  async run(h) {
    h.primus.on('invalid', (err, args) => h.log('server primus', 'invalid', err, args));
    h.primus.validate('chat', function (msg, next) { next(typeof msg === 'string'); });
    h.primus.validate('pair', function (a, b, next) {
      if (a !== b) return next(new Error('a must equal b'));
      next();
    });
    h.primus.validate('data', function (msg, next) { next(typeof msg === 'string' ? null : new Error('data must be a string')); });
    const { client, spark } = await h.connect('A');
    spark.on('chat', (msg) => { h.log('server', 'event:chat', msg); spark.emit('reply', `ok ${msg}`); });
    spark.on('pair', (a, b) => h.log('server', 'event:pair', a, b));
    spark.on('unvalidated', (x) => h.log('server', 'event:unvalidated', x));
    spark.on('data', (d) => h.log('server', 'data', d));
    client.on('reply', (m) => h.log('client', 'event:reply', m));
    client.on('data', (d) => h.log('client', 'data', d));

    await h.step("client emit('chat', 'hello') - valid; server replies spark.emit('reply', 'ok hello')",
      () => client.emit('chat', 'hello'));
    await h.step("client emit('chat', 42) - validator says false: invalid, nothing sent back",
      () => client.emit('chat', 42));
    await h.step("client emit('chat', 'a', 'b') - wrong argument count",
      () => client.emit('chat', 'a', 'b'));
    await h.step("client emit('pair', 1, 1) valid, emit('pair', 1, 2) invalid with an Error",
      async () => { client.emit('pair', 1, 1); client.emit('pair', 1, 2); });
    await h.step("client emit('nolistener', 1) - no listener on the spark",
      () => client.emit('nolistener', 1));
    await h.step("client emit('unvalidated', 1) - listener but no validator",
      () => client.emit('unvalidated', 1));
    await h.step("client write({emit:['end']}) - a reserved event name",
      () => client.write({ emit: ['end'] }));
    await h.step("client write('plain') valid 'data'; write(7) invalid 'data'",
      async () => { client.write('plain'); client.write(7); });
    await h.step("client emit('chat', 'x', fn) - primus-emit has no acks: the function becomes null, arity check fails",
      () => client.emit('chat', 'x', () => {}));
  },
};

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

function compare(name, expected, actual) {
  const diffs = [];
  const keyOf = (f) => `${f.dir} ${f.norm ?? f.frame}`;
  if (expected.steps.length !== actual.steps.length) {
    diffs.push(`step count: fixture ${expected.steps.length}, now ${actual.steps.length}`);
  }
  const n = Math.min(expected.steps.length, actual.steps.length);
  for (let i = 0; i < n; i++) {
    const e = expected.steps[i];
    const a = actual.steps[i];
    const where = `step ${i + 1} (${a.scenario})`;
    if (e.scenario !== a.scenario) diffs.push(`${where}: scenario text changed`);
    // Order is deterministic per connection and direction; across
    // connections, or between c2s and s2c, it may legitimately vary.
    const conns = new Set([...e.frames, ...a.frames].map((f) => `${f.conn} ${f.dir}`));
    for (const c of conns) {
      const ef = e.frames.filter((f) => `${f.conn} ${f.dir}` === c).map(keyOf);
      const af = a.frames.filter((f) => `${f.conn} ${f.dir}` === c).map(keyOf);
      if (JSON.stringify(ef) !== JSON.stringify(af)) {
        diffs.push(`${where}: frames of ${c} differ\n    fixture: ${JSON.stringify(ef)}\n    now:     ${JSON.stringify(af)}`);
      }
    }
    const eo = e.observed.map((o) => JSON.stringify(o)).sort();
    const ao = a.observed.map((o) => JSON.stringify(o)).sort();
    if (JSON.stringify(eo) !== JSON.stringify(ao)) {
      diffs.push(`${where}: observed differs\n    fixture: ${JSON.stringify(eo)}\n    now:     ${JSON.stringify(ao)}`);
    }
  }
  for (const k of ['plugin', 'version', 'primus']) {
    if (expected[k] !== actual[k]) diffs.push(`${k}: fixture ${expected[k]}, now ${actual[k]}`);
  }
  return diffs;
}

async function main() {
  const names = ONLY.length ? ONLY : Object.keys(scenarios);
  for (const n of names) {
    if (!scenarios[n]) { console.error(`unknown scenario ${n}; known: ${Object.keys(scenarios).join(', ')}`); process.exit(2); }
  }
  fs.mkdirSync(FIXTURES, { recursive: true });
  let failed = 0;
  for (const name of names) {
    const sc = scenarios[name];
    const h = new Harness(name, sc.plugins, sc.serverOptions);
    let fixture;
    try {
      await h.start();
      await sc.run(h);
      fixture = h.fixture({ plugin: sc.plugin, version: pkgVersion(sc.plugin), description: sc.description });
    } catch (err) {
      console.error(`FAIL ${name}: ${err.stack || err}`);
      failed++;
      await h.stop();
      continue;
    }
    await h.stop();
    const file = path.join(FIXTURES, `${sc.plugin}.json`);
    const frames = fixture.steps.reduce((n, s) => n + s.frames.length, 0);
    if (CHECK) {
      if (!fs.existsSync(file)) { console.error(`FAIL ${name}: no fixture ${path.relative(HERE, file)}`); failed++; continue; }
      const expected = JSON.parse(fs.readFileSync(file, 'utf8'));
      const diffs = compare(name, expected, fixture);
      if (diffs.length) {
        failed++;
        console.error(`FAIL ${name}:\n  ${diffs.join('\n  ')}`);
      } else {
        console.log(`ok   ${name} (${fixture.steps.length} steps, ${frames} frames)`);
      }
    } else {
      fs.writeFileSync(file, JSON.stringify(fixture, null, 2) + '\n');
      console.log(`wrote ${path.relative(HERE, file)} (${fixture.steps.length} steps, ${frames} frames)`);
    }
  }
  if (CHECK) console.log(`${names.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

process.on('uncaughtException', (err) => {
  console.error(`capture: uncaught exception: ${err.stack || err}`);
  process.exit(4);
});

main();
