// An out-of-memory while the weights go up (issue 21's "never a hang"): SwiftShader here has no
// memory limit one can reach safely on a shared machine, so the device's answer is injected where
// a real one arrives: the 'out-of-memory' error scope that uploadMatrix pops after each shard's
// createBuffer returns an out-of-memory error for one tensor's buffer. Everything after that is the
// production path: GpuLlama.create rejects with a GpuError naming the tensor and the bytes, within
// a bounded time, every buffer it had made is destroyed, and a model loaded for WebAssembly runs on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../src/runtime/model.js';
import { GpuError, type Gpu } from '../src/kernels/webgpu/index.js';
import { GpuLlama } from '../src/models/gpu-llama.js';
import type { LlamaWeights } from '../src/models/llama.js';
import { QUANTIZED } from './helpers.js';
import { gpuUnavailable, testGpu } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();
/** A failed upload must end well within this (the whole stories260K upload takes well under a second). */
const NO_HANG_MS = 30_000;

/** The device with an out-of-memory error injected into the scope popped after creating `tensor`'s buffer; records buffers made and destroyed. */
function injectOom(gpu: Gpu, tensor: string) {
  const real = gpu.device;
  const scopes: GPUErrorFilter[] = [];
  let pending = false;
  const made = new Set<GPUBuffer>(), destroyed = new Set<GPUBuffer>();
  const OomError = (globalThis as { GPUOutOfMemoryError?: new (m: string) => GPUError }).GPUOutOfMemoryError;
  const device = new Proxy(real, {
    get(t, k) {
      if (k === 'pushErrorScope') return (f: GPUErrorFilter) => { scopes.push(f); t.pushErrorScope(f); };
      if (k === 'popErrorScope') {
        return async () => {
          const f = scopes.pop();
          const err = await t.popErrorScope();
          if (f === 'out-of-memory' && pending) {
            pending = false;
            return OomError ? new OomError(`injected: out of memory for ${tensor}`) : { message: `injected: out of memory for ${tensor}` };
          }
          return err;
        };
      }
      if (k === 'createBuffer') {
        return (d: GPUBufferDescriptor) => {
          const b = t.createBuffer(d);
          made.add(b);
          if (d.label?.startsWith(`${tensor}[`)) pending = true;
          const destroy = b.destroy.bind(b);
          Object.defineProperty(b, 'destroy', { value: () => { destroyed.add(b); destroy(); } });
          return b;
        };
      }
      const v = Reflect.get(t, k);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
  return { gpu: { ...gpu, device, destroy: () => gpu.destroy() } as Gpu, made, destroyed };
}

test('webgpu: an out-of-memory on upload rejects naming the tensor (no hang), frees what was uploaded, and the WebAssembly model runs on', { skip: SKIP ?? false }, async () => {
  const model = await loadModel(QUANTIZED[2]!.file, { backend: 'wasm' });
  const gpu = await testGpu();
  try {
    const inner = model as unknown as { weights: LlamaWeights };
    const { gpu: g, made, destroyed } = injectOom(gpu, 'blk.2.ffn_up.weight');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hang = new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`no answer in ${NO_HANG_MS} ms: a hang`)), NO_HANG_MS); });
    try {
      await assert.rejects(Promise.race([GpuLlama.create(g, model.hparams, inner.weights, model.kernels), hang]),
        (e: Error) => e instanceof GpuError && /tensor blk\.2\.ffn_up\.weight: the GPU could not allocate \d+ bytes for rows 0\.\.\d+ \(out of memory\)/.test(e.message));
    } finally {
      clearTimeout(timer);
    }
    const weightBuffers = [...made].filter((b) => /^(blk\.|output|token_embd)[^ ]*\[/.test(b.label));
    assert.ok(weightBuffers.length > 5, `weights were being uploaded (${weightBuffers.length} buffers)`);
    const leaked = [...made].filter((b) => !destroyed.has(b)).map((b) => b.label);
    assert.deepEqual(leaked, [], 'every buffer made before the failure (weights, norms, params) is destroyed');
    let text = '';
    for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 8 })) text += c.text;
    assert.ok(text.length > 0, 'the WebAssembly model generates');
  } finally {
    gpu.destroy();
    model.dispose();
  }
});
