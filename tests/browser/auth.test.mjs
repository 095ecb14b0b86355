// Authorization from the browser: the served library knows the server authorizes
// (`authorization: true`, so the default strategy has no `timeout`); the page's query
// reaches the authorizer on every transport; a refused client gets `error` then `end` and
// does not retry.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

for (const transformer of ['websockets', 'engine.io', 'sockjs']) {
  describe(`authorization over ${transformer}`, () => {
    let browser;
    let server;
    before(async () => {
      browser = await launchBrowser();
      server = await startServer({ transformer, auth: 'on' });
    });
    after(async () => {
      if (server) await server.stop();
      if (browser) await browser.close();
    });

    it('a good token connects; a bad one gets error and end, without retrying', async () => {
      const page = await openPage(browser.context, server.port);
      assert.deepEqual(await page.evaluate(() => [Primus.prototype.authorization, new Primus({ manual: true }).options.strategy]), [true, 'disconnect,online']);
      await connect(page, { url: `${page.url().replace(/\/__test$/, '')}/?token=good` });
      assert.equal(await roundTrip(page, 'let in'), 'let in');
      await page.evaluate(() => window.primus.end());

      await page.evaluate((url) => {
        window.events = [];
        const p = (window.primus = new Primus(url, { reconnect: { min: 50 } }));
        for (const e of ['open', 'end', 'error', 'reconnect scheduled']) p.on(e, () => window.events.push(e));
      }, `${page.url().replace(/\/__test$/, '')}/?token=bad`);
      await waitEvent(page, 'end');
      await sleep(500);
      assert.deepEqual(await page.evaluate(() => window.events), ['error', 'end']);
      await page.close();
    });
  });
}
