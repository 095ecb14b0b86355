// Scenarios 1, 2, 3, 10, 11, 13: connecting, echo of every JSON shape, ids,
// broadcast, query string, headers and address.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachServer, serverFor } from './lib/servers.mjs';
import {
  connect, connectOpen, countReaches, info, once, rawWs, record, roundTrip, socketClass, sparkId, waitFor,
} from './lib/client.mjs';

const T = { timeout: 15_000 };

forEachServer('messaging', (server) => {
  test('1. open fires and readyState goes CLOSED → OPENING → OPEN → CLOSED', T, async (t) => {
    const srv = await serverFor(t, server);
    const Socket = socketClass(srv.pathname);
    const client = connect(t, srv);
    const log = record(client, ['readyStateChange', 'open', 'close', 'end']);
    assert.equal(client.readyState, Socket.CLOSED, 'a new client starts CLOSED');

    await once(client, 'open');
    assert.equal(client.readyState, Socket.OPEN);
    assert.deepEqual(
      log.map((e) => (e.event === 'readyStateChange' ? `state:${e.args[0]}` : e.event)),
      ['state:opening', 'state:open', 'open'],
    );

    // The connection really works, then a client end() closes it for good.
    const [echo] = await roundTrip(client, 'ping?');
    assert.equal(echo, 'ping?');
    const ended = once(client, 'end');
    client.end();
    await ended;
    assert.equal(client.readyState, Socket.CLOSED);
    assert.deepEqual(
      log.slice(3).map((e) => (e.event === 'readyStateChange' ? `state:${e.args[0]}` : e.event)),
      ['state:end', 'close', 'end'],
    );
  });

  test('2. messages of every JSON shape are echoed unchanged', T, async (t) => {
    const srv = await serverFor(t, server);
    const client = await connectOpen(t, srv);
    const chunk = 'abcdefghijklmnopqrstuvwxyz0123456789 ünï ☃ 😀 ';
    let mega = '';
    while (mega.length < 1024 * 1024) mega += chunk;
    mega = mega.slice(0, 1024 * 1024);

    const values = [
      'ünïcödé ☃ 😀',
      { a: 1, nested: { list: [1, 'two', { three: [null, true, false] }], empty: {} }, s: 'ü' },
      mega,
      0,
      '',
      null,
      false,
      true,
      [],
      [1, 'a', [2, [3, []]], { k: 'v' }],
      -12.5,
      'quotes " and \\ backslash\nnewline\ttab',
      '"primus::not-a-protocol-message"',
    ];
    // All written back to back: the echoes must come back complete and in order.
    for (const value of values) client.write(value);
    for (const value of values) {
      const [data] = await client.inbox.next(10_000);
      assert.deepStrictEqual(data, value, `echo of ${JSON.stringify(value).slice(0, 60)}`);
    }

    // The raw frame text equals JSON.stringify of the value (compact, key order kept,
    // non-ASCII sent as UTF-8, not \u-escaped).
    const rawChecks = ['ünïcödé ☃ 😀', { b: 'x', a: [1, { z: null, y: 'ü' }] }, 0, '', null, false, [1, 'a']];
    for (const value of rawChecks) {
      const [data, raw] = await roundTrip(client, value);
      assert.deepStrictEqual(data, value);
      assert.equal(raw, JSON.stringify(value), `raw frame of ${JSON.stringify(value)}`);
    }

    // U+2028 / U+2029 go out escaped as \u2028 / \u2029 (protocol.md §3).
    const [sep, sepRaw] = await roundTrip(client, 'a\u2028b\u2029c');
    assert.equal(sep, 'a\u2028b\u2029c');
    assert.equal(sepRaw, '"a\\u2028b\\u2029c"');
  });

  test('3. id() answers the spark id: 21 chars of [A-Za-z0-9_-], same as info.id', T, async (t) => {
    const srv = await serverFor(t, server);
    const client = await connectOpen(t, srv);
    const id = await sparkId(client);
    assert.equal(typeof id, 'string');
    assert.match(id, /^[A-Za-z0-9_-]{21}$/);
    const reply = await info(client);
    assert.equal(reply.id, id);

    // A second connection gets a different id.
    const other = await connectOpen(t, srv);
    const otherId = await sparkId(other);
    assert.match(otherId, /^[A-Za-z0-9_-]{21}$/);
    assert.notEqual(otherId, id);
  });

  test('10. broadcast reaches all 50 connected clients (sender included)', { timeout: 30_000 }, async (t) => {
    const srv = await serverFor(t, server);
    const clients = await Promise.all(
      Array.from({ length: 50 }, () => connectOpen(t, srv, {}, 10_000)),
    );
    // Make sure the server has registered all of them before broadcasting.
    const [first] = clients;
    assert.equal(await countReaches(first, 50), 50);

    clients[17].write('broadcast:hello');
    const got = await Promise.all(clients.map((c) => c.inbox.value(10_000)));
    assert.equal(got.length, 50);
    got.forEach((value, i) => assert.equal(value, 'hello', `client ${i}`));
    // Exactly once each: nothing else arrives shortly after.
    await new Promise((r) => setTimeout(r, 200));
    clients.forEach((c, i) => assert.equal(c.inbox.items.length, 0, `client ${i} got extra messages`));
  });

  test('11. the query string reaches spark.query (with _primuscb)', T, async (t) => {
    const srv = await serverFor(t, server);
    // The official client re-encodes the query with querystringify, which keeps
    // only the FIRST of repeated keys: the server sees foo=bar only.
    const client = await connectOpen(t, srv, {
      url: `http://127.0.0.1:${srv.port}/?foo=bar&foo=baz&single=1&sp=a+b`,
    });
    const reply = await info(client);
    assert.equal(reply.query.foo, 'bar');
    assert.equal(reply.query.single, '1');
    assert.equal(reply.query.sp, 'a b');
    assert.equal(typeof reply.query._primuscb, 'string');
    assert.ok(reply.query._primuscb.length > 0);
    assert.deepStrictEqual(Object.keys(reply.query).sort(), ['_primuscb', 'foo', 'single', 'sp']);
  });

  test('11b. repeated query keys become an array (raw ws upgrade URL)', T, async (t) => {
    const srv = await serverFor(t, server);
    const ws = await rawWs(t, srv, { path: `${srv.pathname}?foo=bar&foo=baz&sp=a+b&_primuscb=raw` });
    ws.send(JSON.stringify({ cmd: 'info' }));
    const text = await waitFor(() => ws.texts.find((m) => m.startsWith('{')), { what: 'info reply' });
    const reply = JSON.parse(text);
    assert.deepStrictEqual(reply.query, { foo: ['bar', 'baz'], sp: 'a b', _primuscb: 'raw' });
  });

  test('13. spark headers (lower-case) and address (127.0.0.1, client port, not secure)', T, async (t) => {
    const srv = await serverFor(t, server);
    const client = await connectOpen(t, srv);
    const reply = await info(client);

    assert.equal(typeof reply.headers, 'object');
    assert.ok(reply.headers && !Array.isArray(reply.headers));
    for (const key of Object.keys(reply.headers)) {
      assert.ok(!key.startsWith('primus::'), `internal key ${key} leaked into headers`);
      assert.equal(key, key.toLowerCase(), `header name ${key} is lower-case`);
      assert.equal(typeof reply.headers[key], 'string', `header ${key} is a string`);
    }
    assert.equal(reply.headers.host, `127.0.0.1:${srv.port}`);
    assert.equal(reply.headers.upgrade.toLowerCase(), 'websocket');
    assert.equal(reply.headers['sec-websocket-version'], '13');

    const { address } = reply;
    assert.equal(String(address.ip).replace(/^::ffff:/, ''), '127.0.0.1');
    assert.equal(typeof address.port, 'number');
    // The port is the client's own ephemeral port (ws keeps the net.Socket in `_socket`).
    const localPort = client.socket && client.socket._socket && client.socket._socket.localPort;
    assert.equal(address.port, localPort);
    assert.equal(address.secure, false);

    // A second connection has its own port.
    const other = await connectOpen(t, srv);
    const otherInfo = await info(other);
    assert.notEqual(otherInfo.address.port, address.port);
  });

  test('13b. X-Forwarded-* headers drive spark.address (protocol.md §5)', T, async (t) => {
    const srv = await serverFor(t, server);
    // `transport` is handed to the ws client as its options.
    const client = await connectOpen(t, srv, {
      transport: {
        headers: {
          'X-Forwarded-For': '13.3.37.1, 10.0.0.1',
          'X-Forwarded-Port': '9083',
          'X-Forwarded-Proto': 'https',
        },
      },
    });
    const reply = await info(client);
    assert.equal(reply.headers['x-forwarded-for'], '13.3.37.1, 10.0.0.1');
    assert.deepStrictEqual(reply.address, { ip: '13.3.37.1', port: 9083, secure: true });
  });
});
