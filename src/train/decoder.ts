// A trainable Llama / MiniCPM decoder: parameters under their GGUF tensor names, a forward that
// keeps the activations of one sequence, the backward through every op, and export to a GGUF
// that lutra and llama.cpp load (F32, tied embeddings when asked). MiniCPM's muP scalings
// (scale_emb, scale_depth/sqrt(L), hidden/dim_model_base) are applied as the inference code does.
// Every op runs through a TrainOps backend (backend.ts: the TypeScript reference or the wasm
// kernels), which also allocates every buffer, once.
// Options (DecoderOptions): BitCPM ternary QAT (absmean ternary forward weights, straight-through
// gradients into f32 master weights), BitNet's int8 activations, bf16 mixed precision (weights and
// matmul inputs rounded to bf16, f32 master weights and accumulation; the forward weights and the
// kept matmul inputs stored as bf16 bits, widened into one f32 scratch when a product needs them)
// and gradient checkpointing (one layer's activations kept, recomputed from each layer's input in
// the backward).

import type { GGUFValue, GGUFTensorToWrite } from '../formats/gguf.js';
import { TENSOR, blk, type GGUFHParams } from '../formats/gguf-names.js';
import { buildModelGGUF } from '../models/gguf-builder.js';
import { quantFormat, tensorBytes } from '../quant/table.js';
import * as op from './ops.js';
import { refOps, type TrainOps } from './backend.js';
import type { Xorshift128 } from './rng.js';

export interface DecoderShape {
  arch: 'llama' | 'minicpm';
  nVocab: number; nEmbd: number; nLayer: number; nHead: number; nHeadKv: number; nFF: number; nCtx: number;
  ropeBase: number; eps: number; tieEmbeddings: boolean;
  /** MiniCPM muP constants (used when arch is minicpm). */
  scaleEmb: number; scaleDepth: number; dimModelBase: number;
}

export interface Param {
  name: string;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  data: Float32Array;
  grad: Float32Array;
  /**
   * The weights the forward multiplies by: `data` itself, or (ternary / bf16) a buffer that
   * syncWeights() derives from it. Gradients taken through it land in `grad` unchanged: the
   * straight-through estimator. Under bf16 this is the decoder's one weight scratch (the weights
   * live in `fw16`): read it through TrainDecoder.forwardWeight().
   */
  fw: Float32Array;
  /** bf16: the forward weights as bf16 bits (half the bytes of an f32 copy) */
  fw16?: Uint16Array;
  /** 'matrix' params get weight decay and (under muP) the width-scaled learning rate. */
  kind: 'matrix' | 'embedding' | 'norm';
}

export interface DecoderOptions {
  /** BitCPM QAT: the blocks' matrices ternarized per `group` elements of a row (0: per tensor) in the forward. */
  ternary?: { group: number };
  /** bf16 weights and matmul inputs (f32 master weights, f32 accumulation and gradients). */
  bf16?: boolean;
  /** Gradient checkpointing: keep each layer's input only and recompute its activations in the backward. */
  checkpoint?: boolean;
  /**
   * BitNet b1.58's int8 activations: the inputs of the blocks' matrices quantized per token
   * (absmax to [-127, 127]) in the forward, gradients straight through (ops.quantAct8).
   */
  act8?: boolean;
}

const LAYER_ROLES = ['attnNorm', 'attnQ', 'attnK', 'attnV', 'attnOutput', 'ffnNorm', 'ffnGate', 'ffnUp', 'ffnDown'] as const;

export function scales(s: DecoderShape): { emb: number; residual: number; logit: number } {
  if (s.arch !== 'minicpm') return { emb: 1, residual: 1, logit: 1 };
  return { emb: s.scaleEmb, residual: s.scaleDepth / Math.sqrt(s.nLayer), logit: s.nEmbd / s.dimModelBase };
}

