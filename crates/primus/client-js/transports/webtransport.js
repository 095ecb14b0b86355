// Transport: WebTransport (the `webtransport` transformer, beyond the reference, experimental),
// written for primus-rs. Per connection: `GET <pathname>/webtransport?<query>` over the page's
// HTTP(S) says where the server's UDP endpoint is, `{"port", "serverCertificateHashes":
// [{"algorithm": "sha-256", "value": <base64>}]}` (a development server's self-signed
// certificate is trusted by that hash; a restarted server has a new one, so it is asked every
// time); then a session to `https://<host>:<port><pathname>/webtransport?<query>` and one
// bidirectional stream. Each Primus frame on the stream has a 5-byte header: type (0 text,
// 1 binary) and length (u32, big-endian). `transport: {serverCertificateHashes, port}` skips the
// lookup (the hashes as the WebTransport API takes them); `transport.maxLength` bounds incoming
// frames (default 10 MiB). `end()` finishes our side of the stream: the server delivers what it
// still had queued, then closes the session.

const WT_TEXT = 0;
const WT_BINARY = 1;
const WT_HEADER = 5;

/** Incremental frame decoder over the stream's chunks (no copying until a frame is whole). */
class WTDecoder {
  constructor(limit) {
    this.chunks = [];
    this.size = 0;
    this.limit = limit;
    this.text = new TextDecoder('utf-8', { fatal: true });
  }

  push(bytes) {
    if (!bytes.byteLength) return;
    this.chunks.push(bytes);
    this.size += bytes.byteLength;
  }

