// A layer-skip draft shares the target's KV cache of its layers (spec/shared-kv.ts): it runs no
// prompt and no verified token a second time, proposes the same tokens as a draft with a cache of
// its own (the same K/V rows, read from the target's store), and greedy output stays plain
// decoding's, token for token, at every depth and across generations reusing one context. With its
// hidden states kept (the default), the target's verify starts at the draft's last layer: after the
// prompt the target runs no token through layers 0..k-1 that the draft ran. MiniCache's merged
// layer pairs are not shared.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, type Model } from '../src/runtime/model.js';
import type { Context } from '../src/runtime/context.js';
import { createDrafter, generateSpeculative, type SpeculativeOptions } from '../src/runtime/speculative.js';
import { ModelDrafter } from '../src/runtime/spec/drafters.js';
import { canShareKV, SharedPrefixKV } from '../src/runtime/spec/shared-kv.js';
import { resolve } from 'node:path';
import { REPO, STORIES_GGUF } from './helpers.js';

const DEFAULT_MODEL = resolve(REPO, 'models/lutra-default.gguf');

const models: Model[] = [];
after(() => { for (const m of models) m.dispose(); });

const PROMPT = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';

/** Greedy speculative generation with a fresh drafter whose context counts the tokens it runs. */
async function run(m: Model, ctx: Context, spec: SpeculativeOptions, maxTokens: number, prompt = PROMPT) {
  const drafter = createDrafter(m, ctx, spec);
  assert.ok(drafter instanceof ModelDrafter);
  const dctx = drafter.ctx;
  // The draft's tokens run, its draft() calls, and the target's tokens by the layer they start at.
  let ran = 0, calls = 0;
  const target = new Map<number, number>();
  const decode = dctx.decode.bind(dctx);
  dctx.decode = (t, o) => { ran += t.length; return decode(t, o); };
  const tdecode = ctx.decode.bind(ctx);
  ctx.decode = (t, o) => { const l = o?.from?.layer ?? 0; target.set(l, (target.get(l) ?? 0) + t.length); return tdecode(t, o); };
  const draft = drafter.draft.bind(drafter);
  drafter.draft = (seq, n) => { calls++; return draft(seq, n); };
  let done;
  try {
    for await (const c of generateSpeculative(ctx, m.tokenizer, prompt, { maxTokens, temperature: 0, stopAtEog: false, speculative: spec }, drafter)) if (c.done) done = c;
  } finally {
    drafter.dispose();
    ctx.decode = tdecode;
  }
  return { done: done!, ran, calls, target, name: drafter.name, shared: dctx.kv instanceof SharedPrefixKV };
}

