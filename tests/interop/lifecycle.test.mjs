// Scenarios 4–9: heartbeats, server end() with and without reconnect, server
// restart, client end().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachServer, serverFor, startServer } from './lib/servers.mjs';
import {
  connectOpen, countReaches, info, once, rawWs, record, roundTrip, sleep, socketClass, sparkId, waitFor,
} from './lib/client.mjs';

const T = { timeout: 15_000 };
const names = (log) => log.map((e) => e.event);
const RECONNECT_EVENTS = ['reconnect scheduled', 'reconnect', 'reconnected', 'reconnect failed'];

forEachServer('lifecycle', (server) => {
  test('4. heartbeats: ≥3 pings in 1.5 s at --ping-interval 200, answered, connection stays open', T, async (t) => {
    const srv = await serverFor(t, server, { pingInterval: 200 });
    const Socket = socketClass(srv.pathname);
    const client = await connectOpen(t, srv);
    const pings = [];
    client.on('incoming::ping', (value) => pings.push(value));
    const log = record(client, ['close', 'end', 'offline', ...RECONNECT_EVENTS]);

    await sleep(1500);
    assert.ok(pings.length >= 3, `expected ≥3 pings, got ${pings.length}`);
    assert.ok(pings.length <= 12, `expected about 7 pings, got ${pings.length}`);
    for (const value of pings) {
      // The ping carries the server's Date.now().
      assert.equal(typeof value, 'number');
      assert.ok(Math.abs(value - Date.now()) < 60_000, `ping timestamp ${value} is a current epoch ms`);
    }
    // The client answered every ping with a pong, so the server kept it
    // (a server that ignored pongs would drop it after two intervals).
    assert.deepEqual(names(log), []);
    assert.equal(client.readyState, Socket.OPEN);
    const [echo] = await roundTrip(client, 'still here');
    assert.equal(echo, 'still here');
  });

  test('4b. heartbeats: a raw ws peer that never pongs is dropped; ping frames are exact', T, async (t) => {
    const srv = await serverFor(t, server, { pingInterval: 200 });
    const ws = await rawWs(t, srv);
    const closed = once(ws, 'close', 3000);
    const opened = Date.now();
    const [code] = await closed;
    const elapsed = Date.now() - opened;
    assert.ok(elapsed < 1500, `dropped after ${elapsed} ms (expected within 2–3 intervals)`);
    // Dropped with reconnect semantics: no primus::server::close notice.
    assert.ok(ws.texts.length >= 1, 'at least one ping arrived before the drop');
    for (const text of ws.texts) assert.match(text, /^"primus::ping::\d{13}"$/);
    // ws closes without a status code (peer sees 1005); a 1000 close frame is fine too.
    assert.ok([1000, 1005].includes(code), `close code ${code}`);
  });

  test('5. server end(): client emits end, no data, no reconnect', T, async (t) => {
    const srv = await serverFor(t, server);
    const Socket = socketClass(srv.pathname);
    const client = await connectOpen(t, srv);
    const log = record(client, ['data', 'close', 'end', ...RECONNECT_EVENTS]);
    client.write({ cmd: 'end' });
    await once(client, 'end', 3000);
    await sleep(1000);
    assert.deepEqual(names(log), ['close', 'end']);
    assert.equal(client.readyState, Socket.CLOSED);
  });

  test('6. server end("bye"): client gets data "bye", then end', T, async (t) => {
    const srv = await serverFor(t, server);
    const client = await connectOpen(t, srv);
    const log = record(client, ['data', 'close', 'end', ...RECONNECT_EVENTS]);
    client.write({ cmd: 'end', data: 'bye' });
    await once(client, 'end', 3000);
    await sleep(300);
    assert.deepEqual(names(log), ['data', 'close', 'end']);
    assert.equal(log[0].args[0], 'bye');
    assert.equal(log[0].args[1], '"bye"');
  });

  test('7. server end(undefined, {reconnect:true}): close, reconnect, open again with a new id', T, async (t) => {
    const srv = await serverFor(t, server);
    const client = await connectOpen(t, srv, { reconnect: { min: 50, max: 200, retries: 10 } });
    const firstId = await sparkId(client);
    const log = record(client, ['data', 'open', 'close', 'end', ...RECONNECT_EVENTS]);

    client.write({ cmd: 'end', reconnect: true });
    await waitFor(() => names(log).includes('open'), { timeout: 5000, what: 'open after reconnect' });
    assert.deepEqual(names(log), ['close', 'reconnect scheduled', 'reconnect', 'reconnected', 'open']);

    const secondId = await sparkId(client);
    assert.match(secondId, /^[A-Za-z0-9_-]{21}$/);
    assert.notEqual(secondId, firstId, 'a reconnect is a new spark');
    assert.equal((await info(client)).id, secondId);
    assert.equal(await countReaches(client, 1), 1, 'the old spark is gone');
  });

  test('7b. end-all: every spark ends, with and without reconnect', T, async (t) => {
    const srv = await serverFor(t, server);
    const clients = await Promise.all([0, 1, 2].map(() => connectOpen(t, srv)));
    const logs = clients.map((c) => record(c, ['open', 'end', 'reconnected']));

    clients[0].write({ cmd: 'end-all', reconnect: true });
    await Promise.all(logs.map((log, i) => waitFor(() => names(log).includes('open'), {
      timeout: 5000, what: `client ${i} to reopen`,
    })));
    logs.forEach((log) => assert.deepEqual(names(log), ['reconnected', 'open']));
    assert.equal(await countReaches(clients[1], 3), 3);

    clients[2].write({ cmd: 'end-all' });
    await Promise.all(clients.map((c) => once(c, 'end', 3000)));
    await sleep(300);
    logs.forEach((log) => assert.deepEqual(names(log), ['reconnected', 'open', 'end']));
  });

  test('8. server restart on the same port: the client reconnects and echo works again', { timeout: 30_000 }, async (t) => {
    const first = await startServer(server);
    t.after(() => first.stop());
    const client = await connectOpen(t, first, { reconnect: { min: 50, max: 200, retries: 100 } });
    const firstId = await sparkId(client);
    const log = record(client, ['open', 'close', 'end', ...RECONNECT_EVENTS]);

    const exit = await first.stop();
    assert.ok(exit.code === 0 || exit.signal === 'SIGTERM', `server exited: ${JSON.stringify(exit)}`);
    await waitFor(() => names(log).includes('close'), { timeout: 3000, what: 'client close' });

    const second = await serverFor(t, server, { port: first.port });
    assert.equal(second.port, first.port);
    await waitFor(() => names(log).includes('open'), { timeout: 10_000, what: 'reconnected + open' });
    assert.ok(names(log).includes('reconnected'));
    assert.ok(!names(log).includes('end'), 'the client never gave up');
    assert.ok(!names(log).includes('reconnect failed'));

    const [echo] = await roundTrip(client, { after: 'restart' });
    assert.deepStrictEqual(echo, { after: 'restart' });
    assert.notEqual(await sparkId(client), firstId);
  });

  test('9. client end(): the server connection count drops by one', T, async (t) => {
    const srv = await serverFor(t, server);
    const leaving = await connectOpen(t, srv);
    const watcher = await connectOpen(t, srv);
    assert.equal(await countReaches(watcher, 2), 2);

    const ended = once(leaving, 'end', 3000);
    leaving.end();
    await ended;
    assert.equal(await countReaches(watcher, 1), 1);
  });
});
