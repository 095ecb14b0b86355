// The emitter plugin: the official Primus client with the npm primus-emitter client half
// (3.1.1) against Node Primus + npm primus-emitter and against our server with our
// emitter plugin, same contract (`--plugins emitter`, see reference-server.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { forEachServer, serverFor } from './lib/servers.mjs';
import { once, rawWs, toLocalRealm, waitFor } from './lib/client.mjs';

const require = createRequire(import.meta.url);
const Primus = require('primus');
const emitterPlugin = require('primus-emitter');

const T = { timeout: 20_000 };
const Socket = Primus.createSocket({ transformer: 'websockets', plugin: { emitter: emitterPlugin } });

async function open(t, srv) {
  const client = new Socket(srv.url, { reconnect: { min: 50, max: 200, retries: 3 } });
  client.on('error', () => {});
  t.after(() => client.destroy());
  await once(client, 'open', 5000);
  return client;
}

/** The next `event` on `client`, its arguments in this realm. */
async function next(client, event) {
  return toLocalRealm(await once(client, event, 5000));
}

forEachServer('emitter plugin (npm primus-emitter client)', (server) => {
  test('events both ways, several arguments, none, nested values', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'emitter', pingInterval: 'off' });
    const client = await open(t, srv);
    const echo = next(client, 'echo');
    client.send('echo', 'x', 2, { a: [1, null, true] });
    assert.deepStrictEqual(await echo, ['x', 2, { a: [1, null, true] }]);
    const none = next(client, 'echo');
    client.send('echo');
    assert.deepStrictEqual(await none, []);
  });

  test('acknowledgements: client → server and server → client', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'emitter', pingInterval: 'off' });
    const client = await open(t, srv);
    const reply = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ack')), 5000);
      client.send('ask', 'q', 7, (...args) => { clearTimeout(timer); resolve(toLocalRealm(args)); });
    });
    assert.deepStrictEqual(reply, ['answer', 'q', 7]);

    client.on('question', (q, ack) => ack('reply to', q));
    const result = next(client, 'quiz-result');
    client.send('quiz');
    assert.deepStrictEqual(await result, ['reply to', 'q?']);
  });

  test('a broadcast event reaches every client', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'emitter', pingInterval: 'off' });
    const a = await open(t, srv);
    const b = await open(t, srv);
    const got = [next(a, 'all'), next(b, 'all')];
    a.send('shout', 'hi');
    assert.deepStrictEqual(await Promise.all(got), [['hi'], ['hi']]);
  });

  test('plain writes still work beside events; a reserved event name does not reach handlers', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'emitter', pingInterval: 'off' });
    const client = await open(t, srv);
    const data = once(client, 'data', 5000);
    client.write({ plain: 1 });
    assert.deepStrictEqual(toLocalRealm((await data)[0]), { plain: 1 });
    // `end` is reserved on the server side: it must not end the spark or be answered.
    client.send('end', 'x');
    const echo = next(client, 'echo');
    client.send('echo', 'still here');
    assert.deepStrictEqual(await echo, ['still here']);
  });

  test('byte-level frames match the npm plugin', T, async (t) => {
    const srv = await serverFor(t, server, { plugins: 'emitter', pingInterval: 'off' });
    const ws = await rawWs(t, srv);
    ws.send('{"type":0,"data":["ask","q"],"id":1}');
    await waitFor(() => ws.texts.length >= 1, { timeout: 3000, what: 'ack frame' });
    assert.equal(ws.texts[0], '{"id":1,"type":1,"data":["answer","q"]}');
    ws.send('{"type":0,"data":["echo",{"a":1}]}');
    await waitFor(() => ws.texts.length >= 2, { timeout: 3000, what: 'event frame' });
    assert.equal(ws.texts[1], '{"type":0,"data":["echo",{"a":1}]}');
  });
});
