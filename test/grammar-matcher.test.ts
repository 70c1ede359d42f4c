// GBNF parsing (errors naming line and column, the rewrites of repetitions) and the matcher at
// token level: tokens spanning several grammar symbols, UTF-8 characters split across tokens,
// EOG only where the grammar is complete, control tokens only through <[id]>, the full mask
// equal to checking every token, checkpoint/rollback.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrammarError, matchesGrammar, parseGbnf, TokenMatcher, type TokenVocab } from '../src/grammar/index.js';

/** A vocabulary of byte strings; ids listed in `eog` end generation, in `control` are control tokens. */
function vocab(pieces: (string | number[])[], eog: number[] = [], control: number[] = []): TokenVocab {
  const bytes = pieces.map((p) => (typeof p === 'string' ? new TextEncoder().encode(p) : Uint8Array.from(p)));
  return {
    vocabSize: pieces.length,
    tokenBytes: (id) => (control.includes(id) || eog.includes(id) ? new Uint8Array(0) : bytes[id]!),
    isEog: (id) => eog.includes(id),
    isControl: (id) => control.includes(id),
    encode: (text) => { const i = pieces.indexOf(text); return i >= 0 ? [i] : []; },
  };
}

const bad = (src: string, re: RegExp) => assert.throws(() => parseGbnf(src), (e: unknown) => e instanceof GrammarError && re.test(e.message));

test('parse errors name the line and column', () => {
  bad('root ::= "a"\nx ::= "b" |\n  [a-\n', /line 3, column/);
  bad('root ::= "a" foo', /undefined rule 'foo' referenced at line 1, column 14/);
  bad('root ::= "\\z"', /unknown escape \\z at line 1, column 11/);
  bad('root ::= ("a" "b"', /expecting '\)' at line 1/);
  bad('root ::= "a"{2,1}', /maximum is below the minimum/);
  bad('root ::= *', /expecting an item before/);
  bad('rule ::= "a"', /no 'root' rule/);
  bad('root ::= root "a"', /left recursion through rule 'root'/);
  bad('root ::= x\nx ::= y "a"\ny ::= x', /left recursion/);
  bad('root ::= <foo>', /needs a vocabulary/);
  bad('root ::= "a"{3000}', /over 2000/);
});

test('repetitions, classes, escapes, any-char, comments', () => {
  const g = parseGbnf(`
# comment
root ::= "x"{2} [a-c]{1,3} ( "y" | z )* [^0-9\\n]? "\\u00e9"+ . end   # trailing
z    ::= "\\x41" | [\\-\\]]
end  ::= "" | "!"
`);
  for (const s of ['xxaé_', 'xxabcyAy-éé?!', 'xxc]éz']) assert.ok(matchesGrammar(g, s), s);
  for (const s of ['xaé_', 'xxabcdd\u00e9_', 'xxa1é_', 'xxaé', 'xxaé_!!']) assert.ok(!matchesGrammar(g, s), s);
});

test('a token spanning several symbols and rules is taken whole; EOG only when complete', () => {
  const v = vocab(['{"', 'a', '":', ' 1', '}', '"}', '":1}', '</s>'], [7]);
  const g = parseGbnf('root ::= "{\\"" [a-z]+ "\\":" " "? [0-9] "}"');
  const m = new TokenMatcher(g, v);
  assert.ok(m.allows(0) && !m.allows(1) && !m.allows(7));
  m.accept(0);
  m.accept(1);
  assert.ok(m.allows(6), '":1} spans three grammar elements');
  assert.ok(m.allows(2) && !m.allows(5));
  const cp = m.checkpoint();
  m.accept(6);
  assert.ok(m.complete && m.finished && m.allows(7));
  m.rollback(cp);
  assert.ok(!m.complete && !m.allows(7));
  m.accept(2); m.accept(3);
  assert.ok(!m.allows(7) && m.allows(4));
});

