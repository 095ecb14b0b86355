// The official npm `primus` client (createSocket, websockets + json) and small
// event helpers. Every wait has a timeout, every loop a bound.
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';

const require = createRequire(import.meta.url);
const Primus = require('primus');
export const WebSocket = require('ws');

export { sleep };

const socketClasses = new Map();

/** npm `primus@7` (Engine.IO protocol 3 on the engine.io transformer). */
export const Primus7 = require('primus7');

/**
 * `Primus.createSocket` for a pathname, transformer and parser (cached: building one
 * compiles the client). `lib` is the Primus module (`Primus7` for the v7 client).
 */
export function socketClass(pathname = '/primus', transformer = 'websockets', parser = 'json', lib = Primus) {
  const key = `${pathname}|${transformer}|${parser}|${lib === Primus ? 8 : 7}`;
  if (!socketClasses.has(key)) {
    socketClasses.set(key, lib.createSocket({ transformer, pathname, parser }));
  }
  return socketClasses.get(key);
}

/**
 * Waits for one `event` on `emitter` (Node EventEmitter, EventEmitter3 or ws).
 * Resolves with the listener's arguments as an array; rejects after `timeout` ms.
 */
export function once(emitter, event, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.removeListener(event, listener);
      reject(new Error(`timed out after ${timeout} ms waiting for "${event}"`));
    }, timeout);
    function listener(...args) {
      clearTimeout(timer);
      resolve(args);
    }
    emitter.once(event, listener);
  });
}

/** Records every emission of `events` on `emitter` as `{event, args, at}` in order. */
export function record(emitter, events) {
  const log = [];
  for (const event of events) {
    emitter.on(event, (...args) => log.push({ event, args, at: Date.now() }));
  }
  return log;
}

/** `promise`, or a rejection naming `what` after `ms`. */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `fn` (may be async) every `interval` ms until it returns truthy; throws after `timeout`. */
export async function waitFor(fn, { timeout = 5000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(interval);
  }
}

/**
 * Brings a value decoded by the Primus client into this realm: the client runs
 * in a `vm` sandbox (Primus compiles its library with vm.runInNewContext), so
 * its objects have foreign prototypes and would fail deepStrictEqual.
 */
export function toLocalRealm(value) {
  return value !== null && typeof value === 'object' ? structuredClone(value) : value;
}

/**
 * Queue of events read one at a time with a timeout: by default `data` events as
 * `[data, raw]`; `map` turns an event's arguments into the item. `emitter` only needs
 * `on(event, listener)`: a socket with an `onmessage` property takes a small adapter.
 */
export class Inbox {
  constructor(emitter, event = 'data', map = (args) => args) {
    this.items = [];
    this.waiters = [];
    emitter.on(event, (...received) => {
      const args = map(received);
      const waiter = this.waiters.shift();
      if (waiter) waiter(args);
      else this.items.push(args);
    });
  }

  /** Resolves with the next item (`[data, raw]` of the next message by default). */
  next(timeout = 5000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const waiter = (args) => {
        clearTimeout(timer);
        resolve(args);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i !== -1) this.waiters.splice(i, 1);
        reject(new Error(`timed out after ${timeout} ms waiting for a message`));
      }, timeout);
      this.waiters.push(waiter);
    });
  }

  /** Just the decoded value of the next message. */
  async value(timeout) {
    return (await this.next(timeout))[0];
  }
}

/**
 * Creates an official Primus client for `srv` (a handle from startServer),
 * destroyed when test `t` ends. `options.url` overrides the URL (its path is
 * ignored by Primus, only host and query count). The client gets an `inbox`
 * and collects `errors`.
 */
export function connect(t, srv, options = {}) {
  const {
    url = srv.url, pathname = srv.pathname, transformer = 'websockets', parser = 'json', lib, ...rest
  } = options;
  const Socket = socketClass(pathname, transformer, parser, lib);
  const client = new Socket(url, {
    reconnect: { min: 50, max: 200, retries: 10 },
    ...rest,
  });
  client.inbox = new Inbox(client, 'data', ([data, raw]) => [toLocalRealm(data), raw]);
  client.errors = [];
  client.on('error', (err) => client.errors.push(err));
  t.after(() => client.destroy());
  return client;
}

/** connect() and wait for `open`. */
export async function connectOpen(t, srv, options = {}, timeout = 5000) {
  const client = connect(t, srv, options);
  try {
    await once(client, 'open', timeout);
  } catch (err) {
    err.message += `; client errors: ${client.errors.map((e) => e && e.message).join(', ') || 'none'}`;
    throw err;
  }
  return client;
}

/** Writes `value` and returns the next message's `[data, raw]`. */
export async function roundTrip(client, value, timeout = 5000) {
  client.write(value);
  return client.inbox.next(timeout);
}

/** Asks the server for `{id, query, headers, address}` of this client's spark. */
export async function info(client, timeout = 5000) {
  client.write({ cmd: 'info' });
  return client.inbox.value(timeout);
}

/** Asks the server for `primus.connected`. */
export async function count(client, timeout = 5000) {
  client.write({ cmd: 'count' });
  const reply = await client.inbox.value(timeout);
  return reply.count;
}

/**
 * Polls `{cmd:'count'}` until it equals `expected` (the server may register or
 * drop a spark a moment after the client saw open/end). Returns the last count.
 */
export async function countReaches(client, expected, timeout = 3000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await count(client);
    if (last === expected || Date.now() >= deadline) return last;
    await sleep(50);
  }
}

/** `client.id(cb)` as a promise. */
export function sparkId(client, timeout = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`id() got no answer within ${timeout} ms`)), timeout);
    client.id((id) => {
      clearTimeout(timer);
      resolve(id);
    });
  });
}

/**
 * A raw `ws` connection to the server's pathname, closed when `t` ends.
 * Collects text messages in `ws.inbox` (Inbox over 'message', as strings).
 */
export async function rawWs(t, srv, { path = srv.pathname, timeout = 5000 } = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${path}`);
  ws.texts = [];
  ws.on('message', (data, isBinary) => ws.texts.push(isBinary ? data : data.toString('utf8')));
  ws.on('error', () => {}); // surfaced through close/expectations instead
  t.after(() => ws.terminate());
  await once(ws, 'open', timeout);
  return ws;
}
