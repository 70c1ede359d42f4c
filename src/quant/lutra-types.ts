// lutra's own tensor types (integers and minifloats with a choice of group and scale format), and
// how they are named on disk. ggml's type ids are small and grow one at a time; lutra's ids set bit
// 31, so they can never collide, and carry every parameter, so a reader needs no side table:
//
//   bit 31      1 (lutra private range)
//   bits 28-30  family: 0 integer, 1 minifloat
//   bits 16-27  integer:   bits-1 (3) | asymmetric (1) | scale format (2) | tensor-wide scale (1)
//               minifloat: E (3) | M (3) | scale format (2) | tensor-wide scale (1)
//   bits 0-15   group: elements per block (a row length for per-channel scales)
//
// A block is [scale][zero point (asymmetric integers)][codes, `bits` each, packed LSB first].
// llama.cpp refuses these ids ("invalid ggml type"); files that use them also describe each id in
// metadata (lutra.quantization.formats) for people reading them with other tools.

import { ArgumentError } from '../core/errors.js';
import { F16_TO_F32, f32ToF16, bf16ToF32, f32ToBf16 } from '../core/f16.js';

export const LUTRA_TYPE_BIT = 0x80000000;

export type ScaleFormat = 'F16' | 'BF16' | 'E8M0' | 'F32';
const SCALE_FORMATS: ScaleFormat[] = ['F16', 'BF16', 'E8M0', 'F32'];
export const SCALE_BYTES: Record<ScaleFormat, number> = { F16: 2, BF16: 2, E8M0: 1, F32: 4 };

export interface IntParams {
  family: 'int';
  bits: number;
  asym: boolean;
  group: number;
  scale: ScaleFormat;
  /** One scale chosen for the whole tensor (still stored per block). */
  tensorScale: boolean;
}

export interface FloatParams {
  family: 'fp';
  /** Exponent and mantissa bits; a sign bit makes 1 + E + M bits in all. */
  e: number;
  m: number;
  group: number;
  scale: ScaleFormat;
  tensorScale: boolean;
}

export type LutraParams = IntParams | FloatParams;

export function isLutraType(id: number): boolean {
  return id >= LUTRA_TYPE_BIT && id <= 0xffffffff;
}

export function codeBits(p: LutraParams): number {
  return p.family === 'int' ? p.bits : 1 + p.e + p.m;
}

/** Check a parameter set, naming what is wrong. */
export function validate(p: LutraParams): void {
  const b = codeBits(p);
  if (p.family === 'int' && (p.bits < 1 || p.bits > 8)) throw new ArgumentError(`integer formats have 1..8 bits, got ${p.bits}`);
  if (p.family === 'int' && p.bits === 1 && p.asym) throw new ArgumentError('1-bit integers are signs (y = s * +-1): there is no asymmetric 1-bit format');
  if (p.family === 'fp') {
    if (p.e < 1 || p.e > 7 || p.m < 0 || p.m > 6 || b < 3 || b > 8) throw new ArgumentError(`minifloats need E >= 1 and 3..8 bits in all (1 + E + M), got E${p.e}M${p.m}`);
  }
  if (!(p.group >= 1 && p.group <= 65535 && Number.isInteger(p.group))) throw new ArgumentError(`group must be 1..65535 elements, got ${p.group}`);
  if ((p.group * b) % 8 !== 0) throw new ArgumentError(`a group of ${p.group} ${b}-bit codes is not a whole number of bytes`);
}

export function encodeLutraType(p: LutraParams): number {
  validate(p);
  const sf = SCALE_FORMATS.indexOf(p.scale);
  const ts = p.tensorScale ? 1 : 0;
  const params = p.family === 'int'
    ? ((p.bits - 1) << 9) | ((p.asym ? 1 : 0) << 8) | (sf << 6) | (ts << 5)
    : (p.e << 9) | (p.m << 6) | (sf << 4) | (ts << 3);
  return (LUTRA_TYPE_BIT | ((p.family === 'int' ? 0 : 1) << 28) | (params << 16) | p.group) >>> 0;
}

/** Parameters of a lutra type id, or undefined when the id is not a valid one. */
export function decodeLutraType(id: number): LutraParams | undefined {
  if (!isLutraType(id)) return undefined;
  const family = (id >>> 28) & 7, params = (id >>> 16) & 0xfff, group = id & 0xffff;
  let p: LutraParams;
  if (family === 0) {
    if (params & 0x1f) return undefined;
    p = { family: 'int', bits: ((params >>> 9) & 7) + 1, asym: ((params >>> 8) & 1) === 1, scale: SCALE_FORMATS[(params >>> 6) & 3]!, tensorScale: ((params >>> 5) & 1) === 1, group };
  } else if (family === 1) {
    if (params & 7) return undefined;
    p = { family: 'fp', e: (params >>> 9) & 7, m: (params >>> 6) & 7, scale: SCALE_FORMATS[(params >>> 4) & 3]!, tensorScale: ((params >>> 3) & 1) === 1, group };
  } else {
    return undefined;
  }
  try {
    validate(p);
  } catch {
    return undefined;
  }
  return p;
}

