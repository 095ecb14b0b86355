#!/usr/bin/env node
/*
 * The real Node Primus (npm `primus` 8.0.9, from this folder's node_modules) behind
 * the control contract written at the top of ../interop/reference-server.mjs, the one
 * `primus-e2e-server` implements too. This copy exists so the scenario suite only needs
 * its own node_modules (it adds `faye-websocket`); it has the parts the scenarios use:
 *
 *   --port <n> (0 = any free port), --pathname <p> (default /primus),
 *   --transformer <name> (default websockets), --parser <name> (default json),
 *   --ping-interval <ms|off> (default 30000), --max-length <bytes> (default 10485760),
 *   --auth <on|off>: `on` authorizes every request under the pathname by its query
 *     parameter `token`: `good` → accepted, `forbidden` → 403, anything else → 401
 *     with `WWW-Authenticate: Bearer realm="primus"`.
 *   Any other flag (the interop copy also has --origins and --plugins) → exit status 2.
 *
 * Prints `listening <port>` on stdout once listening on 127.0.0.1. SIGTERM/SIGINT exit
 * at once WITHOUT primus.destroy() (no `primus::server::close`: clients see a dropped
 * connection and reconnect).
 *
 * Messages (spark `data`): `broadcast:<text>` → primus.write(<text>);
 * {cmd:'end', data?, reconnect?} → spark.end(data, {reconnect: !!reconnect});
 * {cmd:'info'} → {id, query, headers, address} of the spark; {cmd:'count'} →
 * {count: primus.connected}; {cmd:'end-all', reconnect?} → every spark ends;
 * anything else is echoed.
 */
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Primus = require('primus');

function die(message) {
  process.stderr.write(`reference-server: ${message}\n`);
  process.exit(2);
}

function readFlags(argv) {
  const config = {
    port: 0,
    pathname: '/primus',
    transformer: 'websockets',
    parser: 'json',
    pingInterval: 30000,
    maxLength: 10485760,
    auth: false,
  };
  const count = (flag, text) => {
    if (!/^\d+$/.test(text)) die(`${flag} wants a non-negative integer, got ${text}`);
    return Number(text);
  };
  if (argv.length % 2) die(`flag ${argv[argv.length - 1]} has no value`);
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, text] = [argv[i], argv[i + 1]];
    if (flag === '--port') config.port = count(flag, text);
    else if (flag === '--pathname') config.pathname = text;
    else if (flag === '--transformer') config.transformer = text;
    else if (flag === '--parser') config.parser = text;
    else if (flag === '--ping-interval') config.pingInterval = text === 'off' ? false : count(flag, text) || false;
    else if (flag === '--max-length') config.maxLength = count(flag, text);
    else if (flag === '--auth') {
      if (text !== 'on' && text !== 'off') die(`--auth is on or off, got ${text}`);
      config.auth = text === 'on';
    } else die(`unknown flag ${flag}`);
  }
  return config;
}

const config = readFlags(process.argv.slice(2));

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found');
});

let primus;
try {
  primus = new Primus(server, {
    pathname: config.pathname,
    transformer: config.transformer,
    parser: config.parser,
    pingInterval: config.pingInterval,
    maxLength: config.maxLength,
  });
} catch (err) {
  die(err.message);
}

if (config.auth) {
  primus.authorize((req, done) => {
    const token = new URL(req.url, 'http://127.0.0.1').searchParams.get('token');
    if (token === 'good') return done();
    const refusal = new Error(token === 'forbidden' ? 'forbidden' : 'unauthorized');
    refusal.statusCode = token === 'forbidden' ? 403 : 401;
    if (refusal.statusCode === 401) refusal.authenticate = 'Bearer realm="primus"';
    return done(refusal);
  });
}

/** Request headers without Primus's internal `primus::…` keys. */
const headersOf = (spark) =>
  Object.fromEntries(Object.entries(spark.headers).filter(([name]) => !name.startsWith('primus::')));

primus.on('connection', (spark) => {
  spark.on('error', (err) => process.stderr.write(`spark ${spark.id}: ${err && err.message}\n`));
  spark.on('data', (data) => {
    if (typeof data === 'string' && data.startsWith('broadcast:')) {
      primus.write(data.slice('broadcast:'.length));
      return;
    }
    const command = data !== null && typeof data === 'object' && !Array.isArray(data) ? data.cmd : undefined;
    if (command === 'end') return void spark.end(data.data, { reconnect: !!data.reconnect });
    if (command === 'info') {
      return void spark.write({ id: spark.id, query: spark.query, headers: headersOf(spark), address: spark.address });
    }
    if (command === 'count') return void spark.write({ count: primus.connected });
    if (command === 'end-all') {
      return void primus.forEach((each) => each.end(undefined, { reconnect: !!data.reconnect }));
    }
    spark.write(data);
  });
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

server.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
