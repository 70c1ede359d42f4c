// The mixture-of-experts feed-forward block (llama.cpp's build_moe_ffn with softmax gating): a
// router picks each token's top-k experts, their SwiGLU outputs are summed with the router's
// weights (renormalized over the k where the architecture says so), plus an always-on shared
// expert behind a sigmoid gate where present (Qwen2-MoE). Experts are views of the stacked
// [nExpert, rows, cols] tensors, so only the selected experts' rows are read; a batch is grouped
// by expert, each expert multiplying all of its tokens at once. Reads s.xn, leaves the output there.

import { blk } from '../../formats/gguf-names.js';
import type { WeightMatrix } from '../../kernels/types.js';
import type { DecoderHParams, ForwardPass } from '../decoder.js';
import type { StrictTensorTable } from '../strict-tensors.js';
import { sigmoid } from './act.js';

export interface MoeShape {
  nExpert: number;
  nExpertUsed: number;
  /** Rows of each expert's gate/up (expert_feed_forward_length). */
  nFFExp: number;
  /** Rows of the shared expert, 0 without one. */
  nFFShared: number;
  /** Renormalize the k selected weights to sum to 1 (Qwen3-MoE, MiniCPM-MoE; not Qwen2-MoE). */
  normTopK: boolean;
}

export interface MoeWeights {
  router: WeightMatrix;
  /** Per expert; null when the experts have no gate (silu(up) then). */
  gate: WeightMatrix[] | null;
  up: WeightMatrix[];
  down: WeightMatrix[];
  shared: { gate: WeightMatrix; up: WeightMatrix; down: WeightMatrix; inpGate: Float32Array | null } | null;
}

/** Scratch the block needs per token (DecoderHParams.scratch). */
export function moeScratch(hp: Pick<DecoderHParams, 'nEmbd'>, m: MoeShape): Record<string, number> {
  return { moeLogits: m.nExpert, moeSel: m.nExpertUsed, moeW: m.nExpertUsed, moeX: hp.nEmbd, moeY: hp.nEmbd, moeAcc: hp.nEmbd };
}

export function loadMoe(t: StrictTensorTable, hp: DecoderHParams, layer: number, m: MoeShape, opt: { gateOptional?: boolean; sharedGate?: boolean } = {}): MoeWeights {
  const { nEmbd } = hp, { nExpert, nFFExp, nFFShared } = m;
  const gateName = blk(layer, 'ffnGateExps');
  return {
    router: t.matrix(blk(layer, 'ffnGateInp'), nEmbd, nExpert),
    gate: opt.gateOptional && !t.has(gateName) ? null : t.stacked(gateName, nEmbd, nFFExp, nExpert),
    up: t.stacked(blk(layer, 'ffnUpExps'), nEmbd, nFFExp, nExpert),
    down: t.stacked(blk(layer, 'ffnDownExps'), nFFExp, nEmbd, nExpert),
    shared: nFFShared > 0
      ? {
          gate: t.matrix(blk(layer, 'ffnGateShexp'), nEmbd, nFFShared),
          up: t.matrix(blk(layer, 'ffnUpShexp'), nEmbd, nFFShared),
          down: t.matrix(blk(layer, 'ffnDownShexp'), nFFShared, nEmbd),
          inpGate: opt.sharedGate ? t.vector(blk(layer, 'ffnGateInpShexp'), nEmbd) : null,
        }
      : null,
  };
}

export function moeMatrices(w: MoeWeights): WeightMatrix[] {
  const out = [w.router, ...(w.gate ?? []), ...w.up, ...w.down];
  if (w.shared) out.push(w.shared.gate, w.shared.up, w.shared.down);
  return out;
}

/** Each token's k experts (descending router probability) and their weights, into moeSel / moeW. */
function route(f: ForwardPass, w: MoeWeights, m: MoeShape): void {
  const { kernels, s, nTok } = f;
  const { nExpert, nExpertUsed: k } = m;
  const logits = s.extra.moeLogits!, sel = s.extra.moeSel!, wts = s.extra.moeW!;
  kernels.matmul(w.router, s.xn, nTok, logits);
  for (let t = 0; t < nTok; t++) {
    const row = logits.subarray(t * nExpert, (t + 1) * nExpert);
    let max = -Infinity;
    for (let e = 0; e < nExpert; e++) max = Math.max(max, row[e]!);
    let sum = 0;
    for (let e = 0; e < nExpert; e++) { const p = Math.exp(row[e]! - max); row[e] = p; sum += p; }
    for (let e = 0; e < nExpert; e++) row[e] = row[e]! / sum;
    // Top-k by selection: k is small (2-8) and nExpert at most a few hundred.
    let wsum = 0;
    for (let j = 0; j < k; j++) {
      let best = -1;
      for (let e = 0; e < nExpert; e++) if (row[e]! >= 0 && (best < 0 || row[e]! > row[best]!)) best = e;
      sel[t * k + j] = best;
      wts[t * k + j] = row[best]!;
      wsum += row[best]!;
      row[best] = -1;
    }
    if (m.normTopK) {
      const d = Math.max(wsum, 6.103515625e-5);
      for (let j = 0; j < k; j++) wts[t * k + j] = wts[t * k + j]! / d;
    }
  }
}

