// lutra's own formats: the type-id encoding, the minifloat number formats against the paper's
// definitions, integer and minifloat block formats, MXFP4 as ggml stores it, and files that use
// them: described in metadata, loaded and run by lutra, refused by name where an id is not valid.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeLutraType, encodeLutraType, parseLutraSpec, lutraTypeName, type LutraParams, LUTRA_TYPE_BIT } from '../src/quant/lutra-types.js';
import { minifloat } from '../src/quant/minifloat.js';
import { quantFormat, ggmlTypeInfo, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { newActivationRow, prepareActivation } from '../src/kernels/ref/activations.js';
import { parseGGUF, writeGGUF, concatChunks, GGUFType } from '../src/formats/gguf.js';
import { quantizeFile } from '../src/ptq/quantize-model.js';
import { loadModel } from '../src/runtime/model.js';
import { randomFloats } from './helpers.js';
import { synthGGUF } from './synth.js';

const dir = mkdtempSync(join(tmpdir(), 'lutra-types-'));

test('type ids: every parameter set round-trips, sits above ggml\'s ids, and names itself', () => {
  const seen = new Set<number>();
  for (let bits = 2; bits <= 8; bits++) {
    for (const asym of [false, true]) {
      for (const scale of ['F16', 'BF16', 'E8M0', 'F32'] as const) {
        for (const group of [32, 64, 128, 4096, 11008]) {
          const p: LutraParams = { family: 'int', bits, asym, scale, group, tensorScale: false };
          const id = encodeLutraType(p);
          assert.ok(id >= LUTRA_TYPE_BIT && !seen.has(id));
          seen.add(id);
          assert.deepEqual(decodeLutraType(id), p);
        }
      }
    }
  }
  for (let e = 1; e <= 7; e++) {
    for (let m = 0; 1 + e + m <= 8; m++) {
      if (1 + e + m < 3) continue;
      const p: LutraParams = { family: 'fp', e, m, scale: 'E8M0', group: 32, tensorScale: true };
      const id = encodeLutraType(p);
      assert.ok(!seen.has(id));
      seen.add(id);
      assert.deepEqual(decodeLutraType(id), p);
      assert.equal(quantFormat(id).name, `FP_E${e}M${m}_G32_E8M0_T`);
    }
  }
  assert.equal(decodeLutraType((LUTRA_TYPE_BIT | (5 << 28) | 32) >>> 0), undefined, 'unknown family');
  assert.equal(decodeLutraType((LUTRA_TYPE_BIT | (1 << 28) | (7 << 25) | (6 << 22) | 32) >>> 0), undefined, 'E7M6 is 14 bits');
  assert.equal(ggmlTypeInfo((LUTRA_TYPE_BIT | (5 << 28) | 32) >>> 0), undefined);
  assert.throws(() => quantFormat((LUTRA_TYPE_BIT | (5 << 28) | 32) >>> 0, 'w'), /tensor w: tensor type type#\d+ \(lutra private range, not a valid lutra type\) is not supported/);
});

test('type specs: defaults, MX shorthands, per-channel groups, and refusals', () => {
  const r = (s: string, row = 4096) => lutraTypeName(parseLutraSpec(s)!.resolve(row));
  assert.equal(r('int4'), 'INT4_SYM_G32_F16');
  assert.equal(r('int4-asym-g128-bf16'), 'INT4_ASYM_G128_BF16');
  assert.equal(r('int8-ch'), 'INT8_SYM_G4096_F16');
  assert.equal(r('int8-tensor', 512), 'INT8_SYM_G512_F16_T');
  assert.equal(r('mxfp8'), 'FP_E4M3_G32_E8M0');
  assert.equal(r('mxfp6'), 'FP_E3M2_G32_E8M0');
  assert.equal(r('mxint8'), 'INT8_SYM_G32_E8M0');
  assert.equal(r('fp4'), 'FP_E2M1_G32_F16');
  assert.equal(r('fp8-e5m2-g64'), 'FP_E5M2_G64_F16');
  assert.equal(r('e2m3-ch'), 'FP_E2M3_G4096_F16');
  assert.equal(parseLutraSpec('mxfp4'), undefined, 'mxfp4 is ggml\'s type 39');
  assert.equal(parseLutraSpec('q4_0'), undefined);
  assert.equal(parseLutraSpec('fp8-e5m3'), undefined, 'E5M3 is 9 bits');
  assert.throws(() => parseLutraSpec('e5m3'), /3\.\.8 bits/);
  assert.throws(() => parseLutraSpec('int3-g30'), /not a whole number of bytes/);
});

// Largest finite values with bias 2^(E-1)-1 and no inf/NaN codes (seed-systems.md §4.2 table).
const MAX: Record<string, number> = {
  E1M1: 3, E2M0: 4, E1M2: 3.5, E2M1: 6, E3M0: 16, E2M2: 7, E3M1: 24, E4M0: 256, E2M3: 7.5, E3M2: 28, E4M1: 384,
  E5M0: 65536, E2M4: 7.75, E3M3: 30, E4M2: 448, E5M1: 98304, E2M5: 7.875, E3M4: 31, E4M3: 480, E5M2: 114688,
};

test('minifloats: the paper\'s maxima, every code decodes and re-encodes, subnormals, saturation, ties to even', () => {
  for (const [name, max] of Object.entries(MAX)) {
    const [, e, m] = /E(\d)M(\d)/.exec(name)!.map(Number);
    const f = minifloat(e!, m!);
    assert.equal(f.max, max, name);
    const bias = 2 ** (e! - 1) - 1;
    for (let c = 0; c < f.values.length; c++) {
      const v = f.values[c]!;
      assert.ok(Number.isFinite(v), `${name} code ${c} is finite`);
      assert.ok(f.round(v) === v, `${name}: ${v} is representable`);
      if (v !== 0) assert.equal(f.encode(v), c, `${name}: code of ${v}`);
    }
    const sub = 2 ** (1 - bias - m!);
    assert.equal(f.values[1], sub, `${name}: smallest subnormal 2^(1-bias-M)`);
    assert.equal(f.round(sub * 0.4), 0);
    assert.equal(f.round(sub * 0.6), sub);
    assert.equal(f.round(max * 10), max, 'saturates');
    assert.equal(f.round(-max * 10), -max);
  }
  const e4m3 = minifloat(4, 3);
  assert.equal(e4m3.round(1 + 1 / 16), 1, 'tie to even mantissa');
  assert.equal(e4m3.round(1 + 3 / 16), 1.25);
  assert.equal(e4m3.round(470), 480, 'above 448: E4M3 without NaN codes reaches 480');
  assert.equal(e4m3.round(464), 448, 'the tie between 448 and 480 goes to the even mantissa');
});

/** Max |error| relative to each group's |max|, per format (half a step, with margin). */
const REL: Record<string, number> = {
  'int8': 0.5 / 127, 'int4': 0.5 / 7, 'int4-asym-g128': 0.5 / 15 * 2, 'int3-g64-e8m0': 1 / 3, 'int2-bf16': 0.5,
  'int8-ch': 0.5 / 127, 'int8-tensor': 0.5 / 127 * 8, 'mxfp8': 1 / 16, 'e5m2-g32': 1 / 8, 'fp6-e3m2-ch': 1 / 8,
  'fp4': 1 / 4, 'fp3': 1 / 2, 'mxfp6': 1 / 8, 'mxint8': 1 / 127, 'e2m3-g32-f32': 1 / 16,
};

for (const [spec, rel] of Object.entries(REL)) {
  test(`${spec}: quantize/dequantize error within ${rel.toPrecision(2)} of the group range; f32 dot equals the dequantized dot`, () => {
    const rows = 4, cols = 256, n = rows * cols;
    const p = parseLutraSpec(spec)!.resolve(cols);
    const fmt = quantFormat(encodeLutraType(p));
    const x = randomFloats(n, 5, 2);
    x[17] = 30; x.fill(0, 64, 128);
    const q = new Uint8Array((n / fmt.blockSize) * fmt.typeSize + 1).subarray(1);
    if (fmt.quantizeTensor) fmt.quantizeTensor(x, rows, cols, q);
    else fmt.quantize!(x, 0, q, 0, n);
    const y = new Float32Array(n);
    fmt.dequantize(q, 0, y, 0, n);
    const g = p.tensorScale ? n : p.group;
    for (let b = 0; b < n / g; b++) {
      let amax = 0, err = 0;
      for (let i = b * g; i < (b + 1) * g; i++) { amax = Math.max(amax, Math.abs(x[i]!)); err = Math.max(err, Math.abs(x[i]! - y[i]!)); }
      assert.ok(err <= rel * amax * 1.0001 + 1e-7, `${spec} group ${b}: max error ${err} above ${rel} x ${amax}`);
    }
    const a = newActivationRow(fmt.vecDot, cols);
    const act = randomFloats(cols, 9, 1);
    prepareActivation(a, act, 0, cols, 0);
    for (let r = 0; r < rows; r++) {
      let want = 0;
      for (let i = 0; i < cols; i++) want += y[r * cols + i]! * act[i]!;
      const got = fmt.dot(weightBytes(q), (r * cols / fmt.blockSize) * fmt.typeSize, a, 0, cols);
      assert.ok(Math.abs(got - want) <= 1e-5 * (Math.abs(want) + 1), `${spec} row ${r}: ${got} vs ${want}`);
    }
  });
}

test('MXFP4 (ggml type 39): E2M1 codes with an E8M0 exponent, dot with Q8_0 activations', () => {
  const fmt = quantFormat(ggmlTypeByName('MXFP4')!.id);
  const n = 32 * 8;
  const x = randomFloats(n, 3, 4);
  const q = new Uint8Array((n / 32) * 17);
  fmt.quantize!(x, 0, q, 0, n);
  const y = new Float32Array(n);
  fmt.dequantize(q, 0, y, 0, n);
  const fp4 = minifloat(2, 1);
  for (let b = 0; b < n / 32; b++) {
    const d = 2 ** (q[b * 17]! - 127);
    for (let j = 0; j < 32; j++) assert.equal(fp4.round(y[b * 32 + j]! / d), y[b * 32 + j]! / d, 'every value is an E2M1 value times the block scale');
  }
  const a = newActivationRow('q8_0', n);
  const act = randomFloats(n, 8, 1);
  prepareActivation(a, act, 0, n, 0);
  let want = 0;
  for (let i = 0; i < n; i++) want += y[i]! * a.qs[i]! * a.d[i >>> 5]!;
  assert.ok(Math.abs(fmt.dot(weightBytes(q), 0, a, 0, n) - want) < 1e-4 * Math.abs(want) + 1e-5);
});

test('a model in lutra\'s own types: metadata describes them, lutra runs it, logits match its dequantized twin', async () => {
  const f32 = join(dir, 'synth.gguf');
  writeFileSync(f32, synthGGUF({ arch: 'llama', shape: { nEmbd: 256, nLayer: 1, nHead: 4, nHeadKv: 2, nFF: 512 }, seed: 5 }));
  const out = join(dir, 'mixed.gguf');
  const s = await quantizeFile(f32, out, { type: 'int4-asym-g128', overrides: [
    { pattern: /ffn_down/, type: (row: number) => encodeLutraType(parseLutraSpec('mxfp8')!.resolve(row)) },
    { pattern: /output/, type: (row: number) => encodeLutraType(parseLutraSpec('e3m2-ch-bf16')!.resolve(row)) },
  ] });
  assert.deepEqual([...new Set(s.tensors.map((t) => t.to))].sort(), ['F32', 'FP_E3M2_G256_BF16', 'FP_E4M3_G32_E8M0', 'INT4_ASYM_G128_F16']);
  const g = parseGGUF(new Uint8Array(readFileSync(out)), out);
  assert.equal(g.metadata.get('lutra.quantization.type')!.value, 'int4-asym-g128');
  const formats = g.metadata.get('lutra.quantization.formats')!.value as string[];
  assert.equal(formats.length, 3);
  assert.match(formats.join('\n'), /=INT4_ASYM_G128_F16: 4-bit asymmetric integers with a u8 zero point/);
  assert.match(formats.join('\n'), /=FP_E4M3_G32_E8M0: minifloat sign \+ E4 \+ M3, bias 2\^\(E-1\)-1, no inf\/NaN, saturating/);
  const deq = join(dir, 'mixed-deq.gguf');
  writeFileSync(deq, concatChunks(writeGGUF(g.metadata, g.tensors.map((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const y = new Float32Array(n);
    quantFormat(t.type, t.name).dequantize(t.data, 0, y, 0, n);
    return { name: t.name, shape: t.shape, type: 0, data: new Uint8Array(y.buffer) };
  }))));
  const prompt = [1, 20, 300, 7, 99];
  const logits = async (file: string, kernels: 'auto' | 'dequant') => (await loadModel(file, { kernels })).createContext({ ctx: 16, kvType: 'f32' }).decode(prompt, { logits: 'last' })!.slice();
  // Dequantize kernels (f32 activations): the twin's logits to float rounding.
  const [a, b] = [await logits(out, 'dequant'), await logits(deq, 'dequant')];
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-3 * (1 + Math.abs(b[i]!)), `logit ${i}: ${a[i]} vs ${b[i]}`);
  // Default (INT4 on the table-lookup kernels, int8 tables): within table rounding.
  const c = await logits(out, 'auto');
  let num = 0, den = 0;
  for (let i = 0; i < c.length; i++) { num += (c[i]! - b[i]!) ** 2; den += b[i]! ** 2; }
  assert.ok(Math.sqrt(num / den) < 0.02, `LUT logits differ by ${Math.sqrt(num / den)} (relative RMS)`);
});

test('a GGUF with an id in lutra\'s range that is not a valid lutra type is refused by name', () => {
  const bad = (LUTRA_TYPE_BIT | (3 << 28) | 32) >>> 0;
  const md = new Map([['general.architecture', { type: GGUFType.STRING, value: 'llama' } as const]]);
  // Written by hand: writeGGUF itself refuses unknown types.
  const good = concatChunks(writeGGUF(md, [{ name: 'w', shape: [32, 2], type: 8, data: new Uint8Array(68) }]));
  const dv = new DataView(good.buffer);
  dv.setUint32(findTypeOffset(good), bad, true);
  assert.throws(() => parseGGUF(good, 'bad.gguf'), /tensor w: unknown ggml type id 2(\d+)/);
});

/** Byte offset of the single tensor's type field: after name (u64 len + bytes), n_dims, 2 dims. */
function findTypeOffset(b: Uint8Array): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  let p = 4 + 4 + 8 + 8;
  const nKv = Number(dv.getBigUint64(16, true));
  for (let i = 0; i < nKv; i++) {
    p += 8 + Number(dv.getBigUint64(p, true));
    p += 4;
    p += 8 + Number(dv.getBigUint64(p, true));
  }
  p += 8 + Number(dv.getBigUint64(p, true));
  const nDims = dv.getUint32(p, true);
  return p + 4 + 8 * nDims;
}

