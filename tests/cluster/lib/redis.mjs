// A throw-away redis-server on a free loopback port (never 6379), no persistence.
// Health is checked with a raw RESP PING over `net`; no Redis npm package.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { freePort, sleep, tail, track, waitExit } from './util.mjs';

export const REDIS_BIN = process.env.REDIS_SERVER_BIN || 'redis-server';
const START_TIMEOUT_MS = 10_000;

/** Sends one RESP `PING`; resolves true on `+PONG`, false on any error or after `timeout` ms. */
export function ping(port, timeout = 500) {
  return new Promise((resolve) => {
    let done = false;
    let reply = '';
    const socket = net.connect({ host: '127.0.0.1', port });
    const finish = (ok) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeout);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(false));
  });
}

class Redis {
  constructor(port) {
    this.port = port;
    this.url = `redis://127.0.0.1:${port}`;
    this.child = null;
    this.output = { text: '' };
    this.starts = 0;
  }

  async start() {
    if (this.child) throw new Error('redis already running');
    const child = track(spawn(REDIS_BIN, [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
    ], { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.child = child;
    this.starts += 1;
    const out = tail(child.stdout, 8192);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c) => { out.text += c; });
    this.output = out;
    let spawnError = null;
    child.once('error', (err) => { spawnError = err; });

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (let round = 0; round < 200 && Date.now() < deadline; round += 1) {
      if (spawnError) {
        this.child = null;
        throw new Error(`could not start ${REDIS_BIN}: ${spawnError.message}`);
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        this.child = null;
        throw new Error(`redis-server exited early (${child.exitCode ?? child.signalCode}):\n${out.text}`);
      }
      if (await ping(this.port)) return this;
      await sleep(50);
    }
    await this.stop();
    throw new Error(`redis-server on ${this.port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${out.text}`);
  }

  /** SIGKILL and wait for the exit. */
  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await waitExit(child, 5000);
  }

  /** A fresh, empty Redis on the same port. */
  async restart() {
    await this.stop();
    return this.start();
  }

  get running() {
    return this.child !== null;
  }
}

/** Starts Redis on a free port (a few attempts, in case another process took the port). */
export async function startRedis() {
  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const redis = new Redis(await freePort());
    try {
      return await redis.start();
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
