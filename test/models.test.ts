// One smoke test per architecture on tiny random configs, plus the equivalences that pin the
// layout rules: adjacent-pair RoPE on permuted Q/K rows equals NeoX RoPE on the originals, and
// MiniCPM's scalings reduce to Llama when they are 1.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel, type Model } from '../src/runtime/model.js';
import { GGUFType } from '../src/formats/gguf.js';
import { quantFormat } from '../src/quant/table.js';
import { synthGGUF, permuteRows, type SynthShape } from './synth.js';

const shape: SynthShape = { nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 48 };
const prompt = [1, 17, 300, 42, 99, 7, 250, 3];

function logitsOf(m: Model, ids: number[], batch = 64): Float32Array {
  const ctx = m.createContext({ ctx: 64, batch, kvType: 'f32' });
  return ctx.decode(ids, { logits: 'last' })!.slice();
}

function assertClose(a: Float32Array, b: Float32Array, rtol: number, what: string): void {
  let maxDiff = 0, maxAbs = 0;
  for (let i = 0; i < a.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!)); maxAbs = Math.max(maxAbs, Math.abs(b[i]!)); }
  assert.ok(maxDiff <= rtol * maxAbs + 1e-6, `${what}: max diff ${maxDiff} (max |logit| ${maxAbs})`);
}

for (const arch of [
  { name: 'llama', opts: {} },
  { name: 'qwen2', opts: { bias: true } },
  { name: 'qwen3', opts: { qkNorm: true } },
  { name: 'minicpm', opts: { extraMeta: [['minicpm.embedding_scale', { type: GGUFType.FLOAT32, value: 12 }], ['minicpm.residual_scale', { type: GGUFType.FLOAT32, value: 1.4 / Math.sqrt(2) }], ['minicpm.logit_scale', { type: GGUFType.FLOAT32, value: 4 }]] as never } },
]) {
  test(`${arch.name}: loads, gives finite logits, batched prefill equals token-by-token decoding`, async () => {
    const m = await loadModel(synthGGUF({ arch: arch.name, shape, ...arch.opts }));
    assert.equal(m.arch, arch.name);
    const batched = logitsOf(m, prompt);
    assert.ok(batched.every(Number.isFinite));
    const stepwise = logitsOf(m, prompt, 1);
    assertClose(stepwise, batched, 1e-5, 'batch 1 vs batch 64');
    let n = 0;
    for await (const c of m.generate(prompt, { temperature: 0, maxTokens: 5 })) if (!c.done) n++;
    assert.equal(n, 5);
  });
}

test('GQA with an explicit head size (key_length) different from n_embd / n_head', async () => {
  const m = await loadModel(synthGGUF({ arch: 'qwen3', shape: { ...shape, headDim: 16 }, qkNorm: true }));
  assert.equal(m.hparams.headDim, 16);
  assert.ok(logitsOf(m, prompt).every(Number.isFinite));
});

test('llama (adjacent-pair RoPE) on permuted Q/K rows equals NeoX RoPE on the original rows', async () => {
  const hd = shape.nEmbd / shape.nHead;
  // qwen2 with zero biases is exactly llama with NeoX RoPE.
  const neox = await loadModel(synthGGUF({ arch: 'qwen2', shape, bias: true, biasFill: 0 }));
  const norm = await loadModel(synthGGUF({
    arch: 'llama', shape,
    override: (name, v) => {
      if (name.endsWith('attn_q.weight')) return permuteRows(v, shape.nHead * hd, shape.nEmbd, shape.nHead);
      if (name.endsWith('attn_k.weight')) return permuteRows(v, shape.nHeadKv * hd, shape.nEmbd, shape.nHeadKv);
      return v;
    },
  }));
  assertClose(logitsOf(norm, prompt), logitsOf(neox, prompt), 1e-5, 'permuted llama vs neox');
});

