// The four-row decode layout (assembly/rows4.ts, rows4-f16.ts) against its TypeScript twin
// (kernels/ref/rows4.ts) for every build and 1 or 2 threads, Q4_0, Q4_1, Q8_0 and F16: the in-place
// re-layout gives the twin's bytes and every row reads back; products equal the twin's bit for bit
// (same integer sums, same f32 order) for decode, prefill tiles and their remainders, any row range
// (a split need not fall on a group), rows % 4 leftovers; a token's outputs are the same bits alone
// or inside any batch; and they agree with the reference kernels as the other formats do.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RefKernels } from '../src/kernels/ref/index.js';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import { rows4BiasQ8, rows4Matmul, rows4Pack, rows4Row, rows4SplitQ8, rows4SplitsActs, ROWS4_FLAG, ROWS4_U8_FLAG } from '../src/kernels/ref/rows4.js';
import type { WeightMatrix } from '../src/kernels/types.js';
import type { KernelExports } from '../src/kernels/wasm/protocol.js';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';

/** As kernels-parity's quant class: relative to the largest |reference| value. */
const TOL_QUANT = 1e-4;

const ref = new RefKernels();
const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];
// [21, 2592]: 81 blocks, the band prefill's column slices of 40, 40 and 1 (rows4-band.ts).
const SHAPES = [[37, 96], [129, 160], [300, 512], [1031, 256], [4, 32], [7, 64], [70, 64], [21, 2592]] as const;
const TYPES = ['Q4_0', 'Q4_1', 'Q8_0', 'F16'];
// Tiles of four tokens and every remainder (1-3) after them; 12 and 33: the relaxed build's band
// prefill of Q4_0 and Q4_1 (BAND_MIN_TOKENS = 12 or more: whole bands of four groups, tokens two at
// a time and an odd one alone; the rest of the rows in tiles).
const TOKENS = [1, 2, 3, 4, 5, 6, 7, 9, 12, 33];

function sameBits(a: Float32Array, b: Float32Array, what: string): void {
  for (let i = 0; i < b.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}: y[${i}] ${a[i]} vs twin ${b[i]}`);
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let d = 0, m = 0;
  for (let i = 0; i < n; i++) { d = Math.max(d, Math.abs(a[i]! - b[i]!)); m = Math.max(m, Math.abs(b[i]!)); }
  return d / Math.max(m, 1e-30);
}

/**
 * A matrix quantized into k's memory (weights with a few extreme blocks: nibbles 0/15, |q| = 127;
 * for F16 also subnormal halves, zeros of both signs and 65504).
 */
function matrix(k: WasmKernels, type: string, rows: number, cols: number, seed: number): { w: WeightMatrix; orig: Uint8Array } {
  const fmt = quantFormat(ggmlTypeByName(type)!.id);
  const f = randomFloats(rows * cols, seed, 1.5);
  for (let i = 0; i < 32 && i < cols; i++) { f[i] = i & 1 ? 2 : -2; f[cols + i] = -1e-3 * i; }
  if (type === 'F16') [3e-7, -5.9e-8, 0, -0, 65504, -6e-5].forEach((v, i) => { f[2 * cols + i] = v; f[3 * cols + 7 + i] = v; });
  const rowBytes = (cols / fmt.blockSize) * fmt.typeSize;
  const data = k.allocBytes(rows * rowBytes);
  fmt.quantize!(f, 0, data, 0, rows * cols);
  return { w: { name: `t.${type}`, format: fmt, rows, cols, rowBytes, ...weightBytes(data) }, orig: data.slice() };
}

test('the engine runs the WebAssembly backend', () => assert.ok(flavors.length > 0));

// Relaxed SIMD runs twice: with Q8_0 biased where the engine's dot reads unsigned bytes exactly
// (rows4-q8u.ts; WasmKernels.q8Unsigned), and with that turned off (the split kernel of rows4.ts).
for (const flavor of flavors) for (const unsignedDot of flavor === 'relaxed' ? [true, false] : [true]) {
  for (const threads of [1, 2]) {
    test(`${flavor}${unsignedDot ? '' : ' (Q8_0 split, no unsigned dot)'}, ${threads} thread(s): ${TYPES.join(', ')} in four-row layout equal the twin bit for bit and the reference within ${TOL_QUANT}; a token alone = inside a batch`, async () => {
      const k = (await WasmKernels.create({ flavor, threads, matmul: 'dequant', unsignedDot }))!;
      if (!unsignedDot) assert.equal(k.q8Unsigned, false);
      pool.push(k);
      for (const type of TYPES) {
        for (const [rows, cols] of SHAPES) {
          const { w, orig } = matrix(k, type, rows, cols, rows * 7 + cols);
          const note = k.prepareWeights([w]);
          assert.ok(k.inRows4(w), `${type} ${rows}x${cols} not re-laid: ${note}`);
          // Q8_0 under relaxed SIMD on an engine whose dot reads unsigned bytes exactly: biased payloads (rows4-q8u.ts).
          const biased = type === 'Q8_0' && k.q8Unsigned;
          assert.equal(k.inRows4Biased(w), biased, `${type} ${rows}x${cols}: biased`);
          const twin = orig.slice();
          rows4Pack(twin, 0, w.rowBytes, rows, w.format.typeSize);
          if (biased) rows4BiasQ8(twin, 0, w.rowBytes, rows);
          assert.deepEqual(w.data, twin, `${type} ${rows}x${cols}: re-laid bytes differ from the twin's`);
          const row = new Uint8Array(w.rowBytes);
          for (let r = 0; r < rows; r++) {
            rows4Row(w.data, w.rowBytes, rows, w.format.typeSize, r, row, 0, biased);
            assert.deepEqual(row, orig.subarray(r * w.rowBytes, (r + 1) * w.rowBytes), `${type} row ${r} reads back`);
          }
          const plain: WeightMatrix = { ...w, ...weightBytes(orig) };
          for (const nTok of TOKENS) {
            const x = k.allocF32(cols * nTok);
            x.set(randomFloats(cols * nTok, 3 + nTok, 2));
            if (nTok === 2) x.fill(0, 0, cols); // an all-zero token
            const y = k.allocF32(rows * nTok), yTwin = new Float32Array(rows * nTok), yRef = new Float32Array(rows * nTok);
            k.matmul(w, x, nTok, y);
            rows4Matmul(w, x, nTok, yTwin, biased);
            ref.matmul(plain, x, nTok, yRef);
            sameBits(y, yTwin, `${type} ${rows}x${cols} x${nTok}`);
            const d = maxRelDiff(y, yRef, rows * nTok);
            assert.ok(d <= TOL_QUANT, `${type} ${rows}x${cols} x${nTok}: relative diff ${d} to the reference`);
            // Batch invariance: each token of the batch alone gives the batch's bits for it.
            const x1 = k.allocF32(cols), y1 = k.allocF32(rows);
            for (let t = 0; t < nTok; t++) {
              x1.set(x.subarray(t * cols, (t + 1) * cols));
              k.matmul(w, x1, 1, y1);
              sameBits(y1, y.subarray(t * rows, (t + 1) * rows), `${type} ${rows}x${cols} token ${t} alone vs in a batch of ${nTok}`);
            }
            k.release(x1); k.release(y1);
            k.release(x); k.release(y);
          }
        }
      }
    });
  }
}

