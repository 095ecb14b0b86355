// The responder plugin: the official Primus client with the npm primus-responder client
// half (1.0.4) against Node Primus + npm primus-responder and against our server with our
// responder plugin, same contract (`--plugins responder`, see reference-server.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { forEachServer, serverFor } from './lib/servers.mjs';
import { once, rawWs, toLocalRealm, waitFor } from './lib/client.mjs';

const require = createRequire(import.meta.url);
const Primus = require('primus');
const responderPlugin = require('primus-responder');

const T = { timeout: 20_000 };
const Socket = Primus.createSocket({ transformer: 'websockets', plugin: { responder: responderPlugin } });

async function open(t, srv) {
  const client = new Socket(srv.url, { reconnect: { min: 50, max: 200, retries: 3 } });
  client.on('error', () => {});
  t.after(() => client.destroy());
  await once(client, 'open', 5000);
  return client;
}

function ask(client, data) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response in 5 s')), 5000);
    client.writeAndWait(data, (response) => { clearTimeout(timer); resolve(toLocalRealm(response)); });
  });
}

forEachServer('responder plugin (npm primus-responder client)', (server) => {
  test('client → server requests, several in flight', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'responder', pingInterval: 'off' });
    const client = await open(t, srv);
    const answers = await Promise.all([ask(client, { q: 1 }), ask(client, 'two'), ask(client, [3])]);
    assert.deepStrictEqual(answers, [{ echo: { q: 1 } }, { echo: 'two' }, { echo: [3] }]);
  });

  test('server → client request inside a client request', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'responder', pingInterval: 'off' });
    const client = await open(t, srv);
    client.on('request', (data, done) => done(`${data} answered`));
    assert.deepStrictEqual(await ask(client, 'reverse'), { 'client said': 'q? answered' });
  });

  test('envelopes do not reach data; plain writes do', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'responder', pingInterval: 'off' });
    const ws = await rawWs(t, srv);
    ws.send('{"plugin":"primus-responder","requestId":"r-1","data":5}');
    await waitFor(() => ws.texts.length >= 1, { timeout: 3000, what: 'response frame' });
    assert.equal(ws.texts[0], '{"plugin":"primus-responder","responseId":"r-1","data":{"echo":5}}');
    ws.send('{"plain":1}');
    await waitFor(() => ws.texts.length >= 2, { timeout: 3000, what: 'echo' });
    assert.equal(ws.texts[1], '{"plain":1}');
  });
});
