// The direct ternary kernels (assembly/ternary.ts) against their TypeScript twins
// (kernels/ref/ternary.ts) for every build and 1 or 2 threads: TQ1_0 re-coded to TQ2_0 gives the
// twin's bytes (every byte value of the base-3 packing, not only the quantizer's) and the same
// weights; products over TQ2_0 as stored and over re-coded TQ1_0 equal the twin bit for bit and
// the unprepared matrices bit for bit (dot_tq1_0; dot_tq2_0 on the plain build), for
// decode and several tokens, any row range (a thread's share need not fall on four rows), rows % 4
// leftovers and extreme codes; they agree with the reference kernels (which sum in double). Under
// SIMD prepared matrices are re-laid in four-row groups (tq2_pack4), bytes equal to the twin's
// (tq2Pack4), every row read back (embedding lookups).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels, detectWasm, lutPreferred } from '../src/kernels/wasm/index.js';
import { ternaryMatmul, tq1Recode, tq1RecodedRowBytes, tq2Pack4, tq2Rows4Row } from '../src/kernels/ref/ternary.js';
import { ROWS4_FLAG } from '../src/kernels/ref/rows4.js';
import { lutShape } from '../src/kernels/lut-layout.js';
import type { WeightMatrix } from '../src/kernels/types.js';
import type { KernelExports } from '../src/kernels/wasm/protocol.js';
import { TQ1_0 } from '../src/quant/tq1_0.js';
import { TQ2_0 } from '../src/quant/tq2_0.js';
import { weightBytes, type QuantFormat } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';
import { edgeActivations, layoutProducts, maxRelDiff, sameBits, testFlavors } from './kernel-helpers.js';

/** As kernels-parity's quant class: relative to the largest |reference| value (the reference sums in double). */
const TOL_QUANT = 1e-4;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors = testFlavors(support.flavor);
const SHAPES = [[37, 256], [130, 512], [4, 256], [3, 512], [7, 768], [65, 2560]] as const;
const TOKENS = [1, 2, 3, 5];
const FORMATS: QuantFormat[] = [TQ2_0, TQ1_0];

/**
 * A matrix quantized into k's memory with extreme rows (all -1, all +1, one outlier that leaves
 * the rest 0), and a copy of its bytes in k's memory that is never prepared.
 */
