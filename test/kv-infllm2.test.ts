// InfLLM v2 sparse attention (runtime/kv/infllm2.ts): below dense_len it is the inner store's
// attention bit for bit; with top-k covering every block it is dense attention; with real sparsity
// its block choice equals a brute-force reading of the algorithm and its output the reference
// attention over those blocks; compressed keys kept incrementally over 1,000 decode steps (and a
// truncation) equal those of one bulk append; a model's declared sparse_config sets the defaults.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels } from '../src/kernels/wasm/index.js';
import type { Kernels } from '../src/kernels/types.js';
import { createKVStore, InfLLMv2KVStore, INFLLM2_DEFAULTS, infllm2FromMetadata, type InfLLMv2Options, type KVCacheType } from '../src/runtime/kv/index.js';
import { configToMetadata } from '../src/formats/hf-folder.js';
import { archFromConfig } from '../src/formats/hf-arch.js';
import { hpKey, u32, type HParamKey } from '../src/formats/gguf-names.js';
import type { GGUFValue } from '../src/formats/gguf.js';
import { loadModel } from '../src/runtime/model.js';
import { synthGGUF } from './synth.js';
import { KV_PARITY_SHAPE, kvParityModel } from './kv-parity-model.js';
import { f32ToF16, roundF16 } from '../src/core/f16.js';
import { randomFloats } from './helpers.js';

const wasm = await WasmKernels.create({ threads: 1 });
after(() => wasm?.dispose());
const backends: Array<[string, Kernels]> = [['ref', new RefKernels()], ...(wasm ? [['wasm', wasm] as [string, Kernels]] : [])];

const nHead = 6, nHeadKv = 2, headDim = 32, nCtx = 1200, G = nHead / nHeadKv;
const shape = { nHead, nHeadKv, headDim, headDimV: headDim, scale: 1 / Math.sqrt(headDim) };
const small: InfLLMv2Options = { blockSize: 16, kernelSize: 8, kernelStride: 4, initBlocks: 1, topk: 5, windowSize: 48, denseLen: 100 };

function f32(k: Kernels, src: Float32Array): Float32Array {
  const a = k.allocF32 ? k.allocF32(src.length) : new Float32Array(src.length);
  a.set(src);
  return a;
}

// Keys with structure (a few positions strongly aligned with the queries), so the selection matters.
const keys = randomFloats(nCtx * nHeadKv * headDim, 3, 1), values = randomFloats(nCtx * nHeadKv * headDim, 4, 1);
const qAll = randomFloats(nCtx * nHead * headDim, 5, 1);
for (const p of [137, 411, 700, 901]) for (let h = 0; h < nHeadKv; h++) for (let d = 0; d < headDim; d++) keys[(p * nHeadKv + h) * headDim + d] = 3 * qAll[(1100 * nHead + h * G) * headDim + d]!;

function store(k: Kernels, type: KVCacheType, o: InfLLMv2Options | null, n: number) {
  const s = createKVStore(o ? { k: type, infllm2: o } : type, k, { nLayer: 1, nCtx, nHeadKv, headDim, headDimV: headDim });
  s.append(0, 0, f32(k, keys.subarray(0, n * nHeadKv * headDim)), f32(k, values.subarray(0, n * nHeadKv * headDim)), n);
  return s;
}

