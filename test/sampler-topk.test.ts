// Top-k over a large vocabulary is selected with a heap in one pass (sampler.ts selectTopK): the
// candidates it keeps must be exactly the k best by descending logit, ties to the lower id, in that
// order, as a full sort gives them; with many tied logits and -Infinity (banned) tokens. A k beyond
// the heap's range goes through quickselect, which keeps the k best too but breaks ties at the
// k-th place arbitrarily: it is checked without ties.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SamplerChain } from '../src/runtime/sampler.js';
import { randomFloats } from './helpers.js';

function reference(logits: Float32Array, k: number): number[] {
  const ids = Array.from(logits, (_, i) => i);
  ids.sort((a, b) => logits[b]! - logits[a]! || a - b);
  return ids.slice(0, k);
}

test('top-k keeps the k best ids by logit (ties to the lower id) on a 151,936-token vocabulary', () => {
  const n = 151_936;
  for (const [seed, round] of [[1, 0], [2, 4], [3, 1]] as const) {
    const logits = randomFloats(n, seed, 3);
    // round > 0: logits on a coarse grid, so thousands tie (at the k-th place too).
    if (round) for (let i = 0; i < n; i++) logits[i] = Math.round(logits[i]! * round) / round;
    for (let i = 0; i < n; i += 7) if (i % 3 === 0) logits[i] = -Infinity;
    for (const k of round ? [1, 40, 256] : [1, 40, 256, 20_000]) {
      const chain = new SamplerChain(n, { temperature: 1, topK: k, topP: 1, minP: 0, seed: 1 });
      const d = chain.distribution(logits);
      assert.equal(d.n, k);
      assert.deepEqual(Array.from(d.ids.subarray(0, k)), reference(logits, k), `seed ${seed} grid ${round} k ${k}`);
    }
  }
});

test('greedy without samplers picks the first largest logit, as the chain does with a bias that changes nothing', () => {
  const logits = Float32Array.from([1, 5, 3, 5, -Infinity, 5]);
  const plain = new SamplerChain(logits.length, { temperature: 0 });
  const chained = new SamplerChain(logits.length, { temperature: 0, logitBias: { 2: 0 } });
  assert.deepEqual(plain.samplers, []);
  assert.deepEqual(chained.samplers, ['logit-bias']);
  for (const c of [plain, chained]) {
    assert.equal(c.sample(logits), 1);
    assert.equal(c.distribution(logits).ids[0], 1);
    // A constraint that refuses the argmax: the best allowed one.
    const only = (ok: number[]) => ({ allows: (id: number) => ok.includes(id), fillMask: (m: Uint8Array) => { for (const id of ok) m[id] = 1; return ok.length; }, accept() {} });
    assert.equal(c.sample(logits, only([2, 3, 5])), 3);
    assert.equal(c.distribution(logits, only([0, 2])).ids[0], 2);
  }
  const all = new Float32Array(6).fill(-Infinity);
  assert.equal(plain.sample(all), 0);
  assert.equal(chained.sample(all), 0);
});
