// Which type each tensor of a model gets, as llama-quantize decides it (llama.cpp src/llama-quant.cpp):
// the file types (Q4_K_M, Q5_K_S, ...) with their per-tensor mixtures, --pure, per-tensor regex
// overrides, and the fallbacks for rows that are not a multiple of the block size. Pure planning:
// no tensor data is read here.

import { ArgumentError, UnsupportedError } from '../core/errors.js';
import { ggmlTypeByName, ggmlTypeInfo, ggmlTypeName } from '../quant/table.js';
import { encodeLutraType, isLutraType, parseLutraSpec } from '../quant/lutra-types.js';

/** ggml type ids used by the rules below. */
export const T = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q2_K: 10, Q3_K: 11, Q4_K: 12, Q5_K: 13, Q6_K: 14,
  BF16: 30, TQ1_0: 34, TQ2_0: 35, MXFP4: 39,
} as const;

export interface FileType {
  /** llama_ftype value written to general.file_type (LLAMA_FTYPE_GUESSED, 1024, for lutra's own types). */
  id: number;
  name: string;
  /** The type most tensors get. */
  defaultType: number;
  /** lutra's own types: the type id for a tensor with this row length (per-channel scales depend on it). */
  resolve?: (rowLength: number) => number;
}

/** A type for one tensor: a ggml type id, or a lutra type spec resolved against the row length. */
export type TypeChoice = number | ((rowLength: number) => number);
const resolveChoice = (c: TypeChoice, rowLength: number) => (typeof c === 'number' ? c : c(rowLength));

/**
 * A lutra spec's type for a row length; F16 when the rows cannot hold it (3-bit codes in a row of
 * 172 are not whole bytes), as llama.cpp falls back to F16 for unusual shapes.
 */
function resolveSpec(spec: NonNullable<ReturnType<typeof parseLutraSpec>>, rowLength: number): number {
  try {
    return encodeLutraType(spec.resolve(rowLength));
  } catch (e) {
    if (e instanceof ArgumentError) return T.F16;
    throw e;
  }
}

