// Shared decoder blocks for the Llama family. Architecture files (llama.ts, qwen2.ts, ...) are short
// compositions of these: they pick the RoPE layout, which biases and norms exist, and the MiniCPM
// scalings. Nothing here knows a quant type; weights are WeightMatrix views over the file bytes.

import { ModelError } from '../core/errors.js';
import type { GGUFTensorInfo } from '../formats/gguf.js';
import type { ModelSource } from '../formats/source.js';
import type { Kernels, RopeParams, WeightMatrix, AttentionParams } from '../kernels/types.js';
import { quantFormat, ggmlTypeName } from '../quant/table.js';
import { weightBytes } from '../quant/types.js';
import { Meta, positiveInt } from './hparams.js';

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
}

export interface LayerWeights {
  attnNorm: Float32Array;
  wq: WeightMatrix; wk: WeightMatrix; wv: WeightMatrix; wo: WeightMatrix;
  bq: Float32Array | null; bk: Float32Array | null; bv: Float32Array | null; bo: Float32Array | null;
  qNorm: Float32Array | null; kNorm: Float32Array | null;
  ffnNorm: Float32Array;
  wGate: WeightMatrix; wUp: WeightMatrix; wDown: WeightMatrix;
}

export interface DecoderWeights {
  tokEmbd: WeightMatrix;
  outputNorm: Float32Array;
  /** The output projection; the token embedding itself when the model ties them. */
  output: WeightMatrix;
  layers: LayerWeights[];
}

export interface DecoderOptions {
  /** RoPE layout llama.cpp uses for this architecture. */
  neox: boolean;
  /** 'required': q/k/v biases must exist (Qwen2); 'optional': used when present. */
  qkvBias: 'required' | 'optional';
  qkNorm: boolean;
  minicpmScales: boolean;
}

