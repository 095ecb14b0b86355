// The primus-rs browser client in headless Chromium, for each transformer: the page loads
// /primus/primus.js from our server, connects, exchanges messages, survives a server
// restart, reacts to offline/online, and ends cleanly on the server's end().
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

// webtransport (HTTP/3) needs QUIC, which the other launches keep off; its own cases are in
// webtransport.test.mjs.
for (const transformer of ['websockets', 'engine.io', 'sockjs', 'faye', 'uws', 'socket.io', 'browserchannel', 'webtransport']) {
  describe(`browser client over ${transformer}`, () => {
    let browser;
    let server;

    before(async () => {
      browser = await launchBrowser({ quic: transformer === 'webtransport' });
      server = await startServer({ transformer });
    });

    after(async () => {
      if (server) await server.stop();
      if (browser) await browser.close();
    });

    it('loads /primus/primus.js, connects, exchanges messages, gets its spark id', async () => {
      const page = await openPage(browser.context, server.port);
      const compiled = await page.evaluate(() => [Primus.prototype.transformer, Primus.prototype.pathname, Primus.prototype.defaultPingTimeout]);
      assert.deepEqual(compiled, [transformer, '/primus', 45000]);
      await connect(page, FAST);
      assert.equal(await roundTrip(page, 'hello'), 'hello');
      assert.deepEqual(await roundTrip(page, { a: [1, 2.5, null, true], s: 'ünï\u2028cödé 😀' }), { a: [1, 2.5, null, true], s: 'ünï\u2028cödé 😀' });
      assert.equal(await roundTrip(page, 0), 0);
      // Many messages in a row arrive in order.
      const many = await page.evaluate(() => new Promise((resolve) => {
        const got = [];
        const on = (d) => {
          got.push(d);
          if (got.length === 50) {
            window.primus.off('data', on);
            resolve(got);
          }
        };
        window.primus.on('data', on);
        for (let i = 0; i < 50; i++) window.primus.write(i);
      }));
      assert.deepEqual(many, [...Array(50).keys()]);
      // id() asks the server: it is the spark id, on every transformer.
      const id = await page.evaluate(() => window.primus.id());
      const info = await roundTrip(page, { cmd: 'info' });
      assert.equal(id, info.id);
      // Broadcast reaches the sender too.
      assert.equal(await roundTrip(page, 'broadcast:to everyone'), 'to everyone');
      assert.deepEqual(page.pageErrors, []);
      await page.close();
    });

    it('buffers writes made before the connection opens', async () => {
      const page = await openPage(browser.context, server.port);
      const got = await page.evaluate(() => new Promise((resolve) => {
        const p = (window.primus = new Primus({ manual: true }));
        const got = [];
        p.on('data', (d) => {
          got.push(d);
          if (got.length === 3) resolve(got);
        });
        p.write('one');
        p.write('two');
        p.write('three');
        p.open();
      }));
      assert.deepEqual(got, ['one', 'two', 'three']);
      await page.evaluate(() => window.primus.end());
      await page.close();
    });

    it('reconnects after a server restart', async () => {
      const page = await openPage(browser.context, server.port);
      await connect(page, FAST);
      const port = server.port;
      await server.stop();
      await waitEvent(page, 'reconnect scheduled');
      server = await startServer({ transformer, port });
      await waitEvent(page, 'reconnected', 1, 15000);
      await waitEvent(page, 'open', 2);
      assert.equal(await roundTrip(page, 'after restart'), 'after restart');
      const events = await page.evaluate(() => window.events);
      assert.ok(events.indexOf('close') < events.indexOf('reconnect scheduled'), JSON.stringify(events));
      assert.ok(!events.includes('end'), JSON.stringify(events));
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

    // What Chromium's emulated offline (context.setOffline) does, observed: navigator.onLine
    // flips and window `offline`/`online` fire; open WebSockets stay open but carry nothing
    // until back online; new fetches (polling) fail at once. So the client's network events
    // (end on `offline`, reconnect on `online`, strategy `online`) are what recovers.
    it('goes offline and comes back online (emulated network)', async () => {
      const page = await openPage(browser.context, server.port);
      await connect(page, FAST);
      await browser.context.setOffline(true);
      try {
        await waitEvent(page, 'offline');
        assert.equal(await page.evaluate(() => [navigator.onLine, window.primus.readyState].join()), 'false,2');
      } finally {
        await browser.context.setOffline(false);
      }
      await waitEvent(page, 'online');
      await waitEvent(page, 'open', 2);
      assert.equal(await roundTrip(page, 'back online'), 'back online');
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

    it('client end() closes the spark on the server', async () => {
      const page = await openPage(browser.context, server.port);
      await connect(page, FAST);
      const count = async () => (await roundTrip(page, { cmd: 'count' })).count;
      const n = await count();
      const other = await openPage(browser.context, server.port);
      await connect(other, FAST);
      assert.equal(await count(), n + 1);
      await other.evaluate(() => window.primus.end());
      let now = n + 1;
      for (let i = 0; i < 50 && now !== n; i++) {
        await sleep(100);
        now = await count();
      }
      assert.equal(now, n);
      await other.close();
      await page.evaluate(() => window.primus.end());
      await page.close();
    });
  });
}
