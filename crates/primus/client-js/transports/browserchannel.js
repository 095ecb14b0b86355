// Transport: Google's BrowserChannel (the `browserchannel` transformer, protocol 8 as npm
// `browserchannel` 2.1 speaks it), written for primus-rs; not the closure-compiled
// BCSocket. `POST <pathname>/bind?<query>&VER=8&RID=…` with `count=0` creates the session
// (its answer's array 0 is `["c", sid, …]`); a streaming `GET …&RID=rpc&SID=…&CI=0&AID=…
// &TYPE=xmlhttp` is the back channel, reopened whenever the server ends it; its chunks
// are `<length>\n[[id, data], …]\n` (the length counts UTF-16 units, i.e. JavaScript
// string length). Messages go out one POST at a time as `count=N&ofs=M&req0__S=…`; what
// is written meanwhile goes in the next, within what the server takes (the first map,
// then more while the body stays within 64 KiB beyond it, at most 1000 maps: the server
// bounds bodies by `3 × max_length + 64 KiB`). `["stop"]` from the server is reported as
// the error `Stopped by server`, then the socket closes (as the reference's client does),
// and `GET …&TYPE=terminate` tells the server it arrived. `end()` posts what is still
// queued, then sends `GET …&TYPE=terminate`. The connection tests (`/test`) are skipped:
// this client always streams. Text only. `transport: {withCredentials: true}` sends
// cookies to another origin.

/** Most back channels in a row that may end without data before the socket gives up. */
const BC_MAX_EMPTY = 3;
/** Most maps in one forward-channel request (the protocol's limit). */
const BC_MAX_MAPS = 1000;
/** Bytes a forward-channel body may take beyond its first map's value (the server's slack). */
const BC_BODY_SLACK = 64 * 1024;

function bcRandom() {
  return Math.random().toString(36).slice(2, 14);
}

/** Split `state.buf` into complete `<length>\n<text>` chunks; throws on bad framing. */
function bcChunks(state) {
  const out = [];
  for (;;) {
    const nl = state.buf.indexOf('\n');
    if (nl === -1) {
      if (state.buf.length > 20) throw new Error('browserchannel: bad chunk length');
      return out;
    }
    const line = state.buf.slice(0, nl);
    if (!/^\d+$/.test(line)) throw new Error('browserchannel: bad chunk length');
    const size = Number(line);
    if (state.buf.length < nl + 1 + size) return out;
    out.push(state.buf.substr(nl + 1, size));
    state.buf = state.buf.slice(nl + 1 + size);
  }
}

/** One BrowserChannel session. Callbacks: onopen, onmessage(data), onerror(err), onclose(). */
class BrowserChannelSocket {
  constructor(base, query, options) {
    this.bind = base + '/bind'; // http(s)://host/pathname/bind
    this.query = query ? query + '&' : '';
    this.credentials = options.withCredentials ? 'include' : 'same-origin';
    this.state = 'closed';
    this.sid = null;
    this.lastArrayId = -1;
    this.nextMap = 0;
    this.rid = 0;
    this.outbox = [];
    this.sending = false;
    this.ending = false;
    this.terminated = false;
    this.back = null;
    this.empty = 0;
    this.onopen = this.onmessage = this.onerror = this.onclose = () => {};
  }

  url(params) {
    return this.bind + '?' + this.query + 'VER=8&' + params + '&zx=' + bcRandom() + '&t=1';
  }

  request(params, init) {
    return fetch(this.url(params), Object.assign({ cache: 'no-store', credentials: this.credentials }, init));
  }

  open() {
    this.state = 'connecting';
    this.rid = Math.floor(Math.random() * 100000);
    const rid = this.rid++;
    this.request('RID=' + rid, {
      method: 'POST',
      body: 'count=0',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }).then((res) => {
      if (!res.ok) throw new Error('browserchannel: session request answered ' + res.status);
      return res.text();
    }).then((text) => {
      const arrays = [];
      for (const chunk of bcChunks({ buf: text })) arrays.push(...JSON.parse(chunk));
      const first = arrays.shift();
      if (!first || !Array.isArray(first[1]) || first[1][0] !== 'c' || typeof first[1][1] !== 'string') {
        throw new Error('browserchannel: the server did not create a session');
      }
      this.sid = first[1][1];
      this.lastArrayId = first[0];
      // Closed while the session was being made: end it at once rather than let it time out.
      if (this.state !== 'connecting') return this.terminate();
      this.state = 'open';
      this.onopen();
      this.deliver(arrays);
      if (this.state !== 'open') return;
      this.backChannel();
      this.flush();
    }).catch((err) => this.closed(err));
  }

  /** Hand arrays not seen before to the client; `stop` ends the socket. */
  deliver(arrays) {
    for (const entry of arrays) {
      if (this.state !== 'open') return;
      const id = entry[0];
      const data = entry[1];
      if (id <= this.lastArrayId) continue;
      this.lastArrayId = id;
      if (Array.isArray(data)) {
        if (data[0] === 'stop') {
          // Acknowledged at once (AID = the stop's id): the server drops the session now.
          this.terminate();
          return this.closed(new Error('Stopped by server'));
        }
        if (data[0] === 'noop' || data[0] === 'c') continue;
      }
      this.onmessage(typeof data === 'string' ? data : JSON.stringify(data));
    }
  }

