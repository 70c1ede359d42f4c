// Hugging Face GPTQ and AWQ checkpoints <-> lutra's asymmetric integer type, without going through
// floats: the codes, zero points and f16 scales are moved, not recomputed, so a GPTQ/AWQ layer
// becomes an INTb_ASYM_G{g}_F16 tensor (y = s * (q - z)) with exactly the same values.
//
// GPTQ (AutoGPTQ / GPTQModel "v1" layout), for a linear layer with `inF` inputs and `outF` outputs:
//   qweight int32 [inF * bits / 32, outF]  codes packed along the input dim, LSB first, one
//                                           continuous bit stream per output column (3-bit codes
//                                           straddle words)
//   qzeros  int32 [inF / g, outF * bits / 32]  zero points minus one, packed along the output dim
//   scales  f16   [inF / g, outF]
//   g_idx   int32 [inF]                      group of each input; only g_idx[i] = floor(i / g) maps
//                                           to contiguous blocks (act-order checkpoints are refused)
// AWQ (AutoAWQ GEMM layout, 4-bit): qweight int32 [inF, outF / 8] packed along the output dim in the
// order 0 2 4 6 1 3 5 7, qzeros int32 [inF / g, outF / 8] likewise (no minus one), scales f16 [inF / g, outF].

import { ArgumentError } from '../core/errors.js';
import { encodeLutraType, decodeLutraType, blockBytes } from '../quant/lutra-types.js';

export interface GptqTensors {
  qweight: Int32Array;
  qzeros: Int32Array;
  /** f16 bits. */
  scales: Uint16Array;
  gIdx?: Int32Array;
}

export interface LinearShape { inF: number; outF: number; bits: number; group: number }

/** Read code k of a bit stream spread over 32-bit words (`word(i)` gives word i). */
function getBits(word: (i: number) => number, k: number, bits: number): number {
  const bit = k * bits, w = bit >>> 5, sh = bit & 31;
  let v = word(w) >>> sh;
  if (sh + bits > 32) v |= word(w + 1) << (32 - sh);
  return v & ((1 << bits) - 1);
}

function setBits(set: (i: number, v: number) => void, get: (i: number) => number, k: number, bits: number, v: number): void {
  const bit = k * bits, w = bit >>> 5, sh = bit & 31;
  set(w, get(w) | (v << sh));
  if (sh + bits > 32) set(w + 1, get(w + 1) | (v >>> (32 - sh)));
}

function check(s: LinearShape): void {
  if (![2, 3, 4, 8].includes(s.bits)) throw new ArgumentError(`GPTQ/AWQ import: ${s.bits}-bit checkpoints are not supported (2, 3, 4, 8)`);
  if (s.inF % s.group !== 0 || (s.inF * s.bits) % 32 !== 0 || (s.outF * s.bits) % 32 !== 0) throw new ArgumentError(`GPTQ/AWQ import: shape ${s.inF}x${s.outF} does not pack into ${s.bits}-bit words with groups of ${s.group}`);
}

/** The lutra type id a GPTQ/AWQ layer maps to. */
export function gptqLutraType(s: LinearShape): number {
  return encodeLutraType({ family: 'int', bits: s.bits, asym: true, group: s.group, scale: 'F16', tensorScale: false });
}

/** Lay out lutra blocks (rows = outputs, blocks of `group` inputs: [f16 scale][u8 zero][codes]). */
function writeBlocks(s: LinearShape, code: (i: number, o: number) => number, zero: (g: number, o: number) => number, scale: (g: number, o: number) => number): Uint8Array {
  const type = gptqLutraType(s), p = decodeLutraType(type)!, bb = blockBytes(p);
  const nb = s.inF / s.group;
  const out = new Uint8Array(s.outF * nb * bb);
  for (let o = 0; o < s.outF; ++o) {
    for (let g = 0; g < nb; g++) {
      const off = (o * nb + g) * bb;
      const sc = scale(g, o);
      out[off] = sc & 0xff; out[off + 1] = sc >>> 8;
      out[off + 2] = zero(g, o);
      let acc = 0, nacc = 0, w = off + 3;
      for (let k = 0; k < s.group; k++) {
        acc |= code(g * s.group + k, o) << nacc;
        nacc += s.bits;
        while (nacc >= 8) { out[w++] = acc & 0xff; acc >>>= 8; nacc -= 8; }
      }
    }
  }
  return out;
}

