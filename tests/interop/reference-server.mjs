#!/usr/bin/env node
/*
 * Reference interop server: the real Node Primus (npm `primus` 8.0.9) behind a
 * small control protocol. The Rust binary `primus-e2e-server` implements the
 * SAME contract, so the interop suite can run every scenario against both and
 * "the test proves the test".
 *
 * ============================ CONTRACT (both servers) ============================
 *
 * CLI flags (all optional, `--flag value` form):
 *   --port <n>              TCP port on 127.0.0.1; 0 (default) = let the OS pick a free one.
 *   --pathname <p>          Primus pathname, default `/primus`.
 *   --transformer <name>    default `websockets`; the suites also use `engine.io`, `sockjs`, `faye`
 *                           and `browserchannel`.
 *   --parser <name>         default `json` (the suite only uses json).
 *   --ping-interval <ms|off> server heartbeat interval in ms, default 30000;
 *                           `off` (or 0) disables heartbeats (spec.pingInterval === false).
 *   --max-length <bytes>    maximum incoming message size, default 10485760
 *                           (ws `maxPayload`: a bigger frame closes the socket with 1009).
 *   --auth <on|off>         default off. `on` installs an authorizer that reads the query
 *                           parameter `token` of EVERY request under the pathname:
 *                           `good` → accepted; `forbidden` → 403 {"error":"forbidden"};
 *                           anything else → 401 {"error":"unauthorized"} with
 *                           `WWW-Authenticate: Bearer realm="primus"`.
 *   --origins <list>        CORS `origins` option (default `*`).
 *   --plugins <list>        comma-separated; `emitter` adds npm primus-emitter (ours: the
 *                           emitter plugin) and its contract: client event `echo` → the
 *                           server sends `echo` with the same arguments; `ask` (with an ack)
 *                           → ack('answer', ...args); `quiz` → the server sends `question`
 *                           ('q?') with an ack and sends `quiz-result` with the client's
 *                           ack arguments; `shout` → `all` to every spark (primus.send).
 *                           Emitter packets never reach the control protocol below.
 *                           `responder` adds npm primus-responder (ours: the responder
 *                           plugin): a request is answered with {echo: data}; the request
 *                           'reverse' makes the server request 'q?' from the client and
 *                           answer {'client said': <its response>}.
 *   Unknown flags or bad values: print a message on stderr and exit with status 2.
 *
 * Start-up: listen on 127.0.0.1 only (with SO_REUSEADDR, so a restarted server can
 * bind the same port right away). Once listening, print exactly one line
 * `listening <port>` (the real port) on stdout and flush it. Anything else goes to
 * stderr.
 *
 * Shut-down: on SIGTERM or SIGINT exit promptly (within ~1 s). Connections are
 * simply dropped: do NOT send `primus::server::close` (clients must see an
 * unexpected close and reconnect; scenario "server restart" depends on it).
 *
 * HTTP: requests outside the pathname prefix get `404`, `Content-Type: text/plain`,
 * body `not found`. Requests under the prefix are Primus's (spec, 426, upgrade, ...).
 *
 * Control protocol. For every `data` event of a spark, with decoded value `data`:
 *   1. `data` is a string starting with `broadcast:`
 *        → primus.write(data.slice('broadcast:'.length))   (every spark, sender included)
 *   2. `data` is a non-null, non-array object and `data.cmd` is:
 *        'end'     → spark.end(data.data, { reconnect: !!data.reconnect })
 *                    (data.data absent → undefined → nothing written before closing)
 *        'info'    → spark.write({ id: spark.id, query: spark.query,
 *                                  headers: publicHeaders(spark.headers), address: spark.address })
 *                    `headers` = the request headers, lower-case names, WITHOUT keys that
 *                    start with `primus::` (node Primus keeps its internal
 *                    `primus::req::backup` request object there; it is not a header).
 *                    `query` = the upgrade URL's query, parsed like Node's
 *                    querystring.parse (repeated keys → array, `+` → space).
 *                    `address` = {ip, port, secure} as spark.address (forwarded-for rules).
 *        'count'   → spark.write({ count: primus.connected })
 *        'end-all' → primus.forEach(s => s.end(undefined, { reconnect: !!data.reconnect }))
 *      any other `cmd` (or none) → falls through to echo.
 *   3. anything else → echo: spark.write(data)   (the same value, re-encoded)
 * ================================================================================
 */
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Primus = require('primus');

