// Models with random weights in the real shapes of popular small models, for benchmarks (speed
// does not depend on the values). Written as standard GGUF that lutra and llama.cpp both load:
// tensor types chosen by the same rules llama-quantize applies (row-length fallbacks included),
// and a SentencePiece-style vocabulary of the real size whose pieces are made up here.

import { open } from 'node:fs/promises';
import { ArgumentError } from '../core/errors.js';
import { GGUFType, type GGUFValue, type GGUFTensorToWrite } from '../formats/gguf.js';
import type { GGUFHParams } from '../formats/gguf-names.js';
import { buildModelGGUF, decoderTensors } from '../models/gguf-builder.js';
import { familyMetadata, familyTensors, type FamilySpec } from '../models/family-tensors.js';
import { fileTypeByName, planModel, type PlannedTensor } from '../ptq/mixtures.js';
import { quantFormat, ggmlTypeName, tensorBytes } from '../quant/table.js';

export interface Preset {
  arch: 'llama' | 'qwen2' | 'qwen3' | 'minicpm';
  nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; headDim: number; nFF: number; nVocab: number;
  ctx: number; ropeBase: number; eps: number; tied: boolean; qkvBias?: boolean; qkNorm?: boolean;
}

/** Shapes from each model's config.json. */
export const PRESETS: Record<string, Preset> = {
  'qwen2.5-0.5b': { arch: 'qwen2', nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, headDim: 64, nFF: 4864, nVocab: 151936, ctx: 32768, ropeBase: 1e6, eps: 1e-6, tied: true, qkvBias: true },
  'qwen2.5-1.5b': { arch: 'qwen2', nEmbd: 1536, nLayer: 28, nHead: 12, nHeadKv: 2, headDim: 128, nFF: 8960, nVocab: 151936, ctx: 32768, ropeBase: 1e6, eps: 1e-6, tied: true, qkvBias: true },
  'qwen3-0.6b': { arch: 'qwen3', nEmbd: 1024, nLayer: 28, nHead: 16, nHeadKv: 8, headDim: 128, nFF: 3072, nVocab: 151936, ctx: 40960, ropeBase: 1e6, eps: 1e-6, tied: true, qkNorm: true },
  'minicpm4-0.5b': { arch: 'minicpm', nEmbd: 1024, nLayer: 24, nHead: 16, nHeadKv: 2, headDim: 64, nFF: 4096, nVocab: 73448, ctx: 32768, ropeBase: 10000, eps: 1e-6, tied: true },
  'llama-3.2-1b': { arch: 'llama', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, headDim: 64, nFF: 8192, nVocab: 128256, ctx: 131072, ropeBase: 500000, eps: 1e-5, tied: true },
  'tiny': { arch: 'llama', nEmbd: 256, nLayer: 4, nHead: 4, nHeadKv: 2, headDim: 64, nFF: 768, nVocab: 4096, ctx: 2048, ropeBase: 10000, eps: 1e-5, tied: false },
};

/**
 * The families beyond the Llama block, from each model's config.json. Qwen3-30B-A3B does not fit
 * wasm32, so 'moe-small' keeps its ratios (128 experts of 768 with 8 active, 32/4 heads of 128)
 * at nEmbd 1024 and 12 layers: about 1.9B weights, ~0.25B active per token.
 */
