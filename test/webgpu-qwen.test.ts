// The WebGPU forward on a random-weight Qwen2.5-0.5B-shape model (qwen2: 896 wide, 14/2 heads of 64
// with q/k/v biases, FFN 4864, a tied head), two layers of it and a vocabulary of 8192 (the real one
// is 151936: on SwiftShader its head alone took 15 s a token) to keep SwiftShader's time bounded, against the WebAssembly backend's logits: a 7-token prefill (the tiled product) and
// two decode steps (the matrix-vector one), in Q4_0 and in Q4_K_M (Q4_K/Q6_K/Q5_0/Q8_0 rows on the
// GPU). A model that does not fit the adapter's limits ends in an error naming the limit; a context
// with a q8_0 KV cache runs on WebAssembly and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { GpuContext } from '../src/runtime/gpu-context.js';
import { PRESETS, synthesize } from '../src/tools/synth.js';
import { GpuError } from '../src/kernels/webgpu/index.js';
import { gpuUnavailable } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();

/**
 * |gpu - other| <= LOGIT_ATOL + LOGIT_RTOL * max|other| over a row, other the TypeScript reference
 * (the shaders' twin) or the WebAssembly backend. All quantize activations to q8 blocks but sum in
 * other orders (f32 on the GPU, double in the reference, the wasm build's own blocking), and an
 * activation on a rounding edge takes the neighbouring q8 value on one side; through two layers of
 * random weights (max|logit| about 1.5-2) that moved logits by 1-1.5% of the row's largest between
 * any two of the three here: Q4_0 GPU = relaxed-SIMD wasm exactly, vs the reference 1.0-1.5e-2, vs
 * Node 20's SIMD128 wasm 2.1e-2; Q4_K_M up to 2.0e-2. A wrong block layout or scale moves them by the
 * row's size; the shaders themselves are held to 2e-6 x sum|wx| in webgpu-kernels.
 */
const LOGIT_ATOL = 2e-3, LOGIT_RTOL = 2.5e-2;
const QWEN_VOCAB = 8192;
const PROMPT = [9707 % QWEN_VOCAB, 11, 1879, 0, 358, 1079, 264];

const dir = SKIP ? '' : mkdtempSync(join(tmpdir(), 'lutra-webgpu-qwen-'));
test.after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const files = new Map<string, Promise<string>>();
function qwenFile(type: string): Promise<string> {
  let f = files.get(type);
  if (!f) files.set(type, (f = synth(type)));
  return f;
}
async function synth(type: string): Promise<string> {
  const file = join(dir, `qwen2.5-0.5b-2l-${type}.gguf`);
  await synthesize('qwen2.5-0.5b', type, file, { preset: { ...PRESETS['qwen2.5-0.5b']!, nLayer: 2, nVocab: QWEN_VOCAB } });
  return file;
}

function compare(gpu: Float32Array, cpu: Float32Array, what: string, rtol: number): number {
  assert.equal(gpu.length, cpu.length, `${what}: row length`);
  let amax = 0, dmax = 0, argG = 0, argC = 0;
  for (let i = 0; i < cpu.length; i++) {
    amax = Math.max(amax, Math.abs(cpu[i]!));
    dmax = Math.max(dmax, Math.abs(gpu[i]! - cpu[i]!));
    if (gpu[i]! > gpu[argG]!) argG = i;
    if (cpu[i]! > cpu[argC]!) argC = i;
  }
  const tol = LOGIT_ATOL + rtol * amax;
  assert.ok(dmax <= tol, `${what}: max |gpu - wasm| ${dmax} > ${tol} (max |logit| ${amax})`);
  assert.ok(argG === argC || Math.abs(cpu[argG]! - cpu[argC]!) <= tol, `${what}: argmax ${argG} vs ${argC}`);
  return dmax;
}

