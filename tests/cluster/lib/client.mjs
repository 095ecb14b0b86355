// The official npm `primus` client (Primus.createSocket, websockets + json, pathname
// /primus) with fast reconnects, request/reply helpers and a message collector.
import { createRequire } from 'node:module';
import { sleep, waitFor } from './util.mjs';

const require = createRequire(import.meta.url);
const Primus = require('primus');

let SocketClass = null;
/** Building the client class compiles the Primus library: done once. */
export function socketClass() {
  if (!SocketClass) {
    SocketClass = Primus.createSocket({ transformer: 'websockets', pathname: '/primus', parser: 'json' });
  }
  return SocketClass;
}

/**
 * The client decodes inside a `vm` sandbox (foreign prototypes); a structured
 * clone brings values into this realm so deepStrictEqual works on them.
 */
function local(value) {
  return value !== null && typeof value === 'object' ? structuredClone(value) : value;
}

/** What reply a request is answered with. */
function replyMatcher(req) {
  switch (req.op) {
    case 'whoami': return (r) => r.op === 'whoami';
    case 'join': return (r) => r.op === 'joined' && r.room === req.room;
    case 'broadcast':
    case 'room':
    case 'to': return (r) => r.op === 'done' && r.ref === req.op;
    case 'locate': return (r) => r.op === 'located' && r.id === req.id;
    case 'stats': return (r) => r.op === 'stats';
    default: return (r) => r.op === req.op;
  }
}

/** True when a received value is a delivered message (wrapped `{op:"msg"}` or a bare HTTP payload). */
function isMessage(value) {
  return typeof value === 'string' || (value !== null && typeof value === 'object' && value.op === 'msg');
}

export class ClusterClient {
  /**
   * @param {number} port   the node (or proxy) port on 127.0.0.1
   * @param {object} opts   `label` for messages, `onOpen(client)` run on EVERY open
   */
  constructor(port, { label = `client@${port}`, onOpen = null } = {}) {
    const Socket = socketClass();
    this.label = label;
    this.port = port;
    this.received = []; // every decoded value, in order
    this.messages = []; // the delivered messages only (see isMessage)
    this.errors = [];
    this.opens = 0;
    this.closes = 0;
    this.pending = [];
    this.socket = new Socket(`http://127.0.0.1:${port}`, {
      reconnect: { min: 100, max: 400, retries: 100 },
    });
    this.socket.on('data', (data) => this.onData(local(data)));
    this.socket.on('error', (err) => this.errors.push(err));
    this.socket.on('close', () => { this.closes += 1; });
    this.socket.on('open', () => {
      this.opens += 1;
      if (onOpen) onOpen(this);
    });
  }

  onData(value) {
    this.received.push(value);
    if (isMessage(value)) this.messages.push(value);
    if (value !== null && typeof value === 'object') {
      const i = this.pending.findIndex((p) => p.match(value));
      if (i !== -1) {
        const [p] = this.pending.splice(i, 1);
        p.resolve(value);
      }
    }
  }

  /** Resolves after the first `open` (or throws after `timeout` ms). */
  async opened(timeout = 5000) {
    await waitFor(() => this.opens > 0, { timeout, what: `${this.label} to open` }).catch((err) => {
      err.message += `; client errors: ${this.errors.map((e) => e && e.message).join(', ') || 'none'}`;
      throw err;
    });
    return this;
  }

  write(value) {
    return this.socket.write(value);
  }

  /** Writes `req` (a JSON object) and resolves with the matching reply; throws after `timeout` ms. */
  request(req, timeout = 5000) {
    return new Promise((resolve, reject) => {
      const entry = {
        match: replyMatcher(req),
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
      };
      const timer = setTimeout(() => {
        const i = this.pending.indexOf(entry);
        if (i !== -1) this.pending.splice(i, 1);
        reject(new Error(`${this.label}: no reply to ${JSON.stringify(req)} within ${timeout} ms`));
      }, timeout);
      this.pending.push(entry);
      this.write(req);
    });
  }

  /** `{op:"whoami"}`, remembered as `this.me`. */
  async whoami(timeout) {
    this.me = await this.request({ op: 'whoami' }, timeout);
    return this.me;
  }

  /** Delivered messages whose payload is `payload` (wrapped `.msg === payload`, or the bare value). */
  countOf(payload) {
    return this.messages.filter((m) => m === payload || (typeof m === 'object' && m.msg === payload)).length;
  }

  /** The delivered messages carrying `payload`. */
  messagesOf(payload) {
    return this.messages.filter((m) => m === payload || (typeof m === 'object' && m.msg === payload));
  }

  /** Polls `predicate(this)` until truthy; throws after `timeoutMs`. */
  waitFor(predicate, timeoutMs = 5000, what = 'condition') {
    return waitFor(() => predicate(this), { timeout: timeoutMs, interval: 20, what: `${this.label}: ${what}` });
  }

  /** Closes for good (no reconnect). */
  async close() {
    try {
      this.socket.end();
    } catch { /* already closed */ }
    await sleep(0);
  }
}

/** Connects and waits for the first open. */
export async function connectClient(port, opts = {}, timeout = 5000) {
  const client = new ClusterClient(port, opts);
  try {
    await client.opened(timeout);
  } catch (err) {
    await client.close();
    throw err;
  }
  return client;
}
