// One scenario suite for every transformer, run unchanged against our server
// (`primus-e2e-server`) and against the real Node Primus 8.0.9 (./reference-server.mjs).
// Both servers implement the control contract written at the top of
// ../interop/reference-server.mjs (echo, `broadcast:<text>`, {cmd: end|info|count}).
// The client is the official npm `primus` 8.0.9 client,
// `Primus.createSocket({transformer, parser: 'json'})`, in this process; for the
// transformers it has no transport for, it is our own browser client library (what
// `<pathname>/primus.js` serves) with the same API, in a vm realm of this process.
//
// A scenario is `(target) => Promise<void>`: it starts the servers it needs, drives
// clients and throws (assert) when an outcome is wrong. Every wait has a timeout and
// every loop a bound.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { chromiumLibrary } from './browser-client.mjs';

const require = createRequire(import.meta.url);
const Primus = require('primus');

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, '..', '..');
export const OUR_SERVER_BIN =
  process.env.PRIMUS_SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'primus-e2e-server');
/** The `primus` binary (`primus library` prints our browser client library). */
export const OUR_CLI_BIN = process.env.PRIMUS_BIN || path.join(path.dirname(OUR_SERVER_BIN), 'primus');
const REFERENCE_SERVER = path.join(HERE, 'reference-server.mjs');

/**
 * Every transformer the suite runs. One line each. `node` is true when the Node
 * reference has the transformer (and this folder installs what it needs), or the
 * reason it has not; that column then shows n/a. `client` is the transformer the
 * official client is built for when it differs; `library: 'ours'` drives it with our
 * browser client library in Node instead, for transformers the official client cannot
 * speak, and `library: 'chromium'` with our library in headless Chromium, for those only
 * browsers can.
 */
export const TRANSFORMERS = [
  { name: 'websockets', node: true },
  { name: 'engine.io', node: true },
  { name: 'sockjs', node: true },
  { name: 'faye', node: true },
  // The reference's uws transformer needs the native `uws` module (Node ABI 57–64 only),
  // and its client is the websockets one: the official client built for websockets.
  { name: 'uws', client: 'websockets', node: 'the reference needs the native uws module (Node ABI 57-64)' },
  { name: 'browserchannel', node: true },
  // Beyond the reference: the official client has no sse transport, so our library drives it.
  { name: 'sse', library: 'ours', node: 'the reference has no sse transformer' },
  // Socket.IO protocol 5 on our Engine.IO layer; the official client has no such transport.
  { name: 'socket.io', library: 'ours', node: 'Node Primus 8 has no socket.io transformer' },
  // WebTransport (HTTP/3) has no Node client: our library in headless Chromium.
  { name: 'webtransport', library: 'chromium', node: 'the reference has no webtransport transformer' },
];

/** `{impl, transformer, client, library, label, nodeMissing}`: ours and Node's for every
 * transformer (`client`: the transformer the client is built for; `library`: `npm` for the
 * official client, `ours`/`chromium` for our library, which the label then names). */
const BY = { npm: '', ours: ' (our client)', chromium: ' (our client in Chromium)' };
export const TARGETS = TRANSFORMERS.flatMap(({ name, node, client = name, library = 'npm' }) => {
  const by = BY[library];
  return [
    { impl: 'ours', transformer: name, client, library, label: `ours ${name}${by}` },
    { impl: 'node', transformer: name, client, library, label: `node ${name}${by}`, nodeMissing: node === true ? null : node },
  ];
});

/** Thrown when a scenario cannot run on a target; recorded as `n/a (reason)`. */
export class NotApplicable extends Error {}
/** Thrown when our server says it has no such transformer; recorded as `not built`. */
export class NotBuilt extends Error {}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
});

/**
 * Starts the target's server with `--transformer <target's>` and the given flags
 * (`{port, pingInterval, auth, maxLength}`); resolves once it printed `listening <port>`.
 */
