// The Llama-family forward (llama, qwen2, qwen3: every architecture whose forward is llama's) on the
// WebGPU backend: weights uploaded once, a context's KV cache (f16, bf16 or a quantized GpuKVQuant
// type) and scratch on the GPU, one step recorded as one compute pass and read back as the logits
// rows asked for. The token embedding rows are looked up on the CPU (nEmbd floats a token go up); a
// matrix whose format has no WebGPU kernel has its product run by the CPU kernels, its input read
// back and its output written up.
/// <reference types="@webgpu/types" />

import type { Kernels, WeightMatrix } from '../kernels/types.js';
import { GpuError, GpuOps, TOPK_MAX, KV_BLOCK_BYTES, KV_QUANT_FORMAT, type GpuKVQuant, activationScaleFloats, destroyMatrix, topKCandidateWords, gpuFormat, gpuMatrixRefusal, ropeTable, uploadMatrix, type Gpu, type GpuActKind, type GpuMatrix } from '../kernels/webgpu/index.js';
import type { DecoderHParams } from './decoder.js';
import { llama, type LlamaWeights } from './llama.js';
import type { Architecture } from './registry.js';

/** Why this model cannot run its forward on the GPU (null: it can). */
export function gpuForwardRefusal(arch: Architecture, hp: DecoderHParams): string | null {
  if (arch.forward !== llama.forward) return `architecture ${arch.name} has no WebGPU forward yet (llama, qwen2, qwen3 do)`;
  if (hp.headDim % 2 || hp.headDimV % 2) return `head size ${hp.headDim}/${hp.headDimV} is odd`;
  return null;
}

interface GpuLayer {
  attnNorm: GPUBuffer; ffnNorm: GPUBuffer;
  wq: Mat; wk: Mat; wv: Mat; wo: Mat; wGate: Mat; wUp: Mat; wDown: Mat;
  bq: GPUBuffer | null; bk: GPUBuffer | null; bv: GPUBuffer | null; bo: GPUBuffer | null;
  qNorm: GPUBuffer | null; kNorm: GPUBuffer | null;
}

/** A matrix on the GPU, or (its format has no WebGPU kernel) the CPU's, with its activation kind. */
type Mat = { gpu: GpuMatrix; act: GpuActKind; cpu: WeightMatrix } | { gpu: null; cpu: WeightMatrix };

export interface GpuUploadProgress { loaded: number; total: number }

export class GpuLlama {
  private constructor(
    readonly gpu: Gpu, readonly ops: GpuOps, readonly hp: DecoderHParams, private readonly w: LlamaWeights,
    private readonly cpu: Kernels, private readonly layers: GpuLayer[], private readonly outNorm: GPUBuffer, private readonly output: Mat,
    /** Matrices whose products run on the CPU, named once in the backend note. */
    readonly cpuMatrices: string[],
  ) {}

