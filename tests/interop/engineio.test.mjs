// engine.io transformer: the official npm `engine.io-client` 6 (polling only, polling
// with upgrade, websocket only) and the official Primus client
// (`createSocket({transformer: 'engine.io'})`, with and without `websockets: false`)
// against both servers started with `--transformer engine.io`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { forEachServer, serverFor } from './lib/servers.mjs';
import {
  Inbox, connect, connectOpen, info, once, roundTrip, sleep, sparkId, waitFor,
} from './lib/client.mjs';

const require = createRequire(import.meta.url);
const { Socket: EioSocket } = require('engine.io-client');

const T = { timeout: 20_000 };
const ENGINE_IO = { transformer: 'engine.io' };

/** A raw engine.io-client 6 socket on the server's pathname, closed when `t` ends. */
function eio(t, srv, transports, extra = {}) {
  const socket = new EioSocket(`ws://127.0.0.1:${srv.port}`, {
    path: srv.pathname,
    transports,
    ...extra,
  });
  socket.inbox = new Inbox(socket, 'message');
  socket.errors = [];
  socket.on('error', (err) => socket.errors.push(err));
  t.after(() => socket.close());
  return socket;
}

/** Engine.IO messages carry Primus frames: JSON text. */
async function eioRoundTrip(socket, value) {
  socket.send(JSON.stringify(value));
  for (let i = 0; i < 20; i += 1) {
    const text = await socket.inbox.value();
    const decoded = JSON.parse(text);
    // Primus heartbeats may come in between; answer them as a Primus client would.
    if (typeof decoded === 'string' && decoded.startsWith('primus::ping::')) {
      socket.send(JSON.stringify(`primus::pong::${decoded.slice(14)}`));
      continue;
    }
    return decoded;
  }
  throw new Error('no answer among 20 messages');
}

async function serverEndsIt(socket) {
  const closed = once(socket, 'close', 10_000);
  socket.send(JSON.stringify({ cmd: 'end', data: 'bye' }));
  assert.equal(JSON.parse(await socket.inbox.value()), 'bye');
  assert.equal(JSON.parse(await socket.inbox.value()), 'primus::server::close');
  await closed;
}