export class TrainDecoder {
  readonly params: Param[] = [];
  private byName = new Map<string, Param>();
  private rope: { cos: Float32Array; sin: Float32Array };
  private hd: number;
  // activations of one sequence, allocated once: (layer, T, width)
  private act: ReturnType<TrainDecoder['allocActivations']>;
  /** each layer's parameters by role, looked up once (a step builds no names) */
  private layer: Record<typeof LAYER_ROLES[number], Param>[] = [];
  /** the sequence's input tokens and targets, where the backend's kernels can read them */
  private ids: Int32Array;
  private tgt: Int32Array;
  /** the forward weights lag the master weights (set by weightsChanged, cleared by syncWeights) */
  private stale = true;
  /** bytes of the activation buffers (with checkpointing: every layer's input plus one layer's set; bf16: the kept matmul inputs as bf16) */
  readonly activationBytes: number;
  /** bytes of the forward weights beside the masters (ternary / bf16 copies; bf16: the bf16 bits plus one f32 scratch) */
  readonly forwardWeightBytes: number;
  /** bf16 without checkpointing: each layer's matmul inputs kept as bf16 bits, widened into the one f32 set for the backward */
  private kept: Record<'xn1' | 'att' | 'xn2' | 'h', Uint16Array[]> | null = null;

  constructor(readonly s: DecoderShape, readonly ops: TrainOps = refOps, readonly opt: DecoderOptions = {}) {
    const { nEmbd: D, nVocab: V, nHead, nHeadKv, nFF } = s;
    this.hd = D / nHead;
    if (!Number.isInteger(this.hd) || this.hd % 2) throw new Error(`embedding ${D} / ${nHead} heads must be an even head size`);
    if (nHead % nHeadKv) throw new Error(`heads ${nHead} must be a multiple of kv heads ${nHeadKv}`);
    const kDim = nHeadKv * this.hd;
    const g = opt.ternary?.group ?? 0;
    if (opt.ternary && g > 0 && (D % g || nFF % g)) throw new Error(`ternary group ${g} must divide the rows the blocks' matrices have (embedding ${D}, ffn ${nFF})`);
    this.add(TENSOR.tokenEmbd, [D, V], 'embedding');
    for (let l = 0; l < s.nLayer; l++) {
      this.add(blk(l, 'attnNorm'), [D], 'norm');
      this.add(blk(l, 'attnQ'), [D, D], 'matrix');
      this.add(blk(l, 'attnK'), [D, kDim], 'matrix');
      this.add(blk(l, 'attnV'), [D, kDim], 'matrix');
      this.add(blk(l, 'attnOutput'), [D, D], 'matrix');
      this.add(blk(l, 'ffnNorm'), [D], 'norm');
      this.add(blk(l, 'ffnGate'), [D, nFF], 'matrix');
      this.add(blk(l, 'ffnUp'), [D, nFF], 'matrix');
      this.add(blk(l, 'ffnDown'), [nFF, D], 'matrix');
    }
    this.add(TENSOR.outputNorm, [D], 'norm');
    if (!s.tieEmbeddings) this.add(TENSOR.output, [D, V], 'matrix');
    for (let l = 0; l < s.nLayer; l++) this.layer.push(Object.fromEntries(LAYER_ROLES.map((r) => [r, this.p(blk(l, r))])) as Record<typeof LAYER_ROLES[number], Param>);
    if (opt.bf16) {
      // one f32 scratch, as large as the largest matrix, that every bf16 weight is widened into when used
      const scratch = ops.alloc(Math.max(...this.params.filter((p) => p.fw16).map((p) => p.data.length)));
      for (const p of this.params) if (p.fw16) p.fw = scratch;
    }
    const fwSeen = new Set<ArrayBufferView>();
    for (const p of this.params) { if (p.fw !== p.data) fwSeen.add(p.fw); if (p.fw16) fwSeen.add(p.fw16); }
    this.forwardWeightBytes = [...fwSeen].reduce((n, b) => n + b.byteLength, 0);
    const rope = op.ropeTables(s.nCtx, this.hd, s.ropeBase);
    this.rope = { cos: ops.alloc(rope.cos.length), sin: ops.alloc(rope.sin.length) };
    this.rope.cos.set(rope.cos);
    this.rope.sin.set(rope.sin);
    this.act = this.allocActivations();
    const seen = new Set<ArrayBufferView>();
    for (const v of [...Object.values(this.act), ...Object.values(this.kept ?? {})]) for (const b of Array.isArray(v) ? v : [v]) seen.add(b);
    this.activationBytes = [...seen].reduce((n, b) => n + b.byteLength, 0);
    this.ids = ops.allocI32(s.nCtx);
    this.tgt = ops.allocI32(s.nCtx);
  }

