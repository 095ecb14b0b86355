// socket.io transformer (server half): npm socket.io-client 4.x (Socket.IO protocol 5 on
// Engine.IO 4) against our e2e server with `--transformer socket.io`. Primus messages ride
// as `message` events whose argument is the Primus-encoded text. The reference has no
// socket.io 5 transformer, so only our server runs here.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { io } from 'socket.io-client';
import { SERVERS, serverFor } from './lib/servers.mjs';

const require = createRequire(import.meta.url);
const BinaryPack = require('binary-pack');

const T = { timeout: 15_000 };
const RUST = SERVERS.find((s) => s.kind === 'rust');

/** Resolve with the next `event` on `socket` (its arguments), reject after `ms`. */
function next(socket, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/**
 * A socket.io-client socket on our server, with an inbox of `message` events (Primus
 * heartbeat pings left out); closed when the test ends.
 */
function connect(t, srv, transports = ['polling', 'websocket'], nsp = '') {
  const socket = io(`${srv.url}${nsp}`, { path: srv.pathname, transports, reconnection: false });
  const inbox = [];
  const waiters = [];
  socket.on('message', (data) => {
    if (typeof data === 'string' && data.startsWith('"primus::ping::')) return;
    const w = waiters.shift();
    if (w) w(data);
    else inbox.push(data);
  });
  socket.nextMessage = (ms = 5000) => {
    if (inbox.length) return Promise.resolve(inbox.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
      waiters.push((d) => {
        clearTimeout(timer);
        resolve(d);
      });
    });
  };
  t.after(() => socket.close());
  return socket;
}

describe(`socket.io-client 4 against the socket.io transformer [${RUST.name}]`, { skip: RUST.skip }, () => {
  test('connects, messages both ways, websocket upgrade, server end', T, async (t) => {
    const srv = await serverFor(t, RUST, { transformer: 'socket.io' });
    const socket = connect(t, srv);
    await next(socket, 'connect');
    assert.equal(typeof socket.id, 'string');
    assert.ok(socket.id.length > 0);

    socket.send(JSON.stringify('hello'));
    assert.equal(await socket.nextMessage(), '"hello"');

    // A non-string argument reaches the JSON parser as JSON text.
    socket.send({ a: [1, 'é'] });
    assert.equal(await socket.nextMessage(), JSON.stringify({ a: [1, 'é'] }));

    // The upgrade to WebSocket happens on its own; messages keep flowing on it.
    const engine = socket.io.engine;
    if (engine.transport.name !== 'websocket') await next(engine, 'upgrade');
    assert.equal(engine.transport.name, 'websocket');
    for (let i = 0; i < 5; i++) socket.send(JSON.stringify(i));
    for (let i = 0; i < 5; i++) assert.equal(await socket.nextMessage(), String(i));

    const disconnect = next(socket, 'disconnect');
    socket.send(JSON.stringify({ cmd: 'end' }));
    const [reason] = await disconnect;
    assert.equal(reason, 'io server disconnect');
  });

  test('polling only: messages and server end', T, async (t) => {
    const srv = await serverFor(t, RUST, { transformer: 'socket.io' });
    const socket = connect(t, srv, ['polling']);
    await next(socket, 'connect');
    socket.send(JSON.stringify('over polling'));
    assert.equal(await socket.nextMessage(), '"over polling"');
    const disconnect = next(socket, 'disconnect');
    socket.send(JSON.stringify({ cmd: 'end' }));
    assert.equal((await disconnect)[0], 'io server disconnect');
  });

  test('binary messages ride as attachments (binary parser)', T, async (t) => {
    const srv = await serverFor(t, RUST, { transformer: 'socket.io', parser: 'binary' });
    for (const transports of [['polling'], ['websocket']]) {
      const socket = connect(t, srv, transports);
      await next(socket, 'connect');
      socket.send(BinaryPack.pack({ hi: [1, 2, 'é'] }));
      const echo = await socket.nextMessage();
      assert.ok(echo instanceof ArrayBuffer || Buffer.isBuffer(echo), String(echo));
      assert.deepEqual(BinaryPack.unpack(Buffer.from(echo)), { hi: [1, 2, 'é'] });
      socket.close();
    }
  });

  test('a namespace other than / is refused', T, async (t) => {
    const srv = await serverFor(t, RUST, { transformer: 'socket.io' });
    const socket = connect(t, srv, ['polling', 'websocket'], '/chat');
    const [err] = await next(socket, 'connect_error');
    assert.equal(err.message, 'Invalid namespace');
  });
});
