// Parser: MessagePack, laid out like msgpack-lite (what the reference's `primus-msgpack`
// uses): int32 integers in the smallest int tag, other numbers as float64, str8/16/32,
// bin8/16/32. Binary decodes to Uint8Array. Dates are sent as their ISO string (JSON
// rules: `toJSON` is honoured); msgpack-lite's ext types are not decoded.
// `packCodec` is shared with the `binary` parser (BinaryPack lays values out the same way
// with other tags).

function utf8Encode(s) {
  return new TextEncoder().encode(s);
}

const utf8Decoder = typeof TextDecoder !== 'undefined' ? new TextDecoder('utf-8', { fatal: true }) : null;

function asBytes(v) {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return null;
}

/** A MessagePack-shaped encoder/decoder with the tag choices of `format`. */
function packCodec(format) {
  const MAX_DEPTH = 512;

  function encode(value) {
    const out = [];
    let chunks = [];
    let size = 0;
    const flush = () => {
      if (!out.length) return;
      const c = Uint8Array.from(out);
      chunks.push(c);
      size += c.length;
      out.length = 0;
    };
    const bytes = (b) => {
      flush();
      chunks.push(b);
      size += b.length;
    };
    const u16 = (n) => out.push((n >>> 8) & 0xff, n & 0xff);
    const u32 = (n) => out.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    const f64 = (n) => {
      const b = new DataView(new ArrayBuffer(8));
      b.setFloat64(0, n);
      for (let i = 0; i < 8; i++) out.push(b.getUint8(i));
    };
    const i64 = (n) => {
      const b = new DataView(new ArrayBuffer(8));
      b.setBigInt64(0, BigInt(n));
      for (let i = 0; i < 8; i++) out.push(b.getUint8(i));
    };
    const header = (len, tags) => {
      if (len <= tags.fixMax) out.push(tags.fix + len);
      else if (tags.t8 !== undefined && len <= 0xff) out.push(tags.t8, len);
      else if (len <= 0xffff) {
        out.push(tags.t16);
        u16(len);
      } else {
        out.push(tags.t32);
        u32(len);
      }
    };
    const tools = { out, u16, u32, f64, i64 };

    const write = (v, depth) => {
      if (depth > MAX_DEPTH) throw new Error('Message nested too deeply');
      if (v && typeof v === 'object' && typeof v.toJSON === 'function' && !asBytes(v)) v = v.toJSON();
      if (v === null || v === undefined || typeof v === 'function' || typeof v === 'symbol') return out.push(0xc0);
      if (v === false) return out.push(0xc2);
      if (v === true) return out.push(0xc3);
      if (typeof v === 'number') return format.number(v, tools);
      if (typeof v === 'bigint') return format.number(Number(v), tools);
      if (typeof v === 'string') {
        const b = utf8Encode(v);
        header(b.length, format.str);
        return bytes(b);
      }
      const bin = asBytes(v);
      if (bin) {
        if (format.bin.nonEmpty && !bin.length) throw new Error('Invalid length');
        header(bin.length, format.bin);
        return bytes(bin.slice());
      }
      if (Array.isArray(v)) {
        header(v.length, format.array);
        for (const item of v) write(item, depth + 1);
        return;
      }
      const keys = Object.keys(v).filter((k) => v[k] !== undefined && typeof v[k] !== 'function');
      header(keys.length, format.map);
      for (const k of keys) {
        const kb = utf8Encode(k);
        header(kb.length, format.str);
        bytes(kb);
        write(v[k], depth + 1);
      }
    };
    write(value, 0);
    flush();
    const result = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      result.set(c, at);
      at += c.length;
    }
    chunks = null;
    return result.buffer;
  }

  function decode(input) {
    const buf = asBytes(input);
    if (!buf) throw new Error('Invalid type: ' + typeof input);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    const need = (n) => {
      if (at + n > buf.length) throw new Error('Unexpected end of message');
    };
    const take = (n) => {
      need(n);
      const b = buf.slice(at, at + n);
      at += n;
      return b;
    };
    const str = (n) => {
      need(n);
      const b = buf.subarray(at, at + n);
      at += n;
      return utf8Decoder ? utf8Decoder.decode(b) : String.fromCharCode.apply(null, b);
    };
    const u8 = () => (need(1), buf[at++]);
    const num = (fn, n) => {
      need(n);
      const v = view[fn](at);
      at += n;
      return v;
    };
    const read = (depth) => {
      if (depth > MAX_DEPTH) throw new Error('Message nested too deeply');
      const tag = u8();
      const t = format.decodeTag(tag, { u8, num, take, str });
      if (t.array !== undefined) {
        const arr = new Array(t.array);
        for (let i = 0; i < t.array; i++) arr[i] = read(depth + 1);
        return arr;
      }
      if (t.map !== undefined) {
        const obj = {};
        for (let i = 0; i < t.map; i++) {
          const k = read(depth + 1);
          obj[k] = read(depth + 1);
        }
        return obj;
      }
      return t.value;
    };
    const value = read(0);
    return value;
  }

  return {
    encoder(data, fn) {
      let out;
      try {
        out = encode(data);
      } catch (e) {
        return fn(e);
      }
      fn(null, out);
    },
    decoder(data, fn) {
      let out;
      try {
        out = decode(data);
      } catch (e) {
        return fn(e);
      }
      fn(null, out);
    },
    encode,
    decode,
  };
}

