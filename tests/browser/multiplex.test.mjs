// The multiplex plugin's browser half (served in /primus/primus.js when the server has the
// plugin) in Chromium, against target/debug/multiplex-e2e (MULTIPLEX_E2E_BIN overrides; the
// contract is at the top of e2e/src/bin/multiplex-e2e.rs): two substreams both ways, the
// server opening substreams (routed, plain data, accepted with primus.on('substream')),
// ends from either side, limits refused.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, launchBrowser, openPage, repo } from './lib/harness.mjs';

const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const BIN = process.env.MULTIPLEX_E2E_BIN || join(targetDir, 'debug', 'multiplex-e2e');

describe('multiplex plugin: browser half', () => {
  let browser;
  let server;
  before(async () => {
    browser = await launchBrowser();
    server = await startServer({ port: 0 }, BIN);
  });
  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('opens, writes, accepts and ends substreams', async () => {
    const page = await openPage(browser.context, server.port);
    const result = await page.evaluate(async () => {
      const within = (what, p) => Promise.race([
        p, new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${what} in 5 s`)), 5000)),
      ]);
      const next = (emitter, event = 'data') => new Promise((resolve) => emitter.once(event, resolve));
      const primus = new Primus();
      await within('open', next(primus, 'open'));
      const out = {};

      const a = primus.substream('a');
      const b = primus.substream('b');
      const aData = [];
      const bData = [];
      a.on('data', (d) => aData.push(d));
      b.on('data', (d) => bData.push(d));
      const twoEach = new Promise((resolve) => {
        const check = () => aData.length >= 2 && bData.length >= 2 && resolve();
        a.on('data', check);
        b.on('data', check);
      });
      a.write('x1');
      b.write({ n: 1 });
      a.write([1, 2]);
      b.write(null);
      await within('echoes', twoEach);
      out.aData = aData;
      out.bData = bData;
      out.same = primus.substream('a') === a;

      const srv = primus.substream('srv');
      let got = next(srv);
      primus.write('open:srv');
      out.srv = await within('srv hello', got);

      got = next(primus);
      primus.write('open:loose');
      out.loose = await within('loose', got);

      got = new Promise((resolve) => primus.once('substream', (sub) => sub.once('data', (d) => resolve([sub.name, d]))));
      primus.write('open:acc');
      out.accepted = await within('accepted', got);

      got = next(primus);
      const aEnded = next(a, 'end');
      a.end();
      await within('a end', aEnded);
      out.endedA = await within('ended:a', got);
      out.writeAfterEnd = a.write('late');

      got = next(primus);
      const bEnded = next(b, 'end');
      primus.write('close:b');
      await within('b end', bEnded);
      out.endedB = await within('ended:b', got);
      out.streams = Object.keys(primus.streams).sort();

      try {
        primus.substream('n'.repeat(300));
        out.longName = 'accepted';
      } catch (e) {
        out.longName = e.message;
      }
      try {
        srv.write('substream::end');
        out.marker = 'sent';
      } catch (e) {
        out.marker = e.message;
      }
      const allEnded = Promise.all(Object.values(primus.streams).map((s) => next(s, 'end')));
      primus.end();
      await within('substreams to end with the connection', allEnded);
      out.afterEnd = Object.keys(primus.streams);
      out.plugins = Object.keys(primus.plugin());
      return out;
    });
    assert.deepEqual(result.aData, ['x1', [1, 2]]);
    assert.deepEqual(result.bData, [{ n: 1 }, null]);
    assert.equal(result.same, true);
    assert.equal(result.srv, 'hello');
    assert.deepEqual(result.loose, { substream: 'loose', args: 'hello' });
    assert.deepEqual(result.accepted, ['acc', 'hello']);
    assert.equal(result.endedA, 'ended:a');
    assert.equal(result.writeAfterEnd, false);
    assert.equal(result.endedB, 'ended:b');
    assert.deepEqual(result.streams, ['acc', 'srv']);
    assert.match(result.longName, /longer than 256 bytes/);
    assert.match(result.marker, /end marker/);
    assert.deepEqual(result.afterEnd, []);
    assert.ok(result.plugins.includes('multiplex'));
    assert.deepEqual(page.pageErrors, []);
    await page.close();
  });
});
