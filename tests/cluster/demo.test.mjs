// The demo server as a cluster: two `primus serve --redis <url>` processes (the binary's
// own flags, no test server) share one Redis; the demo's `broadcast:<text>` written to one
// reaches the clients of both, once. The official npm client connects to each.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startRedis } from './lib/redis.mjs';
import { connectClient } from './lib/client.mjs';
import { REPO_ROOT, sleep, tail, track, waitExit } from './lib/util.mjs';

const PRIMUS_BIN = process.env.PRIMUS_BIN
  ? path.resolve(process.env.PRIMUS_BIN)
  : path.join(path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || 'target'), 'debug', 'primus');

/** `primus serve --port 0 --redis url`; resolves with its port once it printed it. */
function serve(redisPort) {
  const child = track(spawn(PRIMUS_BIN, ['serve', '--port', '0', '--ping-interval', 'off',
    '--redis', `redis://127.0.0.1:${redisPort}/`, '--cluster-prefix', 'demo'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const stderr = tail(child.stderr);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`primus serve did not start: ${stderr.text}`)), 20_000);
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr });
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${PRIMUS_BIN} (cargo build -p primus-rs --bin primus, or set PRIMUS_BIN): ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`primus serve exited (${code}): ${stderr.text}`));
    });
  });
}

let redis;
let servers = [];
let clients = [];

before(async () => {
  redis = await startRedis();
  servers = await Promise.all([serve(redis.port), serve(redis.port)]);
  clients = await Promise.all(servers.map((s, i) => connectClient(s.port, { label: `demo${i}` })));
});

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const s of servers) {
    s.child.kill('SIGTERM');
    await waitExit(s.child, 5000).catch(() => s.child.kill('SIGKILL'));
  }
  if (redis) await redis.stop();
});

test('the demo broadcast reaches the clients of both `primus serve --redis` servers once', async () => {
  const text = `hello-${process.pid}-${Date.now()}`;
  clients[0].write(`broadcast:${text}`);
  for (const c of clients) {
    await c.waitFor((me) => me.received.includes(text), 5000, `the demo broadcast on ${c.label}`);
  }
  await sleep(300);
  for (const c of clients) {
    assert.equal(c.received.filter((v) => v === text).length, 1, `${c.label} got it once`);
  }
  // Plain messages stay an echo to the sender only.
  clients[1].write('just an echo');
  await clients[1].waitFor((me) => me.received.includes('just an echo'), 5000, 'the echo');
  await sleep(200);
  assert.equal(clients[0].received.includes('just an echo'), false);
});