  /** Keep one streaming back channel open, and open the next when the server ends it. */
  backChannel() {
    const abort = typeof AbortController !== 'undefined' ? new AbortController() : null;
    this.back = abort;
    const params = 'RID=rpc&SID=' + encodeURIComponent(this.sid) + '&CI=0&AID=' + this.lastArrayId + '&TYPE=xmlhttp';
    const state = { buf: '', count: 0 };
    const current = () => this.back === abort && this.state === 'open';
    const take = (text) => {
      state.buf += text;
      for (const chunk of bcChunks(state)) {
        const arrays = JSON.parse(chunk);
        state.count += arrays.length;
        this.deliver(arrays);
        if (!current()) return;
      }
    };
    this.request(params, { signal: abort ? abort.signal : undefined }).then((res) => {
      if (!res.ok) throw new Error('browserchannel: back channel answered ' + res.status);
      if (!res.body || typeof TextDecoder === 'undefined') return res.text().then(take);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const pump = () => reader.read().then(({ done, value }) => {
        if (!current()) return reader.cancel().catch(() => {});
        if (done) return take(decoder.decode());
        take(decoder.decode(value, { stream: true }));
        return current() ? pump() : reader.cancel().catch(() => {});
      });
      return pump();
    }).then(() => {
      if (!current()) return;
      if (state.buf.length) throw new Error('browserchannel: a chunk was cut short');
      this.empty = state.count ? 0 : this.empty + 1;
      if (this.empty > BC_MAX_EMPTY) throw new Error('browserchannel: the server keeps ending the back channel');
      this.backChannel();
    }).catch((err) => {
      if (current()) this.closed(err);
    });
  }

  send(message) {
    if (this.state === 'closed' || this.ending) return;
    if (typeof message !== 'string') {
      this.onerror(new Error('browserchannel carries text only: use a text parser'));
      return;
    }
    this.outbox.push(message);
    this.flush();
  }

  /** POST what is queued, one request at a time, in order; once ending and sent, terminate. */
  flush() {
    if (this.sending || !this.sid) return;
    if (!this.outbox.length) {
      if (this.ending) this.terminate();
      return;
    }
    if (this.state !== 'open' && !this.ending) return;
    this.sending = true;
    // The first map always; more while the body stays within the server's slack.
    const first = encodeURIComponent(this.outbox[0]);
    const budget = first.length + BC_BODY_SLACK;
    let maps = '&req0__S=' + first;
    let n = 1;
    for (; n < this.outbox.length && n < BC_MAX_MAPS; n++) {
      const map = '&req' + n + '__S=' + encodeURIComponent(this.outbox[n]);
      const head = 'count=' + (n + 1) + '&ofs=' + this.nextMap;
      if (head.length + maps.length + map.length > budget) break;
      maps += map;
    }
    this.outbox.splice(0, n);
    const body = 'count=' + n + '&ofs=' + this.nextMap + maps;
    this.nextMap += n;
    const params = 'SID=' + encodeURIComponent(this.sid) + '&RID=' + this.rid++ + '&AID=' + this.lastArrayId;
    this.request(params, {
      method: 'POST',
      body,
      keepalive: this.ending && body.length < 60000,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    }).then((res) => {
      if (!res.ok) throw new Error('browserchannel: forward channel answered ' + res.status);
      return res.text();
    }).then((text) => {
      const answer = bcChunks({ buf: text })[0];
      if (!answer || JSON.parse(answer).length !== 3) throw new Error('browserchannel: bad forward channel answer');
      this.sending = false;
      this.flush();
    }).catch((err) => {
      this.sending = false;
      if (this.state === 'open') return this.closed(err);
      // Ending: what is left cannot go; the server still hears of the end.
      this.outbox = [];
      if (this.ending) this.terminate();
    });
  }

  stopBackChannel() {
    const abort = this.back;
    this.back = null;
    if (abort) abort.abort();
  }

  closed(err) {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.outbox = [];
    this.stopBackChannel();
    if (err) this.onerror(err);
    this.onclose();
  }

  /**
   * Close from our side: no events; what is queued is still posted (what `end(data)` wrote
   * just before), then the server is told with `TYPE=terminate`.
   */
  close() {
    const open = this.state === 'open';
    this.state = 'closed';
    this.stopBackChannel();
    if (!open) return;
    this.ending = true;
    this.flush();
  }

  /** `GET …&TYPE=terminate` (once): the server ends the session and its spark. */
  terminate() {
    if (this.terminated || !this.sid) return;
    this.terminated = true;
    this.ending = false;
    const params = 'SID=' + encodeURIComponent(this.sid) + '&RID=' + this.rid++ + '&AID=' + this.lastArrayId + '&TYPE=terminate';
    this.request(params, { keepalive: true }).catch(() => {});
  }
}

Primus.BrowserChannelSocket = BrowserChannelSocket;

Primus.transports.browserchannel = function client() {
  const primus = this;

  if (typeof fetch === 'undefined') {
    return primus.critical(new Error('The browserchannel transport needs fetch() (a browser)'));
  }

  Primus.socketClient(primus, (opts) => {
    const scheme = opts.secure ? 'https:' : 'http:';
    const transport = primus.transport || {};
    // Like the reference's client, the original query rides along without `_primuscb`.
    const query = primus.querystring(opts.query || '');
    delete query._primuscb;
    return new BrowserChannelSocket(scheme + '//' + primus.url.host + (opts.pathname || ''), primus.querystringify(query), {
      withCredentials: transport.withCredentials,
    });
  });
};
