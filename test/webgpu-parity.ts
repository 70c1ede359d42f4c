// The WebGPU per-shader parity cases, for Node (webgpu-kernels, webgpu-kv-quant: Dawn) and headless
// chromium (webgpu-browser: this file bundled into the page, on navigator.gpu): every shader against
// its TypeScript reference twin with the named tolerances below. No node:test, process or node:assert
// here: a runner gives a device opener and an assert, and reports each case it gets back.
// Kernels: matrix-vector products of each format the GPU reads (raw GGUF blocks, odd row counts,
// several tokens, weights split into shards under a forced small binding limit; F32 .. Q5_1, IQ4_NL
// and the 256-element Q4_K, Q5_K, Q6_K, TQ2_0 on Q8_K activations), the tiled matrix-matrix (prefill)
// product of each, the activation quantizers, RMSNorm, RoPE in every layout, attention over an f16
// cache, SwiGLU, adds, top-k (argmax at k = 1), no f16 arithmetic in any shader, and a destroyed
// device ending a read with an error, not a hang. KV quant: the Hadamard rotation and the cache-row
// writers of every GPU_KV_QUANT type bit for bit against the CPU store's bytes, attention over such
// caches against ggml's CPU flash attention twin (kernels/ref/attention-quant.ts).

import { RefKernels } from '../src/kernels/ref/index.js';
import { newActivationRow, prepareActivation } from '../src/kernels/ref/activations.js';
import { QuantAttentionRef } from '../src/kernels/ref/attention-quant.js';
import { GPU_KV_QUANT, GpuError, GpuOps, KV_BLOCK_BYTES, KV_QUANT_FORMAT, TOPK_MAX, activationScaleFloats, gpuFormat, topKCandidateWords, ropeTable, shardRows, uploadMatrix, type Gpu, type GpuKVQuant, type GpuOptions } from '../src/kernels/webgpu/index.js';
import type { RopeParams, WeightMatrix } from '../src/kernels/types.js';
import { actWgsl, gemmWgsl, matvecWgsl } from '../src/kernels/webgpu/formats.js';
import { ADD_WGSL, ROPE_WGSL, SWIGLU_WGSL, TOPK_MERGE_WGSL, TOPK_SCAN_WGSL, attnScoresHalfWgsl, kvWriteWgsl, rmsNormWgsl } from '../src/kernels/webgpu/wgsl.js';
import { HADAMARD_WGSL, attnAccWgsl, attnScoresQuantWgsl, kvBlockQuant, kvQuantWriteWgsl } from '../src/kernels/webgpu/kv-quant.js';
import { kvCacheFormat } from '../src/runtime/kv/cache-types.js';
import { hadamardRows } from '../src/runtime/kv/hadamard.js';
import { f32ToF16 } from '../src/core/f16.js';
import { F16 } from '../src/quant/float.js';
import { IQ4_NL, quantizeIq4NlRef } from '../src/quant/iq4_nl.js';
import { ggmlTypeByName, quantFormat } from '../src/quant/table.js';
import { weightBytes } from '../src/quant/types.js';
import { randomFloats } from './helpers.js';
import { randomMatrix } from './kernel-helpers.js';

/** The part of node:assert/strict the cases use; pageAssert below is the page's. */
export interface ParityAssert {
  ok(value: unknown, message?: string): void;
  equal(actual: unknown, expected: unknown, message?: string): void;
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
  fail(message?: string): never;
}

export interface ParityCase {
  /** Node runs each group from its own test file. */
  group: 'kernels' | 'kv-quant';
  name: string;
  /** log: lines of measurements (max differences, adapter features) for the runner to print. */
  run(log: (line: string) => void): Promise<void>;
}

/** The settings with llama.cpp greedy texts in test/golden/kv/parity (make-expected.sh). */
export const KV_COMBOS: Array<[GpuKVQuant | 'f16', GpuKVQuant | 'f16']> = [
  ['q8_0', 'q8_0'], ['q4_0', 'q4_0'], ['q4_1', 'q4_1'], ['q5_0', 'q5_0'], ['q5_1', 'q5_1'], ['iq4_nl', 'iq4_nl'], ['bf16', 'bf16'], ['q8_0', 'f16'], ['f16', 'q4_0'],
];

