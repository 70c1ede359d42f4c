// Inputs of the kernel tests: weight matrices of seeded random values quantized to any format, in
// a backend's memory (WebAssembly) or a plain array.

import type { WeightMatrix } from '../src/kernels/types.js';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';

export function randomMatrix(k: { allocBytes(n: number): Uint8Array } | null, type: string, rows: number, cols: number, seed: number): WeightMatrix {
  const fmt = quantFormat(ggmlTypeByName(type)!.id);
  const w = randomFloats(rows * cols, seed, 1.5);
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = k ? k.allocBytes(rows * rowBytes) : new Uint8Array(rows * rowBytes);
  fmt.quantize!(w, 0, data, 0, rows * cols);
  return { name: `test.${type}.${rows}x${cols}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) };
}
