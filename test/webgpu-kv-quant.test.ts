// KV caches other than f16 on the WebGPU backend (kernels/webgpu/kv-quant.ts) against their
// TypeScript twins, on Dawn in Node (SwiftShader where there is no GPU): the Hadamard rotation and
// the cache-row writers of every GPU_KV_QUANT type (q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, bf16) bit
// for bit (runtime/kv/hadamard.ts, runtime/kv/cache-types.ts: the CPU store's bytes), attention over
// such caches within named tolerances of ggml's CPU flash attention twin
// (kernels/ref/attention-quant.ts): the 'kv-quant' cases of webgpu-parity.ts, also run in headless
// chromium from webgpu-browser; and end to end the random-weight head-size-64 model of the KV
// parity goldens giving llama.cpp's greedy text with each type and mixed caches, rotation on and
// off, as the WebAssembly backend does; f32 caches stay on WebAssembly, naming the type.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { GPU_KV_QUANT } from '../src/kernels/webgpu/index.js';
import { loadModel } from '../src/runtime/model.js';
import { GpuContext, gpuCache } from '../src/runtime/gpu-context.js';
import { kRotationSize } from '../src/runtime/kv/hadamard.js';
import type { DecoderHParams } from '../src/models/index.js';
import { REPO } from './helpers.js';
import { kvParityModel } from './kv-parity-model.js';
import { KV_COMBOS, parityCases } from './webgpu-parity.js';
import { gpuUnavailable, testGpu } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();

for (const c of parityCases(testGpu, assert).filter((c) => c.group === 'kv-quant')) {
  test(c.name, { skip: SKIP ?? false }, () => c.run((line) => process.stdout.write(`# ${line}\n`)));
}

const PARITY = resolve(REPO, 'test/golden/kv/parity');
/**
 * q4_1 with rotation: the GPU's K/V inputs differ from the CPU's by the f32 products' summation
 * order (~1e-5 of the logits), enough to move a value across a 4-bit rounding boundary now and then
 * (measured: logits then differ by up to 0.43 for a step, and at token 20 the top two are 0.013
 * apart, so the GPU picks the other one). There the check is teacher-forced on the WebAssembly
 * backend's greedy tokens: the GPU's argmax equals it at every step whose top-two margin exceeds
 * GREEDY_MARGIN (and the wasm text is llama.cpp's, as for every setting).
 */
const GREEDY_MARGIN = 0.05;
const NEAR_TIES = new Set(['q4_1/q4_1 rot1']);

async function generate(bytes: Uint8Array, backend: 'webgpu' | 'wasm', cacheType: { k: string; v: string; rotation: boolean }): Promise<string> {
  const model = await loadModel(bytes, { backend, context: { cacheType: cacheType as never } });
  try {
    const ctx = model.createContext({ ctx: 256 });
    const what = `${cacheType.k}/${cacheType.v} rot${cacheType.rotation ? 1 : 0}`;
    if (backend === 'webgpu') assert.ok(ctx instanceof GpuContext && ctx.onGpu, `${what}: the context is on the GPU (${ctx instanceof GpuContext ? ctx.cpuReason : 'not a GPU context'})`);
    let got = '';
    for await (const c of model.generate('Once upon a time', { maxTokens: 32, temperature: 0, context: ctx })) got += c.text;
    if (backend === 'webgpu') assert.ok((ctx as GpuContext).onGpu, `${what}: the context stayed on the GPU (${(ctx as GpuContext).cpuReason})`);
    ctx.dispose();
    return got;
  } finally {
    model.dispose();
  }
}

/** Teacher-forced on the wasm backend's greedy tokens: the steps where the GPU's argmax differs, with wasm's top-two margin there. */
async function forcedFlips(bytes: Uint8Array, cacheType: { k: string; v: string; rotation: boolean }): Promise<Array<{ step: number; margin: number }>> {
  const mw = await loadModel(bytes, { backend: 'wasm', context: { cacheType: cacheType as never } });
  const mg = await loadModel(bytes, { backend: 'webgpu', context: { cacheType: cacheType as never } });
  try {
    const cw = mw.createContext({ ctx: 256 }), cg = mg.createContext({ ctx: 256 }) as GpuContext;
    const top2 = (l: Float32Array): [number, number] => {
      let a = 0, b = 1;
      if (l[b]! > l[a]!) [a, b] = [b, a];
      for (let i = 2; i < l.length; i++) { if (l[i]! > l[a]!) { b = a; a = i; } else if (l[i]! > l[b]!) b = i; }
      return [a, l[a]! - l[b]!];
    };
    const prompt = mw.tokenizer.encode('Once upon a time');
    let lw = cw.decode(prompt)!;
    let lg = (await cg.decodeAsync(prompt))!;
    const flips: Array<{ step: number; margin: number }> = [];
    for (let step = 0; step < 32; step++) {
      const [aw, margin] = top2(lw), [ag] = top2(lg);
      if (aw !== ag) flips.push({ step, margin });
      lw = cw.decode([aw])!;
      lg = (await cg.decodeAsync([aw]))!;
    }
    assert.ok(cg.onGpu, 'the forced run stayed on the GPU');
    return flips;
  } finally {
    mw.dispose();
    mg.dispose();
  }
}

