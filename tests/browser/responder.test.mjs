// The responder plugin's browser half (served in /primus/primus.js when the server has
// the plugin) in Chromium, against primus-e2e-server --plugins responder (the contract
// in tests/interop/reference-server.mjs): requests both ways.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage } from './lib/harness.mjs';

describe('responder plugin: browser half', () => {
  let browser;
  let server;
  before(async () => {
    browser = await launchBrowser();
    server = await startServer({ port: 0, plugins: 'responder', 'ping-interval': 'off' });
  });
  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('asks the server and answers its requests', async () => {
    const page = await openPage(browser.context, server.port);
    const result = await page.evaluate(async () => {
      const primus = new Primus();
      const within = (what, p) => Promise.race([
        p, new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} in 5 s`)), 5000)),
      ]);
      const data = [];
      primus.on('data', (d) => data.push(d));
      const ask = (q) => within(`response to ${q}`, new Promise((resolve) => primus.writeAndWait(q, resolve)));
      const echo = await ask({ q: 1 });
      primus.on('request', (q, done) => done(`${q} from the page`));
      const reverse = await ask('reverse');
      primus.end();
      return { echo, reverse, data };
    });
    assert.deepEqual(result.echo, { echo: { q: 1 } });
    assert.deepEqual(result.reverse, { 'client said': 'q? from the page' });
    assert.deepEqual(result.data, [], 'envelopes are not data');
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });
});
