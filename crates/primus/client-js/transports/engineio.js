// Transport: Engine.IO protocol 4 (the `engine.io` transformer), written for primus-rs.
// HTTP long-polling first (packets joined by \x1e, binary as `b<base64>`), then an upgrade to
// WebSocket (`2probe` / `3probe` / `5`) unless `websockets: false`. The Engine.IO heartbeat
// (server `2`, client `3`) runs below the Primus one. Options Primus forces in the reference
// are kept: base64 binary (`b64=1`), timestamped requests, no remembered upgrade.
//
// How Primus frames ride in Engine.IO messages is left to four methods a subclass may
// override (the socket.io transport, transports/socketio.js, does): `opened()` after the
// handshake, `send(data)` for a frame going out, `receive(data)` for a message coming in,
// and `closing()` for the messages sent before the close. Here: one frame, one message.

const EIO_SEPARATOR = '\x1e';

/** One Engine.IO session. Callbacks: onopen, onmessage(data), onerror(err), onclose(reason). */
class EngineSocket {
  constructor(url, query, options) {
    this.url = url; // http(s)://host/pathname/
    this.query = query; // the Primus query (with _primuscb), no leading '?'
    this.websocket = options.websocket && typeof WebSocket !== 'undefined';
    this.requestTimeout = options.requestTimeout || 0;
    this.state = 'closed';
    this.id = null;
    this.transport = 'polling';
    this.queue = []; // encoded packets not yet sent
    this.polling = null; // AbortController of the running poll
    this.posting = null; // AbortController of the running POST
    this.paused = false; // an upgrade is waiting for polling to go quiet
    this.ws = null;
    this.probe = null;
    this.onopen = this.onmessage = this.onerror = this.onclose = () => {};
  }

  endpoint(transport, extra) {
    const q = [this.query, 'EIO=4', 'transport=' + transport];
    if (this.id) q.push('sid=' + encodeURIComponent(this.id));
    q.push('t=' + Primus.yeast(), 'b64=1');
    if (extra) q.push(extra);
    return this.url + '?' + q.filter(Boolean).join('&');
  }

  open() {
    this.state = 'opening';
    this.request('GET', this.endpoint('polling')).then((text) => {
      if (this.state !== 'opening') return;
      const packets = text.split(EIO_SEPARATOR);
      const first = packets.shift();
      if (!first || first[0] !== '0') throw new Error('Engine.IO handshake expected, got: ' + String(first).slice(0, 40));
      const hs = JSON.parse(first.slice(1));
      this.id = hs.sid;
      this.pingInterval = hs.pingInterval;
      this.pingTimeout = hs.pingTimeout;
      this.state = 'open';
      this.resetPingTimer();
      this.opened();
      for (const p of packets) this.packet(p);
      if (this.state !== 'open') return;
      this.poll();
      if (this.websocket && (hs.upgrades || []).includes('websocket')) this.upgrade();
    }).catch((err) => this.fail(err));
  }

  request(method, url, body) {
    const controller = new AbortController();
    if (method === 'GET') this.polling = controller;
    else this.posting = controller;
    const init = { method, cache: 'no-store', signal: controller.signal };
    if (body !== undefined) {
      init.body = body;
      init.headers = { 'Content-Type': 'text/plain;charset=UTF-8' };
    }
    return fetch(url, init).then((res) => res.text().then((text) => {
      if (!res.ok) {
        const err = new Error('xhr ' + (method === 'GET' ? 'poll' : 'post') + ' error');
        err.status = res.status;
        err.body = text;
        throw err;
      }
      return text;
    })).finally(() => {
      if (method === 'GET' && this.polling === controller) this.polling = null;
      if (method !== 'GET' && this.posting === controller) this.posting = null;
    });
  }

  poll() {
    if (this.state !== 'open' || this.transport !== 'polling' || this.paused || this.polling) return;
    this.request('GET', this.endpoint('polling')).then((text) => {
      if (this.state !== 'open' || this.transport !== 'polling') return;
      for (const p of text.split(EIO_SEPARATOR)) this.packet(p);
      if (this.paused) return this.maybeUpgrade();
      this.poll();
    }).catch((err) => this.fail(err));
  }

  packet(p) {
    if (p instanceof ArrayBuffer) return this.receive(p);
    if (!p) return;
    switch (p[0]) {
      case '1':
        return this.fail(null, 'transport close');
      case '2':
        this.resetPingTimer();
        this.sendPacket('3' + p.slice(1));
        return;
      case '4':
        return this.receive(p.slice(1));
      case 'b':
        return this.receive(base64Decode(p.slice(1)).buffer);
      default:
        return; // 0 (again), 3, 5, 6: nothing to do
    }
  }

  resetPingTimer() {
    clearTimeout(this.pingTimer);
    if (!this.pingInterval) return;
    this.pingTimer = setTimeout(() => this.fail(null, 'ping timeout'), this.pingInterval + this.pingTimeout);
  }

