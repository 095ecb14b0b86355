// Transport: SockJS (the `sockjs` transformer), written for primus-rs. `GET <pathname>/info`,
// then a session `<pathname>/<server>/<session>/<transport>` over `websocket`,
// `xhr-streaming` or `xhr-polling`, falling back in that order when one cannot open.
// Frames: `o` open, `h` heartbeat, `a[...]` messages, `c[code,"reason"]` close; the client
// sends JSON arrays of strings. Text only, like SockJS itself.
// Difference: `websockets: false` (or the server's info `websocket: false`) really skips the
// WebSocket transport (sockjs-client 1.6 ignores it). `transport.transports` picks the list.

const SOCKJS_TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling'];
const SOCKJS_OPEN_TIMEOUT = 5000;

function sockjsRandom(length, alphabet) {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(Math.random() * alphabet.length)];
  return out;
}

/** One SockJS session. Callbacks: onopen, onmessage(string), onerror(err), onclose({code, reason}). */
class SockJSSocket {
  constructor(base, query, options) {
    this.base = base; // http(s)://host/pathname
    this.query = query ? '?' + query : '';
    this.wanted = options.transports || SOCKJS_TRANSPORTS;
    this.websocket = options.websocket && typeof WebSocket !== 'undefined';
    this.state = 'closed';
    this.transport = null;
    this.outbox = [];
    this.sending = false;
    this.controllers = new Set();
    this.onopen = this.onmessage = this.onerror = this.onclose = () => {};
  }

  open() {
    this.state = 'connecting';
    this.fetch(this.base + '/info' + this.query, { method: 'GET' })
      .then((res) => {
        if (!res.ok) throw new Error('Cannot connect to server: info answered ' + res.status);
        return res.json();
      })
      .then((info) => {
        if (this.state !== 'connecting') return;
        const list = this.wanted.filter((t) => SOCKJS_TRANSPORTS.includes(t) && (t !== 'websocket' || (this.websocket && info.websocket !== false)));
        this.tryNext(list);
      })
      .catch((err) => this.fail(err, { code: 2000, reason: 'All transports failed' }));
  }

  fetch(url, init) {
    const controller = new AbortController();
    this.controllers.add(controller);
    return fetch(url, Object.assign({ cache: 'no-store', signal: controller.signal }, init)).then((res) => {
      res.done = () => this.controllers.delete(controller);
      return res;
    }, (err) => {
      this.controllers.delete(controller);
      throw err;
    });
  }

  sessionUrl(transport) {
    if (!this.session) this.session = sockjsRandom(3, '0123456789') + '/' + sockjsRandom(8, 'abcdefghijklmnopqrstuvwxyz012345');
    return this.base + '/' + this.session + '/' + transport + this.query;
  }

  tryNext(list) {
    if (this.state !== 'connecting') return;
    const transport = list.shift();
    if (!transport) return this.fail(new Error('Cannot connect to server'), { code: 2000, reason: 'All transports failed' });
    this.transport = transport;
    this.session = null; // a fresh session per attempt
    const failed = () => {
      if (this.state === 'connecting' && this.transport === transport) {
        clearTimeout(this.openTimer);
        this.stopTransport();
        this.tryNext(list);
      }
    };
    this.openTimer = setTimeout(failed, SOCKJS_OPEN_TIMEOUT);
    if (transport === 'websocket') this.openWebSocket(failed);
    else this.receive(transport === 'xhr-streaming' ? 'xhr_streaming' : 'xhr', failed);
  }

  openWebSocket(failed) {
    let ws;
    try {
      ws = new WebSocket(this.sessionUrl('websocket').replace(/^http/, 'ws'));
    } catch (e) {
      return failed();
    }
    this.ws = ws;
    ws.onmessage = (evt) => this.frame(String(evt.data));
    ws.onerror = () => {};
    ws.onclose = (evt) => {
      if (this.state === 'connecting') return failed();
      this.closed({ code: evt.code || 1006, reason: evt.reason || 'WebSocket connection broken' });
    };
  }

  /** Receive over xhr_streaming (one long response) or xhr (one response per poll). */
  receive(endpoint, failed) {
    const url = this.sessionUrl(endpoint);
    const once = () => {
      if (this.state === 'closed') return;
      let buffer = '';
      this.fetch(url, { method: 'POST' })
        .then((res) => {
          if (!res.ok) throw new Error(endpoint + ' answered ' + res.status);
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          const pump = () => reader.read().then(({ done, value }) => {
            if (this.state === 'closed') return reader.cancel().catch(() => {});
            if (value) {
              buffer += decoder.decode(value, { stream: true });
              let nl;
              while ((nl = buffer.indexOf('\n')) >= 0) {
                const line = buffer.slice(0, nl);
                buffer = buffer.slice(nl + 1);
                if (line) this.frame(line);
                if (this.state === 'closed') return reader.cancel().catch(() => {});
              }
            }
            if (done) {
              res.done();
              return once(); // the response ended (response_limit, or one poll): go on
            }
            return pump();
          });
          return pump();
        })
        .catch((err) => {
          if (this.state === 'connecting') return failed();
          if (this.state === 'open') this.closed({ code: 1006, reason: 'Connection broken' }, err);
        });
    };
    once();
  }

