// primus-rs browser client: the core.
//
// Plain modern JavaScript, no build step. The server (crates/primus/src/library.rs) wraps this
// file, the transports (transports/*.js) and the parsers (parsers/*.js) in
// a UMD (or ES module) wrapper and calls `Primus.configure({...})` with the server's settings:
// pathname, version, transformer, parser, the default pingTimeout and whether the server has
// an authorizer. Public API and events follow the reference client (npm `primus` 8); see
// shared/protocol.md §6. Deliberate differences are marked "Difference:".

// ---------------------------------------------------------------------------------------
// Small helpers: events, named timers, human durations, ids, query strings.

/** A minimal event emitter (on/once/off/emit/listeners), enough for Primus and plugins. */
class EventEmitter {
  constructor() {
    this._events = new Map();
  }

  on(event, fn, context) {
    const list = this._events.get(event) || [];
    list.push({ fn, context, once: false });
    this._events.set(event, list);
    return this;
  }

  addListener(event, fn, context) {
    return this.on(event, fn, context);
  }

  once(event, fn, context) {
    const list = this._events.get(event) || [];
    list.push({ fn, context, once: true });
    this._events.set(event, list);
    return this;
  }

  off(event, fn) {
    if (!this._events.has(event)) return this;
    if (!fn) {
      this._events.delete(event);
      return this;
    }
    const list = this._events.get(event).filter((l) => l.fn !== fn);
    if (list.length) this._events.set(event, list);
    else this._events.delete(event);
    return this;
  }

  removeListener(event, fn) {
    return this.off(event, fn);
  }

  removeAllListeners(event) {
    if (event === undefined) this._events = new Map();
    else this._events.delete(event);
    return this;
  }

  listeners(event) {
    return (this._events.get(event) || []).map((l) => l.fn);
  }

  listenerCount(event) {
    return (this._events.get(event) || []).length;
  }

  eventNames() {
    return [...this._events.keys()];
  }

  emit(event, ...args) {
    const list = this._events.get(event);
    if (!list || !list.length) return false;
    const snapshot = list.slice();
    if (snapshot.some((l) => l.once)) {
      const kept = list.filter((l) => !l.once);
      if (kept.length) this._events.set(event, kept);
      else this._events.delete(event);
    }
    for (const l of snapshot) l.fn.apply(l.context || this, args);
    return true;
  }
}

/** Named timeouts, cleared by name (`'a, b'`) or all at once. */
class Timers {
  constructor(context) {
    this.context = context;
    this.map = new Map();
  }

  setTimeout(name, fn, ms) {
    this.clear(name);
    const handle = setTimeout(() => {
      this.map.delete(name);
      fn.call(this.context);
    }, ms);
    this.map.set(name, handle);
    return this;
  }

  active(name) {
    return this.map.has(name);
  }

  clear(names) {
    const list = names === undefined ? [...this.map.keys()] : String(names).split(/[\s,]+/);
    for (const name of list) {
      if (!this.map.has(name)) continue;
      clearTimeout(this.map.get(name));
      this.map.delete(name);
    }
    return this;
  }

  destroy() {
    this.clear();
  }
}

const UNITS = {
  ms: 1, msec: 1, msecs: 1, millisecond: 1, milliseconds: 1,
  s: 1e3, sec: 1e3, secs: 1e3, second: 1e3, seconds: 1e3,
  m: 6e4, min: 6e4, mins: 6e4, minute: 6e4, minutes: 6e4,
  h: 36e5, hr: 36e5, hrs: 36e5, hour: 36e5, hours: 36e5,
  d: 864e5, day: 864e5, days: 864e5,
  w: 6048e5, week: 6048e5, weeks: 6048e5,
};

/** A duration in ms from a number or a human string (`'500 ms'`, `'30 seconds'`). */
function millisecond(value) {
  if (typeof value === 'number') return value;
  const m = /^\s*(-?(?:\d+)?\.?\d+)\s*([a-z]*)\s*$/i.exec(String(value));
  if (!m) return 0;
  return +m[1] * (UNITS[(m[2] || 'ms').toLowerCase()] || 0);
}

