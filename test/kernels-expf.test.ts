// expf, the exponential of the f16 attention's online-softmax steps: the TypeScript twin
// (kernels/ref/expf.ts) equals glibc's expf (the libm llama.cpp's flash attention calls) on the
// committed reference (test/golden/expf, made by its make.py), and every WebAssembly build's
// expf_f32 equals the twin bit for bit on those inputs and on random ones over the softmax range.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expf } from '../src/kernels/ref/expf.js';
import { detectWasm, WasmKernels, type WasmFlavor } from '../src/kernels/wasm/index.js';
import type { KernelExports } from '../src/kernels/wasm/protocol.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const b = new ArrayBuffer(4), f = new Float32Array(b), u = new Uint32Array(b);
const asF32 = (bits: number): number => { u[0] = bits; return f[0]!; };
const bitsOf = (x: number): number => { f[0] = x; return u[0]!; };
const golden = readFileSync(resolve(REPO, 'test/golden/expf/glibc-expf.txt'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split(' ').map((h) => parseInt(h, 16)) as [number, number]);

test('the expf twin equals glibc expf bit for bit (4000 inputs, edges included)', () => {
  assert.ok(golden.length >= 4000);
  for (const [xb, yb] of golden) assert.equal(bitsOf(expf(asF32(xb))), yb, `expf(${asF32(xb)})`);
});

test('expf is not Math.fround(Math.exp): the golden file holds inputs where the two differ', () => {
  // What the attention rounded before; the change is only meaningful if some inputs tell them apart.
  assert.ok(golden.some(([xb, yb]) => bitsOf(Math.fround(Math.exp(asF32(xb)))) !== yb));
});

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];
for (const flavor of flavors) {
  test(`${flavor} build: expf_f32 equals the twin bit for bit`, async () => {
    const k = (await WasmKernels.create({ flavor, threads: 1 }))!;
    const exp = (k as unknown as { k: KernelExports & { expf_f32(x: number): number } }).k;
    for (const [xb] of golden) assert.equal(bitsOf(exp.expf_f32(asF32(xb))), bitsOf(expf(asF32(xb))), `expf_f32(${asF32(xb)})`);
    let seed = 11;
    for (let i = 0; i < 200_000; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const x = Math.fround(-(seed / 2 ** 32) * 110 + (i % 8 === 0 ? 95 : 0));
      assert.equal(bitsOf(exp.expf_f32(x)), bitsOf(expf(x)), `expf_f32(${x})`);
    }
    k.dispose?.();
  });
}