/** Read lutra blocks back as codes, zeros and scale bits. */
function readBlocks(s: LinearShape, bytes: Uint8Array): { code: (i: number, o: number) => number; zero: (g: number, o: number) => number; scale: (g: number, o: number) => number } {
  const p = decodeLutraType(gptqLutraType(s))!, bb = blockBytes(p), nb = s.inF / s.group;
  const at = (g: number, o: number) => (o * nb + g) * bb;
  return {
    scale: (g, o) => bytes[at(g, o)]! | (bytes[at(g, o) + 1]! << 8),
    zero: (g, o) => bytes[at(g, o) + 2]!,
    code: (i, o) => {
      const g = Math.floor(i / s.group), k = i % s.group, base = at(g, o) + 3;
      const bit = k * s.bits;
      let v = 0;
      for (let b = 0; b < s.bits; b++) v |= ((bytes[base + ((bit + b) >>> 3)]! >>> ((bit + b) & 7)) & 1) << b;
      return v;
    },
  };
}

/** A GPTQ layer as a lutra tensor (bytes of type gptqLutraType(shape)). */
export function importGptq(t: GptqTensors, s: LinearShape): Uint8Array {
  check(s);
  if (t.gIdx) for (let i = 0; i < s.inF; i++) {
    if (t.gIdx[i] !== Math.floor(i / s.group)) throw new ArgumentError(`GPTQ import: g_idx[${i}] = ${t.gIdx[i]} (act-order); lutra's blocks need g_idx[i] = floor(i / ${s.group})`);
  }
  const zw = (s.outF * s.bits) / 32;
  return writeBlocks(
    s,
    (i, o) => getBits((w) => t.qweight[w * s.outF + o]!, i, s.bits),
    (g, o) => (getBits((w) => t.qzeros[g * zw + w]!, o, s.bits) + 1) & 0xff,
    (g, o) => t.scales[g * s.outF + o]!,
  );
}

/** The GPTQ v1 layout of a lutra INTb_ASYM_G{g}_F16 tensor (zero points must be >= 1, as GPTQ stores z - 1). */
export function exportGptq(bytes: Uint8Array, s: LinearShape): GptqTensors {
  check(s);
  const r = readBlocks(s, bytes), ng = s.inF / s.group;
  const qweight = new Int32Array((s.inF * s.bits / 32) * s.outF), qzeros = new Int32Array(ng * (s.outF * s.bits / 32)), scales = new Uint16Array(ng * s.outF);
  const zw = (s.outF * s.bits) / 32;
  for (let o = 0; o < s.outF; o++) {
    for (let i = 0; i < s.inF; i++) setBits((w, v) => { qweight[w * s.outF + o] = v; }, (w) => qweight[w * s.outF + o]!, i, s.bits, r.code(i, o));
    for (let g = 0; g < ng; g++) {
      const z = r.zero(g, o);
      if (z < 1) throw new ArgumentError('GPTQ export: a zero point of 0 cannot be stored as z - 1');
      setBits((w, v) => { qzeros[g * zw + w] = v; }, (w) => qzeros[g * zw + w]!, o, s.bits, z - 1);
      scales[g * s.outF + o] = r.scale(g, o);
    }
  }
  return { qweight, qzeros, scales, gIdx: Int32Array.from({ length: s.inF }, (_, i) => Math.floor(i / s.group)) };
}

const AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7];

/** An AWQ (GEMM, 4-bit) layer as a lutra tensor. */
export function importAwq(t: GptqTensors, s: LinearShape): Uint8Array {
  if (s.bits !== 4) throw new ArgumentError(`AWQ import: ${s.bits}-bit GEMM checkpoints are not supported (4-bit only)`);
  check(s);
  const ow = s.outF / 8;
  const nib = (arr: Int32Array, row: number, o: number) => (arr[row * ow + (o >> 3)]! >>> (4 * AWQ_ORDER.indexOf(o & 7))) & 15;
  return writeBlocks(s, (i, o) => nib(t.qweight, i, o), (g, o) => nib(t.qzeros, g, o), (g, o) => t.scales[g * s.outF + o]!);
}

export function exportAwq(bytes: Uint8Array, s: LinearShape): GptqTensors {
  if (s.bits !== 4) throw new ArgumentError('AWQ export: 4-bit only');
  check(s);
  const r = readBlocks(s, bytes), ng = s.inF / s.group, ow = s.outF / 8;
  const qweight = new Int32Array(s.inF * ow), qzeros = new Int32Array(ng * ow), scales = new Uint16Array(ng * s.outF);
  const put = (arr: Int32Array, row: number, o: number, v: number) => { arr[row * ow + (o >> 3)] |= v << (4 * AWQ_ORDER.indexOf(o & 7)); };
  for (let o = 0; o < s.outF; o++) {
    for (let i = 0; i < s.inF; i++) put(qweight, i, o, r.code(i, o));
    for (let g = 0; g < ng; g++) { put(qzeros, g, o, r.zero(g, o)); scales[g * s.outF + o] = r.scale(g, o); }
  }
  return { qweight, qzeros, scales };
}
