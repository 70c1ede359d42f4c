// AdamW with decoupled weight decay (Loshchilov & Hutter), global-norm gradient clipping, and the
// learning-rate schedules: WSD (warmup, stable, decay: exponential / linear / cosine, as MiniCPM)
// and cosine with warmup as the baseline. Under muP, matrices train at lr / (width / dim_model_base).

import type { Param } from './decoder.js';
import { refOps, type TrainOps } from './backend.js';

export interface AdamWOptions {
  beta1: number; beta2: number; eps: number; weightDecay: number;
  /** Per-kind learning-rate multiplier (muP: matrices get 1/width_mult). */
  lrMult: (p: Param) => number;
}

export class AdamW {
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  t = 0;
  constructor(readonly params: Param[], readonly o: AdamWOptions, readonly ops: TrainOps = refOps) {
    this.m = params.map((p) => ops.alloc(p.data.length));
    this.v = params.map((p) => ops.alloc(p.data.length));
  }

  step(lr: number): void {
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.o;
    this.t++;
    const c1 = 1 / (1 - Math.pow(b1, this.t)), c2 = 1 / (1 - Math.pow(b2, this.t));
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const plr = lr * this.o.lrMult(p);
      // decoupled decay on matrices and embeddings, never on norm gains
      const decay = p.kind === 'norm' ? 1 : 1 - plr * weightDecay;
      this.ops.adamw(p.data, p.grad, this.m[k]!, this.v[k]!, b1, b2, eps, plr, decay, c1, c2);
    }
  }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before. */
export function clipGradNorm(params: Param[], maxNorm: number, ops: TrainOps = refOps): number {
  let ss = 0;
  for (const p of params) ss = ops.sumsq(p.grad, ss);
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) ops.scale(p.grad, p.grad, s, p.grad.length);
  }
  return norm;
}

export type Schedule =
  | { type: 'wsd'; warmup: number; /** last step of the stable phase (decay starts here) */ decayStart: number; decaySteps: number; decay: 'exp' | 'linear' | 'cosine'; /** final lr / peak lr */ minRatio: number }
  | { type: 'cosine'; warmup: number; total: number; minRatio: number }
  | { type: 'constant'; warmup: number };

/** Learning-rate multiplier (of the peak lr) at optimizer step `s` (0-based). */
export function lrFactor(sch: Schedule, s: number): number {
  if (s < sch.warmup) return (s + 1) / sch.warmup;
  switch (sch.type) {
    case 'constant': return 1;
    case 'cosine': {
      const p = Math.min(1, (s - sch.warmup) / Math.max(1, sch.total - sch.warmup));
      return sch.minRatio + (1 - sch.minRatio) * 0.5 * (1 + Math.cos(Math.PI * p));
    }
    case 'wsd': {
      if (s < sch.decayStart) return 1;
      const p = Math.min(1, (s - sch.decayStart) / Math.max(1, sch.decaySteps));
      const r = sch.minRatio;
      // exponential: MiniCPM's 0.5^(t/T_half), with the half-life chosen to land on minRatio
      if (sch.decay === 'exp') return Math.pow(Math.max(r, 1e-4), p);
      if (sch.decay === 'linear') return 1 - (1 - r) * p;
      return r + (1 - r) * 0.5 * (1 + Math.cos(Math.PI * p));
    }
  }
}
