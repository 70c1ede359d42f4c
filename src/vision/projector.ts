// A projector (mmproj) file run as llama.cpp's mtmd runs it: the ViT/SigLIP encoder (patch
// embedding, learned position embeddings, pre-norm blocks, layer norms) and one of three heads,
// MiniCPM-V's resampler, LLaVA's MLP or idefics3's pixel shuffle + linear, each turning one
// prepared slice into [nTokens x nEmbdOut] embeddings for the LLM. Matrix products (weights and
// the attention's per-head products, inside Kernels.encoderAttention) run on the kernels' threads;
// layer norms, biases, residuals and the f16 GELU tables on the kernels too where they have them
// (ggml's rounding; the twins in kernels/ref/encoder.ts otherwise).
// Not here: decoding, resizing and slicing images (image.ts / slicing.ts), the prompt layout.

import { ModelError, UnsupportedError } from '../core/errors.js';
import { F16_TO_F32, f32ToF16 } from '../core/f16.js';
import type { ModelSource } from '../formats/source.js';
import type { Kernels, WeightMatrix } from '../kernels/types.js';
import { geluScalar } from '../models/blocks/act.js';
import { addRows, encoderAttentionRef, layerNorm, mapHalf } from '../kernels/ref/encoder.js';
import { TensorTable } from '../models/tensors.js';
import { quantFormat } from '../quant/table.js';
import { weightBytes } from '../quant/types.js';
import { readClipHparams } from './hparams.js';
import { CLIP, MT, VT } from './names.js';
import type { ClipHparams, PreparedSlice } from './types.js';

/** MiniCPM-V's ViT position embedding is a 70 x 70 grid of buckets, whatever the slice size. */
const MINICPMV_BUCKETS = 70;
/** The resampler's attention head width, fixed in mtmd (and in MiniCPM-V's Resampler). */
const RESAMPLER_HEAD_DIM = 128;
const GELU_QUICK_COEF = -1.702;

interface Linear { w: WeightMatrix; b: Float32Array | null }
interface Norm { w: Float32Array; b: Float32Array | null }
interface Block { ln1: Norm; q: Linear; k: Linear; v: Linear; o: Linear; ln2: Norm; up: Linear; gate: Linear | null; down: Linear }

interface ResamplerWeights {
  kind: 'resampler';
  /** ln_q(query), computed once: it depends on no input. (queryNum, D) */
  qNormed: Float32Array;
  kv: WeightMatrix; lnKv: Norm; q: Linear; k: Linear; v: Linear; o: Linear; lnPost: Norm; proj: WeightMatrix;
  /** omega_i = 10000^(-i / (D/4)) for the keys' 2D sin-cos position embedding. */
  omega: Float32Array;
}
interface MlpWeights { kind: 'mlp'; mm0: Linear; mm2: Linear; nLayerRun: number; classEmbd: Float32Array | null }
interface Idefics3Weights { kind: 'idefics3'; fc: WeightMatrix }
type Head = ResamplerWeights | MlpWeights | Idefics3Weights;

/** ggml's f16 tables for GELU and quick GELU: the input rounded to f16, the output read as f16. */
let geluTable: Float32Array | null = null;
let geluQuickTable: Float32Array | null = null;
function tables(): [Float32Array, Float32Array] {
  if (!geluTable || !geluQuickTable) {
    geluTable = new Float32Array(65536);
    geluQuickTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const x = F16_TO_F32[h]!;
      geluTable[h] = geluScalar(x);
      geluQuickTable[h] = F16_TO_F32[f32ToF16(Math.fround(x * Math.fround(1 / Math.fround(1 + Math.fround(Math.exp(Math.fround(GELU_QUICK_COEF * x)))))))]!;
    }
  }
  return [geluTable, geluQuickTable];
}

/**
 * The element-wise ops on the kernels where they have them, else their twins: GELU through ggml's f16
 * tables (copied where the kernels compute), biases, layer norms, residuals.
 */
class Ops {
  private gelu: Float32Array | null = null;
  private geluQuick: Float32Array | null = null;
  constructor(private readonly k: Kernels) {}

  private table(quick: boolean): Float32Array {
    const have = quick ? this.geluQuick : this.gelu;
    if (have) return have;
    const src = tables()[quick ? 1 : 0];
    const t = this.k.allocF32 ? this.k.allocF32(src.length) : new Float32Array(src.length);
    t.set(src);
    if (quick) this.geluQuick = t; else this.gelu = t;
    return t;
  }