for (const [bname, k] of backends) {
  for (const type of ['f16', 'q8_0'] as KVCacheType[]) {
    test(`${bname}, ${type}: below dense_len and with top-k covering every block InfLLM v2 is dense attention bit for bit`, () => {
      const n = 1000;
      const dense = store(k, type, null, n);
      for (const [o, nTok, pos0] of [[{ ...small, denseLen: 1000 }, 8, 992], [{ ...small, denseLen: 0, topk: 1000 }, 3, 997]] as const) {
        const sparse = store(k, type, o, n);
        const q = f32(k, qAll.subarray(pos0 * nHead * headDim, (pos0 + nTok) * nHead * headDim));
        const want = f32(k, new Float32Array(nTok * nHead * headDim)), got = f32(k, new Float32Array(want.length).fill(NaN));
        dense.attend(0, q, nTok, pos0, shape, want);
        sparse.attend(0, q, nTok, pos0, shape, got);
        assert.deepEqual(Array.from(got), Array.from(want), `denseLen ${o.denseLen}, topk ${o.topk}`);
        if (o.topk === 1000) assert.equal((sparse as InfLLMv2KVStore).spanCount[0], 1, 'one span: every block');
        sparse.dispose();
      }
      dense.dispose();
    });
  }

  test(`${bname}: with real sparsity the blocks are the brute-force top-k and the output is attention over them`, () => {
    const ref = new RefKernels();
    const n = 1101, pos = 1100;
    const s = store(k, 'f16', small, n) as InfLLMv2KVStore;
    const q = f32(k, qAll.subarray(pos * nHead * headDim, (pos + 1) * nHead * headDim));
    const out = f32(k, new Float32Array(nHead * headDim).fill(NaN));
    s.attend(0, q, 1, pos, shape, out);
    const { blockSize: B, kernelSize: K, kernelStride: S, topk, windowSize, initBlocks } = small as Required<InfLLMv2Options>;
    const qb = Math.floor(pos / B), firstLocal = qb - windowSize / B + 1;
    const nC = Math.floor((pos + 1 - K) / S) + 1;
    const spansAll = new Int32Array(nHeadKv * 2 * (qb + 1)), counts = new Int32Array(nHeadKv);
    for (let h = 0; h < nHeadKv; h++) {
      // C1 from the f16-rounded keys, scores and softmax in double.
      const gs = new Float64Array(nC);
      for (let g = 0; g < G; g++) {
        const sc = new Float64Array(nC);
        for (let i = 0; i < nC; i++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) {
            let m = 0;
            for (let j = S * i; j < S * i + K; j++) m += roundF16(keys[(j * nHeadKv + h) * headDim + d]!);
            dot += (m / K) * q[(h * G + g) * headDim + d]!;
          }
          sc[i] = dot * shape.scale;
        }
        const max = Math.max(...sc), lse = max + Math.log(sc.reduce((a, x) => a + Math.exp(x - max), 0));
        for (let i = 0; i < nC; i++) gs[i] += Math.exp(sc[i]! - lse);
      }
      const cand: Array<[number, number]> = [];
      for (let b = 0; b < firstLocal; b++) {
        const r = B / S, win = Array.from(gs.subarray(Math.max(0, b * r - 1), Math.min(nC, b * r + r)));
        cand.push([b, b < initBlocks ? Infinity : Math.max(...win)]);
      }
      const chosen = new Set(cand.sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, topk).map(([b]) => b));
      for (let b = firstLocal; b <= qb; b++) chosen.add(b);
      const blocks = [...chosen].sort((a, b) => a - b);
      const got: number[] = [];
      for (let i = 0; i < s.spanCount[h]!; i++) for (let p = s.spans[h * s.spanStride + 2 * i]!; p < s.spans[h * s.spanStride + 2 * i + 1]!; p += B) got.push(p / B);
      assert.deepEqual(got, blocks, `KV head ${h}: selected blocks`);
      assert.ok(blocks.includes(Math.floor(137 / B)) && blocks.includes(Math.floor(411 / B)) && blocks.includes(Math.floor(700 / B)), `KV head ${h}: the planted keys' blocks are chosen`);
      for (const [i, b] of blocks.entries()) { spansAll[h * 2 * (qb + 1) + 2 * i] = b * B; spansAll[h * 2 * (qb + 1) + 2 * i + 1] = b * B + B; }
      counts[h] = blocks.length;
    }
    // The reference attention over those blocks, on the same f16 halves.
    const kh = new Uint16Array(n * nHeadKv * headDim), vh = new Uint16Array(kh.length);
    for (let i = 0; i < kh.length; i++) { kh[i] = f32ToF16(keys[i]!); vh[i] = f32ToF16(values[i]!); }
    const want = new Float32Array(nHead * headDim);
    ref.attention(q, kh, vh, 1, pos, { ...shape, f16: true, spans: spansAll, spanCount: counts, spanStride: 2 * (qb + 1) }, want);
    let d = 0;
    for (let i = 0; i < want.length; i++) d = Math.max(d, Math.abs(out[i]! - want[i]!));
    assert.ok(d <= 2e-3, `output vs reference attention over the chosen blocks: ${d}`);
    s.dispose();
  });

  test(`${bname}: compressed keys kept over 1,000 decode steps and a truncation equal one bulk append's`, () => {
    const bulk = store(k, 'q8_0', small, 1100) as InfLLMv2KVStore;
    const inc = store(k, 'q8_0', small, 90) as InfLLMv2KVStore;
    const stride = nHeadKv * headDim;
    const one = (p: number, src: Float32Array) => f32(k, src.subarray(p * stride, (p + 1) * stride));
    for (let p = 90; p < 700; p++) inc.append(0, p, one(p, keys), one(p, values), 1);
    // Roll back 37 positions (a rejected draft), write other keys there, then the real ones again.
    inc.truncate(663);
    for (let p = 663; p < 680; p++) inc.append(0, p, one(p, values), one(p, keys), 1);
    inc.truncate(663);
    for (let p = 663; p < 1100; p++) inc.append(0, p, one(p, keys), one(p, values), 1);
    for (let h = 0; h < nHeadKv; h++) {
      const a = bulk.compressed(0, h), b = inc.compressed(0, h);
      assert.equal(b.length, a.length);
      assert.equal(a.length, inc.count(1100) * headDim);
      assert.deepEqual(Array.from(b), Array.from(a), `KV head ${h}`);
    }
    bulk.dispose(); inc.dispose();
  });
}

