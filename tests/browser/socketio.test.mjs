// The socket.io transport of our browser client in Chromium: it upgrades from polling to
// WebSocket (or stays on polling with `websockets: false`), and it shares one server with
// pages running npm socket.io-client 4.8.1 (its browser bundle, pinned in package.json):
// a broadcast reaches both kinds of client, and a socket.io-client `send` reaches ours.
// The transport's packet decoder is also driven by hand with binary packets our server does
// not send. The per-transformer cases (messages, restart, offline, end) are in
// transformers.test.mjs, binary frames as attachments in parsers.test.mjs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

// The package's exports map hides its dist folder from require.resolve: take the file.
const SOCKET_IO_CLIENT = join(fileURLToPath(new URL('.', import.meta.url)), 'node_modules/socket.io-client/dist/socket.io.min.js');

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

describe('socket.io transport in Chromium', () => {
  let browser;
  let server;
  before(async () => {
    browser = await launchBrowser();
    server = await startServer({ transformer: 'socket.io' });
  });
  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('upgrades from polling to websocket and keeps messages in order', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    await page.waitForFunction(() => window.primus.socket && window.primus.socket.transport === 'websocket');
    assert.equal(await page.evaluate(() => window.primus.socket.connected), true);
    const got = await page.evaluate(() => new Promise((resolve) => {
      const got = [];
      window.primus.on('data', (d) => got.push(d) === 20 && resolve(got));
      for (let i = 0; i < 20; i++) window.primus.write(i);
    }));
    assert.deepEqual(got, [...Array(20).keys()]);
    const big = 'z'.repeat(300000);
    assert.equal(await roundTrip(page, big), big);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('websockets:false stays on long-polling, both directions, server end()', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, { ...FAST, websockets: false });
    await sleep(300);
    assert.equal(await page.evaluate(() => window.primus.socket.transport), 'polling');
    assert.equal(await roundTrip(page, 'over polling'), 'over polling');
    await page.evaluate(() => window.primus.write({ cmd: 'end', data: 'bye' }));
    await waitEvent(page, 'end');
    assert.deepEqual(await page.evaluate(() => window.received.slice(-1)), ['bye']);
    assert.ok(!(await page.evaluate(() => window.events)).includes('reconnect scheduled'));
    await page.close();
  });

  it('shares the server with npm socket.io-client pages', async () => {
    const ours = await openPage(browser.context, server.port);
    await connect(ours, FAST);
    const theirs = await browser.context.newPage();
    await theirs.goto(`http://127.0.0.1:${server.port}/__test`);
    await theirs.setContent('<!doctype html><html><head><meta charset="utf-8"></head><body></body></html>');
    await theirs.addScriptTag({ path: SOCKET_IO_CLIENT });
    // socket.io-client sees Primus messages as `message` events carrying the JSON text.
    await theirs.evaluate((port) => new Promise((resolve, reject) => {
      window.got = [];
      const socket = (window.socket = io(`http://127.0.0.1:${port}`, { path: '/primus', reconnection: false }));
      socket.on('message', (text) => {
        if (!text.startsWith('"primus::ping::')) window.got.push(JSON.parse(text));
      });
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    }), server.port);
    const theirId = await theirs.evaluate(() => window.socket.id);
    // Both are sparks of the same server: `count` sees them.
    const { count } = await roundTrip(ours, { cmd: 'count' });
    assert.ok(count >= 2, `count ${count}`);
    // Our broadcast reaches them; theirs reaches us.
    assert.equal(await roundTrip(ours, 'broadcast:from primus'), 'from primus');
    await theirs.waitForFunction(() => window.got.includes('from primus'));
    const fromThem = ours.evaluate(() => new Promise((resolve) => window.primus.once('data', resolve)));
    await theirs.evaluate(() => window.socket.send(JSON.stringify('broadcast:from socket.io-client')));
    assert.equal(await fromThem, 'from socket.io-client');
    // The socket.io id is the spark id: `info` from them answers with it.
    await theirs.evaluate(() => window.socket.send(JSON.stringify({ cmd: 'info' })));
    await theirs.waitForFunction(() => window.got.some((m) => m && m.id));
    assert.equal(await theirs.evaluate(() => window.got.find((m) => m && m.id).id), theirId);
    assert.deepEqual(ours.pageErrors, []);
    await theirs.evaluate(() => window.socket.close());
    await ours.evaluate(() => window.primus.end());
    await theirs.close();
    await ours.close();
  });

  it('every binary packet claims its attachment, whatever its namespace or type', async () => {
    // Our server sends binary events on `/` only; a Socket.IO server may send them on other
    // namespaces and as binary acks. The transport's socket is driven by hand here, its
    // Engine.IO layer left out: each binary packet must take the attachment after it.
    const page = await openPage(browser.context, server.port);
    const seen = await page.evaluate(() => {
      let make;
      const engineClient = Primus.engineClient;
      Primus.engineClient = (primus, name, factory) => {
        make = factory;
      };
      Primus.transports['socket.io'].call({ transport: {} });
      Primus.engineClient = engineClient;
      const socket = make('http://127.0.0.1:1/primus/', '', { websocket: false });
      const seen = [];
      socket.sendMessage = (m) => seen.push('sent ' + m);
      socket.onopen = () => seen.push('open');
      socket.onmessage = (d) => seen.push(typeof d === 'string' ? d : 'bytes ' + [...new Uint8Array(d)].join(','));
      socket.fail = (err) => seen.push('fail ' + (err && err.message));
      const bytes = (...b) => new Uint8Array(b).buffer;
      socket.receive('0{"sid":"s"}');
      socket.receive('51-/chat,["message",{"_placeholder":true,"num":0}]');
      socket.receive(bytes(1));
      socket.receive('61-4[{"_placeholder":true,"num":0}]');
      socket.receive(bytes(2));
      socket.receive('51-7["message",{"_placeholder":true,"num":0}]');
      socket.receive(bytes(3));
      socket.receive('2["message","text"]');
      return seen;
    });
    assert.deepEqual(seen, ['open', 'sent 37[]', 'bytes 3', 'text']);
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });
});