for (const unsignedDot of [true, false]) test(`row ranges that split a group, arrays outside wasm memory, and embedding rows of a re-laid table${unsignedDot ? '' : ' (no unsigned dot)'}`, async () => {
  const k = (await WasmKernels.create({ threads: 1, matmul: 'dequant', unsignedDot }))!;
  pool.push(k);
  const exp = (k as unknown as { k: KernelExports }).k;
  // Two tokens: the split Q8_0 kernel's far pairs (q8Pair); three to nine: tiles of up to four
  // tokens group by group, and the partial groups at either end of the range; 33: Q4_0/Q4_1 bands
  // of four whole groups inside the range (relaxed), the partial groups at the ends in tiles.
  for (const type of TYPES) for (const nTok of [2, 3, 4, 6, 9, 33]) {
    const rows = 23, cols = 128;
    const { w, orig } = matrix(k, type, rows, cols, 5);
    k.prepareWeights([w]);
    const biased = k.inRows4Biased(w);
    const x = k.allocF32(cols * nTok);
    x.set(randomFloats(cols * nTok, 9, 1));
    const yTwin = new Float32Array(rows * nTok);
    rows4Matmul(w, x, nTok, yTwin, biased);
    // Activations as the backend prepares them, then the export over ranges [r0, r1).
    const qs = k.allocBytes(cols * nTok), d = k.allocF32(cols * nTok / 32), s = k.allocF32(cols * nTok / 32), isum = k.allocF32(cols * nTok / 32);
    exp.quantize_q8(x.byteOffset, cols, nTok, qs.byteOffset, d.byteOffset, s.byteOffset, isum.byteOffset);
    // The relaxed Q8_0 kernel reads the activations split (rows4_split_q8), as the backend passes them,
    // except over biased payloads (rows4-q8u.ts), which read them as they are; F16 f16-rounded floats.
    let act = qs.byteOffset;
    if (type === 'F16') {
      const xr = k.allocF32(cols * nTok);
      xr.set(x);
      exp.round_f16(xr.byteOffset, cols * nTok);
      act = xr.byteOffset;
    }
    if (k.flavor === 'relaxed' && rows4SplitsActs(w.format) && !biased) {
      const pn = k.allocBytes(2 * cols * nTok);
      exp.rows4_split_q8(qs.byteOffset, cols * nTok, pn.byteOffset);
      act = pn.byteOffset;
    }
    for (const [r0, r1] of [[0, 23], [1, 3], [2, 9], [5, 22], [19, 23], [21, 22], [4, 6], [0, 3], [3, 21], [0, 20], [8, 17]]) {
      const y = k.allocF32(rows * nTok);
      y.fill(-7);
      assert.equal(exp.matmul(w.format.id | ROWS4_FLAG | (biased ? ROWS4_U8_FLAG : 0), w.data.byteOffset, w.rowBytes, cols, rows, r0!, r1!, act, d.byteOffset, s.byteOffset, isum.byteOffset, y.byteOffset, nTok), 0);
      for (let t = 0; t < nTok; t++) {
        for (let r = 0; r < rows; r++) {
          const want = r >= r0! && r < r1! ? yTwin[t * rows + r]! : -7;
          assert.ok(Object.is(y[t * rows + r], want), `${type} x${nTok} rows [${r0}, ${r1}) token ${t} row ${r}: ${y[t * rows + r]} vs ${want}`);
        }
      }
    }
    const yPlain = new Float32Array(rows * nTok);
    k.matmul(w, Float32Array.from(x), nTok, yPlain);
    sameBits(yPlain, yTwin, `${type} staged`);
    const ids = [0, 3, 4, 21, 22];
    const e = new Float32Array(ids.length * cols), eRef = new Float32Array(ids.length * cols);
    k.embed(w, ids, ids.length, e);
    ref.embed({ ...w, ...weightBytes(orig) }, ids, ids.length, eRef);
    assert.deepEqual(e, eRef, `${type} embedding rows`);
  }
});