  activate(op: ClipHparams['ffnOp'], x: Float32Array, n: number): void {
    if (op === 'gelu' || op === 'gelu_quick') {
      // ggml passes |x| >= 10 through the tanh form's limits rather than the table (GELU only).
      const t = this.table(op === 'gelu_quick'), clamp = op === 'gelu';
      if (this.k.mapHalf) this.k.mapHalf(x, n, t, clamp);
      else mapHalf(x, n, t, clamp, f32ToF16);
    } else {
      for (let i = 0; i < n; i++) { const v = x[i]!; x[i] = Math.fround(v / Math.fround(1 + Math.fround(Math.exp(-v)))); }
    }
  }

  addBias(y: Float32Array, b: Float32Array | null, n: number, rows: number): void {
    if (!b) return;
    if (this.k.addRows) this.k.addRows(y, b, n, rows);
    else addRows(y, b, n, rows);
  }

  norm(x: Float32Array, w: Norm, eps: number, n: number, rows: number, out: Float32Array): void {
    if (this.k.layerNorm) this.k.layerNorm(x, w.w, w.b, eps, n, rows, out);
    else layerNorm(x, w.w, w.b, eps, n, rows, out);
  }

  /** x += y over n values. */
  residual(x: Float32Array, y: Float32Array, n: number): void {
    this.k.addScaled(x, y, 1, n);
  }

  dispose(): void {
    for (const t of [this.gelu, this.geluQuick]) if (t) this.k.release?.(t);
    this.gelu = this.geluQuick = null;
  }
}

/**
 * Scratch for one slice size, allocated where the kernels compute (WebAssembly memory) so the
 * products run there, and reused for every slice of that size: encode allocates only its output.
 */
class Scratch {
  readonly x: Float32Array; readonly xn: Float32Array; readonly q: Float32Array; readonly k: Float32Array; readonly v: Float32Array;
  readonly att: Float32Array; readonly ff: Float32Array; readonly ff2: Float32Array | null; readonly patches: Float32Array;
  /** The attention's scores (rows x nPos) where the kernels lack encoderAttention (they keep their own). */
  readonly sc: Float32Array | null;
  /** The resampler keys' 2D sin-cos position embedding for slices `posWidth` patches wide, (nPos, D). */
  posWidth = -1;
  readonly pos: Float32Array | null;
  constructor(readonly nPos: number, widest: number, nFf: number, gate: boolean, patchCols: number, nQ: number, resamplerWidth: number, private readonly k_: Kernels) {
    const f = (n: number) => (k_.allocF32 ? k_.allocF32(Math.max(n, 1)) : new Float32Array(Math.max(n, 1)));
    const rows = Math.max(nPos, nQ);
    this.x = f(rows * widest); this.xn = f(rows * widest); this.q = f(rows * widest); this.k = f(rows * widest); this.v = f(rows * widest);
    this.att = f(rows * widest); this.ff = f(nPos * nFf); this.ff2 = gate ? f(nPos * nFf) : null; this.patches = f(nPos * patchCols);
    this.sc = k_.encoderAttention ? null : new Float32Array(rows * nPos);
    this.pos = resamplerWidth ? new Float32Array(nPos * resamplerWidth) : null;
  }
  dispose(): void {
    for (const v of [this.x, this.xn, this.q, this.k, this.v, this.att, this.ff, this.ff2, this.patches]) if (v) this.k_.release?.(v);
  }
}

/** The wasm kernels take rows whose length is a multiple of this (F16's SIMD step; Q formats' block). */
const COLS_ALIGN = 32;

/**
 * An FFN whose width is not a multiple of COLS_ALIGN (SigLIP's 4304) would leave ffn_down to the
 * TypeScript reference: widen it with zeros instead. up (and gate) gain zero rows and zero biases,
 * so the extra activations are act(0) = 0, and down gains zero columns; the sums are unchanged.
 */