  /** Upload every weight (in chunks, with progress) and compile the shaders. */
  static async create(gpu: Gpu, hp: DecoderHParams, w: LlamaWeights, cpu: Kernels, onProgress?: (p: GpuUploadProgress) => void): Promise<GpuLlama> {
    const ops = new GpuOps(gpu);
    const mats = [w.head.output, ...w.layers.flatMap((L) => [L.attn.wq, L.attn.wk, L.attn.wv, L.attn.wo, L.ffn.wGate, L.ffn.wUp, L.ffn.wDown])];
    const total = mats.reduce((s, m) => s + (gpuMatrixRefusal(m.format, m.cols) ? 0 : m.rows * m.rowBytes), 0);
    let loaded = 0;
    const uploaded = new Map<WeightMatrix, Mat>();
    const cpuMatrices: string[] = [];
    const mat = async (m: WeightMatrix): Promise<Mat> => {
      let got = uploaded.get(m);
      if (got) return got;
      if (gpuMatrixRefusal(m.format, m.cols)) {
        got = { gpu: null, cpu: m };
        cpuMatrices.push(`${m.name} (${gpuMatrixRefusal(m.format, m.cols)})`);
      } else {
        got = { gpu: await uploadMatrix(gpu, m, (n) => { loaded += n; onProgress?.({ loaded, total }); }), act: gpuFormat(m.format)!.act, cpu: m };
      }
      uploaded.set(m, got);
      return got;
    };
    // Norms and biases, so a failed upload frees them too (the device may live on: a caller's, or auto's probe).
    const small: GPUBuffer[] = [];
    const up = (v: Float32Array, name: string) => { const b = ops.upload(v, name); small.push(b); return b; };
    const vec = (v: Float32Array | null, name: string) => (v ? up(v, name) : null);
    try {
      await ops.compileAll(mats.map((m) => m.format));
      const layers: GpuLayer[] = [];
      for (let l = 0; l < w.layers.length; l++) {
        const L = w.layers[l]!, a = L.attn;
        if (a.qkvScale) throw new GpuError(`layer ${l}: per-tensor q/k/v scales have no WebGPU path`);
        layers.push({
          attnNorm: up(L.attnNorm, `blk.${l}.attn_norm`), ffnNorm: up(L.ffnNorm, `blk.${l}.ffn_norm`),
          wq: await mat(a.wq), wk: await mat(a.wk), wv: await mat(a.wv), wo: await mat(a.wo),
          wGate: await mat(L.ffn.wGate), wUp: await mat(L.ffn.wUp), wDown: await mat(L.ffn.wDown),
          bq: vec(a.bq, `blk.${l}.bq`), bk: vec(a.bk, `blk.${l}.bk`), bv: vec(a.bv, `blk.${l}.bv`), bo: vec(a.bo, `blk.${l}.bo`),
          qNorm: vec(a.qNorm, `blk.${l}.q_norm`), kNorm: vec(a.kNorm, `blk.${l}.k_norm`),
        });
      }
      if (w.head.normBias || w.head.outputBias) throw new GpuError('an output LayerNorm or bias has no WebGPU path');
      const out = await mat(w.head.output);
      // Everything written so far must have landed: an out-of-memory shows here, not mid-generation.
      await ops.read(layers[0]?.attnNorm ?? up(new Float32Array(1), 'probe'), 0, 4);
      return new GpuLlama(gpu, ops, hp, w, cpu, layers, up(w.head.norm, 'output_norm'), out, cpuMatrices);
    } catch (e) {
      for (const m of uploaded.values()) if (m.gpu) destroyMatrix(m.gpu);
      for (const b of small) b.destroy();
      ops.destroy();
      throw e;
    }
  }

  /** The most shards any matrix was split into (1: every matrix fits one binding). */
  get maxShards(): number {
    return Math.max(this.output.gpu?.shards.length ?? 1, ...this.layers.flatMap((L) => [L.wq, L.wk, L.wv, L.wo, L.wGate, L.wUp, L.wDown].map((m) => m.gpu?.shards.length ?? 1)));
  }

  createContext(nCtx: number, batch: number, cache: GpuKVCache = F16_CACHE): GpuLlamaContext {
    return new GpuLlamaContext(this, nCtx, batch, cache);
  }

  /** @internal the context's view of the weights. */
  get parts() {
    return { w: this.w, cpu: this.cpu, layers: this.layers, outNorm: this.outNorm, output: this.output };
  }

  dispose(): void {
    this.ops.destroy();
    this.gpu.destroy();
  }
}

/**
 * A GPU KV cache's types and rotations: f16 or a GpuKVQuant per side; rotK/rotV the Hadamard row
 * sizes (0: none) as runtime/kv/packed.ts chooses them, so the blocks are the CPU store's.
 */
export interface GpuKVCache { k: GpuKVQuant | 'f16'; v: GpuKVQuant | 'f16'; rotK: number; rotV: number }
const F16_CACHE: GpuKVCache = { k: 'f16', v: 'f16', rotK: 0, rotV: 0 };