function matrix(k: WasmKernels, fmt: QuantFormat, rows: number, cols: number, seed: number): { w: WeightMatrix; rowLayout: WeightMatrix; orig: Uint8Array } {
  const f = randomFloats(rows * cols, seed, 1.5);
  f.fill(-1, 0, Math.min(rows, 1) * cols);
  if (rows > 1) f.fill(1, cols, 2 * cols);
  if (rows > 2) { f.fill(1e-3, 2 * cols, 3 * cols); f[2 * cols + 9] = 50; }
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = k.allocBytes(rows * rowBytes);
  fmt.quantize!(f, 0, data, 0, rows * cols);
  const copy = k.allocBytes(rows * rowBytes);
  copy.set(data);
  const w: WeightMatrix = { name: `t.${fmt.name}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
  return { w, rowLayout: { ...w, name: `t.${fmt.name}.rows`, ...weightBytes(copy) }, orig: data.slice() };
}

test('the engine runs the WebAssembly backend', () => assert.ok(flavors.length > 0));

test('TQ1_0 re-coded to TQ2_0: the twin and the WebAssembly export give the same bytes and the same weights, for every byte value', async () => {
  const k = (await WasmKernels.create({ threads: 1 }))!;
  pool.push(k);
  const exp = (k as unknown as { k: KernelExports }).k;
  const nBlocks = 12;
  const src = k.allocBytes(nBlocks * 54);
  // Arbitrary bytes: every value 0..255 in each of the 52 code positions across the blocks.
  for (let i = 0; i < src.length; i++) src[i] = (i * 97 + (i >> 6) * 31) & 0xff;
  for (let b = 0; b < nBlocks; b++) { src[b * 54 + 52] = (b * 37) & 0xff; src[b * 54 + 53] = 0x38 + (b & 3); }
  for (let v = 0; v < 256; v++) src[(v % nBlocks) * 54 + (v % 52)] = v;
  const dst = k.allocBytes(nBlocks * 66), twin = new Uint8Array(nBlocks * 66);
  exp.tq1_recode(src.byteOffset, dst.byteOffset, nBlocks);
  tq1Recode(src, 0, twin, 0, nBlocks);
  assert.deepEqual(dst, twin);
  assert.equal(tq1RecodedRowBytes(54 * 10), 66 * 10);
  const a = new Float32Array(nBlocks * 256), b = new Float32Array(nBlocks * 256);
  TQ1_0.dequantize(src, 0, a, 0, nBlocks * 256);
  TQ2_0.dequantize(twin, 0, b, 0, nBlocks * 256);
  assert.deepEqual(b, a);
});

test('--kernels auto puts TQ2_0 and TQ1_0 on the direct kernels under relaxed SIMD, on the table-lookup kernels otherwise', () => {
  for (const fmt of FORMATS) {
    const sh = lutShape(fmt, 64, 512, (512 / 256) * fmt.typeSize)!;
    assert.equal(lutPreferred(fmt, sh, 'relaxed'), false);
    assert.equal(lutPreferred(fmt, sh, 'simd'), true);
    assert.equal(lutPreferred(fmt, sh, 'plain'), true);
  }
});

for (const flavor of flavors) {
  for (const threads of [1, 2]) {
    test(`${flavor}, ${threads} thread(s): TQ2_0 and re-coded TQ1_0 equal the twin and the row kernels bit for bit, the reference within ${TOL_QUANT}`, async () => {
      // auto where it picks these kernels (relaxed), else asked for: SIMD128 runs them too, the plain build the row kernels.
      const k = (await WasmKernels.create({ flavor, threads, matmul: flavor === 'relaxed' ? 'auto' : 'dequant' }))!;
      pool.push(k);
      for (const fmt of FORMATS) {
        for (const [rows, cols] of SHAPES) {
          const { w, rowLayout, orig } = matrix(k, fmt, rows, cols, rows * 7 + cols);
          const note = k.prepareWeights([w]);
          assert.equal(k.kernelOf(w), 'dequant', `${fmt.name} ${rows}x${cols}: ${note}`);
          // Re-coded (TQ1_0) and re-laid in four-row groups under SIMD when there is a group.
          const relaid = flavor !== 'plain' && rows >= 4;
          assert.equal(!!k.recodedOf(w), fmt === TQ1_0 && relaid, `${fmt.name} ${rows}x${cols} re-coded on ${flavor}: ${note}`);
          const run = k.recodedOf(w) ?? w;
          assert.equal(k.inRows4(run), relaid, `${fmt.name} ${rows}x${cols} four-row layout on ${flavor}: ${note}`);
          if (relaid) {
            const twin = new Uint8Array(rows * run.rowBytes);
            if (fmt === TQ1_0) tq1Recode(orig, 0, twin, 0, (rows * w.rowBytes) / 54); else twin.set(orig);
            const rowBytes = twin.slice();
            tq2Pack4(twin, 0, run.rowBytes, rows);
            assert.deepEqual(run.data, twin, `${fmt.name} ${rows}x${cols}: re-laid bytes differ from the twin's`);
            const row = new Uint8Array(run.rowBytes);
            for (let r = 0; r < rows; r++) {
              tq2Rows4Row(run.data, run.rowBytes, rows, 66, r, row, 0);
              assert.deepEqual(row, rowBytes.subarray(r * run.rowBytes, (r + 1) * run.rowBytes), `${fmt.name} row ${r} reads back`);
            }
          }
          const plain: WeightMatrix = { ...w, ...weightBytes(orig) };
          for (const nTok of TOKENS) {
            const x = edgeActivations(k, cols, nTok);
            const { y, yRows, yTwin, yRef } = layoutProducts(k, w, rowLayout, (xs, n, ys) => ternaryMatmul(plain, xs, n, ys), (xs, n, ys) => ref.matmul(plain, xs, n, ys), x, nTok);
            sameBits(y, yTwin, `${fmt.name} ${rows}x${cols} x${nTok} vs twin`);
            sameBits(yRows, yTwin, `${fmt.name} ${rows}x${cols} x${nTok}: row kernel vs twin`);
            const d = maxRelDiff(y, yRef, rows * nTok);
            assert.ok(d <= TOL_QUANT, `${fmt.name} ${rows}x${cols} x${nTok}: relative diff ${d} to the reference`);
            k.release(x); k.release(y); k.release(yRows);
          }
        }
      }
    });
  }
}

