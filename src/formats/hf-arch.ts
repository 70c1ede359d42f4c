// The Hugging Face <-> GGUF naming shared by hf-folder.ts (import) and hf-export.ts (export): which
// model_type is which llama.cpp architecture, tensor name lookups over gguf-names.ts's tables, the
// q/k row permutation that llama.cpp's converter applies for adjacent-pair RoPE, and the llama3
// rope_freqs formula.
// Keys and value types follow llama.cpp's convert_hf_to_gguf.py. No file I/O here.

import { ModelError, UnsupportedError } from '../core/errors.js';
import { BLOCK, HF_BITNET_ALIASES, HF_BLOCK_NAMES, HF_EXPERT_NAMES, HF_FAMILY_BLOCK_NAMES, HF_GLOBAL_NAMES, HF_PHI2_GLOBAL_NAMES, blockName, splitBlockName } from './gguf-names.js';

export interface HFArchSpec {
  /** llama.cpp architecture name, the prefix of every hparam key. */
  arch: 'llama' | 'qwen2' | 'qwen3' | 'minicpm' | 'qwen2moe' | 'qwen3moe' | 'phi2' | 'phi3' | 'gemma3' | 'minicpm3' | 'bitnet';
  modelType: string;
  hfClass: string;
  /** llama.cpp rotates adjacent pairs for this arch, HF rotates halves: q/k rows are permuted. */
  permuteQK: boolean;
  /** Block names of its own over the Llama ones (gguf-names.ts HF_FAMILY_BLOCK_NAMES). */
  family?: keyof typeof HF_FAMILY_BLOCK_NAMES;
  /** Per-expert checkpoint tensors, stacked into one GGUF tensor per layer and projection. */
  experts?: boolean;
  /** The checkpoint's RMSNorm weights are stored minus this (Gemma: x * (1 + w)); GGUF holds them with it added. */
  normShift?: number;
}

export const HF_ARCHS: readonly HFArchSpec[] = [
  { arch: 'llama', modelType: 'llama', hfClass: 'LlamaForCausalLM', permuteQK: true },
  { arch: 'qwen2', modelType: 'qwen2', hfClass: 'Qwen2ForCausalLM', permuteQK: false },
  { arch: 'qwen3', modelType: 'qwen3', hfClass: 'Qwen3ForCausalLM', permuteQK: false },
  { arch: 'minicpm', modelType: 'minicpm', hfClass: 'MiniCPMForCausalLM', permuteQK: true },
  { arch: 'qwen2moe', modelType: 'qwen2_moe', hfClass: 'Qwen2MoeForCausalLM', permuteQK: false, family: 'moe', experts: true },
  { arch: 'qwen3moe', modelType: 'qwen3_moe', hfClass: 'Qwen3MoeForCausalLM', permuteQK: false, family: 'moe', experts: true },
  { arch: 'phi2', modelType: 'phi', hfClass: 'PhiForCausalLM', permuteQK: false, family: 'phi2' },
  { arch: 'phi3', modelType: 'phi3', hfClass: 'Phi3ForCausalLM', permuteQK: false, family: 'phi3' },
  { arch: 'gemma3', modelType: 'gemma3_text', hfClass: 'Gemma3ForCausalLM', permuteQK: false, family: 'gemma3', normShift: 1 },
  { arch: 'minicpm3', modelType: 'minicpm3', hfClass: 'MiniCPM3ForCausalLM', permuteQK: false, family: 'mla' },
  { arch: 'bitnet', modelType: 'bitnet', hfClass: 'BitNetForCausalLM', permuteQK: false, family: 'bitnet' },
];

const SUPPORTED = HF_ARCHS.map((a) => a.modelType).join(', ');

/** The architecture of a config.json: by model_type, else by architectures[0]. */
export function archFromConfig(cfg: Record<string, unknown>, file: string): HFArchSpec {
  const mt = cfg['model_type'];
  const classes = Array.isArray(cfg['architectures']) ? (cfg['architectures'] as unknown[]) : [];
  if (typeof mt === 'string') {
    const spec = HF_ARCHS.find((a) => a.modelType === mt);
    if (spec) return withExperts(spec, typeof cfg['num_experts'] === 'number' && cfg['num_experts'] > 0);
    throw new UnsupportedError(`${file}: model_type ${JSON.stringify(mt)} is not supported (lutra loads ${SUPPORTED})`);
  }
  // 1bitLLM's BitNet b1.58 checkpoints spell the class BitnetForCausalLM.
  const spec = HF_ARCHS.find((a) => a.hfClass === classes[0] || (a.arch === 'bitnet' && classes[0] === 'BitnetForCausalLM'));
  if (spec) return spec;
  throw new UnsupportedError(`${file}: architecture ${JSON.stringify(classes[0] ?? null)} is not supported (no model_type; lutra loads ${SUPPORTED})`);
}

