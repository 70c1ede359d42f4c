// The WebGPU tests' device: Dawn (npm webgpu) in Node on whatever adapter exists, else on the
// SwiftShader Vulkan driver that Debian's chromium ships. A test skips, printing why, only when no
// adapter comes up at all; in CI (.ci/run installs chromium and libvulkan1) one does.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openGpu, type Gpu, type GpuOptions } from '../src/kernels/webgpu/index.js';
import { PRESETS, synthesize } from '../src/tools/synth.js';
import { loadModel } from '../src/runtime/model.js';

export const SWIFTSHADER_ICD = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib64/chromium/vk_swiftshader_icd.json'].find((p) => existsSync(p));

/** Dawn reads VK_ICD_FILENAMES when it first loads Vulkan: set before the first adapter request. */
export function useSwiftShader(): void {
  if (!process.env.VK_ICD_FILENAMES && SWIFTSHADER_ICD) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
}

let reason: string | null | undefined;

/** null when a device opens here, else the reason (printed by the caller's skip). */
export async function gpuUnavailable(): Promise<string | null> {
  if (reason !== undefined) return reason;
  useSwiftShader();
  try {
    const g = await openGpu();
    g.destroy();
    reason = null;
  } catch (e) {
    reason = `no WebGPU device: ${(e as Error).message}`;
    process.stdout.write(`# WebGPU tests skipped: ${reason}\n`);
  }
  return reason;
}

export async function testGpu(opts?: GpuOptions): Promise<Gpu> {
  useSwiftShader();
  return openGpu(opts);
}

/**
 * The Qwen2.5-0.5B-shape checks (webgpu-qwen, webgpu-browser): the real widths (896 wide, 14/2
 * heads of 64 with q/k/v biases, FFN 4864, a tied head), two layers and a vocabulary of 8192 (the
 * real 151936 took SwiftShader 15 s a token for the head alone; 24 layers multiply the rest by 12),
 * so a run stays within CI time; the per-layer ops and every matrix width are the real model's.
 * webgpu-qwen-full runs the whole shape (24 layers, 151936 rows) once: one 4-token prefill, ~35-50 s.
 */
export const QWEN_VOCAB = 8192;
export const QWEN_PROMPT = [9707 % QWEN_VOCAB, 11, 1879, 0, 358, 1079, 264];

/** The random-weight file of that shape in `type`, written into dir. */
export async function synthQwen(dir: string, type: string): Promise<string> {
  const file = join(dir, `qwen2.5-0.5b-2l-${type}.gguf`);
  await synthesize('qwen2.5-0.5b', type, file, { preset: { ...PRESETS['qwen2.5-0.5b']!, nLayer: 2, nVocab: QWEN_VOCAB } });
  return file;
}

/** "Hello, world!" in Qwen2.5's vocabulary (QWEN_PROMPT's first 4 without the 8192 wrap): the whole-shape checks' prefill. */
export const QWEN_FULL_PROMPT = [9707, 11, 1879, 0];

/**
 * The whole random-weight Qwen2.5-0.5B shape (24 layers, the 151,936-row tied head) in Q4_0, as
 * `lutra synth --preset qwen2.5-0.5b --type q4_0` writes it, into dir, with the WebAssembly
 * backend's last logits for QWEN_FULL_PROMPT (what webgpu-qwen-full and webgpu-browser compare to).
 */
export async function synthQwenFull(dir: string): Promise<{ file: string; want: Float32Array; synthS: number; wasmS: number }> {
  const file = join(dir, 'qwen2.5-0.5b-q4_0.gguf');
  const t0 = performance.now();
  await synthesize('qwen2.5-0.5b', 'Q4_0', file);
  const t1 = performance.now();
  const wasm = await loadModel(file, { backend: 'wasm' });
  try {
    const c = wasm.createContext({ ctx: 16 });
    const want = c.decode(QWEN_FULL_PROMPT)!.slice();
    c.dispose();
    return { file, want, synthS: (t1 - t0) / 1e3, wasmS: (performance.now() - t1) / 1e3 };
  } finally {
    wasm.dispose();
  }
}

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
export const LOGIT_ATOL = 2e-3, LOGIT_RTOL = 2.5e-2;

/** Asserts a GPU logits row is within the tolerance of another and has its argmax (or a near tie); returns max |diff|. */
export function compareLogits(gpu: ArrayLike<number>, cpu: ArrayLike<number>, what: string): number {
  assert.equal(gpu.length, cpu.length, `${what}: row length`);
  let amax = 0, dmax = 0, argG = 0, argC = 0;
  for (let i = 0; i < cpu.length; i++) {
    amax = Math.max(amax, Math.abs(cpu[i]!));
    dmax = Math.max(dmax, Math.abs(gpu[i]! - cpu[i]!));
    if (gpu[i]! > gpu[argG]!) argG = i;
    if (cpu[i]! > cpu[argC]!) argC = i;
  }
  const tol = LOGIT_ATOL + LOGIT_RTOL * amax;
  assert.ok(dmax <= tol, `${what}: max |gpu - other| ${dmax} > ${tol} (max |logit| ${amax})`);
  assert.ok(argG === argC || Math.abs(cpu[argG]! - cpu[argC]!) <= tol, `${what}: argmax ${argG} vs ${argC}`);
  return dmax;
}