forEachServer('engine.io', (server) => {
  for (const [label, transports, final] of [
    ['polling only', ['polling'], 'polling'],
    ['polling with upgrade', ['polling', 'websocket'], 'websocket'],
    ['websocket only', ['websocket'], 'websocket'],
  ]) {
    test(`engine.io-client 6, ${label}: messages both ways, id, server-side close`, T, async (t) => {
      const srv = await serverFor(t, server, ENGINE_IO);
      const socket = eio(t, srv, transports);
      await once(socket, 'open');
      if (final === 'websocket' && transports.length > 1) await once(socket, 'upgrade');
      assert.equal(socket.transport.name, final);
      assert.equal(await eioRoundTrip(socket, 'hello ünï 😀'), 'hello ünï 😀');
      assert.deepEqual(await eioRoundTrip(socket, { a: [1, null, { b: 'c' }] }), { a: [1, null, { b: 'c' }] });
      // Many messages in a row arrive in order (polling batches them into payloads).
      for (let i = 0; i < 50; i += 1) socket.send(JSON.stringify(i));
      for (let i = 0; i < 50; i += 1) assert.equal(JSON.parse(await socket.inbox.value()), i);
      const me = await eioRoundTrip(socket, { cmd: 'info' });
      assert.equal(me.id, socket.id, 'the spark id is the Engine.IO sid');
      assert.equal(me.query.transport, transports[0]);
      await serverEndsIt(socket);
    });
  }

  test('engine.io-client 6 over polling: a 1 MB message both ways', T, async (t) => {
    const srv = await serverFor(t, server, ENGINE_IO);
    const socket = eio(t, srv, ['polling']);
    await once(socket, 'open');
    const big = 'x'.repeat(1024 * 1024);
    assert.equal(await eioRoundTrip(socket, big), big);
  });

  test('Primus client (engine.io): open, echo, id() is the spark id, server end', T, async (t) => {
    const srv = await serverFor(t, server, ENGINE_IO);
    const client = await connectOpen(t, srv, ENGINE_IO);
    for (const value of ['ünï ☃ 😀', { a: 1, b: [true, null] }, 0, '', [1, [2]], 'primus::custom::x']) {
      const [echo] = await roundTrip(client, value);
      assert.deepEqual(echo, value);
    }
    const me = await info(client);
    assert.equal(await sparkId(client), me.id);
    assert.equal(me.query.EIO, '4');
    assert.equal(me.query.b64, '1', 'Primus forces base64');
    assert.ok(me.query._primuscb, 'cache buster in the query');
    // The upgrade happens on its own.
    await waitFor(() => client.socket.transport.name === 'websocket', { what: 'the upgrade' });
    const [after] = await roundTrip(client, { after: 'upgrade' });
    assert.deepEqual(after, { after: 'upgrade' });
    let reconnects = 0;
    client.on('reconnect scheduled', () => { reconnects += 1; });
    const ended = once(client, 'end', 10_000);
    client.write({ cmd: 'end' });
    await ended;
    await sleep(300);
    assert.equal(reconnects, 0, 'server::close means no reconnect');
  });

  test('Primus client (engine.io, websockets: false) stays on polling', T, async (t) => {
    const srv = await serverFor(t, server, ENGINE_IO);
    const client = await connectOpen(t, srv, { ...ENGINE_IO, websockets: false });
    const [echo] = await roundTrip(client, { polling: true });
    assert.deepEqual(echo, { polling: true });
    await sleep(300);
    assert.equal(client.socket.transport.name, 'polling');
    const values = Array.from({ length: 30 }, (_, i) => ({ i }));
    for (const v of values) client.write(v);
    for (const v of values) assert.deepEqual(await client.inbox.value(), v);
    const ended = once(client, 'end', 10_000);
    client.write({ cmd: 'end' });
    await ended;
  });

  for (const websockets of [true, false]) {
    test(`Primus client (engine.io, binary parser${websockets ? '' : ', websockets: false'}): b<base64> frames both ways`, T, async (t) => {
      const srv = await serverFor(t, server, { ...ENGINE_IO, parser: 'binary' });
      const client = await connectOpen(t, srv, { ...ENGINE_IO, parser: 'binary', websockets });
      if (websockets) {
        await waitFor(() => client.socket.transport.name === 'websocket', { what: 'the upgrade' });
      }
      for (const value of ['ünï ☃ 😀', { a: 1, b: [true, null, 'x'] }, 0, -1.5, [1, [2, { c: 'd' }]]]) {
        const [echo] = await roundTrip(client, value);
        assert.deepEqual(echo, value);
      }
      // (The reference cannot binary-pack its `info` answer; `count` works on both.)
      const [counted] = await roundTrip(client, { cmd: 'count' });
      assert.equal(counted.count, 1);
      assert.equal(await sparkId(client), client.socket.id);
      assert.equal(client.socket.transport.name, websockets ? 'websocket' : 'polling');
      const ended = once(client, 'end', 10_000);
      client.write({ cmd: 'end' });
      await ended;
    });
  }

  test('Primus client (engine.io): a client that ends closes its spark', T, async (t) => {
    const srv = await serverFor(t, server, ENGINE_IO);
    const watcher = await connectOpen(t, srv, ENGINE_IO);
    const client = await connectOpen(t, srv, { ...ENGINE_IO, websockets: false });
    await roundTrip(client, 1);
    client.end();
    await waitFor(async () => (await roundTrip(watcher, { cmd: 'count' }))[0].count === 1, {
      what: 'the spark count to drop to 1',
    });
  });
});
