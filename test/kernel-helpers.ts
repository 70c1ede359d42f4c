// Inputs of the kernel tests: weight matrices of seeded random values quantized to any format, in
// a backend's memory (WebAssembly) or a plain array.

import assert from 'node:assert/strict';
import type { Kernels, WeightMatrix } from '../src/kernels/types.js';
import type { WasmFlavor, WasmKernels } from '../src/kernels/wasm/index.js';
import type { KernelExports } from '../src/kernels/wasm/protocol.js';
import { ROWS4_FLAG } from '../src/kernels/ref/rows4.js';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';

/**
 * nTok tokens of activations in a backend's memory, seeded by nTok, with the cases that stress an
 * activation quantizer: token 0 all zero when nTok is 2, one outlier (-300) in token 1 when nTok is 3.
 */
export function edgeActivations(k: { allocF32(n: number): Float32Array }, cols: number, nTok: number): Float32Array {
  const x = k.allocF32(cols * nTok);
  x.set(randomFloats(cols * nTok, 3 + nTok, 2));
  if (nTok === 2) x.fill(0, 0, cols);
  if (nTok === 3) x[cols + 5] = -300;
  return x;
}

type Product = (x: Float32Array, nTok: number, y: Float32Array) => void;

/**
 * One input through a re-laid matrix's kernel, the same bytes in the row layout, the kernel's
 * TypeScript twin and the reference backend: the four outputs a layout test compares. The two wasm
 * outputs live in k's memory; the caller releases them.
 */
export function layoutProducts(k: Required<Pick<Kernels, 'allocF32'>> & Kernels, relaid: WeightMatrix, rowLayout: WeightMatrix,
  twin: Product, ref: Product, x: Float32Array, nTok: number): { y: Float32Array; yRows: Float32Array; yTwin: Float32Array; yRef: Float32Array } {
  const n = relaid.rows * nTok;
  const y = k.allocF32(n), yRows = k.allocF32(n), yTwin = new Float32Array(n), yRef = new Float32Array(n);
  k.matmul(relaid, x, nTok, y);
  k.matmul(rowLayout, x, nTok, yRows);
  twin(x, nTok, yTwin);
  ref(x, nTok, yRef);
  return { y, yRows, yTwin, yRef };
}

