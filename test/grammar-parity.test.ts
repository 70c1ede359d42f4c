// Grammar parity with llama.cpp: for llama.cpp's shipped grammars (and a few of lutra's), every
// string of test/golden/grammar/cases.json gets the verdict llama.cpp's own validator gave
// (expected.json, made by make-expected.sh): valid, invalid, or the grammar refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrammarError, matchesGrammar, parseGbnf, type Grammar } from '../src/grammar/index.js';
import { REPO } from './helpers.js';

const DIR = join(REPO, 'test/golden/grammar');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as { results: Record<string, [string, 'valid' | 'invalid' | 'grammar-error'][]> };

test('parity covers the shipped grammars', () => {
  for (const g of ['arithmetic', 'c', 'chess', 'english', 'japanese', 'json', 'json_arr', 'list']) assert.ok(`${g}.gbnf` in expected.results, g);
});

for (const [file, cases] of Object.entries(expected.results)) {
  test(`${file}: lutra's verdicts equal llama.cpp's on ${cases.length} strings`, () => {
    let g: Grammar | undefined;
    try {
      g = parseGbnf(readFileSync(join(DIR, file), 'utf8'));
    } catch (e) {
      assert.ok(e instanceof GrammarError, String(e));
    }
    const got = cases.map(([s]) => [s, g ? (matchesGrammar(g, s) ? 'valid' : 'invalid') : 'grammar-error']);
    assert.deepEqual(got, cases);
  });
}