test('a character split across tokens (partial UTF-8) is matched by its code point', () => {
  // é = C3 A9, 中 = E4 B8 AD
  const v = vocab([[0xc3], [0xa9], [0xe4, 0xb8], [0xad], 'a', [0xa9, 0x61]]);
  const g = parseGbnf('root ::= [é中]+ "a"?');
  const m = new TokenMatcher(g, v);
  assert.ok(m.allows(0) && m.allows(2) && !m.allows(1) && !m.allows(3));
  m.accept(0);
  assert.ok(m.allows(1) && !m.allows(4) && !m.allows(3) && m.allows(5));
  m.accept(1);
  m.accept(2);
  assert.ok(m.allows(3) && !m.allows(1));
  m.accept(3);
  assert.ok(m.complete);
  const only = new TokenMatcher(parseGbnf('root ::= "中"'), v);
  assert.ok(!only.allows(0), 'C3 cannot start 中');
  assert.ok(only.allows(2));
});

test('control tokens only through token references; <[id]>, <text> and !<...>', () => {
  const v = vocab(['a', '<tool>', 'b', '<|end|>'], [3], [1]);
  const text = new TokenMatcher(parseGbnf('root ::= "<tool>" "a"'), v);
  assert.ok(!text.allows(1), 'a control token is not its text');
  const byId = new TokenMatcher(parseGbnf('root ::= <[1]> "a"'), v);
  assert.ok(byId.allows(1) && !byId.allows(0));
  byId.accept(1);
  assert.ok(byId.allows(0));
  const byText = new TokenMatcher(parseGbnf('root ::= <tool> "a"', { tokenId: (t) => v.encode!(t)[0] }), v);
  assert.ok(byText.allows(1));
  const not = new TokenMatcher(parseGbnf('root ::= !<[0]> "a"'), v);
  assert.ok(!not.allows(0) && not.allows(2) && not.allows(1));
  assert.throws(() => parseGbnf('root ::= <nope>', { tokenId: () => undefined }), /not a single token/);
});

test('fillMask equals checking every token, at every step of a JSON walk', () => {
  const pieces = ['{', '}', '"', 'a', 'b', ' ', ':', ',', '1', '2', '"a', 'a"', '":', '1}', ' "', '{"', '"}', 'é', [0xc3], [0xa9], 'ab', '</s>'];
  const v = vocab(pieces, [pieces.length - 1]);
  const g = parseGbnf('root ::= "{" ( "\\"" [a-zé]+ "\\":" " "? [0-9]+ ( "," " "? "\\"" [a-zé]+ "\\":" [0-9]+ )* )? "}"');
  const m = new TokenMatcher(g, v);
  const path = [15, 3, 20, 12, 5, 8, 9, 7, 14, 18, 19, 12, 13, 21];
  for (const id of path) {
    const mask = new Uint8Array(v.vocabSize);
    const n = m.fillMask(mask);
    const brute = Array.from({ length: v.vocabSize }, (_, i) => (m.allows(i) ? 1 : 0));
    assert.deepEqual(Array.from(mask), brute, `before token ${id}`);
    assert.equal(n, brute.reduce((a: number, b) => a + b, 0));
    assert.ok(mask[id], `token ${id} (${JSON.stringify(pieces[id])}) allowed`);
    if (id !== 21) m.accept(id);
  }
});

test('the shipped-style JSON grammar on a real-size trie: masks are consistent with allows', () => {
  const pieces: string[] = [];
  for (let c = 32; c < 127; c++) pieces.push(String.fromCharCode(c));
  for (const w of ['{"', '"}', '":', '", "', 'true', 'false', 'null', '  ', '\n', '\\n', '\\u00', 'name', '0.', 'e+']) pieces.push(w);
  const v = vocab(pieces);
  const g = parseGbnf('root ::= value\nvalue ::= "{" ws (str ":" ws value ("," ws str ":" ws value)*)? "}" ws | "[" ws (value ("," ws value)*)? "]" ws | str | [0-9]+ ws | ("true" | "false" | "null") ws\nstr ::= "\\"" ([^"\\\\] | "\\\\" ["\\\\nu0-9])* "\\"" ws\nws ::= [ \\n]*');
  const m = new TokenMatcher(g, v);
  const text = ['{"', 'name', '":', ' ', '[', '1', ',', 'true', ']', '}'];
  for (const t of text) {
    const mask = new Uint8Array(v.vocabSize);
    m.fillMask(mask);
    for (let i = 0; i < v.vocabSize; i++) assert.equal(mask[i] === 1, m.allows(i), `token ${JSON.stringify(pieces[i])} before ${t}`);
    m.accept(pieces.indexOf(t));
  }
  assert.ok(m.complete);
});
