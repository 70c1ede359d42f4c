// MiniCache (arXiv 2405.14366): the KV states of adjacent layer pairs from the middle of the network
// down are merged per token and KV head. For a pair (a, a+1) and one token's vectors x_a, x_b:
//   Ω = arccos(x_a·x_b / (|x_a| |x_b|)),  e = sin((1-t)Ω)/sinΩ · x_a/|x_a| + sin(tΩ)/sinΩ · x_b/|x_b|
// (a plain lerp of the directions where Ω ≈ 0); the store keeps e once (in the cache's K/V format)
// and both magnitudes, and restores x̂_l = |x_l| e. Highly distinct tokens (the share `retain` with
// the largest Ω) are kept unmerged: the paper thresholds the angular distance Ω/π between its min and
// max by γ, which read literally keeps almost every token of these small models (and xKV's reference
// applies it inverted), so γ here is the retained share itself. 'average' is the paper's baseline: both layers read (x_a + x_b) / 2.
// Layers outside the pairs live in an ordinary store of the chosen cache type.
//
// Order, as the paper's algorithm figure has it: a batch's queries attend to the merged states of
// earlier positions (rescaled, retained tokens recovered) concatenated with their own batch's raw
// keys and values; the batch is merged once both layers have computed it. So prefill attention is
// exact and the merge is what later tokens read. Each layer of a pair therefore keeps its last
// batch raw (layer a's also waits there until layer b appends the same positions). A merged layer
// attends by restoring its keys and values into f32 scratch and running the kernels' f32 attention.

import { ArgumentError } from '../../core/errors.js';
import { KVStoreBase } from './base.js';
import { F16_TO_F32, f32ToF16 } from '../../core/f16.js';
import type { AttentionParams, Kernels } from '../../kernels/types.js';
import type { AttentionShape, KVShape, KVStore } from '../../models/kv-store.js';
import { checkHeadSize, type KVCacheFormat } from './cache-types.js';

export interface MiniCacheOptions {
  /** SLERP interpolation parameter t (default 0.6, the paper's). */
  t?: number;
  /**
   * The share of (token, KV head) pairs kept unmerged: those whose two layers' vectors are furthest
   * apart, by the angle's quantile among every angle the pair has seen so far (the paper's γ, default
   * 0.05). 1 keeps every token (the merge then changes nothing), 0 merges all.
   */
  retain?: number;
  /** 'slerp' (default) or 'average' (the paper's baseline). */
  method?: 'slerp' | 'average';
  /** First layer of the first merged pair (default: nLayer / 2, rounded down). */
  startLayer?: number;
}

/** One merged pair's storage: directions in the cache formats, magnitudes, retained originals. */
interface Pair {
  eK: Uint8Array;
  eV: Uint8Array;
  /** |x| per (position, KV head) as f16: [pos][layer a, layer b][head]. */
  normK: Uint16Array;
  normV: Uint16Array;
  /** Slot of the retained originals per (position, KV head), -1 when merged. */
  slot: Int32Array;
  /** Retained originals in the cache formats, per slot: K of a, K of b, V of a, V of b (one head each). */
  kept: Uint8Array;
  nKept: number;
  /** Angles seen so far, in ANGLE_BINS bins over [0, π]: the retention threshold is their quantile. */
  hist: Float64Array;
  seen: number;
  /** Each layer's (a, b) last batch, raw: positions rawFrom[i]..rawTo[i]-1. */
  rawK: [Float32Array, Float32Array];
  rawV: [Float32Array, Float32Array];
  rawFrom: Int32Array;
  rawTo: Int32Array;
  /** Positions 0..mergedTo-1 are merged. */
  mergedTo: number;
}

const EPS_ANGLE = 1e-6;
const F16_ONE = 0x3c00;
const ANGLE_BINS = 1024;

export class MiniCacheKVStore extends KVStoreBase implements KVStore {
  readonly t: number;
  readonly retain: number;
  readonly method: 'slerp' | 'average';
  readonly startLayer: number;
  /** Which pair a layer belongs to (-1: none) and whether it is the pair's first layer. */
  private readonly pairOf: Int32Array;
  private readonly innerIndex: Int32Array;
  private readonly pairs: Pair[] = [];
  private readonly kStride: number;
  private readonly vStride: number;
  private readonly kRowBytes: number;
  private readonly vRowBytes: number;
  /** Bytes of one head's K / V row in the cache formats, and of one retained slot. */
  private readonly kHeadBytes: number;
  private readonly vHeadBytes: number;
  private readonly slotBytes: number;
  private readonly resK: Float32Array;
  private readonly resV: Float32Array;
  private readonly rowK: Float32Array;
  private readonly rowV: Float32Array;
  private readonly params: AttentionParams;
  private angles = new Float64Array(0);

