// Unit tests of the client logic under plain node (no browser, no server): the library that
// `primus library` prints is evaluated in a vm context with fake timers where needed.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import vm from 'node:vm';
import { PRIMUS_BIN } from './lib/harness.mjs';

function load(args = []) {
  const code = execFileSync(PRIMUS_BIN, ['library', ...args], { encoding: 'utf8', timeout: 20000 });
  // A WebSocket that never connects: these tests drive the client by hand (manual: true).
  const WebSocket = class {
    static OPEN = 1;
  };
  const sandbox = { console, setTimeout, clearTimeout, URL, TextEncoder, TextDecoder, btoa, atob, fetch, WebSocket };
  vm.createContext(sandbox);
  vm.runInContext(code, sandbox, { filename: 'primus.js' });
  return { Primus: sandbox.Primus, code };
}

/** A transport that records what the client sends and lets the test drive it. */
function fakeTransport(log) {
  return function client() {
    const primus = this;
    primus.on('outgoing::open', () => log.push('open'));
    primus.on('outgoing::data', (d) => log.push(d));
    primus.on('outgoing::end', () => log.push('close'));
    primus.on('outgoing::reconnect', () => primus.emit('outgoing::open'));
  };
}

describe('client logic (node --test, no browser)', () => {
  let Primus;
  before(() => {
    ({ Primus } = load());
  });

  it('back-off: attempt 1 is min, attempt n in [min·f^(n-1), 2·min·f^(n-1)), capped at max', () => {
    assert.equal(Primus.backoffDelay(1, 500, Infinity, 2), 500);
    for (let n = 2; n <= 8; n++) {
      const lo = Primus.backoffDelay(n, 500, Infinity, 2, () => 0);
      const hi = Primus.backoffDelay(n, 500, Infinity, 2, () => 0.999999);
      assert.equal(lo, 500 * 2 ** (n - 1));
      assert.ok(hi < 2 * 500 * 2 ** (n - 1) + 1 && hi > lo, `${n}: ${hi}`);
      for (let i = 0; i < 50; i++) {
        const d = Primus.backoffDelay(n, 500, Infinity, 2);
        assert.ok(d >= lo && d <= hi, `${n}: ${d}`);
      }
    }
    assert.equal(Primus.backoffDelay(9, 100, 1000, 2, () => 0.5), 1000);
    assert.equal(Primus.backoffDelay(2, 100, 1000, 3, () => 0.5), 450);
  });

  it('recovery reads human durations and defaults like the reference', () => {
    const r = new Primus.Recovery({ min: '1 second', max: '2 minutes', 'reconnect timeout': '5 s' });
    assert.deepEqual([r.min, r.max, r['reconnect timeout'], r.retries, r.factor], [1000, 120000, 5000, 10, 2]);
    const d = new Primus.Recovery();
    assert.deepEqual([d.min, d.max, d['reconnect timeout']], [500, Infinity, 30000]);
  });

  it('strategy: defaults, authorization drops timeout, strings and arrays normalised, false is none', () => {
    assert.equal(Primus.normaliseStrategy(undefined, false), 'disconnect,online,timeout');
    assert.equal(Primus.normaliseStrategy([], true), 'disconnect,online');
    assert.equal(Primus.normaliseStrategy('Online , Timeout', false), 'online,timeout');
    assert.equal(Primus.normaliseStrategy(['Disconnect'], false), 'disconnect');
    assert.equal(Primus.normaliseStrategy(false, false), '');
    const p = new Primus({ manual: true, strategy: 'TIMEOUT,disconnect' });
    assert.equal(p.options.strategy, 'timeout,disconnect');
    const { Primus: Authorized } = load(['--transformer', 'websockets']);
    Authorized.prototype.authorization = true;
    assert.equal(new Authorized({ manual: true }).options.strategy, 'disconnect,online');
  });

  it('options: defaults and the removed ping/pong options', () => {
    const p = new Primus('http://example.test:9000/ignored/path?x=1', { manual: true });
    assert.equal(p.options.queueSize, Infinity);
    assert.equal(p.options.timeout, 10000);
    assert.equal(p.options.pingTimeout, 45000);
    assert.equal(p.readyState, Primus.CLOSED);
    assert.throws(() => new Primus({ manual: true, ping: 1 }), /`ping` and `pong` options have been removed/);
    const url = p.uri({ protocol: 'ws:', query: true });
    assert.match(url, /^ws:\/\/example\.test:9000\/primus\?x=1&_primuscb=[\w-]+(\.\w+)?$/);
    assert.match(new Primus('https://u:p@h.test', { manual: true }).uri({ protocol: 'ws:' }), /^wss:\/\/u:p@h\.test\/primus$/);
  });

  it('buffering: writes before open are flushed in order on open, before the open event', () => {
    const log = [];
    class P extends Primus {}
    P.prototype.client = fakeTransport(log);
    const p = new P({ manual: true });
    p.write('a');
    p.write({ b: 1 });
    p.open();
    p.on('open', () => log.push('open event'));
    p.emit('incoming::open');
    assert.deepEqual(log, ['open', '"a"', '{"b":1}', 'open event']);
    p.end();
  });

  it('queueSize: a full buffer drops the oldest message', () => {
    const log = [];
    class P extends Primus {}
    P.prototype.client = fakeTransport(log);
    const p = new P({ manual: true, queueSize: 2 });
    for (let i = 1; i <= 5; i++) p.write(i);
    assert.deepEqual([...p.buffer], [4, 5]);
    p.open();
    p.emit('incoming::open');
    assert.deepEqual(log.slice(1), ['4', '5']);
    p.end();
  });

  it('protocol: ping answered with pong, server::close ends without reconnect, unknown types are data', () => {
    const log = [];
    class P extends Primus {}
    P.prototype.client = fakeTransport(log);
    const p = new P({ manual: true, pingTimeout: false });
    const data = [];
    const events = [];
    p.on('data', (d) => data.push(d));
    for (const e of ['close', 'end', 'reconnect scheduled']) p.on(e, () => events.push(e));
    p.open();
    p.emit('incoming::open');
    p.emit('incoming::data', '"primus::ping::1700000000000"');
    assert.equal(log.at(-1), '"primus::pong::1700000000000"');
    p.emit('incoming::data', '"primus::custom::x"');
    p.emit('incoming::data', '"a\\u2028b"');
    assert.deepEqual(data, ['primus::custom::x', 'a\u2028b']);
    p.write('x\u2028y');
    assert.equal(log.at(-1), '"x\\u2028y"');
    p.emit('incoming::data', '"primus::server::close"');
    p.emit('incoming::end');
    assert.deepEqual(events, ['close', 'end']);
    assert.equal(p.readyState, Primus.CLOSED);
  });

  it('id() always asks the server (also where the socket has an id, like engine.io)', async () => {
    const log = [];
    class P extends Primus {}
    P.prototype.client = fakeTransport(log);
    const p = new P({ manual: true, pingTimeout: false });
    p.open();
    p.emit('incoming::open');
    p.socket = { id: 'engine-io-sid' };
    const id = p.id();
    assert.equal(log.at(-1), '"primus::id::"');
    p.emit('incoming::data', '"primus::id::spark-id"');
    assert.equal(await id, 'spark-id');
    p.end();
  });

  it('transforms: outgoing can change or drop, incoming can drop; async transforms run in order', async () => {
    const log = [];
    class P extends Primus {}
    P.prototype.client = fakeTransport(log);
    const p = new P({ manual: true, pingTimeout: false });
    p.transform('outgoing', (packet) => {
      if (packet.data === 'drop') return false;
      packet.data = { wrapped: packet.data };
    });
    p.transform('incoming', (packet, done) => setTimeout(() => done(null, packet.data !== 'secret'), 1));
    const got = [];
    p.on('data', (d) => got.push(d));
    p.open();
    p.emit('incoming::open');
    p.write('drop');
    p.write('keep');
    assert.deepEqual(log.slice(1), ['{"wrapped":"keep"}']);
    p.emit('incoming::data', '"secret"');
    p.emit('incoming::data', '"public"');
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ['public']);
    assert.throws(() => p.transform('sideways', () => {}), /Invalid transformer type/);
    p.end();
  });

  it('reserved(), plugin(), destroy(), Primus.connect, createSocket', () => {
    const p = new Primus({ manual: true });
    assert.ok(p.reserved('incoming::data') && p.reserved('reconnect scheduled') && !p.reserved('custom'));
    assert.deepEqual(Object.keys(p.plugin()), []);
    let destroyed = 0;
    p.on('destroy', () => destroyed++);
    assert.equal(p.destroy(), true);
    assert.equal(p.destroy(), false);
    assert.equal(destroyed, 1);
    assert.ok(Primus.connect('http://x.test', { manual: true }) instanceof Primus);
    const Socket = Primus.createSocket({ transformer: 'engine.io', parser: 'msgpack', pathname: 'rt', plugin: { hello: (primus) => (primus.hello = 'hi') } });
    const s = new Socket('http://x.test', { manual: true });
    assert.deepEqual([s.transformer, s.parser, s.pathname, s.options.pingTimeout, s.hello], ['engine.io', 'msgpack', '/rt', false, 'hi']);
    assert.equal(s.plugin('hello').length, 1);
    // faye is plain WebSocket: the websockets transport under its own name.
    const Faye = Primus.createSocket({ transformer: 'faye' });
    assert.equal(Faye.prototype.client, Primus.transports.websockets);
    assert.equal(new Faye('http://x.test', { manual: true }).transformer, 'faye');
    // browserchannel has its own transport (not a bundle of the closure-compiled BCSocket).
    assert.equal(Primus.createSocket({ transformer: 'browserchannel' }).prototype.client, Primus.transports.browserchannel);
    assert.throws(() => Primus.createSocket({ transformer: 'carrier-pigeon' }), /Unknown transformer/);
  });

  it('reconnect: scheduled → reconnect → reconnected, and reconnect failed after retries', async () => {
    const log = [];
    class P extends Primus {}
    P.prototype.client = fakeTransport(log);
    const p = new P({ manual: true, pingTimeout: false, reconnect: { min: 5, max: 20, retries: 2 } });
    const events = [];
    for (const e of ['close', 'reconnect scheduled', 'reconnect', 'reconnected', 'open', 'end', 'reconnect failed']) p.on(e, () => events.push(e));
    p.open();
    p.emit('incoming::open');
    p.emit('incoming::end'); // unexpected close of an open connection
    await new Promise((r) => p.once('reconnect', () => setTimeout(r, 1)));
    p.emit('incoming::open');
    assert.deepEqual(events, ['open', 'close', 'reconnect scheduled', 'reconnect', 'reconnected', 'open']);
    events.length = 0;
    p.emit('incoming::end');
    const failed = new Promise((r) => p.once('reconnect failed', r));
    p.on('reconnect', () => setTimeout(() => p.emit('incoming::error', new Error('refused')), 1));
    await failed;
    assert.deepEqual(events, ['close', 'reconnect scheduled', 'reconnect', 'reconnect scheduled', 'reconnect', 'end', 'reconnect failed']);
  });

  it('library settings: pingTimeout from ping_interval, off → false, global name, ESM', () => {
    assert.equal(load(['--ping-interval', '1001']).Primus.prototype.defaultPingTimeout, 1502);
    assert.equal(load(['--ping-interval', 'off']).Primus.prototype.defaultPingTimeout, false);
    const code = execFileSync(PRIMUS_BIN, ['library', '--global', 'RealTime', '--pathname', '/rt'], { encoding: 'utf8' });
    const sandbox = { URL, setTimeout, clearTimeout, WebSocket: class {} };
    vm.createContext(sandbox);
    vm.runInContext(code, sandbox);
    assert.equal(typeof sandbox.RealTime, 'function');
    assert.equal(sandbox.RealTime.prototype.pathname, '/rt');
    assert.equal(sandbox.Primus, undefined);
    const esm = execFileSync(PRIMUS_BIN, ['library', '--esm'], { encoding: 'utf8' });
    assert.match(esm, /export default Primus;/);
  });
});
