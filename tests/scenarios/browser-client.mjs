// Our browser client library in headless Chromium, behind the same API as the clients the
// scenarios drive in Node: `Library.createSocket(options)` returns a class whose instances
// are proxies of sockets living in Chromium pages. For transformers no Node client can
// speak (WebTransport exists only in browsers).
//
// The pages are served by a small HTTP server of this process on 127.0.0.1 (a real
// loopback origin: Chromium's local-network-access rules accept it talking to the
// servers under test), and load the library `primus library` printed. Sockets are dealt
// round-robin to PAGES pages (tabs): Chromium refuses more than 64 pending WebTransport
// sessions per page ("Too many pending WebTransport sessions (64)"), so 100 clients
// opening at once need two tabs or more, as 100 real users would have. Calls to a socket
// (`write`, `id`, `end`, `destroy`, `removeAllListeners`) go to the page in order, one
// promise chain per socket; its events come back through a page binding, in order, with
// the `readyState` the page saw, and are emitted on the proxy.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// As tests/browser/lib/harness.mjs, but with QUIC on (WebTransport is HTTP/3).
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const PAGE_TIMEOUT_MS = 10_000;
const PAGES = 4;

/** Events the page forwards for every socket (what the scenarios can listen to). */
const FORWARDED = [
  'open', 'end', 'close', 'error', 'reconnect', 'reconnect scheduled', 'reconnected',
  'reconnect failed', 'timeout', 'incoming::ping', 'outgoing::pong', 'data',
];

/** Starts Chromium and its pages lazily; `close()` ends them. `code` is the library (UMD). */
export function chromiumLibrary(code) {
  let started;
  let nextId = 0;
  const sockets = new Map();

  function start() {
    if (started) return started;
    started = (async () => {
      const site = http.createServer((req, res) => {
        if (req.url === '/primus.js') {
          res.writeHead(200, { 'content-type': 'application/javascript; charset=utf-8' });
          return res.end(code);
        }
        if (req.url === '/scenario.html') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return res.end('<!doctype html><html><head><meta charset="utf-8"><script src="/primus.js"></script></head><body></body></html>');
        }
        res.writeHead(404);
        res.end();
      });
      await new Promise((resolve, reject) => site.once('error', reject).listen(0, '127.0.0.1', resolve));
      const profile = mkdtempSync(path.join(tmpdir(), 'primus-scenarios-'));
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: 30_000,
      });
      context.setDefaultTimeout(PAGE_TIMEOUT_MS);
      await context.exposeBinding('__scenarioEvent', (_source, id, event, args, readyState) => {
        const socket = sockets.get(id);
        if (socket) socket.deliver(event, args, readyState);
      });
      const pages = [];
      for (let i = 0; i < PAGES; i++) {
        const page = await context.newPage();
        await page.goto(`http://127.0.0.1:${site.address().port}/scenario.html`);
        await page.waitForFunction(() => typeof window.Primus === 'function');
        await page.evaluate(() => { window.sockets = new Map(); });
        pages.push(page);
      }
      return { site, context, pages, profile };
    })();
    return started;
  }

  class Library {
    /** Like `Primus.createSocket`: a socket class for `{transformer, parser, pathname, authorization}`. */
    static createSocket(options) {
      return class BrowserSocket extends RemoteSocket {
        constructor(url, socketOptions = {}) {
          super(nextId++, url, options, socketOptions);
        }
      };
    }

    static async close() {
      if (!started) return;
      const { site, context, profile } = await started.catch(() => ({}));
      started = null;
      if (context) await context.close().catch(() => {});
      if (site) site.close();
      if (profile) rmSync(profile, { recursive: true, force: true });
    }
  }

  /** A proxy of one socket in the page. */
  class RemoteSocket {
    static OPENING = 1;
    static CLOSED = 2;
    static OPEN = 3;

    constructor(id, url, classOptions, options) {
      this.remote = id;
      this.readyState = RemoteSocket.CLOSED;
      this.listeners = new Map();
      sockets.set(id, this);
      this.pageOf = (running) => running.pages[id % PAGES];
      this.chain = start().then((started) => this.pageOf(started).evaluate(([id, url, classOptions, options, forwarded]) => {
        const Socket = Primus.createSocket(classOptions);
        const socket = new Socket(url, options);
        window.sockets.set(id, socket);
        const plain = (v) => (v instanceof Error ? { message: v.message } : v);
        for (const event of forwarded) {
          socket.on(event, (...args) => window.__scenarioEvent(id, event, args.map(plain), socket.readyState));
        }
        socket.on('readyStateChange', () => window.__scenarioEvent(id, '', [], socket.readyState));
      }, [id, url, classOptions, options, FORWARDED]));
      this.chain.catch((err) => this.deliver('error', [{ message: `page: ${err.message}` }], this.readyState));
    }

    /** Runs `fn(socket, arg)` in the page after the calls before it. */
    call(fn, arg) {
      const run = this.chain.then(() => started).then((running) => this.pageOf(running).evaluate(
        ([id, source, arg]) => {
          const socket = window.sockets.get(id);
          // eslint-disable-next-line no-new-func
          return socket ? new Function('socket', 'arg', `return (${source})(socket, arg);`)(socket, arg) : undefined;
        },
        [this.remote, fn.toString(), arg],
      ));
      this.chain = run.catch(() => {});
      return run;
    }

    deliver(event, args, readyState) {
      this.readyState = readyState;
      if (!event) return;
      for (const fn of [...(this.listeners.get(event) || [])]) fn(...args);
    }

    on(event, fn) {
      if (!this.listeners.has(event)) this.listeners.set(event, []);
      this.listeners.get(event).push(fn);
      return this;
    }

    removeAllListeners(event) {
      this.listeners.delete(event);
      this.call((socket, event) => { socket.removeAllListeners(event); }, event);
      return this;
    }

    write(data) {
      this.call((socket, data) => socket.write(data), data);
      return true;
    }

    id(fn) {
      this.call((socket) => new Promise((resolve) => socket.id(resolve))).then(fn, () => {});
    }

    end(data) {
      return this.call((socket, data) => { socket.end(data); }, data);
    }

    destroy() {
      sockets.delete(this.remote);
      return this.call((socket, id) => { socket.destroy(); window.sockets.delete(id); }, this.remote);
    }
  }

  return Library;
}
