// Small shared helpers: free loopback ports, bounded polling, child-process
// bookkeeping (every child is SIGKILLed when this process exits, even on failure).
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLUSTER_DIR = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(CLUSTER_DIR, '..', '..');

/** A port that was free on 127.0.0.1 a moment ago (bound with port 0, then released). */
export async function freePort() {
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.once('error', reject);
      srv.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
        const { port: p } = srv.address();
        srv.close(() => resolve(p));
      });
    });
    if (port !== 6379) return port;
  }
  throw new Error('could not find a free loopback port');
}

/** Polls `fn` (may be async) every `interval` ms until truthy; throws after `timeout` ms. */
export async function waitFor(fn, { timeout = 5000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  const maxRounds = Math.ceil(timeout / Math.max(1, interval)) + 2;
  let last;
  for (let round = 0; round < maxRounds; round += 1) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) break;
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
}

// Children still running; SIGKILLed on exit so no Redis or node outlives the suite.
const live = new Set();
export function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
}

/** Resolves with `{code, signal}` once `child` exited; kills it with SIGKILL after `timeout`. */
export function waitExit(child, timeout = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      try { child.kill('SIGKILL'); } catch { /* gone */ }
    }, timeout);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** Keeps the last `limit` characters of a stream (for diagnostics). */
export function tail(stream, limit = 16_384) {
  const buf = { text: '' };
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf.text += chunk;
    if (buf.text.length > limit * 2) buf.text = buf.text.slice(-limit);
  });
  return buf;
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool left behind).
 * Resolves with `{status, headers, body}`; rejects after `timeout` ms.
 */
export function httpRequest({ port, method = 'GET', path: p = '/', headers = {}, body, timeout = 5000 }) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const req = http.request({
      host: '127.0.0.1',
      port,
      method,
      path: p,
      agent: false,
      headers: {
        connection: 'close',
        ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
        ...headers,
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, headers: res.headers, body: text });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`${method} ${p} timed out after ${timeout} ms`)), timeout);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}
