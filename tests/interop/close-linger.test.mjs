// A peer that sends too large a message must see the server's close code (1009), not
// 1006: the server refuses the message while the peer is still sending, so it has to
// keep reading (and discarding) after its close frame, or the kernel answers the unread
// bytes with a reset and the peer never reads the close frame. Driven with the real
// `ws` client (npm), for the websockets transformer and for the WebSocket paths of
// engine.io and sockjs, against both servers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forEachServer, serverFor } from './lib/servers.mjs';
import { once, waitFor, WebSocket } from './lib/client.mjs';

const T = { timeout: 30_000 };
const MiB = 1024 * 1024;

/** Open a raw `ws` socket to `path`; collects text frames in `ws.texts`. */
async function open(t, srv, path) {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}${path}`, { maxPayload: 64 * MiB });
  ws.texts = [];
  ws.on('message', (data, isBinary) => { if (!isBinary) ws.texts.push(data.toString('utf8')); });
  ws.on('error', () => {}); // what matters is the close code
  t.after(() => ws.terminate());
  await once(ws, 'open', 5000);
  return ws;
}

/** Send `bytes` of text in one frame; resolves with the close code the peer saw. */
async function sendTooBig(ws, bytes) {
  const closed = once(ws, 'close', 20_000);
  ws.send('x'.repeat(bytes));
  const [code] = await closed;
  return code;
}

forEachServer('lingering close after an oversize frame (real ws client)', (server) => {
  test('websockets, default maxLength (10 MiB): an 11 MiB frame gets 1009', T, async (t) => {
    const srv = await serverFor(t, server);
    const ws = await open(t, srv, srv.pathname);
    assert.equal(await sendTooBig(ws, 11 * MiB), 1009);
  });

  test('websockets, --max-length 1 MiB: a 4 MiB frame gets 1009, five times in a row', T, async (t) => {
    const srv = await serverFor(t, server, { maxLength: MiB });
    for (let i = 0; i < 5; i += 1) {
      const ws = await open(t, srv, srv.pathname);
      assert.equal(await sendTooBig(ws, 4 * MiB), 1009, `attempt ${i + 1}`);
    }
  });

  test('engine.io websocket, --max-length 1 MiB: a 4 MiB packet gets 1009', T, async (t) => {
    const srv = await serverFor(t, server, { transformer: 'engine.io', maxLength: MiB });
    const ws = await open(t, srv, `${srv.pathname}/?EIO=4&transport=websocket`);
    await waitFor(() => ws.texts.some((m) => m.startsWith('0{')), { timeout: 5000, what: 'open packet' });
    assert.equal(await sendTooBig(ws, 4 * MiB), 1009);
  });

  test('sockjs websocket, --max-length 1 MiB: a 4 MiB frame gets 1009', T, async (t) => {
    const srv = await serverFor(t, server, { transformer: 'sockjs', maxLength: MiB });
    const ws = await open(t, srv, `${srv.pathname}/000/linger01/websocket`);
    await waitFor(() => ws.texts.includes('o'), { timeout: 5000, what: 'sockjs open frame' });
    const code = await sendTooBig(ws, 4 * MiB);
    if (server.kind === 'reference') {
      // The reference (sockjs over faye-websocket) usually gets 1009 across, but on a loaded
      // machine its peer has seen 1006 (a CI run): its close is not reliably a lingering
      // one. This test is about ours, which must always say 1009.
      assert.ok(code === 1009 || code === 1006, `reference: ${code}`);
    } else {
      assert.equal(code, 1009);
    }
  });
});