Primus.packCodec = packCodec;

Primus.parsers.msgpack = packCodec({
  str: { fix: 0xa0, fixMax: 31, t8: 0xd9, t16: 0xda, t32: 0xdb },
  bin: { fix: 0xc4, fixMax: -1, t8: 0xc4, t16: 0xc5, t32: 0xc6 },
  array: { fix: 0x90, fixMax: 15, t16: 0xdc, t32: 0xdd },
  map: { fix: 0x80, fixMax: 15, t16: 0xde, t32: 0xdf },
  number(v, { out, u16, u32, f64 }) {
    const i = v | 0;
    if (v !== i || Object.is(v, -0)) {
      out.push(0xcb);
      return f64(v);
    }
    if (i >= -0x20 && i <= 0x7f) return out.push(i & 0xff);
    if (i > 0) {
      if (i <= 0xff) return out.push(0xcc, i);
      if (i <= 0xffff) return out.push(0xcd), u16(i);
      return out.push(0xce), u32(i);
    }
    if (i >= -0x80) return out.push(0xd0, i & 0xff);
    if (i >= -0x8000) return out.push(0xd1), u16(i & 0xffff);
    return out.push(0xd2), u32(i >>> 0);
  },
  decodeTag(tag, { u8, num, take, str }) {
    if (tag <= 0x7f) return { value: tag };
    if (tag >= 0xe0) return { value: tag - 0x100 };
    if (tag >= 0xa0 && tag <= 0xbf) return { value: str(tag - 0xa0) };
    if (tag >= 0x90 && tag <= 0x9f) return { array: tag - 0x90 };
    if (tag >= 0x80 && tag <= 0x8f) return { map: tag - 0x80 };
    switch (tag) {
      case 0xc0: return { value: null };
      case 0xc2: return { value: false };
      case 0xc3: return { value: true };
      case 0xc4: return { value: take(u8()) };
      case 0xc5: return { value: take(num('getUint16', 2)) };
      case 0xc6: return { value: take(num('getUint32', 4)) };
      case 0xca: return { value: num('getFloat32', 4) };
      case 0xcb: return { value: num('getFloat64', 8) };
      case 0xcc: return { value: u8() };
      case 0xcd: return { value: num('getUint16', 2) };
      case 0xce: return { value: num('getUint32', 4) };
      case 0xcf: return { value: Number(num('getBigUint64', 8)) };
      case 0xd0: return { value: num('getInt8', 1) };
      case 0xd1: return { value: num('getInt16', 2) };
      case 0xd2: return { value: num('getInt32', 4) };
      case 0xd3: return { value: Number(num('getBigInt64', 8)) };
      case 0xd9: return { value: str(u8()) };
      case 0xda: return { value: str(num('getUint16', 2)) };
      case 0xdb: return { value: str(num('getUint32', 4)) };
      case 0xdc: return { array: num('getUint16', 2) };
      case 0xdd: return { array: num('getUint32', 4) };
      case 0xde: return { map: num('getUint16', 2) };
      case 0xdf: return { map: num('getUint32', 4) };
      default: throw new Error('Invalid type: 0x' + tag.toString(16));
    }
  },
});
