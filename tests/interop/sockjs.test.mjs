// SockJS transformer: the npm `sockjs-client` 1.6 on its own (each transport it has in
// node), and the official Primus client with `transformer: 'sockjs'` (default and forced
// transports), against the reference Node Primus server and against ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { forEachServer, serverFor, startServer } from './lib/servers.mjs';
import { once, Inbox, toLocalRealm, waitFor, sleep } from './lib/client.mjs';

const require = createRequire(import.meta.url);
const SockJS = require('sockjs-client');
const Primus = require('primus');

const SockJsPrimus = Primus.createSocket({ transformer: 'sockjs', pathname: '/primus', parser: 'json' });

/** A raw sockjs-client on `<pathname>` with only `transport` allowed. */
function rawClient(t, srv, transport) {
  const sock = new SockJS(`${srv.url}/primus`, null, { transports: [transport] });
  sock.inbox = [];
  sock.waiters = [];
  sock.onmessage = (e) => {
    const w = sock.waiters.shift();
    if (w) w(e.data);
    else sock.inbox.push(e.data);
  };
  sock.next = (timeout = 5000) => {
    if (sock.inbox.length) return Promise.resolve(sock.inbox.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no message within ${timeout} ms`)), timeout);
      sock.waiters.push((d) => {
        clearTimeout(timer);
        resolve(d);
      });
    });
  };
  sock.opened = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${transport}: no open within 5000 ms`)), 5000);
    sock.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
  });
  sock.closed = new Promise((resolve) => {
    sock.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  t.after(() => sock.close());
  return sock;
}

/** The official Primus client over sockjs, with an inbox. */
function primusClient(t, srv, options = {}) {
  const { url = srv.url, ...rest } = options;
  const client = new SockJsPrimus(url, { reconnect: { min: 50, max: 200, retries: 10 }, ...rest });
  client.inbox = new Inbox(client, 'data', ([data, raw]) => [toLocalRealm(data), raw]);
  client.errors = [];
  client.on('error', (err) => client.errors.push(err));
  t.after(() => client.destroy());
  return client;
}

async function openPrimus(t, srv, options) {
  const client = primusClient(t, srv, options);
  await once(client, 'open', 8000);
  return client;
}

// sockjs-client 1.6 in node offers websocket, xhr-streaming, xhr-polling (and
// eventsource through the `eventsource` package).
const TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource'];

forEachServer('sockjs-client', (server) => {
  for (const transport of TRANSPORTS) {
    test(`${transport}: messages both ways, server end closes with 1000`, async (t) => {
      const srv = await serverFor(t, server, { transformer: 'sockjs' });
      const sock = rawClient(t, srv, transport);
      await sock.opened;
      assert.equal(sock.transport, transport);
      // Each SockJS message is one Primus frame (JSON text).
      sock.send(JSON.stringify('hello'));
      assert.equal(await sock.next(), '"hello"');
      sock.send(JSON.stringify({ a: [1, 'é', '\u2028'] }));
      assert.deepEqual(JSON.parse(await sock.next()), { a: [1, 'é', '\u2028'] });
      // Several messages in a row arrive in order.
      for (let i = 0; i < 5; i++) sock.send(String(i));
      for (let i = 0; i < 5; i++) assert.equal(await sock.next(), String(i));
      // The spark's id comes back through the primus:: protocol.
      sock.send(JSON.stringify('primus::id::'));
      assert.match(await sock.next(), /^"primus::id::.+"$/);
      sock.send(JSON.stringify({ cmd: 'end', data: 'bye' }));
      assert.equal(await sock.next(), '"bye"');
      assert.equal(await sock.next(), '"primus::server::close"');
      const closed = await sock.closed;
      assert.equal(closed.code, 1000);
      assert.equal(closed.reason, 'Normal closure');
    });
  }

  test('client close ends the spark', async (t) => {
    const srv = await serverFor(t, server, { transformer: 'sockjs' });
    const watcher = rawClient(t, srv, 'websocket');
    await watcher.opened;
    const sock = rawClient(t, srv, 'xhr-streaming');
    await sock.opened;
    const count = async () => {
      watcher.send(JSON.stringify({ cmd: 'count' }));
      return JSON.parse(await watcher.next()).count;
    };
    assert.equal(await count(), 2);
    sock.close();
    const closed = await sock.closed;
    assert.equal(closed.code, 1000);
    // The server notices within disconnect_delay (5 s) at most.
    await waitFor(async () => (await count()) === 1, { timeout: 8000, interval: 200, what: 'count 1' });
  });
});

forEachServer('Primus client over sockjs', (server) => {
  for (const forced of [undefined, 'websocket', 'xhr-streaming', 'xhr-polling']) {
    const label = forced ? `forced ${forced}` : 'default transports';
    const transport = forced ? { transports: [forced] } : {};

    test(`${label}: echo, id, info, broadcast`, async (t) => {
      const srv = await serverFor(t, server, { transformer: 'sockjs' });
      const client = await openPrimus(t, srv, { transport, url: `${srv.url}/?room=lobby&x=1` });
      client.write('hello');
      assert.equal((await client.inbox.next())[0], 'hello');
      client.write({ nested: { list: [1, 2, 3] }, s: 'é' });
      assert.deepEqual((await client.inbox.next())[0], { nested: { list: [1, 2, 3] }, s: 'é' });
      const id = await new Promise((resolve) => client.id(resolve));
      assert.equal(typeof id, 'string');
      client.write({ cmd: 'info' });
      const info = (await client.inbox.next())[0];
      assert.equal(info.id, id);
      if (server.kind === 'rust') {
        // Beyond the reference, which loses the query string with sockjs.
        assert.equal(info.query.room, 'lobby');
        assert.equal(info.query.x, '1');
        assert.ok(info.query._primuscb);
      }
      client.write('broadcast:all');
      assert.equal((await client.inbox.next())[0], 'all');
    });

    test(`${label}: spark.end() ends the client without reconnecting`, async (t) => {
      const srv = await serverFor(t, server, { transformer: 'sockjs' });
      const client = await openPrimus(t, srv, { transport });
      const events = [];
      for (const e of ['end', 'close', 'reconnect scheduled']) client.on(e, () => events.push(e));
      client.write({ cmd: 'end', data: 'bye' });
      assert.equal((await client.inbox.next())[0], 'bye');
      await once(client, 'end', 8000);
      await sleep(300);
      assert.ok(!events.includes('reconnect scheduled'), `events: ${events}`);
    });

    test(`${label}: end with reconnect makes the client come back`, async (t) => {
      const srv = await serverFor(t, server, { transformer: 'sockjs' });
      const client = await openPrimus(t, srv, { transport });
      const first = await new Promise((resolve) => client.id(resolve));
      client.write({ cmd: 'end', reconnect: true });
      await once(client, 'reconnected', 10000);
      const second = await new Promise((resolve) => client.id(resolve));
      assert.notEqual(first, second);
      client.write('again');
      assert.equal((await client.inbox.next())[0], 'again');
    });
  }

  for (const forced of ['websocket', 'xhr-streaming', 'xhr-polling']) {
    test(`forced ${forced}: every JSON shape, 1 MiB included, echoed in order`, async (t) => {
      const srv = await serverFor(t, server, { transformer: 'sockjs' });
      const client = await openPrimus(t, srv, { transport: { transports: [forced] } });
      let mega = '';
      while (mega.length < 1024 * 1024) mega += 'abcdefghij ünï ☃ 😀 ';
      mega = mega.slice(0, 1024 * 1024);
      const values = [
        'ünïcödé ☃ 😀', { a: 1, nested: { list: [1, 'two', { three: [null, true, false] }] } },
        mega, 0, '', null, false, true, [], -12.5, 'quotes " and \\ backslash\nnewline',
        'a\u2028b\u2029c', '"primus::not-a-protocol-message"',
      ];
      for (const value of values) client.write(value);
      for (const value of values) {
        const [data] = await client.inbox.next(15_000);
        assert.deepStrictEqual(data, value, `echo of ${JSON.stringify(value).slice(0, 60)}`);
      }
    });
  }

  test('end-all with and without reconnect; client end() drops the count', async (t) => {
    const srv = await serverFor(t, server, { transformer: 'sockjs' });
    const clients = [];
    for (const transports of [['websocket'], ['xhr-streaming'], ['xhr-polling']]) {
      clients.push(await openPrimus(t, srv, { transport: { transports } }));
    }
    const reopened = clients.map((c) => once(c, 'reconnected', 10_000));
    clients[0].write({ cmd: 'end-all', reconnect: true });
    await Promise.all(reopened);
    const count = async (c) => {
      c.write({ cmd: 'count' });
      return (await c.inbox.next())[0].count;
    };
    await waitFor(async () => (await count(clients[1])) === 3, { timeout: 5000, interval: 100, what: 'count 3' });
    const leaving = clients[2];
    const ended = once(leaving, 'end', 3000);
    leaving.end();
    await ended;
    // The server notices an aborted polling session at the next poll, or after
    // disconnect_delay (5 s) at the latest.
    await waitFor(async () => (await count(clients[1])) === 2, { timeout: 8000, interval: 200, what: 'count 2' });
    const ends = clients.slice(0, 2).map((c) => once(c, 'end', 5000));
    clients[0].write({ cmd: 'end-all' });
    await Promise.all(ends);
  });

  test('broadcast reaches 20 clients on mixed transports', { timeout: 30_000 }, async (t) => {
    const srv = await serverFor(t, server, { transformer: 'sockjs' });
    const kinds = [['websocket'], ['xhr-streaming'], ['xhr-polling']];
    const clients = [];
    for (let i = 0; i < 20; i++) {
      clients.push(await openPrimus(t, srv, { transport: { transports: kinds[i % 3] } }));
    }
    clients[0].write('broadcast:hello all');
    for (const c of clients) assert.equal((await c.inbox.next(10_000))[0], 'hello all');
  });

  test('server restart on the same port: the client reconnects', { timeout: 30_000 }, async (t) => {
    const first = await startServer(server, { transformer: 'sockjs' });
    t.after(() => first.stop());
    // websocket: sockjs-client's xhr-streaming in node does not notice a server that
    // vanished (and createSocket clients have no ping timeout), with either server.
    const client = await openPrimus(t, first, {
      transport: { transports: ['websocket'] },
      reconnect: { min: 50, max: 200, retries: 100 },
    });
    const reconnected = once(client, 'reconnected', 15_000);
    await first.stop();
    const second = await serverFor(t, server, { transformer: 'sockjs', port: first.port });
    assert.equal(second.port, first.port);
    await reconnected;
    client.write({ after: 'restart' });
    assert.deepStrictEqual((await client.inbox.next(10_000))[0], { after: 'restart' });
  });

  test('spark headers and address', async (t) => {
    const srv = await serverFor(t, server, { transformer: 'sockjs' });
    const client = await openPrimus(t, srv, { transport: { transports: ['xhr-polling'] } });
    client.write({ cmd: 'info' });
    const reply = (await client.inbox.next())[0];
    assert.equal(reply.headers.host, `127.0.0.1:${srv.port}`);
    assert.equal(String(reply.address.ip).replace(/^::ffff:/, ''), '127.0.0.1');
    assert.equal(typeof reply.address.port, 'number');
    assert.equal(reply.address.secure, false);
  });

  test('server heartbeat: ping/pong keeps the connection', async (t) => {
    const srv = await serverFor(t, server, { transformer: 'sockjs', pingInterval: 300 });
    const client = await openPrimus(t, srv, { transport: { transports: ['xhr-polling'] } });
    const pings = [];
    client.on('incoming::ping', () => pings.push(Date.now()));
    await waitFor(() => pings.length >= 3, { timeout: 5000, what: '3 pings' });
    client.write('still here');
    assert.equal((await client.inbox.next())[0], 'still here');
  });
});
