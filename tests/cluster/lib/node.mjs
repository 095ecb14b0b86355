// One primus-cluster-node process: spawned with the suite's fixed arguments, ready
// once it printed `listening <port>` (20 s at most); stderr is kept for diagnostics.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, tail, track, waitExit } from './util.mjs';

const TARGET_DIR = path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || 'target');
export const NODE_BIN = process.env.CLUSTER_NODE_BIN || path.join(TARGET_DIR, 'debug', 'primus-cluster-node');

export const OMEGA_USER = 'test';
export const OMEGA_PASS = 's3cret';
export const HEARTBEAT_MS = 500;
export const TTL_MS = 1500;
const START_TIMEOUT_MS = 20_000;

class ClusterNode {
  constructor(name, redisPort, extraArgs) {
    this.name = name;
    this.redisPort = redisPort;
    this.args = [
      '--redis', `redis://127.0.0.1:${redisPort}`,
      '--name', name,
      '--port', '0',
      '--omega-user', OMEGA_USER,
      '--omega-pass', OMEGA_PASS,
      '--heartbeat-ms', String(HEARTBEAT_MS),
      '--ttl-ms', String(TTL_MS),
      ...extraArgs,
    ];
    this.port = null;
    this.child = null;
    this.stderr = { text: '' };
    this.stdoutLines = [];
    this.exit = null;
  }

  start() {
    if (!existsSync(NODE_BIN)) {
      return Promise.reject(new Error(
        `cluster node binary not found at ${NODE_BIN} (build it with ` +
        '`cargo build -p primus-e2e --bin primus-cluster-node` or set CLUSTER_NODE_BIN)',
      ));
    }
    const child = track(spawn(NODE_BIN, this.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, RUST_BACKTRACE: process.env.RUST_BACKTRACE || '1' },
    }));
    this.child = child;
    this.stderr = tail(child.stderr, 32_768);
    child.once('exit', (code, signal) => { this.exit = { code, signal }; });

    return new Promise((resolve, reject) => {
      let pending = '';
      let settled = false;
      const fail = (why) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try { child.kill('SIGKILL'); } catch { /* gone */ }
        reject(new Error(`node ${this.name}: ${why}\n${this.diagnostics()}`));
      };
      const timer = setTimeout(() => fail(`no "listening <port>" line within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        pending += chunk;
        let nl = pending.indexOf('\n');
        for (let guard = 0; nl !== -1 && guard < 10_000; guard += 1) {
          const line = pending.slice(0, nl).replace(/\r$/, '');
          pending = pending.slice(nl + 1);
          if (this.stdoutLines.length < 1000) this.stdoutLines.push(line);
          const m = /^listening (\d+)\s*$/.exec(line);
          if (m && !settled) {
            settled = true;
            clearTimeout(timer);
            this.port = Number(m[1]);
            resolve(this);
          }
          nl = pending.indexOf('\n');
        }
      });
      child.once('error', (err) => fail(`spawn failed: ${err.message}`));
      child.once('exit', (code, signal) => fail(`exited before listening (code ${code}, signal ${signal})`));
    });
  }

  get running() {
    return this.child !== null && this.exit === null;
  }

  /** Sends `signal` and waits (bounded) for the exit. */
  async kill(signal = 'SIGTERM', timeout = 5000) {
    const child = this.child;
    if (!child) return null;
    if (this.exit === null) child.kill(signal);
    return waitExit(child, timeout);
  }

  /** Last stderr (and stdout) lines, for failure reports. */
  diagnostics(limit = 6000) {
    const err = this.stderr.text.slice(-limit);
    const exit = this.exit ? ` exit=${JSON.stringify(this.exit)}` : '';
    return `--- node ${this.name} (port ${this.port}${exit}) stdout:\n${this.stdoutLines.slice(-20).join('\n')}\n` +
      `--- node ${this.name} stderr (last ${limit} chars):\n${err}`;
  }
}

/** Spawns a node and waits for `listening <port>`. */
export function startNode({ name, redisPort, args = [] }) {
  return new ClusterNode(name, redisPort, args).start();
}
