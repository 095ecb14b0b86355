// What is particular to the `webtransport` transformer (HTTP/3, beyond the reference) in
// headless Chromium with QUIC on; the cases every transformer passes (messages, buffering,
// restart, end with and without reconnect, offline/online, client end) run for it in
// transformers.test.mjs. Here: the page loads /primus/primus.js from primus-e2e-server (plain
// HTTP; its UDP endpoint has a self-signed certificate whose hash GET /primus/webtransport
// publishes) and connects with the WebTransport API; a 1 MB message; the query and the UDP
// address reach the spark; hashes given in `transport` skip the lookup; a restarted server's
// new certificate is looked up again. The binary
// parser over webtransport is a case of parsers.test.mjs.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openPage, connect, waitEvent, roundTrip } from './lib/harness.mjs';

const FAST = { reconnect: { min: 100, max: 1000, retries: 30 } };

describe('browser client over webtransport: its own cases', () => {
  let browser;
  let server;
  const published = async () => (await (await fetch(`http://127.0.0.1:${server.port}/primus/webtransport`)).json());

  before(async () => {
    browser = await launchBrowser({ quic: true });
    server = await startServer({ transformer: 'webtransport' });
  });

  after(async () => {
    if (server) await server.stop();
    if (browser) await browser.close();
  });

  it('opens a WebTransport session on the published port, carries 1 MB, reports query and address', async () => {
    const info = await published();
    assert.equal(info.port, server.port, 'UDP on the TCP port number');
    assert.equal(info.serverCertificateHashes.length, 1);
    const page = await openPage(browser.context, server.port);
    await connect(page, { ...FAST, url: `http://127.0.0.1:${server.port}/?room=lobby` });
    assert.equal(await page.evaluate(() => window.primus.socket.constructor.name), 'WebTransportSocket');
    const big = 'y'.repeat(1024 * 1024);
    assert.equal((await roundTrip(page, big, 10000)).length, big.length);
    const spark = await roundTrip(page, { cmd: 'info' });
    assert.equal(spark.query.room, 'lobby');
    assert.equal(spark.address.ip, '127.0.0.1');
    assert.deepEqual(page.pageErrors, []);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it('takes transport.serverCertificateHashes as given, without the lookup', async () => {
    const { value } = (await published()).serverCertificateHashes[0];
    const page = await openPage(browser.context, server.port);
    let lookups = 0;
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/primus/webtransport') lookups++;
    });
    await page.evaluate((value) => {
      const bytes = Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
      window.hashes = [{ algorithm: 'sha-256', value: bytes }];
    }, value);
    await connect(page, { ...FAST, transport: { serverCertificateHashes: await page.evaluate(() => window.hashes) } });
    assert.equal(await roundTrip(page, 'trusted by hash'), 'trusted by hash');
    assert.equal(lookups, 0);
    await page.evaluate(() => window.primus.end());
    await page.close();
  });

  it("finds a restarted server's new self-signed certificate", async () => {
    const page = await openPage(browser.context, server.port);
    await connect(page, FAST);
    const port = server.port;
    const before = (await published()).serverCertificateHashes[0].value;
    await server.stop();
    await waitEvent(page, 'reconnect scheduled');
    server = await startServer({ transformer: 'webtransport', port });
    assert.notEqual((await published()).serverCertificateHashes[0].value, before);
    await waitEvent(page, 'open', 2, 15000);
    assert.equal(await roundTrip(page, 'new certificate'), 'new certificate');
    await page.evaluate(() => window.primus.end());
    await page.close();
  });
});