  frame(text) {
    if (!text) return;
    switch (text[0]) {
      case 'o':
        if (this.state !== 'connecting') return;
        clearTimeout(this.openTimer);
        this.state = 'open';
        this.onopen();
        return this.flush();
      case 'h':
        return;
      case 'a': {
        let messages;
        try {
          messages = JSON.parse(text.slice(1));
        } catch (e) {
          return;
        }
        for (const m of messages) {
          if (this.state !== 'open') return;
          this.onmessage(m);
        }
        return;
      }
      case 'm': {
        try {
          this.onmessage(JSON.parse(text.slice(1)));
        } catch (e) {
          // not a frame
        }
        return;
      }
      case 'c': {
        let close = [1006, 'Connection closed'];
        try {
          close = JSON.parse(text.slice(1));
        } catch (e) {
          // keep the default
        }
        return this.closed({ code: close[0], reason: close[1] });
      }
      default:
        return;
    }
  }

  send(message) {
    if (this.state === 'closed') return;
    this.outbox.push(String(message));
    this.flush();
  }

  flush() {
    if (this.state !== 'open' || !this.outbox.length) return;
    if (this.transport === 'websocket') {
      const batch = this.outbox.splice(0);
      try {
        this.ws.send(JSON.stringify(batch));
      } catch (e) {
        this.closed({ code: 1006, reason: 'WebSocket send failed' }, e);
      }
      return;
    }
    if (this.sending) return;
    this.sending = true;
    const batch = this.outbox.splice(0);
    this.fetch(this.sessionUrl('xhr_send'), {
      method: 'POST',
      body: JSON.stringify(batch),
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    }).then((res) => {
      res.done();
      this.sending = false;
      if (!res.ok) throw new Error('xhr_send answered ' + res.status);
      this.flush();
    }).catch((err) => {
      this.sending = false;
      if (this.state === 'open') this.closed({ code: 1006, reason: 'Connection broken' }, err);
    });
  }

  stopTransport() {
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close(1000);
      } catch (e) {
        // already closed
      }
    }
  }

  closed(close, err) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.openTimer);
    this.stopTransport();
    if (err) this.onerror(err);
    this.onclose(close);
  }

  fail(err, close) {
    if (this.state === 'closed') return;
    if (err && err.name !== 'AbortError') close.reason = err.message || close.reason;
    this.closed(close); // code > 1000: the client turns it into an `error`
  }

  /** Close from our side: no events. */
  close() {
    this.state = 'closed';
    clearTimeout(this.openTimer);
    this.stopTransport();
  }
}

Primus.SockJSSocket = SockJSSocket;

Primus.transports.sockjs = function client() {
  const primus = this;
  let socket = null;

  if (typeof fetch === 'undefined') {
    return primus.critical(new Error('The sockjs transport needs fetch() (a browser, or Node 18+)'));
  }

  primus.on('outgoing::open', function opening() {
    primus.emit('outgoing::end');
    const opts = primus.uri({ protocol: 'http:', query: true, object: true });
    const scheme = opts.secure ? 'https:' : 'http:';
    const host = opts.auth ? opts.auth + '@' + primus.url.host : primus.url.host;
    const transport = primus.transport || {};
    const s = new SockJSSocket(scheme + '//' + host + (opts.pathname || ''), opts.query, {
      websocket: !primus.AVOID_WEBSOCKETS,
      transports: Array.isArray(transport.transports) ? transport.transports : undefined,
    });
    primus.socket = socket = s;
    s.onopen = () => primus.emit('incoming::open');
    s.onmessage = (data) => primus.emit('incoming::data', data);
    s.onerror = (err) => primus.emit('incoming::error', err);
    s.onclose = (e) => {
      if (e && e.code > 1000) primus.emit('incoming::error', e);
      primus.emit('incoming::end');
    };
    s.open();
  });

  primus.on('outgoing::data', function write(message) {
    if (socket) socket.send(message);
  });

  primus.on('outgoing::reconnect', function reconnect() {
    primus.emit('outgoing::open');
  });

  primus.on('outgoing::end', function close() {
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = () => {};
    socket.close();
    socket = null;
  });
};
