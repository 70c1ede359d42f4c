// Round trips and dot products of the super-block formats (Q2_K..Q6_K, Q8_K, TQ1_0, TQ2_0) on
// deterministic data: dequantization error within a named bound per bit width, and each format's
// dot against a prepared Q8_K activation row equal to the dot of the dequantized weights with the
// dequantized activations (integer sums are exact, so only float rounding separates them).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { newActivationRow, prepareActivation } from '../src/kernels/ref/activations.js';
import { randomFloats } from './helpers.js';

/** Max |error| / max |x| per 256-block bound for each format (a few quantization steps). */
const REL_ERR: Record<string, number> = { Q2_K: 0.5, Q3_K: 0.3, Q4_K: 0.12, Q5_K: 0.06, Q6_K: 0.03, Q8_K: 0.01, TQ1_0: 1, TQ2_0: 1 };
/** Relative to sum |w x|: the only differences are float rounding order. */
const DOT_RTOL = 1e-5;

function testData(n: number): Float32Array {
  const x = randomFloats(n, 7, 1);
  for (let i = 0; i < n; i++) if (i % 97 === 0) x[i] = x[i]! * 20; // outliers
  x.fill(0, 256, 512); // an all-zero block
  x.fill(-0.25, 512, 768); // a constant block
  return x;
}

for (const name of Object.keys(REL_ERR)) {
  test(`${name}: dequantization error within ${REL_ERR[name]} of each block's range`, () => {
    const fmt = quantFormat(ggmlTypeByName(name)!.id);
    const n = 256 * 12;
    const x = testData(n);
    const q = new Uint8Array((n / 256) * fmt.typeSize);
    fmt.quantize!(x, 0, q, 0, n);
    const y = new Float32Array(n);
    fmt.dequantize(q, 0, y, 0, n);
    for (let b = 0; b < n / 256; b++) {
      let amax = 0, err = 0;
      for (let i = b * 256; i < (b + 1) * 256; i++) { amax = Math.max(amax, Math.abs(x[i]!)); err = Math.max(err, Math.abs(x[i]! - y[i]!)); }
      assert.ok(err <= REL_ERR[name]! * amax, `${name} block ${b}: max error ${err} above ${REL_ERR[name]} x ${amax}`);
    }
    for (let i = 256; i < 512; i++) assert.ok(y[i] === 0, 'zero block stays zero');
  });

  test(`${name}: dot with a Q8_K row equals the dequantized dot`, () => {
    const fmt = quantFormat(ggmlTypeByName(name)!.id);
    assert.equal(fmt.vecDot, 'q8_K');
    const n = 256 * 6, rows = 3;
    const w = testData(n * rows).subarray(0, n * rows);
    const rowBytes = (n / 256) * fmt.typeSize;
    const bytes = new Uint8Array(rowBytes * rows + 3).subarray(3); // unaligned on purpose
    for (let r = 0; r < rows; r++) fmt.quantize!(w, r * n, bytes, r * rowBytes, n);
    const x = randomFloats(2 * n, 11, 2);
    const act = newActivationRow('q8_K', 2 * n);
    prepareActivation(act, x, 0, n, 0);
    prepareActivation(act, x, n, n, n);
    const xq = new Float32Array(2 * n);
    quantFormat(ggmlTypeByName('Q8_K')!.id); // the activation format is a table entry too
    for (let i = 0; i < 2 * n; i++) xq[i] = act.qs[i]! * act.d[i >>> 8]!;
    for (let r = 0; r < rows; r++) {
      const deq = new Float32Array(n);
      fmt.dequantize(bytes, r * rowBytes, deq, 0, n);
      for (let t = 0; t < 2; t++) {
        let want = 0, scale = 0;
        for (let i = 0; i < n; i++) { want += deq[i]! * xq[t * n + i]!; scale += Math.abs(deq[i]! * xq[t * n + i]!); }
        const got = fmt.dot(weightBytes(bytes), r * rowBytes, act, t * n, n);
        assert.ok(Math.abs(got - want) <= DOT_RTOL * scale + 1e-6, `${name} row ${r} token ${t}: dot ${got} vs ${want}`);
      }
    }
  });
}

test('Q8_K activations: bsums are the sums of 16 quants and d = max / -127', () => {
  const n = 512;
  const x = randomFloats(n, 3, 5);
  x[300] = -9;
  const a = newActivationRow('q8_K', n);
  prepareActivation(a, x, 0, n, 0);
  for (let j = 0; j < n / 16; j++) {
    let s = 0;
    for (let i = 0; i < 16; i++) s += a.qs[16 * j + i]!;
    assert.equal(a.bsums[j], s);
  }
  assert.equal(a.d[1], Math.fround(1 / Math.fround(-127 / -9)));
  assert.equal(a.qs[300], -127);
});
