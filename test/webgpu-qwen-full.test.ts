// The WebGPU forward on the whole random-weight Qwen2.5-0.5B shape (24 layers, the 151,936-row tied
// head, Q4_0 as `lutra synth --preset qwen2.5-0.5b --type q4_0` writes it): one 4-token prefill, last
// logits only, against the WebAssembly backend's within webgpu-helpers' LOGIT_ATOL + LOGIT_RTOL.
// webgpu-qwen checks prefill and decode steps on 2 layers and an 8192 vocabulary; this one checks
// that the depth and the full head change nothing. Measured on SwiftShader, 2 cores shared with
// other jobs: 35-50 s (synth 7-17 s, GPU load 4-7 s, the GPU prefill 20-28 s, wasm under 1 s).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../src/runtime/model.js';
import { GpuContext } from '../src/runtime/gpu-context.js';
import { PRESETS } from '../src/tools/synth.js';
import { LOGIT_ATOL, LOGIT_RTOL, QWEN_FULL_PROMPT as PROMPT, compareLogits, gpuUnavailable, synthQwenFull } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();
const PRESET = PRESETS['qwen2.5-0.5b']!;

test(`webgpu qwen2.5-0.5b shape, all ${PRESET.nLayer} layers and the ${PRESET.nVocab}-row head, Q4_0: a ${PROMPT.length}-token prefill's last logits equal the WebAssembly backend's within ${LOGIT_ATOL} + ${LOGIT_RTOL} x max|logit|`, { skip: SKIP ?? false, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-webgpu-qwen-full-'));
  try {
    const { file, want, synthS, wasmS } = await synthQwenFull(dir);
    const t2 = performance.now();
    const gpu = await loadModel(file, { backend: 'webgpu' });
    try {
      assert.deepEqual(gpu.gpuForward?.cpuMatrices, [], 'every matrix on the GPU');
      const g = gpu.createContext({ ctx: 16 });
      assert.ok(g instanceof GpuContext && g.onGpu, 'the context is on the GPU');
      const t3 = performance.now();
      const row = (await g.decodeAsync(PROMPT))!.slice();
      const t4 = performance.now();
      assert.ok(g.onGpu, 'still on the GPU');
      assert.equal(row.length, PRESET.nVocab);
      const d = compareLogits(row, want, `full 0.5B shape Q4_0 prefill of ${PROMPT.length}`);
      process.stdout.write(`# max |gpu - wasm| ${d.toExponential(2)}; synth ${synthS.toFixed(1)} s, wasm ${wasmS.toFixed(1)} s, gpu load ${((t3 - t2) / 1e3).toFixed(1)} s, gpu prefill ${((t4 - t3) / 1e3).toFixed(1)} s\n`);
      g.dispose();
    } finally {
      gpu.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
