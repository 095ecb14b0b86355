// A plain Socket.IO 4 server (npm socket.io, pinned in package.json) for the Rust client's
// socket.io transport (crates/primus/tests/socketio_client.rs): proof that it speaks real
// Socket.IO, not only our server's. No Primus here: it answers `message` events.
//
//   node socketio-echo-server.mjs [--port 0] [--pathname /primus]
//
// Prints `listening <port>` once ready (loopback only). Each `message` event is echoed with
// its arguments (strings and binary attachments alike), except these commands, whose answers
// are JSON text (what a Primus JSON parser reads):
//   "info"     → {"id", "transport", "auth", "query"} of this socket
//   "reasons"  → the reasons of the disconnections seen so far, oldest first
//   "bye"      → the server disconnects this socket (DISCONNECT, then the Engine.IO close)
// A CONNECT whose auth has `token: "refuse"` is refused with CONNECT_ERROR `not authorized`.
import http from 'node:http';
import { Server } from 'socket.io';

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};

const port = Number(arg('--port', '0'));
const pathname = arg('--pathname', '/primus');

const server = http.createServer();
const io = new Server(server, { path: pathname, serveClient: false });
const reasons = [];

io.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === 'refuse') {
    next(new Error('not authorized'));
  } else {
    next();
  }
});

io.on('connection', (socket) => {
  socket.on('disconnect', (reason) => reasons.push(reason));
  socket.on('message', (...data) => {
    switch (data[0]) {
      case '"info"':
        socket.send(JSON.stringify({
          id: socket.id,
          transport: socket.conn.transport.name,
          auth: socket.handshake.auth,
          query: socket.handshake.query,
        }));
        return;
      case '"reasons"':
        socket.send(JSON.stringify(reasons));
        return;
      case '"bye"':
        socket.disconnect(true);
        return;
      default:
        socket.send(...data);
    }
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    io.close();
    process.exit(0);
  });
}
