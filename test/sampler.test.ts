import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SamplerChain, Rng } from '../src/runtime/sampler.js';
import { ArgumentError } from '../src/core/errors.js';

const logits = Float32Array.from([1, 5, 3, 4.5, -2, 0, 2, 4.9]);

function histogram(chain: SamplerChain, n: number): Map<number, number> {
  const h = new Map<number, number>();
  for (let i = 0; i < n; i++) { const t = chain.sample(logits); h.set(t, (h.get(t) ?? 0) + 1); }
  return h;
}

test('greedy picks the argmax; temperature 0 builds no random samplers', () => {
  const c = new SamplerChain(8, { temperature: 0 });
  assert.equal(c.sample(logits), 1);
  assert.deepEqual(c.samplers, []);
});

test('top-k keeps only the k best', () => {
  const h = histogram(new SamplerChain(8, { temperature: 5, topK: 2, topP: 1, minP: 0, seed: 1 }), 2000);
  assert.deepEqual([...h.keys()].sort(), [1, 7]);
});

test('top-p keeps the smallest set reaching p', () => {
  // softmax of [5, 4.9, 4.5, ...]: the top two hold ~0.55 of the mass, so p = 0.5 keeps 2.
  const h = histogram(new SamplerChain(8, { temperature: 1, topK: 0, topP: 0.5, minP: 0, seed: 2 }), 2000);
  assert.deepEqual([...h.keys()].sort(), [1, 7]);
});

test('min-p drops tokens below p times the best probability', () => {
  // exp(4.5 - 5) = 0.61 > 0.5 > exp(3 - 5): keeps 1, 7, 3.
  const h = histogram(new SamplerChain(8, { temperature: 1, topK: 0, topP: 1, minP: 0.5, seed: 3 }), 3000);
  assert.deepEqual([...h.keys()].sort(), [1, 3, 7]);
});

test('logit bias bans and promotes tokens', () => {
  assert.equal(new SamplerChain(8, { temperature: 0, logitBias: { 1: -Infinity } }).sample(logits), 7);
  assert.equal(new SamplerChain(8, { temperature: 0, logitBias: { 4: 10 } }).sample(logits), 4);
  assert.throws(() => new SamplerChain(8, { logitBias: { 8: 1 } }), ArgumentError);
});

test('repetition, frequency and presence penalties push seen tokens down', () => {
  const rep = new SamplerChain(8, { temperature: 0, repeatPenalty: 1.1 });
  rep.accept(1);
  assert.equal(rep.sample(logits), 7, '5 / 1.1 < 4.9');
  const freq = new SamplerChain(8, { temperature: 0, frequencyPenalty: 0.05 });
  freq.accept(1); freq.accept(1); freq.accept(1);
  assert.equal(freq.sample(logits), 7, '5 - 3 * 0.05 < 4.9');
  const pres = new SamplerChain(8, { temperature: 0, presencePenalty: 0.2, repeatLastN: 1 });
  pres.accept(1); pres.accept(7);
  assert.equal(pres.sample(logits), 1, 'only the last token is penalized with repeatLastN 1');
});

test('a seed makes sampling repeatable; different seeds differ', () => {
  const run = (seed: number) => { const c = new SamplerChain(8, { temperature: 2, topK: 0, topP: 1, minP: 0, seed }); return Array.from({ length: 50 }, () => c.sample(logits)).join(','); };
  assert.equal(run(7), run(7));
  assert.notEqual(run(7), run(8));
  const r = new Rng(1);
  for (let i = 0; i < 1000; i++) { const x = r.next(); assert.ok(x >= 0 && x < 1); }
});

test('bad options are named', () => {
  assert.throws(() => new SamplerChain(8, { topP: 0 }), /topP must be in \(0, 1\]/);
  assert.throws(() => new SamplerChain(8, { topK: -1 }), /topK must be a non-negative integer/);
  assert.throws(() => new SamplerChain(8, { temperature: NaN }), /temperature must be a finite number/);
});

test('checkpoint / rollback: the tokens sampled after a rollback repeat those after the checkpoint', () => {
  // Penalties with a short window (the history shifts) and a seeded draw: both kinds of state.
  const chain = new SamplerChain(8, { temperature: 1.5, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.3, frequencyPenalty: 0.2, presencePenalty: 0.1, repeatLastN: 3, seed: 7 });
  const run = (n: number) => Array.from({ length: n }, () => { const t = chain.sample(logits); chain.accept(t); return t; });
  run(5);
  const cp = chain.checkpoint();
  const first = run(12);
  chain.rollback(cp);
  assert.deepEqual(run(12), first);
  chain.rollback(cp);
  assert.deepEqual(run(12), first, 'a checkpoint can be rolled back to twice');
  assert.throws(() => new SamplerChain(8, { temperature: 0 }).rollback(cp), ArgumentError);
});
