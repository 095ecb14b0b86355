// Faye transformer: the official Primus client built for faye (in Node it rides on npm
// `faye-websocket`'s Client), and that Client on its own, against the reference Node
// Primus server (faye-websocket 0.11.4) and against ours. On the wire faye is plain
// WebSocket like websockets, but close frames carry 1000 (protocol.md §1.3, §1.4).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { forEachServer, serverFor } from './lib/servers.mjs';
import {
  Inbox, connectOpen, countReaches, info, once, record, roundTrip, sleep, sparkId,
} from './lib/client.mjs';

const require = createRequire(import.meta.url);
const Faye = require('faye-websocket');

const T = { timeout: 15_000 };
const FAYE = { transformer: 'faye' };
const RECONNECT_EVENTS = ['reconnect scheduled', 'reconnect', 'reconnected', 'reconnect failed'];

/** A raw faye-websocket Client on `<pathname>`, with an inbox of text messages (`next()`). */
async function rawFaye(t, srv, path = srv.pathname) {
  const ws = new Faye.Client(`ws://127.0.0.1:${srv.port}${path}`);
  ws.inbox = new Inbox(ws, 'message', ([e]) => e.data);
  ws.next = (timeout) => ws.inbox.next(timeout);
  ws.closed = new Promise((resolve) => ws.on('close', (e) => resolve({ code: e.code, reason: e.reason })));
  t.after(() => ws.close());
  await once(ws, 'open', 5000);
  return ws;
}

forEachServer('Primus client over faye', (server) => {
  test('open, messages both ways, id, server end without reconnect', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const client = await connectOpen(t, srv, FAYE);
    for (const value of ['hello', { a: [1, 'é', '\u2028'] }, 0, null]) {
      const [echo] = await roundTrip(client, value);
      assert.deepEqual(echo, value);
    }
    // Several in a row arrive in order.
    for (let i = 0; i < 20; i++) client.write(i);
    for (let i = 0; i < 20; i++) assert.equal(await client.inbox.value(), i);
    const id = await sparkId(client);
    assert.equal((await info(client)).id, id);
    assert.match(id, /^[A-Za-z0-9_-]{21}$/);
    const log = record(client, ['close', 'end', ...RECONNECT_EVENTS]);
    const ended = once(client, 'end', 3000);
    client.write({ cmd: 'end', data: 'bye' });
    assert.equal(await client.inbox.value(), 'bye');
    await ended;
    await sleep(300);
    assert.deepEqual(log.map((e) => e.event), ['close', 'end']);
    assert.deepEqual(client.errors, []);
  });

  test('server end with reconnect: the client comes back as a new spark', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const client = await connectOpen(t, srv, FAYE);
    const before = (await info(client)).id;
    const reconnected = once(client, 'reconnected', 5000);
    client.write({ cmd: 'end', reconnect: true });
    await reconnected;
    assert.notEqual((await info(client)).id, before);
  });

  test('heartbeats are answered and keep the connection open', T, async (t) => {
    const srv = await serverFor(t, server, { ...FAYE, pingInterval: 200 });
    const client = await connectOpen(t, srv, FAYE);
    const pings = [];
    client.on('incoming::ping', (v) => pings.push(v));
    const log = record(client, ['close', 'end', ...RECONNECT_EVENTS]);
    await sleep(1000);
    assert.ok(pings.length >= 2, `pings: ${pings.length}`);
    assert.deepEqual(log, []);
    const [echo] = await roundTrip(client, 'still here');
    assert.equal(echo, 'still here');
  });

  test('client end() ends the spark on the server', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const watcher = await connectOpen(t, srv, FAYE);
    const client = await connectOpen(t, srv, FAYE);
    assert.equal(await countReaches(watcher, 2), 2);
    client.end();
    assert.equal(await countReaches(watcher, 1), 1);
  });

  test('plain HTTP under the pathname gets 426, the spec says faye', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const res = await fetch(`${srv.url}/primus`);
    assert.equal(res.status, 426);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    assert.equal(await res.text(), 'Upgrade Required');
    const spec = await (await fetch(`${srv.url}/primus/spec`)).json();
    assert.equal(spec.transformer, 'faye');
  });
});

forEachServer('faye-websocket Client', (server) => {
  test('raw frames are the JSON text; server end closes with 1000', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const ws = await rawFaye(t, srv, `${srv.pathname}?_primuscb=abc`);
    ws.send(JSON.stringify('hello'));
    assert.equal(await ws.next(), '"hello"');
    ws.send('{"a":1}');
    assert.equal(await ws.next(), '{"a":1}');
    ws.send(JSON.stringify('primus::id::'));
    assert.match(await ws.next(), /^"primus::id::[A-Za-z0-9_-]{21}"$/);
    ws.send(JSON.stringify({ cmd: 'end', data: 'bye' }));
    assert.equal(await ws.next(), '"bye"');
    assert.equal(await ws.next(), '"primus::server::close"');
    const closed = await ws.closed;
    assert.equal(closed.code, 1000);
  });

  test('a server end with reconnect closes with 1000 too, without server::close', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const ws = await rawFaye(t, srv);
    ws.send(JSON.stringify({ cmd: 'end', reconnect: true }));
    const closed = await ws.closed;
    assert.equal(closed.code, 1000);
    assert.deepEqual(ws.inbox.items, []);
  });

  test('the client closes with 1000 and the server answers', T, async (t) => {
    const srv = await serverFor(t, server, FAYE);
    const ws = await rawFaye(t, srv);
    ws.close();
    const closed = await ws.closed;
    assert.equal(closed.code, 1000);
  });
});
