// Browser half of the primus-rs `multiplex` plugin: named substreams over one connection,
// on the wire format of npm substream 0.2.0 ({substream: name, args: payload} packets,
// args "substream::end" ends one). Included in <pathname>/primus.js when the server has the
// plugin. `primus.substream(name)` opens (or returns) a substream: an event emitter with
// `write(data)`, `end([data])`, and `data`, `end`, `close` events, like npm substream's
// client; `primus.streams` maps names to the open ones. A packet for a substream not open
// here is ordinary `data`, as in npm, unless `primus.on('substream', fn)` is listened to:
// then it opens the substream, `fn(substream)` runs, and the packet is its first `data`.
// Limits (filled in by the server): at most MAX_SUBSTREAMS open substreams and names of at
// most MAX_NAME_LEN bytes; packets beyond them are dropped. Writing the string
// "substream::end" as data is refused (it would end the peer's substream).
(function multiplexPlugin() {
  const END = 'substream::end';
  const MAX_SUBSTREAMS = __MAX_SUBSTREAMS__;
  const MAX_NAME_LEN = __MAX_NAME_LEN__;
  const PROXIED = ['open', 'reconnect', 'reconnected', 'offline', 'online', 'close'];
  const byteLength = (s) => new TextEncoder().encode(s).length;

  class SubStream extends Primus.EventEmitter {
    constructor(primus, name) {
      super();
      this.stream = primus;
      this.primus = primus;
      this.name = name;
      this.readyState = primus.readyState;
    }

    /** Write `msg` on the substream; false once it has ended. */
    write(msg) {
      if (!this.stream) return false;
      if (msg === END) throw new Error('"substream::end" is the end marker: call end() instead');
      this.stream.write({ substream: this.name, args: msg === undefined ? null : msg });
      return true;
    }

    /** End it: `msg` (if any) is written first, then the peer is told (unless `received`). */
    end(msg, received) {
      const primus = this.stream;
      if (!primus || !primus.streams || primus.streams[this.name] !== this) return this;
      if (msg !== undefined && msg !== null) this.write(msg);
      if (!received) primus.write({ substream: this.name, args: END });
      delete primus.streams[this.name];
      this.stream = null;
      this.readyState = Primus.CLOSED;
      this.emit('close');
      this.emit('end');
      return this.removeAllListeners();
    }

    /** Whether `packet` (a decoded value) is for this substream; if so it is handled. */
    mine(packet) {
      if (!packet || typeof packet !== 'object' || packet.substream !== this.name) return false;
      if (packet.args === END) {
        this.end(null, true);
        return true;
      }
      this.emit('data', packet.args);
      return true;
    }
  }

  Primus.SubStream = SubStream;

  Primus.prototype.ark.multiplex = function multiplex(primus) {
    primus.streams = Object.create(null);

    primus.substream = function substream(name) {
      name = String(name);
      if (primus.streams[name]) return primus.streams[name];
      if (byteLength(name) > MAX_NAME_LEN) throw new Error(`substream name longer than ${MAX_NAME_LEN} bytes`);
      if (Object.keys(primus.streams).length >= MAX_SUBSTREAMS) {
        throw new Error(`${MAX_SUBSTREAMS} substreams are already open: end some first`);
      }
      const sub = new SubStream(primus, name);
      primus.streams[name] = sub;
      return sub;
    };

    primus.transform('incoming', function incoming(packet) {
      const p = packet.data;
      if (!p || typeof p !== 'object' || Array.isArray(p) || !('substream' in p) || !('args' in p)) return true;
      if (typeof p.substream !== 'string' || byteLength(p.substream) > MAX_NAME_LEN) return false;
      const open = primus.streams[p.substream];
      if (open) {
        open.mine(p);
        return false;
      }
      if (!primus.listeners('substream').length) return true; // like npm: plain data
      if (p.args === END) return false;
      if (Object.keys(primus.streams).length >= MAX_SUBSTREAMS) return false;
      const sub = primus.substream(p.substream);
      primus.emit('substream', sub);
      sub.mine(p);
      return false;
    });

    primus.on('readyStateChange', function change(reason) {
      for (const name of Object.keys(primus.streams)) {
        const sub = primus.streams[name];
        sub.readyState = primus.readyState;
        sub.emit('readyStateChange', reason);
      }
    });
    for (const event of PROXIED) {
      primus.on(event, function proxy(...args) {
        for (const name of Object.keys(primus.streams)) primus.streams[name].emit(event, ...args);
      });
    }
    // The connection ended: every substream ends here (no frames).
    primus.on('end', function end() {
      for (const name of Object.keys(primus.streams)) primus.streams[name].end(null, true);
    });
  };
})();
