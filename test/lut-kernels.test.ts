// The WebAssembly table-lookup kernels against their TypeScript twin (src/kernels/ref/lut.ts):
// bit-for-bit equal outputs for every LUT format, both table kinds, each build, 1 and 2 threads,
// partial tiles and several tokens. Exact tables also agree with the dequantize kernels.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import type { WeightMatrix } from '../src/kernels/types.js';
import { weightBytes } from '../src/quant/types.js';
import { packLut } from '../src/kernels/lut-layout.js';
import { lutMatmul, lutQuantizeActs, lutTables, lutTablesExact } from '../src/kernels/ref/lut.js';
import { LUT_CASES, ggml, quantized } from './lut-cases.js';
import { randomFloats } from './helpers.js';

const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' || support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];

function twin(fmt: WeightMatrix['format'], data: Uint8Array, rows: number, cols: number, rowBytes: number, x: Float32Array, nTok: number, exact: boolean): Float32Array {
  const p = packLut(fmt, data, rows, cols, rowBytes);
  const G = p.shape.group, nG = (cols / G) * nTok;
  const th = new Float32Array(nG), tA = new Float32Array(nG), y = new Float32Array(rows * nTok);
  if (exact) {
    const qs = new Int8Array(cols * nTok), d = new Float32Array(nG), tbl = new Uint8Array(cols * nTok * 8);
    lutQuantizeActs(x, cols, nTok, G, qs, d);
    lutTablesExact(qs, d, cols, nTok, G, tbl, th, tA);
    lutMatmul(p, tbl, th, tA, true, nTok, y);
  } else {
    const tbl = new Int8Array(cols * nTok * 4);
    lutTables(x, cols, nTok, G, tbl, th, tA);
    lutMatmul(p, tbl, th, tA, false, nTok, y);
  }
  return y;
}

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    for (const tables of ['int8', 'exact'] as const) {
      test(`LUT kernels, ${flavor}, ${threads} thread(s), ${tables} tables: equal to the TypeScript twin`, async () => {
        const k = (await WasmKernels.create({ flavor, threads, matmul: 'lut', lutTables: tables }))!;
        pool.push(k);
        for (const [name, fmt] of LUT_CASES) {
          for (const [rows, cols, nTok] of [[37, 512, 1], [300, 1024, 3], [16, 512, 5]] as const) {
            const { data, rowBytes } = quantized(fmt, rows, cols, rows + cols, (n) => k.allocBytes(n));
            const original = data.slice();
            const w: WeightMatrix = { name: `t.${name}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
            assert.match(k.prepareWeights([w]), /table lookup/);
            assert.equal(k.kernelOf(w), 'lut');
            const x = k.allocF32(cols * nTok);
            x.set(randomFloats(cols * nTok, 3 + nTok, 2));
            const y = k.allocF32(rows * nTok);
            k.matmul(w, x, nTok, y);
            const want = twin(fmt, original, rows, cols, rowBytes, x, nTok, tables === 'exact');
            for (let i = 0; i < rows * nTok; i++) {
              if (Object.is(y[i], want[i])) continue;
              assert.fail(`${name} ${rows}x${cols} x${nTok}: y[${i}] = ${y[i]}, twin ${want[i]}`);
            }
          }
        }
      });
    }
  }
}

test('exact LUT tables give the dequantize kernels\' result (Q4_0 and TQ2_0 through Q8_0 / Q8_K sums)', async () => {
  const lut = (await WasmKernels.create({ threads: 1, matmul: 'lut', lutTables: 'exact' }))!;
  const deq = (await WasmKernels.create({ threads: 1, matmul: 'dequant' }))!;
  pool.push(lut, deq);
  for (const type of ['Q4_0', 'TQ2_0', 'TQ1_0']) {
    const fmt = ggml(type), rows = 70, cols = 768, nTok = 2;
    const a = quantized(fmt, rows, cols, 4, (n) => lut.allocBytes(n));
    const b = quantized(fmt, rows, cols, 4, (n) => deq.allocBytes(n));
    const wa: WeightMatrix = { name: 'a', format: fmt, rows, cols, rowBytes: a.rowBytes, ...weightBytes(a.data) };
    const wb: WeightMatrix = { name: 'b', format: fmt, rows, cols, rowBytes: b.rowBytes, ...weightBytes(b.data) };
    lut.prepareWeights([wa]);
    deq.prepareWeights([wb]);
    assert.equal(deq.kernelOf(wb), 'dequant');
    const x = randomFloats(cols * nTok, 8, 1);
    const xa = lut.allocF32(cols * nTok), xb = deq.allocF32(cols * nTok);
    xa.set(x); xb.set(x);
    const ya = lut.allocF32(rows * nTok), yb = deq.allocF32(rows * nTok);
    lut.matmul(wa, xa, nTok, ya);
    deq.matmul(wb, xb, nTok, yb);
    let m = 0;
    for (let i = 0; i < rows * nTok; i++) m = Math.max(m, Math.abs(yb[i]!));
    for (let i = 0; i < rows * nTok; i++) assert.ok(Math.abs(ya[i]! - yb[i]!) <= 1e-5 * m, `${type} y[${i}]: ${ya[i]} vs ${yb[i]}`);
  }
});

test('LUT packing reads nothing past a tile that ends at the end of WebAssembly memory', async () => {
  // One-thread fixed memory of 2 pages (page 0 is the module's): filler, weights, packing scratch,
  // then the one-tile copy the in-place packer reads ends exactly at the last byte.
  const k = (await WasmKernels.create({ shared: false, memoryBytes: 2 * 65536, matmul: 'lut' }))!;
  pool.push(k);
  const fmt = LUT_CASES.find(([n]) => n === 'INT2 sym g32')![1];
  const rows = 16, cols = 512, rowBytes = (cols / 32) * fmt.typeSize;
  k.allocBytes(65536 - rows * rowBytes - 64 - rows * rowBytes);
  const { data } = quantized(fmt, rows, cols, 9, (n) => k.allocBytes(n));
  const original = data.slice();
  const w: WeightMatrix = { name: 'edge', format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
  k.prepareWeights([w]);
  // Packed in place: the tile equals the TypeScript packer's.
  assert.deepEqual(new Uint8Array(data), packLut(fmt, original, rows, cols, rowBytes).main);
});
