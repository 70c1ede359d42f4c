// Activation quantization for weight-and-activation experiments (W8A8, W4A8, minifloat activations):
// each token's input row to a matmul is fake-quantized in place with one dynamic scale per token
// (amax / max code), as integer or minifloat, before the weight's dot products see it.

import { ArgumentError } from '../core/errors.js';
import { roundEven } from '../core/f16.js';
import { minifloat } from '../quant/minifloat.js';
import type { ActivationQuantizer } from './calib.js';

/** `int8`, `int4`, ..., or a minifloat `e4m3`, `e2m1`, ... (per-token dynamic scale). */
export function activationQuantizer(spec: string): ActivationQuantizer {
  const s = spec.toLowerCase();
  let m = /^int([2-8])$/.exec(s);
  if (m) {
    const qmax = (1 << (Number(m[1]) - 1)) - 1;
    return (x, off, n) => {
      let a = 0;
      for (let i = 0; i < n; i++) a = Math.max(a, Math.abs(x[off + i]!));
      if (a === 0) return;
      const d = a / qmax;
      for (let i = 0; i < n; i++) x[off + i] = d * roundEven(x[off + i]! / d);
    };
  }
  m = /^e(\d)m(\d)$/.exec(s);
  if (m) {
    const f = minifloat(Number(m[1]), Number(m[2]));
    return (x, off, n) => {
      let a = 0;
      for (let i = 0; i < n; i++) a = Math.max(a, Math.abs(x[off + i]!));
      if (a === 0) return;
      const d = a / f.max;
      for (let i = 0; i < n; i++) x[off + i] = d * f.round(x[off + i]! / d);
    };
  }
  throw new ArgumentError(`unknown activation format ${JSON.stringify(spec)} (int2..int8, or ExMy such as e4m3)`);
}
