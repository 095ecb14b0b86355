// Browser half of the primus-rs `responder` plugin: request/response on the wire format of
// npm primus-responder 1.x ({plugin:'primus-responder', requestId|responseId, data}).
// Included in <pathname>/primus.js when the server has the plugin.
// `primus.writeAndWait(data, fn)` sends a request and calls fn(response) once; a request
// from the server emits `request` with (data, done); done(response) answers it once.
// Envelopes are consumed: they do not reach `data`.
(function () {
  const MARK = 'primus-responder';
  function uuid() {
    const b = new Uint8Array(16);
    globalThis.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  Primus.prototype.writeAndWait = function writeAndWait(data, fn) {
    const state = this.responder;
    if (!state) throw new Error('primus.writeAndWait needs the responder plugin on the server');
    const requestId = uuid();
    state.waiting[requestId] = fn;
    const envelope = { plugin: MARK, requestId };
    if (data !== undefined) envelope.data = data;
    this.write(envelope);
    return this;
  };

  Primus.prototype.ark.responder = function responder(primus) {
    const state = { waiting: {} };
    primus.responder = state;
    primus.transform('incoming', function incoming(packet) {
      const p = packet.data;
      if (!p || typeof p !== 'object' || p.plugin !== MARK) return true;
      if (p.requestId) {
        let answered = false;
        primus.emit('request', p.data, function done(data) {
          if (answered) return;
          answered = true;
          const envelope = { plugin: MARK, responseId: p.requestId };
          if (data !== undefined) envelope.data = data;
          primus.write(envelope);
        });
      } else if (p.responseId) {
        const fn = state.waiting[p.responseId];
        delete state.waiting[p.responseId];
        if (fn) fn.call(primus, p.data);
      }
      return false;
    });
  };
})();