/** Standard base64 of bytes (an ArrayBuffer or a typed array), for the transports and parsers. */
function base64Encode(data) {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** The bytes of standard base64 text, as a Uint8Array (throws on bad input, as `atob` does). */
function base64Decode(text) {
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_';
let yeastSeed = 0;
let yeastPrev;

function encode64(num) {
  let out = '';
  do {
    out = ALPHABET[num % 64] + out;
    num = Math.floor(num / 64);
  } while (num > 0);
  return out;
}

/** A unique, time-ordered id: `Date.now()` in base 64, `.<n>` within the same ms. */
function yeast() {
  const now = encode64(Date.now());
  if (now !== yeastPrev) {
    yeastSeed = 0;
    yeastPrev = now;
    return now;
  }
  return now + '.' + encode64(yeastSeed++);
}

function qsParse(query) {
  const out = {};
  for (const part of String(query || '').replace(/^[?#]/, '').split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const dec = (s) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, ' '));
      } catch (e) {
        return null;
      }
    };
    const key = dec(eq < 0 ? part : part.slice(0, eq));
    const value = dec(eq < 0 ? '' : part.slice(eq + 1));
    if (key === null || value === null || key in out) continue;
    out[key] = value;
  }
  return out;
}

function qsStringify(obj, prefix) {
  const pairs = [];
  for (const key of Object.keys(obj)) {
    let value = obj[key];
    if (value === null || value === undefined) value = '';
    pairs.push(encodeURIComponent(key) + '=' + encodeURIComponent(value));
  }
  if (!pairs.length) return '';
  return (prefix ? (typeof prefix === 'string' ? prefix : '?') : '') + pairs.join('&');
}

/** Parse a URL into the pieces the reference's `url-parse` gives (protocol, host, auth…). */
function parseUrl(url) {
  const base = typeof location !== 'undefined' && location.href ? location.href : 'http://127.0.0.1';
  const u = new URL(String(url), base);
  const auth = u.username ? decodeURIComponent(u.username) + (u.password ? ':' + decodeURIComponent(u.password) : '') : '';
  return {
    href: u.href,
    protocol: u.protocol,
    host: u.host,
    hostname: u.hostname,
    port: u.port,
    pathname: u.pathname,
    query: u.search,
    hash: u.hash,
    auth,
    username: u.username,
    password: u.password,
    origin: u.origin,
  };
}

let defaultUrl = 'http://127.0.0.1';
try {
  if (typeof location !== 'undefined' && location.origin && location.origin !== 'null') defaultUrl = location.origin;
} catch (e) {
  // not a browser
}

// ---------------------------------------------------------------------------------------
// Reconnect back-off (the reference's `recovery` module).

const RECOVERY_DEFAULTS = {
  'reconnect timeout': '30 seconds',
  max: Infinity,
  min: '500 ms',
  retries: 10,
  factor: 2,
};

/**
 * The delay of reconnect attempt `attempt` (1-based): exactly `min` for the first, then
 * `min((random + 1) * min * factor^(attempt-1), max)`, rounded.
 */
function backoffDelay(attempt, min, max, factor, random = Math.random) {
  if (attempt === 1) return min;
  return Math.min(Math.round((random() + 1) * min * Math.pow(factor, attempt - 1)), max);
}

class Recovery extends EventEmitter {
  constructor(options = {}) {
    super();
    this.attempt = null;
    this._fn = null;
    for (const key of Object.keys(RECOVERY_DEFAULTS)) this[key] = this.option(key, options);
    this.timers = new Timers(this);
  }

  option(key, opts) {
    const value = key in opts ? opts[key] : key in this ? this[key] : RECOVERY_DEFAULTS[key];
    return key === 'retries' || key === 'factor' ? +value : millisecond(value);
  }

  reconnect() {
    return this.backoff((err, opts) => {
      opts.duration = Date.now() - opts.start;
      if (err) this.emit('reconnect failed', err, opts);
      else this.emit('reconnected', opts);
    }, this.attempt);
  }

  backoff(fn, opts) {
    opts = opts || this.attempt || {};
    if (opts.backoff) return this; // an attempt is already scheduled
    for (const key of Object.keys(RECOVERY_DEFAULTS)) opts[key] = this.option(key, opts);
    opts.start = +opts.start || Date.now();
    opts.duration = +opts.duration || 0;
    opts.attempt = +opts.attempt || 0;

    if (opts.attempt === opts.retries) {
      fn.call(this, new Error('Unable to recover'), opts);
      return this;
    }

    opts.backoff = true;
    opts.attempt++;
    this.attempt = opts;
    opts.scheduled = backoffDelay(opts.attempt, opts.min, opts.max, opts.factor);

    this.timers.setTimeout('reconnect', () => {
      opts.duration = Date.now() - opts.start;
      opts.backoff = false;
      this.timers.clear('reconnect, timeout');

      let called = false;
      const connect = (this._fn = (err) => {
        if (called) return;
        called = true;
        this.reset();
        if (err) return this.backoff(fn, opts);
        fn.call(this, undefined, opts);
      });

      this.emit('reconnect', opts, connect);
      this.timers.setTimeout('timeout', () => {
        const err = new Error('Failed to reconnect in a timely manner');
        opts.duration = Date.now() - opts.start;
        this.emit('reconnect timeout', err, opts);
        connect(err);
      }, opts['reconnect timeout']);
    }, opts.scheduled);

    this.emit('reconnect scheduled', opts);
    return this;
  }

  reconnecting() {
    return !!this.attempt;
  }

  reconnected(err) {
    if (this._fn) this._fn(err);
    return this;
  }

  reset() {
    this._fn = this.attempt = null;
    this.timers.clear('reconnect, timeout');
    return this;
  }

  destroy() {
    this.reset();
    this.timers.destroy();
    this.removeAllListeners();
  }
}

// ---------------------------------------------------------------------------------------
// Primus.

const RESERVED = {
  'reconnect scheduled': 1, 'reconnect timeout': 1, readyStateChange: 1, 'reconnect failed': 1,
  reconnected: 1, reconnect: 1, offline: 1, timeout: 1, destroy: 1, online: 1, error: 1,
  close: 1, open: 1, data: 1, end: 1,
};

/** Normalise the `strategy` option to the reference's comma-separated lower-case string. */
function normaliseStrategy(strategy, authorization) {
  if (strategy === false) return '';
  if (strategy === undefined || strategy === null) strategy = [];
  if (typeof strategy === 'string') strategy = strategy.split(/\s?,\s?/g).filter(Boolean);
  strategy = strategy.slice();
  if (!strategy.length) {
    strategy.push('disconnect', 'online');
    // Timeout based reconnection could retry forever against a server that refuses us.
    if (!authorization) strategy.push('timeout');
  }
  return strategy.join(',').toLowerCase();
}

const u2028 = /\u2028/g;
const u2029 = /\u2029/g;

class Primus extends EventEmitter {
  constructor(url, options) {
    super();

    if (typeof this.client !== 'function') {
      return this.critical(new Error(
        'The client library has not been compiled correctly: load it from <pathname>/primus.js ' +
        'of a primus-rs server, or build a Socket with Primus.createSocket({transformer})'
      ));
    }

    if (url && typeof url === 'object') {
      options = url;
      url = options.url || options.uri || defaultUrl;
    } else {
      options = options || {};
    }

    if ('ping' in options || 'pong' in options) {
      return this.critical(new Error('The `ping` and `pong` options have been removed'));
    }

    const primus = this;
    options.queueSize = 'queueSize' in options ? options.queueSize : Infinity;
    options.timeout = 'timeout' in options ? options.timeout : 10e3;
    options.reconnect = 'reconnect' in options ? options.reconnect : {};
    options.pingTimeout = 'pingTimeout' in options ? options.pingTimeout : this.defaultPingTimeout;
    options.strategy = normaliseStrategy('strategy' in options ? options.strategy : [], this.authorization);
    options.transport = 'transport' in options ? options.transport : {};

    primus.buffer = []; // writes made while not OPEN
    primus.writable = true;
    primus.readable = true;
    primus.url = primus.parse(url || defaultUrl);
    primus.readyState = Primus.CLOSED;
    primus.options = options;
    primus.timers = new Timers(this);
    primus.socket = null;
    primus.disconnect = false; // set by primus::server::close
    primus.transport = options.transport;
    primus.transformers = { outgoing: [], incoming: [] };
    primus.recovery = new Recovery(options.reconnect);
    primus.online = Primus.prototype.online;

    if ('websockets' in options) primus.AVOID_WEBSOCKETS = !options.websockets;
    if ('network' in options) primus.NETWORK_EVENTS = !!options.network;

    if (!options.manual) {
      primus.timers.setTimeout('open', function open() {
        primus.timers.clear('open');
        primus.open();
      }, 0);
    }

    primus.initialise(options);
  }

  /** Build a new Primus (the Socket.IO-like shorthand). */
  static connect(url, options) {
    return new this(url, options);
  }

  /**
   * A Primus class for another server configuration, built from the transports and parsers
   * this library contains: `{transformer, parser, pathname, authorization, plugin}`. Like the
   * reference, such sockets have no heartbeat timeout unless you pass `pingTimeout`.
   */
  static createSocket(options = {}) {
    const Base = this;
    const transformer = String(options.transformer || 'websockets').toLowerCase();
    const parser = String(options.parser || 'json').toLowerCase();
    if (!Primus.transports[transformer]) {
      throw new Error(`Unknown transformer \`${transformer}\`: this library has ${Object.keys(Primus.transports).join(', ')}`);
    }
    if (!Primus.parsers[parser]) {
      throw new Error(`Unknown parser \`${parser}\`: this library has ${Object.keys(Primus.parsers).join(', ')}`);
    }
    class Socket extends Base {}
    let pathname = options.pathname || '/primus';
    if (pathname[0] !== '/') pathname = '/' + pathname;
    Object.assign(Socket.prototype, {
      client: Primus.transports[transformer],
      encoder: Primus.parsers[parser].encoder,
      decoder: Primus.parsers[parser].decoder,
      pathname,
      transformer,
      parser,
      authorization: !!options.authorization,
      defaultPingTimeout: false,
      ark: Object.assign({}, Base.prototype.ark),
    });
    const plugins = options.plugin || {};
    for (const name of Object.keys(plugins)) {
      const p = plugins[name];
      const fn = typeof p === 'function' ? p : p && p.client;
      if (typeof fn === 'function') Socket.prototype.ark[name] = fn;
    }
    return Socket;
  }

  /** Called once by the generated library with the server's configuration. */
  static configure(config) {
    const transport = Primus.transports[config.transformer];
    const parser = Primus.parsers[config.parser];
    Object.assign(Primus.prototype, {
      pathname: config.pathname,
      version: config.version,
      transformer: config.transformer,
      parser: config.parser,
      authorization: !!config.authorization,
      defaultPingTimeout: config.pingTimeout,
      client: transport || null,
      encoder: parser ? parser.encoder : function encoder(data, fn) {
        fn(new Error(`The server's parser \`${config.parser}\` has no browser codec`));
      },
      decoder: parser ? parser.decoder : function decoder(data, fn) {
        fn(new Error(`The server's parser \`${config.parser}\` has no browser codec`));
      },
    });
    return Primus;
  }

  /** An event emitter function for `event` (the reference's `emits`). */
  emits(event, parser) {
    const primus = this;
    if (typeof parser !== 'function') return (...args) => primus.emit(event, ...args);
    return function emitter(...args) {
      const next = (err, returned) => {
        if (err) return primus.emit('error', err);
        const out = returned === undefined ? args : returned === null ? [] : [].concat(returned);
        primus.emit(event, ...out);
      };
      parser.call(primus, next, ...args);
      return true;
    };
  }

  /** A plugin's client half by name, or all of them. */
  plugin(name) {
    if (name) return this.ark[name];
    return Object.assign({}, this.ark);
  }

  /** Whether Primus uses this event name itself. */
  reserved(evt) {
    return /^(incoming|outgoing)::/.test(evt) || evt in RESERVED;
  }

  initialise(options) {
    const primus = this;

    primus.recovery
      .on('reconnected', (...a) => primus.emit('reconnected', ...a))
      .on('reconnect failed', (...a) => {
        primus.emit('end');
        primus.emit('reconnect failed', ...a);
      })
      .on('reconnect timeout', (...a) => primus.emit('reconnect timeout', ...a))
      .on('reconnect scheduled', (...a) => primus.emit('reconnect scheduled', ...a))
      .on('reconnect', (...a) => {
        primus.emit('outgoing::reconnect');
        primus.emit('reconnect', ...a);
      });

    primus.on('outgoing::open', () => {
      const readyState = primus.readyState;
      primus.readyState = Primus.OPENING;
      if (readyState !== primus.readyState) primus.emit('readyStateChange', 'opening');
    });

    primus.on('incoming::open', () => {
      const readyState = primus.readyState;
      if (primus.recovery.reconnecting()) primus.recovery.reconnected();
      primus.writable = true;
      primus.readable = true;
      if (!primus.online) {
        primus.online = true;
        primus.emit('online');
      }
      primus.readyState = Primus.OPEN;
      if (readyState !== primus.readyState) primus.emit('readyStateChange', 'open');
      primus.heartbeat();
      if (primus.buffer.length) {
        const data = primus.buffer.slice();
        primus.buffer.length = 0;
        for (const item of data) primus._write(item);
      }
      primus.emit('open');
    });

    primus.on('incoming::ping', (time) => {
      primus.online = true;
      primus.heartbeat();
      primus.emit('outgoing::pong', time);
      primus._write('primus::pong::' + time);
    });

    primus.on('incoming::error', (e) => {
      const connect = primus.timers.active('connect');
      const err = toError(e);
      if (primus.recovery.reconnecting()) return primus.recovery.reconnected(err);
      if (primus.listeners('error').length) primus.emit('error', err);
      // An error while connecting: most likely the server refused us (authorization).
      if (connect) {
        if (~primus.options.strategy.indexOf('timeout')) primus.recovery.reconnect();
        else primus.end();
      }
    });

    primus.on('incoming::data', (raw) => {
      primus.decoder(raw, (err, data) => {
        if (err) return primus.listeners('error').length && primus.emit('error', err);
        if (primus.protocol(data)) return;
        primus.transforms(primus, primus, 'incoming', data, raw);
      });
    });

    primus.on('incoming::end', () => {
      const readyState = primus.readyState;

      // The server said primus::server::close: end, do not reconnect.
      if (primus.disconnect) {
        primus.disconnect = false;
        return primus.end();
      }

      primus.readyState = Primus.CLOSED;
      if (readyState !== primus.readyState) primus.emit('readyStateChange', 'end');

      if (primus.timers.active('connect')) primus.end();
      if (readyState !== Primus.OPEN) {
        return primus.recovery.reconnecting() ? primus.recovery.reconnect() : false;
      }

      primus.writable = false;
      primus.readable = false;
      primus.timers.clear();
      primus.emit('close');

      if (~primus.options.strategy.indexOf('disconnect')) return primus.recovery.reconnect();

      primus.emit('outgoing::end');
      primus.emit('end');
    });

    primus.client();

    for (const name of Object.keys(primus.ark)) primus.ark[name].call(primus, primus, options);

    if (!primus.NETWORK_EVENTS) return primus;

    primus.offlineHandler = function offline() {
      if (!primus.online) return;
      primus.online = false;
      primus.emit('offline');
      primus.end();
      // Drop a running reconnect: going online again starts afresh.
      primus.recovery.reset();
    };

    primus.onlineHandler = function online() {
      if (primus.online) return;
      primus.online = true;
      primus.emit('online');
      if (~primus.options.strategy.indexOf('online')) primus.recovery.reconnect();
    };

    window.addEventListener('offline', primus.offlineHandler, false);
    window.addEventListener('online', primus.onlineHandler, false);
    return primus;
  }

  /** Handle a `primus::` protocol message; false when `msg` is user data. */
  protocol(msg) {
    if (typeof msg !== 'string' || msg.indexOf('primus::') !== 0) return false;
    const last = msg.indexOf(':', 8);
    const value = msg.slice(last + 2);
    switch (msg.slice(8, last)) {
      case 'ping':
        this.emit('incoming::ping', +value);
        break;
      case 'server':
        if (value === 'close') this.disconnect = true;
        break;
      case 'id':
        this.emit('incoming::id', value);
        break;
      default:
        return false; // unknown types are user data, like the reference
    }
    return true;
  }

  /** Run the message transforms of `type` over `data`, then emit or write it. */
  transforms(primus, connection, type, data, raw) {
    const packet = { data };
    const fns = primus.transformers[type];
    const done = () => {
      if (type === 'incoming') return connection.emit('data', packet.data, raw);
      connection._write(packet.data);
    };
    const step = (index) => {
      const fn = fns[index];
      if (!fn) return done();
      if (fn.length === 1) {
        if (fn.call(connection, packet) === false) return;
        return step(index + 1);
      }
      fn.call(connection, packet, (err, arg) => {
        if (err) return connection.emit('error', err);
        if (arg === false) return;
        step(index + 1);
      });
    };
    step(0);
    return this;
  }

  /**
   * The spark id, asked from the server (`primus::id::`). Difference: the reference answers
   * the engine.io session id without asking on engine.io, which is not the spark id when the
   * server has an id generator; this client always asks. Without a callback it returns a
   * Promise.
   */
  id(fn) {
    if (typeof fn !== 'function') return new Promise((resolve) => this.id(resolve));
    this._write('primus::id::');
    return this.once('incoming::id', fn);
  }

  /** Connect. Only call it when the connection is fully dead (or with `manual: true`). */
  open() {
    if (!this.recovery.reconnecting() && this.options.timeout) this.timeout();
    this.emit('outgoing::open');
    return this;
  }

  /** Send a message (buffered until the connection is open). Always true. */
  write(data) {
    this.transforms(this, this, 'outgoing', data);
    return true;
  }

  _write(data) {
    const primus = this;
    if (Primus.OPEN !== primus.readyState) {
      // Full buffer: drop the oldest message.
      if (primus.buffer.length === primus.options.queueSize) primus.buffer.splice(0, 1);
      if (primus.options.queueSize !== 0) primus.buffer.push(data);
      return false;
    }
    primus.encoder(data, (err, packet) => {
      if (err) return primus.listeners('error').length && primus.emit('error', err);
      if (typeof packet === 'string') {
        if (~packet.indexOf('\u2028')) packet = packet.replace(u2028, '\\u2028');
        if (~packet.indexOf('\u2029')) packet = packet.replace(u2029, '\\u2029');
      }
      if (packet === undefined || packet === null) return; // nothing to send (undefined, functions)
      primus.emit('outgoing::data', packet);
    });
    return true;
  }

  /** (Re)start the timer that expects a server ping within `pingTimeout`. */
  heartbeat() {
    if (!this.options.pingTimeout) return this;
    this.timers.clear('heartbeat');
    this.timers.setTimeout('heartbeat', function expired() {
      if (!this.online) return; // the network events saw it first
      this.online = false;
      this.emit('offline');
      this.emit('incoming::end');
    }, this.options.pingTimeout);
    return this;
  }

  /** Start the connect timeout. */
  timeout() {
    const primus = this;
    function remove() {
      primus.off('error', remove).off('open', remove).off('end', remove);
      primus.timers.clear('connect');
    }
    primus.timers.setTimeout('connect', function expired() {
      remove();
      if (primus.readyState === Primus.OPEN || primus.recovery.reconnecting()) return;
      primus.emit('timeout');
      if (~primus.options.strategy.indexOf('timeout')) primus.recovery.reconnect();
      else primus.end();
    }, primus.options.timeout);
    return primus.on('error', remove).on('open', remove).on('end', remove);
  }

  /** Close the connection for good (after an optional last message). */
  end(data) {
    if (this.readyState === Primus.CLOSED && !this.timers.active('connect') && !this.timers.active('open')) {
      if (this.recovery.reconnecting()) {
        this.recovery.reset();
        this.emit('end');
      }
      return this;
    }
    if (data !== undefined) this.write(data);
    this.writable = false;
    this.readable = false;
    const readyState = this.readyState;
    this.readyState = Primus.CLOSED;
    if (readyState !== this.readyState) this.emit('readyStateChange', 'end');
    this.timers.clear();
    this.emit('outgoing::end');
    this.emit('close');
    this.emit('end');
    return this;
  }

  /** End, drop every reference and listener. False when already destroyed. */
  destroy() {
    if (this.destroyed) return false;
    this.end();
    this.destroyed = true;
    if (this.timers) this.timers.destroy();
    if (this.recovery) this.recovery.destroy();
    for (const key of ['url', 'timers', 'options', 'recovery', 'socket', 'transport', 'transformers']) this[key] = null;
    this.emit('destroy');
    this.removeAllListeners();
    if (this.NETWORK_EVENTS && this.offlineHandler) {
      window.removeEventListener('offline', this.offlineHandler);
      window.removeEventListener('online', this.onlineHandler);
    }
    return true;
  }

  clone(obj) {
    return this.merge({}, obj);
  }

  merge(target, ...objs) {
    for (const obj of objs) {
      for (const key of Object.keys(obj || {})) target[key] = obj[key];
    }
    return target;
  }

  parse(url) {
    return parseUrl(url);
  }

  querystring(query) {
    return qsParse(query);
  }

  querystringify(obj, prefix) {
    return qsStringify(obj, prefix);
  }

  /** The connection URL for a transport (protocol.md §1.2). */
  uri(options) {
    const url = this.url;
    const server = [];
    options = options || {};
    const qsa = !!options.query;
    options.protocol = 'protocol' in options ? options.protocol : 'http:';
    options.query = url.query && qsa ? url.query.slice(1) : false;
    options.secure = 'secure' in options ? options.secure : url.protocol === 'https:' || url.protocol === 'wss:';
    options.auth = 'auth' in options ? options.auth : url.auth;
    options.pathname = 'pathname' in options ? options.pathname : this.pathname;
    options.port = 'port' in options ? +options.port : +url.port || (options.secure ? 443 : 80);
    options.host = url.host;
    options.hostname = url.hostname;

    const query = this.querystring(options.query || '');
    query._primuscb = yeast();
    options.query = this.querystringify(query);

    this.emit('outgoing::url', options);

    server.push(options.secure ? options.protocol.replace(':', 's:') : options.protocol, '');
    server.push(options.auth ? options.auth + '@' + url.host : url.host);
    if (options.pathname) server.push(options.pathname.slice(1));
    if (qsa) server[server.length - 1] += '?' + options.query;
    else delete options.query;

    if (options.object) return options;
    return server.join('/');
  }

  /** Add a message transform: `'incoming'` or `'outgoing'`, `fn(packet[, done])`. */
  transform(type, fn) {
    if (!(type in this.transformers)) return this.critical(new Error('Invalid transformer type'));
    this.transformers[type].push(fn);
    return this;
  }

  /** Emit a critical error, or throw it when nobody listens. */
  critical(err) {
    if (this.emit('error', err)) return this;
    throw err;
  }
}

function toError(e) {
  if (e instanceof Error) return e;
  if (typeof e === 'string') return new Error(e);
  if (e && typeof e === 'object') {
    const message = e.message || e.reason || (e.type === 'error' ? 'Connection error' : String(e.type || 'error'));
    const err = new Error(message);
    for (const key of Object.keys(e)) {
      if (key !== 'message') err[key] = e[key];
    }
    if (typeof e.code === 'number') err.code = e.code;
    return err;
  }
  return new Error(String(e));
}

Primus.OPENING = 1;
Primus.CLOSED = 2;
Primus.OPEN = 3;
Primus.EventEmitter = EventEmitter;
Primus.Recovery = Recovery;
Primus.backoffDelay = backoffDelay;
Primus.normaliseStrategy = normaliseStrategy;
Primus.millisecond = millisecond;
Primus.yeast = yeast;
/** Transport client halves by transformer name; each is `function client()` with `this` = primus. */
Primus.transports = {};
/**
 * The wiring of a transport whose socket has `open()`, `send(data)`, `close()` and the
 * `onopen/onmessage/onerror/onclose` callbacks (the HTTP transports: engine.io, sse,
 * browserchannel).
 * `create(opts)` makes a socket from the URL options of each (re)connection.
 */
Primus.socketClient = function socketClient(primus, create) {
  let socket = null;

  primus.on('outgoing::open', function opening() {
    primus.emit('outgoing::end');
    const s = create(primus.uri({ protocol: 'http:', query: true, object: true }));
    primus.socket = socket = s;
    s.onopen = () => primus.emit('incoming::open');
    s.onmessage = (data) => primus.emit('incoming::data', data);
    s.onerror = (err) => primus.emit('incoming::error', err);
    s.onclose = () => primus.emit('incoming::end');
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
/** Parsers by name: `{encoder(data, cb), decoder(raw, cb)}`, called with `this` = primus. */
Primus.parsers = {};

Primus.prototype.ark = {};
Primus.prototype.client = null;
Primus.prototype.authorization = false;
Primus.prototype.pathname = '/primus';
Primus.prototype.version = null;
Primus.prototype.defaultPingTimeout = 45e3;
Primus.prototype.AVOID_WEBSOCKETS = false;
Primus.prototype.NETWORK_EVENTS = false;
Primus.prototype.online = true;

try {
  if (typeof navigator !== 'undefined' && 'onLine' in navigator && typeof window !== 'undefined' && window.addEventListener) {
    Primus.prototype.NETWORK_EVENTS = true;
    if (!navigator.onLine) Primus.prototype.online = false;
  }
} catch (e) {
  // not a browser
}