  private add(name: string, shape: number[], kind: Param['kind']): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = this.ops.alloc(n);
    const bf16 = !!this.opt.bf16 && kind !== 'norm';
    const derived = bf16 || (this.opt.ternary && /^blk\./.test(name) && kind === 'matrix');
    // bf16: fw is set to the shared scratch once every parameter is known
    const p: Param = { name, shape, data, grad: this.ops.alloc(n), fw: derived && !bf16 ? this.ops.alloc(n) : data, kind, fw16: bf16 ? this.ops.allocU16(n) : undefined };
    this.params.push(p);
    this.byName.set(name, p);
  }

  p(name: string): Param {
    const p = this.byName.get(name);
    if (!p) throw new Error(`no parameter ${name}`);
    return p;
  }

  get nParams(): number {
    return this.params.reduce((a, p) => a + p.data.length, 0);
  }

  /**
   * Normal init with std `initStd` (0.02 for llama; MiniCPM's init_std/sqrt(width/dim_model_base)
   * for matrices under muP), norms at 1. Output projections of residual branches get the GPT-2
   * 1/sqrt(2L) shrink unless muP's residual scale already does that job.
   */
  init(rng: Xorshift128, initStd: number, mup: boolean): void {
    const s = this.s;
    const widthMult = s.nEmbd / s.dimModelBase;
    for (const p of this.params) {
      if (p.kind === 'norm') { p.data.fill(1); continue; }
      let std = initStd;
      if (p.kind === 'matrix' && mup) std = initStd / Math.sqrt(widthMult);
      if (!mup && /attn_output|ffn_down/.test(p.name)) std /= Math.sqrt(2 * s.nLayer);
      for (let i = 0; i < p.data.length; i++) p.data[i] = rng.normal() * std;
    }
    this.stale = true;
  }

  /** The master weights changed (optimizer step, init, load): the forward weights follow before the next forward. */
  weightsChanged(): void {
    this.stale = true;
  }

  /** Derive the forward weights from the masters: ternarize the blocks' matrices, round to bf16 (stored as bf16 bits). */
  syncWeights(): void {
    const g = this.opt.ternary?.group ?? 0;
    for (const p of this.params) {
      if (p.fw === p.data) continue;
      let src = p.data;
      if (this.opt.ternary && p.kind === 'matrix' && /^blk\./.test(p.name)) { op.ternarize(p.data, p.shape[1] ?? 1, p.shape[0]!, g, p.fw); src = p.fw; }
      if (p.fw16) this.ops.packBf16(src, src.length, p.fw16);
    }
    this.stale = false;
  }

  /**
   * The weights the forward multiplies p by (f32): p.fw, or under bf16 its bf16 bits widened into
   * the shared scratch, valid until the next call.
   */
  forwardWeight(p: Param): Float32Array {
    if (this.stale) this.syncWeights();
    if (p.fw16) this.ops.unpackBf16(p.fw16, p.fw16.length, p.fw);
    return p.fw;
  }

  zeroGrad(): void {
    for (const p of this.params) p.grad.fill(0);
  }

  private allocActivations() {
    const { nEmbd: D, nLayer: L, nHead, nHeadKv, nFF, nCtx: T, nVocab: V } = this.s;
    const kDim = nHeadKv * this.hd;
    const f = (n: number) => this.ops.alloc(n);
    const per = (n: number) => Array.from({ length: L }, () => f(n));
    // with checkpointing every layer shares one set: the backward recomputes layer l into it
    const shared = (n: number) => { const b = f(n); return Array.from({ length: L }, () => b); };
    const one = (n: number) => (this.opt.checkpoint ? shared(n) : per(n));
    const layer = this.layerActivations(one, T, D, kDim, nHead, nFF);
    if (this.opt.bf16 && !this.opt.checkpoint) {
      // the matmul inputs hold bf16 values already: keep them as bf16 bits, one f32 set to compute in
      const u16 = (n: number) => Array.from({ length: L }, () => this.ops.allocU16(n));
      this.kept = { xn1: u16(T * D), att: u16(T * D), xn2: u16(T * D), h: u16(T * nFF) };
      Object.assign(layer, { xn1: shared(T * D), att: shared(T * D), xn2: shared(T * D), h: shared(T * nFF) });
    }
    return {
      xIn: per(T * D), ...layer,
      x: f(T * D), xf: f(T * D), rstdF: f(T), logits: f(T * V),
      tmp: f(T * D), tmpF: f(T * nFF),
      // backward scratch
      dx: f(T * D), dxn: f(T * D), dq: f(T * D), dk: f(T * kDim), dv: f(T * kDim),
      datt: f(T * D), dg: f(T * nFF), du: f(T * nFF), dh: f(T * nFF), dp: f(T),
    };
  }

  private layerActivations(per: (n: number) => Float32Array[], T: number, D: number, kDim: number, nHead: number, nFF: number) {
    return {
      xn1: per(T * D), rstd1: per(T), q: per(T * D), k: per(T * kDim), v: per(T * kDim),
      probs: per(nHead * T * T), att: per(T * D), x1: per(T * D), xn2: per(T * D), rstd2: per(T),
      g: per(T * nFF), u: per(T * nFF), h: per(T * nFF),
    };
  }
  /** Logits (T, V) for tokens[0..T); activations are kept for `backward`. */
  forward(tokens: ArrayLike<number>, T: number): Float32Array {
    const s = this.s, a = this.act, sc = scales(s);
    const { nEmbd: D, nVocab: V, eps } = s;
    if (T > s.nCtx) throw new Error(`sequence of ${T} tokens is longer than the context ${s.nCtx}`);
    const x = a.x, ops = this.ops;
    for (let t = 0; t < T; t++) this.ids[t] = tokens[t]!;
    if (this.stale) this.syncWeights();
    ops.embed(this.forwardWeight(this.p(TENSOR.tokenEmbd)), this.ids, T, D, sc.emb, x);
    for (let l = 0; l < s.nLayer; l++) {
      a.xIn[l]!.set(x.subarray(0, T * D));
      this.layerForward(l, x, T);
    }
    ops.rmsNorm(x, this.p(TENSOR.outputNorm).data, eps, D, T, a.xf, a.rstdF);
    this.bf16(a.xf, T * D);
    ops.matmul(this.forwardWeight(this.outputParam()), a.xf, T, V, D, a.logits);
    if (sc.logit !== 1) ops.divide(a.logits, sc.logit, T * V);
    return a.logits;
  }

  /**
   * Layer l on the residual stream x(T, D), in place, keeping its activations for the backward
   * (with checkpointing, in the one shared set: the backward calls this again from xIn[l]).
   */
  private layerForward(l: number, x: Float32Array, T: number): void {
    const s = this.s, a = this.act, sc = scales(s), ops = this.ops, w = this.layer[l]!;
    const { nEmbd: D, nHead, nHeadKv, nFF, eps } = s;
    const kDim = nHeadKv * this.hd;
    const shape: op.AttnShape = { T, nHead, nHeadKv, headDim: this.hd };
    ops.rmsNorm(x, w.attnNorm.data, eps, D, T, a.xn1[l]!, a.rstd1[l]!);
    this.matmulInput(a.xn1[l]!, T, D, l, 'xn1');
    ops.matmul(this.forwardWeight(w.attnQ), a.xn1[l]!, T, D, D, a.q[l]!);
    ops.matmul(this.forwardWeight(w.attnK), a.xn1[l]!, T, kDim, D, a.k[l]!);
    ops.matmul(this.forwardWeight(w.attnV), a.xn1[l]!, T, kDim, D, a.v[l]!);
    ops.rope(a.q[l]!, T, nHead, this.hd, this.rope.cos, this.rope.sin, false);
    ops.rope(a.k[l]!, T, nHeadKv, this.hd, this.rope.cos, this.rope.sin, false);
    ops.attention(a.q[l]!, a.k[l]!, a.v[l]!, shape, a.probs[l]!, a.att[l]!);
    this.matmulInput(a.att[l]!, T, D, l, 'att');
    ops.matmul(this.forwardWeight(w.attnOutput), a.att[l]!, T, D, D, a.tmp);
    ops.axpy(x, a.tmp, sc.residual, T * D);
    a.x1[l]!.set(x.subarray(0, T * D));
    ops.rmsNorm(x, w.ffnNorm.data, eps, D, T, a.xn2[l]!, a.rstd2[l]!);
    this.matmulInput(a.xn2[l]!, T, D, l, 'xn2');
    ops.matmul(this.forwardWeight(w.ffnGate), a.xn2[l]!, T, nFF, D, a.g[l]!);
    ops.matmul(this.forwardWeight(w.ffnUp), a.xn2[l]!, T, nFF, D, a.u[l]!);
    ops.swiglu(a.g[l]!, a.u[l]!, T * nFF, a.h[l]!);
    this.matmulInput(a.h[l]!, T, nFF, l, 'h');
    ops.matmul(this.forwardWeight(w.ffnDown), a.h[l]!, T, D, nFF, a.tmp);
    ops.axpy(x, a.tmp, sc.residual, T * D);
  }

  /**
   * The input x(T, n) of a block's matrix, in place: int8 per token (act8), then bf16. Every
   * consumer of these buffers is a product (the backward reads norms, attention and SwiGLU from
   * their own inputs), so quantizing in place is the straight-through estimator. bf16 without
   * checkpointing keeps it as layer l's bf16 bits for the backward.
   */
  private matmulInput(x: Float32Array, T: number, n: number, l: number, which: 'xn1' | 'att' | 'xn2' | 'h'): void {
    if (this.opt.act8) this.ops.quantAct8(x, T, n);
    if (!this.kept) { this.bf16(x, T * n); return; }
    // packing rounds to bf16 (nearest even, as roundBf16); widening back gives x its bf16 values
    this.ops.packBf16(x, T * n, this.kept[which][l]!);
    this.ops.unpackBf16(this.kept[which][l]!, T * n, x);
  }

  /** bf16 mode: a matmul input is stored at bf16 precision (in place). */
  private bf16(x: Float32Array, n: number): void {
    if (this.opt.bf16) op.roundBf16(x, n, x);
  }

  private outputParam(): Param {
    return this.s.tieEmbeddings ? this.p(TENSOR.tokenEmbd) : this.p(TENSOR.output);
  }

  /**
   * Forward + backward for one sequence: inputs tokens[0..T), targets[0..T). Returns the summed
   * NLL; gradients of (sum NLL) * gradScale are added to every param's grad.
   */
  step(tokens: ArrayLike<number>, targets: ArrayLike<number>, T: number, gradScale: number): number {
    const logits = this.forward(tokens, T);
    const s = this.s, a = this.act, sc = scales(s), ops = this.ops;
    const { nEmbd: D, nHead, nHeadKv, nFF, nVocab: V, eps } = s;
    const kDim = nHeadKv * this.hd;
    for (let t = 0; t < T; t++) this.tgt[t] = targets[t]!;
    const loss = ops.crossEntropy(logits, this.tgt, T, V, gradScale / sc.logit, logits);
    const dlogits = logits;
    const outW = this.outputParam();
    const dxf = a.dxn.fill(0, 0, T * D);
    ops.matmulBackward(this.forwardWeight(outW), a.xf, dlogits, T, V, D, outW.grad, dxf);
    const dx = a.dx.fill(0, 0, T * D);
    // the final norm's input is the last residual stream: x1 + residual * ffn_out of the last layer,
    // which forward left in a.x
    const on = this.p(TENSOR.outputNorm);
    ops.rmsNormBackward(a.x, on.data, a.rstdF, dxf, D, T, dx, on.grad);
    const shape: op.AttnShape = { T, nHead, nHeadKv, headDim: this.hd };
    for (let l = s.nLayer - 1; l >= 0; l--) {
      if (this.opt.checkpoint) {
        // a.x is free once the final norm's backward has read it: recompute layer l there
        a.x.set(a.xIn[l]!.subarray(0, T * D));
        this.layerForward(l, a.x, T);
      } else if (this.kept) {
        // bf16: widen layer l's kept matmul inputs into the one f32 set
        ops.unpackBf16(this.kept.xn1[l]!, T * D, a.xn1[l]!);
        ops.unpackBf16(this.kept.att[l]!, T * D, a.att[l]!);
        ops.unpackBf16(this.kept.xn2[l]!, T * D, a.xn2[l]!);
        ops.unpackBf16(this.kept.h[l]!, T * nFF, a.h[l]!);
      }
      // FFN branch: x2 = x1 + r * down(swiglu(gate(xn2), up(xn2)))
      const dbranch = a.tmp;
      ops.scale(dbranch, dx, sc.residual, T * D);
      const wd = this.layer[l]!.ffnDown;
      const dh = a.dh.fill(0, 0, T * nFF);
      ops.matmulBackward(this.forwardWeight(wd), a.h[l]!, dbranch, T, D, nFF, wd.grad, dh);
      const dg = a.dg.fill(0, 0, T * nFF), du = a.du.fill(0, 0, T * nFF);
      ops.swigluBackward(a.g[l]!, a.u[l]!, dh, T * nFF, dg, du);
      const dxn = a.dxn.fill(0, 0, T * D);
      const wg = this.layer[l]!.ffnGate, wu = this.layer[l]!.ffnUp;
      ops.matmulBackward(this.forwardWeight(wg), a.xn2[l]!, dg, T, nFF, D, wg.grad, dxn);
      ops.matmulBackward(this.forwardWeight(wu), a.xn2[l]!, du, T, nFF, D, wu.grad, dxn);
      const fn = this.layer[l]!.ffnNorm;
      ops.rmsNormBackward(a.x1[l]!, fn.data, a.rstd2[l]!, dxn, D, T, dx, fn.grad);
      // attention branch: x1 = xIn + r * wo(attn(rope(q), rope(k), v))
      ops.scale(dbranch, dx, sc.residual, T * D);
      const wo = this.layer[l]!.attnOutput;
      const datt = a.datt.fill(0, 0, T * D);
      ops.matmulBackward(this.forwardWeight(wo), a.att[l]!, dbranch, T, D, D, wo.grad, datt);
      const dq = a.dq.fill(0, 0, T * D), dk = a.dk.fill(0, 0, T * kDim), dv = a.dv.fill(0, 0, T * kDim);
      ops.attentionBackward(a.q[l]!, a.k[l]!, a.v[l]!, a.probs[l]!, datt, shape, dq, dk, dv, a.dp);
      ops.rope(dq, T, nHead, this.hd, this.rope.cos, this.rope.sin, true);
      ops.rope(dk, T, nHeadKv, this.hd, this.rope.cos, this.rope.sin, true);
      dxn.fill(0, 0, T * D);
      const wq = this.layer[l]!.attnQ, wk = this.layer[l]!.attnK, wv = this.layer[l]!.attnV;
      ops.matmulBackward(this.forwardWeight(wq), a.xn1[l]!, dq, T, D, D, wq.grad, dxn);
      ops.matmulBackward(this.forwardWeight(wk), a.xn1[l]!, dk, T, kDim, D, wk.grad, dxn);
      ops.matmulBackward(this.forwardWeight(wv), a.xn1[l]!, dv, T, kDim, D, wv.grad, dxn);
      const an = this.layer[l]!.attnNorm;
      ops.rmsNormBackward(a.xIn[l]!, an.data, a.rstd1[l]!, dxn, D, T, dx, an.grad);
    }
    ops.embedBackward(this.p(TENSOR.tokenEmbd).grad, this.ids, T, D, sc.emb, dx);
    return loss;
  }

  /** Summed NLL without touching gradients. */
  loss(tokens: ArrayLike<number>, targets: ArrayLike<number>, T: number): number {
    const logits = this.forward(tokens, T);
    for (let t = 0; t < T; t++) this.tgt[t] = targets[t]!;
    // the same sum the training step's cross-entropy makes; its (zero) gradient overwrites the logits
    return this.ops.crossEntropy(logits, this.tgt, T, this.s.nVocab, 0, logits);
  }

  /** Hyper-parameters as GGUF metadata states them. */
  hparams(): GGUFHParams {
    const s = this.s, sc = scales(s);
    return {
      arch: s.arch, nCtxTrain: s.nCtx, nEmbd: s.nEmbd, nFF: s.nFF, nLayer: s.nLayer, nHead: s.nHead, nHeadKv: s.nHeadKv,
      nRot: this.hd, ropeBase: s.ropeBase, eps: s.eps, nVocab: s.nVocab,
      scales: s.arch === 'minicpm' ? { emb: sc.emb, residual: sc.residual, logit: sc.logit } : undefined,
    };
  }

  /** The master weights, F32 (what a checkpoint keeps). */
  tensors(): GGUFTensorToWrite[] {
    return this.params.map((p) => ({ name: p.name, shape: p.shape, type: 0, data: bytesOf(p.data) }));
  }

  /** The model as GGUF chunks: F32 master weights plus the given tokenizer metadata. */
  toGGUF(name: string, tokenizerMeta: [string, GGUFValue][], extraMeta: [string, GGUFValue][] = [], extraTensors: GGUFTensorToWrite[] = []): Uint8Array[] {
    return buildModelGGUF({ hp: this.hparams(), name, fileType: 0, extraMeta, tokenizer: tokenizerMeta, tensors: [...this.tensors(), ...extraTensors] });
  }

  /**
   * The model as its forward computes it (ternary QAT: the ternarized matrices), for inference:
   * `ternaryType` 0 writes them as F32 values, TQ1_0 / TQ2_0 packs them (exactly, when the groups
   * tile the 256-element blocks: each block's amax is then its group scale, already f16).
   */
  exportGGUF(name: string, tokenizerMeta: [string, GGUFValue][], ternaryType = 0, fileType = 0): Uint8Array[] {
    if (this.stale) this.syncWeights();
    const tensors = this.params.map((p): GGUFTensorToWrite => {
      const ternary = this.opt.ternary && p.fw !== p.data && p.kind === 'matrix' && /^blk\./.test(p.name);
      if (!ternary) return { name: p.name, shape: p.shape, type: 0, data: bytesOf(p.data) };
      // a copy: under bf16 the forward weight is the shared scratch
      const fw = this.forwardWeight(p).slice();
      if (!ternaryType) return { name: p.name, shape: p.shape, type: 0, data: bytesOf(fw) };
      const dst = new Uint8Array(tensorBytes(ternaryType, fw.length));
      quantFormat(ternaryType, p.name).quantize!(fw, 0, dst, 0, fw.length);
      return { name: p.name, shape: p.shape, type: ternaryType, data: dst };
    });
    return buildModelGGUF({ hp: this.hparams(), name, fileType, quantizationVersion: ternaryType ? 2 : undefined, tokenizer: tokenizerMeta, tensors });
  }
}

/** The bytes of a view (a view of the wasm memory has the whole memory as its buffer). */
function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
