// BrowserChannel transformer: the official Primus client built for browserchannel (in Node
// it rides on npm `browserchannel`'s BCSocket) and BCSocket on its own, against the
// reference Node Primus server (npm browserchannel 2.1.0) and against ours, with the same
// expectations (protocol.md §1.3, §1.4): `/primus/test` and `/primus/bind`, one Primus
// frame per string message, a server-initiated close seen as the error `Stopped by
// server` followed by the close, `Request failed` for a refused authorization.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { forEachServer, serverFor } from './lib/servers.mjs';
import {
  Inbox, connect, connectOpen, countReaches, info, once, record, roundTrip, sleep, sparkId, within,
} from './lib/client.mjs';

const require = createRequire(import.meta.url);
const { BCSocket } = require('browserchannel');

const T = { timeout: 20_000 };
const BC = { transformer: 'browserchannel' };
const RECONNECT_EVENTS = ['reconnect scheduled', 'reconnect', 'reconnected', 'reconnect failed'];

/**
 * A raw BCSocket on `<pathname>` (no reconnect), with an inbox of messages (`next()`) and
 * a log of errors and closes; closed when the test ends.
 */
function rawSocket(t, srv, extraParams) {
  const s = new BCSocket(`${srv.url}${srv.pathname}`, { reconnect: false, extraParams });
  // BCSocket has `onmessage`, not `on`: the inbox gets an adapter.
  s.inbox = new Inbox({ on: (_event, listener) => { s.onmessage = listener; } }, 'message', ([m]) => m.data);
  s.next = (timeout) => s.inbox.next(timeout);
  s.log = [];
  s.onerror = (message) => s.log.push(['error', message]);
  s.closed = new Promise((resolve) => {
    s.onclose = (message) => {
      s.log.push(['close', message]);
      resolve(message);
    };
  });
  s.opened = new Promise((resolve) => {
    s.onopen = resolve;
  });
  t.after(() => s.close());
  return s;
}

forEachServer('Primus client over browserchannel', (server) => {
  test('open, messages both ways, id, server end without reconnect', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const client = await connectOpen(t, srv, { ...BC, url: `${srv.url}/?room=lobby` });
    for (const value of ['hello', { a: [1, 'é', '\u2028', '😀'] }, 0, null, 'a&b=c%d+e']) {
      const [echo, raw] = await roundTrip(client, value);
      assert.deepEqual(echo, value);
      assert.equal(raw, JSON.stringify(value).replace(/\u2028/g, '\\u2028'));
    }
    // Several in a row arrive in order (more than the 10 KiB after which a back channel
    // is ended and reopened).
    const long = 'x'.repeat(300);
    for (let i = 0; i < 60; i++) client.write([i, long]);
    for (let i = 0; i < 60; i++) assert.deepEqual(await client.inbox.value(), [i, long]);
    const id = await sparkId(client);
    const about = await info(client);
    assert.equal(about.id, id);
    assert.equal(about.query.room, 'lobby');
    assert.equal(about.query.VER, '8');
    assert.equal(about.query._primuscb, undefined, 'no cache buster, the query rides as extraParams');
    const log = record(client, ['close', 'end', ...RECONNECT_EVENTS]);
    const ended = once(client, 'end', 5000);
    client.write({ cmd: 'end', data: 'bye' });
    assert.equal(await client.inbox.value(), 'bye');
    await ended;
    await sleep(300);
    assert.deepEqual(log.map((e) => e.event), ['close', 'end']);
    assert.deepEqual(client.errors.map((e) => e.message), ['Stopped by server']);
  });

  test('server end with reconnect: the client comes back as a new spark', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const client = await connectOpen(t, srv, BC);
    const before = (await info(client)).id;
    const reconnected = once(client, 'reconnected', 8000);
    client.write({ cmd: 'end', reconnect: true });
    await reconnected;
    assert.notEqual((await info(client)).id, before);
  });

  test('heartbeats are answered and keep the connection open', T, async (t) => {
    const srv = await serverFor(t, server, { ...BC, pingInterval: 200 });
    const client = await connectOpen(t, srv, BC);
    const pings = [];
    client.on('incoming::ping', (v) => pings.push(v));
    const log = record(client, ['close', 'end', ...RECONNECT_EVENTS]);
    await sleep(1200);
    assert.ok(pings.length >= 2, `pings: ${pings.length}`);
    assert.deepEqual(log, []);
    const [echo] = await roundTrip(client, 'still here');
    assert.equal(echo, 'still here');
  });

  test('client end() ends the spark on the server', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const watcher = await connectOpen(t, srv, BC);
    const client = await connectOpen(t, srv, BC);
    assert.equal(await countReaches(watcher, 2), 2);
    client.end();
    assert.equal(await countReaches(watcher, 1), 1);
  });

  test('authorization: a good token flows, a refused one is `Request failed`, then end', T, async (t) => {
    const srv = await serverFor(t, server, { ...BC, auth: 'on' });
    const client = await connectOpen(t, srv, { ...BC, url: `${srv.url}/?token=good` });
    const [echo] = await roundTrip(client, { hello: 'auth' });
    assert.deepEqual(echo, { hello: 'auth' });
    for (const token of ['bad', 'forbidden']) {
      const refused = connect(t, srv, { ...BC, url: `${srv.url}/?token=${token}`, strategy: 'disconnect,online' });
      const opened = [];
      refused.on('open', () => opened.push(true));
      await once(refused, 'end', 10000);
      assert.deepEqual(opened, [], 'never opened');
      assert.equal(refused.errors[0] && refused.errors[0].message, 'Request failed');
    }
  });

  test('HTTP: the connection test, unknown paths, the spec', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const init = await fetch(`${srv.url}/primus/test?VER=8&MODE=init&zx=1&t=1`);
    assert.equal(init.status, 200);
    assert.equal(await init.text(), '[null,null]');
    assert.equal(init.headers.get('x-accept'), 'application/json; application/x-www-form-urlencoded');
    assert.equal(init.headers.get('x-content-type-options'), 'nosniff');
    const unknown = await fetch(`${srv.url}/primus/bind?VER=8&SID=nosuchsession&RID=rpc&CI=0&AID=0&TYPE=xmlhttp`);
    assert.equal(unknown.status, 400);
    assert.match(await unknown.text(), /^<html><body><h1>Unknown SID<\/h1>/);
    const missing = await fetch(`${srv.url}/primus/nothing-here`);
    assert.equal(missing.status, 404);
    assert.match(missing.headers.get('content-type'), /^text\/plain/);
    await missing.text();
    const spec = await (await fetch(`${srv.url}/primus/spec`)).json();
    assert.equal(spec.transformer, 'browserchannel');
  });
});

