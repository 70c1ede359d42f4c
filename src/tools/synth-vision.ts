// `lutra synth` vision presets: a projector (mmproj) GGUF with random weights, written with the keys
// and tensor names llama.cpp's mtmd reads, and (for the tiny pairs) a tiny LLM whose vocabulary has
// the image / slice tokens its layout needs and a ChatML template. Tiny pairs are for parity with
// llama-mtmd-cli; 'siglip-400m' is MiniCPM-V 4.0's encoder shape, for the speed bench.

import { ArgumentError } from '../core/errors.js';
import { GGUFType, writeGGUF, type GGUFTensorToWrite, type GGUFValue } from '../formats/gguf.js';
import { quantFormat, ggmlTypeName } from '../quant/table.js';
import { CLIP, MT, VT } from '../vision/names.js';
import type { ProjectorType } from '../vision/types.js';
import { synthesize, writeChunks, type ExtraTokens, type Preset } from './synth.js';

interface ClipSpec {
  type: ProjectorType;
  minicpmvVersion?: number;
  queryNum?: number;
  imageSize: number; patchSize: number; nEmbd: number; nFf: number; nLayer: number; nHead: number;
  gelu: boolean; preLn: boolean; postLn: boolean; classEmbd: boolean;
  /** Width of the embeddings out (the LLM's n_embd); the MLP's hidden width. */
  nEmbdOut: number; mlpHidden?: number;
  scaleFactor?: number; preprocImageSize?: number;
}

export interface VisionPreset {
  clip: ClipSpec;
  llm?: Preset;
  tokens?: ExtraTokens;
  about: string;
}

const CHATML = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const CHAT_TOKENS = ['<|im_start|>', '<|im_end|>'];
const tinyLlm = (arch: Preset['arch']): Preset => ({ arch, nEmbd: 128, nLayer: 2, nHead: 2, nHeadKv: 1, headDim: 64, nFF: 256, nVocab: 512, ctx: 4096, ropeBase: 10000, eps: 1e-5, tied: true });
const IDEFICS3_GRID = Array.from({ length: 36 }, (_, i) => `<row_${Math.floor(i / 6) + 1}_col_${(i % 6) + 1}>`);

export const VISION_PRESETS: Record<string, VisionPreset> = {
  'tiny-minicpmv': {
    about: 'SigLIP-style encoder (64 wide, 2 blocks, 56-pixel slices) + MiniCPM-V 4.0 resampler (4 queries) and a tiny minicpm LLM with the slice tokens',
    clip: { type: 'resampler', minicpmvVersion: 5, queryNum: 4, imageSize: 56, patchSize: 14, nEmbd: 64, nFf: 128, nLayer: 2, nHead: 4, gelu: true, preLn: false, postLn: true, classEmbd: false, nEmbdOut: 128 },
    llm: tinyLlm('minicpm'),
    tokens: { control: CHAT_TOKENS, user: ['<image>', '</image>', '<slice>', '</slice>'] },
  },
  'tiny-llava': {
    about: 'CLIP-style encoder (class embedding, pre-norm, quick GELU, 3 blocks of which LLaVA uses 2) + LLaVA-1.5 MLP and a tiny llama LLM',
    clip: { type: 'mlp', imageSize: 56, patchSize: 14, nEmbd: 64, nFf: 128, nLayer: 3, nHead: 4, gelu: false, preLn: true, postLn: false, classEmbd: true, nEmbdOut: 128, mlpHidden: 128 },
    llm: tinyLlm('llama'),
    tokens: { control: CHAT_TOKENS },
  },
  'tiny-smolvlm': {
    about: 'SigLIP-style encoder (64-pixel tiles of 16-pixel patches) + idefics3 pixel shuffle (x2) and linear, and a tiny llama LLM with the tile tokens',
    clip: { type: 'idefics3', imageSize: 64, patchSize: 16, nEmbd: 64, nFf: 128, nLayer: 2, nHead: 4, gelu: true, preLn: false, postLn: true, classEmbd: false, nEmbdOut: 128, scaleFactor: 2, preprocImageSize: 128 },
    llm: tinyLlm('llama'),
    tokens: { control: CHAT_TOKENS, user: ['<fake_token_around_image>', '<global-img>', '\n\n', ...IDEFICS3_GRID] },
  },
  'siglip-400m': {
    about: "MiniCPM-V 4.0's encoder shape (SigLIP-400M: 1152 wide, 27 blocks, 16 heads, FFN 4304, 448-pixel slices) + resampler to 2560 (64 queries); projector only",
    clip: { type: 'resampler', minicpmvVersion: 5, queryNum: 64, imageSize: 448, patchSize: 14, nEmbd: 1152, nFf: 4304, nLayer: 27, nHead: 16, gelu: true, preLn: false, postLn: true, classEmbd: false, nEmbdOut: 2560 },
  },
};