  /** Copy the first `n` bytes out; `consume` removes them. */
  read(n, consume) {
    const out = new Uint8Array(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.chunks[i];
      const k = Math.min(c.byteLength, n - off);
      out.set(k === c.byteLength ? c : c.subarray(0, k), off);
      off += k;
      if (!consume) i++;
      else if (k === c.byteLength) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    if (consume) this.size -= n;
    return out;
  }

  /** The next frame (a string, or an ArrayBuffer), `undefined` until it is whole; throws on bad input. */
  next() {
    if (this.size < WT_HEADER) return undefined;
    const h = this.read(WT_HEADER, false);
    const type = h[0];
    const len = ((h[1] << 24) | (h[2] << 16) | (h[3] << 8) | h[4]) >>> 0;
    if (type !== WT_TEXT && type !== WT_BINARY) throw new Error('webtransport: unknown frame type ' + type);
    if (len > this.limit) throw new Error('webtransport: a frame of ' + len + ' bytes is over the limit of ' + this.limit);
    if (this.size < WT_HEADER + len) return undefined;
    this.read(WT_HEADER, true);
    const payload = this.read(len, true);
    return type === WT_TEXT ? this.text.decode(payload) : payload.buffer;
  }
}

// Made on first use: loading the library must not need what only this transport uses.
let wtEncoder = null;

/** A message as its frame header and payload (two pieces: the payload is not copied). */
function wtFrame(message) {
  let type = WT_BINARY;
  let payload;
  if (typeof message === 'string') {
    type = WT_TEXT;
    wtEncoder = wtEncoder || new TextEncoder();
    payload = wtEncoder.encode(message);
  } else if (message instanceof ArrayBuffer) {
    payload = new Uint8Array(message);
  } else {
    payload = new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  }
  const n = payload.byteLength;
  const header = new Uint8Array([type, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
  return [header, payload];
}

/** Close a session, whatever its state (closing a closed one is harmless). */
function wtClose(wt) {
  try {
    wt.close();
  } catch (e) {
    // already closed
  }
}

function wtHashes(list) {
  return (list || [])
    .filter((h) => h && h.algorithm === 'sha-256' && typeof h.value === 'string')
    .map((h) => ({ algorithm: 'sha-256', value: base64Decode(h.value) }));
}

/** One WebTransport session and its stream. Callbacks: onopen, onmessage(data), onerror(err), onclose(). */
class WebTransportSocket {
  constructor(opts, transport) {
    const host = opts.hostname.includes(':') && opts.hostname[0] !== '[' ? '[' + opts.hostname + ']' : opts.hostname;
    const query = opts.query ? '?' + opts.query : '';
    this.lookup = (opts.secure ? 'https:' : 'http:') + '//' + opts.host + opts.pathname + '/webtransport' + query;
    this.session = (port) => 'https://' + host + ':' + port + opts.pathname + '/webtransport' + query;
    this.transport = transport;
    this.defaultPort = opts.port;
    this.limit = transport.maxLength || 10485760;
    this.state = 'closed';
    this.wt = null;
    this.writer = null;
    this.onopen = this.onmessage = this.onerror = this.onclose = () => {};
  }

  /** Where to connect: the transport options, or the server's answer. */
  where() {
    const t = this.transport;
    if (t.serverCertificateHashes) {
      return Promise.resolve({ port: t.port || this.defaultPort, hashes: t.serverCertificateHashes });
    }
    return fetch(this.lookup, { cache: 'no-store', credentials: 'same-origin' }).then((res) => {
      if (!res.ok) throw new Error('webtransport: ' + this.lookup + ' answered ' + res.status);
      return res.json();
    }).then((info) => ({ port: t.port || info.port, hashes: wtHashes(info.serverCertificateHashes) }));
  }

  open() {
    this.state = 'connecting';
    this.where().then(({ port, hashes }) => {
      if (this.state !== 'connecting') return undefined;
      const wt = new WebTransport(this.session(port), hashes.length ? { serverCertificateHashes: hashes } : {});
      this.wt = wt;
      wt.closed.then(() => this.closed(null), (err) => this.closed(err));
      return wt.ready.then(() => wt.createBidirectionalStream()).then((stream) => {
        if (this.state !== 'connecting') return;
        this.writer = stream.writable.getWriter();
        this.state = 'open';
        this.onopen();
        this.pump(stream.readable.getReader());
      });
    }).catch((err) => this.closed(err));
  }

  /** Read the stream until it ends, delivering frames. */
  pump(reader) {
    const decoder = new WTDecoder(this.limit);
    const step = ({ value, done }) => {
      if (this.state !== 'open') return undefined;
      if (done) return this.closed(null);
      decoder.push(value);
      for (let data = decoder.next(); data !== undefined; data = decoder.next()) {
        this.onmessage(data);
        if (this.state !== 'open') return undefined;
      }
      return reader.read().then(step);
    };
    reader.read().then(step).catch((err) => this.closed(err));
  }

  send(message) {
    if (this.state !== 'open') return;
    // Two writes on one writer go out in order.
    const [header, payload] = wtFrame(message);
    const failed = (err) => this.closed(err);
    this.writer.write(header).catch(failed);
    this.writer.write(payload).catch(failed);
  }

  closed(err) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const wt = this.wt;
    this.wt = this.writer = null;
    if (wt) wtClose(wt);
    if (err) this.onerror(err);
    this.onclose();
  }

  /** Close from our side, without events: finish the stream (the server then ends the spark and
   * closes the session once it sent what it had queued); close the session after 2 s at most. */
  close() {
    const { wt, writer } = this;
    const open = this.state === 'open';
    this.state = 'closed';
    this.wt = this.writer = null;
    if (!wt) return;
    if (!open || !writer) return wtClose(wt);
    const timer = setTimeout(() => wtClose(wt), 2000);
    wt.closed.then(() => clearTimeout(timer), () => clearTimeout(timer));
    writer.close().catch(() => wtClose(wt));
    return undefined;
  }
}

Primus.WebTransportSocket = WebTransportSocket;

Primus.transports.webtransport = function client() {
  const primus = this;

  if (typeof WebTransport === 'undefined' || typeof fetch === 'undefined') {
    return primus.critical(new Error('The webtransport transport needs WebTransport and fetch() (a browser with HTTP/3)'));
  }

  Primus.socketClient(primus, (opts) => new WebTransportSocket(opts, primus.transport || {}));
};
