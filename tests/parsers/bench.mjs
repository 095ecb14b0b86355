// Encode+decode throughput of the reference parsers (the npm packages Primus uses) on
// bench-corpus.json. Prints JSON: {"<parser>": {"<message>": {"ops": n, "bytes": n}}}.
// The Rust side (cargo bench -p primus-core --bench parsers) runs this and prints ratios.
//   node tests/parsers/bench.mjs [seconds per case, default 0.5]
import { readFileSync } from 'node:fs';
import { specToJs, encodeWith, decodeWith, EJSON } from './spec.mjs';

const seconds = Number(process.argv[2] || 0.5);
const corpus = JSON.parse(readFileSync(new URL('bench-corpus.json', import.meta.url), 'utf8'));
const codecs = {
  json: {
    // Primus' json parser plus the U+2028/U+2029 escaping every string packet gets.
    encode: (v) => JSON.stringify(v).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'),
    decode: (s) => JSON.parse(s),
  },
  msgpack: { encode: (v) => encodeWith('msgpack', v), decode: (b) => decodeWith('msgpack', b) },
  // EJSON: Primus hands EJSON.parse the string it received.
  ejson: { encode: (v) => encodeWith('ejson', v).toString('utf8'), decode: (s) => EJSON.parse(s) },
  binary: { encode: (v) => encodeWith('binary', v), decode: (b) => decodeWith('binary', b) },
};

const out = {};
for (const [name, codec] of Object.entries(codecs)) {
  out[name] = {};
  for (const msg of corpus) {
    const value = specToJs(msg.value);
    let encoded;
    try {
      encoded = codec.encode(value);
      codec.decode(encoded);
    } catch (e) {
      out[name][msg.name] = { error: e.message };
      continue;
    }
    const size = typeof encoded === 'string' ? Buffer.byteLength(encoded) : encoded.length;
    // Warm up, then count round trips for `seconds`.
    const warm = Date.now() + 100;
    while (Date.now() < warm) codec.decode(codec.encode(value));
    let ops = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round(seconds * 1e9));
    let now = start;
    while (now < end) {
      for (let i = 0; i < 16; i++) codec.decode(codec.encode(value));
      ops += 16;
      now = process.hrtime.bigint();
    }
    out[name][msg.name] = { ops: ops / (Number(now - start) / 1e9), bytes: size };
  }
}
console.log(JSON.stringify(out));
