// A model's tensors in f32, in memory, for the methods that rewrite several tensors together
// (equalization, smoothing, rotation, bias correction): read from GGUF bytes, edit, write back as
// an F32 GGUF that `quantizeFile` or `loadModel` take. Knows the llama-family tensor names only.

import { parseGGUF, writeGGUF, concatChunks, GGUFType, type GGUFTensorInfo, type GGUFValue } from '../formats/gguf.js';
import { GENERAL, blk, hpKey, type HParamKey } from '../formats/gguf-names.js';
import { quantFormat } from '../quant/table.js';
import { ModelError } from '../core/errors.js';

export interface F32Tensor {
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  data: Float32Array;
}

export interface F32Model {
  metadata: Map<string, GGUFValue>;
  tensors: Map<string, F32Tensor>;
  arch: string;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
}

/**
 * A GGUF file's bytes, or a model already parsed (a split GGUF's merged shards), decoded to f32. The
 * split.* keys are dropped: what is written back is one whole file.
 */
export function readF32Model(input: Uint8Array | { metadata: Map<string, GGUFValue>; tensors: GGUFTensorInfo[] }, file = '<bytes>'): F32Model {
  const parsed = input instanceof Uint8Array ? parseGGUF(input, file) : input;
  const g = { metadata: new Map([...parsed.metadata].filter(([k]) => !k.startsWith('split.'))), tensors: parsed.tensors };
  const tensors = new Map<string, F32Tensor>();
  for (const t of g.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    quantFormat(t.type, t.name).dequantize(t.data, 0, data, 0, n);
    tensors.set(t.name, { shape: [...t.shape], data });
  }
  const arch = String(g.metadata.get(GENERAL.architecture)?.value ?? '');
  const num = (k: HParamKey) => {
    const v = g.metadata.get(hpKey(arch, k));
    return v ? Number(v.type === GGUFType.ARRAY ? (v.value as ArrayLike<number>)[0] : v.value) : 0;
  };
  const nHead = num('headCount');
  return { metadata: g.metadata, tensors, arch, nLayer: num('blockCount'), nHead, nHeadKv: num('headCountKv') || nHead };
}

export function writeF32Model(m: F32Model): Uint8Array {
  const tensors = [...m.tensors].map(([name, t]) => ({ name, shape: t.shape, type: 0, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) }));
  return concatChunks(writeGGUF(m.metadata, tensors));
}

export function tensor(m: F32Model, name: string): F32Tensor {
  const t = m.tensors.get(name);
  if (!t) throw new ModelError(`missing tensor ${name}`);
  return t;
}

/** W[:, j] *= s[j] for a [rows, cols] matrix (ggml shape [cols, rows]). */
export function scaleCols(t: F32Tensor, s: ArrayLike<number>): void {
  const cols = t.shape[0]!, rows = t.data.length / cols;
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) t.data[r * cols + j] *= s[j]!;
}

/** W[i, :] *= s[i]. */
export function scaleRows(t: F32Tensor, s: ArrayLike<number>): void {
  const cols = t.shape[0]!, rows = t.data.length / cols;
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) t.data[r * cols + j] *= s[r]!;
}

/** The matrices of layer l that read the same input, and what produces that input. */
export interface InputGroup {
  /** Tensor whose per-channel scale feeds the group: a norm weight (vector) or a matrix's rows. */
  source: { name: string; kind: 'norm' | 'rows'; rowOf?: (col: number) => number };
  consumers: string[];
}

/** Equivalence-transform sites of a llama-family layer: norm -> q/k/v, norm -> gate/up, up -> down, v -> o. */
export function layerGroups(m: F32Model, l: number): InputGroup[] {
  const groups: InputGroup[] = [
    { source: { name: blk(l, 'attnNorm'), kind: 'norm' }, consumers: [blk(l, 'attnQ'), blk(l, 'attnK'), blk(l, 'attnV')] },
    { source: { name: blk(l, 'ffnNorm'), kind: 'norm' }, consumers: [blk(l, 'ffnGate'), blk(l, 'ffnUp')] },
    { source: { name: blk(l, 'ffnUp'), kind: 'rows' }, consumers: [blk(l, 'ffnDown')] },
  ];
  const hd = tensor(m, blk(l, 'attnV')).data.length / tensor(m, blk(l, 'attnV')).shape[0]! / m.nHeadKv;
  const group = m.nHead / m.nHeadKv;
  // o's input channel h*hd + d is v's output row (h/group)*hd + d.
  groups.push({ source: { name: blk(l, 'attnV'), kind: 'rows', rowOf: (c) => Math.floor(Math.floor(c / hd) / group) * hd + (c % hd) }, consumers: [blk(l, 'attnOutput')] });
  return groups.filter((g) => m.tensors.has(g.source.name) && g.consumers.every((c) => m.tensors.has(c)));
}

/**
 * Move a per-input-channel scale from the consumers to the source: consumers' column j times s[j],
 * the source's channel j divided by it (so the model computes the same function).
 */
export function foldInputScale(m: F32Model, g: InputGroup, s: Float64Array): void {
  for (const c of g.consumers) scaleCols(tensor(m, c), s);
  const src = tensor(m, g.source.name);
  if (g.source.kind === 'norm') {
    for (let j = 0; j < src.data.length; j++) src.data[j] /= s[j]!;
    return;
  }
  const rows = src.data.length / src.shape[0]!;
  const inv = new Float64Array(rows).fill(1);
  if (g.source.rowOf) {
    // Several input channels may share a source row (grouped-query attention): they must agree.
    for (let c = 0; c < s.length; c++) inv[g.source.rowOf(c)] = 1 / s[c]!;
  } else {
    for (let c = 0; c < s.length; c++) inv[c] = 1 / s[c]!;
  }
  scaleRows(src, inv);
}
