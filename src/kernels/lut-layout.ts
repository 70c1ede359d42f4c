// The weight layout of the table-lookup (T-MAC) kernels, shared by the TypeScript reference and the
// WebAssembly backend. A matrix is cut into tiles of 16 rows, so one 16-byte table lookup
// (i8x16.swizzle) serves 16 rows at once. Within a tile, group by group along the row:
//
//   [16 x f16 scale s][16 x f16 offset o | 16 x u8 zero point z | nothing][codes]
//
// codes: for each pair of 4-element activation slices (t, t+1) of the group, for each bit plane j
// (LSB first), 16 bytes, byte r = (bits j of row r's codes for elements 4t..4t+3) | (the same for
// slice t+1) << 4. A 4-bit nibble is then the index into the slice's 16-entry table.
//
// For every format whose block is its scale group (Q4_0, Q4_1, TQ2_0, lutra INTn with f16 scales) a
// tile is exactly as large as its 16 rows were, so packing happens in place, tile by tile. TQ1_0's
// base-3 bytes hold fewer bits than two planes: it grows to 2 bits per weight.

import type { LutSpec, QuantFormat } from '../quant/types.js';
import { F16_TO_F32 } from '../core/f16.js';

export const LUT_TILE = 16;

export interface LutShape {
  readonly bits: number;
  readonly group: number;
  /** 0 none, 1 f16 offset, 2 u8 zero point (the kernels' integer code). */
  readonly offKind: 0 | 1 | 2;
  /** The constant the activation sum of a group is multiplied by (see lutEpilogue in ref/lut.ts). */
  readonly zc: number;
  readonly rows: number;
  readonly cols: number;
  readonly groups: number;
  readonly tiles: number;
  /** Tiles of 16 complete rows; a last partial tile is padded with zero rows. */
  readonly fullTiles: number;
  readonly groupBytes: number;
  readonly codeOff: number;
  readonly tileBytes: number;
  /** Whether a tile has exactly the bytes of its 16 source rows (pack in place). */
  readonly inPlace: boolean;
}

/** The LUT shape of a matrix, or null when its format or row length does not fit the kernels. */
export function lutShape(format: QuantFormat, rows: number, cols: number, rowBytes: number): LutShape | null {
  const spec = format.lut;
  if (!spec || spec.bits < 1 || spec.bits > 4 || spec.group % 8 !== 0 || cols % spec.group !== 0) return null;
  const offKind = spec.offset === 'none' ? 0 : spec.offset === 'f16' ? 1 : 2;
  const codeOff = 32 + (offKind === 1 ? 32 : offKind === 2 ? 16 : 0);
  const groupBytes = codeOff + 2 * spec.bits * spec.group;
  const groups = cols / spec.group;
  const tileBytes = groups * groupBytes;
  const half = ((1 << spec.bits) - 1) / 2;
  return {
    bits: spec.bits, group: spec.group, offKind, zc: offKind === 0 ? half - spec.zero : half,
    rows, cols, groups, tiles: Math.ceil(rows / LUT_TILE), fullTiles: Math.floor(rows / LUT_TILE),
    groupBytes, codeOff, tileBytes, inPlace: tileBytes === LUT_TILE * rowBytes,
  };
}

/**
 * Pack `n` (<= 16) rows starting at byte srcOff of src (rows rowBytes apart) into one tile at
 * dst[dstOff..+tileBytes). Rows n..15 are zero. src and dst must not overlap (the in-place caller
 * copies the tile's source bytes out first).
 */
export function packLutTile(spec: LutSpec, sh: LutShape, src: Uint8Array, srcOff: number, rowBytes: number, n: number, dst: Uint8Array, dstOff: number, scratch: LutPackScratch): void {
  const { group, bits, groups, groupBytes, codeOff } = sh;
  const { codes, meta, planes } = scratch;
  dst.fill(0, dstOff, dstOff + sh.tileBytes);
  const b2 = 2 * bits, b3 = 3 * bits;
  for (let g = 0; g < groups; g++) {
    const go = dstOff + g * groupBytes;
    for (let r = 0; r < n; r++) {
      meta[0] = 0;
      const s = spec.unpack(src, srcOff + r * rowBytes, g, codes, meta);
      dst[go + 2 * r] = s & 0xff;
      dst[go + 2 * r + 1] = s >> 8;
      if (sh.offKind === 1) { dst[go + 32 + 2 * r] = meta[0]! & 0xff; dst[go + 33 + 2 * r] = meta[0]! >> 8; }
      else if (sh.offKind === 2) dst[go + 32 + r] = meta[0]!;
      // Two slices of 4 codes at a time; `planes` turns 4 codes into their bits-plane nibbles.
      for (let pair = 0, e = 0; pair < group / 8; pair++, e += 8) {
        const lo = planes[codes[e]! | (codes[e + 1]! << bits) | (codes[e + 2]! << b2) | (codes[e + 3]! << b3)]!;
        const hi = planes[codes[e + 4]! | (codes[e + 5]! << bits) | (codes[e + 6]! << b2) | (codes[e + 7]! << b3)]!;
        const o = go + codeOff + pair * bits * 16 + r;
        for (let j = 0; j < bits; j++) dst[o + j * 16] = ((lo >> (4 * j)) & 15) | (((hi >> (4 * j)) & 15) << 4);
      }
    }
  }
}

