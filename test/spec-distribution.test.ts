// Speculative sampling keeps the target's distribution: on a tiny random model drafted by itself
// with a flattened head (q differs from p, so drafts are both kept and rejected), 20,000 seeded generations through the
// whole speculative path give first tokens, and second tokens, distributed as plain sampling gives
// them (chi-square p > 0.01 against the exact distributions from the target's sampler chain); the
// same draws with a rule that keeps every draft token fail the test. The same for a layer-skip draft
// (the target's first layer and head, the verify continuing from its kept hidden states).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, type Model } from '../src/runtime/model.js';
import { SamplerChain, type SamplingOptions } from '../src/runtime/sampler.js';
import type { AcceptRule } from '../src/runtime/spec/rejection.js';
import type { SpeculativeOptions } from '../src/runtime/speculative.js';
import { synthGGUF } from './synth.js';
import { chiSquare } from './spec-helpers.js';

const SHAPE = { nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 64 };
const SAMPLING: SamplingOptions = { temperature: 1, topK: 40, topP: 0.95, minP: 0.02 };
const DRAWS = 20000;
const PROMPT = [1, 72, 300, 45];

const models: Model[] = [];
after(() => { for (const m of models) m.dispose(); });

/** The target's exact distributions of the first and the second generated token under SAMPLING. */
function exact(target: Model): { first: Map<number, number>; second: Map<number, number> } {
  const ctx = target.createContext({ ctx: 64 });
  const dist = (ids: number[]) => {
    ctx.truncate(0);
    const logits = ctx.decode(ids)!;
    const chain = new SamplerChain(target.hparams.nVocab, { ...SAMPLING, seed: 1 });
    for (const id of ids) chain.accept(id);
    const d = chain.distribution(logits);
    return new Map(Array.from({ length: d.n }, (_, i) => [d.ids[i]!, d.probs[i]!]));
  };
  const first = dist(PROMPT);
  const second = new Map<number, number>();
  for (const [x, px] of first) for (const [y, py] of dist([...PROMPT, x])) second.set(y, (second.get(y) ?? 0) + px * py);
  ctx.dispose();
  return { first, second };
}

async function draws(target: Model, spec: SpeculativeOptions, n: number, acceptRule?: AcceptRule) {
  const ctx = target.createContext({ ctx: 64 });
  const first = new Map<number, number>(), second = new Map<number, number>();
  let drafted = 0, accepted = 0;
  for (let seed = 0; seed < n; seed++) {
    for await (const c of target.generate(PROMPT, { ...SAMPLING, seed, maxTokens: 3, stopAtEog: false, context: ctx, speculative: { ...spec, nDraft: 2, acceptRule } })) {
      if (!c.done) continue;
      first.set(c.tokens[0]!, (first.get(c.tokens[0]!) ?? 0) + 1);
      second.set(c.tokens[1]!, (second.get(c.tokens[1]!) ?? 0) + 1);
      drafted += c.timings.speculative!.drafted;
      accepted += c.timings.speculative!.accepted;
    }
  }
  return { first, second, drafted, accepted };
}

const drafters: [string, (target: Model) => Promise<SpeculativeOptions>][] = [
  // The target with its output scaled down, so q is a flatter p (acceptance well inside 0..1).
  ['a draft model', async () => {
    const draft = await loadModel(synthGGUF({ arch: 'llama', shape: SHAPE, seed: 11, override: (name, v) => (name === 'output.weight' ? v.map((x) => x * 0.5) : v) }), { backend: 'ref' });
    models.push(draft);
    return { draft };
  }],
  ['layer skip (first layer, kept hidden states)', async () => ({ layers: 1 })],
];

for (const [name, makeSpec] of drafters) test(`${name}: 20,000 speculative draws of the first two tokens match the target distribution; keeping every draft does not`, async () => {
  const target = await loadModel(synthGGUF({ arch: 'llama', shape: SHAPE, seed: 11 }), { backend: 'ref' });
  models.push(target);
  const spec = await makeSpec(target);
  const want = exact(target);
  assert.ok(want.first.size >= 5, `the target's first-token distribution has ${want.first.size} tokens`);
  const got = await draws(target, spec, DRAWS);
  // Drafts were made, and rejected often enough that the resample path carries weight.
  assert.ok(got.drafted >= DRAWS && got.accepted > 0.05 * got.drafted && got.accepted < 0.95 * got.drafted, `drafted ${got.drafted}, accepted ${got.accepted}`);
  const c1 = chiSquare(got.first, want.first, DRAWS), c2 = chiSquare(got.second, want.second, DRAWS);
  assert.ok(c1.p > 0.01, `first token: chi ${c1.chi.toFixed(1)} on ${c1.df} df, p ${c1.p.toExponential(2)}`);
  assert.ok(c2.p > 0.01, `second token: chi ${c2.chi.toFixed(1)} on ${c2.df} df, p ${c2.p.toExponential(2)}`);
  const wrong = await draws(target, spec, 3000, (_p, _q, x) => ({ token: x, accepted: true }));
  const w1 = chiSquare(wrong.first, want.first, 3000);
  assert.ok(w1.p < 0.01, `keeping every draft should be caught: chi ${w1.chi.toFixed(1)} on ${w1.df} df, p ${w1.p}`);
});
