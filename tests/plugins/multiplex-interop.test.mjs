// The official Node Primus 8.0.9 client with the npm substream 0.2.0 client half against
// both multiplex servers: the Rust one (e2e/src/bin/multiplex-e2e.rs; target/debug/
// multiplex-e2e, or MULTIPLEX_E2E_BIN) and the Node reference
// (multiplex-reference-server.mjs). The same assertions run against both; the contract is
// at the top of multiplex-reference-server.mjs.
//
// Run: npm ci && node --test multiplex-interop.test.mjs (after cargo build -p primus-e2e).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const Primus = require('primus');
const substream = require('substream');

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const RUST_BIN = process.env.MULTIPLEX_E2E_BIN || join(targetDir, 'debug', 'multiplex-e2e');
const WAIT = 5000;

/** Start a server process; resolves with its port once it printed `listening <port>`. */
function start(cmd, args) {
  if (!existsSync(cmd) && cmd !== process.execPath) {
    throw new Error(`${cmd} is missing: run cargo build -p primus-e2e --bins`);
  }
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-10000);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in 10 s: ${stderr}`));
    }, 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          port: Number(m[1]),
          stderr: () => stderr,
          stop: () => new Promise((done) => {
            if (proc.exitCode !== null || proc.signalCode !== null) return done();
            const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
            proc.once('exit', () => {
              clearTimeout(kill);
              done();
            });
            proc.kill('SIGTERM');
          }),
        });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
}

/** Every `event` of `emitter` in order; `next()` waits (bounded) for the next one. */
function queue(emitter, event = 'data') {
  const items = [];
  const waiters = [];
  emitter.on(event, (...args) => {
    // Plain JSON copies: the client decodes with another realm's prototypes.
    const item = args[0] === undefined ? undefined : JSON.parse(JSON.stringify(args[0]));
    const w = waiters.shift();
    if (w) w(item);
    else items.push(item);
  });
  return {
    items,
    next(what = event) {
      if (items.length) return Promise.resolve(items.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} in ${WAIT} ms`)), WAIT);
        waiters.push((item) => {
          clearTimeout(timer);
          resolve(item);
        });
      });
    },
  };
}

const Socket = Primus.createSocket({ transformer: 'websockets', pathname: '/primus', plugin: { substream } });

function connect(port) {
  const client = new Socket(`http://127.0.0.1:${port}`, { strategy: false, pingTimeout: false });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no open in 5 s')), WAIT);
    client.once('open', () => {
      clearTimeout(timer);
      resolve(client);
    });
  });
}

const servers = {
  'the Rust server (multiplex-e2e)': () => start(RUST_BIN, ['--port', '0']),
  'the Node reference (Primus 8 + npm substream)': () => start(process.execPath, [join(here, 'multiplex-reference-server.mjs'), '--port', '0']),
};

for (const [label, launch] of Object.entries(servers)) {
  describe(`npm substream client against ${label}`, () => {
    let server;
    before(async () => {
      server = await launch();
    });
    after(async () => {
      if (server) await server.stop();
    });

    it('two substreams carry data both ways at once', async () => {
      const client = await connect(server.port);
      const a = client.substream('a');
      const b = client.substream('b');
      const qa = queue(a);
      const qb = queue(b);
      a.write('x1');
      b.write({ n: 1 });
      a.write([1, 2]);
      b.write(0);
      assert.equal(await qa.next('a 1'), 'x1');
      assert.deepEqual(await qb.next('b 1'), { n: 1 });
      assert.deepEqual(await qa.next('a 2'), [1, 2]);
      assert.equal(await qb.next('b 2'), 0);
      assert.deepEqual(Object.keys(client.streams).sort(), ['a', 'b']);
      client.end();
    });

    it('the server opens substreams: routed when open here, plain data otherwise', async () => {
      const client = await connect(server.port);
      const plain = queue(client);
      const srv = client.substream('srv');
      const qs = queue(srv);
      client.write('open:srv');
      assert.equal(await qs.next('srv hello'), 'hello');
      srv.write('back');
      assert.equal(await qs.next('srv echo'), 'back');
      client.write('open:loose');
      assert.deepEqual(await plain.next('loose'), { substream: 'loose', args: 'hello' });
      client.write({ substream: 1 });
      assert.deepEqual(await plain.next('plain echo'), { substream: 1 });
      client.write('just text');
      assert.equal(await plain.next('plain echo'), 'just text');
      client.end();
    });

    it('ends from either side', async () => {
      const client = await connect(server.port);
      const plain = queue(client);
      const a = client.substream('a');
      const b = client.substream('b');
      const qa = queue(a);
      const qb = queue(b);
      const aEnd = queue(a, 'end');
      const bEnd = queue(b, 'end');
      a.write(1);
      b.write(2);
      assert.equal(await qa.next(), 1);
      assert.equal(await qb.next(), 2);
      // From the client: the server sees it end.
      a.end();
      await aEnd.next('a end');
      assert.equal(await plain.next('ended:a'), 'ended:a');
      // From the server: our substream ends, no echo of the marker.
      client.write('close:b');
      await bEnd.next('b end');
      assert.equal(await plain.next('ended:b'), 'ended:b');
      assert.deepEqual(Object.keys(client.streams), []);
      // A new substream under an old name works again.
      const a2 = client.substream('a');
      const qa2 = queue(a2);
      a2.write('again');
      assert.equal(await qa2.next('a again'), 'again');
      client.end();
    });
  });
}
