// The WebGPU forward on a random-weight Qwen2.5-0.5B-shape model (qwen2: 896 wide, 14/2 heads of 64
// with q/k/v biases, FFN 4864, a tied head), two layers of it and a vocabulary of 8192 (the real one
// is 151936: on SwiftShader its head alone took 15 s a token) to keep SwiftShader's time bounded, against the WebAssembly backend's logits: a 7-token prefill (the tiled product) and
// two decode steps (the matrix-vector one), in Q4_0 and in Q4_K_M (Q4_K/Q6_K/Q5_0/Q8_0 rows on the
// GPU). A model that does not fit the adapter's limits ends in an error naming the limit; a context
// with an f32 KV cache runs on WebAssembly and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { GpuContext } from '../src/runtime/gpu-context.js';
import { GpuError } from '../src/kernels/webgpu/index.js';
import { LOGIT_ATOL, LOGIT_RTOL, QWEN_PROMPT as PROMPT, QWEN_VOCAB, compareLogits, gpuUnavailable, synthQwen } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();

const dir = SKIP ? '' : mkdtempSync(join(tmpdir(), 'lutra-webgpu-qwen-'));
test.after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const files = new Map<string, Promise<string>>();
function qwenFile(type: string): Promise<string> {
  let f = files.get(type);
  if (!f) files.set(type, (f = synthQwen(dir, type)));
  return f;
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
        for (const k of ['ref', 'wasm'] as const) diffs[k]!.push(compareLogits(row, cs[k].decode(ids)!.slice(), `${type} ${what} vs ${k}`));
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

test('webgpu: a context with a KV cache type the GPU lacks (f32) runs on WebAssembly, saying why; f16, q8_0, q5_1, iq4_nl and bf16 ones stay on the GPU', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(await qwenFile('Q4_0'), { backend: 'webgpu' });
  try {
    const cpu = model.createContext({ kvType: 'f32' });
    assert.ok(cpu instanceof GpuContext && !cpu.onGpu);
    assert.match(cpu.cpuReason ?? '', /KV cache type f32 \(K\) has no WebGPU attention yet.*runs on WebAssembly/);
    const ids: number[] = [];
    for await (const c of model.generate(PROMPT, { temperature: 0, maxTokens: 8, context: cpu })) if (!c.done) ids.push(c.token);
    assert.equal(ids.length, 8);
    cpu.dispose();
    const f16 = model.createContext({ cacheType: { k: 'f16', v: 'f16' } });
    assert.ok(f16 instanceof GpuContext && f16.onGpu && f16.cpuReason === null);
    f16.dispose();
    for (const kvType of ['q8_0', 'q5_1', 'iq4_nl', 'bf16'] as const) {
      const c = model.createContext({ kvType });
      assert.ok(c instanceof GpuContext && c.onGpu && c.cpuReason === null, `${kvType}: ${c instanceof GpuContext ? c.cpuReason : 'not a GPU context'}`);
      c.dispose();
    }
  } finally {
    model.dispose();
  }
});
