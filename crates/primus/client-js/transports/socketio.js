// Transport: Socket.IO protocol 5 (the `socket.io` transformer), written for primus-rs: the
// engine.io transport (transports/engineio.js) with Socket.IO framing, through its hooks.
// After the Engine.IO handshake it joins the main namespace (CONNECT `0`, with
// `transport.auth` as its payload) and opens on the answer `0{"sid":…}`. Primus frames go as
// `message` events (`2["message","<text>"]`), binary ones as a binary event and its one
// attachment. A DISCONNECT from the server closes the session (a close like any other for
// the Primus core), and `end()` sends DISCONNECT before the Engine.IO close. Tested in the
// browser against our server only: a CONNECT_ERROR (which our server does not send for `/`)
// is meant to be an error carrying the server's message, and a plain Socket.IO 4 server's
// `message` events should read the same, but no browser test shows either (the Rust
// client's socket.io transport is the one tested against npm socket.io).

const SIO_BINARY_MESSAGE = '51-["message",{"_placeholder":true,"num":0}]';

/** Split a Socket.IO packet: `{type, attachments, nsp, id, data}` (data: parsed JSON). */
function sioDecode(text) {
  const type = text.charCodeAt(0) - 48;
  if (!(type >= 0 && type <= 6)) throw new Error('unknown Socket.IO packet type ' + JSON.stringify(text.charAt(0)));
  let rest = text.slice(1);
  let attachments = 0;
  if (type === 5 || type === 6) {
    const m = /^([0-9]{1,15})-/.exec(rest);
    if (!m) throw new Error('Socket.IO binary packet without attachment count');
    attachments = Number(m[1]);
    rest = rest.slice(m[0].length);
  }
  let nsp = '/';
  if (rest.charAt(0) === '/') {
    const comma = rest.indexOf(',');
    nsp = comma < 0 ? rest : rest.slice(0, comma);
    rest = comma < 0 ? '' : rest.slice(comma + 1);
  }
  const digits = /^[0-9]{0,15}/.exec(rest)[0];
  rest = rest.slice(digits.length);
  return {
    type,
    attachments,
    nsp,
    id: digits ? Number(digits) : undefined,
    data: rest ? JSON.parse(rest) : undefined,
  };
}

/** One Socket.IO connection to the main namespace, on an Engine.IO session. */
class SocketIoSocket extends Primus.EngineSocket {
  constructor(url, query, options, auth) {
    super(url, query, options);
    this.auth = auth;
    this.connected = false;
    this.waiting = null; // a binary event waiting for its attachment
  }

  opened() {
    this.sendMessage(this.auth ? '0' + JSON.stringify(this.auth) : '0');
  }

  send(data) {
    if (typeof data === 'string') return this.sendMessage('2' + JSON.stringify(['message', data]));
    this.sendMessage(SIO_BINARY_MESSAGE);
    this.sendMessage(data);
  }

  closing() {
    return this.connected ? ['1'] : [];
  }

  receive(data) {
    try {
      this.decode(data);
    } catch (err) {
      this.fail(err);
    }
  }

  decode(data) {
    if (typeof data !== 'string') {
      const p = this.waiting;
      if (!p) throw new Error('a Socket.IO attachment without a binary packet');
      this.waiting = null;
      return this.complete(p, data);
    }
    if (this.waiting) throw new Error('a Socket.IO packet where an attachment was expected');
    const p = sioDecode(data);
    if (p.attachments > 1) throw new Error(p.attachments + ' attachments in one Socket.IO packet (limit 1)');
    // Every binary packet (any namespace, event or ack) claims the attachment that follows.
    if (p.attachments === 1) {
      this.waiting = p;
      return undefined;
    }
    return this.complete(p);
  }

  /** A complete packet (a binary one with its attachment). */
  complete(p, attachment) {
    if (p.nsp !== '/') return undefined; // we only join `/`
    switch (p.type) {
      case 0:
        if (!p.data || typeof p.data.sid !== 'string') throw new Error('Socket.IO CONNECT answer without a sid');
        this.connected = true;
        return this.onopen();
      case 1:
        return this.fail(null, 'io server disconnect');
      case 4: {
        const said = p.data && typeof p.data === 'object' ? p.data.message : p.data;
        const err = new Error('the Socket.IO server refused the connection: ' + said);
        if (p.data && typeof p.data === 'object') err.data = p.data.data;
        return this.fail(err);
      }
      case 2:
      case 5:
        if (!this.connected) throw new Error('a Socket.IO event before the CONNECT answer');
        if (!Array.isArray(p.data) || typeof p.data[0] !== 'string') throw new Error('Socket.IO event data must be an array starting with the event name');
        return this.event(p, attachment);
      default:
        return undefined; // acks
    }
  }

  /** A complete event: a `message` is a Primus frame; any event asking for an ack gets an empty one. */
  event(p, attachment) {
    const name = p.data[0];
    const first = p.data[1];
    if (p.id !== undefined) this.sendMessage('3' + p.id + '[]');
    if (name !== 'message' || first === undefined) return;
    if (typeof first === 'string') this.onmessage(first);
    else if (attachment !== undefined && first && first._placeholder === true) this.onmessage(attachment);
    else this.onmessage(JSON.stringify(first));
  }
}

Primus.transports['socket.io'] = function client() {
  const auth = (this.transport || {}).auth;
  Primus.engineClient(this, 'socket.io', (url, query, options) => new SocketIoSocket(url, query, options, auth));
};
