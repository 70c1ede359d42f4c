// The Llama-family decoder frame that every architecture file shares: its hyper-parameters (read
// from metadata), the per-context scratch, and the ForwardPass that the blocks (blocks/*) work on.
// Which blocks run, in which order, is each architecture's forward; nothing here knows a quant type.

import { ModelError } from '../core/errors.js';
import type { AttentionShape, KVStore } from './kv-store.js';
import type { Kernels, RopeParams, WeightMatrix } from '../kernels/types.js';
import { hpKey, TENSOR, type HParamKey } from '../formats/gguf-names.js';
import { Meta, positiveInt } from './hparams.js';
import type { TensorTable } from './tensors.js';

export interface DecoderHParams {
  arch: string;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  headDimV: number;
  nFF: number;
  nVocab: number;
  nCtxTrain: number;
  eps: number;
  rope: RopeParams;
  /** Multiplies the token embeddings (MiniCPM scale_emb; 1 elsewhere). */
  embScale: number;
  /** Multiplies each residual branch before it is added (MiniCPM scale_depth/sqrt(L); 1 elsewhere). */
  residualScale: number;
  /** Logits are divided by this (MiniCPM hidden/dim_model_base; 1 elsewhere). */
  logitScale: number;
  /**
   * Per-token sizes of scratch buffers an architecture needs beyond the dense ones (an MoE's
   * router logits, MLA's latent vectors), allocated once per context as s.extra[name] (batch x n).
   */
  scratch?: Readonly<Record<string, number>>;
  /** What a latent KV store holds per position, for an architecture that offers one (MLA): see ContextOptions.mlaCache. */
  latentKV?: { nHeadKv: number; headDim: number; headDimV: number };
}

export interface DecoderOptions {
  /** RoPE layout llama.cpp uses for this architecture. */
  neox: boolean;
  /** Read MiniCPM's embedding, residual and logit scales (1 elsewhere). */
  minicpmScales?: boolean;
}

function ropeParams(meta: Meta, arch: string, nRot: number, nCtxTrain: number, neox: boolean, freqFactors: Float32Array | null, file: string): RopeParams {
  const base = meta.num(hpKey(arch, 'ropeFreqBase'), 10000);
  const type = meta.str(hpKey(arch, 'ropeScalingType'), 'none') ?? 'none';
  let factor = meta.num(hpKey(arch, 'ropeScalingFactor'), 0);
  const scaleLinear = meta.num(hpKey(arch, 'ropeScaleLinear'), 0);
  if (!factor && scaleLinear) factor = scaleLinear;
  const half = nRot >> 1;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    invFreq[i] = Math.pow(base, (-2 * i) / nRot) / (freqFactors ? freqFactors[i]! : 1);
  }
  let freqScale = 1, mscale = meta.num(hpKey(arch, 'ropeScalingAttnFactor'), 1);
  let rampMix: Float64Array | null = null;
  if (type === 'linear' || type === 'yarn') {
    if (factor > 0) freqScale = 1 / factor;
  } else if (type !== 'none' && type !== 'longrope') {
    throw new ModelError(`${file}: rope scaling type ${type} (${hpKey(arch, 'ropeScalingType')}) is not supported`);
  }
  if (type === 'yarn' && freqScale !== 1) {
    // ggml_rope_yarn_corr_dims with the default beta_fast = 32, beta_slow = 1 and ext_factor = 1.
    const nCtxOrig = meta.num(hpKey(arch, 'ropeScalingOrigCtx'), nCtxTrain);
    const corr = (nBeta: number) => (nRot * Math.log(nCtxOrig / (nBeta * 2 * Math.PI))) / (2 * Math.log(base));
    const lo = Math.max(0, Math.floor(corr(32)));
    const hi = Math.min(nRot - 1, Math.ceil(corr(1)));
    rampMix = new Float64Array(half);
    for (let i = 0; i < half; i++) {
      const y = (i - lo) / Math.max(0.001, hi - lo);
      rampMix[i] = 1 - Math.min(1, Math.max(0, y));
    }
    mscale *= 1 + 0.1 * Math.log(1 / freqScale);
  }
  return { nRot, neox, invFreq, rampMix, freqScale, mscale };
}