  readonly inner: KVStore;

  /** innerStore(n): a store of this shape but n layers, for the layers left unmerged. */
  constructor(private readonly kernels: Kernels, shape: KVShape, innerStore: (nLayer: number) => KVStore, readonly kType: KVCacheFormat, readonly vType: KVCacheFormat, opts: MiniCacheOptions = {}) {
    super(shape);
    checkHeadSize('K', kType, shape.headDim);
    checkHeadSize('V', vType, shape.headDimV);
    this.t = opts.t ?? 0.6;
    this.retain = opts.retain ?? 0.05;
    if (!(this.retain >= 0 && this.retain <= 1)) throw new ArgumentError(`MiniCache retain must be a share in [0, 1], got ${opts.retain}`);
    this.method = opts.method ?? 'slerp';
    this.startLayer = opts.startLayer ?? Math.floor(shape.nLayer / 2);
    if (!(this.t >= 0 && this.t <= 1)) throw new ArgumentError(`MiniCache t must be in [0, 1], got ${opts.t}`);
    if (!(Number.isInteger(this.startLayer) && this.startLayer >= 0 && this.startLayer + 1 < shape.nLayer)) {
      throw new ArgumentError(`MiniCache startLayer ${opts.startLayer} leaves no pair of layers to merge in ${shape.nLayer} layers`);
    }
    if (this.method !== 'slerp' && this.method !== 'average') throw new ArgumentError(`MiniCache method must be slerp or average, got ${JSON.stringify(opts.method)}`);
    this.pairOf = new Int32Array(shape.nLayer).fill(-1);
    this.innerIndex = new Int32Array(shape.nLayer).fill(-1);
    let nInner = 0;
    for (let l = 0; l < shape.nLayer; l++) {
      if (l >= this.startLayer && l + 1 < shape.nLayer && (l - this.startLayer) % 2 === 0) { this.pairOf[l] = this.pairOf[l + 1] = this.pairs.length; this.pairs.push(this.newPair(shape)); l++; }
      else this.innerIndex[l] = nInner++;
    }
    this.inner = innerStore(nInner);
    this.kStride = shape.nHeadKv * shape.headDim;
    this.vStride = shape.nHeadKv * shape.headDimV;
    this.kRowBytes = (this.kStride / kType.format.blockSize) * kType.format.typeSize;
    this.vRowBytes = (this.vStride / vType.format.blockSize) * vType.format.typeSize;
    this.kHeadBytes = this.kRowBytes / shape.nHeadKv;
    this.vHeadBytes = this.vRowBytes / shape.nHeadKv;
    this.slotBytes = 2 * (this.kHeadBytes + this.vHeadBytes);
    for (const p of this.pairs) { p.eK = new Uint8Array(shape.nCtx * this.kRowBytes); p.eV = new Uint8Array(shape.nCtx * this.vRowBytes); }
    const alloc = kernels.allocF32 ? (n: number) => kernels.allocF32!(n) : (n: number) => new Float32Array(n);
    this.resK = alloc(shape.nCtx * this.kStride);
    this.resV = alloc(shape.nCtx * this.vStride);
    this.rowK = new Float32Array(this.kStride);
    this.rowV = new Float32Array(this.vStride);
    this.params = { nHead: 0, nHeadKv: shape.nHeadKv, headDim: shape.headDim, headDimV: shape.headDimV, scale: 1, f16: false };
  }

  private newPair(shape: KVShape): Pair {
    return {
      eK: new Uint8Array(0), eV: new Uint8Array(0),
      normK: new Uint16Array(shape.nCtx * 2 * shape.nHeadKv), normV: new Uint16Array(shape.nCtx * 2 * shape.nHeadKv),
      slot: new Int32Array(shape.nCtx * shape.nHeadKv).fill(-1), kept: new Uint8Array(0), nKept: 0,
      hist: new Float64Array(ANGLE_BINS), seen: 0,
      rawK: [new Float32Array(0), new Float32Array(0)], rawV: [new Float32Array(0), new Float32Array(0)],
      rawFrom: new Int32Array(2), rawTo: new Int32Array(2), mergedTo: 0,
    };
  }

  /** Layers whose KV states are merged (pairs a, a+1). */
  mergedLayers(): number[] {
    return [...this.pairOf.keys()].filter((l) => this.pairOf[l]! >= 0);
  }