/** Bytes of one block. */
export function blockBytes(p: LutraParams): number {
  return SCALE_BYTES[p.scale] + (p.family === 'int' && p.asym ? 1 : 0) + (p.group * codeBits(p)) / 8;
}

/** A readable, unique name: INT4_ASYM_G128_F16, FP_E4M3_G32_E8M0, INT8_SYM_G4096_BF16_T (tensor-wide scale). */
export function lutraTypeName(p: LutraParams): string {
  const t = p.tensorScale ? '_T' : '';
  return p.family === 'int'
    ? `INT${p.bits}_${p.asym ? 'ASYM' : 'SYM'}_G${p.group}_${p.scale}${t}`
    : `FP_E${p.e}M${p.m}_G${p.group}_${p.scale}${t}`;
}

/** The sentence written to lutra.quantization.formats for a type id. */
export function describeLutraType(id: number): string {
  const p = decodeLutraType(id)!;
  const scale = `${p.tensorScale ? 'one tensor-wide' : 'a'} ${p.scale} scale per ${p.group} elements`;
  return p.family === 'int'
    ? `${id}=${lutraTypeName(p)}: ${p.bits}-bit ${p.bits === 1 ? 'signs, y = s * (2c - 1) with s the mean |x| of the group' : p.asym ? 'asymmetric integers with a u8 zero point, y = s * (q - z)' : 'symmetric integers in [-(2^(b-1)-1), 2^(b-1)-1], y = s * q'}, ${scale}`
    : `${id}=${lutraTypeName(p)}: minifloat sign + E${p.e} + M${p.m}, bias 2^(E-1)-1, no inf/NaN, saturating, subnormals, y = s * v, ${scale}`;
}

// ------------------------------------------------------------------ scales

/** Round a positive scale to what the format stores (E8M0: the power of two at or above, no clipping for integers). */
export function storeScale(fmt: ScaleFormat, s: number, dst: Uint8Array, off: number): number {
  switch (fmt) {
    case 'F16': {
      const h = f32ToF16(s);
      dst[off] = h & 0xff; dst[off + 1] = h >>> 8;
      return F16_TO_F32[h]!;
    }
    case 'BF16': {
      const h = f32ToBf16(s);
      dst[off] = h & 0xff; dst[off + 1] = h >>> 8;
      return bf16ToF32(h);
    }
    case 'F32': {
      new DataView(dst.buffer, dst.byteOffset + off, 4).setFloat32(0, s, true);
      return Math.fround(s);
    }
    case 'E8M0': {
      const e = s > 0 ? Math.min(254, Math.max(0, ceilLog2(s) + 127)) : 0;
      dst[off] = e;
      return 2 ** (e - 127);
    }
  }
}

export function loadScale(fmt: ScaleFormat, src: Uint8Array, off: number): number {
  switch (fmt) {
    case 'F16': return F16_TO_F32[src[off]! | (src[off + 1]! << 8)]!;
    case 'BF16': return bf16ToF32(src[off]! | (src[off + 1]! << 8));
    case 'F32': return new DataView(src.buffer, src.byteOffset + off, 4).getFloat32(0, true);
    case 'E8M0': return 2 ** (src[off]! - 127);
  }
}

/** floor(log2 x) for x > 0, exact (Math.log2 can be off by one ulp near powers of two). */
export function floorLog2(x: number): number {
  let e = Math.floor(Math.log2(x));
  if (2 ** e > x) e--;
  else if (2 ** (e + 1) <= x) e++;
  return e;
}

export function ceilLog2(x: number): number {
  const e = floorLog2(x);
  return 2 ** e === x ? e : e + 1;
}

// ------------------------------------------------------------------ spec strings

/**
 * Parse a lutra type spec: `int4`, `int4-asym-g128-bf16`, `int8-ch` (per channel), `int8-tensor`,
 * `e4m3`, `fp8-e5m2-g32-e8m0`, `fp6-e3m2`, `fp4` (E2M1), `fp3` (E1M1), `mxfp8` (E4M3, groups of 32,
 * E8M0), `mxfp6` (E3M2), `mxint8`. (`mxfp4` is ggml's type.) Defaults: symmetric, groups of 32, F16 scales. Returns a resolver, since
 * a per-channel group is the row length of each tensor.
 */