for (const type of ['Q4_0', 'Q4_K_M']) {
  test(`webgpu qwen2.5-0.5b shape (2 layers) ${type}: prefill and decode logits equal the TypeScript reference's and the WebAssembly backend's within ${LOGIT_ATOL} + ${LOGIT_RTOL} x max|logit|`, { skip: SKIP ?? false }, async () => {
    const file = await qwenFile(type);
    const cpus = { ref: await loadModel(file, { backend: 'ref' }), wasm: await loadModel(file, { backend: 'wasm', threads: 1 }) };
    const gpu = await loadModel(file, { backend: 'webgpu' });
    try {
      assert.ok(gpu.gpuForward, 'the forward runs on the GPU');
      assert.deepEqual(gpu.gpuForward!.cpuMatrices, [], 'every matrix on the GPU');
      const g = gpu.createContext({ ctx: 64 });
      assert.ok(g instanceof GpuContext && g.onGpu);
      const cs = { ref: cpus.ref.createContext({ ctx: 64 }), wasm: cpus.wasm.createContext({ ctx: 64 }) };
      const diffs: Record<string, number[]> = { ref: [], wasm: [] };
      const step = async (ids: number[], what: string) => {
        const row = (await g.decodeAsync(ids))!.slice();
        for (const k of ['ref', 'wasm'] as const) diffs[k]!.push(compare(row, cs[k].decode(ids)!.slice(), `${type} ${what} vs ${k}`, LOGIT_RTOL));
      };
      await step(PROMPT, `prefill of ${PROMPT.length}`);
      for (const t of [1000, QWEN_VOCAB - 1]) await step([t], `decode at ${g.nPast}`);
      assert.ok(g.onGpu, 'still on the GPU');
      for (const k of ['ref', 'wasm']) process.stdout.write(`# ${type}: max |gpu - ${k}| per step ${diffs[k]!.map((d) => d.toExponential(2)).join(', ')}\n`);
      g.dispose(); cs.ref.dispose(); cs.wasm.dispose();
    } finally {
      cpus.ref.dispose(); cpus.wasm.dispose(); gpu.dispose();
    }
  });
}

test('webgpu: a model whose rows exceed the adapter\'s binding limit is refused at load with an error naming the tensor and the limit, not a hang or a half-loaded model', { skip: SKIP ?? false }, async () => {
  const file = await qwenFile('Q4_0');
  // 896 Q4_0 columns are 504 bytes a row: a 400-byte binding cannot hold one.
  await assert.rejects(loadModel(file, { backend: 'webgpu', gpu: { maxBindingBytes: 400 } }),
    (e: Error) => e instanceof GpuError && /tensor \S+: one row is 504 bytes, more than the adapter's storage binding limit of 400 bytes \(maxStorageBufferBindingSize/.test(e.message));
});

test('webgpu: a context with a KV cache type the GPU lacks (q5_1) runs on WebAssembly, saying why; f16 and q8_0 ones stay on the GPU', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(await qwenFile('Q4_0'), { backend: 'webgpu' });
  try {
    const q8 = model.createContext({ kvType: 'q5_1' });
    assert.ok(q8 instanceof GpuContext && !q8.onGpu);
    assert.match(q8.cpuReason ?? '', /KV cache type q5_1 \(K\) has no WebGPU attention yet.*runs on WebAssembly/);
    const ids: number[] = [];
    for await (const c of model.generate(PROMPT, { temperature: 0, maxTokens: 8, context: q8 })) if (!c.done) ids.push(c.token);
    assert.equal(ids.length, 8);
    q8.dispose();
    const f16 = model.createContext({ cacheType: { k: 'f16', v: 'f16' } });
    assert.ok(f16 instanceof GpuContext && f16.onGpu && f16.cpuReason === null);
    f16.dispose();
    const gq8 = model.createContext({ kvType: 'q8_0' });
    assert.ok(gq8 instanceof GpuContext && gq8.onGpu && gq8.cpuReason === null);
    gq8.dispose();
  } finally {
    model.dispose();
  }
});