/** One sequence's KV cache (f16 or quantized) and scratch on the GPU, allocated once. */
export class GpuLlamaContext {
  private readonly kc: GPUBuffer[] = [];
  private readonly vc: GPUBuffer[] = [];
  private readonly b: Record<'x' | 'xn' | 'q' | 'k' | 'v' | 'att' | 'gate' | 'up' | 'xq' | 'xd' | 'scores' | 'cs' | 'logits' | 'topCand' | 'top', GPUBuffer>;
  private readonly xHost: Float32Array;
  private readonly csHost: Float32Array;
  private yHost = new Float32Array(0);
  /** The buffer and kind the activation buffers hold, so q/k/v (and gate/up) prepare theirs once. */
  private prepared: { src: GPUBuffer; kind: GpuActKind } | null = null;

  private readonly kRowBytes: number;
  private readonly vRowBytes: number;

  constructor(private readonly m: GpuLlama, readonly nCtx: number, readonly batch: number, readonly cache: GpuKVCache) {
    const { hp, ops } = m;
    const kvDim = hp.nHeadKv * hp.headDim, kvDimV = hp.nHeadKv * hp.headDimV;
    const rowBytes = (t: GpuKVCache['k'], n: number) => (t === 'f16' ? 2 * n : (n / 32) * KV_BLOCK_BYTES[t]);
    this.kRowBytes = rowBytes(cache.k, kvDim);
    this.vRowBytes = rowBytes(cache.v, kvDimV);
    for (let l = 0; l < hp.nLayer; l++) {
      this.kc.push(ops.buffer(nCtx * this.kRowBytes, `blk.${l} ${cache.k} K cache (${nCtx} positions)`));
      this.vc.push(ops.buffer(nCtx * this.vRowBytes, `blk.${l} ${cache.v} V cache (${nCtx} positions)`));
    }
    const maxCols = Math.max(hp.nEmbd, hp.nFF, hp.nHead * hp.headDimV, hp.nHead * hp.headDim); // the last: Q quantized for a quantized K
    const f = (n: number, name: string) => ops.buffer(n * 4, name);
    this.b = {
      x: f(batch * hp.nEmbd, 'x'), xn: f(batch * hp.nEmbd, 'xn'), q: f(batch * hp.nHead * hp.headDim, 'q'),
      k: f(batch * kvDim, 'k'), v: f(batch * kvDimV, 'v'), att: f(batch * hp.nHead * hp.headDimV, 'att'),
      gate: f(batch * hp.nFF, 'gate'), up: f(batch * hp.nFF, 'up'),
      xq: f(batch * maxCols, 'activation quants'), xd: f(activationScaleFloats(batch * maxCols), 'activation scales'),
      scores: f(batch * hp.nHead * nCtx, 'attention scores'), cs: f(batch * hp.rope.nRot, 'rope table'),
      logits: f(batch * m.hp.nVocab, 'logits'), topCand: f(topKCandidateWords(TOPK_MAX), 'top-k candidates'), top: f(2 * TOPK_MAX, 'top-k'),
    };
    this.xHost = new Float32Array(batch * Math.max(hp.nEmbd, maxCols));
    this.csHost = new Float32Array(batch * hp.rope.nRot);
  }

  private async product(mat: Mat, x: GPUBuffer, cols: number, nTok: number, y: GPUBuffer, rows: number): Promise<void> {
    const { ops } = this.m;
    if (mat.gpu) {
      if (mat.act !== 'f32' && (this.prepared?.src !== x || this.prepared.kind !== mat.act)) {
        ops.prepareActivations(mat.act, x, nTok * cols, this.b.xq, this.b.xd);
        this.prepared = { src: x, kind: mat.act };
      }
      ops.matvec(mat.gpu, mat.act === 'f32' ? x : this.b.xq, this.b.xd, nTok, y);
      return;
    }
    // No WebGPU kernel for this format: the CPU kernels' product, the input read back for it.
    const xs = await ops.readF32(x, 0, nTok * cols);
    if (this.yHost.length < nTok * rows) this.yHost = new Float32Array(nTok * rows);
    const ys = this.yHost.subarray(0, nTok * rows);
    this.m.parts.cpu.matmul(mat.cpu, xs, nTok, ys);
    ops.write(y, ys);
    ops.begin();
  }

