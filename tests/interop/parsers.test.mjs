// The official Primus client with each parser (`Primus.createSocket({parser})`) against
// both servers started with `--parser <name>`, over websockets and engine.io: echoes of
// each parser's own kinds of values, protocol traffic (id, heartbeats) through the parser,
// and a bad frame that is dropped while the connection stays open.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachServer, serverFor } from './lib/servers.mjs';
import { connectOpen, rawWs, roundTrip, sparkId, once, waitFor } from './lib/client.mjs';

const T = { timeout: 20_000 };

/** A decoded value in comparable form: bytes as hex, Dates as ms, NaN spelled out. */
function plain(v) {
  if (v === null || typeof v !== 'object') {
    return typeof v === 'number' && !Number.isFinite(v) ? `number:${v}` : v;
  }
  if (ArrayBuffer.isView(v)) return { bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Object.prototype.toString.call(v) === '[object Date]') return { date: v.getTime() };
  if (Array.isArray(v)) return v.map(plain);
  const out = {};
  for (const k of Object.keys(v)) out[k] = plain(v[k]);
  return out;
}

const common = [
  'ünï ☃ 😀',
  '',
  0,
  -1,
  200,
  -70000,
  2 ** 31,
  1.5,
  null,
  true,
  false,
  [],
  {},
  { a: 1, nested: { list: [1, 'two', { three: [null, true] }] } },
  'a\u2028b',
];

/**
 * [parser, transformer, cases]; a case is [value sent, what comes back from the
 * reference, what comes back from ours] (one expectation when both agree).
 */
const MATRIX = [
  ['json', 'websockets', common.map((v) => [v])],
  ['msgpack', 'websockets', [
    ...common.map((v) => [v]),
    [2 ** 40],
    [-(2 ** 53)],
    [0.1],
    [Buffer.from([1, 2, 3])],
    [{ data: Buffer.alloc(300, 7), n: 1 }],
    // A Date is msgpack-lite's extension 0x0D: the reference revives it, we hand the
    // application its milliseconds.
    [new Date(1700000000000), new Date(1700000000000), 1700000000000],
  ]],
  ['msgpack', 'engine.io', [[{ a: [1, 'x'] }], [Buffer.from([0, 255])]]],
  ['ejson', 'websockets', [
    ...common.map((v) => [v]),
    [new Date(1700000000000)],
    [NaN],
    [-Infinity],
    [new Uint8Array([1, 2, 3])],
    [{ when: new Date(5), bytes: new Uint8Array([9]), ratio: Infinity }],
    // A plain object shaped like an EJSON type travels escaped, and comes back plain.
    [{ $date: 1 }],
    [{ $escape: { $binary: 'x' } }],
  ]],
  ['ejson', 'engine.io', [[new Date(7)], [new Uint8Array([4, 5])]]],
  ['binary', 'websockets', [
    // (No integers beyond 32 bits: the reference's readInt64 calls itself forever.)
    ...common.map((v) => [v]),
    [Buffer.from([1, 2, 3])],
    [{ data: Buffer.alloc(40, 1) }],
    [2 ** 32 - 1],
    [-(2 ** 31)],
  ]],
];

const ENGINE_IO = { transformer: 'engine.io' };

forEachServer('parsers', (server) => {
  for (const [parser, transformer, cases] of MATRIX) {
    const opts = transformer === 'engine.io' ? { ...ENGINE_IO, parser } : { parser };
    test(`${parser} over ${transformer}: the official client's values come back`, T, async (t) => {
      const srv = await serverFor(t, server, opts);
      const client = await connectOpen(t, srv, opts);
      for (const c of cases) {
        const [sent] = c;
        const fromReference = c.length > 1 ? c[1] : sent;
        const want = server.kind === 'rust' && c.length > 2 ? c[2] : fromReference;
        const [echo] = await roundTrip(client, sent);
        assert.deepEqual(plain(echo), plain(want), `${parser}: ${String(sent)}`);
      }
      // Protocol messages go through the same parser.
      const id = await sparkId(client);
      assert.equal(typeof id, 'string');
      assert.deepEqual(client.errors, []);
    });
  }

  for (const parser of ['msgpack', 'binary', 'ejson']) {
    test(`${parser}: a frame the parser cannot read is dropped, the connection stays`, T, async (t) => {
      const srv = await serverFor(t, server, { parser });
      const ws = await rawWs(t, srv);
      const bad = {
        msgpack: Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0x01]), // array32 of 4 billion
        binary: Buffer.from([0xb5, 0x41]), // string of 5 bytes, 1 present
        ejson: '{"a":',
      }[parser];
      ws.send(bad, { binary: parser !== 'ejson' });
      // The same connection still echoes (the echo is encoded with the parser).
      const good = {
        msgpack: Buffer.from([0xa2, 0x68, 0x69]), // "hi"
        binary: Buffer.from([0xb2, 0x68, 0x69]),
        ejson: '"hi"',
      }[parser];
      ws.send(good, { binary: parser !== 'ejson' });
      const isEcho = (m) => (typeof m === 'string' ? m === '"hi"' : Buffer.compare(m, good) === 0);
      await waitFor(() => ws.texts.some(isEcho), { what: 'the echo of the good frame' });
      // Nothing came back for the bad frame (pings aside).
      assert.equal(ws.texts.filter(isEcho).length, 1);
      assert.equal(ws.readyState, ws.OPEN);
      ws.close();
      await once(ws, 'close');
    });
  }
});
