// The four-row decode layout of Q4_K, Q5_K, Q6_K and Q5_0 (assembly/rows4-k.ts) against its TypeScript
// twin (kernels/ref/rows4-k.ts) for every build and 1 or 2 threads: the in-place re-layout gives
// the twin's bytes and every row reads back; products equal the twin's bit for bit and the row
// layout's WebAssembly kernel bit for bit (same integer sums, same f32 order: dot.ts's K-quant rows
// in every build, its Q5_0 rows in the plain build; matmul.ts's SIMD Q5_0 tiles add the same block
// terms in another f32 order, so there within TOL_ORDER) for decode, prefill tiles and their
// remainders, any row range (a split need not fall on a group), rows % 4 leftovers, extreme codes
// and scales; and they agree with the reference kernels.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import { rows4kMatmul, rows4kPack, rows4kRow } from '../src/kernels/ref/rows4-k.js';
import type { WeightMatrix } from '../src/kernels/types.js';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';
import { checkRelaidMatrix, checkRelaidRanges } from './kernel-helpers.js';

/** As kernels-parity's quant class: relative to the largest |reference| value (the reference sums in double). */
const TOL_QUANT = 1e-4;
/** Two f32 sums of the same Q5_0 block terms in different orders (at most a few hundred blocks). */
const TOL_ORDER = 1e-5;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];
const SHAPES = [[37, 256], [130, 512], [4, 256], [7, 768], [65, 1280]] as const;
/** Q5_0 rows of any multiple of 32 as well; [21, 2592]: 81 blocks, the band prefill's slices of 40, 40 and 1. */
const SHAPES_32 = [[9, 96], [4, 32], [23, 160], [21, 2592]] as const;
// 12 and 33: the relaxed build's Q5_0 band prefill (rows4-k.ts q50Bands: bands of four whole groups,
// tokens two at a time and an odd last one; the rest of the rows in tiles).
const TOKENS = [1, 2, 3, 4, 5, 9, 12, 33];
const TYPES = ['Q4_K', 'Q5_K', 'Q6_K', 'Q5_0'];
const K_TWIN = { pack: rows4kPack, row: rows4kRow, matmul: rows4kMatmul };

/**
 * A matrix quantized into k's memory, with extreme rows (a super-block of +-2, one of a large
 * outlier: codes 0 and the top code, scales and mins near 63, Q6_K scales near -128, and one of tiny
 * weights, whose scales are subnormal halves), and a copy
 * of its bytes in k's memory that is never re-laid.
 */
function matrix(k: WasmKernels, type: string, rows: number, cols: number, seed: number): { w: WeightMatrix; rowLayout: WeightMatrix; orig: Uint8Array } {
  const fmt = quantFormat(ggmlTypeByName(type)!.id);
  const f = randomFloats(rows * cols, seed, 1.5);
  for (let i = 0; i < Math.min(256, cols); i++) { f[i] = i & 1 ? 2 : -2; f[cols + i] = i === 7 ? -40 : 1e-3 * (i % 16); }
  if (rows > 5) for (let i = 0; i < Math.min(256, cols); i++) f[5 * cols + i] = i < 128 ? 3 : -0.01 * i;
  // Tiny weights: super-block and block scales that are subnormal halves (f16.ts halfx4 converts them apart).
  if (rows > 3) for (let i = 0; i < Math.min(256, cols); i++) f[3 * cols + i] = 2e-5 * (((i * 37) % 17) - 8);
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = k.allocBytes(rows * rowBytes);
  fmt.quantize!(f, 0, data, 0, rows * cols);
  const copy = k.allocBytes(rows * rowBytes);
  copy.set(data);
  const w: WeightMatrix = { name: `t.${type}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
  return { w, rowLayout: { ...w, name: `t.${type}.rows`, ...weightBytes(copy) }, orig: data.slice() };
}

test('the engine runs the WebAssembly backend', () => assert.ok(flavors.length > 0));

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    test(`${flavor}, ${threads} thread(s): Q4_K, Q5_K, Q6_K and Q5_0 in four-row layout equal the twin and the row layout bit for bit, the reference within ${TOL_QUANT}`, async () => {
      const k = (await WasmKernels.create({ flavor, threads, matmul: 'dequant' }))!;
      pool.push(k);
      for (const type of TYPES) {
        for (const [rows, cols] of type === 'Q5_0' ? [...SHAPES, ...SHAPES_32] : SHAPES) {
          const { w, rowLayout, orig } = matrix(k, type, rows, cols, rows * 7 + cols);
          // Q5_0's tiles (not plain) sum its two halves in another order than the row layout's dot.
          checkRelaidMatrix(k, ref, { w, rowLayout, orig }, K_TWIN, TOKENS, TOL_QUANT, type !== 'Q5_0' || flavor === 'plain' ? undefined : TOL_ORDER);
        }
      }
    });
  }
}

test('row ranges that split a group, arrays outside wasm memory, and embedding rows of a re-laid table', async () => {
  const k = (await WasmKernels.create({ threads: 1, matmul: 'dequant' }))!;
  pool.push(k);
  // One token: the relaxed build's K-quants and Q5_0 decode four far groups at once (q4kDecode4,
  // q50Decode4, q6kDecode4); two to four: group by group in tiles; 13: Q5_0's bands (relaxed).
  for (const type of TYPES) for (const nTok of [1, 2, 3, 4, 13]) {
    const rows = 45, cols = 512;
    const { w, orig } = matrix(k, type, rows, cols, 5);
    k.prepareWeights([w]);
    assert.ok(k.inRows4(w));
    checkRelaidRanges(k, w, orig, nTok, (xs, n, ys) => rows4kMatmul(w, xs, n, ys), ref);
  }
});