/** Every case, on devices from open (Node: Dawn; a page: navigator.gpu), checked with assert. */
export function parityCases(open: (opts?: GpuOptions) => Promise<Gpu>, assert: ParityAssert): ParityCase[] {
  const cases: ParityCase[] = [];
  const test = (group: ParityCase['group'], name: string, run: ParityCase['run']) => { cases.push({ group, name, run }); };
  /** fn throws (or its promise rejects) a GpuError whose message matches re. */
  const gpuErrorLike = async (fn: () => unknown, re: RegExp) => {
    try {
      await fn();
    } catch (e) {
      assert.ok(e instanceof GpuError && re.test(e.message), `expected a GpuError matching ${re}, got ${String(e)}`);
      return;
    }
    assert.fail(`expected a GpuError matching ${re}, nothing was thrown`);
  };
  const ref = new RefKernels();

  /**
   * Products: |gpu - ref| <= ATOL + RTOL * sum |w x| per output. The GPU sums in f32 in another order
   * than the reference's double; quantized activations are the same integers, so the error is the
   * f32 summation's.
   */
  const MATVEC_RTOL = 2e-6, MATVEC_ATOL = 1e-6;
  /** Elementwise ops in f32 (RMSNorm's sum of squares, RoPE's products): relative to the value. */
  const ELEM_RTOL = 2e-6, ELEM_ATOL = 1e-6;
  /** Attention: scores summed in f32 (the reference in double) before exp; the f16 accumulator rounds. */
  const ATTN_ATOL = 2e-3;

  function close(got: Float32Array, want: Float32Array, tol: (i: number) => number, what: string): void {
    assert.equal(got.length, want.length, `${what}: length`);
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      if (!(d <= tol(i))) assert.fail(`${what}: element ${i}: gpu ${got[i]} vs ref ${want[i]} (|diff| ${d} > ${tol(i)})`);
    }
  }

  async function withOps<T>(fn: (ops: GpuOps, gpu: Gpu) => Promise<T>, opts?: GpuOptions): Promise<T> {
    const gpu = await open(opts);
    const ops = new GpuOps(gpu);
    try {
      return await fn(ops, gpu);
    } finally {
      ops.destroy();
      gpu.destroy();
    }
  }

  /** randomMatrix, with IQ4_NL rows written by ggml's reference quantizer (the format has no `quantize` of its own). */
  function testMatrix(type: string, rows: number, cols: number, seed: number): WeightMatrix {
    if (type !== 'IQ4_NL') return randomMatrix(null, type, rows, cols, seed);
    const rowBytes = (cols / 32) * IQ4_NL.typeSize, data = new Uint8Array(rows * rowBytes);
    quantizeIq4NlRef(randomFloats(rows * cols, seed, 1.5), 0, data, 0, rows * cols);
    return { name: `test.IQ4_NL.${rows}x${cols}`, format: IQ4_NL, rows, cols, rowBytes, ...weightBytes(data) };
  }

  /** The product on the GPU: activations prepared there, then the matvec, read back. */
  async function gpuMatvec(ops: GpuOps, gpu: Gpu, type: string, rows: number, cols: number, nTok: number, seed: number, tiled?: boolean) {
    const w = testMatrix(type, rows, cols, seed);
    const x = randomFloats(nTok * cols, seed + 7, 2);
    const g = await uploadMatrix(gpu, w);
    const kind = gpuFormat(w.format)!.act;
    const xb = ops.upload(x, 'x');
    const xq = ops.buffer(x.byteLength, 'xq'), xd = ops.buffer(4 * activationScaleFloats(x.length), 'xd');
    const y = ops.buffer(nTok * rows * 4, 'y');
    ops.begin();
    ops.prepareActivations(kind, xb, x.length, xq, xd);
    ops.matvec(g, kind === 'f32' ? xb : xq, xd, nTok, y, tiled);
    const got = await ops.readF32(y, 0, nTok * rows);
    const want = new Float32Array(nTok * rows);
    ref.matmul(w, x, nTok, want);
    // sum |w x| per output, from the dequantized rows.
    const deq = new Float32Array(rows * cols);
    w.format.dequantize(w.data, 0, deq, 0, rows * cols);
    const mag = new Float32Array(nTok * rows);
    for (let t = 0; t < nTok; t++) for (let r = 0; r < rows; r++) {
      let m = 0;
      for (let k = 0; k < cols; k++) m += Math.abs(deq[r * cols + k]! * x[t * cols + k]!);
      mag[t * rows + r] = m;
    }
    for (const s of g.shards) s.buffer.destroy();
    return { got, want, mag, shards: g.shards.length };
  }

  const TYPES = ['F32', 'F16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'IQ4_NL'];
  const SHAPES: [rows: number, cols: number, nTok: number][] = [[1, 32, 1], [3, 96, 1], [67, 160, 3], [5, 2080, 2]];
  /** The 256-element formats (Q8_K activations): whole super-blocks, odd counts of them (Q6_K's 210 and TQ2_0's 66 bytes leave every other block unaligned). */
  const K_TYPES = ['Q4_K', 'Q5_K', 'Q6_K', 'TQ2_0'];
  const K_SHAPES: [rows: number, cols: number, nTok: number][] = [[1, 256, 1], [3, 768, 2], [67, 512, 3]];

  for (const type of [...TYPES, ...K_TYPES]) {
    const shapes = K_TYPES.includes(type) ? K_SHAPES : SHAPES;
    test('kernels', `webgpu matvec ${type}: equals the reference matmul within ${MATVEC_RTOL} x sum|wx| (odd row and block counts, 1-3 tokens)`, async (log) => {
      await withOps(async (ops, gpu) => {
        for (const [rows, cols, nTok] of shapes) {
          const { got, want, mag } = await gpuMatvec(ops, gpu, type, rows, cols, nTok, rows * 31 + cols, false);
          close(got, want, (i) => MATVEC_ATOL + MATVEC_RTOL * mag[i]!, `${type} ${rows}x${cols} nTok ${nTok}`);
        }
      });
    });
  }

  /** Tiled products: rows past one 64-row tile, token counts past one 8-token tile and not a multiple of it, columns past one 256-column step and not a multiple of it. */
  const GEMM_SHAPES: [rows: number, cols: number, nTok: number][] = [[70, 96, 4], [130, 288, 11], [3, 32, 17]];
  const GEMM_K_SHAPES: [rows: number, cols: number, nTok: number][] = [[70, 512, 9], [5, 256, 4]];

  test('kernels', `webgpu tiled matrix-matrix product (prefill), every GPU format: equals the reference matmul within ${MATVEC_RTOL} x sum|wx|; the decode shader's results for the same tokens`, async (log) => {
    await withOps(async (ops, gpu) => {
      for (const type of [...TYPES, ...K_TYPES]) {
        for (const [rows, cols, nTok] of K_TYPES.includes(type) ? GEMM_K_SHAPES : GEMM_SHAPES) {
          const seed = rows * 17 + cols + nTok;
          const { got, want, mag } = await gpuMatvec(ops, gpu, type, rows, cols, nTok, seed, true);
          close(got, want, (i) => MATVEC_ATOL + MATVEC_RTOL * mag[i]!, `tiled ${type} ${rows}x${cols} nTok ${nTok}`);
          const one = await gpuMatvec(ops, gpu, type, rows, cols, nTok, seed, false);
          close(got, one.got, (i) => MATVEC_ATOL + MATVEC_RTOL * mag[i]!, `tiled vs matvec ${type} ${rows}x${cols} nTok ${nTok}`);
        }
      }
    });
  });

  test('kernels', 'webgpu matvec: a forced small binding limit splits weights into row shards with the same results; a row above the limit is refused naming the tensor', async (log) => {
    const whole = await withOps((ops, gpu) => gpuMatvec(ops, gpu, 'Q4_0', 67, 160, 1, 5));
    // 160 Q4_0 columns are 90 bytes a row: 1000 bytes hold 11 rows, so 67 rows take 7 shards.
    const split = await withOps((ops, gpu) => gpuMatvec(ops, gpu, 'Q4_0', 67, 160, 1, 5), { maxBindingBytes: 1000 });
    assert.equal(whole.shards, 1);
    assert.equal(split.shards, 7);
    assert.deepEqual(split.got, whole.got);
    await gpuErrorLike(() => shardRows({ name: 'blk.0.ffn_down.weight', rows: 4, rowBytes: 4096 }, 1000), /blk\.0\.ffn_down\.weight.*4096 bytes.*1000 bytes.*maxStorageBufferBindingSize/);
  });

  test('kernels', 'webgpu activations: Q8_0 / Q8_1 / Q8_K blocks and f16 rounding equal kernels/ref/activations.ts exactly', async (log) => {
    await withOps(async (ops) => {
      const n = 256 * 5;
      const x = randomFloats(n, 3, 4);
      x[5] = 0; x.fill(0, 64, 96); // an all-zero block: scale 0
      x[100] = 1e-6; x[101] = 65519; x[102] = -3.0517578125e-5; // f16 subnormal and rounding edges
      x.fill(0, 512, 768); // an all-zero Q8_K super-block
      const xb = ops.upload(x, 'x');
      for (const kind of ['q8_0', 'q8_1', 'q8_K', 'f16'] as const) {
        const q = ops.buffer(n * 4, 'q'), d = ops.buffer(4 * activationScaleFloats(n), 'd');
        ops.begin();
        ops.prepareActivations(kind, xb, n, q, d);
        const gq = await ops.readF32(q, 0, n), gd = await ops.readF32(d, 0, n / 32 + n / 16);
        const a = newActivationRow(kind, n);
        prepareActivation(a, x, 0, n, 0);
        if (kind === 'f16') assert.deepEqual(gq, a.f, 'f16-rounded values');
        else {
          assert.deepEqual(Array.from(gq, (v) => v + 0), Array.from(a.qs), `${kind} quants`); // + 0: -0 is 0
          assert.deepEqual(gd.subarray(0, a.d.length), a.d, `${kind} scales`);
          if (kind === 'q8_1') assert.deepEqual(gd.subarray(n / 32, n / 16), a.s, 'q8_1 sums');
          if (kind === 'q8_K') assert.deepEqual(Array.from(gd.subarray(n / 32, n / 32 + n / 16)), Array.from(a.bsums), 'q8_K sums of 16');
        }
      }
    });
  });

  test('kernels', `webgpu rmsNorm (out of place and in place): within ${ELEM_RTOL} relative of the reference`, async (log) => {
    await withOps(async (ops) => {
      for (const [n, rows] of [[64, 3], [896, 2], [100, 5]] as const) {
        const x = randomFloats(n * rows, n, 3), w = randomFloats(n, n + 1, 1);
        const want = new Float32Array(n * rows);
        ref.rmsNorm(x, w, 1e-6, n, rows, want);
        const xb = ops.upload(x, 'x'), wb = ops.upload(w, 'w'), o = ops.buffer(x.byteLength, 'o');
        ops.begin();
        ops.rmsNorm(xb, wb, 1e-6, n, rows, o);
        ops.rmsNorm(xb, wb, 1e-6, n, rows, null);
        const tol = (i: number) => ELEM_ATOL + ELEM_RTOL * Math.abs(want[i]!);
        close(await ops.readF32(o, 0, n * rows), want, tol, `rmsNorm ${n}x${rows}`);
        close(await ops.readF32(xb, 0, n * rows), want, tol, `rmsNorm in place ${n}x${rows}`);
      }
    });
  });

  function ropeParams(nRot: number, neox: boolean, yarn: boolean): RopeParams {
    const half = nRot / 2;
    const invFreq = Float64Array.from({ length: half }, (_, i) => Math.pow(10000, (-2 * i) / nRot));
    return { nRot, neox, invFreq, rampMix: yarn ? Float64Array.from({ length: half }, (_, i) => Math.min(1, i / half)) : null, freqScale: yarn ? 0.25 : 1, mscale: yarn ? 1.1386 : 1 };
  }

  test('kernels', `webgpu rope: NeoX and interleaved pairs, partial rotation, YaRN scaling, positions into the thousands, within ${ELEM_RTOL} relative`, async (log) => {
    await withOps(async (ops) => {
      for (const [neox, nRot, yarn] of [[false, 64, false], [true, 64, false], [true, 32, false], [false, 48, true], [true, 64, true]] as const) {
        const nTok = 3, nHead = 4, headDim = 64, pos0 = 3000;
        const p = ropeParams(nRot, neox, yarn);
        const x = randomFloats(nTok * nHead * headDim, nRot, 2);
        const want = x.slice();
        ref.rope(want, nTok, nHead, headDim, pos0, p);
        const xb = ops.upload(x, 'x'), cs = ops.upload(ropeTable(p, pos0, nTok, new Float32Array(nTok * nRot)), 'cs');
        ops.begin();
        ops.rope(xb, cs, nTok, nHead, headDim, nRot / 2, neox);
        close(await ops.readF32(xb, 0, x.length), want, (i) => ELEM_ATOL * 4 + ELEM_RTOL * Math.abs(want[i]!), `rope neox=${neox} nRot=${nRot} yarn=${yarn}`);
      }
    });
  });

  test('kernels', `webgpu attention over an f16 cache (GQA, several queries at pos0 > 0): within ${ATTN_ATOL} of the reference's f16 kernel`, async (log) => {
    await withOps(async (ops) => {
      for (const [nHead, nHeadKv, headDim, pos0, nTok] of [[4, 2, 16, 0, 1], [8, 2, 32, 37, 3], [2, 2, 64, 130, 1]] as const) {
        const nKv = pos0 + nTok, kvDim = nHeadKv * headDim;
        const k = randomFloats(nKv * kvDim, 11 + pos0, 1), v = randomFloats(nKv * kvDim, 12 + pos0, 1), q = randomFloats(nTok * nHead * headDim, 13, 1);
        const kh = Uint16Array.from(k, f32ToF16), vh = Uint16Array.from(v, f32ToF16);
        const p = { nHead, nHeadKv, headDim, headDimV: headDim, scale: 1 / Math.sqrt(headDim), f16: true };
        const want = new Float32Array(nTok * nHead * headDim);
        ref.attention(q, kh, vh, nTok, pos0, p, want);
        // The cache written on the GPU from f32 rows (the kv-write shader rounds to f16), as a context does.
        const kc = ops.buffer(nKv * kvDim * 2, 'k cache'), vc = ops.buffer(nKv * kvDim * 2, 'v cache');
        const kb = ops.upload(k, 'k'), vb = ops.upload(v, 'v'), qb = ops.upload(q, 'q');
        const stride = nKv + 5, scores = ops.buffer(nTok * nHead * stride * 4, 'scores'), out = ops.buffer(want.byteLength, 'out');
        ops.begin();
        ops.kvWrite(kb, kc, kvDim, 0, nKv);
        ops.kvWrite(vb, vc, kvDim, 0, nKv);
        ops.attention(qb, kc, vc, scores, stride, nTok, pos0, p, out);
        const cache = new Uint16Array(await ops.read(kc, 0, kh.byteLength));
        assert.deepEqual(cache, kh, 'the f16 cache holds exactly the reference rounding');
        close(await ops.readF32(out, 0, want.length), want, () => ATTN_ATOL, `attention ${nHead}/${nHeadKv} heads of ${headDim}, pos0 ${pos0}, ${nTok} queries`);
      }
    });
  });

  test('kernels', 'webgpu swiglu, residual and bias adds: equal the reference', async (log) => {
    await withOps(async (ops) => {
      const n = 1000;
      const g = randomFloats(n, 1, 6), u = randomFloats(n, 2, 2), b = randomFloats(10, 3, 1);
      const want = g.slice();
      ref.swiglu(want, u, n);
      const gb = ops.upload(g, 'g'), ub = ops.upload(u, 'u'), bb = ops.upload(b, 'b');
      ops.begin();
      ops.swiglu(gb, ub, n);
      close(await ops.readF32(gb, 0, n), want, (i) => ELEM_ATOL + 4 * ELEM_RTOL * Math.abs(want[i]!), 'swiglu');
      ops.begin();
      ops.add(gb, ub, n, n, 0.5);
      ops.add(gb, bb, n, 10);
      for (let i = 0; i < n; i++) want[i] = Math.fround(Math.fround(want[i]! + Math.fround(u[i]! * 0.5)) + b[i % 10]!);
      close(await ops.readF32(gb, 0, n), want, (i) => ELEM_ATOL + ELEM_RTOL * Math.abs(want[i]!), 'adds');
    });
  });

  test('kernels', `webgpu top-k (k 1..${TOPK_MAX}): the k largest logits in descending order, ties to the smaller index, as a stable sort of the row gives them`, async (log) => {
    await withOps(async (ops) => {
      const n = 40000;
      const x = randomFloats(n, 21, 4);
      // Ties across the first pass's threads and within one, a NaN, an -Infinity: a stable sort's order.
      for (const i of [7, 519, 30000, n - 1]) x[i] = 9;
      x[3] = NaN; x[4] = -Infinity; x[1024] = 8.5; x[1536] = 8.5;
      const xb = ops.upload(x, 'logits');
      const order = Array.from(x.keys()).filter((i) => !Number.isNaN(x[i]!)).sort((a, b) => x[b]! - x[a]! || a - b);
      for (const k of [1, 5, 40, TOPK_MAX]) {
        const cand = ops.buffer(4 * topKCandidateWords(k), 'candidates'), out = ops.buffer(8 * k, 'top-k');
        ops.begin();
        ops.topK(xb, n, k, cand, out);
        const r = new Uint32Array(await ops.read(out, 0, 8 * k));
        const f = new Float32Array(r.buffer);
        const ids = Array.from({ length: k }, (_, j) => r[2 * j + 1]!);
        assert.deepEqual(ids, order.slice(0, k), `top-${k} ids`);
        assert.deepEqual(Array.from({ length: k }, (_, j) => f[2 * j]!), ids.map((i) => x[i]!), `top-${k} values`);
        cand.destroy(); out.destroy();
      }
      await gpuErrorLike(() => ops.topK(xb, n, TOPK_MAX + 1, xb, xb), /top-k takes k in 1\.\.64/);
    });
  });

  /** Every shader the backend compiles: each GPU format's two products, the activation quantizers, every op and KV cache type's. */
  function allShaders(): string[] {
    const formats = [...TYPES, ...K_TYPES].map((t) => quantFormat(ggmlTypeByName(t)!.id));
    return [
      ...formats.flatMap((f) => [matvecWgsl(f), gemmWgsl(f)]),
      ...(['f16', 'q8_0', 'q8_1', 'q8_K'] as const).map(actWgsl),
      rmsNormWgsl(false), rmsNormWgsl(true), ROPE_WGSL, SWIGLU_WGSL, ADD_WGSL, TOPK_SCAN_WGSL, TOPK_MERGE_WGSL, HADAMARD_WGSL,
      ...(['f16', 'bf16'] as const).flatMap((t) => [kvWriteWgsl(t), attnScoresHalfWgsl(t)]),
      attnAccWgsl('f16'),
      ...GPU_KV_QUANT.flatMap((t) => [attnAccWgsl(t), ...(kvBlockQuant(t) ? [kvQuantWriteWgsl(t), attnScoresQuantWgsl(KV_QUANT_FORMAT[t])] : [])]),
    ];
  }

  test('kernels', 'webgpu shader-f16: no shader enables or computes in f16 (f16/bf16 values are decoded and rounded with integer operations); a device refused the feature says so, and gives the default device\'s bits (where the adapter offers shader-f16: SwiftShader does not)', async (log) => {
    const shaders = allShaders();
    assert.ok(shaders.length > 50, `${shaders.length} shaders`);
    for (const code of shaders) assert.ok(!/\benable\s+f16\b|[<:]\s*f16\b|\bf16\s*\(|\b\d+(\.\d*)?h\b/.test(code), `a shader uses the f16 type:\n${code}`);
    // Products on an f16 and a q8 format, the f16 cache's attention: the same bits on both devices.
    const run = (opts: { f16?: boolean }) => withOps(async (ops, gpu) => {
      const a = await gpuMatvec(ops, gpu, 'F16', 67, 160, 5, 3, true);
      const b = await gpuMatvec(ops, gpu, 'Q8_0', 67, 160, 1, 4, false);
      return { f16: gpu.f16, note: gpu.note, rows: [a.got, b.got] };
    }, opts);
    const dflt = await run({}), off = await run({ f16: false });
    assert.equal(off.f16, false);
    assert.ok(/f32 shaders \(no shader-f16\)/.test(off.note), off.note);
    assert.ok((dflt.f16 ? /shader-f16 \(unused: f32 shaders\)/ : /f32 shaders \(no shader-f16\)/).test(dflt.note), dflt.note);
    assert.deepEqual(dflt.rows, off.rows);
    log(`adapter shader-f16: ${dflt.f16 ? 'offered (the default device took it)' : 'not offered (both devices lack it)'}`);
  });

  test('kernels', 'webgpu: a device destroyed before a read ends it with a GpuError naming the loss, never a hang', async (log) => {
    const gpu = await open();
    const ops = new GpuOps(gpu);
    const b = ops.upload(new Float32Array(16), 'x');
    ops.begin();
    ops.swiglu(b, ops.upload(new Float32Array(16), 'u'), 16);
    const reading = ops.readF32(b, 0, 16);
    gpu.destroy();
    await gpuErrorLike(() => reading, /destroyed|lost/);
    await gpuErrorLike(() => ops.begin(), /destroyed|lost/);
  });

  /**
   * Attention with a quantized V: scores summed over the head's blocks in f32 (the twin in double),
   * exp in WGSL's precision, V's accumulator a*b + c in two f32 roundings (the twin one): absolute,
   * outputs are O(1).
   */
  const ATTN_Q_ATOL = 1e-6;
  /** With an f16 V the accumulator is rounded to f16 after every position, both sides: a flipped rounding is an f16 ulp. */
  const ATTN_F16V_ATOL = 2e-3;

  /**
   * Rows with the quantizers' edge cases: zero blocks (second of a thread's pair, first of one, two in
   * a row: iq4_nl writes the indices of the last non-zero block before them), ties at .5 after
   * scaling, the largest magnitude negative and repeated.
   */
  function kvRows(n: number, seed: number): Float32Array {
    const x = randomFloats(n, seed, 3);
    x.fill(0, 32, 64);
    x.fill(0, 256, 288);
    x.fill(0, 384, 448);
    for (let j = 0; j < 32; j++) x[64 + j] = j === 0 ? 127 : (j % 5) - 2.5 + (j & 1) * 0.5; // q8_0: id = 1, x.5 ties
    for (let j = 0; j < 32; j++) x[96 + j] = j % 7 === 0 ? -8 : 8 - j * 0.5; // q4_0: -8 and 8 tie in magnitude, the first wins
    return x;
  }

  for (const type of GPU_KV_QUANT) {
    test('kv-quant', `webgpu ${type} cache rows (rotated and not) are the CPU store's bytes`, async (log) => {
      await withOps(async (ops) => {
        const width = 128, nTok = 5, pos0 = 3, n = width * nTok;
        const rowBytes = (width / 32) * KV_BLOCK_BYTES[type];
        for (const rot of [0, 64, 128]) {
          const x = kvRows(n, 31 + rot);
          const want = new Uint8Array((pos0 + nTok) * rowBytes);
          const xr = x.slice();
          if (rot) hadamardRows(xr, 0, n, rot);
          kvCacheFormat(type).write(xr, 0, want, pos0 * rowBytes, n);
          const xb = ops.upload(x, 'x'), cache = ops.buffer(want.length, 'cache');
          ops.begin();
          if (rot) ops.hadamard(xb, n, rot);
          ops.kvQuantWrite(type, xb, cache, width, pos0, nTok);
          if (rot) assert.deepEqual(await ops.readF32(xb, 0, n), xr, `rotation by ${rot}: the CPU's floats bit for bit`);
          const got = new Uint8Array(await ops.read(cache, 0, want.length));
          for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) assert.fail(`${type} rot ${rot}: byte ${i} (row ${Math.floor(i / rowBytes)}) gpu ${got[i]} vs CPU ${want[i]}`);
        }
      });
    });
  }

  /** Mixed pairs for attention only: a bf16 K with a quantized V, a quantized K with a bf16 V. */
  const ATTN_COMBOS: Array<[GpuKVQuant | 'f16', GpuKVQuant | 'f16']> = [...KV_COMBOS, ['bf16', 'q5_1'], ['iq4_nl', 'bf16']];

  for (const [kt, vt] of ATTN_COMBOS) {
    test('kv-quant', `webgpu attention over a ${kt}/${vt} cache (GQA, several queries at pos0 > 0): within ${vt === 'f16' ? 'ATTN_F16V_ATOL' : 'ATTN_Q_ATOL'} of ggml's CPU flash attention twin`, async (log) => {
      const ref = new QuantAttentionRef();
      const kf = kt === 'f16' ? F16 : KV_QUANT_FORMAT[kt], vf = vt === 'f16' ? F16 : KV_QUANT_FORMAT[vt];
      const tol = vt === 'f16' ? ATTN_F16V_ATOL : ATTN_Q_ATOL;
      let worst = 0;
      await withOps(async (ops) => {
        for (const [nHead, nHeadKv, headDim, pos0, nTok] of [[4, 2, 64, 0, 1], [8, 2, 64, 37, 3], [2, 1, 128, 70, 2]] as const) {
          const nKv = pos0 + nTok, kvDim = nHeadKv * headDim;
          const kRowBytes = (kvDim / kf.blockSize) * kf.typeSize, vRowBytes = (kvDim / vf.blockSize) * vf.typeSize;
          const k = randomFloats(nKv * kvDim, 11 + pos0, 1), v = randomFloats(nKv * kvDim, 12 + pos0, 1), q = randomFloats(nTok * nHead * headDim, 13, 1);
          // The caches as the CPU store writes them (the write test above: the GPU writes the same bytes).
          const kc = new Uint8Array(nKv * kRowBytes), vc = new Uint8Array(nKv * vRowBytes);
          kvCacheFormat(kt).write(k, 0, kc, 0, k.length);
          kvCacheFormat(vt).write(v, 0, vc, 0, v.length);
          const want = new Float32Array(nTok * nHead * headDim);
          const p = { nHead, nHeadKv, headDim, headDimV: headDim, scale: 1 / Math.sqrt(headDim), kFormat: kf, vFormat: vf, kRowBytes, vRowBytes, spans: null, spanCount: null, spanStride: 0 };
          ref.attention(q, weightBytes(kc), weightBytes(vc), nTok, pos0, p, want);
          const up = (b: Uint8Array, name: string) => { const g = ops.buffer(b.length, name); ops.write(g, new Uint32Array(b.buffer, 0, b.length / 4)); return g; };
          const kb = up(kc, 'k cache'), vb = up(vc, 'v cache'), qb = ops.upload(q, 'q');
          const xq = ops.buffer(q.byteLength, 'xq'), xd = ops.buffer(q.byteLength, 'xd');
          const stride = nKv + 5, scores = ops.buffer(nTok * nHead * stride * 4, 'scores'), out = ops.buffer(want.byteLength, 'out');
          ops.begin();
          ops.attentionQuant(qb, xq, xd, kb, vb, scores, stride, nTok, pos0, { ...p, kFormat: kt === 'f16' ? null : kf, vType: vt }, out);
          const got = await ops.readF32(out, 0, want.length);
          for (let i = 0; i < want.length; i++) {
            const d = Math.abs(got[i]! - want[i]!);
            worst = Math.max(worst, d);
            if (!(d <= tol)) assert.fail(`${kt}/${vt} ${nHead}/${nHeadKv} heads of ${headDim}, pos0 ${pos0}, ${nTok} queries: element ${i}: gpu ${got[i]} vs ref ${want[i]}`);
          }
        }
      });
      log(`${kt}/${vt}: max |gpu - ref| ${worst.toExponential(2)}`);
    });
  }

  return cases;
}

