// Parser: BinaryPack (the reference's `binary` parser, package binary-pack 1.0.2; PeerJS's
// format, not MessagePack): integral numbers in the smallest int tag up to int64 (beyond
// that `Invalid integer`), other numbers float64, fixstr 0xb0/d8/d9 and fixraw 0xa0/da/db
// with byte lengths. Binary decodes to ArrayBuffer; unknown tags decode to undefined.
Primus.parsers.binary = Primus.packCodec({
  str: { fix: 0xb0, fixMax: 15, t16: 0xd8, t32: 0xd9 },
  bin: { fix: 0xa0, fixMax: 15, t16: 0xda, t32: 0xdb, nonEmpty: true },
  array: { fix: 0x90, fixMax: 15, t16: 0xdc, t32: 0xdd },
  map: { fix: 0x80, fixMax: 15, t16: 0xde, t32: 0xdf },
  number(v, { out, u16, u32, f64, i64 }) {
    if (Math.floor(v) !== v) {
      out.push(0xcb);
      return f64(v);
    }
    if (!isFinite(v)) throw new Error('Invalid integer');
    if (v >= -0x20 && v <= 0x7f) return out.push(v & 0xff);
    if (v >= 0 && v <= 0xff) return out.push(0xcc, v);
    if (v >= -0x80 && v <= 0x7f) return out.push(0xd0, v & 0xff);
    if (v >= 0 && v <= 0xffff) return out.push(0xcd), u16(v);
    if (v >= -0x8000 && v <= 0x7fff) return out.push(0xd1), u16(v & 0xffff);
    if (v >= 0 && v <= 0xffffffff) return out.push(0xce), u32(v);
    if (v >= -0x80000000 && v <= 0x7fffffff) return out.push(0xd2), u32(v >>> 0);
    if (v >= -0x8000000000000000 && v < 0x8000000000000000) return out.push(0xd3), i64(v);
    throw new Error('Invalid integer');
  },
  decodeTag(tag, { u8, num, take, str }) {
    if (tag <= 0x7f) return { value: tag };
    if (tag >= 0xe0) return { value: tag - 0x100 };
    if (tag >= 0xa0 && tag <= 0xaf) return { value: take(tag - 0xa0).buffer };
    if (tag >= 0xb0 && tag <= 0xbf) return { value: str(tag - 0xb0) };
    if (tag >= 0x90 && tag <= 0x9f) return { array: tag - 0x90 };
    if (tag >= 0x80 && tag <= 0x8f) return { map: tag - 0x80 };
    switch (tag) {
      case 0xc0: return { value: null };
      case 0xc2: return { value: false };
      case 0xc3: return { value: true };
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
      case 0xd8: return { value: str(num('getUint16', 2)) };
      case 0xd9: return { value: str(num('getUint32', 4)) };
      case 0xda: return { value: take(num('getUint16', 2)).buffer };
      case 0xdb: return { value: take(num('getUint32', 4)).buffer };
      case 0xdc: return { array: num('getUint16', 2) };
      case 0xdd: return { array: num('getUint32', 4) };
      case 0xde: return { map: num('getUint16', 2) };
      case 0xdf: return { map: num('getUint32', 4) };
      default: return { value: undefined };
    }
  },
});
