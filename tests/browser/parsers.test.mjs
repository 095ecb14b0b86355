// The browser client's own parser codecs (msgpack, binary, ejson) against the Rust parsers:
// every value the server decodes and echoes comes back equal, protocol messages (id, ping)
// go through the same codec.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect } from './lib/harness.mjs';

const CASES = [
  // [transformer, parser, extra client options]
  ['websockets', 'msgpack', {}],
  ['websockets', 'binary', {}],
  ['websockets', 'ejson', {}],
  ['engine.io', 'msgpack', {}],
  ['engine.io', 'binary', { websockets: false }],
  ['engine.io', 'ejson', {}],
  ['sockjs', 'ejson', {}],
  // socket.io: binary frames as attachments, over WebSocket and over polling.
  ['socket.io', 'binary', {}],
  ['socket.io', 'msgpack', { websockets: false }],
  ['webtransport', 'binary', {}],
];

/** Echo a list of values in the page; values are built there (binary, dates). */
async function echoAll(page, parser) {
  return page.evaluate(async (parser) => {
    const values = [
      'plain', '', 'ünï😀\u2028', 0, 1, -1, 127, 128, 255, 256, -33, 65535, 70000, -70000, 2 ** 31, 2 ** 40,
      -(2 ** 40), 1.5, -0.25, true, false, null, [], {}, [1, [2, [3]]],
      { nested: { list: [1, 'two', { three: 3 }] }, 'key with space': 'v' },
      'x'.repeat(70000),
    ];
    values.push(new Uint8Array([0, 1, 2, 250, 255]));
    // BinaryPack takes integral doubles for integers: 1e300 is `Invalid integer` there.
    if (parser !== 'binary') values.push(1e300);
    if (parser === 'ejson') values.push(new Date(1700000000123), { $date: 'looks typed' }, NaN, -Infinity);
    const send = (v) => new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no echo for ' + String(v).slice(0, 40))), 5000);
      window.primus.once('data', (d) => {
        clearTimeout(t);
        resolve(d);
      });
      window.primus.write(v);
    });
    const norm = (v) => {
      if (v instanceof ArrayBuffer) return { bytes: [...new Uint8Array(v)] };
      if (ArrayBuffer.isView(v)) return { bytes: [...new Uint8Array(v.buffer, v.byteOffset, v.byteLength)] };
      if (v instanceof Date) return { date: v.getTime() };
      if (typeof v === 'number' && !Number.isFinite(v)) return { num: String(v) };
      if (Array.isArray(v)) return v.map(norm);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
      return v;
    };
    const out = [];
    for (const v of values) out.push([norm(v), norm(await send(v))]);
    return out;
  }, parser);
}

for (const [transformer, parser, options] of CASES) {
  describe(`${parser} parser over ${transformer}${options.websockets === false ? ' (polling)' : ''}`, () => {
    let browser;
    let server;
    before(async () => {
      browser = await launchBrowser({ quic: transformer === 'webtransport' });
      server = await startServer({ transformer, parser, 'ping-interval': 400 });
    });
    after(async () => {
      if (server) await server.stop();
      if (browser) await browser.close();
    });

    it('echoes every kind of value, answers pings, asks its id', async () => {
      const page = await openPage(browser.context, server.port);
      assert.equal(await page.evaluate(() => Primus.prototype.parser), parser);
      await connect(page, options);
      for (const [sent, got] of await echoAll(page, parser)) assert.deepEqual(got, sent);
      const [id, pongs] = await page.evaluate(() => new Promise((resolve) => {
        let pongs = 0;
        window.primus.on('outgoing::pong', () => pongs++);
        window.primus.id((id) => setTimeout(() => resolve([id, pongs]), 900));
      }));
      assert.match(id, /^[\w-]+$/);
      if (parser === 'binary') {
        const err = await page.evaluate(() => new Promise((resolve) => {
          window.primus.once('error', (e) => resolve(e.message));
          window.primus.write(1e300);
        }));
        assert.equal(err, 'Invalid integer');
      }
      assert.ok(pongs >= 1, `pongs: ${pongs}`);
      assert.deepEqual(await page.evaluate(() => window.events.filter((e) => e !== 'open' && !e.startsWith('error:Invalid integer'))), ['readyStateChange:opening', 'readyStateChange:open']);
      await page.evaluate(() => window.primus.end());
      await page.close();
    });
  });
}
