// The text side of generation and the token stepper, apart from any sampling: stop strings held
// back and cut, characters split across tokens, and the stepper's turns for the event loop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextStream } from '../src/runtime/text-stream.js';
import { TokenStepper } from '../src/runtime/stepper.js';
import type { Tokenizer } from '../src/tokenizer/index.js';
import { loadModel } from '../src/runtime/model.js';
import { synthGGUF } from './synth.js';

/** Token i is the UTF-8 bytes pieces[i]. */
function bytesTokenizer(pieces: Uint8Array[]): Tokenizer {
  return { tokenBytes: (id: number) => pieces[id]! } as unknown as Tokenizer;
}
const enc = (s: string) => new TextEncoder().encode(s);

test('stop strings: a possible start is held back, released when it is not one, cut when it is', () => {
  const tok = bytesTokenizer(['Hello', ' wor', 'ld', ' S', 'TO', 'P', 'x', ' ST', 'OCK'].map(enc));
  const s = new TextStream(tok, { stop: ['STOP', ''] });
  assert.deepEqual([0, 1, 2].map((id) => s.push(id)), ['Hello', ' wor', 'ld']);
  assert.equal(s.push(7), ' ', '"ST" may start "STOP"');
  assert.equal(s.push(8), 'STOCK');
  assert.equal(s.push(3), ' ');
  assert.equal(s.push(4), '');
  assert.equal(s.stopped, false);
  assert.equal(s.push(5), '', 'the stop string is not emitted');
  assert.equal(s.stopped, true);
  assert.equal(s.flush(), '');
  const t = new TextStream(tok, { stop: ['STOP'] });
  assert.equal(t.push(3), ' ');
  assert.equal(t.flush(), 'S', 'held-back text comes out at the end');
});

test('a character split across tokens comes out whole, once its last byte arrives', () => {
  const euro = enc('€'); // e2 82 ac
  const tok = bytesTokenizer([euro.subarray(0, 1), euro.subarray(1), enc('!')]);
  const s = new TextStream(tok);
  assert.equal(s.push(0), '');
  assert.equal(s.push(1), '€');
  assert.equal(s.push(2), '!');
  const t = new TextStream(tok);
  t.push(0);
  assert.equal(t.flush(), '\ufffd', 'an incomplete character at the end is U+FFFD');
});

test('token stepper: the event loop turns after every micro-batch; logits equal one decode', async () => {
  const m = await loadModel(synthGGUF({ arch: 'llama', shape: { nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 48 } }));
  const ids = Array.from({ length: 10 }, (_, i) => (i * 37 + 1) % 500);
  const want = m.createContext({ ctx: 32, kvType: 'f32' }).decode(ids, { logits: 'last' })!.slice();
  const stepper = new TokenStepper(m.createContext({ ctx: 32, batch: 3, kvType: 'f32' }));
  // A chain of immediates: each turn of the event loop runs one.
  let seen = 0;
  const spin = () => setImmediate(() => { seen++; if (seen < 1000) spin(); });
  spin();
  const got = await stepper.decode(ids);
  const afterPrefill = seen;
  assert.deepEqual(got.slice(), want);
  assert.ok(afterPrefill >= 4, `4 micro-batches of 3, ${afterPrefill} turns`);
  const rows: number[] = [];
  stepper.ctx.truncate(0);
  await stepper.decode(ids, (i) => rows.push(i));
  assert.deepEqual(rows, ids.map((_, i) => i));
  assert.equal(stepper.reusePrefix([...ids, 5]), 10);
  assert.equal(stepper.reusePrefix(ids.slice(0, 4)), 3, 'the last token is always recomputed');
  const next = await stepper.step(ids[3]!);
  assert.equal(stepper.ctx.nPast, 4);
  assert.ok(next.every(Number.isFinite));
  seen = 1000;
});