test('INT1: signs times the mean |x| of each group; no asymmetric 1-bit', () => {
  const p = parseLutraSpec('int1-g64')!.resolve(256);
  assert.deepEqual(p, { family: 'int', bits: 1, asym: false, scale: 'F16', tensorScale: false, group: 64 });
  const fmt = quantFormat(encodeLutraType(p));
  assert.equal(fmt.name, 'INT1_SYM_G64_F16');
  assert.equal(fmt.typeSize, 2 + 8);
  const x = randomFloats(128, 4, 1);
  const q = new Uint8Array(2 * fmt.typeSize);
  fmt.quantize!(x, 0, q, 0, 128);
  const y = new Float32Array(128);
  fmt.dequantize(q, 0, y, 0, 128);
  for (let b = 0; b < 2; b++) {
    let m = 0;
    for (let i = 0; i < 64; i++) m += Math.abs(x[b * 64 + i]!);
    m /= 64;
    for (let i = 0; i < 64; i++) {
      assert.equal(Math.sign(y[b * 64 + i]!), x[b * 64 + i]! >= 0 ? 1 : -1);
      assert.ok(Math.abs(Math.abs(y[b * 64 + i]!) - m) <= m * 1e-3, 'scale is the mean |x| (f16-rounded)');
    }
  }
  assert.throws(() => parseLutraSpec('int1-asym'), /no asymmetric 1-bit format/);
});