/** gate/up/down of one expert over n gathered rows of x into y (silu(up) when there is no gate). */
function expertFfn(f: ForwardPass, gate: WeightMatrix | null, up: WeightMatrix, down: WeightMatrix, x: Float32Array, n: number, y: Float32Array): void {
  const { kernels, s } = f;
  const nff = up.rows;
  if (gate) {
    // gate and up of one input as one job over the kernels' threads (one barrier, not two).
    kernels.matmulMany([gate, up], x, n, [s.gate, s.up]);
    kernels.swiglu(s.gate, s.up, n * nff);
    kernels.matmul(down, s.gate, n, y);
  } else {
    kernels.matmul(up, x, n, s.up);
    const u = s.up;
    for (let i = 0; i < n * nff; i++) { const v = u[i]!; u[i] = v / (1 + Math.exp(-v)); }
    kernels.matmul(down, u, n, y);
  }
}

/**
 * Decode's views, made once per scratch buffer (the hot loop allocates nothing): slot j of gate/up
 * holds the j-th selected expert's nff outputs; `ws` is refilled with the selected matrices per token.
 */
interface DecodeSlots { readonly nff: number; readonly k: number; readonly gate: Float32Array[]; readonly ws: WeightMatrix[]; readonly ys: Float32Array[] }
const decodeSlots = new WeakMap<Float32Array, DecodeSlots>();

function slotsFor(gate: Float32Array, up: Float32Array, k: number, nff: number): DecodeSlots | null {
  if (k * nff > gate.length || k * nff > up.length) return null;
  const had = decodeSlots.get(gate);
  if (had && had.k === k && had.nff === nff) return had;
  const g = Array.from({ length: k }, (_, j) => gate.subarray(j * nff, (j + 1) * nff));
  const ys = g.flatMap((gj, j) => [gj, up.subarray(j * nff, (j + 1) * nff)]);
  const made: DecodeSlots = { nff, k, gate: g, ws: new Array<WeightMatrix>(2 * k), ys };
  decodeSlots.set(gate, made);
  return made;
}

/**
 * One token through its k experts with gated experts: every selected expert's gate and up as one
 * grouped job (matmulMany: one barrier for 2k products instead of one per expert), one SwiGLU over
 * all k, then each expert's down product added in selection order. Each product is computed as
 * expertFfn computes it, so the sums are the same to the bit. False when the scratch cannot hold
 * k experts' rows (a context made with a tiny batch): the caller then goes expert by expert.
 */
function decodeGated(f: ForwardPass, w: MoeWeights, k: number, acc: Float32Array, y: Float32Array): boolean {
  const { kernels, s } = f;
  const gates = w.gate!, nff = w.up[0]!.rows;
  const v = slotsFor(s.gate, s.up, k, nff);
  if (!v) return false;
  const sel = s.extra.moeSel!, wts = s.extra.moeW!;
  for (let j = 0; j < k; j++) { v.ws[2 * j] = gates[sel[j]!]!; v.ws[2 * j + 1] = w.up[sel[j]!]!; }
  kernels.matmulMany(v.ws, s.xn, 1, v.ys);
  kernels.swiglu(s.gate, s.up, k * nff);
  for (let j = 0; j < k; j++) {
    kernels.matmul(w.down[sel[j]!]!, v.gate[j]!, 1, y);
    kernels.addScaled(acc, y, wts[j]!, f.hp.nEmbd);
  }
  return true;
}

/** s.xn -> s.xn. */
export function moeFfn(f: ForwardPass, w: MoeWeights, m: MoeShape): void {
  const { s, nTok } = f;
  const n = f.hp.nEmbd, k = m.nExpertUsed;
  route(f, w, m);
  const sel = s.extra.moeSel!, wts = s.extra.moeW!, xg = s.extra.moeX!, y = s.extra.moeY!, acc = s.extra.moeAcc!;
  acc.fill(0, 0, nTok * n);
  if (nTok === 1) {
    if (!(w.gate && decodeGated(f, w, k, acc, y))) {
      for (let j = 0; j < k; j++) {
        const e = sel[j]!;
        expertFfn(f, w.gate?.[e] ?? null, w.up[e]!, w.down[e]!, s.xn, 1, y);
        f.kernels.addScaled(acc, y, wts[j]!, n);
      }
    }
  } else {
    // Group the batch by expert: gather its tokens' rows, one product per matrix, scatter back.
    const rows: number[] = [], slots: number[] = [];
    for (let e = 0; e < m.nExpert; e++) {
      rows.length = 0; slots.length = 0;
      for (let i = 0; i < nTok * k; i++) if (sel[i] === e) { rows.push(Math.floor(i / k)); slots.push(i); }
      if (!rows.length) continue;
      for (let r = 0; r < rows.length; r++) xg.set(s.xn.subarray(rows[r]! * n, (rows[r]! + 1) * n), r * n);
      expertFfn(f, w.gate?.[e] ?? null, w.up[e]!, w.down[e]!, xg, rows.length, y);
      for (let r = 0; r < rows.length; r++) {
        const wt = wts[slots[r]!]!, o = rows[r]! * n, yo = r * n;
        for (let i = 0; i < n; i++) acc[o + i] += y[yo + i]! * wt;
      }
    }
  }
  if (w.shared) {
    const sh = w.shared;
    expertFfn(f, sh.gate, sh.up, sh.down, s.xn, nTok, y);
    for (let t = 0; t < nTok; t++) {
      let g = 1;
      if (sh.inpGate) {
        let d = 0;
        for (let i = 0; i < n; i++) d += s.xn[t * n + i]! * sh.inpGate[i]!;
        g = sigmoid(d);
      }
      for (let i = 0; i < n; i++) acc[t * n + i] += y[t * n + i]! * g;
    }
  }
  s.xn.set(acc.subarray(0, nTok * n));
}
