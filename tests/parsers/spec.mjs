// The corpus format shared with the Rust tests (crates/primus-core/tests/parser_cross.rs):
// plain JSON, plus a few tagged objects for what JSON cannot say.
//   {"$bin": hex} / {"$binrep": [byte, n]}   bytes (a Buffer here)
//   {"$strrep": [s, n]} / {"$arrrep": [v, n]} a long string / array
//   {"$nest": [depth, leaf]}                  leaf inside `depth` arrays
//   {"$f64": "NaN" | "Infinity" | "-Infinity" | "-0"}
//   {"$u64": "…"} / {"$i64": "…"}             integers JavaScript rounds
// normalize() also writes {"$undefined": true}, {"$jsdate": ms}, {"$jsregexp": [source, flags]}.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const msgpack = require('primus-msgpack');
export const BinaryPack = require('binary-pack');
export const EJSON = require('ejson');

export const PARSERS = ['msgpack', 'ejson', 'binary'];

export function specToJs(spec) {
  if (Array.isArray(spec)) return spec.map(specToJs);
  if (spec === null || typeof spec !== 'object') return spec;
  const keys = Object.keys(spec);
  if (keys.length === 1) {
    const [k] = keys;
    const v = spec[k];
    switch (k) {
      case '$bin': return Buffer.from(v, 'hex');
      case '$binrep': return Buffer.alloc(v[1], v[0]);
      case '$strrep': return v[0].repeat(v[1]);
      case '$arrrep': return Array.from({ length: v[1] }, () => specToJs(v[0]));
      case '$nest': {
        let out = specToJs(v[1]);
        for (let i = 0; i < v[0]; i++) out = [out];
        return out;
      }
      case '$f64': return v === '-0' ? -0 : Number(v);
      case '$u64':
      case '$i64': return Number(v);
      default:
    }
  }
  const out = {};
  for (const k of keys) out[k] = specToJs(spec[k]);
  return out;
}

// A decoded JavaScript value in corpus notation, so both sides can compare.
export function normalize(v) {
  if (v === undefined) return { $undefined: true };
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { $f64: 'NaN' };
    if (v === Infinity) return { $f64: 'Infinity' };
    if (v === -Infinity) return { $f64: '-Infinity' };
    if (Object.is(v, -0)) return { $f64: '-0' };
    return v;
  }
  if (v instanceof Date) return { $jsdate: v.getTime() };
  if (v instanceof RegExp) return { $jsregexp: [v.source, v.flags] };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v)) out[k] = normalize(v[k]);
    return out;
  }
  return { $unsupported: String(v) };
}

export function encodeWith(parser, value) {
  switch (parser) {
    case 'msgpack': return Buffer.from(msgpack.encode(value));
    case 'binary': return Buffer.from(BinaryPack.pack(value));
    // Primus escapes U+2028/U+2029 in every string packet it sends.
    case 'ejson': return Buffer.from(EJSON.stringify(value).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'));
    default: throw new Error(parser);
  }
}

export function decodeWith(parser, bytes) {
  switch (parser) {
    case 'msgpack': return msgpack.decode(bytes);
    case 'binary': return BinaryPack.unpack(bytes);
    case 'ejson': return EJSON.parse(bytes.toString('utf8'));
    default: throw new Error(parser);
  }
}

// Encodings larger than this are recorded as length + FNV-1a 32 checksum.
export const BIG = 4096;

export function fnv1a32(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

// Encode with the reference, then decode that with the reference: what both sides compare.
export function referenceFor(entry) {
  const out = {};
  for (const parser of PARSERS) {
    if (entry.skip && entry.skip.includes(parser)) continue;
    let bytes;
    if (entry.raw) {
      if (!(parser in entry.raw)) continue;
      bytes = parser === 'ejson' ? Buffer.from(entry.raw[parser]) : Buffer.from(entry.raw[parser], 'hex');
    } else {
      // eslint-disable-next-line no-new-func
      const value = entry.js ? new Function(`return (${entry.js});`)() : specToJs(entry.value);
      try {
        bytes = encodeWith(parser, value);
      } catch (e) {
        out[parser] = { error: e.message };
        continue;
      }
    }
    let r;
    if (bytes.length > BIG) {
      // Large entries: a checksum keeps reference.json small; the Rust side compares it.
      r = { encoded_len: bytes.length, encoded_fnv1a32: fnv1a32(bytes) };
      try {
        decodeWith(parser, bytes);
      } catch (e) {
        r.decode_error = e.message;
      }
    } else {
      r = { encoded: bytes.toString('base64') };
      try {
        r.decoded = normalize(decodeWith(parser, bytes));
      } catch (e) {
        r.decode_error = e.message;
      }
    }
    out[parser] = r;
  }
  return out;
}
