// Browser half of the primus-rs `emitter` plugin: named events with acknowledgements,
// on the wire format of npm primus-emitter 3.x ({type:0,data:[name,...args],id?} events,
// {id,type:1,data:[...]} acknowledgements). Included in <pathname>/primus.js when the
// server has the plugin. `primus.send(name, ...args[, fn])` sends; listeners added with
// `primus.on(name, fn)` get the arguments and, when the server asked for one, an ack
// function as the last argument. Emitter packets are consumed: they do not reach `data`.
Primus.prototype.send = function send(name, ...args) {
  const emitter = this.emitter;
  if (!emitter) throw new Error('primus.send needs the emitter plugin on the server');
  if (/^(newListener|removeListener)/.test(name)) return this;
  const packet = { type: 0, data: [name] };
  if (args.length && typeof args[args.length - 1] === 'function') {
    const id = emitter.nextId++;
    emitter.acks[id] = args.pop();
    packet.id = id;
  }
  packet.data.push(...args);
  packet.data = packet.data.map((v) => (v === undefined ? null : v));
  this.write(packet);
  return this;
};

Primus.prototype.ark.emitter = function emitter(primus) {
  const state = { nextId: 1, acks: {} };
  primus.emitter = state;
  primus.transform('incoming', function incoming(packet) {
    const p = packet.data;
    if (!p || typeof p !== 'object' || !Array.isArray(p.data) || (p.type !== 0 && p.type !== 1)) return true;
    if (p.id !== undefined && p.id !== null && p.id !== 0 && typeof p.id !== 'number') return true;
    if (p.type === 1) {
      const fn = state.acks[p.id];
      delete state.acks[p.id];
      if (fn) fn.apply(primus, p.data);
      return false;
    }
    const [name, ...args] = p.data;
    if (typeof name !== 'string' || primus.reserved(name)) return false;
    if (p.id) {
      let answered = false;
      args.push(function ack(...reply) {
        if (answered) return;
        answered = true;
        primus.write({ id: p.id, type: 1, data: reply.map((v) => (v === undefined ? null : v)) });
      });
    }
    primus.emit(name, ...args);
    return false;
  });
};
