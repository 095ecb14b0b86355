// The example plugin (crates/primus/examples/plugin.rs) in Chromium: its server half
// greets each spark, its browser half (appended to /primus/primus.js) turns the greeting
// into a `greeting` event and `primus.greeting` instead of ordinary data.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { repo, startServer, launchBrowser, openPage } from './lib/harness.mjs';

const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const EXAMPLE = join(targetDir, 'debug', 'examples', 'plugin');

describe('example plugin: server half and browser half', () => {
  let browser;
  let server;
  before(async () => {
    assert.ok(existsSync(EXAMPLE), `${EXAMPLE} is missing: cargo build -p primus-rs --example plugin`);
    browser = await launchBrowser();
    server = await startServer({ port: 0 }, EXAMPLE);
  });
  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('greets through the plugin and keeps ordinary data flowing', async () => {
    const page = await openPage(browser.context, server.port);
    const result = await page.evaluate(async () => {
      const primus = new Primus();
      const data = [];
      primus.on('data', (d) => data.push(d));
      const greeting = await new Promise((resolve, reject) => {
        setTimeout(() => reject(new Error('no greeting event in 5 s')), 5000);
        primus.on('greeting', resolve);
      });
      primus.write({ echo: 'still data' });
      await new Promise((resolve) => {
        const t = setInterval(() => {
          if (data.length) {
            clearInterval(t);
            resolve();
          }
        }, 20);
        setTimeout(() => { clearInterval(t); resolve(); }, 5000);
      });
      const id = await primus.id();
      primus.end();
      return { greeting, property: primus.greeting, data, id, plugins: Object.keys(primus.plugin()) };
    });
    assert.equal(result.greeting, `welcome ${result.id}`);
    assert.equal(result.property, result.greeting);
    assert.deepEqual(result.data, [{ echo: 'still data' }], 'the greeting is not data');
    assert.ok(result.plugins.includes('greeter'));
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });
});
