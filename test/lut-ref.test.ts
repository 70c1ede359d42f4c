// The TypeScript table-lookup reference against plain dequantized products: exact mode reproduces
// the dequantize path's integer sums; int8 tables stay within the documented bound.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { intFormat } from '../src/quant/int.js';
import { LUT_TILE, lutDequantRow, lutShape, packLut, packLutInPlace } from '../src/kernels/lut-layout.js';
import { lutMatmul, lutQuantizeActs, lutTables, lutTablesExact } from '../src/kernels/ref/lut.js';
import { F16_TO_F32 } from '../src/core/f16.js';
import { randomFloats } from './helpers.js';

import { LUT_CASES, ggml, quantized } from './lut-cases.js';

for (const [name, fmt] of LUT_CASES) {
  test(`LUT reference, ${name}: exact tables give the dequantized product of the int8 activations`, () => {
    const rows = 37, cols = 512, nTok = 3;
    const { data, rowBytes, deq } = quantized(fmt, rows, cols, 11);
    const p = packLut(fmt, data, rows, cols, rowBytes);
    const G = p.shape.group, nG = cols / G;
    const x = randomFloats(cols * nTok, 5, 2);
    const qs = new Int8Array(cols * nTok), d = new Float32Array(nG * nTok);
    lutQuantizeActs(x, cols, nTok, G, qs, d);
    const tbl = new Uint8Array(nTok * cols / 4 * 32), th = new Float32Array(nG * nTok), tA = new Float32Array(nG * nTok);
    lutTablesExact(qs, d, cols, nTok, G, tbl, th, tA);
    const y = new Float32Array(rows * nTok);
    lutMatmul(p, tbl, th, tA, true, nTok, y);
    for (let t = 0; t < nTok; t++) {
      for (let r = 0; r < rows; r++) {
        let e = 0, m = 0;
        for (let k = 0; k < cols; k++) { const v = deq[r * cols + k]! * qs[t * cols + k]! * d[t * nG + Math.floor(k / G)]!; e += v; m += Math.abs(v); }
        assert.ok(Math.abs(y[t * rows + r]! - e) <= 2e-6 * m + 1e-7, `${name} t${t} r${r}: ${y[t * rows + r]} vs ${e}`);
      }
    }
  });

  test(`LUT reference, ${name}: int8 tables stay within sum |s| * ts * (2^b - 1) * G / 16`, () => {
    const rows = 21, cols = 1024, nTok = 2;
    const { data, rowBytes, deq } = quantized(fmt, rows, cols, 3);
    const p = packLut(fmt, data, rows, cols, rowBytes);
    const { group: G, bits } = p.shape;
    const nG = cols / G;
    const x = randomFloats(cols * nTok, 9, 3);
    const tbl = new Int8Array(nTok * cols / 4 * 16), th = new Float32Array(nG * nTok), tA = new Float32Array(nG * nTok);
    lutTables(x, cols, nTok, G, tbl, th, tA);
    const y = new Float32Array(rows * nTok);
    lutMatmul(p, tbl, th, tA, false, nTok, y);
    let worst = 0;
    for (let t = 0; t < nTok; t++) {
      for (let r = 0; r < rows; r++) {
        let e = 0, bound = 0, m = 0;
        for (let k = 0; k < cols; k++) { e += deq[r * cols + k]! * x[t * cols + k]!; m += Math.abs(deq[r * cols + k]! * x[t * cols + k]!); }
        const tile = Math.floor(r / LUT_TILE);
        const buf = tile < p.shape.fullTiles ? p.main : p.tail!, off = tile < p.shape.fullTiles ? tile * p.shape.tileBytes : 0, rr = r % LUT_TILE;
        for (let g = 0; g < nG; g++) {
          const go = off + g * p.shape.groupBytes;
          const s = F16_TO_F32[buf[go + 2 * rr]! | (buf[go + 2 * rr + 1]! << 8)]!;
          bound += Math.abs(s) * 2 * th[t * nG + g]! * ((1 << bits) - 1) * G / 16;
        }
        const err = Math.abs(y[t * rows + r]! - e);
        assert.ok(err <= bound + 1e-5 * m, `${name} t${t} r${r}: error ${err} > bound ${bound}`);
        worst = Math.max(worst, err / bound);
      }
    }
    assert.ok(worst > 0, 'tables were not quantized at all');
  });
}

test('LUT layout: Q4_0, Q4_1, TQ2_0 and INTn tiles are the size of their rows and pack in place', () => {
  for (const [name, fmt] of LUT_CASES) {
    const rows = 40, cols = 512;
    const { data, rowBytes } = quantized(fmt, rows, cols, 2);
    const sh = lutShape(fmt, rows, cols, rowBytes)!;
    if (name === 'TQ1_0') { assert.equal(sh.inPlace, false); continue; }
    assert.ok(sh.inPlace, name);
    const fresh = packLut(fmt, data, rows, cols, rowBytes);
    const tail = new Uint8Array(sh.tileBytes);
    const copy = data.slice();
    packLutInPlace(fmt, copy, sh, rowBytes, tail);
    assert.deepEqual(copy.subarray(0, sh.fullTiles * sh.tileBytes), fresh.main.subarray(0, sh.fullTiles * sh.tileBytes), name);
    assert.deepEqual(tail, fresh.tail, name);
  }
});

test('LUT layout refuses what the kernels cannot run', () => {
  assert.equal(lutShape(ggml('Q8_0'), 16, 64, 68), null);
  assert.equal(lutShape(ggml('TQ2_0'), 16, 100, 66), null);
  assert.equal(lutShape(intFormat({ family: 'int', bits: 4, asym: false, scale: 'BF16', tensorScale: false, group: 32 }), 16, 64, 36), null);
  assert.throws(() => packLut(ggml('Q6_K'), new Uint8Array(210), 1, 256, 210), /Q6_K .* no table-lookup layout/);
});

test('LUT layout: rows read back from the tiles equal the format\'s dequantization (tied embeddings)', () => {
  for (const [name, fmt] of LUT_CASES) {
    const rows = 37, cols = 512;
    const { data, rowBytes, deq } = quantized(fmt, rows, cols, 6);
    const p = packLut(fmt, data, rows, cols, rowBytes);
    const out = new Float32Array(cols);
    for (const r of [0, 15, 16, 36]) {
      lutDequantRow(p, r, out, 0);
      assert.deepEqual(out, deq.subarray(r * cols, (r + 1) * cols), `${name} row ${r}`);
    }
  }
});