/** `hasExperts`: the file states experts (hpKey expert_count), for the families that may or may not have them. */
export function archFromGGUF(arch: string, hasExperts = false): HFArchSpec {
  const spec = HF_ARCHS.find((a) => a.arch === arch);
  if (!spec) throw new UnsupportedError(`general.architecture ${JSON.stringify(arch)} cannot be exported to Hugging Face (lutra exports ${SUPPORTED})`);
  return withExperts(spec, hasExperts);
}

/** MiniCPM-MoE is MiniCPM with a Qwen-MoE-style block (mlp.gate, mlp.experts.{e}.*_proj): the same model_type, experts where the config has them. */
function withExperts(spec: HFArchSpec, hasExperts: boolean): HFArchSpec {
  return spec.arch === 'minicpm' && hasExperts ? { ...spec, family: 'moe', experts: true } : spec;
}

// ---------------------------------------------------------------- tensor names

const HF_TO_GGUF = new Map(HF_GLOBAL_NAMES);
const GGUF_TO_HF = new Map(HF_GLOBAL_NAMES.map(([h, g]) => [g, h]));
const PHI2_TO_GGUF = new Map(HF_PHI2_GLOBAL_NAMES);
const GGUF_TO_PHI2 = new Map(HF_PHI2_GLOBAL_NAMES.map(([h, g]) => [g, h]));

/** Block names of a family: the Llama table with the family's entries in place of the ones they rename. */
function blockTables(family: HFArchSpec['family']): { hf: Map<string, string>; gguf: Map<string, string> } {
  const own = family ? HF_FAMILY_BLOCK_NAMES[family] : [];
  const rows = [...HF_BLOCK_NAMES.filter(([h, g]) => !own.some(([h2, g2]) => h2 === h || g2 === g)), ...own];
  const aliases = family === 'bitnet' ? HF_BITNET_ALIASES : [];
  return { hf: new Map([...rows, ...aliases]), gguf: new Map(rows.map(([h, g]) => [g, h])) };
}
const BLOCK_TABLES = new Map<HFArchSpec['family'], ReturnType<typeof blockTables>>();
function tables(spec: Pick<HFArchSpec, 'family'> | undefined) {
  const f = spec?.family;
  let t = BLOCK_TABLES.get(f);
  if (!t) BLOCK_TABLES.set(f, (t = blockTables(f)));
  return t;
}
const EXPERT_TO_GGUF = new Map(HF_EXPERT_NAMES);
const GGUF_TO_EXPERT = new Map(HF_EXPERT_NAMES.map(([h, g]) => [g, h]));

/** Checkpoint entries the converter drops: buffers that transformers recomputes. */
export function isIgnoredHFTensor(name: string): boolean {
  return name.endsWith('.rotary_emb.inv_freq');
}

/** The GGUF name of a checkpoint tensor in `spec`'s family (the Llama names without one). */
export function hfToGGUFName(name: string, spec?: Pick<HFArchSpec, 'family'>): string | undefined {
  const g = (spec?.family === 'phi2' ? PHI2_TO_GGUF.get(name) : undefined) ?? HF_TO_GGUF.get(name);
  if (g) return g;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  const suffix = m && tables(spec).hf.get(m[2]!);
  return suffix ? blockName(Number(m![1]), suffix) : undefined;
}

export function ggufToHFName(name: string, spec?: Pick<HFArchSpec, 'family'>): string | undefined {
  const h = (spec?.family === 'phi2' ? GGUF_TO_PHI2.get(name) : undefined) ?? GGUF_TO_HF.get(name);
  if (h) return h;
  const b = splitBlockName(name);
  const suffix = b && tables(spec).gguf.get(b.rest);
  return suffix ? `model.layers.${b.layer}.${suffix}` : undefined;
}

/** One expert's checkpoint tensor: the stacked GGUF tensor it belongs to and its index there. */
export function hfExpertName(name: string): { gguf: string; expert: number } | undefined {
  const m = /^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(.+)$/.exec(name);
  const suffix = m && EXPERT_TO_GGUF.get(m[3]!);
  return suffix ? { gguf: blockName(Number(m![1]), suffix), expert: Number(m![2]) } : undefined;
}

/** The checkpoint name of expert `expert` of a stacked GGUF expert tensor, or undefined if it is not one. */
export function ggufExpertHFName(name: string, expert: number): string | undefined {
  const b = splitBlockName(name);
  const suffix = b && GGUF_TO_EXPERT.get(b.rest);
  return suffix ? `model.layers.${b.layer}.mlp.experts.${expert}.${suffix}` : undefined;
}

/** An RMSNorm weight of a family that stores them shifted (Gemma's 1 + w): every `*norm.weight`. */
export function isShiftedNorm(ggufName: string): boolean {
  return ggufName.endsWith('norm.weight');
}

/** Which head count permutes this tensor (GGUF name), or undefined if it is not q/k. */
export function qkHeads(ggufName: string, nHead: number, nHeadKv: number): number | undefined {
  const rest = splitBlockName(ggufName)?.rest;
  if (rest === `${BLOCK.attnQ}.weight` || rest === `${BLOCK.attnQ}.bias`) return nHead;
  if (rest === `${BLOCK.attnK}.weight` || rest === `${BLOCK.attnK}.bias`) return nHeadKv;
  return undefined;
}

