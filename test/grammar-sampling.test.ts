// Grammar-constrained sampling: sample first and check, redraw among the chain's allowed
// candidates on rejection, mask the vocabulary only when none is allowed. The result is exactly the
// chain's distribution restricted to allowed tokens (checked by frequency over many seeded draws),
// greedy picks the best allowed token, and a fully rejected chain reruns on allowed tokens only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SamplerChain, type TokenConstraint } from '../src/runtime/sampler.js';

/** A constraint allowing a fixed set, counting how often it had to build the full mask. */
function allowing(ids: number[]): TokenConstraint & { masks: number; checks: number } {
  const set = new Set(ids);
  const c = {
    masks: 0, checks: 0,
    allows(t: number) { c.checks++; return set.has(t); },
    fillMask(m: Uint8Array) { c.masks++; for (const t of set) m[t] = 1; return set.size; },
    accept() {},
  };
  return c;
}

const logits = Float32Array.from([2, 1.5, 1, 0.5, 0, -0.5, -1, -1.5]);

test('temperature sampling with a constraint is exactly softmax over the allowed tokens', () => {
  const allowed = [1, 3, 4, 6];
  const chain = new SamplerChain(logits.length, { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 42 });
  const counts = new Map<number, number>();
  const N = 40000;
  const con = allowing(allowed);
  for (let i = 0; i < N; i++) {
    const id = chain.sample(logits, con);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const z = allowed.reduce((s, i) => s + Math.exp(logits[i]!), 0);
  // chi-square against the masked softmax (3 degrees of freedom: 16.3 is p = 0.001)
  let chi = 0;
  for (const i of allowed) { const e = N * Math.exp(logits[i]!) / z; chi += ((counts.get(i) ?? 0) - e) ** 2 / e; }
  assert.ok(chi < 16.3, `chi-square ${chi.toFixed(2)}: ${JSON.stringify([...counts])}`);
  assert.deepEqual([...counts.keys()].filter((k) => !allowed.includes(k)), []);
  assert.equal(con.masks, 0, 'the candidates always held an allowed token: no full mask');
});

test('with top-k, the redraw is the chain distribution restricted to allowed candidates', () => {
  const chain = new SamplerChain(logits.length, { temperature: 1, topK: 3, topP: 1, minP: 0, seed: 7 });
  const con = allowing([1, 2, 5]);
  const counts = new Map<number, number>();
  const N = 20000;
  for (let i = 0; i < N; i++) { const id = chain.sample(logits, con); counts.set(id, (counts.get(id) ?? 0) + 1); }
  // top-3 keeps {0, 1, 2}; allowed among them {1, 2}: p ∝ e^1.5 : e^1
  assert.deepEqual([...counts.keys()].sort(), [1, 2]);
  const ratio = counts.get(1)! / counts.get(2)!;
  assert.ok(Math.abs(ratio - Math.exp(0.5)) < 0.12, `ratio ${ratio}`);
  assert.equal(con.masks, 0);
});

test('greedy takes the best allowed token; a chain with no allowed candidate reruns on the mask', () => {
  const greedy = new SamplerChain(logits.length, { temperature: 0 });
  const con = allowing([4, 6]);
  assert.equal(greedy.sample(logits, con), 4);
  assert.equal(con.masks, 1);
  const topk = new SamplerChain(logits.length, { temperature: 1, topK: 2, topP: 1, minP: 0, seed: 1 });
  const far = allowing([6, 7]);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) seen.add(topk.sample(logits, far));
  assert.deepEqual([...seen].sort(), [6, 7], 'top-k of the allowed tokens');
  assert.equal(new SamplerChain(logits.length, { temperature: 1, seed: 1 }).sample(logits, allowing([])), -1);
});

test('an accepted first draw costs one check', () => {
  const chain = new SamplerChain(logits.length, { temperature: 0.8, seed: 3 });
  const con = allowing([0, 1, 2, 3, 4, 5, 6, 7]);
  for (let i = 0; i < 100; i++) chain.sample(logits, con);
  assert.equal(con.checks, 100);
  assert.equal(con.masks, 0);
});
