// The f32 polynomial e^x of softmax and SiLU (assembly/exp.ts, twin kernels/ref/exp.ts) against
// Math.exp, and SwiGLU (assembly/elementwise.ts) against its twin bit for bit in every build, 1 and
// 2 threads, on lengths with tails and on gates far out on both sides.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { EXP_MAX, expF32 } from '../src/kernels/ref/exp.js';
import { WasmKernels, detectWasm } from '../src/kernels/wasm/index.js';
import { randomFloats } from './helpers.js';
import { sameBits, testFlavors } from './kernel-helpers.js';

/** expF32's error against e^x, relative (a few f32 ulps: the polynomial and its rounded steps). */
const EXP_RTOL = 5e-7;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

test('expF32 is within a few ulps of e^x on [-86, 88], 0 below -86', () => {
  let worst = 0;
  for (let i = 0; i <= 400000; i++) {
    const x = Math.fround(-86 + 174 * i / 400000);
    const e = Math.exp(x);
    worst = Math.max(worst, Math.abs(expF32(x) - e) / e);
  }
  assert.ok(worst <= EXP_RTOL, `worst relative error ${worst}`);
  assert.equal(expF32(0), 1);
  assert.ok(Number.isFinite(expF32(EXP_MAX)));
  assert.equal(expF32(-86.5), 0);
  assert.equal(expF32(-Infinity), 0);
});

test('reference swiglu is SiLU(g) * u within f32 rounding', () => {
  const g = Float32Array.from([-100, -20, -1, -0.5, 0, 0.5, 1, 20, 100]), u = new Float32Array(g.length).fill(2);
  const want = Array.from(g, (x) => 2 * x / (1 + Math.exp(-x)));
  ref.swiglu(g, u, g.length);
  g.forEach((y, i) => assert.ok(Math.abs(y - want[i]!) <= 1e-6 * Math.max(1, Math.abs(want[i]!)), `${i}: ${y} vs ${want[i]}`));
});

const support = await detectWasm();
const flavors = testFlavors(support.flavor);

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    test(`${flavor}, ${threads} thread(s): swiglu equals its twin bit for bit`, async () => {
      const k = (await WasmKernels.create({ flavor, threads }))!;
      pool.push(k);
      for (const n of [7, 101, 70000]) {
        const gSrc = randomFloats(n, 31 + n, 8), uSrc = randomFloats(n, 32 + n, 2);
        gSrc[0] = -95; gSrc[1] = 95; gSrc[2] = -88.5; gSrc[3] = 0; gSrc[4] = -0;
        const g = k.allocF32(n), u = k.allocF32(n);
        g.set(gSrc); u.set(uSrc);
        const gr = Float32Array.from(gSrc);
        k.swiglu(g, u, n);
        ref.swiglu(gr, uSrc, n);
        sameBits(g, gr, `swiglu n ${n}`);
      }
    });
  }
}
