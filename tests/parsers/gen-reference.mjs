// Writes reference.json: for every corpus entry and parser, the bytes the npm packages
// Primus uses produce (base64) and what they decode them to. Run from anywhere:
//   TZ=UTC node tests/parsers/gen-reference.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import { referenceFor } from './spec.mjs';

const dir = new URL('.', import.meta.url);
const corpus = JSON.parse(readFileSync(new URL('corpus.json', dir), 'utf8'));
const out = corpus.map((entry) => ({ name: entry.name, ...referenceFor(entry) }));
writeFileSync(new URL('reference.json', dir), JSON.stringify(out, null, 1) + '\n');
console.log(`reference.json: ${out.length} entries`);