export interface LutPackScratch {
  codes: Uint8Array;
  meta: Uint16Array;
  /** 4 codes (c0 | c1 << b | c2 << 2b | c3 << 3b) -> plane j's nibble at bits 4j..4j+3. */
  planes: Uint16Array;
}

export function lutPackScratch(sh: LutShape): LutPackScratch {
  const b = sh.bits, planes = new Uint16Array(1 << (4 * b));
  for (let key = 0; key < planes.length; key++) {
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const c = (key >> (i * b)) & ((1 << b) - 1);
      for (let j = 0; j < b; j++) v |= ((c >> j) & 1) << (4 * j + i);
    }
    planes[key] = v;
  }
  return { codes: new Uint8Array(sh.group), meta: new Uint16Array(1), planes };
}

/** A matrix in LUT layout: full tiles at main[mainOff...], the padded last tile (if any) in tail. */
export interface LutPacked {
  readonly shape: LutShape;
  readonly main: Uint8Array;
  readonly tail: Uint8Array | null;
}

/** Pack a whole matrix into fresh buffers (tests and the reference backend). */
export function packLut(format: QuantFormat, data: Uint8Array, rows: number, cols: number, rowBytes: number, alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n)): LutPacked {
  const sh = lutShape(format, rows, cols, rowBytes);
  if (!sh) throw new Error(`${format.name} [${rows} x ${cols}] has no table-lookup layout`);
  const main = alloc(Math.max(1, sh.fullTiles * sh.tileBytes));
  const scratch = lutPackScratch(sh);
  for (let t = 0; t < sh.fullTiles; t++) packLutTile(format.lut!, sh, data, t * LUT_TILE * rowBytes, rowBytes, LUT_TILE, main, t * sh.tileBytes, scratch);
  let tail: Uint8Array | null = null;
  if (sh.tiles > sh.fullTiles) {
    tail = alloc(sh.tileBytes);
    packLutTile(format.lut!, sh, data, sh.fullTiles * LUT_TILE * rowBytes, rowBytes, rows - sh.fullTiles * LUT_TILE, tail, 0, scratch);
  }
  return { shape: sh, main, tail };
}

/**
 * Pack in place: each full tile's 16 rows are replaced by their tile (same size). Only for
 * shapes with inPlace; the padded last tile goes to `tail`, allocated by the caller.
 */
export function packLutInPlace(format: QuantFormat, data: Uint8Array, sh: LutShape, rowBytes: number, tail: Uint8Array | null): void {
  if (!sh.inPlace) throw new Error(`${format.name} tiles are not the size of their rows`);
  const tmp = new Uint8Array(LUT_TILE * rowBytes);
  const scratch = lutPackScratch(sh);
  for (let t = 0; t < sh.fullTiles; t++) {
    const off = t * sh.tileBytes;
    tmp.set(data.subarray(off, off + sh.tileBytes));
    packLutTile(format.lut!, sh, tmp, 0, rowBytes, LUT_TILE, data, off, scratch);
  }
  if (tail) {
    const n = sh.rows - sh.fullTiles * LUT_TILE;
    packLutTile(format.lut!, sh, data, sh.fullTiles * LUT_TILE * rowBytes, rowBytes, n, tail, 0, scratch);
  }
}

/**
 * Row `row` of a packed matrix, dequantized into out[outOff..+cols): the embedding lookup of a
 * tied table that went to the LUT kernels (the packed bytes are the only copy).
 */
export function lutDequantRow(p: LutPacked, row: number, out: Float32Array, outOff: number): void {
  const sh = p.shape;
  const tile = Math.floor(row / LUT_TILE), r = row % LUT_TILE;
  const buf = tile < sh.fullTiles ? p.main : p.tail!;
  const off = tile < sh.fullTiles ? tile * sh.tileBytes : 0;
  const half = ((1 << sh.bits) - 1) / 2;
  const zero = sh.offKind === 0 ? half - sh.zc : 0;
  for (let g = 0; g < sh.groups; g++) {
    const go = off + g * sh.groupBytes;
    const s = F16_TO_F32[buf[go + 2 * r]! | (buf[go + 2 * r + 1]! << 8)]!;
    const o = sh.offKind === 1 ? F16_TO_F32[buf[go + 32 + 2 * r]! | (buf[go + 33 + 2 * r]! << 8)]! : 0;
    const z = sh.offKind === 2 ? buf[go + 32 + r]! : zero;
    for (let e = 0; e < sh.group; e++) {
      const t = e >> 2, pair = t >> 1, shift = (t & 1) * 4 + (e & 3);
      let q = 0;
      for (let j = 0; j < sh.bits; j++) q |= ((buf[go + sh.codeOff + (pair * sh.bits + j) * 16 + r]! >> shift) & 1) << j;
      out[outOff + g * sh.group + e] = sh.offKind === 1 ? s * q + o : s * (q - z);
    }
  }
}