test('minicpm with unit scales equals llama; logit_scale divides the logits', async () => {
  const one = (k: string, v: number) => [`minicpm.${k}`, { type: GGUFType.FLOAT32, value: v }] as [string, never];
  const llama = await loadModel(synthGGUF({ arch: 'llama', shape }));
  const unit = await loadModel(synthGGUF({ arch: 'minicpm', shape, extraMeta: [one('embedding_scale', 1), one('residual_scale', 1), one('logit_scale', 1)] }));
  const ref = logitsOf(llama, prompt);
  assertClose(logitsOf(unit, prompt), ref, 1e-6, 'minicpm unit scales');
  const half = await loadModel(synthGGUF({ arch: 'minicpm', shape, extraMeta: [one('embedding_scale', 1), one('residual_scale', 1), one('logit_scale', 2)] }));
  assertClose(logitsOf(half, prompt), ref.map((x) => x / 2), 1e-6, 'logit_scale 2');
});

test('rope scaling: linear factor 2 at position p equals no scaling at p/2 for the rotation', async () => {
  const lin = await loadModel(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.rope.scaling.type', { type: GGUFType.STRING, value: 'linear' }], ['llama.rope.scaling.factor', { type: GGUFType.FLOAT32, value: 2 }]] }));
  assert.equal(lin.hparams.rope.freqScale, 0.5);
  const yarn = await loadModel(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.rope.scaling.type', { type: GGUFType.STRING, value: 'yarn' }], ['llama.rope.scaling.factor', { type: GGUFType.FLOAT32, value: 4 }], ['llama.rope.scaling.original_context_length', { type: GGUFType.UINT32, value: 64 }]] }));
  assert.ok(yarn.hparams.rope.rampMix !== null);
  assert.ok(Math.abs(yarn.hparams.rope.mscale - (1 + 0.1 * Math.log(4))) < 1e-12);
  assert.ok(logitsOf(yarn, prompt).every(Number.isFinite));
});

test('bad models: unknown architecture, missing tensor, wrong shape are named', async () => {
  await assert.rejects(loadModel(synthGGUF({ arch: 'gpt-j', shape })), /unknown architecture "gpt-j"/);
  await assert.rejects(loadModel(synthGGUF({ arch: 'qwen2', shape })), /missing tensor blk\.0\.attn_q\.bias/);
  await assert.rejects(
    loadModel(synthGGUF({ arch: 'llama', shape, extraMeta: [['llama.feed_forward_length', { type: GGUFType.UINT32, value: 40 }]] })),
    /tensor blk\.0\.ffn_gate\.weight: expected shape 32x40, file has 32x48/,
  );
});

test('input embeddings: injecting the tokens\' own embedding rows gives the same logits; other rows change them', async () => {
  const m = await loadModel(synthGGUF({ arch: 'minicpm', shape, extraMeta: [['minicpm.embedding_scale', { type: GGUFType.FLOAT32, value: 3 }], ['minicpm.residual_scale', { type: GGUFType.FLOAT32, value: 0.7 }], ['minicpm.logit_scale', { type: GGUFType.FLOAT32, value: 2 }]] as never }));
  const t = m.source.tensors.find((x) => x.name === 'token_embd.weight')!;
  const n = shape.nEmbd, start = 2, count = 4;
  const rows = new Float32Array(count * n);
  const format = quantFormat(t.type, t.name), rowBytes = (n / format.blockSize) * format.typeSize;
  for (let i = 0; i < count; i++) format.dequantize(t.data, prompt[start + i]! * rowBytes, rows, i * n, n);
  const plain = logitsOf(m, prompt);
  // Batch 3 puts the span across micro-batch boundaries.
  for (const batch of [64, 3]) {
    const ctx = m.createContext({ ctx: 64, batch, kvType: 'f32' });
    assert.deepEqual(ctx.decode(prompt, { logits: 'last', embeddings: [{ start, data: rows }] })!.slice(), plain, `batch ${batch}`);
  }
  const ctx = m.createContext({ ctx: 64, kvType: 'f32' });
  const other = ctx.decode(prompt, { logits: 'last', embeddings: [{ start, data: rows.map((v) => -v) }] })!;
  assert.notDeepEqual(other.slice(), plain);
  assert.throws(() => ctx.decode(prompt, { embeddings: [{ start: 6, data: rows }] }), /not whole rows/);
});
