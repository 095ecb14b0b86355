// Starting and stopping the two servers under test (see the contract at the top
// of ../reference-server.mjs), and the per-server `describe` blocks.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'node:test';

const here = path.dirname(fileURLToPath(import.meta.url));
export const INTEROP_DIR = path.resolve(here, '..');
export const REPO_ROOT = path.resolve(INTEROP_DIR, '..', '..');

export const RUST_BIN =
  process.env.PRIMUS_SERVER_BIN || path.join(REPO_ROOT, 'target', 'debug', 'primus-e2e-server');
const REFERENCE_ONLY = process.env.PRIMUS_INTEROP_REFERENCE_ONLY === '1';
const RUST_ONLY = process.env.PRIMUS_INTEROP_RUST_ONLY === '1';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * The servers every scenario runs against.
 * `skip` is only ever set on request (env); a missing Rust binary is NOT a
 * skip: every Rust test then fails in startServer with a clear message.
 */
export const SERVERS = [
  {
    name: 'reference (node primus 8.0.9)',
    kind: 'reference',
    command: process.execPath,
    args: [path.join(INTEROP_DIR, 'reference-server.mjs')],
    skip: RUST_ONLY ? 'PRIMUS_INTEROP_RUST_ONLY=1' : false,
  },
  {
    name: 'rust (primus-e2e-server)',
    kind: 'rust',
    command: RUST_BIN,
    args: [],
    skip: REFERENCE_ONLY ? 'PRIMUS_INTEROP_REFERENCE_ONLY=1' : false,
  },
];

/** Run `body(server)` inside one `describe` per server. */
export function forEachServer(title, body) {
  for (const server of SERVERS) {
    describe(`${title} [${server.name}]`, { skip: server.skip }, () => body(server));
  }
}

const live = new Set();
process.on('exit', () => {
  for (const child of live) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

/** Turn `{pingInterval: 200, maxLength: 1000}` into CLI flags. */
function flags(options) {
  const out = [];
  const map = {
    port: '--port',
    pathname: '--pathname',
    transformer: '--transformer',
    parser: '--parser',
    pingInterval: '--ping-interval',
    maxLength: '--max-length',
    auth: '--auth',
    origins: '--origins',
    plugins: '--plugins',
  };
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!map[key]) throw new Error(`unknown server option ${key}`);
    out.push(map[key], String(value));
  }
  return out;
}

/**
 * Spawn `server` with the given options; resolves once it printed
 * `listening <port>`. Returns a handle with `port`, `url`, `pathname`, `stop()`.
 */
export async function startServer(server, options = {}) {
  if (server.kind === 'rust' && !existsSync(server.command)) {
    throw new Error(
      `Rust server binary not found at ${server.command}. Build it with ` +
        '`cargo build -p primus-e2e --bin primus-e2e-server`, point PRIMUS_SERVER_BIN at it, ' +
        'or set PRIMUS_INTEROP_REFERENCE_ONLY=1 to run only the reference half.',
    );
  }
  const args = [...server.args, ...flags({ port: 0, ...options })];
  const child = spawn(server.command, args, {
    cwd: INTEROP_DIR,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  let stdout = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    if (stderr.length > 20_000) stderr = stderr.slice(-20_000);
  });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new Error(`no "listening <port>" line within ${START_TIMEOUT_MS} ms`));
    }, START_TIMEOUT_MS);
    function fail(err) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      err.message += `\ncommand: ${server.command} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
      reject(err);
    }
    child.once('error', fail);
    exited.then(({ code, signal }) => fail(new Error(`server exited early (code ${code}, signal ${signal})`)));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const nl = stdout.indexOf('\n');
      if (nl === -1) return;
      const line = stdout.slice(0, nl);
      const m = /^listening (\d+)$/.exec(line);
      if (!m) return fail(new Error(`first stdout line is not "listening <port>": ${JSON.stringify(line)}`));
      clearTimeout(timer);
      resolve(Number(m[1]));
    });
  });

  const pathname = options.pathname ?? '/primus';
  return {
    server,
    port,
    pathname,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}${pathname}`,
    child,
    exited,
    get stderr() { return stderr; },
    /** SIGTERM, wait for exit (SIGKILL after STOP_TIMEOUT_MS). Returns the exit info. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const info = await exited;
      clearTimeout(timer);
      return info;
    },
  };
}

/** Start a server for one test and stop it when the test ends. */
export async function serverFor(t, server, options) {
  const handle = await startServer(server, options);
  t.after(() => handle.stop());
  return handle;
}
