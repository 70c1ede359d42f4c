// A model source's tensors by name, read as the kernels want them: matrices as WeightMatrix views
// over the file bytes, small vectors (norms, biases) dequantized. Shapes are checked here, and a
// missing or misshapen tensor is an error naming it. Not a name table: callers spell the names.

import { ModelError } from '../core/errors.js';
import type { GGUFTensorInfo } from '../formats/gguf.js';
import type { ModelSource } from '../formats/source.js';
import type { WeightMatrix } from '../kernels/types.js';
import { quantFormat, ggmlTypeName } from '../quant/table.js';
import { weightBytes } from '../quant/types.js';

export class TensorTable {
  private byName = new Map<string, GGUFTensorInfo>();
  constructor(readonly src: ModelSource, private readonly alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    for (const t of src.tensors) this.byName.set(t.name, t);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  private get(name: string): GGUFTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new ModelError(`${this.src.file}: missing tensor ${name}`);
    return t;
  }
  private checkShape(t: GGUFTensorInfo, shape: number[]): void {
    const want = shape.join('x');
    const got = t.shape.join('x');
    if (want !== got) throw new ModelError(`${this.src.file}: tensor ${t.name}: expected shape ${want}, file has ${got} ${ggmlTypeName(t.type)}`);
  }
  /** A weight matrix of `rows` outputs by `cols` inputs (ggml shape [cols, rows]). */
  matrix(name: string, cols: number, rows: number): WeightMatrix {
    const t = this.get(name);
    this.checkShape(t, [cols, rows]);
    const format = quantFormat(t.type, name);
    return { name, format, rows, cols, rowBytes: (cols / format.blockSize) * format.typeSize, ...weightBytes(t.data) };
  }
  /** A small vector (norm weight, bias), dequantized to its own Float32Array. */
  vector(name: string, n: number): Float32Array {
    const t = this.get(name);
    this.checkShape(t, [n]);
    const out = this.alloc(n);
    quantFormat(t.type, name).dequantize(t.data, 0, out, 0, n);
    return out;
  }
  optionalVector(name: string, n: number): Float32Array | null {
    return this.has(name) ? this.vector(name, n) : null;
  }
  shapeOf(name: string): number[] {
    return this.get(name).shape;
  }
}