test(`webgpu q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl, bf16 and mixed KV caches, rotation on and off: greedy text of the head-size-64 parity model equals llama.cpp's and the WebAssembly backend's (q4_1 rot1: teacher-forced, GREEDY_MARGIN ${GREEDY_MARGIN})`, { skip: SKIP ?? false }, async () => {
  const bytes = kvParityModel();
  for (const [k, v] of KV_COMBOS) {
    for (const rot of [1, 0]) {
      const what = `${k}/${v} rot${rot}`;
      const cacheType = { k, v, rotation: rot === 1 };
      const want = readFileSync(resolve(PARITY, `gen-${k}-${v}-rot${rot}.txt`), 'utf8').replace(/\n+$/, '').replace(/ \[end of text\]$/, '');
      assert.ok(want.length >= 24, `expected text for ${what} is too short`);
      const wasm = await generate(bytes, 'wasm', cacheType);
      assert.ok(wasm.startsWith(want), `${what}: the wasm backend's text is llama.cpp's`);
      if (NEAR_TIES.has(what)) {
        const flips = await forcedFlips(bytes, cacheType);
        for (const f of flips) assert.ok(f.margin < GREEDY_MARGIN, `${what}: step ${f.step}: the GPU's argmax differs where the top two are ${f.margin} apart`);
        process.stdout.write(`# ${what}: teacher-forced argmax flips ${JSON.stringify(flips)}\n`);
        continue;
      }
      const gpu = await generate(bytes, 'webgpu', cacheType);
      assert.equal(gpu, wasm, `${what}: webgpu vs wasm`);
      assert.ok(gpu.startsWith(want), `${what}:\n webgpu ${JSON.stringify(gpu)}\n llama  ${JSON.stringify(want)}`);
    }
  }
});

test('webgpu: an f32 cache (K or V side) has no GPU path: the context runs on WebAssembly, naming the type', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(kvParityModel(), { backend: 'webgpu' });
  try {
    for (const [k, v, side] of [['f32', 'f32', 'K'], ['q8_0', 'f32', 'V']] as const) {
      const ctx = model.createContext({ ctx: 64, cacheType: { k, v } });
      assert.ok(ctx instanceof GpuContext && !ctx.onGpu);
      assert.match(ctx.cpuReason ?? '', new RegExp(`KV cache type f32 \\(${side}\\) has no WebGPU attention yet \\(the GPU keeps f16, ${GPU_KV_QUANT.join(', ')}\\).*runs on WebAssembly`));
      ctx.dispose();
    }
  } finally {
    model.dispose();
  }
});

test('gpuCache: quantized sides are Hadamard-rotated as the CPU store rotates them, bf16 ones are not (ggml rotates quantized types only); a bf16 row need not be whole block pairs', () => {
  const hp = { nHeadKv: 2, headDim: 64, headDimV: 64 } as DecoderHParams;
  assert.deepEqual(gpuCache({ cacheType: { k: 'bf16', v: 'q5_1' } }, hp), { k: 'bf16', v: 'q5_1', rotK: 0, rotV: 64 });
  assert.deepEqual(gpuCache({ cacheType: { k: 'iq4_nl', v: 'bf16' } }, hp), { k: 'iq4_nl', v: 'bf16', rotK: kRotationSize(64), rotV: 0 });
  assert.deepEqual(gpuCache({ cacheType: { k: 'iq4_nl', v: 'iq4_nl', rotation: false } }, hp), { k: 'iq4_nl', v: 'iq4_nl', rotK: 0, rotV: 0 });
  const narrow = { nHeadKv: 1, headDim: 32, headDimV: 32 } as DecoderHParams;
  assert.deepEqual(gpuCache({ cacheType: { k: 'bf16', v: 'bf16' } }, narrow), { k: 'bf16', v: 'bf16', rotK: 0, rotV: 0 });
  assert.match(String(gpuCache({ cacheType: { k: 'q5_1', v: 'bf16' } }, narrow)), /a q5_1 K cache row of 32 values is not whole block pairs/);
});