  /** A buffer is about to change: prepared activations of it are stale. */
  private touched(b: GPUBuffer): void {
    if (this.prepared?.src === b) this.prepared = null;
  }

  /**
   * Run nTok tokens at positions pos0.. and return the logits rows asked for: the last token's
   * ('last', one row), every token's ('all'), or none. With topK (1..TOPK_MAX, mode 'last') the k
   * largest logits are selected on the GPU and only they come back (8k bytes): the row returned
   * holds them and -Infinity elsewhere (argmax for k = 1).
   */
  async decode(tokens: ArrayLike<number>, pos0: number, mode: 'last' | 'all' | 'none', topK = 0): Promise<Float32Array | null> {
    const { hp, ops } = this.m;
    const { w, layers, outNorm, output, cpu } = this.m.parts;
    const b = this.b;
    const nTok = tokens.length;
    if (nTok > this.batch) throw new GpuError(`decode: ${nTok} tokens exceed the GPU context's batch of ${this.batch}`);
    if (pos0 + nTok > this.nCtx) throw new GpuError(`decode: positions up to ${pos0 + nTok} exceed the GPU context's ${this.nCtx}`);
    const { nEmbd, nHead, nHeadKv, headDim, headDimV, nFF, eps } = hp;
    const qDim = nHead * headDim, kvDim = nHeadKv * headDim, kvDimV = nHeadKv * headDimV;
    this.prepared = null;
    ops.begin();
    cpu.embed(w.tokEmbd, tokens, nTok, this.xHost);
    ops.write(b.x, this.xHost.subarray(0, nTok * nEmbd));
    ops.write(b.cs, ropeTable(hp.rope, pos0, nTok, this.csHost));
    const half = hp.rope.nRot >> 1;
    const att = { nHead, nHeadKv, headDim, headDimV, scale: 1 / Math.sqrt(headDim) };
    for (let l = 0; l < layers.length; l++) {
      const L = layers[l]!;
      ops.rmsNorm(b.x, L.attnNorm, eps, nEmbd, nTok, b.xn); this.touched(b.xn);
      await this.product(L.wq, b.xn, nEmbd, nTok, b.q, qDim);
      await this.product(L.wk, b.xn, nEmbd, nTok, b.k, kvDim);
      await this.product(L.wv, b.xn, nEmbd, nTok, b.v, kvDimV);
      if (L.bq) ops.add(b.q, L.bq, nTok * qDim, qDim);
      if (L.bk) ops.add(b.k, L.bk, nTok * kvDim, kvDim);
      if (L.bv) ops.add(b.v, L.bv, nTok * kvDimV, kvDimV);
      if (L.qNorm) ops.rmsNorm(b.q, L.qNorm, eps, headDim, nTok * nHead, null);
      if (L.kNorm) ops.rmsNorm(b.k, L.kNorm, eps, headDim, nTok * nHeadKv, null);
      ops.rope(b.q, b.cs, nTok, nHead, headDim, half, hp.rope.neox);
      ops.rope(b.k, b.cs, nTok, nHeadKv, headDim, half, hp.rope.neox);
      this.attend(l, nTok, pos0, att);
      await this.product(L.wo, b.att, nHead * headDimV, nTok, b.xn, nEmbd); this.touched(b.xn);
      if (L.bo) ops.add(b.xn, L.bo, nTok * nEmbd, nEmbd);
      ops.add(b.x, b.xn, nTok * nEmbd);
      ops.rmsNorm(b.x, L.ffnNorm, eps, nEmbd, nTok, b.xn); this.touched(b.xn);
      await this.product(L.wGate, b.xn, nEmbd, nTok, b.gate, nFF);
      await this.product(L.wUp, b.xn, nEmbd, nTok, b.up, nFF);
      ops.swiglu(b.gate, b.up, nTok * nFF); this.touched(b.gate);
      await this.product(L.wDown, b.gate, nFF, nTok, b.xn, nEmbd); this.touched(b.xn);
      ops.add(b.x, b.xn, nTok * nEmbd);
    }
    if (mode === 'none') {
      ops.flush();
      return null;
    }
    const rows = mode === 'all' ? nTok : 1;
    if (mode === 'last') ops.copy(b.x, (nTok - 1) * nEmbd * 4, b.xn, 0, nEmbd * 4);
    ops.rmsNorm(mode === 'last' ? b.xn : b.x, outNorm, eps, nEmbd, rows, mode === 'last' ? null : b.xn); this.touched(b.xn);
    await this.product(output, b.xn, nEmbd, rows, b.logits, hp.nVocab);
    if (mode === 'last' && topK > 0) {
      ops.topK(b.logits, hp.nVocab, topK, b.topCand, b.top);
      const pairs = new Uint32Array(await ops.read(b.top, 0, 8 * topK));
      const vals = new Float32Array(pairs.buffer);
      const row = new Float32Array(hp.nVocab).fill(-Infinity);
      for (let j = 0; j < topK; j++) if (pairs[2 * j + 1]! < hp.nVocab) row[pairs[2 * j + 1]!] = vals[2 * j]!;
      return row;
    }
    return ops.readF32(b.logits, 0, rows * hp.nVocab);
  }

