// Transport details in Chromium: engine.io upgrades to WebSocket (or stays on polling with
// `websockets: false`); sockjs falls back to xhr-streaming and xhr-polling; the Primus
// heartbeat keeps a connection alive and its timeout reconnects a silent one.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

describe('transports in Chromium', () => {
  let browser;
  const servers = {};
  before(async () => {
    browser = await launchBrowser();
    servers.eio = await startServer({ transformer: 'engine.io' });
    servers.sockjs = await startServer({ transformer: 'sockjs' });
    servers.fastPing = await startServer({ transformer: 'websockets', 'ping-interval': 200 });
    servers.noPing = await startServer({ transformer: 'websockets', 'ping-interval': 'off' });
  });
  after(async () => {
    for (const s of Object.values(servers)) await s.stop();
    if (browser) await browser.close();
  });

  it('engine.io: upgrades from polling to websocket and keeps messages in order', async () => {
    const page = await openPage(browser.context, servers.eio.port);
    await connect(page, FAST);
    await page.waitForFunction(() => window.primus.socket && window.primus.socket.transport === 'websocket');
    const got = await page.evaluate(() => new Promise((resolve) => {
      const got = [];
      window.primus.on('data', (d) => got.push(d) === 20 && resolve(got));
      for (let i = 0; i < 20; i++) window.primus.write(i);
    }));
    assert.deepEqual(got, [...Array(20).keys()]);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('engine.io: websockets:false stays on long-polling, both directions, server end()', async () => {
    const page = await openPage(browser.context, servers.eio.port);
    await connect(page, { ...FAST, websockets: false });
    await sleep(300);
    assert.equal(await page.evaluate(() => window.primus.socket.transport), 'polling');
    assert.equal(await roundTrip(page, 'over polling'), 'over polling');
    await page.evaluate(() => window.primus.write({ cmd: 'end-all', reconnect: true }));
    await waitEvent(page, 'reconnected');
    assert.equal(await roundTrip(page, 'again'), 'again');
    await page.evaluate(() => window.primus.write({ cmd: 'end' }));
    await waitEvent(page, 'end');
    await page.close();
  });

  for (const t of ['xhr-streaming', 'xhr-polling']) {
    it(`sockjs: ${t} when asked (transport.transports), reconnects, ends`, async () => {
      const page = await openPage(browser.context, servers.sockjs.port);
      await connect(page, { ...FAST, transport: { transports: [t] } });
      assert.equal(await page.evaluate(() => window.primus.socket.transport), t);
      assert.equal(await roundTrip(page, 'over ' + t), 'over ' + t);
      const big = 'y'.repeat(200000);
      assert.equal(await roundTrip(page, big), big);
      await page.evaluate(() => window.primus.write({ cmd: 'end-all', reconnect: true }));
      await waitEvent(page, 'reconnected');
      assert.equal(await roundTrip(page, 'again'), 'again');
      await page.evaluate(() => window.primus.write({ cmd: 'end', data: 'bye' }));
      await waitEvent(page, 'end');
      assert.deepEqual(await page.evaluate(() => window.received.slice(-1)), ['bye']);
      await page.close();
    });
  }

  it('sockjs: websockets:false skips the WebSocket transport', async () => {
    const page = await openPage(browser.context, servers.sockjs.port);
    await connect(page, { ...FAST, websockets: false });
    assert.equal(await page.evaluate(() => window.primus.socket.transport), 'xhr-streaming');
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('the ES module build (?esm) imports and connects', async () => {
    const page = await browser.context.newPage();
    await page.goto(`http://127.0.0.1:${servers.eio.port}/__esm`);
    await page.setContent(`<!doctype html><script type="module">
      import Primus, { Primus as Named } from '/primus/primus.js?esm';
      window.same = Primus === Named;
      window.noGlobal = typeof window.Primus === 'undefined';
      const p = new Primus();
      p.on('data', (d) => (window.echoed = d));
      p.write('from a module');
    </script>`);
    await page.waitForFunction(() => window.echoed === 'from a module');
    assert.deepEqual(await page.evaluate(() => [window.same, window.noGlobal]), [true, true]);
    await page.close();
  });

  it('heartbeat: pings are answered and the connection stays up', async () => {
    const page = await openPage(browser.context, servers.fastPing.port);
    assert.equal(await page.evaluate(() => Primus.prototype.defaultPingTimeout), 300);
    await connect(page, FAST);
    const pongs = await page.evaluate(() => new Promise((resolve) => {
      let n = 0;
      window.primus.on('outgoing::pong', () => n++);
      setTimeout(() => resolve(n), 1200);
    }));
    assert.ok(pongs >= 4, `pongs: ${pongs}`);
    assert.ok(!(await page.evaluate(() => window.events)).includes('close'));
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('heartbeat: no ping within pingTimeout → offline, close, reconnect', async () => {
    const page = await openPage(browser.context, servers.noPing.port);
    assert.equal(await page.evaluate(() => Primus.prototype.defaultPingTimeout), false);
    await connect(page, { ...FAST, pingTimeout: 300 });
    await waitEvent(page, 'offline');
    await waitEvent(page, 'reconnected');
    const events = await page.evaluate(() => window.events);
    const i = events.indexOf('offline');
    assert.deepEqual(events.slice(i, i + 4), ['offline', 'readyStateChange:end', 'close', 'reconnect scheduled']);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('connect timeout against a server that never answers → timeout, then reconnect attempts', async () => {
    const page = await openPage(browser.context, servers.noPing.port);
    // The server answers, so make the attempt hang with a transport that never opens.
    const events = await page.evaluate(() => new Promise((resolve) => {
      const RealWS = window.WebSocket;
      window.WebSocket = class extends EventTarget {
        constructor() {
          super();
          this.readyState = 0;
        }
        close() {}
        send() {}
      };
      window.WebSocket.OPEN = 1;
      const events = [];
      const p = new Primus({ timeout: 200, reconnect: { min: 50, retries: 2, 'reconnect timeout': 100 } });
      for (const e of ['timeout', 'reconnect scheduled', 'reconnect', 'reconnect timeout', 'end', 'reconnect failed']) p.on(e, () => events.push(e));
      p.on('reconnect failed', () => {
        window.WebSocket = RealWS;
        resolve(events);
      });
    }));
    assert.deepEqual(events, ['timeout', 'reconnect scheduled', 'reconnect', 'reconnect timeout', 'reconnect scheduled', 'reconnect', 'reconnect timeout', 'end', 'reconnect failed']);
    await page.close();
  });
});