export async function startServer(target, { port = 0, pingInterval, auth, maxLength } = {}) {
  if (target.impl === 'node' && target.nodeMissing) throw new NotApplicable(target.nodeMissing);
  const flags = ['--port', String(port), '--transformer', target.transformer];
  if (pingInterval !== undefined) flags.push('--ping-interval', String(pingInterval));
  if (auth !== undefined) flags.push('--auth', auth);
  if (maxLength !== undefined) flags.push('--max-length', String(maxLength));
  let command;
  let args;
  if (target.impl === 'ours') {
    if (!existsSync(OUR_SERVER_BIN)) {
      throw new Error(`our server binary is missing at ${OUR_SERVER_BIN}: run \`cargo build --workspace --bins\` or set PRIMUS_SERVER_BIN`);
    }
    [command, args] = [OUR_SERVER_BIN, flags];
  } else {
    [command, args] = [process.execPath, [REFERENCE_SERVER, ...flags]];
  }
  const child = spawn(command, args, { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => { stderr = (stderr + chunk).slice(-20_000); });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  const listening = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => done(new Error(`no "listening <port>" within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    function done(err, value) {
      clearTimeout(timer);
      if (!err) return resolve(value);
      child.kill('SIGKILL');
      reject(err);
    }
    child.once('error', (err) => done(err));
    exited.then(async ({ code, signal }) => {
      await sleep(20); // let the last stderr chunk arrive
      const said = stderr.trim().split('\n').pop() || '';
      if (target.impl === 'ours' && /unknown transformer|not compiled in/i.test(said)) {
        return done(new NotBuilt(said));
      }
      done(new Error(`server exited before listening (code ${code}, signal ${signal}): ${command} ${args.join(' ')}\n${stderr}`));
    });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const m = /^listening (\d+)\n/.exec(stdout);
      if (m) done(null, Number(m[1]));
      else if (stdout.includes('\n')) done(new Error(`first stdout line is not "listening <port>": ${JSON.stringify(stdout)}`));
    });
  });
  return {
    port: listening,
    url: `http://127.0.0.1:${listening}`,
    get stderr() { return stderr; },
    /** SIGTERM, then SIGKILL after STOP_TIMEOUT_MS; resolves with the exit status. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const status = await exited;
      clearTimeout(timer);
      return status;
    },
  };
}

// ---------------------------------------------------------------------------
// Clients (the official npm client, or our library where it has no transport)
// ---------------------------------------------------------------------------

let ourLibrary;
let ourChromiumLibrary;

/** `primus library`: our browser client with every compiled-in transport and parser. */
function libraryCode() {
  if (!existsSync(OUR_CLI_BIN)) {
    throw new Error(`the primus binary is missing at ${OUR_CLI_BIN}: run \`cargo build --workspace --bins\` or set PRIMUS_BIN`);
  }
  return execFileSync(OUR_CLI_BIN, ['library'], { encoding: 'utf8', timeout: 10_000 });
}

/**
 * Our browser client library as `primus library` prints it (every compiled-in transport
 * and parser; `createSocket` picks one), evaluated in a vm realm that has the browser
 * APIs its transports use: `WebSocket` (npm `ws`), `EventSource` (npm `eventsource`) and
 * Node's `fetch`. Nothing leaks into this realm, where the official client runs.
 */
function ourPrimus() {
  if (ourLibrary) return ourLibrary;
  const code = libraryCode();
  const { EventSource } = require('eventsource');
  const sandbox = {
    WebSocket: require('ws'), EventSource, fetch, Headers, Request, Response, AbortController,
    TextEncoder, TextDecoder, URL, URLSearchParams, atob, btoa, structuredClone, queueMicrotask,
    setTimeout, clearTimeout, setInterval, clearInterval, console,
  };
  vm.runInNewContext(code, sandbox, { filename: 'primus.js (ours)' });
  if (typeof sandbox.Primus !== 'function') throw new Error('`primus library` did not define Primus');
  ourLibrary = sandbox.Primus;
  return ourLibrary;
}

/** Our library in headless Chromium (./browser-client.mjs), for what only browsers speak. */
function chromiumPrimus() {
  if (!ourChromiumLibrary) ourChromiumLibrary = chromiumLibrary(libraryCode());
  return ourChromiumLibrary;
}

/** Ends what the clients started (Chromium); the suite calls it once at the end. */
export async function closeClients() {
  if (ourChromiumLibrary) await ourChromiumLibrary.close();
}

const LIBRARIES = { npm: () => Primus, ours: ourPrimus, chromium: chromiumPrimus };

const socketClasses = new Map();

/**
 * The client class for a transformer (json parser, pathname /primus), from the official
 * npm client or, with `library: 'ours'`, from our library (same API). `authorization`
 * compiles it like the library a server with an authorizer serves (/primus/primus.js):
 * its default reconnect strategy then has no `timeout`, so a refused client ends.
 */
export function socketClass(transformer, { authorization = false, library = 'npm' } = {}) {
  const key = `${library}|${transformer}|${authorization}`;
  if (!socketClasses.has(key)) {
    const options = { transformer, parser: 'json', pathname: '/primus' };
    if (authorization) options.authorization = library === 'npm' ? (req, done) => done() : true;
    socketClasses.set(key, LIBRARIES[library]().createSocket(options));
  }
  return socketClasses.get(key);
}

/** Values the client decodes live in a vm realm: copy them here for deepStrictEqual. */
const local = (value) => (value !== null && typeof value === 'object' ? structuredClone(value) : value);

const WATCHED = [
  'open', 'end', 'close', 'error', 'reconnect', 'reconnect scheduled', 'reconnected',
  'reconnect failed', 'timeout', 'incoming::ping', 'outgoing::pong',
];

/**
 * A client that records its events (`client.log`: `{event, args, at}`), queues its
 * messages (`client.next()`) and waits for events (`client.waitFor()`).
 */
function makeClient(target, url, options = {}) {
  const { authorization, ...rest } = options;
  const Socket = socketClass(target.client, { authorization, library: target.library });
  const client = new Socket(url, { reconnect: { min: 50, max: 300, retries: 10 }, ...rest });
  const log = [];
  const messages = [];
  const waiters = new Set();
  const notify = () => { for (const w of [...waiters]) w(); };
  for (const event of WATCHED) {
    client.on(event, (...args) => { log.push({ event, args, at: Date.now() }); notify(); });
  }
  client.on('data', (data) => { messages.push(local(data)); notify(); });

  /** Resolves once `test()` is truthy (checked on every event), rejects after `timeout`. */
  function until(test, timeout, what) {
    const found = test();
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = test();
        if (!value) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeout} ms waiting for ${what}; events: ${summary(log)}`));
      }, timeout);
      waiters.add(check);
    });
  }

  Object.assign(client, {
    log,
    /** The entries of `event` from log index `since` on. */
    events: (event, since = 0) => log.slice(since).filter((e) => e.event === event),
    /** The first `event` at log index `since` or later. */
    waitFor: (event, { since = 0, timeout = 5000 } = {}) =>
      until(() => log.slice(since).find((e) => e.event === event), timeout, `"${event}"`),
    /** The next decoded message. */
    next: (timeout = 5000) => until(() => messages.length > 0, timeout, 'a message').then(() => messages.shift()),
    pending: messages,
  });
  return client;
}

function summary(log) {
  const names = log.map((e) => (e.event === 'error' ? `error(${e.args[0] && e.args[0].message})` : e.event));
  return names.length > 30 ? `${names.slice(0, 30).join(', ')}, … (${names.length})` : names.join(', ') || 'none';
}

/** Resolves like `promise`, or rejects after `ms` naming `what`. */
async function within(ms, what, promise) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a scenario gets: server and client factories that are cleaned up afterwards. */
class Scope {
  constructor(target) {
    this.target = target;
    this.cleanups = [];
  }

  async server(flags) {
    const srv = await startServer(this.target, flags);
    this.cleanups.push(() => srv.stop());
    return srv;
  }

  client(srv, { query = '', ...options } = {}) {
    const client = makeClient(this.target, `${srv.url}/${query}`, options);
    this.cleanups.push(() => client.destroy());
    return client;
  }

  async open(srv, options, timeout = 5000) {
    const client = this.client(srv, options);
    await client.waitFor('open', { timeout });
    return client;
  }

  async close() {
    for (const cleanup of this.cleanups.reverse()) {
      try { await cleanup(); } catch { /* best effort */ }
    }
  }
}

function scenario(body) {
  return async (target) => {
    const scope = new Scope(target);
    try {
      await body(scope);
    } finally {
      await scope.close();
    }
  };
}

/** Writes `value` and returns the next message. */
async function roundTrip(client, value, timeout = 5000) {
  client.write(value);
  return client.next(timeout);
}

/** The server's view of this client's spark: `{id, query, headers, address}`. */
const info = (client) => roundTrip(client, { cmd: 'info' });

/** Polls `{cmd:'count'}` until it is `expected` (at most `tries` times); returns the last. */
async function countReaches(client, expected, tries = 40) {
  let last;
  for (let i = 0; i < tries; i++) {
    last = (await roundTrip(client, { cmd: 'count' })).count;
    if (last === expected) break;
    await sleep(50);
  }
  return last;
}

/** `client.id(cb)` as a promise. */
function sparkId(client, timeout = 5000) {
  return within(timeout, 'client.id() answer', new Promise((resolve) => client.id(resolve)));
}

function assertNone(client, events, since, why) {
  for (const event of events) {
    const seen = client.events(event, since);
    assert.equal(seen.length, 0, `${why}: unexpected "${event}" (events: ${summary(client.log.slice(since))})`);
  }
}

/** Compares big strings without printing megabytes. */
function assertSameString(got, want, what) {
  if (got === want) return;
  let at = -1;
  if (typeof got === 'string') {
    const shorter = Math.min(got.length, want.length);
    at = shorter;
    for (let i = 0; i < shorter; i++) if (got[i] !== want[i]) { at = i; break; }
  }
  assert.fail(`${what}: got ${typeof got} of length ${got && got.length}, want a string of length ${want.length} (first difference at index ${at})`);
}

// ---------------------------------------------------------------------------
// The scenarios
// ---------------------------------------------------------------------------

const SAMPLES = [
  'hello',
  '',
  0,
  -1.5,
  Number.MAX_SAFE_INTEGER,
  1e21,
  true,
  false,
  null,
  [],
  {},
  [1, 'two', { three: 3 }, [null]],
  { nested: { list: [1, 2, { deep: null }], flag: false }, text: 'x' },
  'ünïcødé ✓ 😀 中文',
  'line\u2028sep\u2029para',
  'primus::custom::not-a-protocol-message',
];

export const SCENARIOS = [
  {
    name: 'open',
    what: 'the client opens; the server counts it',
    run: scenario(async (s) => {
      const srv = await s.server();
      const client = await s.open(srv);
      assert.equal(client.readyState, socketClass(s.target.client, s.target).OPEN);
      assert.equal(client.events('open').length, 1);
      assert.equal(await countReaches(client, 1), 1, 'primus.connected');
      assertNone(client, ['error', 'close', 'end', 'reconnect scheduled'], 0, 'after open');
    }),
  },
  {
    name: 'messages both ways',
    what: 'every JSON type echoed in order; a server broadcast reaches two clients',
    run: scenario(async (s) => {
      const srv = await s.server();
      const a = await s.open(srv);
      for (const value of SAMPLES) a.write(value);
      for (const value of SAMPLES) assert.deepEqual(await a.next(), value);
      const b = await s.open(srv);
      a.write('broadcast:from the server');
      assert.equal(await a.next(), 'from the server');
      assert.equal(await b.next(), 'from the server');
      assert.deepEqual(await roundTrip(b, { after: 'broadcast' }), { after: 'broadcast' });
      assert.equal(a.pending.length + b.pending.length, 0, 'nothing extra arrived');
    }),
  },
  {
    name: 'id',
    what: "client.id() is the server's spark.id; two clients differ",
    run: scenario(async (s) => {
      const srv = await s.server();
      const a = await s.open(srv);
      const b = await s.open(srv);
      const idA = await sparkId(a);
      assert.equal(typeof idA, 'string');
      assert.ok(idA.length > 0, 'non-empty id');
      assert.equal(idA, (await info(a)).id, 'client id() = server spark.id');
      const idB = await sparkId(b);
      assert.equal(idB, (await info(b)).id);
      assert.notEqual(idA, idB);
    }),
  },
  {
    name: 'heartbeat',
    what: 'pingInterval 250 ms: pings answered, the client stays on the same spark; a client that stops answering is dropped',
    run: scenario(async (s) => {
      const srv = await s.server({ pingInterval: 250 });
      const client = await s.open(srv);
      const { id } = await info(client);
      await client.waitFor('incoming::ping', { timeout: 3000 });
      const first = Date.now();
      await within(5000, '5 server pings', (async () => {
        for (let i = 0; i < 200 && client.events('incoming::ping').length < 5; i++) await sleep(25);
      })());
      const pings = client.events('incoming::ping');
      assert.ok(pings.length >= 5, `5 pings, got ${pings.length}`);
      for (const ping of pings) {
        assert.equal(typeof ping.args[0], 'number');
        assert.ok(Math.abs(ping.args[0] - ping.at) < 60_000, `ping carries the server clock: ${ping.args[0]}`);
      }
      assert.equal(client.events('outgoing::pong').length, pings.length, 'every ping answered');
      assert.ok(Date.now() - first >= 4 * 150, 'not pinged faster than the interval');
      assertNone(client, ['close', 'end', 'reconnect scheduled', 'error'], 0, 'a client that answers pings');
      assert.equal((await info(client)).id, id, 'still the same spark');

      // Control: with its ping handler removed the client sends no pongs, and the
      // server must drop it within about two intervals (spark.end with reconnect).
      const mute = await s.open(srv);
      mute.removeAllListeners('incoming::ping');
      const dropped = await mute.waitFor('close', { timeout: 3000 });
      assert.ok(dropped.at - mute.events('open')[0].at >= 200, 'not dropped before one interval');
      assert.equal(mute.events('outgoing::pong').length, 0);
      assert.equal(mute.events('end').length, 0, 'dropped for reconnect, not ended');
      assertNone(client, ['close'], 0, 'the answering client meanwhile');
    }),
  },
  {
    name: 'server end, no reconnect',
    what: "spark.end('bye'): data then end; the client does not reconnect; the server forgets it",
    run: scenario(async (s) => {
      const srv = await s.server();
      const client = await s.open(srv);
      const watcher = await s.open(srv);
      assert.equal(await countReaches(watcher, 2), 2);
      const mark = client.log.length;
      client.write({ cmd: 'end', data: 'bye' });
      assert.equal(await client.next(), 'bye');
      await client.waitFor('end', { since: mark });
      await sleep(700); // several reconnect delays (min 50 ms)
      assertNone(client, ['reconnect scheduled', 'reconnect', 'open', 'reconnected'], mark, 'after spark.end()');
      assert.equal(client.readyState, socketClass(s.target.client, s.target).CLOSED);
      assert.equal(await countReaches(watcher, 1), 1, 'primus.connected after the end');
    }),
  },
  {
    name: 'server end, reconnect',
    what: 'spark.end(undefined, {reconnect: true}): the client reconnects on a new spark, messages flow',
    run: scenario(async (s) => {
      const srv = await s.server();
      const client = await s.open(srv);
      const before = (await info(client)).id;
      const mark = client.log.length;
      client.write({ cmd: 'end', reconnect: true });
      await client.waitFor('reconnected', { since: mark, timeout: 5000 });
      await client.waitFor('open', { since: mark, timeout: 5000 });
      assert.ok(client.events('reconnect scheduled', mark).length >= 1);
      assertNone(client, ['end'], mark, 'a reconnecting end');
      const after = (await info(client)).id;
      assert.notEqual(after, before, 'a new spark');
      assert.deepEqual(await roundTrip(client, ['after', 'reconnect']), ['after', 'reconnect']);
      assert.equal(await countReaches(client, 1), 1, 'the old spark is gone');
    }),
  },
  {
    name: 'server restart',
    what: 'kill the server, start it on the same port: the client reconnects, messages flow',
    run: scenario(async (s) => {
      const first = await s.server();
      const client = await s.open(first, { reconnect: { min: 100, max: 400, retries: 40 } });
      assert.equal(await roundTrip(client, 'before'), 'before');
      const mark = client.log.length;
      await first.stop();
      await client.waitFor('close', { since: mark, timeout: 5000 });
      await client.waitFor('reconnect scheduled', { since: mark, timeout: 5000 });
      const second = await s.server({ port: first.port });
      await client.waitFor('reconnected', { since: mark, timeout: 15000 });
      await client.waitFor('open', { since: mark, timeout: 5000 });
      assertNone(client, ['end', 'reconnect failed'], mark, 'across the restart');
      assert.equal(await roundTrip(client, 'after'), 'after');
      assert.equal(await countReaches(client, 1), 1, 'one spark on the new server');
      assert.equal(second.port, first.port);
    }),
  },
  {
    name: 'authorization failure',
    what: 'an authorizer refuses: no open, the client ends; a good token on the same server opens',
    run: scenario(async (s) => {
      const srv = await s.server({ auth: 'on' });
      const refused = s.client(srv, { authorization: true });
      await refused.waitFor('end', { timeout: 10000 });
      await sleep(300);
      assertNone(refused, ['open', 'reconnected'], 0, 'a refused client');
      assert.equal(refused.readyState, socketClass(s.target.client, s.target).CLOSED);
      const allowed = await s.open(srv, { authorization: true, query: '?token=good' });
      assert.deepEqual(await roundTrip(allowed, { authorized: true }), { authorized: true });
      assert.equal(await countReaches(allowed, 1), 1, 'only the authorized client is connected');
    }),
  },
  {
    name: '1 MB message',
    what: 'a 1 MiB string echoed, and broadcast by the server, intact',
    run: scenario(async (s) => {
      const srv = await s.server();
      const client = await s.open(srv);
      const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 é✓"\\';
      let seed = 12345;
      const chars = new Array(1 << 20);
      for (let i = 0; i < chars.length; i++) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        chars[i] = alphabet[seed % alphabet.length];
      }
      const big = chars.join('');
      assertSameString(await roundTrip(client, big, 15000), big, 'echo');
      client.write(`broadcast:${big}`);
      assertSameString(await client.next(15000), big, 'broadcast');
      assert.deepEqual(await roundTrip(client, { still: 'open' }), { still: 'open' });
      assertNone(client, ['close', 'error'], 0, 'big messages');
    }),
  },
  {
    name: '100 concurrent clients',
    what: '100 clients open at once, each gets its own echo; the server counts 100',
    timeout: 60_000,
    run: scenario(async (s) => {
      const srv = await s.server();
      const clients = Array.from({ length: 100 }, () => s.client(srv));
      await Promise.all(clients.map((c) => c.waitFor('open', { timeout: 30000 })));
      const echoes = await Promise.all(clients.map((c, i) => roundTrip(c, { client: i, text: `hello from ${i}` }, 20000)));
      echoes.forEach((echo, i) => assert.deepEqual(echo, { client: i, text: `hello from ${i}` }));
      assert.equal(await countReaches(clients[0], 100), 100, 'primus.connected');
      for (const c of clients) assertNone(c, ['close', 'error', 'reconnect scheduled'], 0, 'a concurrent client');
    }),
  },
];
