// engine.io transformer, Engine.IO protocol 3: the official Primus 7 client (npm
// `primus@7.3.5`, which bundles engine.io-client 3) against a Primus 8 server with
// protocol 3 enabled: the real Node one (`transport: {allowEIO3: true}`, in this
// process) and ours (`engineio-e2e --primus --allow-eio3`, i.e. `allow_eio3: true`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { RUST_BIN, startServer } from './lib/servers.mjs';
import {
  Primus7, connect, connectOpen, once, roundTrip, sleep, socketClass, waitFor,
} from './lib/client.mjs';

const require = createRequire(import.meta.url);
const Primus8 = require('primus');

// In Node, the Primus 7 client takes the global `eio`, else `require('engine.io-client')`,
// which here is version 6 (whose export is not callable). Its own era's client,
// engine.io-client 3 (npm alias `engine.io-client3`), is handed over as `eio` while the
// client class is compiled (the compiled sandbox copies the globals).
globalThis.eio = require('engine.io-client3');
socketClass('/primus', 'engine.io', 'json', Primus7);
delete globalThis.eio;

const T = { timeout: 20_000 };
const ENGINEIO_BIN = path.join(path.dirname(RUST_BIN), 'engineio-e2e');
const V7 = { transformer: 'engine.io', lib: Primus7 };

/** The real Node Primus 8 server, engine.io with allowEIO3, in this process. */
async function nodeServer(t, allowEIO3 = true) {
  const server = http.createServer((req, res) => {
    res.writeHead(404);
    res.end();
  });
  const primus = new Primus8(server, { transformer: 'engine.io', transport: { allowEIO3 } });
  primus.on('connection', (spark) => {
    spark.on('data', (data) => {
      if (data && data.cmd === 'end') return spark.end(data.data);
      if (data && data.cmd === 'info') return spark.write({ id: spark.id, query: spark.query });
      spark.write(data);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => primus.destroy({ close: true }));
  const { port } = server.address();
  return { port, url: `http://127.0.0.1:${port}`, pathname: '/primus' };
}

/** Ours: `engineio-e2e --primus [--allow-eio3]`. */
async function rustServer(t, allowEIO3 = true) {
  const handle = await startServer({
    name: 'engineio-e2e',
    kind: 'rust',
    command: ENGINEIO_BIN,
    args: ['--primus', ...(allowEIO3 ? ['--allow-eio3'] : [])],
  });
  t.after(() => handle.stop());
  return handle;
}

for (const [name, start] of [['reference (node primus 8.0.9, allowEIO3)', nodeServer], ['rust (engineio-e2e, allow_eio3)', rustServer]]) {
  describe(`engine.io protocol 3 [${name}]`, () => {
    test('Primus 7 client: open, echo, id, upgrade, server end', T, async (t) => {
      const srv = await start(t);
      const client = await connectOpen(t, srv, V7);
      for (const value of ['ünï ☃ 😀', { a: [1, null, { b: 'c' }] }, 0, '', 'x'.repeat(100_000)]) {
        const [echo] = await roundTrip(client, value);
        assert.deepEqual(echo, value);
      }
      const [me] = await roundTrip(client, { cmd: 'info' });
      assert.equal(me.query.EIO, '3', 'the Primus 7 client speaks Engine.IO 3');
      await waitFor(() => client.socket.transport.name === 'websocket', { what: 'the upgrade' });
      for (let i = 0; i < 30; i += 1) client.write(i);
      for (let i = 0; i < 30; i += 1) assert.equal(await client.inbox.value(), i);
      const id = await new Promise((resolve) => client.id(resolve));
      assert.equal(id, me.id, 'id() (the sid) is the spark id');
      const ended = once(client, 'end', 10_000);
      client.write({ cmd: 'end', data: 'bye' });
      assert.equal(await client.inbox.value(), 'bye');
      await ended;
    });

    test('Primus 7 client with websockets: false stays on polling', T, async (t) => {
      const srv = await start(t);
      const client = await connectOpen(t, srv, { ...V7, websockets: false });
      for (let i = 0; i < 20; i += 1) client.write({ i });
      for (let i = 0; i < 20; i += 1) assert.deepEqual(await client.inbox.value(), { i });
      await sleep(200);
      assert.equal(client.socket.transport.name, 'polling');
    });

    test('without protocol 3 enabled the Primus 7 client cannot connect', T, async (t) => {
      const srv = await start(t, false);
      const client = connect(t, srv, { ...V7, reconnect: { min: 100, max: 200, retries: 1 } });
      let opened = false;
      client.on('open', () => { opened = true; });
      await sleep(1000);
      assert.equal(opened, false);
    });
  });
}