test('row ranges that split a group of four, arrays outside wasm memory, and embedding rows of a re-coded table', async () => {
  const k = (await WasmKernels.create({ threads: 1, matmul: 'dequant' }))!;
  pool.push(k);
  const exp = (k as unknown as { k: KernelExports }).k;
  const rows = 45, cols = 512, nTok = 3;
  for (const fmt of FORMATS) {
    const { w, orig } = matrix(k, fmt, rows, cols, 5);
    k.prepareWeights([w]);
    const run = k.recodedOf(w) ?? w;
    assert.ok(k.inRows4(run));
    const x = k.allocF32(cols * nTok);
    x.set(randomFloats(cols * nTok, 9, 1));
    const yTwin = new Float32Array(rows * nTok);
    ternaryMatmul({ ...w, ...weightBytes(orig) }, x, nTok, yTwin);
    const qs = k.allocBytes(cols * nTok), d = k.allocF32(cols * nTok / 256), bs = k.allocF32(cols * nTok / 16);
    exp.quantize_q8_k(x.byteOffset, cols, nTok, qs.byteOffset, d.byteOffset, bs.byteOffset);
    for (const [r0, r1] of [[0, 23], [1, 3], [2, 9], [5, 22], [19, 23], [21, 22]]) {
      const y = k.allocF32(rows * nTok);
      y.fill(-7);
      assert.equal(exp.matmul(TQ2_0.id | (k.inRows4(run) ? ROWS4_FLAG : 0), run.data.byteOffset, run.rowBytes, cols, rows, r0!, r1!, qs.byteOffset, d.byteOffset, 0, bs.byteOffset, y.byteOffset, nTok), 0);
      for (let t = 0; t < nTok; t++) {
        for (let r = 0; r < rows; r++) {
          const want = r >= r0! && r < r1! ? yTwin[t * rows + r]! : -7;
          assert.ok(Object.is(y[t * rows + r], want), `${fmt.name} rows [${r0}, ${r1}) token ${t} row ${r}: ${y[t * rows + r]} vs ${want}`);
        }
      }
    }
    // One token (decode: groups taken in several weight streams), ranges on and off group bounds.
    for (const [r0, r1] of [[0, 45], [1, 41], [3, 45], [2, 19], [16, 36], [5, 22]]) {
      const y = k.allocF32(rows);
      y.fill(-7);
      assert.equal(exp.matmul(TQ2_0.id | (k.inRows4(run) ? ROWS4_FLAG : 0), run.data.byteOffset, run.rowBytes, cols, rows, r0!, r1!, qs.byteOffset, d.byteOffset, 0, bs.byteOffset, y.byteOffset, 1), 0);
      for (let r = 0; r < rows; r++) {
        const want = r >= r0! && r < r1! ? yTwin[r]! : -7;
        assert.ok(Object.is(y[r], want), `${fmt.name} decode rows [${r0}, ${r1}) row ${r}: ${y[r]} vs ${want}`);
      }
    }
    const yStaged = new Float32Array(rows * nTok);
    k.matmul(w, Float32Array.from(x), nTok, yStaged);
    // Outside wasm memory: copied in for the re-laid matrix, so the same bits.
    sameBits(yStaged, yTwin, `${fmt.name} staged`);
    const ids = [0, 3, 4, 21, 22];
    const e = new Float32Array(ids.length * cols), eRef = new Float32Array(ids.length * cols);
    k.embed(w, ids, ids.length, e);
    ref.embed({ ...w, ...weightBytes(orig) }, ids, ids.length, eRef);
    assert.deepEqual(e, eRef, `${fmt.name} embedding rows`);
  }
});