export class TensorTable {
  private byName = new Map<string, GGUFTensorInfo>();
  readonly used = new Set<string>();
  constructor(readonly src: ModelSource, private readonly alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    for (const t of src.tensors) this.byName.set(t.name, t);
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  private get(name: string): GGUFTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new ModelError(`${this.src.file}: missing tensor ${name}`);
    this.used.add(name);
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

function ropeParams(meta: Meta, arch: string, nRot: number, nCtxTrain: number, neox: boolean, freqFactors: Float32Array | null, file: string): RopeParams {
  const base = meta.num(`${arch}.rope.freq_base`, 10000);
  const type = meta.str(`${arch}.rope.scaling.type`, 'none') ?? 'none';
  let factor = meta.num(`${arch}.rope.scaling.factor`, 0);
  const scaleLinear = meta.num(`${arch}.rope.scale_linear`, 0);
  if (!factor && scaleLinear) factor = scaleLinear;
  const half = nRot >> 1;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    invFreq[i] = Math.pow(base, (-2 * i) / nRot) / (freqFactors ? freqFactors[i]! : 1);
  }
  let freqScale = 1, mscale = meta.num(`${arch}.rope.scaling.attn_factor`, 1);
  let rampMix: Float64Array | null = null;
  if (type === 'linear' || type === 'yarn') {
    if (factor > 0) freqScale = 1 / factor;
  } else if (type !== 'none' && type !== 'longrope') {
    throw new ModelError(`${file}: rope scaling type ${type} (${arch}.rope.scaling.type) is not supported`);
  }
  if (type === 'yarn' && freqScale !== 1) {
    // ggml_rope_yarn_corr_dims with the default beta_fast = 32, beta_slow = 1 and ext_factor = 1.
    const nCtxOrig = meta.num(`${arch}.rope.scaling.original_context_length`, nCtxTrain);
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

export function readDecoder(src: ModelSource, arch: string, opt: DecoderOptions, alloc?: (n: number) => Float32Array): { hp: DecoderHParams; w: DecoderWeights } {
  const meta = new Meta(src.metadata, src.file);
  const file = src.file;
  const tt = new TensorTable(src, alloc);
  const nEmbd = positiveInt(file, `${arch}.embedding_length`, meta.num(`${arch}.embedding_length`));
  const nLayer = positiveInt(file, `${arch}.block_count`, meta.num(`${arch}.block_count`));
  const nHead = positiveInt(file, `${arch}.attention.head_count`, meta.num(`${arch}.attention.head_count`));
  const nHeadKv = positiveInt(file, `${arch}.attention.head_count_kv`, meta.num(`${arch}.attention.head_count_kv`, nHead));
  if (nHead % nHeadKv !== 0) throw new ModelError(`${file}: ${arch}.attention.head_count ${nHead} is not a multiple of head_count_kv ${nHeadKv}`);
  const headDim = positiveInt(file, `${arch}.attention.key_length`, meta.num(`${arch}.attention.key_length`, nEmbd / nHead));
  const headDimV = positiveInt(file, `${arch}.attention.value_length`, meta.num(`${arch}.attention.value_length`, headDim));
  const nFF = positiveInt(file, `${arch}.feed_forward_length`, meta.num(`${arch}.feed_forward_length`));
  const nCtxTrain = positiveInt(file, `${arch}.context_length`, meta.num(`${arch}.context_length`, 2048));
  const nRot = positiveInt(file, `${arch}.rope.dimension_count`, meta.num(`${arch}.rope.dimension_count`, headDim));
  if (nRot > headDim || nRot % 2) throw new ModelError(`${file}: ${arch}.rope.dimension_count ${nRot} must be even and at most the head size ${headDim}`);
  const eps = meta.num(`${arch}.attention.layer_norm_rms_epsilon`, 1e-5);
  const embdShape = tt.shapeOf('token_embd.weight');
  if (embdShape.length !== 2 || embdShape[0] !== nEmbd) {
    throw new ModelError(`${file}: tensor token_embd.weight: expected shape ${nEmbd}xN_VOCAB, file has ${embdShape.join('x')}`);
  }
  const nVocab = embdShape[1]!;
  const freqFactors = tt.has('rope_freqs.weight') ? tt.vector('rope_freqs.weight', nRot / 2) : null;
  const rope = ropeParams(meta, arch, nRot, nCtxTrain, opt.neox, freqFactors, file);
  const hp: DecoderHParams = {
    arch, nEmbd, nLayer, nHead, nHeadKv, headDim, headDimV, nFF, nVocab, nCtxTrain, eps, rope,
    embScale: opt.minicpmScales ? meta.num(`${arch}.embedding_scale`) : 1,
    residualScale: opt.minicpmScales ? meta.num(`${arch}.residual_scale`) : 1,
    logitScale: opt.minicpmScales ? meta.num(`${arch}.logit_scale`) : 1,
  };
  const qDim = nHead * headDim, kDim = nHeadKv * headDim, vDim = nHeadKv * headDimV;
  const bias = (name: string, n: number) => (opt.qkvBias === 'required' ? tt.vector(name, n) : tt.optionalVector(name, n));
  const layers: LayerWeights[] = [];
  for (let l = 0; l < nLayer; l++) {
    const p = `blk.${l}.`;
    layers.push({
      attnNorm: tt.vector(`${p}attn_norm.weight`, nEmbd),
      wq: tt.matrix(`${p}attn_q.weight`, nEmbd, qDim),
      wk: tt.matrix(`${p}attn_k.weight`, nEmbd, kDim),
      wv: tt.matrix(`${p}attn_v.weight`, nEmbd, vDim),
      wo: tt.matrix(`${p}attn_output.weight`, nHead * headDimV, nEmbd),
      bq: bias(`${p}attn_q.bias`, qDim),
      bk: bias(`${p}attn_k.bias`, kDim),
      bv: bias(`${p}attn_v.bias`, vDim),
      bo: tt.optionalVector(`${p}attn_output.bias`, nEmbd),
      qNorm: opt.qkNorm ? tt.vector(`${p}attn_q_norm.weight`, headDim) : null,
      kNorm: opt.qkNorm ? tt.vector(`${p}attn_k_norm.weight`, headDim) : null,
      ffnNorm: tt.vector(`${p}ffn_norm.weight`, nEmbd),
      wGate: tt.matrix(`${p}ffn_gate.weight`, nEmbd, nFF),
      wUp: tt.matrix(`${p}ffn_up.weight`, nEmbd, nFF),
      wDown: tt.matrix(`${p}ffn_down.weight`, nFF, nEmbd),
    });
  }
  const tokEmbd = tt.matrix('token_embd.weight', nEmbd, nVocab);
  const w: DecoderWeights = {
    tokEmbd,
    outputNorm: tt.vector('output_norm.weight', nEmbd),
    output: tt.has('output.weight') ? tt.matrix('output.weight', nEmbd, nVocab) : tokEmbd,
    layers,
  };
  return { hp, w };
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
  }

  buffers(): Float32Array[] {
    return [this.x, this.xn, this.q, this.k, this.v, this.att, this.gate, this.up, this.logits];
  }
}

export interface KVStore {
  readonly f16: boolean;
  k(layer: number): Float32Array;
  v(layer: number): Float32Array;
  store(layer: number, pos0: number, k: Float32Array, v: Float32Array, nTok: number): void;
}

function addBias(y: Float32Array, b: Float32Array | null, nTok: number): void {
  if (!b) return;
  const n = b.length;
  for (let t = 0; t < nTok; t++) for (let i = 0; i < n; i++) y[t * n + i] += b[i]!;
}

/**
 * One forward pass over nTok tokens at positions pos0..pos0+nTok-1. Writes logits for every token
 * (`all`) or only the last (`last`, row 0 of s.logits), or none. Returns the number of logit rows.
 */
export function decoderForward(
  k: Kernels, hp: DecoderHParams, w: DecoderWeights, kv: KVStore, s: DecoderScratch,
  tokens: ArrayLike<number>, nTok: number, pos0: number, logits: 'all' | 'last' | 'none',
): number {
  const { nEmbd, nHead, nHeadKv, headDim, headDimV, nFF, eps } = hp;
  const attn: AttentionParams = { nHead, nHeadKv, headDim, headDimV, scale: 1 / Math.sqrt(headDim), f16: kv.f16 };
  const { x, xn, q, att, gate, up } = s;
  k.embed(w.tokEmbd, tokens, nTok, x);
  if (hp.embScale !== 1) for (let i = 0; i < nTok * nEmbd; i++) x[i] *= hp.embScale;
  for (let l = 0; l < hp.nLayer; l++) {
    const L = w.layers[l]!;
    k.rmsNorm(x, L.attnNorm, eps, nEmbd, nTok, xn);
    k.matmul(L.wq, xn, nTok, q); addBias(q, L.bq, nTok);
    k.matmul(L.wk, xn, nTok, s.k); addBias(s.k, L.bk, nTok);
    k.matmul(L.wv, xn, nTok, s.v); addBias(s.v, L.bv, nTok);
    if (L.qNorm) k.rmsNorm(q, L.qNorm, eps, headDim, nTok * nHead, q);
    if (L.kNorm) k.rmsNorm(s.k, L.kNorm, eps, headDim, nTok * nHeadKv, s.k);
    k.rope(q, nTok, nHead, headDim, pos0, hp.rope);
    k.rope(s.k, nTok, nHeadKv, headDim, pos0, hp.rope);
    kv.store(l, pos0, s.k, s.v, nTok);
    k.attention(q, kv.k(l), kv.v(l), nTok, pos0, attn, att);
    k.matmul(L.wo, att, nTok, xn); addBias(xn, L.bo, nTok);
    k.addScaled(x, xn, hp.residualScale, nTok * nEmbd);
    k.rmsNorm(x, L.ffnNorm, eps, nEmbd, nTok, xn);
    k.matmul(L.wGate, xn, nTok, gate);
    k.matmul(L.wUp, xn, nTok, up);
    k.swiglu(gate, up, nTok * nFF);
    k.matmul(L.wDown, gate, nTok, xn);
    k.addScaled(x, xn, hp.residualScale, nTok * nEmbd);
  }
  if (logits === 'none') return 0;
  let rows = nTok;
  let src = x;
  if (logits === 'last') {
    rows = 1;
    xn.set(x.subarray((nTok - 1) * nEmbd, nTok * nEmbd));
    src = xn;
  }
  k.rmsNorm(src, w.outputNorm, eps, nEmbd, rows, xn);
  k.matmul(w.output, xn, rows, s.logits);
  if (hp.logitScale !== 1) {
    const inv = 1 / hp.logitScale;
    for (let i = 0; i < rows * hp.nVocab; i++) s.logits[i] *= inv;
  }
  return rows;
}