export const FAMILY_PRESETS: Record<string, FamilySpec> = {
  'moe-small': { arch: 'qwen3moe', nEmbd: 1024, nLayer: 12, nHead: 16, nHeadKv: 4, headDim: 64, nFF: 3072, nVocab: 151936, ctx: 40960, ropeBase: 1e6, eps: 1e-6, tied: false, moe: { nExpert: 128, nUsed: 8, nFFExp: 384 } },
  'minicpm3-4b': { arch: 'minicpm3', nEmbd: 2560, nLayer: 62, nHead: 40, nHeadKv: 40, headDim: 96, nRot: 32, nFF: 6400, nVocab: 73448, ctx: 32768, ropeBase: 10000, eps: 1e-5, tied: false, mla: { qLora: 768, kvLora: 256, nope: 64, vHead: 64 } },
  'phi-3.5-mini': { arch: 'phi3', nEmbd: 3072, nLayer: 32, nHead: 32, nHeadKv: 32, headDim: 96, nFF: 8192, nVocab: 32064, ctx: 131072, ropeBase: 10000, eps: 1e-5, tied: false },
  'phi-2': { arch: 'phi2', nEmbd: 2560, nLayer: 32, nHead: 32, nHeadKv: 32, headDim: 80, nRot: 32, nFF: 10240, nVocab: 51200, ctx: 2048, ropeBase: 10000, eps: 1e-5, tied: false },
  'gemma-3-270m': { arch: 'gemma3', nEmbd: 640, nLayer: 18, nHead: 4, nHeadKv: 1, headDim: 256, nFF: 2048, nVocab: 262144, ctx: 32768, ropeBase: 1e6, eps: 1e-6, tied: true, swa: { window: 512, pattern: 6, ropeBaseSwa: 10000 } },
  'gemma-3-1b': { arch: 'gemma3', nEmbd: 1152, nLayer: 26, nHead: 4, nHeadKv: 1, headDim: 256, nFF: 6912, nVocab: 262144, ctx: 32768, ropeBase: 1e6, eps: 1e-6, tied: true, swa: { window: 512, pattern: 6, ropeBaseSwa: 10000 } },
  'bitnet-2b': { arch: 'bitnet', nEmbd: 2560, nLayer: 30, nHead: 20, nHeadKv: 5, headDim: 128, nFF: 6912, nVocab: 128256, ctx: 4096, ropeBase: 500000, eps: 1e-5, tied: true },
};

export interface SynthResult {
  file: string;
  bytes: number;
  tensors: PlannedTensor[];
}

/** Deterministic xorshift floats, roughly the scale of trained weights. */
function fill(out: Float32Array, seed: number, scale: number): void {
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = ((x / 4294967296) * 2 - 1) * scale;
  }
}

/** Tokens a vocabulary must hold beside the made-up pieces: control (chat markers) or user-defined (an image's slice markers). */
export interface ExtraTokens { control?: string[]; user?: string[] }

function vocabulary(n: number, extra: ExtraTokens = {}): Map<string, GGUFValue> {
  // <unk>, <s>, </s>, the 256 byte-fallback tokens, the extra tokens, then made-up pieces with descending scores.
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  const types: number[] = [2, 3, 3];
  for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); }
  for (const t of extra.control ?? []) { tokens.push(t); types.push(3); }
  for (const t of extra.user ?? []) { tokens.push(t); types.push(4); }
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  for (let i = 0; tokens.length < n; i++) {
    let s = '', v = i;
    do { s += letters[v % 26]; v = Math.floor(v / 26); } while (v > 0);
    tokens.push((i % 2 ? '▁' : '') + s);
    types.push(1);
  }
  const scores = new Float32Array(n);
  const made = 259 + (extra.control?.length ?? 0) + (extra.user?.length ?? 0);
  for (let i = 0; i < n; i++) scores[i] = i < made ? 0 : -(i - made);
  return new Map<string, GGUFValue>([
    ['tokenizer.ggml.model', { type: GGUFType.STRING, value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: tokens }],
    ['tokenizer.ggml.scores', { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: scores }],
    ['tokenizer.ggml.token_type', { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: Int32Array.from(types) }],
    ['tokenizer.ggml.bos_token_id', { type: GGUFType.UINT32, value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: GGUFType.UINT32, value: 2 }],
    ['tokenizer.ggml.unknown_token_id', { type: GGUFType.UINT32, value: 0 }],
  ]);
}

export interface SynthOptions {
  pure?: boolean;
  onTensor?: (t: PlannedTensor, i: number, n: number) => void;
  /** A preset not in the tables (the LLM half of a vision pair), with the tokens its vocabulary needs and a chat template. */
  preset?: Preset;
  extraTokens?: ExtraTokens;
  chatTemplate?: string;
}