  append(layer: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    this.checkAppend(pos0, nTok);
    const pi = this.pairOf[layer]!;
    if (pi < 0) {
      this.inner.append(this.innerIndex[layer]!, pos0, keys, values, nTok);
    } else {
      const p = this.pairs[pi]!, which = this.pairOf[layer - 1] === pi ? 1 : 0;
      this.holdRaw(p, which, pos0, keys, values, nTok);
      if (which === 1) {
        if (p.rawFrom[0] !== pos0 || p.rawTo[0] !== pos0 + nTok) {
          throw new ArgumentError(`MiniCache: layer ${layer} appends positions ${pos0}..${pos0 + nTok - 1}, but layer ${layer - 1} appended ${p.rawFrom[0]}..${p.rawTo[0]! - 1}`);
        }
        const H = this.nHeadKv, kA = p.rawK[0], vA = p.rawV[0];
        if (this.angles.length < nTok * H) this.angles = new Float64Array(nTok * H);
        for (let t = 0; t < nTok; t++) this.merge(p, pos0 + t, kA, vA, keys, values, t);
        const threshold = this.threshold(p, nTok * H);
        for (let t = 0; t < nTok; t++) for (let h = 0; h < H; h++) this.keep(p, pos0 + t, h, this.angles[t * H + h]! >= threshold, kA, vA, keys, values, t);
        p.mergedTo = pos0 + nTok;
      }
    }
    if (pos0 + nTok > this.length) this.length = pos0 + nTok;
  }

  /** Keep layer `which`'s batch raw: its own queries attend to it unmerged. */
  private holdRaw(p: Pair, which: number, pos0: number, keys: Float32Array, values: Float32Array, nTok: number): void {
    if (p.rawK[which]!.length < nTok * this.kStride) { p.rawK[which] = new Float32Array(nTok * this.kStride); p.rawV[which] = new Float32Array(nTok * this.vStride); }
    p.rawK[which]!.set(keys.subarray(0, nTok * this.kStride));
    p.rawV[which]!.set(values.subarray(0, nTok * this.vStride));
    p.rawFrom[which] = pos0; p.rawTo[which] = pos0 + nTok;
  }

  /** Merge one position's vectors of the pair's two layers (token t of each batch). */
  private merge(p: Pair, pos: number, kA: Float32Array, vA: Float32Array, kB: Float32Array, vB: Float32Array, t: number): void {
    const H = this.nHeadKv, dk = this.headDim, dv = this.headDimV;
    for (let h = 0; h < H; h++) {
      const oa = t * this.kStride + h * dk, va = t * this.vStride + h * dv;
      const angK = this.mergeVec(kA, kB, oa, dk, this.rowK, h * dk, p.normK, (pos * 2) * H + h);
      const angV = this.mergeVec(vA, vB, va, dv, this.rowV, h * dv, p.normV, (pos * 2) * H + h);
      this.angles[t * H + h] = Math.max(angK, angV);
    }
    this.kType.write(this.rowK, 0, p.eK, pos * this.kRowBytes, this.kStride);
    this.vType.write(this.rowV, 0, p.eV, pos * this.vRowBytes, this.vStride);
  }

  /**
   * Count the batch's n angles into the pair's histogram; the angle from which the largest share
   * `retain` of all angles seen so far starts (Infinity: none kept, 0: all).
   */
  private threshold(p: Pair, n: number): number {
    for (let i = 0; i < n; i++) p.hist[Math.min(ANGLE_BINS - 1, Math.floor((this.angles[i]! / Math.PI) * ANGLE_BINS))]! += 1;
    p.seen += n;
    if (this.method === 'average' || this.retain === 0) return Infinity;
    if (this.retain === 1) return 0;
    const budget = this.retain * p.seen;
    let cum = 0, b = ANGLE_BINS;
    while (b > 0 && cum + p.hist[b - 1]! <= budget) cum += p.hist[--b]!;
    return b === ANGLE_BINS ? Infinity : (b / ANGLE_BINS) * Math.PI;
  }

