// socket.io transformer, Socket.IO 0.9 half: npm socket.io-client 0.9.17 (installed as
// `socket.io-client09`) against our e2e server with `--transformer socket.io`. The 0.9
// client connects with the pathname as `resource` (as the reference's socket.io
// transformer had it, Primus 1.x-4.x) and carries Primus-encoded text in `message`
// packets. The Node reference (Primus 8) has no 0.9 server, so only ours runs here.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { SERVERS, serverFor } from './lib/servers.mjs';
import { Inbox, once as next } from './lib/client.mjs';

const require = createRequire(import.meta.url);
const io = require('socket.io-client09');

const T = { timeout: 20_000 };
const RUST = SERVERS.find((s) => s.kind === 'rust');
/** Server options: no Primus heartbeat, so every `message` is one the test expects. */
const SIO = { transformer: 'socket.io', pingInterval: 'off' };

/**
 * A socket.io-client 0.9 socket on our server over `transport`, with `nextMessage()`
 * reading its `message`s in order; disconnected when the test ends.
 *
 * socket.io-client 0.9 merges the `transports` option element by element into its global
 * list (`io.transports`) and picks from the shorter of that list and the handshake's, in
 * that one's order: the global list is what decides, so it is set to the one transport.
 */
function connect(t, srv, transport, query = '') {
  io.transports.splice(0, io.transports.length, transport);
  const socket = io.connect(srv.url, {
    resource: srv.pathname.slice(1),
    'force new connection': true,
    reconnect: false,
    transports: [transport],
    query,
  });
  const inbox = new Inbox(socket, 'message', ([data]) => data);
  socket.nextMessage = (ms = 5000) => inbox.next(ms);
  t.after(() => socket.disconnect());
  return socket;
}

/** Send a Primus message (JSON parser: the JSON text). */
function write(socket, value) {
  socket.send(JSON.stringify(value));
}

describe(`socket.io-client 0.9 against the socket.io transformer [${RUST.name}]`, { skip: RUST.skip }, () => {
  for (const transport of ['websocket', 'xhr-polling']) {
    test(`${transport}: connect, strings and JSON both ways, acks, server end`, T, async (t) => {
      const srv = await serverFor(t, RUST, SIO);
      const socket = connect(t, srv, transport, 'room=blue');
      await next(socket, 'connect');
      assert.equal(socket.socket.transport.name, transport);

      write(socket, 'hello');
      assert.equal(await socket.nextMessage(), '"hello"');
      // `json.send` (a `4:::` packet) and `emit('message', …)` (an event) reach the
      // parser as JSON text too.
      socket.json.send({ a: [1, 'é😀'] });
      assert.equal(await socket.nextMessage(), JSON.stringify({ a: [1, 'é😀'] }));
      socket.emit('message', { b: 2 });
      assert.equal(await socket.nextMessage(), '{"b":2}');
      // An acknowledgement asked for comes back.
      const acked = new Promise((resolve) => socket.send(JSON.stringify('ack me'), resolve));
      assert.equal(await socket.nextMessage(), '"ack me"');
      await Promise.race([acked, new Promise((_, reject) => setTimeout(() => reject(new Error('no ack')), 5000))]);
      // Several messages at once (one payload on polling), in order.
      for (let i = 0; i < 20; i++) write(socket, i);
      for (let i = 0; i < 20; i++) assert.equal(await socket.nextMessage(), String(i));

      // The spark keeps the handshake's query and headers.
      write(socket, { cmd: 'info' });
      const info = JSON.parse(await socket.nextMessage());
      assert.equal(info.query.room, 'blue');
      assert.equal(info.address.ip, '127.0.0.1');
      assert.ok(info.headers.host.startsWith('127.0.0.1:'));

      // Server end: the last message, Primus's close message, then `disconnect`.
      const disconnect = next(socket, 'disconnect');
      write(socket, { cmd: 'end', data: 'bye' });
      assert.equal(await socket.nextMessage(), '"bye"');
      assert.equal(await socket.nextMessage(), '"primus::server::close"');
      assert.equal((await disconnect)[0], 'booted');
    });
  }

  test('broadcast reaches clients on both transports; a client disconnect ends its spark', T, async (t) => {
    const srv = await serverFor(t, RUST, SIO);
    const ws = connect(t, srv, 'websocket');
    await next(ws, 'connect');
    const polling = connect(t, srv, 'xhr-polling');
    await next(polling, 'connect');
    write(polling, 'broadcast:to all');
    assert.equal(await ws.nextMessage(), '"to all"');
    assert.equal(await polling.nextMessage(), '"to all"');
    write(ws, { cmd: 'count' });
    assert.deepEqual(JSON.parse(await ws.nextMessage()), { count: 2 });

    polling.disconnect();
    const deadline = Date.now() + 5000;
    let count;
    do {
      await new Promise((r) => setTimeout(r, 50));
      write(ws, { cmd: 'count' });
      count = JSON.parse(await ws.nextMessage()).count;
    } while (count !== 1 && Date.now() < deadline);
    assert.equal(count, 1);
  });

  test('authorization: refused handshakes are errors, the token rides on every request', T, async (t) => {
    const srv = await serverFor(t, RUST, { ...SIO, auth: 'on' });
    const refused = connect(t, srv, 'xhr-polling', 'token=bad');
    const [err] = await next(refused, 'error');
    assert.equal(err, '{"error":"unauthorized"}');
    for (const transport of ['websocket', 'xhr-polling']) {
      const socket = connect(t, srv, transport, 'token=good');
      await next(socket, 'connect');
      write(socket, transport);
      assert.equal(await socket.nextMessage(), JSON.stringify(transport));
      socket.disconnect();
    }
  });

  test('100 clients at once', { timeout: 60_000 }, async (t) => {
    const srv = await serverFor(t, RUST, SIO);
    const sockets = [];
    // 50 on each transport (one batch at a time: the transport list is global).
    for (const transport of ['websocket', 'xhr-polling']) {
      const batch = Array.from({ length: 50 }, () => connect(t, srv, transport));
      await Promise.all(batch.map((s) => next(s, 'connect', 20_000)));
      assert.ok(batch.every((s) => s.socket.transport.name === transport));
      sockets.push(...batch);
    }
    sockets.forEach((s, i) => write(s, `client ${i}`));
    const echoes = await Promise.all(sockets.map((s) => s.nextMessage(20_000)));
    echoes.forEach((e, i) => assert.equal(e, JSON.stringify(`client ${i}`)));
    write(sockets[0], { cmd: 'count' });
    assert.deepEqual(JSON.parse(await sockets[0].nextMessage()), { count: 100 });
    write(sockets[99], 'broadcast:everyone');
    const all = await Promise.all(sockets.map((s) => s.nextMessage(20_000)));
    assert.ok(all.every((m) => m === '"everyone"'));
  });
});
