// GPTQ (Frantar et al.): quantize a weight matrix column by column, pushing each column's error onto
// the columns not yet quantized through the inverse Hessian of the layer inputs (H = 2 X^T X / n),
// with damping, lazy batch updates of `blockSize` columns, optional activation order (columns by
// decreasing H diagonal, with groups fixed up front from the original weights: "static groups"), and
// the group size of the target format. Targets lutra's integer and minifloat types, whose group
// scales GPTQ chooses and writes itself; ggml's types recompute their own scales from the values, so
// they are refused here rather than approximated.

import { ArgumentError } from '../core/errors.js';
import { roundEven } from '../core/f16.js';
import { type LutraParams, decodeLutraType, blockBytes, SCALE_BYTES, storeScale, packCodes, floorLog2, codeBits } from '../quant/lutra-types.js';
import { minifloat } from '../quant/minifloat.js';
import { ggmlTypeName } from '../quant/table.js';

export interface GptqOptions {
  /** Dampening as a fraction of the mean Hessian diagonal (default 0.01). */
  percDamp?: number;
  /** Columns per lazy batch update (default 128). */
  blockSize?: number;
  /** Quantize columns in order of decreasing Hessian diagonal (default false). */
  actOrder?: boolean;
}

interface Grid {
  /** Scale (and zero point) for one group of values, as the format's own quantizer would pick them. */
  params(v: Float64Array, off: number, n: number): [number, number];
  /** Code of v, and its value, under the parameters. */
  code(v: number, s: number, z: number): number;
  value(code: number, s: number, z: number): number;
}

const scratch = new Uint8Array(4);

function gridFor(p: LutraParams): Grid {
  const store = (s: number) => storeScale(p.scale, s, scratch, 0);
  if (p.family === 'int') {
    const qmax = p.asym ? (1 << p.bits) - 1 : (1 << (p.bits - 1)) - 1;
    return {
      params(v, off, n) {
        let lo = 0, hi = 0;
        for (let j = 0; j < n; j++) { const x = v[off + j]!; if (x < lo) lo = x; if (x > hi) hi = x; }
        const s = store(p.asym ? (hi - lo) / qmax : Math.max(-lo, hi) / qmax);
        const z = p.asym && s > 0 ? Math.max(0, Math.min(qmax, roundEven(-lo / s))) : 0;
        return [s, z];
      },
      code: p.asym
        ? (v, s, z) => Math.max(0, Math.min(qmax, roundEven(s > 0 ? v / s : 0) + z))
        : (v, s) => Math.max(-qmax, Math.min(qmax, roundEven(s > 0 ? v / s : 0))),
      value: (c, s, z) => s * (c - z),
    };
  }
  const mf = minifloat(p.e, p.m), emax = floorLog2(mf.max);
  return {
    params(v, off, n) {
      let a = 0;
      for (let j = 0; j < n; j++) a = Math.max(a, Math.abs(v[off + j]!));
      return [store(a === 0 ? 0 : p.scale === 'E8M0' ? 2 ** (floorLog2(a) - emax) : a / mf.max), 0];
    },
    code: (v, s) => mf.encode(mf.round(s > 0 ? v / s : 0)),
    value: (c, s) => s * mf.values[c]!,
  };
}

/** Lower Cholesky factor of a symmetric positive definite n x n matrix (row-major), in place into L. */
function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * n + j]!;
      for (let k = 0; k < j; k++) s -= L[i * n + k]! * L[j * n + k]!;
      if (i === j) {
        if (!(s > 0)) throw new ArgumentError('GPTQ: the Hessian is not positive definite (raise the damping)');
        L[i * n + i] = Math.sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j]!;
      }
    }
  }
  return L;
}

/** Inverse of A from its lower Cholesky factor L: A^-1 = L^-T L^-1. */
function choleskyInverse(L: Float64Array, n: number): Float64Array {
  const Li = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    Li[i * n + i] = 1 / L[i * n + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += L[i * n + k]! * Li[k * n + j]!;
      Li[i * n + j] = -s / L[i * n + i]!;
    }
  }
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) {
    let s = 0;
    for (let k = i; k < n; k++) s += Li[k * n + i]! * Li[k * n + j]!;
    out[i * n + j] = s;
    out[j * n + i] = s;
  }
  return out;
}

/**
 * GPTQ-quantize W (rows x cols, ggml shape [cols, rows]) to lutra type `type`, given the input
 * second-moment matrix xtx (sum over n tokens of x x^T). Returns the tensor's bytes in that type.
 */
