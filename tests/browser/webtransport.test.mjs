// The primus-rs browser client over the `webtransport` transformer (HTTP/3, beyond the
// reference) in headless Chromium with QUIC on: the page loads /primus/primus.js from
// primus-e2e-server (plain HTTP; its UDP endpoint has a self-signed certificate whose hash
// GET /primus/webtransport publishes), connects with the WebTransport API, exchanges messages
// both ways (a binary parser too), gets its spark id, sees the server's end with and without
// reconnect, and comes back after a server restart (a new certificate, looked up again).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

describe('browser client over webtransport', () => {
  let browser;
  let server;

  before(async () => {
    browser = await launchBrowser({ quic: true });
    server = await startServer({ transformer: 'webtransport' });
  });

  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('connects over WebTransport, exchanges messages both ways, gets its spark id', async () => {
    const page = await openPage(browser.context, server.port);
    assert.equal(await page.evaluate(() => Primus.prototype.transformer), 'webtransport');
    await connect(page, FAST);
    assert.equal(await page.evaluate(() => window.primus.socket.constructor.name), 'WebTransportSocket');
    assert.equal(await roundTrip(page, 'hello'), 'hello');
    const tricky = { s: 'two\nlines\r\nand\rcr', u: 'ünï\u2028cödé 😀', e: '', a: [1, 2.5, null, true] };
    assert.deepEqual(await roundTrip(page, tricky), tricky);
    assert.equal(await roundTrip(page, 0), 0);
    const many = await page.evaluate(() => new Promise((resolve) => {
      const got = [];
      const on = (d) => {
        got.push(d);
        if (got.length === 200) {
          window.primus.off('data', on);
          resolve(got);
        }
      };
      window.primus.on('data', on);
      for (let i = 0; i < 200; i++) window.primus.write(i);
    }));
    assert.deepEqual(many, [...Array(200).keys()]);
    const big = 'y'.repeat(1024 * 1024);
    assert.equal((await roundTrip(page, big, 10000)).length, big.length);
    const id = await page.evaluate(() => window.primus.id());
    const info = await roundTrip(page, { cmd: 'info' });
    assert.equal(id, info.id);
    assert.equal(info.address.ip, '127.0.0.1');
    assert.match(info.query._primuscb, /./, 'the query reaches the spark');
    assert.equal(await roundTrip(page, 'broadcast:to everyone'), 'to everyone');
    assert.deepEqual(page.pageErrors, []);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('reconnects when the server drops every connection (end with reconnect)', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    const before = (await roundTrip(page, { cmd: 'info' })).id;
    await page.evaluate(() => window.primus.write({ cmd: 'end-all', reconnect: true }));
    await waitEvent(page, 'reconnected');
    await waitEvent(page, 'open', 2);
    const after = (await roundTrip(page, { cmd: 'info' })).id;
    assert.notEqual(before, after, 'a reconnect is a new spark');
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it("ends cleanly on the server's end(): data, end, no reconnect", async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    await page.evaluate(() => window.primus.write({ cmd: 'end', data: 'bye' }));
    await waitEvent(page, 'end');
    await sleep(700);
    const [events, received, state] = await page.evaluate(() => [window.events, window.received, window.primus.readyState]);
    assert.deepEqual(received, ['bye']);
    assert.equal(state, 2);
    assert.ok(!events.includes('reconnect scheduled'), JSON.stringify(events));
    assert.deepEqual(events.slice(-3), ['readyStateChange:end', 'close', 'end']);
    await page.close();
  });

  it('client end() ends the spark on the server', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    const count = async () => (await roundTrip(page, { cmd: 'count' })).count;
    const n = await count();
    const other = await openPage(browser.context, server.port);
    await connect(other, FAST);
    assert.equal(await count(), n + 1);
    await other.evaluate(() => window.primus.end());
    let now = n + 1;
    for (let i = 0; i < 30 && now !== n; i++) {
      await sleep(100);
      now = await count();
    }
    assert.equal(now, n);
    await other.close();
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('reconnects after a server restart (a new self-signed certificate)', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    const port = server.port;
    const hash = async () => (await (await fetch(`http://127.0.0.1:${port}/primus/webtransport`)).json()).serverCertificateHashes[0].value;
    const oldHash = await hash();
    await server.stop();
    await waitEvent(page, 'reconnect scheduled');
    server = await startServer({ transformer: 'webtransport', port });
    assert.notEqual(await hash(), oldHash);
    await waitEvent(page, 'reconnected', 1, 15000);
    await waitEvent(page, 'open', 2);
    assert.equal(await roundTrip(page, 'after restart'), 'after restart');
    const events = await page.evaluate(() => window.events);
    assert.ok(events.indexOf('close') < events.indexOf('reconnect scheduled'), JSON.stringify(events));
    assert.ok(!events.includes('end'), JSON.stringify(events));
    await page.evaluate(() => window.primus.end());
    await page.close();
  });
});

describe('binary parser over webtransport', () => {
  let browser;
  let server;

  before(async () => {
    browser = await launchBrowser({ quic: true });
    server = await startServer({ transformer: 'webtransport', parser: 'binary', 'ping-interval': 400 });
  });

  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('carries binary frames both ways and answers pings', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    const got = await page.evaluate(async () => {
      const echo = (v) => new Promise((resolve) => {
        window.primus.once('data', resolve);
        window.primus.write(v);
      });
      return [await echo({ a: 'x'.repeat(70000).length, s: 'line\nbreak', n: [1, 2, 3] }), await echo('text')];
    });
    assert.deepEqual(got, [{ a: 70000, s: 'line\nbreak', n: [1, 2, 3] }, 'text']);
    // Pings every 400 ms are answered: still open after several.
    await sleep(1500);
    assert.equal(await page.evaluate(() => window.primus.readyState), 3);
    assert.ok(!(await page.evaluate(() => window.events)).includes('close'));
    await page.evaluate(() => window.primus.end());
    await page.close();
  });
});
