// RoPE scaling from GGUF metadata as llama.cpp applies it, on tiny random models (test/rope-models.ts):
// linear, YaRN (llama; qwen2 with an attention factor), LongRoPE on phi3 with the long and the short
// factors. Greedy 32 tokens equal llama-simple's byte for byte and perplexity over 8 windows of 128
// is within 0.5% of llama-perplexity's (goldens and commands: test/golden/rope/).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { perplexity } from '../src/eval/perplexity.js';
import { ROPE_MODELS } from './rope-models.js';
import { greedyVsLlamaSimple } from './arch-models.js';
import { DATA, REPO } from './helpers.js';

const GOLDEN = resolve(REPO, 'test/golden/rope');
const PPL_TOLERANCE = 0.005;
/** llama-simple's context for -n 32 after the 5-token prompt: prompt + n - 1. */
const GREEDY_CTX = 36;
const text = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8');

for (const [name, make] of Object.entries(ROPE_MODELS)) {
  test(`${name}: greedy 32 tokens equal llama-simple's, perplexity within 0.5% of llama-perplexity's`, async () => {
    const model = await loadModel(make(), { backend: 'ref' });
    try {
      const golden = readFileSync(resolve(GOLDEN, name, 'greedy-n32.txt'));
      // special: control tokens as their text, as llama-simple prints them (<unk>).
      const { got, want, n } = await greedyVsLlamaSimple(model, golden, { context: model.createContext({ ctx: GREEDY_CTX }), special: true });
      assert.equal(n, 32);
      assert.equal(got, want);
      const ppl = new Map<number, number>();
      for (const line of readFileSync(resolve(GOLDEN, name, 'ppl-c128.txt'), 'utf8').split('\n')) {
        const m = /^(\d+) ([\d.]+)$/.exec(line);
        if (m) ppl.set(Number(m[1]), Number(m[2]));
      }
      const r = await perplexity(model, text, { ctx: 128, chunks: 8 });
      for (const c of [1, 8]) {
        const want = ppl.get(c)!, got = r.perChunk[c - 1]!;
        assert.ok(Math.abs(got - want) / want < PPL_TOLERANCE, `chunk ${c}: lutra ${got.toFixed(4)} vs llama.cpp ${want}`);
      }
    } finally {
      model.dispose();
    }
  });
}

test('LongRoPE: the long factors and the short ones give different text (the test above tells them apart)', async () => {
  const a = await loadModel(ROPE_MODELS['phi3-longrope-long']!(), { backend: 'ref' });
  const b = await loadModel(ROPE_MODELS['phi3-longrope-short']!(), { backend: 'ref' });
  const la = a.createContext({ ctx: GREEDY_CTX }).decode([1, 20, 30, 40, 50])!, lb = b.createContext({ ctx: GREEDY_CTX }).decode([1, 20, 30, 40, 50])!;
  let d = 0;
  for (let i = 0; i < la.length; i++) d = Math.max(d, Math.abs(la[i]! - lb[i]!));
  assert.ok(d > 1e-3, `logits differ by ${d}`);
  a.dispose(); b.dispose();
});