function padFfn(b: Block, kernels: Kernels): Block {
  const n = b.up.w.rows, wide = Math.ceil(n / COLS_ALIGN) * COLS_ALIGN;
  const d = b.down.w;
  if (wide === n || d.format.blockSize !== 1) return b;
  const alloc = (len: number) => (kernels.allocBytes ? kernels.allocBytes(len) : new Uint8Array(len));
  const moreRows = (l: Linear): Linear => {
    const data = alloc(wide * l.w.rowBytes);
    data.fill(0); data.set(l.w.data.subarray(0, n * l.w.rowBytes));
    // Where the kernels compute, so the bias rows run there rather than in the TypeScript twin.
    const bias = kernels.allocF32 ? kernels.allocF32(wide) : new Float32Array(wide);
    bias.fill(0);
    if (l.b) bias.set(l.b);
    return { w: { ...l.w, rows: wide, ...weightBytes(data) }, b: bias };
  };
  const es = d.format.typeSize, rowBytes = wide * es;
  const data = alloc(d.rows * rowBytes);
  data.fill(0);
  for (let r = 0; r < d.rows; r++) data.set(d.data.subarray(r * d.rowBytes, (r + 1) * d.rowBytes), r * rowBytes);
  return { ...b, up: moreRows(b.up), gate: b.gate ? moreRows(b.gate) : null, down: { w: { ...d, cols: wide, rowBytes, ...weightBytes(data) }, b: b.down.b } };
}

function f32Matrix(name: string, bytes: Uint8Array, rows: number, cols: number): WeightMatrix {
  const data = bytes.subarray(0, rows * cols * 4);
  return { name, format: quantFormat(0, name), rows, cols, rowBytes: cols * 4, ...weightBytes(data) };
}

/** Non-causal attention of nQ queries over nK keys (q (nQ, width), k and v (nK, width), out (nQ, width)). */
function attention(kern: Kernels, s: Scratch, q: Float32Array, k: Float32Array, v: Float32Array, nQ: number, nK: number, nHead: number, dHead: number, scale: number, out: Float32Array): void {
  if (kern.encoderAttention) kern.encoderAttention(q, k, v, nQ, nK, nHead, dHead, scale, out);
  else encoderAttentionRef(q, k, v, nQ, nK, nHead, dHead, scale, out, s.sc!);
}

export class Projector {
  private scratch: Scratch | null = null;
  private readonly ops: Ops;
  /** Milliseconds the last encode() took. */
  lastEncodeMs = 0;

  private constructor(
    readonly file: string,
    readonly hparams: ClipHparams,
    private readonly kernels: Kernels,
    private readonly patch: { w: WeightMatrix; f16Input: boolean; b: Float32Array | null },
    /** Learned position embeddings, (rows, nEmbd). */
    private readonly posEmbd: Float32Array,
    private readonly posRows: number,
    private readonly preLn: Norm | null,
    private readonly postLn: Norm | null,
    private readonly blocks: Block[],
    private readonly head: Head,
  ) {
    this.ops = new Ops(kernels);
  }

