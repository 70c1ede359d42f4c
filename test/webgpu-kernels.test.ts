// Every WebGPU shader against its TypeScript reference twin (kernels/ref/), on Dawn in Node (the
// SwiftShader Vulkan driver where there is no GPU): the 'kernels' cases of webgpu-parity.ts
// (products of every GPU format, decode and tiled, sharded weights, activation quantizers, RMSNorm,
// RoPE, f16 attention, SwiGLU, adds, top-k, no f16 arithmetic, a destroyed device). The same cases
// run in headless chromium from webgpu-browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parityCases } from './webgpu-parity.js';
import { gpuUnavailable, testGpu } from './webgpu-helpers.js';

const SKIP = await gpuUnavailable();

for (const c of parityCases(testGpu, assert).filter((c) => c.group === 'kernels')) {
  test(c.name, { skip: SKIP ?? false }, () => c.run((line) => process.stdout.write(`# ${line}\n`)));
}