function usage(msg) {
  process.stderr.write(`reference-server: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    port: 0,
    pathname: '/primus',
    transformer: 'websockets',
    parser: 'json',
    pingInterval: 30000,
    maxLength: 10485760,
  };
  const int = (name, v) => {
    if (!/^\d+$/.test(v ?? '')) usage(`${name} needs a non-negative integer, got ${v}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`missing value for ${flag}`);
    switch (flag) {
      case '--port': opts.port = int(flag, value); break;
      case '--pathname': opts.pathname = value; break;
      case '--transformer': opts.transformer = value; break;
      case '--parser': opts.parser = value; break;
      case '--ping-interval':
        opts.pingInterval = value === 'off' ? false : int(flag, value) || false;
        break;
      case '--max-length': opts.maxLength = int(flag, value); break;
      case '--auth':
        if (value !== 'on' && value !== 'off') usage(`--auth takes on or off, got ${value}`);
        opts.auth = value === 'on';
        break;
      case '--origins': opts.origins = value; break;
      case '--plugins':
        for (const name of value.split(',').filter(Boolean)) {
          if (name !== 'emitter' && name !== 'responder') usage(`unknown plugin ${name}`);
          opts[name] = true;
        }
        break;
      default: usage(`unknown flag ${flag}`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// The plain handler is installed first; Primus takes over the request
// listeners and re-emits requests outside its pathname to this one.
const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found');
});

const primus = new Primus(server, {
  pathname: opts.pathname,
  transformer: opts.transformer,
  parser: opts.parser,
  pingInterval: opts.pingInterval,
  maxLength: opts.maxLength,
  ...(opts.origins ? { origins: opts.origins } : {}),
});

if (opts.emitter) primus.plugin('emitter', require('primus-emitter'));
if (opts.responder) primus.plugin('responder', require('primus-responder'));

/** Whether `data` is a primus-emitter packet (the npm plugin also passes them to `data`). */
function isEmitterPacket(data) {
  return data !== null && typeof data === 'object' && Array.isArray(data.data) && (data.type === 0 || data.type === 1);
}

if (opts.auth) {
  primus.authorize((req, done) => {
    const token = new URL(req.url, 'http://localhost').searchParams.get('token');
    if (token === 'good') return done();
    if (token === 'forbidden') {
      const err = new Error('forbidden');
      err.statusCode = 403;
      return done(err);
    }
    const err = new Error('unauthorized');
    err.statusCode = 401;
    err.authenticate = 'Bearer realm="primus"';
    return done(err);
  });
}

// spark.headers also carries Primus's internal `primus::req::backup` (the
// request object) for as long as the socket lives: not part of the contract.
function publicHeaders(headers) {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !k.startsWith('primus::')));
}

primus.on('connection', (spark) => {
  // Without a listener a spark error (e.g. max payload exceeded) is only logged.
  spark.on('error', (err) => {
    process.stderr.write(`spark ${spark.id} error: ${err && err.message}\n`);
  });

  if (opts.emitter) {
    spark.on('echo', (...args) => spark.send('echo', ...args));
    spark.on('ask', (...args) => {
      const ack = args.pop();
      ack('answer', ...args);
    });
    spark.on('quiz', () => {
      spark.send('question', 'q?', (...reply) => spark.send('quiz-result', ...reply));
    });
    spark.on('shout', (...args) => primus.send('all', ...args));
  }

  if (opts.responder) {
    spark.on('request', (data, done) => {
      if (data === 'reverse') spark.writeAndWait('q?', (said) => done({ 'client said': said }));
      else done({ echo: data });
    });
  }

  spark.on('data', (data) => {
    if (opts.emitter && isEmitterPacket(data)) return;
    if (typeof data === 'string' && data.startsWith('broadcast:')) {
      primus.write(data.slice('broadcast:'.length));
      return;
    }
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
      switch (data.cmd) {
        case 'end':
          spark.end(data.data, { reconnect: !!data.reconnect });
          return;
        case 'info':
          spark.write({
            id: spark.id,
            query: spark.query,
            headers: publicHeaders(spark.headers),
            address: spark.address,
          });
          return;
        case 'count':
          spark.write({ count: primus.connected });
          return;
        case 'end-all':
          primus.forEach((s) => s.end(undefined, { reconnect: !!data.reconnect }));
          return;
        default:
          break;
      }
    }
    spark.write(data);
  });
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  // Exit without primus.destroy(): that would send primus::server::close.
  process.on(sig, () => process.exit(0));
}

server.listen(opts.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