export function gptqQuantize(W: Float32Array, rows: number, cols: number, xtx: Float64Array, nTok: number, type: number, o: GptqOptions = {}): Uint8Array {
  const p = decodeLutraType(type);
  if (!p) throw new ArgumentError(`GPTQ writes lutra's integer and minifloat types; ${ggmlTypeName(type)} recomputes its own scales (use rtn, awq, smoothquant or rotation with it)`);
  const G = p.tensorScale ? rows * cols : p.group;
  if (!p.tensorScale && cols % G !== 0) throw new ArgumentError(`GPTQ: rows of ${cols} are not a multiple of the group ${G}`);
  const grid = gridFor(p);
  const blockSize = o.blockSize ?? 128, percDamp = o.percDamp ?? 0.01;

  const H = new Float64Array(cols * cols);
  for (let i = 0; i < H.length; i++) H[i] = (2 * xtx[i]!) / Math.max(1, nTok);
  const w = new Float64Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = W[i]!;
  for (let j = 0; j < cols; j++) {
    if (H[j * cols + j] === 0) {
      H[j * cols + j] = 1;
      for (let r = 0; r < rows; r++) w[r * cols + j] = 0;
    }
  }
  // Group parameters: computed from the original weights up front with act-order or a tensor-wide
  // scale, else from the current (error-updated) weights when a group starts.
  const nGroups = p.tensorScale ? 1 : cols / G;
  const S = new Float64Array(rows * nGroups), Z = new Float64Array(rows * nGroups);
  const setParams = (r: number, g: number) => {
    const [s, z] = p.tensorScale ? grid.params(w, 0, rows * cols) : grid.params(w, r * cols + g * G, G);
    S[r * nGroups + g] = s; Z[r * nGroups + g] = z;
  };
  const staticGroups = o.actOrder || p.tensorScale;
  if (staticGroups) for (let r = 0; r < rows; r++) for (let g = 0; g < nGroups; g++) setParams(r, g);

  const perm = Array.from({ length: cols }, (_, i) => i);
  if (o.actOrder) perm.sort((a, b) => H[b * cols + b]! - H[a * cols + a]! || a - b);
  // Work in permuted column order.
  const Hp = new Float64Array(cols * cols), wp = new Float64Array(rows * cols);
  for (let i = 0; i < cols; i++) for (let j = 0; j < cols; j++) Hp[i * cols + j] = H[perm[i]! * cols + perm[j]!]!;
  for (let r = 0; r < rows; r++) for (let i = 0; i < cols; i++) wp[r * cols + i] = w[r * cols + perm[i]!]!;
  let mean = 0;
  for (let i = 0; i < cols; i++) mean += Hp[i * cols + i]!;
  const damp = (percDamp * mean) / cols;
  for (let i = 0; i < cols; i++) Hp[i * cols + i] += damp;
  const Hinv = choleskyInverse(cholesky(Hp, cols), cols);
  // Upper Cholesky factor of H^-1: U = L^T with L the lower factor.
  const Lh = cholesky(Hinv, cols);
  const U = (i: number, j: number) => Lh[j * cols + i]!;

  const codes = new Int32Array(rows * cols);
  const err = new Float64Array(rows * blockSize);
  for (let i1 = 0; i1 < cols; i1 += blockSize) {
    const i2 = Math.min(i1 + blockSize, cols), nb = i2 - i1;
    err.fill(0);
    for (let i = i1; i < i2; i++) {
      const orig = perm[i]!, g = p.tensorScale ? 0 : Math.floor(orig / G);
      if (!staticGroups && orig % G === 0) {
        // Groups start in order without act-order: take the current values of the group's columns.
        for (let r = 0; r < rows; r++) {
          const buf = new Float64Array(G);
          for (let k = 0; k < G; k++) buf[k] = wp[r * cols + i + k]!;
          const [s, z] = grid.params(buf, 0, G);
          S[r * nGroups + g] = s; Z[r * nGroups + g] = z;
        }
      }
      const d = U(i, i);
      for (let r = 0; r < rows; r++) {
        const s = S[r * nGroups + g]!, z = Z[r * nGroups + g]!;
        const x = wp[r * cols + i]!;
        const c = grid.code(x, s, z);
        codes[r * cols + orig] = c;
        const e = (x - grid.value(c, s, z)) / d;
        err[r * blockSize + (i - i1)] = e;
        for (let j = i + 1; j < i2; j++) wp[r * cols + j] -= e * U(i, j);
      }
    }
    if (i2 < cols) {
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < nb; k++) {
          const e = err[r * blockSize + k]!;
          if (e === 0) continue;
          const ui = i1 + k;
          for (let j = i2; j < cols; j++) wp[r * cols + j] -= e * U(ui, j);
        }
      }
    }
  }

  // Write the blocks: [scale][zero][codes] per group of G along each row.
  const gw = p.group, bb = blockBytes(p), sb = SCALE_BYTES[p.scale], bits = codeBits(p);
  const out = new Uint8Array(((rows * cols) / gw) * bb);
  const blockCodes = new Int32Array(gw);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < cols / gw; b++) {
      const o = (r * (cols / gw) + b) * bb;
      const g = p.tensorScale ? 0 : Math.floor((b * gw) / G);
      storeScale(p.scale, S[r * nGroups + g]!, out, o);
      if (p.family === 'int' && p.asym) out[o + sb] = Z[r * nGroups + g]!;
      for (let k = 0; k < gw; k++) blockCodes[k] = codes[r * cols + b * gw + k]!;
      packCodes(blockCodes, gw, bits, out, o + sb + (p.family === 'int' && p.asym ? 1 : 0));
    }
  }
  return out;
}
