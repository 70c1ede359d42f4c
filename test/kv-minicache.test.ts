// MiniCache (runtime/kv/minicache.ts): merged layer pairs restore exactly what was stored when the
// two layers hold the same vectors (norms kept), keeping every token (retain 1) gives the logits of
// the plain f32 cache bit for bit, a batch attends to its own states unmerged (prefill is exact, the
// next batch reads the merge), and on lutra's bundled model (4 layers: pair 2-3 merged) SLERP costs
// less perplexity than plain averaging when every token is decoded alone, while holding fewer bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createKernels } from '../src/kernels/index.js';
import { createKVStore, MiniCacheKVStore } from '../src/runtime/kv/index.js';
import { loadModel } from '../src/runtime/model.js';
import type { Context } from '../src/runtime/context.js';
import { kldEval } from '../src/eval/kld.js';
import { ArgumentError } from '../src/core/errors.js';
import { DATA, REPO, randomFloats } from './helpers.js';

const MODEL = resolve(REPO, 'models/lutra-default.gguf');
const text = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8').slice(0, 60000);

test('identical layers: the merged pair restores the stored vectors and their norms; attention equals the f32 store', async () => {
  const { kernels } = await createKernels({ backend: 'ref' });
  const shape = { nLayer: 2, nCtx: 16, nHeadKv: 2, headDim: 32, headDimV: 32 };
  const mc = createKVStore({ k: 'f32', v: 'f32', miniCache: { startLayer: 0, retain: 0 } }, kernels, shape) as MiniCacheKVStore;
  const plain = createKVStore('f32', kernels, shape);
  assert.deepEqual(mc.mergedLayers(), [0, 1]);
  const keys = randomFloats(10 * 64, 1, 2), values = randomFloats(10 * 64, 2, 3);
  for (const s of [mc, plain]) for (const l of [0, 1]) s.append(l, 0, keys, values, 10);
  const q = randomFloats(3 * 4 * 32, 3), attn = { nHead: 4, nHeadKv: 2, headDim: 32, headDimV: 32, scale: 0.2 };
  for (const l of [0, 1]) {
    const a = new Float32Array(3 * 4 * 32), b = new Float32Array(a.length);
    mc.attend(l, q, 3, 7, attn, a);
    plain.attend(l, q, 3, 7, attn, b);
    // Norms are held in f16: within its rounding.
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 2e-3 * (1 + Math.abs(b[i]!)), `layer ${l} [${i}] ${a[i]} vs ${b[i]}`);
  }
  assert.equal(mc.retained(), 0);
  assert.ok(mc.bytes < plain.bytes, `${mc.bytes} bytes vs ${plain.bytes}`);
  assert.throws(() => createKVStore({ k: 'f32', miniCache: { startLayer: 1 } }, kernels, shape), ArgumentError);
  assert.throws(() => createKVStore({ k: 'f32', miniCache: { retain: 2 } }, kernels, shape), ArgumentError);
});

/** A MiniCache context and a plain f32 one on the bundled model, side by side over the same tokens. */
async function beside(miniCache: object, fn: (a: Context, b: Context, toks: number[]) => void): Promise<void> {
  const model = await loadModel(MODEL);
  const a = model.createContext({ ctx: 64, cacheType: { k: 'f32', miniCache } }), b = model.createContext({ ctx: 64, cacheType: 'f32' });
  try {
    fn(a, b, model.tokenize(text.slice(0, 3000)).slice(0, 41));
  } finally {
    a.dispose(); b.dispose(); model.dispose();
  }
}

test('retain 1 (every token kept): logits equal the f32 cache bit for bit, prefill and decode', () => beside({ retain: 1 }, (a, b, toks) => {
  assert.deepEqual(Array.from(a.decode(toks.slice(0, 30))!), Array.from(b.decode(toks.slice(0, 30))!));
  for (const t of toks.slice(30)) assert.deepEqual(Array.from(a.decode([t])!), Array.from(b.decode([t])!));
}));

test('a batch attends to its own keys and values unmerged; the next batch reads the merged states', () => beside({ retain: 0 }, (a, b, toks) => {
  assert.deepEqual(Array.from(a.decode(toks.slice(0, 40))!), Array.from(b.decode(toks.slice(0, 40))!));
  const la = a.decode(toks.slice(40))!, lb = b.decode(toks.slice(40))!;
  let diff = 0;
  for (let i = 0; i < la.length; i++) diff = Math.max(diff, Math.abs(la[i]! - lb[i]!));
  assert.ok(diff > 1e-3, `the token after the prefill reads merged states: max logit difference ${diff}`);
  assert.equal((a.kv as MiniCacheKVStore).retained(), 0);
}));

test('bundled model: SLERP costs less perplexity than averaging; fewer bytes than the unmerged cache of the same type', async () => {
  const model = await loadModel(MODEL);
  try {
    // batch 1: every token decoded alone, as generation does, so every scored token reads merged
    // states (with the prompt prefilled in one batch, averaging is as good here: README, bench/results).
    const run = (miniCache: object) => kldEval(model, model, text, { ctx: 128, chunks: 6, batch: 1, baseCache: 'f32', quantCache: { k: 'f32', miniCache } });
    const slerp = await run({}), avg = await run({ method: 'average' });
    assert.ok(slerp.pplQuant < avg.pplQuant, `SLERP PPL ${slerp.pplQuant} vs averaging ${avg.pplQuant}`);
    assert.ok(slerp.kld < avg.kld, `SLERP KLD ${slerp.kld} vs averaging ${avg.kld}`);
    for (const k of ['f16', 'q8_0', 'q4_0'] as const) {
      const c = model.createContext({ ctx: 128, cacheType: { k, miniCache: true } }), d = model.createContext({ ctx: 128, cacheType: k });
      const toks = model.tokenize(text.slice(0, 4000)).slice(0, 128);
      c.decode(toks); d.decode(toks);
      assert.ok(c.kv.bytesUsed() < d.kv.bytesUsed(), `${k}: MiniCache ${c.kv.bytesUsed()} bytes vs ${d.kv.bytesUsed()}`);
      c.dispose(); d.dispose();
    }
  } finally {
    model.dispose();
  }
});
