// `primus serve` (the demo binary) with the server options a demo or a smoke test needs:
// --max-length, --queue, --config file.toml|json (flags win over the file), and
// --tls-cert/--tls-key, driven with the real `ws` client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './lib/servers.mjs';
import { once, waitFor, WebSocket } from './lib/client.mjs';

const T = { timeout: 60_000 };
const BIN = process.env.PRIMUS_CLI_BIN || path.join(REPO_ROOT, 'target', 'debug', 'primus');
const TLS = path.join(REPO_ROOT, 'crates', 'primus', 'tests', 'server_tls');

/** Start `primus serve --port 0 ...flags`; resolves with {port, stop} once it listens. */
async function serve(t, flags) {
  assert.ok(existsSync(BIN), `build the binary first (cargo build -p primus-rs): ${BIN}`);
  const child = spawn(BIN, ['serve', '--port', '0', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 10_000);
    child.stdout.on('data', (c) => {
      out += c;
      const m = /^listening (\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`exited ${code}: ${stderr}`)); });
  });
  return { port, child };
}

/** Run `primus serve` expecting it to refuse to start; resolves with {code, stderr}. */
function serveFails(flags) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['serve', '--port', '0', ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('it started')); }, 10_000);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

async function open(t, url, options = {}) {
  const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, ...options });
  ws.texts = [];
  ws.on('message', (data) => ws.texts.push(data.toString('utf8')));
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await once(ws, 'open', 5000);
  return ws;
}

async function spec(port, pathname) {
  const res = await fetch(`http://127.0.0.1:${port}${pathname}/spec`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, `${pathname}/spec`);
  return res.json();
}

/** A 500-byte message is echoed, a 2000-byte one closes the socket with 1009. */
async function assertMaxLength1000(t, url) {
  const ws = await open(t, url);
  const small = JSON.stringify('s'.repeat(498));
  ws.send(small);
  await waitFor(() => ws.texts.includes(small), { timeout: 3000, what: 'echo of 500 bytes' });
  const closed = once(ws, 'close', 5000);
  ws.send(JSON.stringify('b'.repeat(1998)));
  const [code] = await closed;
  assert.equal(code, 1009);
}

function tmp(name, text) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'primus-serve-'));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('serve --max-length 1000: 500 bytes echo, 2000 bytes close with 1009', T, async (t) => {
  const { port } = await serve(t, ['--max-length', '1000']);
  await assertMaxLength1000(t, `ws://127.0.0.1:${port}/primus`);
});

test('serve --config file.toml: pathname, heartbeat and max length from the file', T, async (t) => {
  const file = tmp('primus.toml', 'pathname = "/cfg"\npingInterval = false\nmaxLength = 1000\n');
  const { port } = await serve(t, ['--config', file]);
  const body = await spec(port, '/cfg');
  assert.equal(body.pathname, '/cfg');
  assert.equal(body.pingInterval, false);
  await assertMaxLength1000(t, `ws://127.0.0.1:${port}/cfg`);
});

test('serve --config file.json with flags on top: the flags win', T, async (t) => {
  const file = tmp('primus.json', JSON.stringify({ pathname: '/json', max_length: 1000, pingInterval: 1234 }));
  const { port } = await serve(t, ['--config', file, '--pathname', '/flag']);
  const body = await spec(port, '/flag');
  assert.equal(body.pathname, '/flag');
  assert.equal(body.pingInterval, 1234, 'from the file');
  await assertMaxLength1000(t, `ws://127.0.0.1:${port}/flag`);
});

test('serve --config with a bad file refuses to start and names the file', T, async () => {
  const bad = tmp('broken.toml', 'maxLength = "ten"\n');
  const toml = await serveFails(['--config', bad]);
  assert.notEqual(toml.code, 0);
  assert.match(toml.stderr, /broken\.toml/);
  assert.match(toml.stderr, /TOML/);
  const yaml = await serveFails(['--config', tmp('primus.yaml', 'a: 1\n')]);
  assert.notEqual(yaml.code, 0);
  assert.match(yaml.stderr, /\.toml or \.json/);
});

test('serve --tls-cert/--tls-key: wss with the test CA, echo', T, async (t) => {
  const { port } = await serve(t, [
    '--tls-cert', path.join(TLS, 'cert.pem'),
    '--tls-key', path.join(TLS, 'key.pem'),
  ]);
  const ws = await open(t, `wss://localhost:${port}/primus`, { ca: readFileSync(path.join(TLS, 'ca.pem')) });
  ws.send('"secure"');
  await waitFor(() => ws.texts.includes('"secure"'), { timeout: 3000, what: 'echo over TLS' });
});

/**
 * A reader that stops reading while 400 broadcasts of 64 KB (25 MB, more than the socket
 * buffers hold) go out; how many it gets once it reads again, and whether it was closed.
 */
async function slowReader(t, port) {
  const url = `ws://127.0.0.1:${port}/primus`;
  const slow = await open(t, url);
  let closed = false;
  slow.on('close', () => { closed = true; });
  slow._socket.pause();
  const sender = await open(t, url);
  const payload = 'p'.repeat(64 * 1024);
  for (let i = 0; i < 400; i += 1) sender.send(JSON.stringify(`broadcast:${payload}`));
  // The sender reads its own copies: every broadcast went out by then.
  await waitFor(() => sender.texts.length === 400, { timeout: 30_000, what: 'the sender to get 400 broadcasts' });
  slow._socket.resume();
  await waitFor(() => closed || slow.texts.length === 400, { timeout: 30_000, what: 'the slow reader to catch up or close' });
  return { received: slow.texts.length, closed };
}

test('serve --queue 4: a reader that stalls is dropped; the default queue keeps it', T, async (t) => {
  const small = await serve(t, ['--queue', '4', '--ping-interval', 'off']);
  const dropped = await slowReader(t, small.port);
  assert.equal(dropped.closed, true, 'dropped as too slow');
  assert.ok(dropped.received < 400, `got ${dropped.received} of 400`);

  const big = await serve(t, ['--ping-interval', 'off']);
  const kept = await slowReader(t, big.port);
  assert.equal(kept.received, 400);
  assert.equal(kept.closed, false);
});