test('InfLLM v2 options are checked by name', () => {
  const k = new RefKernels(), sh = { nLayer: 1, nCtx: 64, nHeadKv: 1, headDim: 8, headDimV: 8 };
  assert.throws(() => createKVStore({ k: 'f32', infllm2: { blockSize: 24 } }, k, sh), /block size 24 must be a multiple of the kernel stride 16/);
  assert.throws(() => createKVStore({ k: 'f32', infllm2: { topk: 0 } }, k, sh), /topk must be a positive integer/);
  assert.throws(() => createKVStore({ k: 'f32', infllm2: true, miniCache: true }, k, sh), /do not combine/);
});

test('a model declaring sparse_config: config.json becomes GGUF keys, and infllm2 takes them as its defaults (given settings win)', async () => {
  const cfg = {
    model_type: 'minicpm', architectures: ['MiniCPMForCausalLM'], hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    max_position_embeddings: 32768, intermediate_size: 128, rms_norm_eps: 1e-5, vocab_size: 512, scale_emb: 12, scale_depth: 1.4, dim_model_base: 256,
    sparse_config: { kernel_size: 32, kernel_stride: 16, init_blocks: 1, block_size: 64, window_size: 2048, topk: 64, use_nope: false, dense_len: 8192 },
  };
  const { metadata } = configToMetadata(cfg, archFromConfig(cfg, 'config.json'), 'config.json');
  assert.deepEqual(infllm2FromMetadata(metadata, 'minicpm'), { blockSize: 64, kernelSize: 32, kernelStride: 16, initBlocks: 1, topk: 64, windowSize: 2048, denseLen: 8192 });
  assert.throws(() => configToMetadata({ ...cfg, sparse_config: { ...cfg.sparse_config, use_nope: true } }, archFromConfig(cfg, 'config.json'), 'config.json'), /use_nope/);
  assert.throws(() => configToMetadata({ ...cfg, sparse_config: { topk: -1 } }, archFromConfig(cfg, 'config.json'), 'config.json'), /sparse_config\.topk/);
  assert.equal(infllm2FromMetadata(new Map(), 'llama'), undefined);

  // A model file with the keys: `infllm2: true` takes them, given settings override them one by one.
  const declared = { blockSize: 16, kernelSize: 8, kernelStride: 4, initBlocks: 2, topk: 7, windowSize: 32, denseLen: 96 };
  const extraMeta: [string, GGUFValue][] = [['sparseBlockSize', 16], ['sparseKernelSize', 8], ['sparseKernelStride', 4], ['sparseInitBlocks', 2], ['sparseTopk', 7], ['sparseWindowSize', 32], ['sparseDenseLen', 96]]
    .map(([k, v]) => [hpKey('llama', k as HParamKey), u32(v as number)]);
  const model = await loadModel(synthGGUF({ arch: 'llama', shape: KV_PARITY_SHAPE, seed: 3, extraMeta }));
  try {
    const store = (infllm2: boolean | InfLLMv2Options) => model.createContext({ ctx: 64, cacheType: { k: 'f32', infllm2 } }).kv as InfLLMv2KVStore;
    assert.deepEqual({ ...store(true).o }, declared);
    assert.deepEqual({ ...store({ topk: 3 }).o }, { ...declared, topk: 3 });
  } finally {
    model.dispose();
  }
  const plain = await loadModel(kvParityModel());
  try {
    const kv = plain.createContext({ ctx: 64, cacheType: { k: 'f32', infllm2: true } }).kv as InfLLMv2KVStore;
    assert.equal(kv.o.topk, INFLLM2_DEFAULTS.topk, 'a model without sparse_config: MiniCPM4\'s defaults');
  } finally {
    plain.dispose();
  }
});
