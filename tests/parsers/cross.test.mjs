// The node half of the cross-implementation tests (the Rust half is
// crates/primus-core/tests/parser_cross.rs):
// 1. reference.json is what the pinned npm packages produce today;
// 2. the npm packages decode our encodings (ours.json, written by the Rust test) to what
//    they decode their own encodings to.
// Run: cd tests/parsers && npm ci && node --test
process.env.TZ = 'UTC';

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { PARSERS, decodeWith, normalize, referenceFor } from './spec.mjs';

const dir = new URL('.', import.meta.url);
const read = (name) => JSON.parse(readFileSync(new URL(name, dir), 'utf8'));
const corpus = read('corpus.json');
const reference = read('reference.json');
const ours = read('ours.json');

test('reference.json matches the pinned npm packages', () => {
  assert.equal(reference.length, corpus.length);
  corpus.forEach((entry, i) => {
    // Through JSON, as reference.json was written (NaN → null).
    const fresh = JSON.parse(JSON.stringify({ name: entry.name, ...referenceFor(entry) }));
    assert.deepEqual(fresh, reference[i], entry.name);
  });
});

test('the npm packages decode our encodings like their own', () => {
  let checked = 0;
  for (const o of ours) {
    const entry = corpus.find((e) => e.name === o.name);
    const ref = reference.find((e) => e.name === o.name);
    for (const parser of PARSERS) {
      const mine = o[parser];
      if (!mine || !mine.encoded) continue;
      const bytes = Buffer.from(mine.encoded, 'base64');
      const input = parser === 'ejson' ? Buffer.from(bytes.toString('utf8')) : bytes;
      let got;
      try {
        got = JSON.parse(JSON.stringify(normalize(decodeWith(parser, input))));
      } catch (e) {
        got = { error: e.message };
      }
      const differs = entry.differs && entry.differs[parser];
      if (differs && parser === 'ejson' && entry.name.startsWith('object shaped like')) {
        // Documented: sent as the typed value, so the reference decodes a Date, a
        // Uint8Array or (unregistered) fails on the custom type.
        assert.notDeepEqual(got, ref[parser].decoded, `${o.name} / ${parser}`);
        continue;
      }
      if (ref[parser].decode_error) {
        assert.ok(got.error, `${o.name} / ${parser}: the reference reads ours but not its own`);
      } else {
        assert.deepEqual(got, ref[parser].decoded, `${o.name} / ${parser}`);
      }
      checked++;
    }
  }
  assert.ok(checked > 150, `only ${checked} checked`);
});
