// The emitter plugin's browser half (served in /primus/primus.js when the server has the
// plugin) in Chromium, against primus-e2e-server --plugins emitter (the contract in
// tests/interop/reference-server.mjs): events both ways, acknowledgements both ways,
// plain data beside events.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage } from './lib/harness.mjs';

describe('emitter plugin: browser half', () => {
  let browser;
  let server;
  before(async () => {
    browser = await launchBrowser();
    server = await startServer({ port: 0, plugins: 'emitter', 'ping-interval': 'off' });
  });
  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('sends and receives events with acknowledgements', async () => {
    const page = await openPage(browser.context, server.port);
    const result = await page.evaluate(async () => {
      const primus = new Primus();
      const within = (what, p) => Promise.race([
        p, new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} in 5 s`)), 5000)),
      ]);
      const data = [];
      primus.on('data', (d) => data.push(d));
      const echo = await within('echo', new Promise((resolve) => {
        primus.on('echo', (...args) => resolve(args));
        primus.send('echo', 'x', 2, { a: [1] });
      }));
      const answer = await within('ack', new Promise((resolve) => {
        primus.send('ask', 'q', (...args) => resolve(args));
      }));
      primus.on('question', (q, ack) => ack('reply to', q));
      const quiz = await within('quiz-result', new Promise((resolve) => {
        primus.on('quiz-result', (...args) => resolve(args));
        primus.send('quiz');
      }));
      const plain = await within('plain echo', new Promise((resolve) => {
        primus.on('data', resolve);
        primus.write({ plain: true });
      }));
      primus.end();
      return { echo, answer, quiz, plain, data, plugins: Object.keys(primus.plugin()) };
    });
    assert.deepEqual(result.echo, ['x', 2, { a: [1] }]);
    assert.deepEqual(result.answer, ['answer', 'q']);
    assert.deepEqual(result.quiz, ['reply to', 'q?']);
    assert.deepEqual(result.plain, { plain: true });
    assert.deepEqual(result.data, [{ plain: true }], 'emitter packets are not data');
    assert.ok(result.plugins.includes('emitter'));
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });
});