export function parseLutraSpec(spec: string): { name: string; resolve(rowLength: number): LutraParams } | undefined {
  const s = spec.toLowerCase();
  const parts = s.split('-');
  // mxfp4 is ggml's own type 39 (mxfp4.ts), not a lutra type.
  const mx = /^mx(fp8|fp6|int8)$/.exec(parts[0]!);
  let base: Omit<IntParams, 'group'> | Omit<FloatParams, 'group'>;
  let group: number | 'channel' = 32;
  let i = 1;
  if (mx) {
    if (parts.length > 1) return undefined;
    base = mx[1] === 'int8' ? { family: 'int', bits: 8, asym: false, scale: 'E8M0', tensorScale: false }
      : { family: 'fp', ...(mx[1] === 'fp8' ? { e: 4, m: 3 } : { e: 3, m: 2 }), scale: 'E8M0', tensorScale: false };
  } else {
    let m: RegExpExecArray | null;
    const first = parts[0]!;
    if ((m = /^int([1-8])$/.exec(first))) {
      base = { family: 'int', bits: Number(m[1]), asym: false, scale: 'F16', tensorScale: false };
    } else if ((m = /^e(\d)m(\d)$/.exec(first))) {
      base = { family: 'fp', e: Number(m[1]), m: Number(m[2]), scale: 'F16', tensorScale: false };
    } else if ((m = /^fp([3-8])$/.exec(first))) {
      const bits = Number(m[1]);
      const next = parts[1] && /^e(\d)m(\d)$/.exec(parts[1]);
      if (next) { base = { family: 'fp', e: Number(next[1]), m: Number(next[2]), scale: 'F16', tensorScale: false }; i = 2; if (1 + base.e + base.m !== bits) return undefined; }
      else {
        const dflt: Record<number, [number, number]> = { 3: [1, 1], 4: [2, 1], 5: [2, 2], 6: [3, 2], 7: [3, 3], 8: [4, 3] };
        base = { family: 'fp', e: dflt[bits]![0], m: dflt[bits]![1], scale: 'F16', tensorScale: false };
      }
    } else {
      return undefined;
    }
    for (; i < parts.length; i++) {
      const p = parts[i]!;
      let g: RegExpExecArray | null;
      if (p === 'asym' && base.family === 'int') base = { ...base, asym: true };
      else if (p === 'sym' && base.family === 'int') base = { ...base, asym: false };
      else if (p === 'ch' || p === 'channel') group = 'channel';
      else if (p === 'tensor') { group = 'channel'; base = { ...base, tensorScale: true }; }
      else if ((g = /^g(\d+)$/.exec(p))) group = Number(g[1]);
      else if (p === 'f16' || p === 'bf16' || p === 'e8m0' || p === 'f32') base = { ...base, scale: p.toUpperCase() as ScaleFormat };
      else return undefined;
    }
  }
  const b = base;
  const probe = { ...b, group: group === 'channel' ? 64 : group } as LutraParams;
  validate(probe);
  return {
    name: spec,
    resolve(rowLength: number): LutraParams {
      const p = { ...b, group: group === 'channel' ? rowLength : group } as LutraParams;
      validate(p);
      return p;
    },
  };
}

// ------------------------------------------------------------------ code packing

/** Write n codes of `bits` bits (low bits of each value) LSB first, starting at byte `off`. */
export function packCodes(codes: Int32Array | Uint8Array, n: number, bits: number, dst: Uint8Array, off: number): void {
  const mask = (1 << bits) - 1;
  let acc = 0, nacc = 0, o = off;
  for (let i = 0; i < n; i++) {
    acc |= (codes[i]! & mask) << nacc;
    nacc += bits;
    while (nacc >= 8) {
      dst[o++] = acc & 0xff;
      acc >>>= 8;
      nacc -= 8;
    }
  }
  if (nacc > 0) dst[o] = acc & 0xff;
}

/** Read n unsigned `bits`-bit codes written by packCodes. */
export function unpackCodes(src: Uint8Array, off: number, n: number, bits: number, out: Int32Array): void {
  const mask = (1 << bits) - 1;
  let acc = 0, nacc = 0, o = off;
  for (let i = 0; i < n; i++) {
    while (nacc < bits) {
      acc |= src[o++]! << nacc;
      nacc += 8;
    }
    out[i] = acc & mask;
    acc >>>= bits;
    nacc -= bits;
  }
}
