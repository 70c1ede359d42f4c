// The pre-norm residual frame of a decoder layer: RMSNorm of the residual stream into a block's
// input, and the block's output added back (scaled, for MiniCPM's depth scaling).

import type { ForwardPass } from '../decoder.js';

/** s.xn = rmsNorm(s.x) * weight. */
export function preNorm(f: ForwardPass, weight: Float32Array): void {
  const { s, hp } = f;
  f.kernels.rmsNorm(s.x, weight, hp.eps, hp.nEmbd, f.nTok, s.xn);
}

/** s.x += s.xn * scale. */
export function addResidual(f: ForwardPass, scale = 1): void {
  f.kernels.addScaled(f.s.x, f.s.xn, scale, f.nTok * f.hp.nEmbd);
}
