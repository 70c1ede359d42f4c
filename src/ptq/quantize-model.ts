// Quantize a GGUF model file into another, tensor by tensor, as llama-quantize does: the same type
// plan (mixtures.ts), the same tensor order and metadata edits, so a lutra-quantized file can be
// byte-identical to llama-quantize's. The output header is written first (every tensor's type and
// size is known from the plan), then each tensor is converted and written before the next is
// touched: memory holds the input model plus one tensor in f32 and its quantized bytes.

import { open } from 'node:fs/promises';
import { readGGUFModel } from '../runtime/node-io.js';
import { ArgumentError, UnsupportedError, throwIfAborted } from '../core/errors.js';
import { writeGGUF, GGUFType, type GGUFValue, type GGUFTensorInfo } from '../formats/gguf.js';
import { GENERAL, hpKey, type HParamKey } from '../formats/gguf-names.js';
import { quantFormat, ggmlTypeInfo, ggmlTypeName, hasFormat } from '../quant/table.js';
import { planModel, fileTypeByName, type PlannedTensor, type PlanOptions } from './mixtures.js';
import { describeLutraType, isLutraType } from '../quant/lutra-types.js';

/** GGML_QNT_VERSION, written to general.quantization_version. */
export const GGML_QNT_VERSION = 2;

export interface QuantizeOptions extends Omit<PlanOptions, 'fileType'> {
  /** File type name as llama-quantize takes it (Q4_K_M, Q8_0, TQ2_0, ...). */
  type: string;
  /** Allow tensors that are already quantized to be requantized (llama-quantize --allow-requantize). */
  allowRequantize?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: QuantizeProgress) => void;
  /**
   * Replace a tensor's f32 values before it is quantized (methods such as GPTQ or rotation plug in
   * here); return the values to quantize.
   */
  transform?: (t: PlannedTensor, values: Float32Array) => Float32Array;
  /** Produce a tensor's bytes in its planned type directly (GPTQ); undefined falls back to the quantizer. */
  encode?: (t: PlannedTensor, values: Float32Array) => Uint8Array | undefined;
}

export interface QuantizeProgress {
  /** Index of the tensor just finished, and the count. */
  tensor: number;
  tensors: number;
  name: string;
  /** Elements done so far, of the total. */
  done: number;
  total: number;
}

export interface TensorReport {
  name: string;
  shape: number[];
  from: string;
  to: string;
  /** Why it got that type ('copy', 'mixture', 'pure', 'override', '+ fallback'). */
  reason: string;
  bytes: number;
  seconds: number;
  /** ||W - Q(W)|| / ||W|| over the tensor (0 for copies of the same type). */
  relRmse: number;
  maxAbsErr: number;
}

export interface QuantizeSummary {
  input: string;
  output: string;
  fileType: string;
  tensors: TensorReport[];
  inBytes: number;
  outBytes: number;
  /** Elements over all tensors, and tensor bytes * 8 / elements. */
  nElements: number;
  bitsPerWeight: number;
  seconds: number;
}

/** A tensor's model hyper-parameters the plan needs, read from GGUF metadata. */
function modelInfo(md: Map<string, GGUFValue>, file: string) {
  const arch = md.get(GENERAL.architecture);
  if (!arch || arch.type !== GGUFType.STRING) throw new ArgumentError(`${file}: no ${GENERAL.architecture}; lutra quantize needs a model file`);
  const num = (k: HParamKey, dflt: number) => {
    const v = md.get(hpKey(arch.value, k));
    if (!v) return dflt;
    if (v.type === GGUFType.ARRAY) return Number((v.value as ArrayLike<number>)[0] ?? dflt);
    return Number(v.value);
  };
  const nHead = num('headCount', 1);
  return { arch: arch.value, nLayer: num('blockCount', 0), nHead, nHeadKv: num('headCountKv', nHead), nExpert: num('expertCount', 0) };
}

/** A GGUF tensor's data as f32 (a view when it is F32 and aligned, else decoded). */
function toF32(t: GGUFTensorInfo, n: number): Float32Array {
  if (t.type === 0 && t.data.byteOffset % 4 === 0) return new Float32Array(t.data.buffer, t.data.byteOffset, n);
  const out = new Float32Array(n);
  quantFormat(t.type, t.name).dequantize(t.data, 0, out, 0, n);
  return out;
}