export async function synthesize(presetName: string, typeName: string, file: string, opts: SynthOptions = {}): Promise<SynthResult> {
  const fam = opts.preset ? undefined : FAMILY_PRESETS[presetName];
  const p = opts.preset ?? PRESETS[presetName] ?? (fam ? { ...fam, arch: fam.arch as Preset['arch'] } : undefined);
  if (!p) throw new ArgumentError(`unknown preset ${JSON.stringify(presetName)} (known: ${[...Object.keys(PRESETS), ...Object.keys(FAMILY_PRESETS)].join(', ')})`);
  const ftype = fileTypeByName(typeName);
  const famMeta = fam ? familyMetadata(fam) : undefined;
  const hp: GGUFHParams = famMeta?.hp ?? {
    arch: p.arch, nCtxTrain: p.ctx, nEmbd: p.nEmbd, nFF: p.nFF, nLayer: p.nLayer, nHead: p.nHead, nHeadKv: p.nHeadKv,
    headDim: p.headDim, nRot: p.headDim, ropeBase: p.ropeBase, eps: p.eps,
    scales: p.arch === 'minicpm' ? { emb: 12, residual: 1.4 / Math.sqrt(p.nLayer), logit: p.nEmbd / 256 } : undefined,
  };
  const descs = (fam ? familyTensors(fam) : decoderTensors(hp, { nVocab: p.nVocab, tied: p.tied, qkvBias: !!p.qkvBias, qkNorm: !!p.qkNorm }))
    .map((t) => ({ name: t.name, shape: t.shape, type: 0 }));
  const plan = planModel({ arch: p.arch, nLayer: p.nLayer, nHead: p.nHead, nHeadKv: p.nHeadKv, nExpert: fam?.moe?.nExpert ?? 0 }, descs, { fileType: ftype, pure: opts.pure });
  // Quantize a pool of random rows once per (row length, type) and tile it: values do not matter
  // for speed, and this keeps a 1.5B model's synthesis to seconds instead of minutes.
  const POOL = 64;
  const pools = new Map<string, Uint8Array>();
  const tensors: GGUFTensorToWrite[] = [];
  let seed = 1;
  for (const [i, t] of plan.entries()) {
    const rowLen = t.shape[0]!;
    const nRows = t.shape.slice(1).reduce((x, y) => x * y, 1);
    const fmt = quantFormat(t.to, t.name);
    const isNorm = t.shape.length === 1;
    const rowBytes = tensorBytes(t.to, rowLen);
    const data = new Uint8Array(rowBytes * nRows);
    if (isNorm) {
      const v = new Float32Array(rowLen);
      if (t.name.endsWith('.bias')) fill(v, seed++, 0.1); else v.fill(1);
      fmt.quantize!(v, 0, data, 0, rowLen);
    } else {
      const key = `${rowLen}:${t.to}`;
      let pool = pools.get(key);
      if (!pool) {
        if (!fmt.quantize) throw new ArgumentError(`lutra cannot quantize to ${ggmlTypeName(t.to)} yet`);
        const f = new Float32Array(rowLen * POOL);
        fill(f, seed++, 1 / Math.sqrt(rowLen));
        pool = new Uint8Array(rowBytes * POOL);
        fmt.quantize(f, 0, pool, 0, rowLen * POOL);
        pools.set(key, pool);
      }
      for (let r = 0; r < nRows; r += POOL) data.set(pool.subarray(0, Math.min(POOL, nRows - r) * rowBytes), r * rowBytes);
    }
    tensors.push({ name: t.name, shape: t.shape, type: t.to, data });
    opts.onTensor?.(t, i, plan.length);
  }
  // llama.cpp sets attributes on Phi-3's own control tokens by name when general.name says phi-3 and
  // fails to load a vocabulary without them, so a phi3 preset carries them as the real file does.
  const tokenizer = vocabulary(p.nVocab, opts.extraTokens ?? (fam?.arch === 'phi3' ? { control: ['<|endoftext|>', '<|assistant|>', '<|system|>', '<|end|>', '<|user|>'] } : undefined));
  if (opts.chatTemplate) tokenizer.set('tokenizer.chat_template', { type: GGUFType.STRING, value: opts.chatTemplate });
  const chunks = buildModelGGUF({
    hp, name: `lutra-synth ${presetName} (random weights)`, fileType: ftype.id, quantizationVersion: 2, extraMeta: famMeta?.extra, tokenizer, tensors,
  });
  return { file, bytes: await writeChunks(file, chunks), tensors: plan };
}

/** Write a GGUF's chunks to a file; returns the bytes written. */
export async function writeChunks(file: string, chunks: Uint8Array[]): Promise<number> {
  const fh = await open(file, 'w');
  let bytes = 0;
  try {
    for (const c of chunks) { await fh.write(c); bytes += c.byteLength; }
  } finally {
    await fh.close();
  }
  return bytes;
}