  /** Layer l's K/V rows into its cache and attention over it (b.q, b.k, b.v are spent: rotated in place). */
  private attend(l: number, nTok: number, pos0: number, att: { nHead: number; nHeadKv: number; headDim: number; headDimV: number; scale: number }): void {
    const { ops, hp } = this.m;
    const b = this.b, c = this.cache;
    const kvDim = hp.nHeadKv * hp.headDim, kvDimV = hp.nHeadKv * hp.headDimV;
    if (c.k === 'f16' && c.v === 'f16') {
      ops.kvWrite(b.k, this.kc[l]!, kvDim, pos0, nTok);
      ops.kvWrite(b.v, this.vc[l]!, kvDimV, pos0, nTok);
      ops.attention(b.q, this.kc[l]!, this.vc[l]!, b.scores, this.nCtx, nTok, pos0, att, b.att);
      this.touched(b.att);
      return;
    }
    if (c.rotK) {
      ops.hadamard(b.k, nTok * kvDim, c.rotK);
      ops.hadamard(b.q, nTok * hp.nHead * hp.headDim, c.rotK);
    }
    if (c.rotV) ops.hadamard(b.v, nTok * kvDimV, c.rotV);
    if (c.k === 'f16') ops.kvWrite(b.k, this.kc[l]!, kvDim, pos0, nTok);
    else ops.kvQuantWrite(c.k, b.k, this.kc[l]!, kvDim, pos0, nTok);
    if (c.v === 'f16') ops.kvWrite(b.v, this.vc[l]!, kvDimV, pos0, nTok);
    else ops.kvQuantWrite(c.v, b.v, this.vc[l]!, kvDimV, pos0, nTok);
    const kFormat = c.k === 'f16' ? null : KV_QUANT_FORMAT[c.k];
    ops.attentionQuant(b.q, b.xq, b.xd, this.kc[l]!, this.vc[l]!, b.scores, this.nCtx, nTok, pos0, { ...att, kFormat, vType: c.v, kRowBytes: this.kRowBytes, vRowBytes: this.vRowBytes }, b.att);
    this.prepared = null; // Q's quants now hold xq/xd
    if (c.rotV) ops.hadamard(b.att, nTok * hp.nHead * hp.headDimV, c.rotV);
  }

  dispose(): void {
    for (const buf of [...this.kc, ...this.vc, ...Object.values(this.b)]) buf.destroy();
  }
}