test('a layer-skip draft reads the target\'s cache: same drafts, no prompt or verified token run twice, greedy output unchanged', async () => {
  const m = await loadModel(STORIES_GGUF, { backend: 'ref' });
  models.push(m);
  const N = 80;
  const promptLen = m.tokenize(PROMPT, { addSpecial: true }).length;
  let plain;
  for await (const c of m.generate(PROMPT, { maxTokens: N, temperature: 0, stopAtEog: false, context: m.createContext({ ctx: 256 }) })) if (c.done) plain = c;

  for (const nDraft of [2, 4]) {
    const own = await run(m, m.createContext({ ctx: 256 }), { layers: 2, nDraft, shareKV: false }, N);
    const recompute = await run(m, m.createContext({ ctx: 256 }), { layers: 2, nDraft, keepHidden: false }, N);
    const kept = await run(m, m.createContext({ ctx: 256 }), { layers: 2, nDraft }, N);
    assert.ok(kept.shared && recompute.shared && !own.shared, `${kept.name} / ${own.name}`);
    assert.match(kept.name, /shared KV, kept hidden/);
    assert.doesNotMatch(recompute.name, /kept hidden/);
    for (const r of [own, recompute, kept]) assert.deepEqual(r.done.tokens, plain!.tokens, `${r.name}: plain greedy text`);
    const o = own.done.timings.speculative!;
    for (const r of [recompute, kept]) {
      const s = r.done.timings.speculative!;
      assert.deepEqual({ drafted: s.drafted, accepted: s.accepted, steps: s.steps }, { drafted: o.drafted, accepted: o.accepted, steps: o.steps }, `${r.name}: the same drafts from the same K/V rows`);
    }
    const s = kept.done.timings.speculative!;
    assert.ok(s.drafted > 0 && s.accepted > 0, JSON.stringify(s));
    // Without kept states, per verify the shared draft runs the token after it and each drafted
    // token but the last (drafted in all); the own-cache draft also runs the prompt (but its last
    // token), and the last drafted token again whenever all of a draft was kept.
    assert.equal(recompute.ran, s.drafted, `nDraft ${nDraft}: the recomputing draft ran ${recompute.ran} tokens`);
    assert.ok(own.ran >= recompute.ran + promptLen - 1, `own ${own.ran} vs shared ${recompute.ran} + prompt ${promptLen - 1}`);
    // Kept: each draft() also runs its last drafted token (no head) so the verify can start past
    // its layers; every target token after the prompt starts at layer 2 except in the steps with no
    // draft() call (the last, with no room to draft), which start at the embedding.
    assert.equal(kept.ran, kept.calls + s.drafted, `nDraft ${nDraft}: the kept-hidden draft ran ${kept.ran} tokens in ${kept.calls} calls`);
    assert.deepEqual([...kept.target.keys()].sort(), [0, 2]);
    assert.equal(kept.target.get(2), kept.calls + s.drafted, 'verified tokens continued from layer 2');
    assert.equal(kept.target.get(0), promptLen - 1 + s.steps - kept.calls, 'tokens the target ran from the embedding: the prompt and the draftless steps');
    assert.equal(recompute.target.get(0), promptLen - 1 + s.steps + s.drafted, 'recomputing: every verified token from the embedding');
  }

  // Two generations on one context: the second reuses the first's prompt prefix; still exact.
  const ctx = m.createContext({ ctx: 256 });
  await run(m, ctx, { layers: 1, nDraft: 3 }, 30);
  const again = await run(m, ctx, { layers: 1, nDraft: 3 }, N, PROMPT + ' One day');
  let plain2;
  for await (const c of m.generate(PROMPT + ' One day', { maxTokens: N, temperature: 0, stopAtEog: false, context: m.createContext({ ctx: 256 }) })) if (c.done) plain2 = c;
  assert.deepEqual(again.done.tokens, plain2!.tokens);
});

test('MiniCache stores are not shared (their layers are merged in pairs); dense and packed ones are', async () => {
  // The bundled model: heads of 32, so a q8_0 cache fits (stories260K's heads of 8 do not).
  const m = await loadModel(DEFAULT_MODEL, { backend: 'ref' });
  models.push(m);
  assert.equal(canShareKV(m.createContext({ ctx: 64, cacheType: { k: 'f16', v: 'f16', miniCache: true } }).kv), false);
  assert.equal(canShareKV(m.createContext({ ctx: 64, cacheType: 'f32' }).kv), true);
  const ctx = m.createContext({ ctx: 64, cacheType: 'q8_0' });
  assert.equal(canShareKV(ctx.kv), true);
  let plain;
  for await (const c of m.generate(PROMPT, { maxTokens: 20, temperature: 0, stopAtEog: false, context: m.createContext({ ctx: 64, cacheType: 'q8_0' }) })) if (c.done) plain = c;
  const r = await run(m, ctx, { layers: 2, nDraft: 3 }, 20);
  assert.ok(r.shared);
  assert.deepEqual(r.done.tokens, plain!.tokens, 'q8_0 cache shared: plain greedy text');
  assert.throws(() => new SharedPrefixKV(m.createContext({ ctx: 64 }).kv, 9), /9 layers of a store of 4/);
});
