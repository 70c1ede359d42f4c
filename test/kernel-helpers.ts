// Inputs of the kernel tests: weight matrices of seeded random values quantized to any format, in
// a backend's memory (WebAssembly) or a plain array.

import type { Kernels, WeightMatrix } from '../src/kernels/types.js';
import type { WasmFlavor } from '../src/kernels/wasm/index.js';
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
