// GPTQ / AWQ checkpoint layouts: lutra writes a layer in each layout from its own asymmetric integer
// type, reads it back to identical bytes, and the values equal the layouts' own dequantization
// formulas computed straight from qweight / qzeros / scales.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportAwq, exportGptq, gptqLutraType, importAwq, importGptq } from '../src/formats/hf-gptq.js';
import { quantFormat } from '../src/quant/table.js';
import { F16_TO_F32 } from '../src/core/f16.js';
import { randomFloats } from './helpers.js';

function lutraLayer(inF: number, outF: number, bits: number, group: number): { bytes: Uint8Array; values: Float32Array } {
  const f = quantFormat(gptqLutraType({ inF, outF, bits, group }));
  const w = randomFloats(inF * outF, bits * 7 + group, 1);
  const bytes = new Uint8Array((inF * outF / group) * f.typeSize);
  f.quantize!(w, 0, bytes, 0, inF * outF);
  // GPTQ stores zero - 1: make sure no zero point is 0 (all-positive groups would have one).
  const values = new Float32Array(inF * outF);
  f.dequantize(bytes, 0, values, 0, inF * outF);
  return { bytes, values };
}

for (const bits of [4, 3]) {
  test(`GPTQ ${bits}-bit: export, import back to the same bytes; qweight/qzeros/scales decode to the same values`, () => {
    const s = { inF: 128, outF: 64, bits, group: 32 };
    const { bytes, values } = lutraLayer(s.inF, s.outF, bits, s.group);
    const t = exportGptq(bytes, s);
    assert.equal(t.qweight.length, (128 * bits / 32) * 64);
    assert.deepEqual(importGptq(t, s), bytes);
    // GPTQ's formula, from the packed words: w[o, i] = scale[g, o] * (q[i, o] - (qzero[g, o] + 1)).
    const bitsAt = (arr: Int32Array, stride: number, col: number, k: number) => {
      let v = 0;
      for (let b = 0; b < bits; b++) {
        const bit = k * bits + b;
        v |= ((arr[(bit >>> 5) * stride + col]! >>> (bit & 31)) & 1) << b;
      }
      return v;
    };
    const zw = 64 * bits / 32;
    for (let o = 0; o < 64; o++) for (let i = 0; i < 128; i++) {
      const g = i >> 5;
      const q = bitsAt(t.qweight, 64, o, i);
      let z = 0;
      for (let b = 0; b < bits; b++) { const bit = o * bits + b; z |= ((t.qzeros[g * zw + (bit >>> 5)]! >>> (bit & 31)) & 1) << b; }
      const want = F16_TO_F32[t.scales[g * 64 + o]!]! * (q - (z + 1));
      assert.equal(values[o * 128 + i], Math.fround(want), `o ${o} i ${i}`);
    }
  });
}

test('GPTQ act-order checkpoints (g_idx not contiguous) are refused by name', () => {
  const s = { inF: 64, outF: 32, bits: 4, group: 32 };
  const t = exportGptq(lutraLayer(64, 32, 4, 32).bytes, s);
  t.gIdx![0] = 1;
  assert.throws(() => importGptq(t, s), /g_idx\[0\] = 1 \(act-order\)/);
});

test('AWQ 4-bit (GEMM layout, interleaved nibbles): export, import back, and the formula matches', () => {
  const s = { inF: 64, outF: 32, bits: 4, group: 32 };
  const { bytes, values } = lutraLayer(64, 32, 4, 32);
  const t = exportAwq(bytes, s);
  assert.deepEqual(importAwq(t, s), bytes);
  const order = [0, 2, 4, 6, 1, 3, 5, 7];
  const nib = (arr: Int32Array, row: number, o: number) => (arr[row * 4 + (o >> 3)]! >>> (4 * order.indexOf(o & 7))) & 15;
  for (let o = 0; o < 32; o++) for (let i = 0; i < 64; i++) {
    const g = i >> 5;
    assert.equal(values[o * 64 + i], Math.fround(F16_TO_F32[t.scales[g * 32 + o]!]! * (nib(t.qweight, i, o) - nib(t.qzeros, g, o))));
  }
  assert.throws(() => importAwq(t, { ...s, bits: 3 }), /4-bit only/);
});