  /** Keep (or not) the originals of KV head h at pos, token t of the two layers' batches. */
  private keep(p: Pair, pos: number, h: number, keep: boolean, kA: Float32Array, vA: Float32Array, kB: Float32Array, vB: Float32Array, t: number): void {
    const dk = this.headDim, dv = this.headDimV, si = pos * this.nHeadKv + h;
    if (!keep) { p.slot[si] = -1; return; }
    const oa = t * this.kStride + h * dk, va = t * this.vStride + h * dv;
    const need = (p.nKept + 1) * this.slotBytes;
    if (p.kept.length < need) { const k = new Uint8Array(Math.max(need, 2 * p.kept.length)); k.set(p.kept); p.kept = k; }
    const o = p.nKept * this.slotBytes, kb = this.kHeadBytes, vb = this.vHeadBytes;
    this.kType.write(kA, oa, p.kept, o, dk);
    this.kType.write(kB, oa, p.kept, o + kb, dk);
    this.vType.write(vA, va, p.kept, o + 2 * kb, dv);
    this.vType.write(vB, va, p.kept, o + 2 * kb + vb, dv);
    p.slot[si] = p.nKept++;
  }

  /**
   * The merged direction of a[off..off+n) and b[..] into out[outOff..], their norms at norms[ni]
   * (layer a) and norms[ni + nHeadKv] (layer b); returns the angle between them.
   */
  private mergeVec(a: Float32Array, b: Float32Array, off: number, n: number, out: Float32Array, outOff: number, norms: Uint16Array, ni: number): number {
    let na = 0, nb = 0, dot = 0;
    for (let i = 0; i < n; i++) { const x = a[off + i]!, y = b[off + i]!; na += x * x; nb += y * y; dot += x * y; }
    na = Math.sqrt(na); nb = Math.sqrt(nb);
    if (this.method === 'average') {
      // Both layers read the mean vector: a unit "norm" and the mean itself as the direction.
      for (let i = 0; i < n; i++) out[outOff + i] = (a[off + i]! + b[off + i]!) / 2;
      norms[ni] = F16_ONE; norms[ni + this.nHeadKv] = F16_ONE;
      return 0;
    }
    norms[ni] = f32ToF16(na); norms[ni + this.nHeadKv] = f32ToF16(nb);
    const ia = na > 0 ? 1 / na : 0, ib = nb > 0 ? 1 / nb : 0;
    const cos = Math.max(-1, Math.min(1, dot * ia * ib));
    const om = Math.acos(cos), t = this.t;
    let wa = 1 - t, wb = t;
    if (om > EPS_ANGLE) { const s = Math.sin(om); wa = Math.sin((1 - t) * om) / s; wb = Math.sin(t * om) / s; }
    for (let i = 0; i < n; i++) out[outOff + i] = wa * a[off + i]! * ia + wb * b[off + i]! * ib;
    return om;
  }

  attend(layer: number, q: Float32Array, nTok: number, pos0: number, shape: AttentionShape, out: Float32Array): void {
    const pi = this.pairOf[layer]!;
    if (pi < 0) return this.inner.attend(this.innerIndex[layer]!, q, nTok, pos0, shape, out);
    if (shape.window) throw new ArgumentError('MiniCache does not merge sliding-window layers: start the merged pairs past them or turn MiniCache off');
    const n = pos0 + nTok;
    if (n > this.length) throw new ArgumentError(`KV store: attending to positions up to ${n - 1}, but it holds ${this.length}`);
    const p = this.pairs[pi]!;
    const second = this.pairOf[layer - 1] === pi ? 1 : 0;
    this.restore(p, second, pos0, n);
    const pr = this.params;
    pr.nHead = shape.nHead; pr.scale = shape.scale;
    this.kernels.attention(q, this.resK, this.resV, nTok, pos0, pr, out);
  }

