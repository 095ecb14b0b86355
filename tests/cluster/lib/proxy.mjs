// Round-robin TCP proxy on 127.0.0.1 over a list of backend ports. Each new client
// connection goes to the next backend; a refused backend is skipped (each backend
// is tried at most once per connection); the client is closed if none accepts.
import net from 'node:net';

const CONNECT_TIMEOUT_MS = 2000;

export async function startProxy(backendPorts) {
  const backends = [...backendPorts];
  const sockets = new Set();
  const stats = { accepted: 0, refused: 0, failed: 0, perBackend: Object.fromEntries(backends.map((p) => [p, 0])) };
  let next = 0;

  function remember(socket) {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  }

  function tryBackend(client, tried) {
    if (tried >= backends.length || client.destroyed) {
      stats.failed += 1;
      client.destroy();
      return;
    }
    const port = backends[next % backends.length];
    next = (next + 1) % backends.length;
    const upstream = net.connect({ host: '127.0.0.1', port });
    remember(upstream);
    let connected = false;
    const timer = setTimeout(() => upstream.destroy(new Error('connect timeout')), CONNECT_TIMEOUT_MS);

    upstream.once('connect', () => {
      clearTimeout(timer);
      connected = true;
      stats.perBackend[port] += 1;
      if (client.destroyed) {
        upstream.destroy();
        return;
      }
      client.pipe(upstream);
      upstream.pipe(client);
      const closeBoth = () => {
        client.destroy();
        upstream.destroy();
      };
      client.once('close', closeBoth);
      upstream.once('close', closeBoth);
      client.once('end', closeBoth);
      upstream.once('end', closeBoth);
    });
    upstream.on('error', (err) => {
      clearTimeout(timer);
      if (connected) {
        client.destroy();
        return;
      }
      if (err.code === 'ECONNREFUSED') stats.refused += 1;
      upstream.destroy();
      // Any connect failure (refused, reset, timeout): the next backend.
      tryBackend(client, tried + 1);
    });
  }

  const server = net.createServer({ pauseOnConnect: true }, (client) => {
    stats.accepted += 1;
    remember(client);
    client.on('error', () => client.destroy());
    // The client stays paused (pauseOnConnect) until pipe() starts it, so the
    // bytes it sends before the upstream is up are not lost.
    tryBackend(client, 0);
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });

  return {
    port: server.address().port,
    backends,
    stats,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
