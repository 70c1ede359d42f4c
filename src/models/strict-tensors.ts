// A TensorTable that remembers which tensors the loader asked for, so an architecture can refuse
// a file whose tensors it would otherwise ignore (a bias, a norm, an expert lutra does not
// compute), naming them, and reach the stacked 3-D tensors of mixture-of-experts layers.

import { ModelError } from '../core/errors.js';
import type { GGUFTensorInfo } from '../formats/gguf.js';
import type { ModelSource } from '../formats/source.js';
import type { WeightMatrix } from '../kernels/types.js';
import { ggmlTypeName, quantFormat } from '../quant/table.js';
import { weightBytes } from '../quant/types.js';
import { TensorTable } from './tensors.js';

export class StrictTensorTable extends TensorTable {
  private readonly asked = new Set<string>();
  private readonly infos = new Map<string, GGUFTensorInfo>();
  constructor(src: ModelSource, alloc?: (n: number) => Float32Array) {
    super(src, alloc);
    for (const t of src.tensors) this.infos.set(t.name, t);
  }
  override has(name: string): boolean { this.asked.add(name); return super.has(name); }
  override matrix(name: string, cols: number, rows: number): WeightMatrix { this.asked.add(name); return super.matrix(name, cols, rows); }
  override vector(name: string, n: number): Float32Array { this.asked.add(name); return super.vector(name, n); }
  override shapeOf(name: string): number[] { this.asked.add(name); return super.shapeOf(name); }

  /**
   * The n stacked matrices of a 3-D tensor (ggml [cols, rows, n]): one WeightMatrix view per
   * expert over the file bytes, so a product reads only the selected expert's rows.
   */
  stacked(name: string, cols: number, rows: number, n: number): WeightMatrix[] {
    this.asked.add(name);
    const t = this.infos.get(name);
    if (!t) throw new ModelError(`${this.src.file}: missing tensor ${name}`);
    const want = [cols, rows, n].join('x');
    if (t.shape.join('x') !== want) throw new ModelError(`${this.src.file}: tensor ${name}: expected shape ${want}, file has ${t.shape.join('x')} ${ggmlTypeName(t.type)}`);
    const format = quantFormat(t.type, name);
    const rowBytes = (cols / format.blockSize) * format.typeSize;
    const size = rows * rowBytes;
    return Array.from({ length: n }, (_, e) => ({ name: `${name}[${e}]`, format, rows, cols, rowBytes, ...weightBytes(t.data.subarray(e * size, (e + 1) * size)) }));
  }

  /**
   * Row ranges of one matrix as separate matrices (a fused QKV or gate-up projection): views over
   * the same bytes, each row range its own product.
   */
  split(name: string, cols: number, rowCounts: readonly number[]): WeightMatrix[] {
    const total = rowCounts.reduce((a, b) => a + b, 0);
    const w = this.matrix(name, cols, total);
    let r0 = 0;
    return rowCounts.map((rows, i) => {
      const data = w.data.subarray(r0 * w.rowBytes, (r0 + rows) * w.rowBytes);
      r0 += rows;
      return { name: `${name}[${i}]`, format: w.format, rows, cols, rowBytes: w.rowBytes, ...weightBytes(data) };
    });
  }

  /** Refuse the tensors no loader call asked for, naming them and the architecture. */
  refuseUnused(arch: string): void {
    const left = this.src.tensors.map((t) => t.name).filter((n) => !this.asked.has(n));
    if (left.length) {
      throw new ModelError(`${this.src.file}: ${arch}: lutra does not implement tensor${left.length > 1 ? 's' : ''} ${left.slice(0, 6).join(', ')}${left.length > 6 ? ` and ${left.length - 6} more` : ''}`);
    }
  }
}