/** Deterministic xorshift values in [-scale, scale] (plus `center`). */
function random(n: number, seed: number, scale: number, center = 0): Float32Array {
  const out = new Float32Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = center + ((x / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

const F32 = 0, F16 = 1;

/** The projector GGUF of a spec: matrices in `type` where their rows allow it (else F16), vectors F32. */
export function projectorGGUF(c: ClipSpec, type: number, name: string): Uint8Array[] {
  const tensors: GGUFTensorToWrite[] = [];
  let seed = 101;
  const put = (tname: string, shape: number[], values: Float32Array, t: number) => {
    const fmt = quantFormat(t, tname);
    const data = new Uint8Array((values.length / fmt.blockSize) * fmt.typeSize);
    fmt.quantize!(values, 0, data, 0, values.length);
    tensors.push({ name: tname, shape, type: t, data });
  };
  const matrix = (tname: string, cols: number, rows: number) => {
    const t = cols % quantFormat(type).blockSize === 0 ? type : F16;
    put(tname, [cols, rows], random(cols * rows, seed++, 1 / Math.sqrt(cols)), t);
  };
  const vector = (tname: string, n: number, scale: number, center = 0) => put(tname, [n], random(n, seed++, scale, center), F32);
  const norm = (w: string, b: string, n: number) => { vector(w, n, 0.1, 1); vector(b, n, 0.1); };
  const { nEmbd: n, nFf, patchSize: p, imageSize } = c;

  put(VT.patchEmbd, [p, p, 3, n], random(p * p * 3 * n, seed++, 1 / Math.sqrt(3 * p * p)), F16);
  vector(VT.patchBias, n, 0.1);
  if (c.classEmbd) vector(VT.classEmbd, n, 0.5);
  const side = imageSize / p;
  const posRows = c.type === 'resampler' ? 70 * 70 : side * side + (c.classEmbd ? 1 : 0);
  put(VT.posEmbd, [n, posRows], random(n * posRows, seed++, 0.5), F32);
  if (c.preLn) norm(VT.preLn('weight'), VT.preLn('bias'), n);
  for (let l = 0; l < c.nLayer; l++) {
    norm(VT.blk(l, 'ln1', 'weight'), VT.blk(l, 'ln1', 'bias'), n);
    for (const t of ['attn_q', 'attn_k', 'attn_v', 'attn_out'] as const) { matrix(VT.blk(l, t, 'weight'), n, n); vector(VT.blk(l, t, 'bias'), n, 0.1); }
    norm(VT.blk(l, 'ln2', 'weight'), VT.blk(l, 'ln2', 'bias'), n);
    matrix(VT.blk(l, 'ffn_up', 'weight'), n, nFf); vector(VT.blk(l, 'ffn_up', 'bias'), nFf, 0.1);
    matrix(VT.blk(l, 'ffn_down', 'weight'), nFf, n); vector(VT.blk(l, 'ffn_down', 'bias'), n, 0.1);
  }
  if (c.postLn) norm(VT.postLn('weight'), VT.postLn('bias'), n);

  const D = c.nEmbdOut;
  if (c.type === 'resampler') {
    put(MT.query, [D, c.queryNum!], random(D * c.queryNum!, seed++, 1), F32);
    matrix(MT.kv, n, D);
    for (const t of ['q', 'kv', 'post'] as const) norm(MT.ln(t, 'weight'), MT.ln(t, 'bias'), D);
    for (const t of ['q', 'k', 'v', 'out'] as const) { matrix(MT.attn(t, 'weight'), D, D); vector(MT.attn(t, 'bias'), D, 0.1); }
    matrix(MT.proj, D, D);
    // Present in every MiniCPM-V mmproj (mtmd requires it) though the graph computes the keys' positions itself.
    put(MT.posEmbdK, [D, 70 * 70], random(D * 70 * 70, seed++, 1), F16);
  } else if (c.type === 'mlp') {
    matrix(MT.mlp(0, 'weight'), n, c.mlpHidden!); vector(MT.mlp(0, 'bias'), c.mlpHidden!, 0.1);
    matrix(MT.mlp(2, 'weight'), c.mlpHidden!, D); vector(MT.mlp(2, 'bias'), D, 0.1);
  } else {
    matrix(MT.idefics3Fc, n * c.scaleFactor! ** 2, D);
  }

  const meta = new Map<string, GGUFValue>([
    ['general.architecture', { type: GGUFType.STRING, value: 'clip' }],
    ['general.name', { type: GGUFType.STRING, value: name }],
    [CLIP.hasVision, { type: GGUFType.BOOL, value: true }],
    [CLIP.projectorType, { type: GGUFType.STRING, value: c.type }],
    [CLIP.useGelu, { type: GGUFType.BOOL, value: c.gelu }],
    [CLIP.imageSize, { type: GGUFType.UINT32, value: imageSize }],
    [CLIP.patchSize, { type: GGUFType.UINT32, value: p }],
    [CLIP.nEmbd, { type: GGUFType.UINT32, value: n }],
    [CLIP.nFf, { type: GGUFType.UINT32, value: nFf }],
    [CLIP.nLayer, { type: GGUFType.UINT32, value: c.nLayer }],
    [CLIP.nHead, { type: GGUFType.UINT32, value: c.nHead }],
    [CLIP.projectionDim, { type: GGUFType.UINT32, value: D }],
    [CLIP.eps, { type: GGUFType.FLOAT32, value: 1e-6 }],
    [CLIP.imageMean, { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: Float32Array.of(0.5, 0.5, 0.5) }],
    [CLIP.imageStd, { type: GGUFType.ARRAY, itemType: GGUFType.FLOAT32, value: Float32Array.of(0.5, 0.5, 0.5) }],
  ]);
  if (c.type === 'resampler') {
    meta.set(CLIP.minicpmvVersion, { type: GGUFType.INT32, value: c.minicpmvVersion! });
    meta.set(CLIP.minicpmvQueryNum, { type: GGUFType.UINT32, value: c.queryNum! });
  }
  if (c.type === 'idefics3') {
    meta.set(CLIP.scaleFactor, { type: GGUFType.UINT32, value: c.scaleFactor! });
    meta.set(CLIP.preprocImageSize, { type: GGUFType.UINT32, value: c.preprocImageSize! });
  }
  return writeGGUF(meta, tensors);
}

export interface VisionSynthResult { mmproj: string; mmprojBytes: number; llm?: string; llmBytes?: number; matrixType: string }

/**
 * Write a vision preset: the projector to `mmproj`, and its LLM to `llm` when the preset has one.
 * `typeName` (F16, Q8_0, Q4_0, F32) is the projector's matrix type; the LLM takes it too.
 */
export async function synthesizeVision(presetName: string, typeName: string, files: { mmproj: string; llm?: string }): Promise<VisionSynthResult> {
  const p = VISION_PRESETS[presetName];
  if (!p) throw new ArgumentError(`unknown vision preset ${JSON.stringify(presetName)} (known: ${Object.keys(VISION_PRESETS).join(', ')})`);
  const types: Record<string, number> = { F32, F16, Q8_0: 8, Q4_0: 2 };
  const type = types[typeName.toUpperCase()];
  if (type === undefined) throw new ArgumentError(`--type ${typeName}: a vision projector is written as F32, F16, Q8_0 or Q4_0`);
  if (p.llm && !files.llm) throw new ArgumentError(`preset ${presetName} writes a projector and an LLM: give -o for the LLM and --mmproj for the projector`);
  const mmprojBytes = await writeChunks(files.mmproj, projectorGGUF(p.clip, type, `lutra-synth ${presetName} mmproj (random weights)`));
  const out: VisionSynthResult = { mmproj: files.mmproj, mmprojBytes, matrixType: ggmlTypeName(type) };
  if (p.llm && files.llm) {
    const r = await synthesize(presetName, typeName, files.llm, { preset: p.llm, extraTokens: p.tokens, chatTemplate: CHATML, pure: true });
    out.llm = files.llm; out.llmBytes = r.bytes;
  }
  return out;
}
