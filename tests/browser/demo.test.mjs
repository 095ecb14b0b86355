// The demo page of `primus serve` (README's first command) in Chromium: it connects, shows
// state, transformer and parser, latency from the ping timestamp, the reconnect countdown
// and attempt while the server is away, and the drop-all button makes every client
// reconnect. Screenshots of the connected and the reconnecting page land in
// tests/browser/screenshots/.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, PRIMUS_BIN, sleep } from './lib/harness.mjs';

const shots = join(import.meta.dirname, 'screenshots');

describe('demo page (primus serve)', () => {
  let browser;
  let server;
  before(async () => {
    mkdirSync(shots, { recursive: true });
    browser = await launchBrowser();
    server = await startServer({ port: 0, 'ping-interval': 500 }, PRIMUS_BIN, ['serve']);
  });
  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('connects, echoes, shows latency; screenshot while connected', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 900, height: 760 });
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForSelector('body[data-state="open"]');
    assert.equal(await page.textContent('#transformer'), 'websockets');
    assert.equal(await page.textContent('#parser'), 'json');
    await page.fill('#message', 'hello from the demo');
    await page.click('button[type=submit]');
    await page.waitForSelector('#log li.in');
    assert.match(await page.textContent('#log li.in'), /hello from the demo/);
    await page.waitForSelector('body[data-latency]');
    assert.match(await page.textContent('#latency'), /^\d+ ms$/);
    await page.waitForFunction(() => /^[\w-]{6,}$/.test(document.getElementById('spark').textContent));
    await page.screenshot({ path: join(shots, 'demo-connected.png') });
    await page.close();
  });

  it('shows the reconnect countdown while the server is away; screenshot while reconnecting', async () => {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: 900, height: 760 });
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.waitForSelector('body[data-state="open"]');
    const port = server.port;
    await server.stop();
    // Attempt 1 fails (server down); attempt 2 waits 1 to 2 s: catch its countdown.
    await page.waitForSelector('body[data-attempt="2"]', { timeout: 10000 });
    assert.match(await page.textContent('#reconnect'), /attempt 2 of 10 in \d+\.\d s/);
    await page.screenshot({ path: join(shots, 'demo-reconnecting.png') });
    server = await startServer({ port, 'ping-interval': 500 }, PRIMUS_BIN, ['serve']);
    await page.waitForSelector('body[data-state="open"]', { timeout: 15000 });
    assert.equal(await page.textContent('#reconnect'), '–');
    await page.close();
  });

  it('the drop-all button makes the server end every connection; clients reconnect', async () => {
    const a = await browser.context.newPage();
    const b = await browser.context.newPage();
    for (const p of [a, b]) {
      await p.goto(`http://127.0.0.1:${server.port}/`);
      await p.waitForSelector('body[data-state="open"]');
      await p.waitForFunction(() => /^[\w-]{6,}$/.test(document.getElementById('spark').textContent));
    }
    const before = await b.textContent('#spark');
    await a.click('#drop');
    for (const p of [a, b]) {
      await p.waitForFunction(() => [...document.querySelectorAll('#log li')].some((li) => /reconnected after/.test(li.textContent)));
      await p.waitForSelector('body[data-state="open"]');
    }
    await b.waitForFunction((old) => /^[\w-]{6,}$/.test(document.getElementById('spark').textContent) && document.getElementById('spark').textContent !== old, before);
    await sleep(50);
    await a.close();
    await b.close();
  });
});