/** deepStrictEqual's rules for what the cases compare (arrays, typed arrays, numbers by Object.is), with the first difference in the message. */
function firstDifference(a: unknown, b: unknown, at: string): string | null {
  const isList = (v: unknown): v is ArrayLike<unknown> => Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
  if (isList(a) || isList(b)) {
    if (!isList(a) || !isList(b) || a.constructor !== b.constructor) return `${at}: ${Object.prototype.toString.call(a)} vs ${Object.prototype.toString.call(b)}`;
    if (a.length !== b.length) return `${at}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${at}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const show = (v: unknown) => (Object.is(v, -0) ? '-0' : String(v));
  return Object.is(a, b) ? null : `${at}: ${show(a)} vs ${show(b)}`;
}

/** The assert for a page, where node:assert is not. */
export const pageAssert: ParityAssert = {
  ok(value, message) { if (!value) throw new Error(message ?? 'not ok'); },
  equal(actual, expected, message) { if (!Object.is(actual, expected)) throw new Error(`${message ?? 'not equal'}: ${String(actual)} vs ${String(expected)}`); },
  deepEqual(actual, expected, message) { const d = firstDifference(actual, expected, ''); if (d) throw new Error(`${message ?? 'not deep-equal'}: ${d}`); },
  fail(message) { throw new Error(message ?? 'failed'); },
};