export function readDecoderHParams(t: TensorTable, arch: string, opt: DecoderOptions): DecoderHParams {
  const src = t.src;
  const meta = new Meta(src.metadata, src.file);
  const file = src.file;
  /** A positive integer hyper-parameter, named by its key when it is not. */
  const int = (k: HParamKey, dflt?: number) => positiveInt(file, hpKey(arch, k), meta.num(hpKey(arch, k), dflt));
  const nEmbd = int('embeddingLength');
  const nLayer = int('blockCount');
  const nHead = int('headCount');
  const nHeadKv = int('headCountKv', nHead);
  if (nHead % nHeadKv !== 0) throw new ModelError(`${file}: ${hpKey(arch, 'headCount')} ${nHead} is not a multiple of head_count_kv ${nHeadKv}`);
  const headDim = int('keyLength', nEmbd / nHead);
  // llama.cpp's default for each is nEmbd / nHead, independently: MiniCPM3's converter states the
  // key length (nope + rope) and leaves the value length (v_head_dim) to that default.
  const headDimV = int('valueLength', nEmbd / nHead);
  const nFF = int('feedForwardLength');
  const nCtxTrain = int('contextLength', 2048);
  const nRot = int('ropeDimensionCount', headDim);
  if (nRot > headDim || nRot % 2) throw new ModelError(`${file}: ${hpKey(arch, 'ropeDimensionCount')} ${nRot} must be even and at most the head size ${headDim}`);
  const eps = meta.num(hpKey(arch, 'rmsEps'), 1e-5);
  const embdShape = t.shapeOf(TENSOR.tokenEmbd);
  if (embdShape.length !== 2 || embdShape[0] !== nEmbd) {
    throw new ModelError(`${file}: tensor ${TENSOR.tokenEmbd}: expected shape ${nEmbd}xN_VOCAB, file has ${embdShape.join('x')}`);
  }
  const nVocab = embdShape[1]!;
  const freqFactors = t.has(TENSOR.ropeFreqs) ? t.vector(TENSOR.ropeFreqs, nRot / 2) : null;
  const rope = ropeParams(meta, arch, nRot, nCtxTrain, opt.neox, freqFactors, file);
  return {
    arch, nEmbd, nLayer, nHead, nHeadKv, headDim, headDimV, nFF, nVocab, nCtxTrain, eps, rope,
    embScale: opt.minicpmScales ? meta.num(hpKey(arch, 'embeddingScale')) : 1,
    residualScale: opt.minicpmScales ? meta.num(hpKey(arch, 'residualScale')) : 1,
    logitScale: opt.minicpmScales ? meta.num(hpKey(arch, 'logitScale')) : 1,
  };
}

/** Per-context scratch, allocated once for the largest batch; the forward pass never allocates. */
export class DecoderScratch {
  readonly x: Float32Array; // (batch, nEmbd) residual stream
  readonly xn: Float32Array; // (batch, nEmbd) normed input / branch output
  readonly q: Float32Array; // (batch, nHead * headDim)
  readonly k: Float32Array; // (batch, nHeadKv * headDim)
  readonly v: Float32Array; // (batch, nHeadKv * headDimV)
  readonly att: Float32Array; // (batch, nHead * headDimV)
  readonly gate: Float32Array; // (batch, nFF)
  readonly up: Float32Array; // (batch, nFF)
  readonly logits: Float32Array; // (batch, nVocab)
  readonly extra: Readonly<Record<string, Float32Array>>; // (batch, hp.scratch[name]) each
  constructor(hp: DecoderHParams, readonly batch: number, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    this.x = alloc(batch * hp.nEmbd);
    this.xn = alloc(batch * hp.nEmbd);
    this.q = alloc(batch * hp.nHead * hp.headDim);
    this.k = alloc(batch * hp.nHeadKv * hp.headDim);
    this.v = alloc(batch * hp.nHeadKv * hp.headDimV);
    this.att = alloc(batch * hp.nHead * hp.headDimV);
    this.gate = alloc(batch * hp.nFF);
    this.up = alloc(batch * hp.nFF);
    this.logits = alloc(batch * hp.nVocab);
    this.extra = Object.fromEntries(Object.entries(hp.scratch ?? {}).map(([name, n]) => [name, alloc(batch * n)]));
  }

  buffers(): Float32Array[] {
    return [this.x, this.xn, this.q, this.k, this.v, this.att, this.gate, this.up, this.logits, ...Object.values(this.extra)];
  }
}

/** Rows that take the place of token embeddings (an image's, say): data is (n, nEmbd) for tokens start..start+n-1 of a decode() call. */
export interface InputEmbeddings {
  start: number;
  data: Float32Array;
}

/**
 * One forward pass as the blocks see it. A context makes one and sets the batch fields before each
 * call, so the hot loop allocates nothing. The residual stream is s.x; a block reads its input from
 * s.xn and leaves its branch output there.
 */
export class ForwardPass {
  tokens: ArrayLike<number> = [];
  nTok = 0;
  /** Position of tokens[0] in the sequence. */
  pos0 = 0;
  /**
   * Logits for every token (`all`), only the last (`last`, row 0 of s.logits), or none; `hidden`:
   * no logits, every token's final-normed hidden state in s.xn (rows 0..nTok), for embeddings.
   */
  logits: 'all' | 'last' | 'none' | 'hidden' = 'none';
  /** Extra input embeddings of the whole decode() call; `offset` is the index of tokens[0] in it. */
  embeddings: readonly InputEmbeddings[] = [];
  offset = 0;
  /**
   * The first layer run. Above 0, s.x rows 0..nTok already hold the residual stream after layer
   * layer0-1 (hidden states another pass kept: a layer-skip draft's, which the target's verify
   * continues from) and the embedding is skipped (embedInputs).
   */
  layer0 = 0;
  /** Layers run end before this one: all of them, or the first few (a layer-skip draft of the same model). After the forward, s.x holds the residual stream after layer nLayer-1. */
  nLayer: number;
  /** An output projection over part of the vocabulary (a draft's FR-Spec head): logits rows have head.rows values. */
  head: WeightMatrix | null = null;
  /** The vocabulary id of each of head's rows (for an output bias), ascending. */
  headIds: Int32Array | null = null;
  /** The KV store holds hp.latentKV rows (MLA's compressed cache), not the attention's heads. */
  latentKV = false;
  readonly attention: AttentionShape;
  constructor(readonly kernels: Kernels, readonly hp: DecoderHParams, readonly kv: KVStore, readonly s: DecoderScratch) {
    this.attention = { nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, headDimV: hp.headDimV, scale: 1 / Math.sqrt(hp.headDim) };
    this.nLayer = hp.nLayer;
  }
}