// ---------------------------------------------------------------- q/k permutation

/**
 * llama.cpp's `LlamaModel.permute` on the rows of a row-major matrix (or a bias, one element per
 * row): reshape(nHead, 2, rows/nHead/2, cols).swapaxes(1, 2), i.e. within each head row i of the
 * first half goes to 2i and row i of the second half to 2i+1. `inverse` undoes it. Returns a copy.
 */
export function permuteRows(data: Uint8Array, rows: number, nHead: number, inverse: boolean, what: string): Uint8Array {
  if (rows <= 0 || nHead <= 0 || rows % (2 * nHead) !== 0 || data.byteLength % rows !== 0) {
    throw new ModelError(`${what}: ${rows} rows cannot be split into ${nHead} heads of even size for the RoPE permutation`);
  }
  const rowBytes = data.byteLength / rows;
  const headRows = rows / nHead;
  const half = headRows / 2;
  const out = new Uint8Array(data.byteLength);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const paired = h * headRows + 2 * i + j; // llama.cpp (adjacent pairs) order
        const halves = h * headRows + j * half + i; // HF (rotate_half) order
        const [dst, src] = inverse ? [halves, paired] : [paired, halves];
        out.set(data.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- llama3 rope

export interface Llama3RopeParams {
  base: number;
  /** Rotary dimension (head_dim); the result has dim/2 entries. */
  dim: number;
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContext: number;
}

/**
 * The rope_freqs.weight values of convert_hf_to_gguf.py's LlamaModel.generate_extra_tensors, with
 * torch's float32 arithmetic emulated step by step (`a / t` on a tensor is `t.reciprocal() * a`).
 * The one op not reproduced bit for bit is torch's float32 pow, which may differ by an ulp.
 */
export function llama3RopeFreqs(p: Llama3RopeParams): Float32Array {
  const f = Math.fround;
  const lowWavelen = p.originalContext / p.lowFreqFactor;
  const highWavelen = p.originalContext / p.highFreqFactor;
  if (lowWavelen === highWavelen) throw new ModelError(`llama3 rope_scaling: low_freq_factor and high_freq_factor must differ`);
  const twoPi = f(2 * Math.PI);
  const out = new Float32Array(Math.floor(p.dim / 2));
  for (let i = 0; i < out.length; i++) {
    const freq = f(1 / f(Math.pow(p.base, f((2 * i) / p.dim))));
    const wavelen = f(f(1 / freq) * twoPi);
    if (wavelen < f(highWavelen)) out[i] = 1;
    else if (wavelen > f(lowWavelen)) out[i] = p.factor;
    else {
      const smooth = f(f(f(f(1 / wavelen) * f(p.originalContext)) - f(p.lowFreqFactor)) / f(p.highFreqFactor - p.lowFreqFactor));
      out[i] = f(1 / f(f(f(1 - smooth) / f(p.factor)) + smooth));
    }
  }
  return out;
}

// ---------------------------------------------------------------- metadata values

/** The shortest decimal that reads back as the same float32 (1e-5, not 9.999999747378752e-6). */
export function shortestF32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === Math.fround(x)) return y;
  }
  return x;
}

// ---------------------------------------------------------------- BitNet ternary weights

/** BitNet's projections, which its converter stores ternary (weight_quant); the embedding and norms are not. */
export function isBitnetTernary(ggufName: string): boolean {
  const rest = splitBlockName(ggufName)?.rest;
  return rest !== undefined && [BLOCK.attnQ, BLOCK.attnK, BLOCK.attnV, BLOCK.attnOutput, BLOCK.ffnGate, BLOCK.ffnUp, BLOCK.ffnDown].some((b) => rest === `${b}.weight`);
}

/**
 * convert_hf_to_gguf's BitnetModel.weight_quant, in place: scale = max(mean |w|, 1e-5), then
 * round(w / scale) clamped to -1..1, times scale (float32 arithmetic as torch's).
 */
export function bitnetWeightQuant(w: Float32Array): void {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += Math.abs(w[i]!);
  const scale = Math.fround(Math.max(Math.fround(sum / w.length), 1e-5));
  const iscale = Math.fround(1 / scale);
  for (let i = 0; i < w.length; i++) w[i] = Math.fround(Math.max(-1, Math.min(1, roundHalfEven(Math.fround(w[i]! * iscale)))) / iscale);
}

/** torch.round: halves to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * The checkpoint weights of a ternary GGUF matrix t * s (t in -1/0/1): t * s / p, p the share of
 * non-zero entries, so that weight_quant (the converter's, and BitNet's own forward) gives back
 * t * s: mean |w| is then s, and each +-s/p rounds to +-1.
 */
export function bitnetUnquant(w: Float32Array): Float32Array {
  let nz = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) nz++;
  const p = nz / w.length || 1;
  return w.map((x) => x / p);
}