/** llama-quantize's file types that lutra can produce (llama.h LLAMA_FTYPE_*; aliases as quantize.cpp). */
const FILE_TYPES: FileType[] = [
  { id: 0, name: 'F32', defaultType: T.F32 },
  { id: 1, name: 'F16', defaultType: T.F16 },
  { id: 32, name: 'BF16', defaultType: T.BF16 },
  { id: 2, name: 'Q4_0', defaultType: T.Q4_0 },
  { id: 3, name: 'Q4_1', defaultType: T.Q4_1 },
  { id: 8, name: 'Q5_0', defaultType: T.Q5_0 },
  { id: 9, name: 'Q5_1', defaultType: T.Q5_1 },
  { id: 7, name: 'Q8_0', defaultType: T.Q8_0 },
  { id: 10, name: 'Q2_K', defaultType: T.Q2_K },
  { id: 11, name: 'Q3_K_S', defaultType: T.Q3_K },
  { id: 12, name: 'Q3_K_M', defaultType: T.Q3_K },
  { id: 13, name: 'Q3_K_L', defaultType: T.Q3_K },
  { id: 14, name: 'Q4_K_S', defaultType: T.Q4_K },
  { id: 15, name: 'Q4_K_M', defaultType: T.Q4_K },
  { id: 16, name: 'Q5_K_S', defaultType: T.Q5_K },
  { id: 17, name: 'Q5_K_M', defaultType: T.Q5_K },
  { id: 18, name: 'Q6_K', defaultType: T.Q6_K },
  { id: 36, name: 'TQ1_0', defaultType: T.TQ1_0 },
  { id: 37, name: 'TQ2_0', defaultType: T.TQ2_0 },
  { id: 38, name: 'MXFP4_MOE', defaultType: T.MXFP4 },
];
const ALIASES: Record<string, string> = { Q3_K: 'Q3_K_M', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M' };
const FT = Object.fromEntries(FILE_TYPES.map((f) => [f.name, f.id])) as Record<string, number>;

export function fileTypeByName(name: string): FileType {
  const spec = parseLutraSpec(name);
  if (spec) return { id: 1024, name: spec.name, defaultType: resolveSpec(spec, 256), resolve: (rowLength) => resolveSpec(spec, rowLength) };
  const up = name.toUpperCase();
  const f = FILE_TYPES.find((t) => t.name === (ALIASES[up] ?? up));
  if (!f) {
    const known = FILE_TYPES.map((t) => t.name).concat(Object.keys(ALIASES)).join(', ');
    if (up === 'Q2_K_S' || up.startsWith('IQ')) throw new UnsupportedError(`file type ${name} needs an importance matrix or i-quants, which lutra does not produce; use one of ${known}`);
    throw new ArgumentError(`unknown file type ${JSON.stringify(name)}; known: ${known}`);
  }
  return f;
}

export function fileTypeNames(): string[] {
  return FILE_TYPES.map((t) => t.name).concat(Object.keys(ALIASES));
}

export interface ModelInfo {
  arch: string;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  nExpert: number;
}

export interface TensorDesc {
  name: string;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  type: number;
}

export interface PlanOptions {
  fileType: FileType;
  /** Every quantizable tensor gets the default type (llama-quantize --pure). */
  pure?: boolean;
  /** Regex (searched in the lower-cased name pattern, as --tensor-type) -> type; first match wins. */
  overrides?: { pattern: RegExp; type: TypeChoice }[];
  /** Leave output.weight as it is (--leave-output-tensor). */
  leaveOutput?: boolean;
}

export interface PlannedTensor {
  name: string;
  shape: number[];
  from: number;
  to: number;
  /** Why `to` is what it is: 'copy' (not quantizable), 'mixture', 'override', 'pure', 'default', with ' + fallback' when the row length forced another type. */
  reason: string;
  /** The type the rules asked for before the row-length fallback. */
  wanted: number;
}

/** llama.cpp's weight_name_comparer: layer number first (tensors outside blocks first), then name. */
export function llamaTensorOrder(names: string[]): string[] {
  const layer = (n: string) => {
    const m = /^blk\.(\d+)\./.exec(n);
    return m ? Number(m[1]) : -1;
  };
  return [...names].sort((a, b) => layer(a) - layer(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** tensor_allows_quantization for the text-model tensors lutra reads (2D+ weights, not norms or gates). */
export function allowsQuantization(t: TensorDesc, leaveOutput = false): boolean {
  if (nDims(t.shape) < 2) return false;
  const n = t.name;
  if (!n.endsWith('weight')) return false;
  if (n.includes('_norm.weight')) return false;
  if (leaveOutput && n === 'output.weight') return false;
  for (const s of ['ffn_gate_inp.weight', 'ffn_gate_tid2eid.weight', 'altup', 'laurel', 'per_layer_model_proj', 'ssm_conv1d', 'shortconv.conv.weight',
    'indexer.k_proj.weight', 'indexer.q_proj.weight', 'attn_rel_b.weight', '.position_embd', '.rel_pos', '.patch_embd', '.patch_merger', 'time_mix_']) {
    if (n.includes(s)) return false;
  }
  return n !== 'position_embd.weight' && n !== 'token_types.weight';
}

/** ggml_n_dims: trailing dimensions of 1 do not count. */
function nDims(shape: number[]): number {
  let n = shape.length;
  while (n > 1 && shape[n - 1] === 1) n--;
  return n;
}

type Category = 'token_embd' | 'attn_q' | 'attn_v' | 'attn_k' | 'attn_qkv' | 'attn_kv_b' | 'attn_output' | 'ffn_up' | 'ffn_gate' | 'ffn_down' | 'output' | 'other';

function category(name: string): Category {
  if (name === 'output.weight') return 'output';
  if (name === 'token_embd.weight' || name === 'per_layer_token_embd.weight') return 'token_embd';
  if (name.includes('attn_qkv.weight')) return 'attn_qkv';
  if (name.includes('attn_kv_b.weight')) return 'attn_kv_b';
  if (name.includes('attn_v.weight')) return 'attn_v';
  if (name.includes('attn_k.weight')) return 'attn_k';
  if (name.includes('attn_q.weight')) return 'attn_q';
  if (name.includes('attn_output.weight')) return 'attn_output';
  if (name.includes('ffn_up')) return 'ffn_up';
  if (name.includes('ffn_gate')) return 'ffn_gate';
  if (name.includes('ffn_down')) return 'ffn_down';
  return 'other';
}

const isAttnV = (c: Category) => c === 'attn_v' || c === 'attn_qkv' || c === 'attn_kv_b';

/** tensor_type_fallback: the type a tensor gets when its rows do not divide into the wanted blocks. */
export function fallbackType(rowLength: number, wanted: number): number {
  const bs = ggmlTypeInfo(wanted)!.blockSize;
  if (rowLength % bs === 0) return wanted;
  if (isLutraType(wanted)) return T.F16;
  let t: number;
  switch (wanted) {
    case T.Q2_K: case T.Q3_K: case T.TQ1_0: case T.TQ2_0: t = T.Q4_0; break;
    case T.Q4_K: t = T.Q5_0; break;
    case T.Q5_K: t = T.Q5_1; break;
    case T.Q6_K: t = T.Q8_0; break;
    default:
      if (bs <= 32) { t = wanted; break; }
      throw new UnsupportedError(`no fallback type is defined for ${ggmlTypeName(wanted)} (row length ${rowLength})`);
  }
  return rowLength % ggmlTypeInfo(t)!.blockSize === 0 ? t : T.F16;
}

const isQuantized = (t: number) => ggmlTypeInfo(t)!.blockSize > 1;

/**
 * The type of every tensor, in llama.cpp's processing order (the order llama-quantize writes them).
 * Mirrors llama_tensor_get_type for the file types in FILE_TYPES, without an importance matrix.
 */
export function planModel(model: ModelInfo, tensors: TensorDesc[], o: PlanOptions): PlannedTensor[] {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const order = llamaTensorOrder(tensors.map((t) => t.name));
  const ftype = o.fileType.id;
  const defaultType = o.fileType.defaultType;
  const nGqa = model.nHeadKv > 0 ? model.nHead / model.nHeadKv : 1;
  const is70B = model.arch === 'llama' && model.nLayer === 80 && model.nHead !== model.nHeadKv;
  const falcon = model.arch === 'falcon';
  let nAttnV = 0, iAttnV = 0, iFfnDown = 0, iFfnGate = 0, iFfnUp = 0;
  let tied = true;
  for (const n of order) {
    const c = category(n);
    if (isAttnV(c)) nAttnV++;
    if (c === 'output') tied = false;
  }
  const nFfn = model.nLayer;
  // C integer division throughout: n/8 of 5 layers is 0.
  const div = (a: number, b: number) => Math.trunc(a / b);
  const useMoreBits = (i: number, n: number) => i < div(n, 8) || i >= div(7 * n, 8) || (i - div(n, 8)) % 3 === 2;
  const layerOf = (name: string, counter: number): number => {
    if (model.nExpert <= 1) return counter;
    const m = /^blk\.(\d+)\./.exec(name);
    if (!m) throw new UnsupportedError(`cannot determine the layer of tensor ${name}`);
    return Number(m[1]);
  };

  const mixture = (t: TensorDesc, c: Category, newType: number): number => {
    const FTy = FT;
    if (c === 'output' || (tied && c === 'token_embd')) {
      const qk = ggmlTypeInfo(newType)!.blockSize;
      if (ftype === FTy.MXFP4_MOE) return T.Q8_0;
      if (falcon || t.shape[0]! % qk !== 0) return T.Q8_0;
      if (newType !== T.Q8_0) return T.Q6_K;
      return newType;
    }
    if (ftype === FTy.MXFP4_MOE) return (t.shape[2] ?? 1) > 1 ? T.MXFP4 : T.Q8_0;
    if (c === 'token_embd') {
      if (ftype === FTy.TQ1_0 || ftype === FTy.TQ2_0) return T.Q4_K;
      return newType;
    }
    if (isAttnV(c)) {
      if (ftype === FTy.Q2_K) newType = nGqa >= 4 ? T.Q4_K : T.Q3_K;
      else if (ftype === FTy.Q3_K_M) newType = iAttnV < 2 ? T.Q5_K : T.Q4_K;
      else if (ftype === FTy.Q3_K_L) newType = T.Q5_K;
      else if ((ftype === FTy.Q4_K_M || ftype === FTy.Q5_K_M) && useMoreBits(iAttnV, nAttnV)) newType = T.Q6_K;
      else if (ftype === FTy.Q4_K_S && iAttnV < 4) newType = T.Q5_K;
      if (is70B && (newType === T.Q3_K || newType === T.Q4_K)) newType = T.Q5_K;
      if (model.nExpert === 8) newType = T.Q8_0;
      iAttnV++;
      return newType;
    }
    if (c === 'attn_k') return model.nExpert === 8 ? T.Q8_0 : newType;
    if (c === 'ffn_down') {
      const i = layerOf(t.name, iFfnDown), n = nFfn;
      if (ftype === FTy.Q2_K) newType = T.Q3_K;
      else if (ftype === FTy.Q3_K_M) newType = i < div(n, 16) ? T.Q5_K : !falcon || useMoreBits(i, n) ? T.Q4_K : T.Q3_K;
      else if (ftype === FTy.Q3_K_L) newType = falcon ? T.Q4_K : T.Q5_K;
      else if (ftype === FTy.Q4_K_M) {
        if (falcon) newType = i < div(n, 16) ? T.Q6_K : useMoreBits(i, n) ? T.Q5_K : T.Q4_K;
        else if (useMoreBits(i, n)) newType = T.Q6_K;
      } else if (ftype === FTy.Q5_K_M && useMoreBits(i, n)) newType = T.Q6_K;
      else if (ftype === FTy.Q4_K_S && !falcon && i < div(n, 8)) newType = T.Q5_K;
      iFfnDown++;
      return newType;
    }
    if (c === 'attn_output') {
      if (!falcon) {
        if (model.nExpert === 8) {
          if ([FTy.Q2_K, FTy.Q3_K_S, FTy.Q3_K_M, FTy.Q4_K_S, FTy.Q4_K_M].includes(ftype)) newType = T.Q5_K;
        } else if (ftype === FTy.Q2_K) newType = T.Q3_K;
        else if (ftype === FTy.Q3_K_M) newType = T.Q4_K;
        else if (ftype === FTy.Q3_K_L) newType = T.Q5_K;
      } else if (ftype === FTy.Q3_K_L) newType = T.Q4_K;
      return newType;
    }
    if (c === 'ffn_gate') { layerOf(t.name, iFfnGate); iFfnGate++; return newType; }
    if (c === 'ffn_up') { layerOf(t.name, iFfnUp); iFfnUp++; return newType; }
    return newType;
  };

  const out: PlannedTensor[] = [];
  for (const n of order) {
    const t = byName.get(n)!;
    if (!allowsQuantization(t, o.leaveOutput)) {
      out.push({ name: n, shape: t.shape, from: t.type, to: t.type, wanted: t.type, reason: 'copy' });
      continue;
    }
    let to = o.fileType.resolve ? o.fileType.resolve(t.shape[0]!) : defaultType, reason = 'default';
    if (isQuantized(defaultType)) {
      let manual = false;
      for (const ov of o.overrides ?? []) {
        if (ov.pattern.test(n)) {
          to = resolveChoice(ov.type, t.shape[0]!);
          reason = 'override';
          manual = true;
          break;
        }
      }
      if (!manual && !o.pure && !o.fileType.resolve) { to = mixture(t, category(n), to); reason = 'mixture'; }
      else if (!manual) reason = 'pure';
    }
    const wanted = to;
    if (isQuantized(defaultType) && to !== T.F16) to = fallbackType(t.shape[0]!, to);
    if (to !== wanted || (to === T.F16 && isLutraType(defaultType))) reason += ' + fallback';
    out.push({ name: n, shape: t.shape, from: t.type, to, wanted, reason });
  }
  return out;
}

/**
 * Parse a `--keep REGEX=TYPE` override (the pattern is lower-cased, as llama-quantize --tensor-type
 * does). TYPE is a ggml type name or a lutra type spec (int4-g128, e4m3-ch, mxfp8, ...).
 */
export function parseOverride(s: string): { pattern: RegExp; type: TypeChoice } {
  const i = s.lastIndexOf('=');
  if (i <= 0 || i === s.length - 1) throw new ArgumentError(`--keep expects REGEX=TYPE, got ${JSON.stringify(s)}`);
  const src = s.slice(0, i).toLowerCase(), typeName = s.slice(i + 1);
  const spec = parseLutraSpec(typeName);
  const t = spec ? { id: (rowLength: number) => resolveSpec(spec, rowLength) } : ggmlTypeByName(typeName);
  if (!t) throw new ArgumentError(`--keep ${JSON.stringify(s)}: unknown tensor type ${JSON.stringify(typeName)}`);
  let pattern: RegExp;
  try {
    pattern = new RegExp(src);
  } catch (e) {
    throw new ArgumentError(`--keep ${JSON.stringify(s)}: bad regular expression (${(e as Error).message})`);
  }
  return { pattern, type: t.id };
}
