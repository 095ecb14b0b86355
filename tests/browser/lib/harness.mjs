// Shared helpers of the browser suite: the Rust e2e server (contract at the top of
// tests/interop/reference-server.mjs) and headless Chromium (Debian's /usr/bin/chromium
// driven by playwright-core; no browser is ever downloaded).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = join(here, '..', '..', '..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
export const SERVER_BIN = process.env.PRIMUS_SERVER_BIN || join(targetDir, 'debug', 'primus-e2e-server');
export const PRIMUS_BIN = process.env.PRIMUS_BIN || join(targetDir, 'debug', 'primus');
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Start a server binary (`pre` = leading arguments, e.g. `['serve']`) with `--flag value`s;
 * resolves once it printed `listening <port>`.
 */
export function startServer(flags = {}, bin = SERVER_BIN, pre = []) {
  const args = [...pre];
  for (const [k, v] of Object.entries(flags)) args.push('--' + k, String(v));
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run cargo build --workspace --bins`);
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
    if (stderr.length > 20000) stderr = stderr.slice(-10000);
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
          proc,
          stderr: () => stderr,
          stop: () => stopProcess(proc),
        });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${stderr}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
export function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
    proc.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    proc.kill('SIGTERM');
  });
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * A headless Chromium with a fresh profile; `close()` removes the profile. QUIC is off
 * (`--disable-quic`) unless `quic: true`: the webtransport suite needs HTTP/3.
 */
export async function launchBrowser({ quic = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'primus-browser-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: quic ? CHROMIUM_ARGS.filter((a) => a !== '--disable-quic') : CHROMIUM_ARGS,
    timeout: 30000,
  });
  context.setDefaultTimeout(10000);
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Open a page whose origin is the server's and load `<pathname>/primus.js` in it. The page
 * is the server's own 404 answer for `/__test` with our HTML written over it (so its origin
 * and address space are the server's: Chromium's local-network-access checks would block a
 * page that request interception made up), then the script loads from the server.
 */
export async function openPage(context, port, { pathname = '/primus', html = '' } = {}) {
  const origin = `http://127.0.0.1:${port}`;
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${origin}/__test`);
  await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><script src="${pathname}/primus.js"></script></head><body>${html}</body></html>`);
  await page.waitForFunction(() => typeof window.Primus === 'function');
  page.pageErrors = errors;
  return page;
}

/**
 * In the page: make `window.primus` with every public event recorded in `window.events`
 * and every `data` in `window.received`.
 */
export async function connect(page, options = {}) {
  await page.evaluate((options) => {
    window.events = [];
    window.received = [];
    const p = (window.primus = new Primus(options));
    for (const e of ['open', 'end', 'close', 'reconnect', 'reconnect scheduled', 'reconnected', 'reconnect failed', 'timeout', 'online', 'offline', 'error', 'destroy']) {
      p.on(e, (arg) => window.events.push(e === 'error' ? 'error:' + (arg && arg.message) : e));
    }
    p.on('readyStateChange', (s) => window.events.push('readyStateChange:' + s));
    p.on('data', (d) => window.received.push(d));
  }, options);
  await waitEvent(page, 'open');
}

/** Wait until `event` was recorded `count` times in the page. */
export async function waitEvent(page, event, count = 1, timeout = 10000) {
  try {
    await page.waitForFunction(([e, n]) => window.events.filter((x) => x === e).length >= n, [event, count], { timeout });
  } catch (err) {
    const events = await page.evaluate(() => window.events).catch(() => '?');
    throw new Error(`no ${count}× "${event}" within ${timeout} ms; events: ${JSON.stringify(events)}`);
  }
}

/** Write `data` and wait for the next `data` event; resolves with what came back. */
export async function roundTrip(page, data, timeout = 5000) {
  return page.evaluate(([data, timeout]) => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no answer in time')), timeout);
    window.primus.once('data', (d) => {
      clearTimeout(t);
      resolve(d);
    });
    window.primus.write(data);
  }), [data, timeout]);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
