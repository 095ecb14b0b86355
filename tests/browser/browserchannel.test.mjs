// What is particular to the primus-rs browser client over the `browserchannel` transformer
// (our own fetch-based transport, not the closure-compiled BCSocket) in headless Chromium;
// the common behaviour (restart, offline, ends) is in transformers.test.mjs. Here: the wire
// as the page sees it (forward-channel POSTs of `req<N>__S` maps, batched; a streaming back
// channel reopened after the server ends it), text that needs escaping both ways, the
// server's end reported as `Stopped by server` and acknowledged with a terminate, the
// writes of end(data) made while a POST is in flight still sent before the terminate,
// large writes batched within the server's body limit, binary parsers refused by the
// transport, and a session whose answer comes after the client ended terminated at once.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip, sleep } from './lib/harness.mjs';

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

/**
 * In the page: write `[i, long]` for i in 0..n at once (an echo server), and resolve with
 * the `i` of each echo in arrival order; rejects after 10 s.
 */
function echoBurst(page, n, long) {
  return page.evaluate(([n, long]) => new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => reject(new Error(`${got.length} of ${n} echoes in 10 s; events: ${window.events}`)), 10000);
    const on = (d) => {
      got.push(d[0]);
      if (got.length === n) {
        clearTimeout(timer);
        window.primus.off('data', on);
        resolve(got);
      }
    };
    window.primus.on('data', on);
    for (let i = 0; i < n; i++) window.primus.write([i, long]);
  }), [n, long]);
}

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
    const got = await echoBurst(page, 100, 'x'.repeat(300));
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

  it("reports the server's end as `Stopped by server`, acknowledges it, ends without reconnecting", async () => {
    const page = await openPage(browser.context, server.port);
    const terminates = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/primus/bind' && u.searchParams.get('TYPE') === 'terminate') terminates.push(Object.fromEntries(u.searchParams));
    });
    await connect(page, FAST);
    await page.evaluate(() => window.primus.write({ cmd: 'end', data: 'bye' }));
    await waitEvent(page, 'end');
    await sleep(500);
    const [events, received, sid, stopId] = await page.evaluate(() => [window.events, window.received, window.primus.socket.sid, window.primus.socket.lastArrayId]);
    assert.deepEqual(received, ['bye']);
    assert.deepEqual(events.slice(-4), ['error:Stopped by server', 'readyStateChange:end', 'close', 'end']);
    // The stop is acknowledged with one terminate of this session whose AID is the stop's
    // id: after the session array (0), `bye` and `primus::server::close` at least.
    assert.equal(terminates.length, 1, JSON.stringify(terminates));
    assert.equal(terminates[0].SID, sid);
    assert.equal(terminates[0].AID, String(stopId));
    assert.ok(stopId >= 3, `stop id ${stopId}`);
    await page.close();
  });

  it('end(data) right after a burst still sends every write, then terminates', async () => {
    const watcher = await openPage(browser.context, server.port);
    await connect(watcher, FAST);
    const page = await openPage(browser.context, server.port);
    const requests = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/primus/bind') requests.push({ method: r.method(), type: u.searchParams.get('TYPE'), body: r.postData() });
    });
    await connect(page, FAST);
    // The e2e server writes `broadcast:<text>` to every spark: the watcher sees what the
    // server got. The first write's POST is in flight when end() runs.
    await page.evaluate(() => {
      for (let i = 0; i < 20; i++) window.primus.write('broadcast:' + i);
      window.primus.end('broadcast:bye');
    });
    const want = [...Array(20).keys()].map(String).concat('bye');
    await watcher.waitForFunction((n) => window.received.length >= n, want.length, { timeout: 10000 });
    assert.deepEqual(await watcher.evaluate(() => window.received), want);
    // The terminate goes out after the last POST.
    for (let i = 0; i < 50 && !requests.some((r) => r.type === 'terminate'); i++) await sleep(50);
    const last = requests.map((r) => (r.type === 'terminate' ? 'terminate' : r.method)).filter((m) => m !== 'GET');
    assert.equal(last[last.length - 1], 'terminate', JSON.stringify(last));
    assert.ok(last.filter((m) => m === 'POST').length >= 2, JSON.stringify(last));
    assert.deepEqual(page.pageErrors, []);
    await page.close();
    await watcher.evaluate(() => window.primus.end());
    await watcher.close();
  });

  it('batches large writes within the body limit the server keeps', async () => {
    // A server whose max_length is 1000: 64 writes of 400 × "é" (2.4 KB each
    // percent-encoded) in one POST would be ~155 KB, over its 3 × 1000 + 64 KiB.
    const small = await startServer({ transformer: 'browserchannel', 'max-length': 1000 });
    try {
      const page = await openPage(browser.context, small.port);
      const posts = [];
      page.on('request', (r) => {
        const u = new URL(r.url());
        if (u.pathname === '/primus/bind' && r.method() === 'POST' && u.searchParams.has('SID')) posts.push((r.postData() || '').length);
      });
      await connect(page, FAST);
      const got = await echoBurst(page, 64, 'é'.repeat(400));
      assert.deepEqual(got, [...Array(64).keys()]);
      assert.ok(posts.length >= 3, `${posts.length} POSTs`);
      assert.ok(posts.every((n) => n <= 3 * 1000 + 65536), JSON.stringify(posts));
      assert.ok(!(await page.evaluate(() => window.events)).includes('close'));
      await page.evaluate(() => window.primus.end());
      await page.close();
    } finally {
      await small.stop();
    }
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
    // The held session's id, read from its answer, and every terminate the page sends.
    let heldSid = null;
    const terminated = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname === '/primus/bind' && u.searchParams.get('TYPE') === 'terminate') terminated.push(u.searchParams.get('SID'));
    });
    await page.route(/\/primus\/bind\?/, async (route) => {
      const req = route.request();
      if (req.method() !== 'POST' || new URL(req.url()).searchParams.has('SID')) return route.continue();
      seen();
      await held;
      const response = await route.fetch();
      const body = await response.text();
      const created = JSON.parse(body.slice(body.indexOf('\n') + 1))[0];
      heldSid = created[1][1];
      await route.fulfill({ response, body });
    });
    await page.evaluate((fast) => {
      window.early = new Primus(fast);
    }, FAST);
    await seenPost;
    await page.evaluate(() => window.early.end());
    release();
    // The session answer arrives after end(): the transport terminates that session at
    // once, well before the server's 30 s session timeout.
    for (let i = 0; i < 50 && !(heldSid && terminated.includes(heldSid)); i++) await sleep(50);
    assert.ok(heldSid, 'the held session was answered');
    assert.deepEqual(terminated, [heldSid]);
    let now = await count();
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
