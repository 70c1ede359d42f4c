// The four-row decode layout of Q2_K and Q3_K (assembly/rows4-lowbit.ts) against its TypeScript twin
// (kernels/ref/rows4-lowbit.ts) for every build and 1 or 2 threads: the in-place re-layout gives the
// twin's bytes and every row reads back; products equal the twin's bit for bit and the row layout's
// WebAssembly kernels (dot.ts's dot_q2_k, dot_q3_k) bit for bit (same integer sums, same f32 order)
// for decode, batches of 2-9 tokens (tiles of 4, 2 and 1), any row range (a split need not fall on a
// group), rows % 4 leftovers, extreme codes and scales; and they agree with the reference kernels.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels, detectWasm } from '../src/kernels/wasm/index.js';
import { rows4loMatmul, rows4loPack, rows4loRow } from '../src/kernels/ref/rows4-lowbit.js';
import type { WeightMatrix } from '../src/kernels/types.js';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';
import { checkRelaidMatrix, checkRelaidRanges, testFlavors } from './kernel-helpers.js';

/** As kernels-parity's quant class: relative to the largest |reference| value (the reference sums in double). */
const TOL_QUANT = 1e-4;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors = testFlavors(support.flavor);
const SHAPES = [[37, 256], [130, 512], [4, 256], [7, 768], [65, 1280], [6, 2048]] as const;
const TOKENS = [1, 2, 3, 4, 5, 6, 7, 9];
const TYPES = ['Q2_K', 'Q3_K'];
const LOWBIT_TWIN = { pack: rows4loPack, row: rows4loRow, matmul: rows4loMatmul };

/**
 * A matrix quantized into k's memory from seeded values, with rows of extreme bytes in every block
 * (the f16 scales left as quantized): row 0 all zero values (d = 0); row 1 every code and scale at
 * its top (Q2_K codes 3, scales and mins 15; Q3_K codes 7, scales 63, i.e. +31); row 2 at its
 * bottom (Q2_K scales 0 with mins 15; Q3_K codes 0 and scales 0, i.e. -4 and -32); row 3 random
 * bytes. Also a copy of its bytes in k's memory that is never re-laid.
 */
function matrix(k: WasmKernels, type: string, rows: number, cols: number, seed: number): { w: WeightMatrix; rowLayout: WeightMatrix; orig: Uint8Array } {
  const fmt = quantFormat(ggmlTypeByName(type)!.id);
  const f = randomFloats(rows * cols, seed, 1.5);
  f.fill(0, 0, cols);
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = k.allocBytes(rows * rowBytes);
  fmt.quantize!(f, 0, data, 0, rows * cols);
  const q2 = type === 'Q2_K', payload = q2 ? 80 : 108, noise = randomFloats(rowBytes, seed + 1, 1);
  for (let b = 0; b < cols / 256; b++) {
    const at = (r: number) => r * rowBytes + b * fmt.typeSize;
    if (rows > 1) data.fill(0xff, at(1), at(1) + payload);
    if (rows > 2) {
      data.fill(0, at(2), at(2) + payload);
      if (q2) data.fill(0xf0, at(2), at(2) + 16);
    }
    if (rows > 3) for (let i = 0; i < payload; i++) data[at(3) + i] = Math.floor((noise[b * fmt.typeSize + i]! + 1) * 128) & 0xff;
  }
  const copy = k.allocBytes(rows * rowBytes);
  copy.set(data);
  const w: WeightMatrix = { name: `t.${type}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
  return { w, rowLayout: { ...w, name: `t.${type}.rows`, ...weightBytes(copy) }, orig: data.slice() };
}

test('the engine runs the WebAssembly backend', () => assert.ok(flavors.length > 0));

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    test(`${flavor}, ${threads} thread(s): Q2_K and Q3_K in four-row layout equal the twin and the row layout bit for bit, the reference within ${TOL_QUANT}`, async () => {
      const k = (await WasmKernels.create({ flavor, threads, matmul: 'dequant' }))!;
      pool.push(k);
      for (const type of TYPES) {
        for (const [rows, cols] of SHAPES) {
          const { w, rowLayout, orig } = matrix(k, type, rows, cols, rows * 7 + cols);
          checkRelaidMatrix(k, ref, { w, rowLayout, orig }, LOWBIT_TWIN, TOKENS, TOL_QUANT);
        }
      }
    });
  }
}

test('row ranges that split a group, arrays outside wasm memory, and embedding rows of a re-laid table', async () => {
  const k = (await WasmKernels.create({ threads: 1, matmul: 'dequant' }))!;
  pool.push(k);
  // One token: the groups in order (q2kTile1, q3kTile1); two to seven: tiles of four, two and one.
  for (const type of TYPES) for (const nTok of [1, 2, 3, 4, 7]) {
    const rows = 45, cols = 512;
    const { w, orig } = matrix(k, type, rows, cols, 5);
    k.prepareWeights([w]);
    assert.ok(k.inRows4(w));
    checkRelaidRanges(k, w, orig, nTok, (xs, n, ys) => rows4loMatmul(w, xs, n, ys), ref);
  }
});
