// Long batches over the four-row layouts (assembly/rows4.ts, rows4-f16.ts, rows4-k.ts) run in
// token passes (rows4.ts tokenBlock: ~512 KiB of activations a pass, so 4864 columns make passes of
// 104 tokens, 52 for the relaxed build's split Q8_0, 24 for F16's f32 activations): every format,
// every build, 1 and 2 threads, a batch that spans several passes and ends in a partial tile, with
// rows % 4 leftovers; equal to the twins bit for bit (a pass moves every per-token pointer by its
// stride; nothing else changes).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { WasmKernels, detectWasm, type WasmFlavor } from '../src/kernels/wasm/index.js';
import { rows4Matmul } from '../src/kernels/ref/rows4.js';
import { rows4kMatmul } from '../src/kernels/ref/rows4-k.js';
import { quantFormat, ggmlTypeByName } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';

const pool: WasmKernels[] = [];
after(() => { for (const k of pool) k.dispose(); });

const support = await detectWasm();
const flavors: WasmFlavor[] = support.flavor === 'relaxed' ? ['relaxed', 'simd', 'plain'] : support.flavor === 'simd' ? ['simd', 'plain'] : support.flavor ? ['plain'] : [];
const ROWS = 9, COLS = 4864, TOKENS = 110;

test('the engine runs the WebAssembly backend', () => assert.ok(flavors.length > 0));

// Relaxed SIMD twice: Q8_0 biased (rows4-q8u.ts, where the engine's dot reads unsigned bytes exactly) and split.
for (const flavor of flavors) for (const unsignedDot of flavor === 'relaxed' ? [true, false] : [true]) {
  for (const threads of [1, 2]) {
    test(`${flavor}${unsignedDot ? '' : ' (Q8_0 split)'}, ${threads} thread(s): ${TOKENS} tokens x ${COLS} columns (several token passes) equal the twins bit for bit`, async () => {
      const k = (await WasmKernels.create({ flavor, threads, matmul: 'dequant', unsignedDot }))!;
      pool.push(k);
      const x = k.allocF32(COLS * TOKENS);
      x.set(randomFloats(COLS * TOKENS, 17, 2));
      x.fill(0, 50 * COLS, 51 * COLS); // an all-zero token in the second pass
      for (const type of ['Q4_0', 'Q4_1', 'Q8_0', 'F16', 'Q4_K', 'Q5_K', 'Q6_K', 'Q5_0']) {
        const fmt = quantFormat(ggmlTypeByName(type)!.id);
        const rowBytes = (COLS / fmt.blockSize) * fmt.typeSize;
        const data = k.allocBytes(ROWS * rowBytes);
        fmt.quantize!(randomFloats(ROWS * COLS, 3, 1.5), 0, data, 0, ROWS * COLS);
        const w = { name: `t.${type}`, format: fmt, rows: ROWS, cols: COLS, rowBytes, ...weightBytes(data) };
        const note = k.prepareWeights([w]);
        assert.ok(k.inRows4(w), `${type} not re-laid: ${note}`);
        const y = k.allocF32(ROWS * TOKENS), yTwin = new Float32Array(ROWS * TOKENS);
        k.matmul(w, x, TOKENS, y);
        if (fmt.wasm?.rows4k) rows4kMatmul(w, x, TOKENS, yTwin);
        else rows4Matmul(w, x, TOKENS, yTwin, k.inRows4Biased(w));
        for (let i = 0; i < yTwin.length; i++) {
          if (!Object.is(y[i], yTwin[i])) assert.fail(`${type} token ${Math.floor(i / ROWS)} row ${i % ROWS}: ${y[i]} vs twin ${yTwin[i]}`);
        }
        k.release(y); k.release(data);
      }
    });
  }
}
