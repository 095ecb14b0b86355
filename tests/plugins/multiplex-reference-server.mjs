// The multiplex contract on the real Node Primus 8.0.9 server with npm substream 0.2.0
// (pinned by package-lock.json here): the reference the Rust `multiplex` plugin is checked
// against (crates/primus/tests/plugin_multiplex.rs, multiplex-interop.test.mjs).
//
// Contract (the same in e2e/src/bin/multiplex-e2e.rs):
// - every substream the client opens is accepted and its messages are echoed back on it;
//   when it ends, the server writes plain `ended:<name>`;
// - plain `open:<name>` opens `<name>` on the server and writes `hello` on it (then echoes
//   it like the others); plain `close:<name>` ends `<name>` from the server;
// - other plain values are echoed back as plain data.
//
// npm substream has no way to accept a substream: a packet for one the server has not
// opened arrives as ordinary data, so that is where this server opens it and echoes its
// first message itself.
//
// Usage: node multiplex-reference-server.mjs [--port N] [--pathname /primus]
// Prints `listening <port>` once it listens on 127.0.0.1. Heartbeats are off.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Primus = require('primus');
const substream = require('substream');

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const port = Number(flag('port', '0'));
const pathname = flag('pathname', '/primus');

const server = http.createServer();
const primus = new Primus(server, { transformer: 'websockets', pathname, pingInterval: false });
// npm substream crashes the server on a `null` frame once a substream is open on the
// spark (`SubStream.prototype.mine` reads `null.substream`, an uncaught TypeError in the ws
// message handler). This transform, registered before the plugin's, hides `null` from it
// (substream runs the incoming transforms again on each payload, so handlers map it back).
const NULL = { 'multiplex-reference-server': 'null' };
primus.transform('incoming', (packet) => {
  if (packet.data === null) packet.data = NULL;
});
primus.plugin('substream', substream);

const END = 'substream::end';

primus.on('connection', (spark) => {
  const isOpen = (name) => Boolean(spark.streams && spark.streams[name]);
  const watch = (sub) => {
    sub.on('data', (d) => sub.write(d === NULL ? null : d));
    sub.on('end', () => {
      if (spark.readyState === 3) spark.write(`ended:${sub.name}`);
    });
    return sub;
  };
  spark.on('data', (d) => {
    if (d === NULL) d = null;
    if (typeof d === 'string' && d.startsWith('open:')) {
      const name = d.slice(5);
      const fresh = !isOpen(name);
      const sub = spark.substream(name);
      if (fresh) watch(sub);
      sub.write('hello');
      return;
    }
    if (typeof d === 'string' && d.startsWith('close:')) {
      const name = d.slice(6);
      if (isOpen(name)) spark.streams[name].end();
      return;
    }
    if (d && typeof d === 'object' && typeof d.substream === 'string' && 'args' in d) {
      // A substream the client opened: accept it, echo its first message.
      if (d.args === END) return;
      watch(spark.substream(d.substream)).write(d.args);
      return;
    }
    spark.write(d);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

const stop = () => {
  primus.destroy({ timeout: 0 }, () => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
