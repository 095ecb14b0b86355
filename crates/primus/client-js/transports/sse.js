// Transport: Server-Sent Events down, fetch POST up (the `sse` transformer, beyond the
// reference), written for primus-rs. `GET <pathname>/sse?<query>` through `EventSource`:
// `event: open` names the session, then one event per frame (plain `data:` for text,
// `event: quoted` for text with `\r`, `event: binary` for base64), `event: close` last.
// Messages go out as `POST <pathname>/sse/<session>?<query>`, one frame per line (a JSON
// string, or `b<base64>`), one POST at a time: what is written meanwhile goes in the next.
// `EventSource` never reconnects on its own here (it is closed on `error`): the Primus
// client decides. `end()` sends `DELETE <pathname>/sse/<session>` after the last POST.
// `transport: {withCredentials: true}` sends cookies to another origin.

/** One sse session. Callbacks: onopen, onmessage(data), onerror(err), onclose(). */
class SSESocket {
  constructor(base, query, options) {
    this.base = base; // http(s)://host/pathname
    this.query = query ? '?' + query : '';
    this.credentials = options.withCredentials ? 'include' : 'same-origin';
    this.withCredentials = !!options.withCredentials;
    this.state = 'closed';
    this.session = null;
    this.outbox = [];
    this.sending = false;
    this.ending = false;
    this.onopen = this.onmessage = this.onerror = this.onclose = () => {};
  }

  open() {
    this.state = 'connecting';
    let es;
    try {
      es = new EventSource(this.base + '/sse' + this.query, { withCredentials: this.withCredentials });
    } catch (e) {
      return this.closed(e);
    }
    this.es = es;
    es.addEventListener('open', (evt) => {
      // EventSource's own `open` (headers arrived) has no data; ours names the session.
      if (typeof evt.data !== 'string' || this.state !== 'connecting') return;
      this.session = this.base + '/sse/' + encodeURIComponent(evt.data) + this.query;
      this.state = 'open';
      this.onopen();
      this.flush();
    });
    es.onmessage = (evt) => this.deliver(evt.data);
    es.addEventListener('quoted', (evt) => {
      let text;
      try {
        text = JSON.parse(evt.data);
      } catch (e) {
        return this.closed(new Error('sse: bad quoted event'));
      }
      this.deliver(text);
    });
    es.addEventListener('binary', (evt) => {
      let data;
      try {
        data = base64Decode(evt.data).buffer;
      } catch (e) {
        return this.closed(new Error('sse: bad binary event'));
      }
      this.deliver(data);
    });
    es.addEventListener('close', () => this.closed(null));
    es.onerror = () => this.closed(new Error(this.state === 'connecting' ? 'sse: cannot open the stream' : 'sse: stream broken'));
  }

  deliver(data) {
    if (this.state === 'open') this.onmessage(data);
  }

  send(message) {
    if (this.state === 'closed' || this.ending) return;
    this.outbox.push(typeof message === 'string' ? JSON.stringify(message) : 'b' + base64Encode(message));
    this.flush();
  }

  /** POST what is queued, one request at a time, in order. */
  flush() {
    if (this.sending || !this.session) return;
    if (!this.outbox.length) {
      if (this.ending) this.remove();
      return;
    }
    if (this.state !== 'open' && !this.ending) return;
    this.sending = true;
    const body = this.outbox.splice(0).join('\n') + '\n';
    fetch(this.session, {
      method: 'POST',
      body,
      cache: 'no-store',
      credentials: this.credentials,
      keepalive: this.ending && body.length < 60000,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    }).then((res) => {
      this.sending = false;
      if (!res.ok) throw new Error('sse: POST answered ' + res.status);
      this.flush();
    }).catch((err) => {
      this.sending = false;
      this.outbox = [];
      if (this.state === 'open') this.closed(err);
    });
  }

  /** DELETE the session (the client's end). */
  remove() {
    const url = this.session;
    this.session = null;
    if (!url) return;
    fetch(url, { method: 'DELETE', cache: 'no-store', credentials: this.credentials, keepalive: true }).catch(() => {});
  }

  stopStream() {
    if (!this.es) return;
    const es = this.es;
    this.es = null;
    es.onmessage = es.onerror = null;
    es.close();
  }

  closed(err) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.session = null;
    this.outbox = [];
    this.stopStream();
    if (err) this.onerror(err);
    this.onclose();
  }

  /** Close from our side: no events; queued messages are still posted, then DELETE. */
  close() {
    const open = this.state === 'open';
    this.state = 'closed';
    this.stopStream();
    if (!open) return;
    this.ending = true;
    this.flush();
  }
}

Primus.SSESocket = SSESocket;

Primus.transports.sse = function client() {
  const primus = this;

  if (typeof EventSource === 'undefined' || typeof fetch === 'undefined') {
    return primus.critical(new Error('The sse transport needs EventSource and fetch() (a browser)'));
  }

  Primus.socketClient(primus, (opts) => {
    const scheme = opts.secure ? 'https:' : 'http:';
    const transport = primus.transport || {};
    return new SSESocket(scheme + '//' + primus.url.host + (opts.pathname || ''), opts.query, {
      withCredentials: transport.withCredentials,
    });
  });
};
