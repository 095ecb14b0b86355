// What is particular to the primus-rs browser client over the `browserchannel` transformer
// (our own fetch-based transport, not the closure-compiled BCSocket) in headless Chromium;
// the common behaviour (restart, offline, ends) is in transformers.test.mjs. Here: the wire
// as the page sees it (forward-channel POSTs of `req<N>__S` maps, batched; a streaming back
// channel reopened after the server ends it), text that needs escaping both ways, the
// server's end reported as `Stopped by server`, binary parsers refused by the transport,
// and a session whose answer comes after the client ended terminated at once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

describe('browser client over browserchannel: the wire', () => {
  let browser;
  let server;

  before(async () => {
    browser = await launchBrowser();
    server = await startServer({ transformer: 'browserchannel', 'ping-interval': 400 });
  });

  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('batches writes into few POSTs, reopens the back channel, escapes what needs it', async () => {
    const page = await openPage(browser.context, server.port);
    const requests = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/primus/bind') requests.push({ method: r.method(), params: Object.fromEntries(u.searchParams), body: r.postData() });
    });
    await connect(page, FAST);
    assert.equal(await page.evaluate(() => window.primus.socket.constructor.name), 'BrowserChannelSocket');
    const create = requests[0];
    assert.equal(create.method, 'POST');
    assert.equal(create.body, 'count=0');
    assert.equal(create.params.VER, '8');
    assert.equal(create.params._primuscb, undefined);
    const tricky = { s: 'a&b=c%d+e f\n\u2028 ünï 😀', q: '"quoted"\\', e: '' };
    assert.deepEqual(await roundTrip(page, tricky), tricky);
    // 100 writes of 300 characters: 30 KB, more than the 10 KiB after which the server
    // ends a back channel, so it is reopened (with the last array id as AID).
    const before = requests.length;
    const got = await page.evaluate(() => new Promise((resolve) => {
      const got = [];
      const on = (d) => {
        got.push(d[0]);
        if (got.length === 100) {
          window.primus.off('data', on);
          resolve(got);
        }
      };
      window.primus.on('data', on);
      const long = 'x'.repeat(300);
      for (let i = 0; i < 100; i++) window.primus.write([i, long]);
    }));
    assert.deepEqual(got, [...Array(100).keys()]);
    const burst = requests.slice(before);
    const posts = burst.filter((r) => r.method === 'POST');
    const backs = burst.filter((r) => r.method === 'GET' && r.params.TYPE === 'xmlhttp');
    assert.ok(posts.length >= 1 && posts.length < 50, `${posts.length} POSTs for 100 writes`);
    assert.match(posts[0].body, /^count=\d+&ofs=\d+&req0__S=%5B0%2C%22x/);
    assert.ok(backs.length >= 2, `${backs.length} back channels`);
    assert.ok(backs.every((r) => r.params.RID === 'rpc' && r.params.CI === '0' && Number(r.params.AID) > 0), JSON.stringify(backs.map((r) => r.params)));
    // Pings every 400 ms are answered over the forward channel: still open.
    await sleep(1200);
    assert.equal(await page.evaluate(() => window.primus.readyState), 3);
    assert.ok(!(await page.evaluate(() => window.events)).includes('close'));
    assert.deepEqual(page.pageErrors, []);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it("reports the server's end as `Stopped by server`, then ends without reconnecting", async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    await page.evaluate(() => window.primus.write({ cmd: 'end', data: 'bye' }));
    await waitEvent(page, 'end');
    await sleep(500);
    const [events, received] = await page.evaluate(() => [window.events, window.received]);
    assert.deepEqual(received, ['bye']);
    assert.deepEqual(events.slice(-4), ['error:Stopped by server', 'readyStateChange:end', 'close', 'end']);
    await page.close();
  });

  it('refuses binary frames (the protocol carries strings)', async () => {
    const page = await openPage(browser.context, server.port);
    const err = await page.evaluate(() => new Promise((resolve) => {
      const Binary = Primus.createSocket({ transformer: 'browserchannel', parser: 'binary' });
      const p = (window.binary = new Binary(location.origin, { reconnect: { retries: 0 } }));
      p.on('error', (e) => resolve(e.message));
      p.on('open', () => p.write({ a: 1 }));
    }));
    assert.match(err, /carries text only/);
    await page.evaluate(() => window.binary.end());
    await page.close();
  });
});

describe('browser client over browserchannel: sessions', () => {
  let browser;
  let server;

  before(async () => {
    browser = await launchBrowser();
    // Default heartbeat (30 s): nothing but the transport ends a session within the test.
    server = await startServer({ transformer: 'browserchannel' });
  });

  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('a client ended while its session is being made terminates that session', async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    const count = async () => (await roundTrip(page, { cmd: 'count' })).count;
    const n = await count();
    // Hold the next session request (a POST without SID) until the client has ended.
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    let seen;
    const seenPost = new Promise((resolve) => {
      seen = resolve;
    });
    await page.route(/\/primus\/bind\?/, async (route) => {
      const req = route.request();
      if (req.method() === 'POST' && !new URL(req.url()).searchParams.has('SID')) {
        seen();
        await held;
      }
      await route.continue();
    });
    await page.evaluate((fast) => {
      window.early = new Primus(fast);
    }, FAST);
    await seenPost;
    await page.evaluate(() => window.early.end());
    release();
    // The session answer arrives after end(): the transport terminates it at once, well
    // before the server's 30 s session timeout.
    let now = n + 1;
    for (let i = 0; i < 30 && now !== n; i++) {
      await sleep(100);
      now = await count();
    }
    assert.equal(now, n);
    await page.unroute(/\/primus\/bind\?/);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });
});
