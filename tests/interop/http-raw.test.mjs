// Scenarios 12, 14, 15: plain HTTP answers (spec, 426, 404), CLI flags
// pathname / ping-interval, bad JSON over a raw ws, max length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachServer, serverFor } from './lib/servers.mjs';
import { connectOpen, once, rawWs, record, roundTrip, sleep, WebSocket, waitFor } from './lib/client.mjs';

const T = { timeout: 15_000 };

async function get(srv, path) {
  const res = await fetch(`${srv.url}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') || '', body: await res.text() };
}

forEachServer('http and raw ws', (server) => {
  test('12. GET /primus/spec (keys in order), GET /primus → 426, GET /other → 404', T, async (t) => {
    const srv = await serverFor(t, server);

    const spec = await get(srv, '/primus/spec');
    assert.equal(spec.status, 200);
    assert.match(spec.type, /^application\/json\b/);
    const body = JSON.parse(spec.body);
    assert.deepStrictEqual(Object.keys(body), ['pingInterval', 'pathname', 'version', 'parser', 'transformer']);
    assert.equal(body.pingInterval, 30000);
    assert.equal(body.pathname, '/primus');
    assert.equal(body.parser, 'json');
    assert.equal(body.transformer, 'websockets');
    if (server.kind === 'reference') assert.equal(body.version, '8.0.9');
    else assert.equal(typeof body.version, 'string');

    const upgrade = await get(srv, '/primus');
    assert.equal(upgrade.status, 426);
    assert.match(upgrade.type, /^text\/plain\b/);
    assert.equal(upgrade.body, 'Upgrade Required');

    const other = await get(srv, '/other');
    assert.equal(other.status, 404);
    assert.match(other.type, /^text\/plain\b/);
    assert.equal(other.body, 'not found');
  });

  test('12b. --pathname /custom and --ping-interval off show in spec and routing', T, async (t) => {
    const srv = await serverFor(t, server, { pathname: '/custom', pingInterval: 'off' });
    const spec = await get(srv, '/custom/spec');
    assert.equal(spec.status, 200);
    const body = JSON.parse(spec.body);
    assert.equal(body.pingInterval, false);
    assert.equal(body.pathname, '/custom');

    assert.equal((await get(srv, '/primus/spec')).status, 404);
    assert.equal((await get(srv, '/custom')).status, 426);

    const client = await connectOpen(t, srv);
    let pings = 0;
    client.on('incoming::ping', () => { pings += 1; });
    const [echo] = await roundTrip(client, { via: '/custom' });
    assert.deepStrictEqual(echo, { via: '/custom' });
    assert.equal(pings, 0);
  });

  test('14. invalid JSON from a raw ws is dropped; the connection stays open', T, async (t) => {
    const srv = await serverFor(t, server);
    const ws = await rawWs(t, srv);
    const closes = record(ws, ['close']);
    ws.send('{nope');
    ws.send('"x"');
    await waitFor(() => ws.texts.includes('"x"'), { timeout: 3000, what: 'echo of "x"' });
    assert.deepEqual(ws.texts, ['"x"'], 'nothing but the echo came back');
    await sleep(200);
    assert.deepEqual(closes, []);
    assert.equal(ws.readyState, WebSocket.OPEN);
    // Still fully usable afterwards.
    ws.send('{"after":[1,2]}');
    await waitFor(() => ws.texts.length === 2, { timeout: 3000, what: 'second echo' });
    assert.deepStrictEqual(JSON.parse(ws.texts[1]), { after: [1, 2] });
  });

  test('15. --max-length 1000: a 2000-byte message closes the socket with 1009', T, async (t) => {
    const srv = await serverFor(t, server, { maxLength: 1000 });
    const ws = await rawWs(t, srv);
    const small = JSON.stringify('s'.repeat(498)); // 500 bytes: under the limit
    ws.send(small);
    await waitFor(() => ws.texts.includes(small), { timeout: 3000, what: 'echo of 500 bytes' });

    const closed = once(ws, 'close', 3000);
    const big = JSON.stringify('b'.repeat(1998)); // 2000 bytes
    assert.equal(Buffer.byteLength(big), 2000);
    ws.send(big);
    const [code] = await closed;
    assert.equal(code, 1009);
    assert.ok(!ws.texts.includes(big), 'the oversized message was not echoed');
  });

  test('15b. --max-length 1000: the official client is dropped and reconnects', T, async (t) => {
    const srv = await serverFor(t, server, { maxLength: 1000 });
    const client = await connectOpen(t, srv);
    const log = record(client, ['close', 'end', 'reconnected', 'open']);
    client.write('b'.repeat(1998));
    await waitFor(() => log.some((e) => e.event === 'open'), { timeout: 5000, what: 'reopen' });
    assert.deepEqual(log.map((e) => e.event), ['close', 'reconnected', 'open']);
    const [echo] = await roundTrip(client, 'small again');
    assert.equal(echo, 'small again');
  });
});