export function randomMatrix(k: { allocBytes(n: number): Uint8Array } | null, type: string, rows: number, cols: number, seed: number): WeightMatrix {
  const fmt = quantFormat(ggmlTypeByName(type)!.id);
  const w = randomFloats(rows * cols, seed, 1.5);
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = k ? k.allocBytes(rows * rowBytes) : new Uint8Array(rows * rowBytes);
  fmt.quantize!(w, 0, data, 0, rows * cols);
  return { name: `test.${type}.${rows}x${cols}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
}

/** Every element of a equals b's, bit for bit (NaN and -0 included). */
export function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  for (let i = 0; i < b.length; i++) if (!Object.is(a[i], b[i])) throw new Error(`${what}: y[${i}] ${a[i]} vs ${b[i]}`);
}

/** The largest |a - b| over the first n elements, relative to the largest |b|. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let d = 0, m = 0;
  for (let i = 0; i < n; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / Math.max(m, 1e-30);
}

/** The WebAssembly builds this engine runs, best first: the kernel tests go through each. */
export function testFlavors(best: WasmFlavor | null): WasmFlavor[] {
  return best === 'relaxed' ? ['relaxed', 'simd', 'plain'] : best === 'simd' ? ['simd', 'plain'] : best ? ['plain'] : [];
}

/**
 * A matrix that k re-laid at load (its original bytes: orig) through the wasm matmul export over
 * row ranges that split groups, for nTok tokens and for one (decode), each against its TypeScript
 * twin's products, rows outside the range untouched; then through k.matmul from arrays outside wasm
 * memory (staged), and its embedding rows against the reference's from the original bytes.
 * Activations as the backend prepares them: Q8 blocks of 32 (vecDot q8_0) or Q8_K. The ranges are
 * chosen for 45 rows (11 groups and one row left in row layout).
 */
export function checkRelaidRanges(k: WasmKernels, w: WeightMatrix, orig: Uint8Array, nTok: number, twin: Product, ref: Kernels): void {
  const exp = (k as unknown as { k: KernelExports }).k, { rows, cols } = w, type = w.format.name;
  assert.equal(rows, 45, 'checkRelaidRanges: its row ranges are for 45 rows');
  const x = k.allocF32(cols * nTok);
  x.set(randomFloats(cols * nTok, 9, 1));
  const yTwin = new Float32Array(rows * nTok);
  twin(x, nTok, yTwin);
  const qs = k.allocBytes(cols * nTok), d = k.allocF32(cols * nTok / 32), bs = k.allocF32(cols * nTok / 16), s = k.allocF32(cols * nTok / 32);
  if (w.format.vecDot === 'q8_0') exp.quantize_q8(x.byteOffset, cols, nTok, qs.byteOffset, d.byteOffset, s.byteOffset, bs.byteOffset);
  else exp.quantize_q8_k(x.byteOffset, cols, nTok, qs.byteOffset, d.byteOffset, bs.byteOffset);
  const ranges = (n: number) => n > 1 ? [[0, 23], [1, 3], [2, 9], [5, 22], [19, 23], [21, 22]] : [[0, 45], [1, 41], [3, 45], [2, 19], [16, 36], [5, 22]];
  for (const n of [nTok, 1]) {
    for (const [r0, r1] of ranges(n)) {
      const y = k.allocF32(rows * n);
      y.fill(-7);
      assert.equal(exp.matmul(w.format.id | ROWS4_FLAG, w.data.byteOffset, w.rowBytes, cols, rows, r0!, r1!, qs.byteOffset, d.byteOffset, 0, bs.byteOffset, y.byteOffset, n), 0);
      for (let t = 0; t < n; t++) {
        for (let r = 0; r < rows; r++) {
          const want = r >= r0! && r < r1! ? yTwin[t * rows + r]! : -7;
          assert.ok(Object.is(y[t * rows + r], want), `${type} x${n} rows [${r0}, ${r1}) token ${t} row ${r}: ${y[t * rows + r]} vs ${want}`);
        }
      }
    }
  }
  const yPlain = new Float32Array(rows * nTok);
  k.matmul(w, Float32Array.from(x), nTok, yPlain);
  sameBits(yPlain, yTwin, `${type} staged`);
  const ids = [0, 3, 4, 21, 22];
  const e = new Float32Array(ids.length * cols), eRef = new Float32Array(ids.length * cols);
  k.embed(w, ids, ids.length, e);
  ref.embed({ ...w, ...weightBytes(orig) }, ids, ids.length, eRef);
  assert.deepEqual(e, eRef, `${type} embedding rows`);
}

/** A four-row family's TypeScript twin: its in-place re-layout, the read-back of one row, its product. */
export interface RelaidTwin {
  pack(data: Uint8Array, off: number, rowBytes: number, rows: number, blockBytes: number): void;
  row(data: Uint8Array, rowBytes: number, rows: number, blockBytes: number, row: number, out: Uint8Array, outOff: number): void;
  matmul(w: WeightMatrix, x: Float32Array, nTok: number, y: Float32Array): void;
}

/**
 * One matrix of a four-row family that k re-laid at load: the bytes equal the twin's re-layout of
 * the original (orig), every row reads back, and for each token count the products equal the twin's
 * bit for bit, the row layout's (rowLayout: the same bytes never re-laid) bit for bit or, where the
 * tiles sum in another order, within rowLayoutTol, and the reference's within tolQuant.
 */
export function checkRelaidMatrix(k: WasmKernels, ref: Kernels, m: { w: WeightMatrix; rowLayout: WeightMatrix; orig: Uint8Array }, twin: RelaidTwin,
  tokens: readonly number[], tolQuant: number, rowLayoutTol?: number): void {
  const { w, rowLayout, orig } = m, { rows, cols } = w, type = w.format.name;
  const note = k.prepareWeights([w]);
  assert.ok(k.inRows4(w), `${type} ${rows}x${cols} not re-laid: ${note}`);
  const packed = orig.slice();
  twin.pack(packed, 0, w.rowBytes, rows, w.format.typeSize);
  assert.deepEqual(w.data, packed, `${type} ${rows}x${cols}: re-laid bytes differ from the twin's`);
  const row = new Uint8Array(w.rowBytes);
  for (let r = 0; r < rows; r++) {
    twin.row(w.data, w.rowBytes, rows, w.format.typeSize, r, row, 0);
    assert.deepEqual(row, orig.subarray(r * w.rowBytes, (r + 1) * w.rowBytes), `${type} row ${r} reads back`);
  }
  const plain: WeightMatrix = { ...w, ...weightBytes(orig) };
  for (const nTok of tokens) {
    const x = edgeActivations(k, cols, nTok);
    const { y, yRows, yTwin, yRef } = layoutProducts(k, w, rowLayout, (xs, n, ys) => twin.matmul(w, xs, n, ys), (xs, n, ys) => ref.matmul(plain, xs, n, ys), x, nTok);
    sameBits(y, yTwin, `${type} ${rows}x${cols} x${nTok} vs twin`);
    if (rowLayoutTol === undefined) sameBits(y, yRows, `${type} ${rows}x${cols} x${nTok} vs row layout`);
    else assert.ok(maxRelDiff(y, yRows, rows * nTok) <= rowLayoutTol, `${type} ${rows}x${cols} x${nTok}: vs the row layout's tiles`);
    const d = maxRelDiff(y, yRef, rows * nTok);
    assert.ok(d <= tolQuant, `${type} ${rows}x${cols} x${nTok}: relative diff ${d} to the reference`);
    k.release(x); k.release(y); k.release(yRows);
  }
}
