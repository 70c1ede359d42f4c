import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseGGUF } from '../src/formats/gguf.js';
import { quantFormat, ggmlTypeName, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { newActivationRow, prepareActivation } from '../src/kernels/ref/activations.js';
import { f32ToF16, f16ToF32, f32ToBf16, bf16ToF32, roundf, roundEven } from '../src/core/f16.js';
import { STORIES_GGUF, QUANTIZED, randomFloats } from './helpers.js';

const f32 = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), 'f32');
const original = new Map(f32.tensors.map((t) => [t.name, new Float32Array(t.data.slice().buffer)]));

test('f16 / bf16 conversions', () => {
  assert.equal(f32ToF16(1), 0x3c00);
  assert.equal(f32ToF16(-2), 0xc000);
  assert.equal(f32ToF16(65520), 0x7c00, 'overflow rounds to inf');
  assert.equal(f32ToF16(5.960464477539063e-8), 1, 'smallest subnormal');
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00, 'ties to even');
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
  for (let h = 0; h < 0x7c00; h += 7) assert.equal(f32ToF16(f16ToF32(h)), h);
  assert.equal(bf16ToF32(f32ToBf16(1.00390625)), 1, 'bf16 ties to even');
  assert.equal(roundf(-2.5), -3);
  assert.equal(roundEven(2.5), 2);
  assert.equal(roundEven(-3.5), -4);
});

for (const { q, file } of QUANTIZED) {
  const g = parseGGUF(new Uint8Array(readFileSync(file)), file);
  test(`${q}-mix: lutra's quantizer reproduces llama-quantize's bytes, and dequantization is close to F32`, () => {
    let checked = 0;
    for (const t of g.tensors) {
      const ref = original.get(t.name)!;
      const fmt = quantFormat(t.type, t.name);
      const n = ref.length;
      if (t.type !== 0 && t.type !== 1 && fmt.quantize) {
        const mine = new Uint8Array(t.nbytes);
        fmt.quantize(ref, 0, mine, 0, n);
        assert.ok(Buffer.from(mine).equals(Buffer.from(t.data)), `${t.name} (${ggmlTypeName(t.type)}): quantized bytes differ from llama.cpp's`);
        checked++;
      }
      const deq = new Float32Array(n);
      fmt.dequantize(t.data, 0, deq, 0, n);
      let maxAbs = 0, maxErr = 0;
      for (let i = 0; i < n; i++) { maxAbs = Math.max(maxAbs, Math.abs(ref[i]!)); maxErr = Math.max(maxErr, Math.abs(ref[i]! - deq[i]!)); }
      // Named tolerance by class: 4-bit formats lose ~1/16 of the block range, 8-bit ~1/256.
      const rel = t.type === 0 ? 0 : t.type === 1 ? 1e-3 : t.type === 8 ? 1 / 100 : 1 / 8;
      assert.ok(maxErr <= maxAbs * rel, `${t.name}: max error ${maxErr} above ${rel} x ${maxAbs}`);
    }
    assert.ok(checked > 0);
  });
}

for (const name of ['Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'F16', 'BF16', 'F32']) {
  test(`${name}: dot product equals the dequantized dot within tolerance (odd row counts, negative values)`, () => {
    const fmt = quantFormat(ggmlTypeByName(name)!.id);
    const n = 32 * 7;
    const w = randomFloats(n, 3, 2);
    w[5] = -7.5; w[40] = 9;
    const bytes = new Uint8Array((n / fmt.blockSize) * fmt.typeSize + 8);
    const off = fmt.typeSize === 4 ? 4 : 2;
    const body = bytes.subarray(off);
    fmt.quantize!(w, 0, body, 0, n);
    const deq = new Float32Array(n);
    fmt.dequantize(body, 0, deq, 0, n);
    const x = randomFloats(n, 9, 1);
    const act = newActivationRow(fmt.vecDot, n);
    prepareActivation(act, x, 0, n, 0);
    let want = 0, scale = 0;
    for (let i = 0; i < n; i++) { want += deq[i]! * x[i]!; scale += Math.abs(deq[i]! * x[i]!); }
    const got = fmt.dot(weightBytes(body), 0, act, 0, n);
    // Activation quantization to 8 bits (or f16) bounds the difference relative to sum |w x|.
    const tol = fmt.vecDot === 'f32' ? 1e-6 : fmt.vecDot === 'f16' || fmt.vecDot === 'bf16' ? 1e-2 : 1e-2;
    assert.ok(Math.abs(got - want) <= tol * scale, `${name}: dot ${got} vs ${want}`);
  });
}

test('unknown and unimplemented types are named', () => {
  assert.throws(() => quantFormat(16, 'blk.0.ffn_up.weight'), /tensor blk\.0\.ffn_up\.weight: tensor type IQ2_XXS is not supported yet/);
  assert.throws(() => quantFormat(999), /type#999/);
});