  /** Load from a parsed GGUF (metadata and tensor views), computing on `kernels` (share the LLM's). */
  static fromSource(src: ModelSource, kernels: Kernels): Projector {
    const file = src.file;
    const hp0 = readClipHparams(src.metadata, file);
    const t = new TensorTable(src, kernels.allocF32 ? (n) => kernels.allocF32!(n) : undefined);
    const { nEmbd, nFf, nLayer, patchSize: p } = hp0;
    const norm = (w: string, b: string, n: number): Norm => ({ w: t.vector(w, n), b: t.optionalVector(b, n) });
    const optNorm = (w: string, b: string, n: number): Norm | null => (t.has(w) ? norm(w, b, n) : null);
    const lin = (w: string, b: string, cols: number, rows: number): Linear => ({ w: t.matrix(w, cols, rows), b: t.optionalVector(b, rows) });

    // The patch embedding is a conv2d kernel (p, p, 3, nEmbd): as a matrix, nEmbd rows of 3*p*p
    // columns in (channel, y, x) order, im2col's order. ggml's im2col writes the kernel's type, so
    // an f16 kernel sees the pixels rounded to f16; the row is copied to f32 so any width runs.
    const pshape = t.shapeOf(VT.patchEmbd);
    if (pshape.join('x') !== [p, p, 3, nEmbd].join('x')) {
      throw new ModelError(`${file}: tensor ${VT.patchEmbd}: expected shape ${p}x${p}x3x${nEmbd}, file has ${pshape.join('x')}`);
    }
    const pinfo = src.tensors.find((x) => x.name === VT.patchEmbd)!;
    const pcols = 3 * p * p;
    const pf = new Float32Array(pcols * nEmbd);
    quantFormat(pinfo.type, VT.patchEmbd).dequantize(pinfo.data, 0, pf, 0, pf.length);
    const pbytes = kernels.allocBytes ? kernels.allocBytes(pf.byteLength) : new Uint8Array(pf.byteLength);
    new Float32Array(pbytes.buffer, pbytes.byteOffset, pf.length).set(pf);
    const patch = { w: f32Matrix(VT.patchEmbd, pbytes, nEmbd, pcols), f16Input: pinfo.type === 1, b: t.optionalVector(VT.patchBias, nEmbd) };

    const pos = src.tensors.find((x) => x.name === VT.posEmbd);
    if (!pos) throw new ModelError(`${file}: missing tensor ${VT.posEmbd}`);
    if (pos.shape[0] !== nEmbd || pos.shape.length !== 2) throw new ModelError(`${file}: tensor ${VT.posEmbd}: expected shape ${nEmbd}xN, file has ${pos.shape.join('x')}`);
    const posRows = pos.shape[1]!;
    const posEmbd = new Float32Array(nEmbd * posRows);
    quantFormat(pos.type, VT.posEmbd).dequantize(pos.data, 0, posEmbd, 0, posEmbd.length);

    const blocks: Block[] = [];
    for (let l = 0; l < nLayer; l++) {
      if (t.has(VT.blk(l, 'attn_qkv', 'weight'))) throw new UnsupportedError(`${file}: tensor ${VT.blk(l, 'attn_qkv', 'weight')}: fused QKV vision blocks are not supported`);
      // Old conversions wrote ffn_up and ffn_down swapped; mtmd swaps them back by shape, so do we.
      const swapped = t.shapeOf(VT.blk(l, 'ffn_down', 'weight'))[0] === nEmbd && nFf !== nEmbd;
      const upName = swapped ? 'ffn_down' : 'ffn_up', downName = swapped ? 'ffn_up' : 'ffn_down';
      blocks.push(padFfn({
        ln1: norm(VT.blk(l, 'ln1', 'weight'), VT.blk(l, 'ln1', 'bias'), nEmbd),
        q: lin(VT.blk(l, 'attn_q', 'weight'), VT.blk(l, 'attn_q', 'bias'), nEmbd, nEmbd),
        k: lin(VT.blk(l, 'attn_k', 'weight'), VT.blk(l, 'attn_k', 'bias'), nEmbd, nEmbd),
        v: lin(VT.blk(l, 'attn_v', 'weight'), VT.blk(l, 'attn_v', 'bias'), nEmbd, nEmbd),
        o: lin(VT.blk(l, 'attn_out', 'weight'), VT.blk(l, 'attn_out', 'bias'), nEmbd, nEmbd),
        ln2: norm(VT.blk(l, 'ln2', 'weight'), VT.blk(l, 'ln2', 'bias'), nEmbd),
        up: lin(VT.blk(l, upName, 'weight'), VT.blk(l, upName, 'bias'), nEmbd, nFf),
        gate: t.has(VT.blk(l, 'ffn_gate', 'weight')) ? lin(VT.blk(l, 'ffn_gate', 'weight'), VT.blk(l, 'ffn_gate', 'bias'), nEmbd, nFf) : null,
        down: lin(VT.blk(l, downName, 'weight'), VT.blk(l, downName, 'bias'), nFf, nEmbd),
      }, kernels));
    }

    let head: Head, nEmbdOut: number;
    if (hp0.projectorType === 'resampler') {
      const [D, nq] = t.shapeOf(MT.query) as [number, number];
      if (nq !== hp0.queryNum) throw new ModelError(`${file}: tensor ${MT.query} has ${nq} queries but the metadata asks for ${hp0.queryNum}`);
      if (D % RESAMPLER_HEAD_DIM !== 0 || D % 4 !== 0) throw new ModelError(`${file}: resampler width ${D} is not a multiple of its head width ${RESAMPLER_HEAD_DIM}`);
      if (!t.has(MT.posEmbdK)) throw new ModelError(`${file}: missing tensor ${MT.posEmbdK}`);
      const query = new Float32Array(D * nq);
      const qi = src.tensors.find((x) => x.name === MT.query)!;
      quantFormat(qi.type, MT.query).dequantize(qi.data, 0, query, 0, query.length);
      const lnQ = norm(MT.ln('q', 'weight'), MT.ln('q', 'bias'), D);
      const qNormed = new Float32Array(D * nq);
      layerNorm(query, lnQ.w, lnQ.b, hp0.eps, D, nq, qNormed);
      const omega = new Float32Array(D / 4);
      for (let i = 0; i < D / 4; i++) omega[i] = 1 / Math.fround(Math.pow(10000, Math.fround(i / (D / 4))));
      head = {
        kind: 'resampler', qNormed, omega,
        kv: t.matrix(MT.kv, nEmbd, D), lnKv: norm(MT.ln('kv', 'weight'), MT.ln('kv', 'bias'), D),
        q: lin(MT.attn('q', 'weight'), MT.attn('q', 'bias'), D, D), k: lin(MT.attn('k', 'weight'), MT.attn('k', 'bias'), D, D),
        v: lin(MT.attn('v', 'weight'), MT.attn('v', 'bias'), D, D), o: lin(MT.attn('out', 'weight'), MT.attn('out', 'bias'), D, D),
        lnPost: norm(MT.ln('post', 'weight'), MT.ln('post', 'bias'), D), proj: t.matrix(MT.proj, D, D),
      };
      nEmbdOut = D;
      if (posRows < MINICPMV_BUCKETS * MINICPMV_BUCKETS) throw new ModelError(`${file}: tensor ${VT.posEmbd} has ${posRows} rows; MiniCPM-V's bucketed positions need ${MINICPMV_BUCKETS * MINICPMV_BUCKETS}`);
    } else if (hp0.projectorType === 'mlp') {
      if (t.has(MT.mlp(3, 'weight'))) throw new UnsupportedError(`${file}: tensor ${MT.mlp(3, 'weight')}: the normed LLaVA projector (mlp_norm, Yi-VL) is not supported`);
      if (!t.has(MT.mlp(2, 'weight'))) throw new UnsupportedError(`${file}: missing tensor ${MT.mlp(2, 'weight')}: a one-layer LLaVA projector is not supported`);
      const [, hidden] = t.shapeOf(MT.mlp(0, 'weight')) as [number, number];
      const [, out] = t.shapeOf(MT.mlp(2, 'weight')) as [number, number];
      const feature = src.metadata.get(CLIP.featureLayer);
      if (feature) throw new UnsupportedError(`${file}: clip.vision.feature_layer (stacked feature layers, Granite vision) is not supported`);
      // LLaVA takes the second-to-last layer's output: mtmd runs n_layer - 1 blocks.
      const classEmbd = t.has(VT.classEmbd) ? t.vector(VT.classEmbd, nEmbd) : null;
      head = { kind: 'mlp', mm0: lin(MT.mlp(0, 'weight'), MT.mlp(0, 'bias'), nEmbd, hidden), mm2: lin(MT.mlp(2, 'weight'), MT.mlp(2, 'bias'), hidden, out), nLayerRun: nLayer - 1, classEmbd };
      nEmbdOut = out;
    } else {
      const s = hp0.scaleFactor;
      if (s < 2) throw new ModelError(`${file}: idefics3 needs clip.vision.projector.scale_factor >= 2, file has ${s}`);
      const [, out] = t.shapeOf(MT.idefics3Fc) as [number, number];
      head = { kind: 'idefics3', fc: t.matrix(MT.idefics3Fc, nEmbd * s * s, out) };
      nEmbdOut = out;
    }
    const hp: ClipHparams = { ...hp0, nEmbdOut };
    const pre = optNorm(VT.preLn('weight'), VT.preLn('bias'), nEmbd);
    const post = optNorm(VT.postLn('weight'), VT.postLn('bias'), nEmbd);
    const proj = new Projector(file, hp, kernels, patch, posEmbd, posRows, pre, post, blocks, head);
    const mats = blocks.flatMap((b) => [b.q.w, b.k.w, b.v.w, b.o.w, b.up.w, b.down.w, ...(b.gate ? [b.gate.w] : [])]);
    // The encoder never compares a batch with its tokens one by one: its products may take the GEMM.
    kernels.prepareWeights?.(mats.concat(proj.headMatrices()), { gemm: true });
    return proj;
  }

