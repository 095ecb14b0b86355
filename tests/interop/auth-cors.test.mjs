// Authorization and CORS with the official client and raw HTTP, against both servers.
// Servers run with `--auth on`: the `token` query parameter of every request decides
// (good → accepted, forbidden → 403, else 401 + WWW-Authenticate). protocol.md §4.3, §4.6.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachServer, serverFor, SERVERS, startServer } from './lib/servers.mjs';
import { connect, connectOpen, once, roundTrip } from './lib/client.mjs';

const TRANSFORMERS = ['websockets', 'engine.io', 'sockjs'];

async function http(url, init = {}) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(5000) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

forEachServer('authorization', (server) => {
  for (const transformer of TRANSFORMERS) {
    test(`${transformer}: accepted with a good token, messages flow`, { timeout: 20000 }, async (t) => {
      const srv = await serverFor(t, server, { transformer, auth: 'on' });
      const client = await connectOpen(t, srv, { transformer, url: `${srv.url}/?token=good` });
      const [data] = await roundTrip(client, { hello: 'auth' });
      assert.deepEqual(data, { hello: 'auth' });
    });

    for (const [token, status] of [['bad', 401], ['forbidden', 403]]) {
      test(`${transformer}: refused with ${status}; a client without the timeout strategy ends`, { timeout: 20000 }, async (t) => {
        const srv = await serverFor(t, server, { transformer, auth: 'on' });
        const client = connect(t, srv, {
          transformer,
          url: `${srv.url}/?token=${token}`,
          strategy: 'disconnect,online',
        });
        const opened = [];
        client.on('open', () => opened.push(true));
        await once(client, 'end', 10000);
        assert.equal(opened.length, 0, 'never opened');
        assert.ok(client.errors.length >= 1, 'an error event came first');
        if (transformer === 'websockets') {
          assert.match(client.errors[0].message, new RegExp(`${status}`));
        }
        if (transformer === 'engine.io') {
          assert.match(client.errors[0].message, /xhr poll error/);
        }
      });
    }
  }

  test('HTTP answers: 401 with WWW-Authenticate, 403 without, JSON bodies', { timeout: 20000 }, async (t) => {
    const srv = await serverFor(t, server, { transformer: 'websockets', auth: 'on' });
    const r401 = await http(`${srv.url}/primus?token=bad`);
    assert.equal(r401.status, 401);
    assert.equal(r401.headers.get('www-authenticate'), 'Bearer realm="primus"');
    assert.equal(r401.headers.get('content-type'), 'application/json');
    assert.equal(r401.body, '{"error":"unauthorized"}');
    const r403 = await http(`${srv.url}/primus?token=forbidden`);
    assert.equal(r403.status, 403);
    assert.equal(r403.headers.get('www-authenticate'), null);
    assert.equal(r403.body, '{"error":"forbidden"}');
    // The spec bypasses authorization in the reference.
    assert.equal((await http(`${srv.url}/primus/spec`)).status, 200);
  });

  test('engine.io: every polling request is authorized, not only the handshake', { timeout: 20000 }, async (t) => {
    const srv = await serverFor(t, server, { transformer: 'engine.io', auth: 'on' });
    const hs = await http(`${srv.url}/primus/?EIO=4&transport=polling&token=good`);
    assert.equal(hs.status, 200);
    const sid = JSON.parse(hs.body.slice(1)).sid;
    // POSTs answer at once (a GET would long-poll).
    const post = { method: 'POST', body: '4"hi"', headers: { 'Content-Type': 'text/plain;charset=UTF-8' } };
    const withToken = await http(`${srv.url}/primus/?EIO=4&transport=polling&token=good&sid=${sid}`, post);
    assert.equal(withToken.status, 200);
    assert.equal(withToken.body, 'ok');
    const without = await http(`${srv.url}/primus/?EIO=4&transport=polling&sid=${sid}`, post);
    assert.equal(without.status, 401);
    assert.equal(without.body, '{"error":"unauthorized"}');
  });
});

test('CORS answers match the reference byte for byte', { timeout: 30000 }, async (t) => {
  const options = { origins: 'http://good.example,http://other.example' };
  const servers = [];
  for (const server of SERVERS.filter((s) => !s.skip)) {
    const srv = await startServer(server, options);
    t.after(() => srv.stop());
    servers.push(srv);
  }
  assert.equal(servers.length, 2, 'both servers run (the comparison needs the reference and ours)');
  const cases = [
    ['no origin', 'GET', {}],
    ['allowed origin', 'GET', { Origin: 'http://good.example' }],
    ['origin not listed', 'GET', { Origin: 'http://evil.example' }],
    ['origin without scheme', 'GET', { Origin: 'good.example' }],
    ['origin with %', 'GET', { Origin: 'http://good%2eexample' }],
    ['null origin', 'GET', { Origin: 'null' }],
    ['method not allowed', 'PATCH', { Origin: 'http://good.example' }],
    ['preflight', 'OPTIONS', {
      Origin: 'http://good.example',
      'Access-Control-Request-Method': 'POST',
      'Access-Control-Request-Headers': 'x-a, x-b',
    }],
    ['OPTIONS without request method', 'OPTIONS', { Origin: 'http://good.example' }],
  ];
  const pick = (r) => ({
    status: r.status,
    // Only the version in /spec may differ (ours is ours).
    body: r.body.replace(/"version":"[^"]*"/, '"version":"*"'),
    headers: Object.fromEntries(
      [...r.headers.entries()].filter(([k]) => k.startsWith('access-control-') || k === 'vary'),
    ),
  });
  for (const [name, method, headers] of cases) {
    for (const path of ['/primus', '/primus/spec']) {
      const [ref, ours] = await Promise.all(
        servers.map((srv) => http(`${srv.url}${path}`, { method, headers })),
      );
      assert.deepEqual(pick(ours), pick(ref), `${name} ${method} ${path}`);
    }
  }
});