/** Quantize the tensors of `input` into `output` (paths). Returns what each tensor became. */
export async function quantizeFile(input: string, output: string, o: QuantizeOptions): Promise<QuantizeSummary> {
  const t0 = performance.now();
  const fileType = fileTypeByName(o.type);
  // A split GGUF (any shard's path) is read whole: all shards' tensors, the first's metadata.
  const g = await readGGUFModel(input);
  const plan = planModel(modelInfo(g.metadata, input), g.tensors, { ...o, fileType });
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  for (const p of plan) {
    if (p.to === p.from) continue;
    const src = byName.get(p.name)!;
    if (!hasFormat(src.type)) throw new UnsupportedError(`tensor ${p.name}: cannot read its type ${ggmlTypeName(src.type)}`);
    if (ggmlTypeInfo(src.type)!.blockSize > 1 && !o.allowRequantize) {
      throw new ArgumentError(`tensor ${p.name} is already ${ggmlTypeName(src.type)}; requantizing loses quality (pass --allow-requantize to do it anyway)`);
    }
    const f = quantFormat(p.to, p.name);
    if (!f.quantize) throw new UnsupportedError(`tensor ${p.name}: lutra cannot quantize to ${ggmlTypeName(p.to)}`);
  }

  // Metadata as llama-quantize writes it: the input's keys minus split info, then the
  // quantization version and file type moved to the end.
  const md = new Map<string, GGUFValue>();
  for (const [k, v] of g.metadata) {
    if (k.startsWith('split.') || k === GENERAL.quantizationVersion || k === GENERAL.fileType) continue;
    md.set(k, v);
  }
  md.set(GENERAL.quantizationVersion, { type: GGUFType.UINT32, value: GGML_QNT_VERSION });
  md.set(GENERAL.fileType, { type: GGUFType.UINT32, value: fileType.id });
  // lutra's own types are described for readers that do not know them (llama.cpp refuses the ids).
  const own = [...new Set(plan.filter((p) => isLutraType(p.to)).map((p) => p.to))].sort((a, b) => a - b);
  if (own.length) {
    md.set('lutra.quantization.type', { type: GGUFType.STRING, value: fileType.name });
    md.set('lutra.quantization.formats', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: own.map(describeLutraType) });
  }

  // Tensor data is produced while writing: each tensor's slot in the chunk list is a placeholder
  // of the right length, filled in when the writer reaches it.
  const sizes = plan.map((p) => tensorSize(p.shape, p.to));
  const placeholders = new Set<Uint8Array>();
  const tensors = plan.map((p, i) => {
    const data = new Uint8Array(0);
    Object.defineProperty(data, 'byteLength', { value: sizes[i] });
    placeholders.add(data);
    return { name: p.name, shape: p.shape, type: p.to, data };
  });
  const chunks = writeGGUF(md, tensors);

  const total = plan.reduce((a, p) => a + nElements(p.shape), 0);
  const reports: TensorReport[] = [];
  let done = 0, next = 0, pos = 0;
  const fh = await open(output, 'w');
  try {
    for (const c of chunks) {
      if (!placeholders.has(c)) {
        await fh.write(c, 0, c.byteLength, pos);
        pos += c.byteLength;
        continue;
      }
      throwIfAborted(o.signal);
      const p = plan[next]!;
      const ts = performance.now();
      const src = byName.get(p.name)!;
      const n = nElements(p.shape);
      let data: Uint8Array, relRmse = 0, maxAbsErr = 0;
      if (p.to === p.from) {
        data = src.data;
      } else {
        let x = toF32(src, n);
        if (o.transform) x = o.transform(p, x);
        const f = quantFormat(p.to, p.name);
        const encoded = o.encode?.(p, x);
        if (encoded && encoded.byteLength !== sizes[next]) throw new Error(`tensor ${p.name}: encoder wrote ${encoded.byteLength} bytes, ${sizes[next]} expected`);
        data = encoded ?? new Uint8Array(sizes[next]!);
        if (!encoded) {
          if (f.quantizeTensor) f.quantizeTensor(x, n / p.shape[0]!, p.shape[0]!, data);
          else f.quantize!(x, 0, data, 0, n);
        }
        ({ relRmse, maxAbsErr } = quantError(x, data, p.to, n));
      }
      await fh.write(data, 0, data.byteLength, pos);
      pos += data.byteLength;
      done += n;
      reports.push({
        name: p.name, shape: p.shape, from: ggmlTypeName(p.from), to: ggmlTypeName(p.to), reason: p.reason,
        bytes: data.byteLength, seconds: (performance.now() - ts) / 1000, relRmse, maxAbsErr,
      });
      o.onProgress?.({ tensor: next, tensors: plan.length, name: p.name, done, total });
      next++;
      // Let a progress bar repaint and an abort land between tensors.
      await new Promise<void>((r) => setImmediate(r));
    }
  } finally {
    await fh.close();
  }
  const tensorBytes = reports.reduce((a, r) => a + r.bytes, 0);
  return {
    input, output, fileType: fileType.name, tensors: reports, inBytes: g.bytes, outBytes: pos,
    nElements: total, bitsPerWeight: (tensorBytes * 8) / total, seconds: (performance.now() - t0) / 1000,
  };
}

function nElements(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function tensorSize(shape: number[], type: number): number {
  const ti = ggmlTypeInfo(type)!;
  return (nElements(shape) / ti.blockSize) * ti.typeSize;
}

/** Relative RMS error and max |error| of a quantized tensor against its f32 source, row block by row block. */
export function quantError(x: Float32Array, q: Uint8Array, type: number, n: number): { relRmse: number; maxAbsErr: number } {
  const f = quantFormat(type);
  const step = f.blockSize * Math.max(1, Math.floor(65536 / f.blockSize));
  const y = new Float32Array(step);
  let se = 0, sx = 0, maxAbsErr = 0;
  for (let i = 0; i < n; i += step) {
    const m = Math.min(step, n - i);
    f.dequantize(q, (i / f.blockSize) * f.typeSize, y, 0, m);
    for (let j = 0; j < m; j++) {
      const e = x[i + j]! - y[j]!;
      se += e * e;
      sx += x[i + j]! * x[i + j]!;
      if (Math.abs(e) > maxAbsErr) maxAbsErr = Math.abs(e);
    }
  }
  return { relRmse: sx > 0 ? Math.sqrt(se / sx) : 0, maxAbsErr };
}