forEachServer('npm BCSocket', (server) => {
  test('string messages are Primus frames; extraParams reach the query; id', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const s = rawSocket(t, srv, { room: 'lobby' });
    await within(s.opened, 5000, 'open');
    s.send(JSON.stringify('hello'));
    assert.equal(await s.next(), '"hello"');
    s.send('{"a":"é😀\u2028"}');
    assert.equal(await s.next(), '{"a":"é😀\\u2028"}');
    // send(object) makes a JSON map; the server gets the same value.
    s.send({ b: [1, 2] });
    assert.equal(await s.next(), '{"b":[1,2]}');
    s.send(JSON.stringify('primus::id::'));
    const answer = JSON.parse(await s.next());
    assert.match(answer, /^primus::id::/);
    s.send(JSON.stringify({ cmd: 'info' }));
    const about = JSON.parse(await s.next());
    assert.equal(`primus::id::${about.id}`, answer);
    assert.equal(about.query.room, 'lobby');
    assert.equal(typeof about.query.a, 'string', 'the affinity parameter BCSocket adds');
  });

  test("the server's end: queued messages, server::close, then `Stopped by server`", T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const s = rawSocket(t, srv);
    await within(s.opened, 5000, 'open');
    s.send(JSON.stringify({ cmd: 'end', data: 'bye' }));
    assert.equal(await s.next(), '"bye"');
    assert.equal(await s.next(), '"primus::server::close"');
    await within(s.closed, 5000, 'close');
    assert.deepEqual(s.log, [['error', 'Stopped by server'], ['close', 'Stopped by server']]);
    assert.deepEqual(s.inbox.items, []);
  });

  test('an end with reconnect stops the socket without server::close', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const s = rawSocket(t, srv);
    await within(s.opened, 5000, 'open');
    s.send(JSON.stringify({ cmd: 'end', reconnect: true }));
    await within(s.closed, 5000, 'close');
    assert.deepEqual(s.log, [['error', 'Stopped by server'], ['close', 'Stopped by server']]);
    assert.deepEqual(s.inbox.items, []);
  });

  test('close() terminates the session and ends the spark', T, async (t) => {
    const srv = await serverFor(t, server, BC);
    const watcher = await connectOpen(t, srv, BC);
    const s = rawSocket(t, srv);
    await within(s.opened, 5000, 'open');
    assert.equal(await countReaches(watcher, 2), 2);
    s.close();
    assert.equal(await within(s.closed, 5000, 'close'), 'Closed');
    assert.equal(await countReaches(watcher, 1), 1);
  });

  test('a refused authorization is `Request failed`', T, async (t) => {
    const srv = await serverFor(t, server, { ...BC, auth: 'on' });
    const s = rawSocket(t, srv, { token: 'bad' });
    await within(s.closed, 10000, 'close');
    assert.deepEqual(s.log, [['error', 'Request failed'], ['close', 'Request failed']]);
    const ok = rawSocket(t, srv, { token: 'good' });
    await within(ok.opened, 5000, 'open');
    ok.send(JSON.stringify('in'));
    assert.equal(await ok.next(), '"in"');
  });
});
