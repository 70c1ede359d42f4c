// Formats the table-lookup kernels are tested on, shared by the reference and kernel tests.

import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { intFormat } from '../src/quant/int.js';
import type { QuantFormat } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';

export const ggml = (n: string): QuantFormat => quantFormat(ggmlTypeByName(n)!.id);

export const LUT_CASES: Array<[string, QuantFormat]> = [
  ['Q4_0', ggml('Q4_0')],
  ['Q4_1', ggml('Q4_1')],
  ['TQ2_0', ggml('TQ2_0')],
  ['TQ1_0', ggml('TQ1_0')],
  ['INT1 g32', intFormat({ family: 'int', bits: 1, asym: false, scale: 'F16', tensorScale: false, group: 32 })],
  ['INT2 sym g32', intFormat({ family: 'int', bits: 2, asym: false, scale: 'F16', tensorScale: false, group: 32 })],
  ['INT3 asym g64', intFormat({ family: 'int', bits: 3, asym: true, scale: 'F16', tensorScale: false, group: 64 })],
  ['INT4 sym g128', intFormat({ family: 'int', bits: 4, asym: false, scale: 'F16', tensorScale: false, group: 128 })],
  ['INT2 asym g512', intFormat({ family: 'int', bits: 2, asym: true, scale: 'F16', tensorScale: false, group: 512 })],
];

/** rows x cols random weights in fmt, with their dequantized values. */
export function quantized(fmt: QuantFormat, rows: number, cols: number, seed: number, alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n)): { data: Uint8Array; rowBytes: number; deq: Float32Array } {
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = alloc(rows * rowBytes);
  const w = randomFloats(rows * cols, seed, 1);
  if (fmt.quantizeTensor) fmt.quantizeTensor(w, rows, cols, data); else fmt.quantize!(w, 0, data, 0, rows * cols);
  const deq = new Float32Array(rows * cols);
  fmt.dequantize(data, 0, deq, 0, rows * cols);
  return { data, rowBytes, deq };
}