  /**
   * Keys and values of positions 0..n-1 of the pair's layer `which` (0: a, 1: b) into resK/resV: the
   * merged states restored before pos0 (where merged), the layer's own raw batch from there on.
   */
  private restore(p: Pair, which: number, pos0: number, n: number): void {
    const H = this.nHeadKv, dk = this.headDim, dv = this.headDimV;
    const from = p.rawFrom[which]!, to = p.rawTo[which]!, merged = Math.min(pos0, p.mergedTo);
    if (from > merged || n > to) {
      throw new ArgumentError(`MiniCache: attending positions up to ${n - 1} from ${pos0}, but ${p.mergedTo} are merged and ${from}..${to - 1} held raw`);
    }
    this.kType.format.dequantize(p.eK, 0, this.resK, 0, merged * this.kStride);
    this.vType.format.dequantize(p.eV, 0, this.resV, 0, merged * this.vStride);
    for (let pos = 0; pos < merged; pos++) {
      for (let h = 0; h < H; h++) {
        const ni = (pos * 2 + which) * H + h, ko = pos * this.kStride + h * dk, vo = pos * this.vStride + h * dv;
        const s = p.slot[pos * H + h]!;
        if (s >= 0) {
          const o = s * this.slotBytes;
          this.kType.format.dequantize(p.kept, o + which * this.kHeadBytes, this.resK, ko, dk);
          this.vType.format.dequantize(p.kept, o + 2 * this.kHeadBytes + which * this.vHeadBytes, this.resV, vo, dv);
          continue;
        }
        const nk = F16_TO_F32[p.normK[ni]!]!, nv = F16_TO_F32[p.normV[ni]!]!;
        if (nk !== 1) for (let i = 0; i < dk; i++) this.resK[ko + i] = this.resK[ko + i]! * nk;
        if (nv !== 1) for (let i = 0; i < dv; i++) this.resV[vo + i] = this.resV[vo + i]! * nv;
      }
    }
    // The batch itself (and, for layer a, positions layer b has not merged yet): raw.
    this.resK.set(p.rawK[which]!.subarray((merged - from) * this.kStride, (n - from) * this.kStride), merged * this.kStride);
    this.resV.set(p.rawV[which]!.subarray((merged - from) * this.vStride, (n - from) * this.vStride), merged * this.vStride);
  }

  truncate(n: number): void {
    this.checkTruncate(n);
    this.inner.truncate(Math.min(n, this.inner.length));
    for (const p of this.pairs) {
      for (let i = 0; i < 2; i++) { p.rawTo[i] = Math.min(p.rawTo[i]!, n); p.rawFrom[i] = Math.min(p.rawFrom[i]!, p.rawTo[i]!); }
      p.mergedTo = Math.min(p.mergedTo, n);
      // Retained slots past n are forgotten; their storage is reused from the first one past n.
      let keep = 0;
      for (let i = 0; i < n * this.nHeadKv; i++) if (p.slot[i]! >= 0) keep = Math.max(keep, p.slot[i]! + 1);
      p.nKept = keep;
    }
    this.length = n;
  }

  copyPrefix(from: KVStore, n: number): void {
    if (!(from instanceof MiniCacheKVStore) || from.nLayer !== this.nLayer || from.startLayer !== this.startLayer || from.kType.name !== this.kType.name || from.vType.name !== this.vType.name || from.method !== this.method || from.t !== this.t || from.retain !== this.retain || from.kStride !== this.kStride || from.vStride !== this.vStride) {
      throw new ArgumentError(`KV store: cannot copy from a ${from.constructor.name} into a MiniCache store of other settings`);
    }
    if (!(Number.isInteger(n) && n >= 0 && n <= from.length && n <= this.nCtx)) throw new ArgumentError(`KV store: cannot copy ${n} positions: the source holds ${from.length}, this store ${this.nCtx}`);
    this.inner.copyPrefix(from.inner, n);
    this.pairs.forEach((p, i) => {
      const f = from.pairs[i]!;
      p.eK.set(f.eK.subarray(0, n * this.kRowBytes)); p.eV.set(f.eV.subarray(0, n * this.vRowBytes));
      p.normK.set(f.normK.subarray(0, n * 2 * this.nHeadKv)); p.normV.set(f.normV.subarray(0, n * 2 * this.nHeadKv));
      p.slot.set(f.slot.subarray(0, n * this.nHeadKv));
      p.kept = Uint8Array.from(f.kept); p.nKept = f.nKept;
      p.hist.set(f.hist); p.seen = f.seen;
      p.rawFrom.fill(n); p.rawTo.fill(n); p.mergedTo = n;
    });
    this.truncate(n);
  }

  private pairBytes(positions: number, p: Pair): number {
    // Directions in the cache formats, four f16 norms per (position, KV head), the retained originals.
    return positions * (this.kRowBytes + this.vRowBytes + 4 * this.nHeadKv * 2) + p.nKept * this.slotBytes;
  }

  get bytes(): number {
    return this.inner.bytes + this.pairs.reduce((s, p) => s + this.pairBytes(this.nCtx, p), 0);
  }

  bytesUsed(): number {
    return this.inner.bytesUsed() + this.pairs.reduce((s, p) => s + this.pairBytes(this.length, p), 0);
  }

  /** Retained (unmerged) tokens x KV heads, over all pairs. */
  retained(): number {
    return this.pairs.reduce((s, p) => s + p.nKept, 0);
  }

  dispose(): void {
    this.inner.dispose();
    this.kernels.release?.(this.resK);
    this.kernels.release?.(this.resV);
    this.pairs.length = 0;
  }
}