  /** The handshake is done: the session is open (framing hook). */
  opened() {
    this.onopen();
  }

  /** A Primus frame goes out (framing hook): one Engine.IO message. */
  send(data) {
    this.sendMessage(data);
  }

  /** An Engine.IO message came in, text or ArrayBuffer (framing hook): one Primus frame. */
  receive(data) {
    this.onmessage(data);
  }

  /** Engine.IO messages sent before the close packet (framing hook). */
  closing() {
    return [];
  }

  /** Send one Engine.IO message (a string, or binary as `b<base64>`). */
  sendMessage(data) {
    this.sendPacket(typeof data === 'string' ? '4' + data : 'b' + base64Encode(data));
  }

  sendPacket(packet) {
    if (this.state !== 'open') return;
    this.queue.push(packet);
    this.flush();
  }

  flush() {
    if (this.state !== 'open' || !this.queue.length) return;
    if (this.transport === 'websocket') {
      const packets = this.queue.splice(0);
      for (const p of packets) this.ws.send(p);
      return;
    }
    if (this.posting || this.paused) return;
    const packets = this.queue.splice(0);
    this.request('POST', this.endpoint('polling'), packets.join(EIO_SEPARATOR)).then(() => {
      if (this.paused) return this.maybeUpgrade();
      this.flush();
    }).catch((err) => this.fail(err));
  }

  upgrade() {
    let ws;
    try {
      ws = new WebSocket(this.endpoint('websocket').replace(/^http/, 'ws'));
    } catch (e) {
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.probe = ws;
    const abandon = () => {
      if (this.probe !== ws) return;
      this.probe = null;
      this.paused = false;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch (e) {
        // already closed
      }
      this.poll();
      this.flush();
    };
    ws.onopen = () => ws.send('2probe');
    ws.onmessage = (evt) => {
      if (evt.data !== '3probe') return abandon();
      this.paused = true;
      this.maybeUpgrade();
    };
    ws.onerror = abandon;
    ws.onclose = abandon;
  }

  /** Switch to the probed WebSocket once no poll or POST is running. */
  maybeUpgrade() {
    const ws = this.probe;
    if (!ws || !this.paused || this.polling || this.posting || this.state !== 'open') return;
    this.probe = null;
    this.paused = false;
    this.transport = 'websocket';
    this.ws = ws;
    ws.onmessage = (evt) => this.packet(evt.data);
    ws.onerror = () => {};
    ws.onclose = () => this.fail(null, 'transport close');
    ws.send('5');
    this.flush();
  }

  fail(err, reason) {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    this.shutdown();
    if (err && (err.name !== 'AbortError' || !wasOpen)) this.onerror(err);
    this.onclose(reason || 'transport error');
  }

  shutdown() {
    this.state = 'closed';
    clearTimeout(this.pingTimer);
    for (const c of [this.polling, this.posting]) if (c) c.abort();
    this.polling = this.posting = null;
    for (const ws of [this.ws, this.probe]) {
      if (!ws) continue;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch (e) {
        // already closed
      }
    }
    this.ws = this.probe = null;
  }

  /** Close from our side: tell the server (`1`, after the framing's messages), then drop everything. */
  close() {
    if (this.state === 'closed') return;
    if (this.state === 'open') {
      const before = this.closing().map((m) => '4' + m);
      if (this.transport === 'websocket') {
        try {
          for (const p of before.concat('1')) this.ws.send(p);
        } catch (e) {
          // closing anyway
        }
      } else {
        // `1` in a POST of its own, after the framing's messages: a Socket.IO server
        // handles those a tick late, and a `close` in the same payload would win.
        const post = (body) => fetch(this.endpoint('polling'), { method: 'POST', body, cache: 'no-store', keepalive: true });
        const sent = before.length ? post(before.join(EIO_SEPARATOR)).then(() => post('1'), () => post('1')) : post('1');
        sent.catch(() => {});
      }
    }
    this.shutdown();
  }
}

Primus.EngineSocket = EngineSocket;

/**
 * Wire `primus` to Engine.IO sessions made by `make(url, query, options)`: the engine.io
 * transport, and those built on it (socket.io).
 */
Primus.engineClient = function engineClient(primus, name, make) {
  if (typeof fetch === 'undefined') {
    return primus.critical(new Error('The ' + name + ' transport needs fetch() (a browser, or Node 18+)'));
  }

  Primus.socketClient(primus, (opts) => {
    const scheme = opts.secure ? 'https:' : 'http:';
    const host = opts.auth ? opts.auth + '@' + primus.url.host : primus.url.host;
    const url = scheme + '//' + host + (opts.pathname || '') + '/';
    const transport = primus.transport || {};
    const websocket = !primus.AVOID_WEBSOCKETS && !(Array.isArray(transport.transports) && !transport.transports.includes('websocket'));
    return make(url, opts.query, { websocket });
  });
};

Primus.transports['engine.io'] = function client() {
  Primus.engineClient(this, 'engine.io', (url, query, options) => new EngineSocket(url, query, options));
};