test('rows4_bias_q8 equals its twin (payloads XOR 0x80, scales and the rows % 4 left alone), twice gives the bytes back; the unsigned-dot probe agrees with the engine', async () => {
  const k = (await WasmKernels.create({ threads: 1, matmul: 'dequant' }))!;
  pool.push(k);
  const exp = (k as unknown as { k: KernelExports }).k;
  for (const rows of [4, 7, 13, 64]) {
    const rowBytes = 3 * 34, n = rows * rowBytes;
    const a = k.allocBytes(n);
    for (let i = 0; i < n; i++) a[i] = (i * 131 + (i >> 7) * 17) & 0xff;
    const orig = a.slice(), twin = a.slice();
    exp.rows4_bias_q8(a.byteOffset, rowBytes, rows);
    rows4BiasQ8(twin, 0, rowBytes, rows);
    assert.deepEqual(a, twin, `${rows} rows`);
    const grouped = (rows >> 2) * 4 * rowBytes;
    for (let i = 0; i < n; i++) {
      const payload = i < grouped && (i % 136) >= 8;
      assert.equal(a[i], payload ? orig[i]! ^ 0x80 : orig[i], `${rows} rows: byte ${i}`);
    }
    exp.rows4_bias_q8(a.byteOffset, rowBytes, rows);
    assert.deepEqual(a, orig, `${rows} rows: biased twice`);
    k.release(a);
  }
  // The probe is the kernels' own sums against exact ones, so it only says yes where the kernels are exact;
  // on x64 V8 with VNNI it says yes (the Zen 5 and Xeon machines this was measured on).
  assert.equal(typeof k.q8Unsigned, 'boolean');
  if (k.flavor !== 'relaxed') assert.equal(k.q8Unsigned, false);
});

test('rows4_split_q8 equals its twin on every int8 activation, -128..127, and p - n gives a back (-128 as -127)', async () => {
  const k = (await WasmKernels.create({ threads: 1, matmul: 'dequant' }))!;
  pool.push(k);
  const exp = (k as unknown as { k: KernelExports }).k;
  const n = 512;
  const a = k.allocBytes(n), out = k.allocBytes(2 * n);
  for (let i = 0; i < n; i++) a[i] = (i * 37 + (i >> 8)) & 0xff;
  exp.rows4_split_q8(a.byteOffset, n, out.byteOffset);
  const twin = new Uint8Array(2 * n);
  rows4SplitQ8(new Int8Array(a.buffer, a.byteOffset, n), n, twin);
  assert.deepEqual(out, twin);
  const s = new Int8Array(a.buffer, a.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const o = 2 * (i - (i & 31)) + (i & 31);
    // -128 has no 0..127 half: read as -127 (quantized activations stop at -127).
    assert.equal(twin[o]! - twin[o + 32]!, Math.max(s[i]!, -127), `activation ${i}`);
  }
});