  private headMatrices(): WeightMatrix[] {
    const h = this.head;
    return h.kind === 'resampler' ? [h.kv, h.q.w, h.k.w, h.v.w, h.o.w, h.proj] : h.kind === 'mlp' ? [h.mm0.w, h.mm2.w] : [h.fc];
  }

  /** Embeddings this slice becomes. */
  nTokens(slice: { width: number; height: number }): number {
    const { patchSize: p, queryNum, scaleFactor: s } = this.hparams;
    const pw = Math.floor(slice.width / p), ph = Math.floor(slice.height / p);
    const h = this.head;
    return h.kind === 'resampler' ? queryNum : h.kind === 'mlp' ? pw * ph : Math.ceil(pw / s) * Math.ceil(ph / s);
  }

  /** One slice -> (nTokens, nEmbdOut) embeddings, row-major. */
  encode(slice: PreparedSlice): Float32Array {
    const t0 = performance.now();
    const { hparams: hp, kernels: k } = this;
    const { patchSize: p, nEmbd } = hp;
    const { width: W, height: H } = slice;
    if (!(Number.isInteger(W) && Number.isInteger(H) && W >= p && H >= p) || slice.data.length !== 3 * W * H) {
      throw new ModelError(`${this.file}: a slice of ${W}x${H} with ${slice.data.length} values cannot be encoded (patches of ${p}, 3 planes)`);
    }
    const pw = Math.floor(W / p), ph = Math.floor(H / p), nPatch = pw * ph;
    const h = this.head;
    if (h.kind === 'mlp' && pw !== ph) throw new ModelError(`${this.file}: the LLaVA projector takes square slices, got ${W}x${H}`);
    if (h.kind === 'idefics3' && nPatch !== this.posRows) throw new ModelError(`${this.file}: idefics3 slices must be ${hp.imageSize}x${hp.imageSize} (${this.posRows} patches), got ${W}x${H}`);
    const nPos = nPatch + (h.kind === 'mlp' && h.classEmbd ? 1 : 0);
    if (h.kind === 'mlp' && nPos > this.posRows) throw new ModelError(`${this.file}: a ${W}x${H} slice has ${nPos} positions, ${VT.posEmbd} has ${this.posRows}`);
    const s = this.scratchFor(nPos);

    // Patch embedding: im2col then one product.
    const pcols = 3 * p * p, plane = W * H, px = s.patches;
    for (let py = 0, r = 0; py < ph; py++) {
      for (let pxi = 0; pxi < pw; pxi++, r++) {
        let o = r * pcols;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < p; ky++) {
            const src = c * plane + (py * p + ky) * W + pxi * p;
            for (let kx = 0; kx < p; kx++) px[o++] = slice.data[src + kx]!;
          }
        }
      }
    }
    if (this.patch.f16Input) for (let i = 0; i < nPatch * pcols; i++) px[i] = F16_TO_F32[f32ToF16(px[i]!)]!;
    const x = s.x;
    k.matmul(this.patch.w, px, nPatch, x);
    this.ops.addBias(x, this.patch.b, nEmbd, nPatch);
    if (h.kind === 'mlp' && h.classEmbd) x.set(h.classEmbd, nPatch * nEmbd);
    this.addPositions(x, pw, ph, nPos);
    if (this.preLn) this.ops.norm(x, this.preLn, hp.eps, nEmbd, nPos, x);

    const nRun = h.kind === 'mlp' ? h.nLayerRun : this.blocks.length;
    for (let l = 0; l < nRun; l++) this.block(this.blocks[l]!, s, nPos);
    if (this.postLn) this.ops.norm(x, this.postLn, hp.eps, nEmbd, nPos, x);

    const out = new Float32Array(this.nTokens(slice) * hp.nEmbdOut);
    if (h.kind === 'resampler') this.resample(h, s, nPos, pw, out);
    else if (h.kind === 'mlp') this.mlp(h, s, nPos, out);
    else this.pixelShuffle(h, s, pw, ph, out);
    this.lastEncodeMs = performance.now() - t0;
    return out;
  }

  dispose(): void {
    this.scratch?.dispose();
    this.scratch = null;
    this.ops.dispose();
  }

  private scratchFor(nPos: number): Scratch {
    if (this.scratch && this.scratch.nPos === nPos) return this.scratch;
    this.scratch?.dispose();
    const hp = this.hparams, h = this.head;
    const D = h.kind === 'resampler' ? h.kv.rows : 0;
    const widest = Math.max(hp.nEmbd, D, h.kind === 'idefics3' ? hp.nEmbd * hp.scaleFactor ** 2 : 0, h.kind === 'mlp' ? h.mm0.w.rows : 0, hp.nEmbdOut);
    const nQ = h.kind === 'resampler' ? hp.queryNum : 0;
    this.scratch = new Scratch(nPos, widest, this.blocks[0]?.up.w.rows ?? hp.nFf, this.blocks.some((b) => b.gate), 3 * hp.patchSize ** 2, nQ, D, this.kernels);
    return this.scratch;
  }

  /** x += the learned position rows: MiniCPM-V's 70x70 buckets, else positions 0..nPos-1. */
  private addPositions(x: Float32Array, pw: number, ph: number, nPos: number): void {
    const n = this.hparams.nEmbd, pe = this.posEmbd;
    for (let i = 0; i < nPos; i++) {
      let row = i;
      if (this.head.kind === 'resampler') {
        const y = Math.floor(i / pw), xx = i % pw;
        row = Math.floor((MINICPMV_BUCKETS * y) / ph) * MINICPMV_BUCKETS + Math.floor((MINICPMV_BUCKETS * xx) / pw);
      }
      for (let j = 0; j < n; j++) x[i * n + j] += pe[row * n + j]!;
    }
  }

  /** One pre-norm block: x += attn(ln1(x)); x += ffn(ln2(x)). */
  private block(b: Block, s: Scratch, nPos: number): void {
    const { nEmbd: n, nHead, eps, ffnOp } = this.hparams, k = this.kernels, o = this.ops;
    const nFf = b.up.w.rows;
    const dHead = n / nHead;
    o.norm(s.x, b.ln1, eps, n, nPos, s.xn);
    k.matmulMany([b.q.w, b.k.w, b.v.w], s.xn, nPos, [s.q, s.k, s.v]);
    o.addBias(s.q, b.q.b, n, nPos); o.addBias(s.k, b.k.b, n, nPos); o.addBias(s.v, b.v.b, n, nPos);
    attention(k, s, s.q, s.k, s.v, nPos, nPos, nHead, dHead, 1 / Math.sqrt(dHead), s.att);
    k.matmul(b.o.w, s.att, nPos, s.xn);
    o.addBias(s.xn, b.o.b, n, nPos);
    o.residual(s.x, s.xn, nPos * n);
    o.norm(s.x, b.ln2, eps, n, nPos, s.xn);
    if (b.gate) {
      k.matmulMany([b.up.w, b.gate.w], s.xn, nPos, [s.ff, s.ff2!]);
      o.addBias(s.ff, b.up.b, nFf, nPos); o.addBias(s.ff2!, b.gate.b, nFf, nPos);
      o.activate(ffnOp, s.ff2!, nPos * nFf);
      for (let i = 0; i < nPos * nFf; i++) s.ff[i] = s.ff2![i]! * s.ff[i]!;
    } else {
      k.matmul(b.up.w, s.xn, nPos, s.ff);
      o.addBias(s.ff, b.up.b, nFf, nPos);
      o.activate(ffnOp, s.ff, nPos * nFf);
    }
    k.matmul(b.down.w, s.ff, nPos, s.xn);
    o.addBias(s.xn, b.down.b, n, nPos);
    o.residual(s.x, s.xn, nPos * n);
  }

  /** MiniCPM-V's resampler: the queries attend over the slice's features plus a 2D sin-cos position of each. */
  private resample(h: ResamplerWeights, s: Scratch, nPos: number, pw: number, out: Float32Array): void {
    const k = this.kernels, o = this.ops, eps = this.hparams.eps, D = h.kv.rows, nQ = this.hparams.queryNum, q4 = D / 4;
    // v = ln_kv(kv(x)); keys = v + pos; x's rows (the encoder output) are no longer needed after kv.
    k.matmul(h.kv, s.x, nPos, s.xn);
    o.norm(s.xn, h.lnKv, eps, D, nPos, s.v);
    const pos = s.pos!;
    if (s.posWidth !== pw) {
      // Depends only on the slice's width in patches: computed once per scratch and width.
      for (let i = 0; i < nPos; i++) {
        const px = i % pw, py = Math.floor(i / pw), r = i * D;
        for (let j = 0; j < q4; j++) {
          const tx = Math.fround(h.omega[j]! * px), ty = Math.fround(h.omega[j]! * py);
          pos[r + j] = Math.sin(tx); pos[r + q4 + j] = Math.cos(tx);
          pos[r + 2 * q4 + j] = Math.sin(ty); pos[r + 3 * q4 + j] = Math.cos(ty);
        }
      }
      s.posWidth = pw;
    }
    for (let i = 0; i < nPos * D; i++) s.k[i] = s.v[i]! + pos[i]!;
    s.xn.set(h.qNormed);
    k.matmul(h.q.w, s.xn, nQ, s.q); o.addBias(s.q, h.q.b, D, nQ);
    k.matmul(h.k.w, s.k, nPos, s.x); o.addBias(s.x, h.k.b, D, nPos);
    k.matmul(h.v.w, s.v, nPos, s.xn); o.addBias(s.xn, h.v.b, D, nPos);
    attention(k, s, s.q, s.x, s.xn, nQ, nPos, D / RESAMPLER_HEAD_DIM, RESAMPLER_HEAD_DIM, 1 / Math.sqrt(RESAMPLER_HEAD_DIM), s.att);
    k.matmul(h.o.w, s.att, nQ, s.q); o.addBias(s.q, h.o.b, D, nQ);
    o.norm(s.q, h.lnPost, eps, D, nQ, s.att);
    this.product(h.proj, s.att, nQ, s.q, out);
  }

  /**
   * LLaVA: mm.2(gelu(mm.0(features))). mtmd appends the class embedding after the patches yet takes
   * rows 1..nPatches (skipping the first patch, keeping the class row); done the same way here.
   */
  private mlp(h: MlpWeights, s: Scratch, nPos: number, out: Float32Array): void {
    const k = this.kernels, n = this.hparams.nEmbd, hidden = h.mm0.w.rows;
    const off = h.classEmbd ? 1 : 0, nOut = nPos - off;
    if (off) s.x.copyWithin(0, n, nPos * n);
    k.matmul(h.mm0.w, s.x, nOut, s.att);
    this.ops.addBias(s.att, h.mm0.b, hidden, nOut);
    this.ops.activate('gelu', s.att, nOut * hidden);
    this.product(h.mm2.w, s.att, nOut, s.q, out);
    if (h.mm2.b) addRows(out, h.mm2.b, h.mm2.w.rows, nOut);
  }

  /** idefics3: each s x s block of patches concatenated (row by row), then one linear map. */
  private pixelShuffle(h: Idefics3Weights, s: Scratch, pw: number, ph: number, out: Float32Array): void {
    const n = this.hparams.nEmbd, f = this.hparams.scaleFactor;
    const ow = Math.ceil(pw / f), oh = Math.ceil(ph / f), wide = n * f * f;
    const y = s.att;
    y.fill(0, 0, ow * oh * wide);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const o = (oy * ow + ox) * wide;
        for (let dy = 0; dy < f; dy++) {
          for (let dx = 0; dx < f; dx++) {
            const py = oy * f + dy, px = ox * f + dx;
            if (py >= ph || px >= pw) continue;
            y.set(s.x.subarray((py * pw + px) * n, (py * pw + px + 1) * n), o + (dy * f + dx) * n);
          }
        }
      }
    }
    this.product(h.fc, y, ow * oh, s.q, out);
  }

  /** out = w x through scratch (the kernels write only memory they own fast). */
  private product(w: WeightMatrix, x: Float32Array, nTok: number, tmp: Float32Array, out: Float32Array): void {
    const y = tmp.length >= nTok * w.rows ? tmp : new Float32Array(nTok * w.rows);
    this.kernels.matmul(w, x, nTok, y);
    out.set(y.subarray(0, nTok * w.rows));
  }
}

/** The error for a projector whose output width is not the LLM's: names both files. */
export function checkProjectorFits(proj: Projector, llmFile: string, llmEmbd: number): void {
  if (proj.hparams.nEmbdOut !== llmEmbd) {
    throw new ModelError(`${proj.file}: the projector emits ${proj.hparams.nEmbdOut}-wide embeddings but the model ${llmFile} has n_embd ${llmEmbd}: wrong mmproj for this model`);
  }
}
