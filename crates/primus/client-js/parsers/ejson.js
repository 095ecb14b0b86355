// Parser: EJSON (Meteor's Extended JSON, as the npm `ejson` package writes it): Date as
// {"$date":ms}, binary as {"$binary":"<base64>"}, NaN/±Infinity as {"$InfNaN":0|1|-1},
// RegExp as {"$regexp","$flags"}, and plain objects that look like one of these wrapped in
// {"$escape":…}. Binary decodes to Uint8Array. Custom `$type`s are left as objects.

const EJSON_TYPED = [['$date'], ['$binary'], ['$InfNaN'], ['$escape'], ['$type', '$value'], ['$regexp', '$flags']];

function ejsonLooksTyped(obj) {
  const keys = Object.keys(obj);
  return EJSON_TYPED.some((set) => set.length === keys.length && set.every((k) => keys.includes(k)));
}

function ejsonToJSONValue(v, depth) {
  if (depth > 512) throw new Error('Message nested too deeply');
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return { $InfNaN: 0 };
    if (!Number.isFinite(v)) return { $InfNaN: v > 0 ? 1 : -1 };
    return v;
  }
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Date) return { $date: v.getTime() };
  if (v instanceof RegExp) return { $regexp: v.source, $flags: v.flags };
  const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : ArrayBuffer.isView(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : null;
  if (bytes) return { $binary: base64Encode(bytes) };
  if (Array.isArray(v)) return v.map((x) => ejsonToJSONValue(x, depth + 1));
  if (typeof v.toJSONValue === 'function' && typeof v.typeName === 'function') {
    return { $type: v.typeName(), $value: v.toJSONValue() };
  }
  const out = {};
  for (const k of Object.keys(v)) out[k] = ejsonToJSONValue(v[k], depth + 1);
  return ejsonLooksTyped(v) ? { $escape: out } : out;
}

function ejsonFromJSONValue(v) {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(ejsonFromJSONValue);
  if (ejsonLooksTyped(v)) {
    if ('$date' in v) return new Date(v.$date);
    if ('$binary' in v) return base64Decode(v.$binary);
    if ('$InfNaN' in v) return v.$InfNaN > 0 ? Infinity : v.$InfNaN < 0 ? -Infinity : NaN;
    if ('$regexp' in v) return new RegExp(v.$regexp, v.$flags);
    if ('$escape' in v) {
      const out = {};
      for (const k of Object.keys(v.$escape)) out[k] = ejsonFromJSONValue(v.$escape[k]);
      return out;
    }
    return v; // $type: no registry here
  }
  const out = {};
  for (const k of Object.keys(v)) out[k] = ejsonFromJSONValue(v[k]);
  return out;
}

Primus.parsers.ejson = {
  encoder(data, fn) {
    let out;
    try {
      out = JSON.stringify(ejsonToJSONValue(data, 0));
    } catch (e) {
      return fn(e);
    }
    fn(null, out);
  },
  decoder(data, fn) {
    if (typeof data !== 'string') return fn(new Error('EJSON.parse argument should be a string'));
    let out;
    try {
      out = ejsonFromJSONValue(JSON.parse(data));
    } catch (e) {
      return fn(e);
    }
    fn(null, out);
  },
};
