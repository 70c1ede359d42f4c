// The WebAssembly training kernels (assembly/train.ts through src/train/wasm-ops.ts) against their
// TypeScript twins (src/train/ops.ts), at 1 and 2 threads, on odd shapes and tails: products and
// attention within a named float32 tolerance, the f64 ops (AdamW, sums of squares, RMS norm, RoPE,
// embedding) bit for bit; the whole decoder's gradient against finite differences; 50 training
// steps against the reference; 1 thread and 2 the same bits; resume bit-exact on the kernels.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as op from '../src/train/ops.js';
import { refOps, type TrainOps } from '../src/train/backend.js';
import { WasmTrainOps } from '../src/train/wasm-ops.js';
import { TrainDecoder, type DecoderShape } from '../src/train/decoder.js';
import { AdamW, clipGradNorm } from '../src/train/optim.js';
import { Xorshift128 } from '../src/train/rng.js';
import { concatChunks, writeGGUF, GGUFType, type GGUFValue } from '../src/formats/gguf.js';
import { trainBpeVocab, vocabMetadata } from '../src/train/bpe-trainer.js';
import { parseTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';
import { DATA } from './helpers.js';

/** float32 sums in four lanes vs the twin's float64 sums: |wasm - ref| <= ATOL * scale + RTOL * |ref| */
const RTOL = 2e-5, ATOL = 2e-6;
/** 50 steps of a tiny model: per-step loss and final weights may drift this far from the reference (relative to the loss, absolute on weights of ~0.1) */
const STEP_LOSS_RTOL = 2e-4, STEP_WEIGHT_ATOL = 2e-4;

const wasm1 = await WasmTrainOps.create({ threads: 1 });
const wasm2 = await WasmTrainOps.create({ threads: 2 });
after(() => { wasm1?.dispose(); wasm2?.dispose(); });
const backends = [wasm1, wasm2].filter((b): b is WasmTrainOps => b !== null);

function rand(ops: TrainOps, n: number, rng: Xorshift128, s = 1): Float32Array {
  const a = ops.alloc(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * s;
  return a;
}
function copy(ops: TrainOps, src: Float32Array): Float32Array {
  const a = ops.alloc(src.length);
  a.set(src);
  return a;
}
function close(name: string, got: Float32Array, want: Float32Array): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    assert.ok(err <= ATOL * Math.max(1, scale) + RTOL * Math.abs(want[i]!), `${name}[${i}]: wasm ${got[i]}, reference ${want[i]}`);
  }
}
const same = (name: string, got: Float32Array, want: Float32Array) => assert.deepEqual(Array.from(got), Array.from(want), name);

test('wasm training kernels exist in this engine', () => {
  assert.equal(backends.length, 2);
});

for (const b of backends) {
  test(`matmul forward, dX, dW equal the twin within tolerance (${b.name}; odd tokens, rows and columns)`, () => {
    for (const [T, rows, cols] of [[5, 7, 12], [128, 1024, 64], [9, 66, 36], [3, 5, 6], [130, 64, 192]] as const) {
      const rng = new Xorshift128(T * 31 + rows);
      const w = rand(b, rows * cols, rng), x = rand(b, T * cols, rng), dy = rand(b, T * rows, rng);
      const y = b.alloc(T * rows), yr = new Float32Array(T * rows);
      b.matmul(w, x, T, rows, cols, y);
      op.matmul(w, x, T, rows, cols, yr);
      close(`y ${T}x${rows}x${cols}`, y, yr);
      const dw = rand(b, rows * cols, rng), dx = rand(b, T * cols, rng);
      const dwr = dw.slice(), dxr = dx.slice();
      b.matmulBackward(w, x, dy, T, rows, cols, dw, dx);
      op.matmulBackward(w, x, dy, T, rows, cols, dwr, dxr);
      close(`dW ${T}x${rows}x${cols}`, dw, dwr);
      close(`dx ${T}x${rows}x${cols}`, dx, dxr);
    }
  });

  test(`attention forward and backward equal the twin (${b.name}; GQA, odd T)`, () => {
    for (const s of [{ T: 7, nHead: 4, nHeadKv: 2, headDim: 8 }, { T: 33, nHead: 2, nHeadKv: 2, headDim: 32 }, { T: 5, nHead: 3, nHeadKv: 1, headDim: 6 }]) {
      const rng = new Xorshift128(s.T);
      const qn = s.T * s.nHead * s.headDim, kn = s.T * s.nHeadKv * s.headDim;
      const q = rand(b, qn, rng), k = rand(b, kn, rng), v = rand(b, kn, rng), dout = rand(b, qn, rng);
      const probs = b.alloc(s.nHead * s.T * s.T), out = b.alloc(qn), probsR = new Float32Array(probs.length), outR = new Float32Array(qn);
      // the kernels leave the entries past each query's position alone; the arena may hand back used memory
      probs.fill(0);
      b.attention(q, k, v, s, probs, out);
      op.attention(q, k, v, s, probsR, outR);
      close('probs', probs, probsR); close('out', out, outR);
      const dq = b.alloc(qn), dk = b.alloc(kn), dv = b.alloc(kn), dqR = new Float32Array(qn), dkR = new Float32Array(kn), dvR = new Float32Array(kn);
      b.attentionBackward(q, k, v, copy(b, probsR), dout, s, dq, dk, dv, b.alloc(s.T));
      op.attentionBackward(q, k, v, probsR, dout, s, dqR, dkR, dvR, new Float32Array(s.T));
      close('dq', dq, dqR); close('dk', dk, dkR); close('dv', dv, dvR);
    }
  });

  test(`cross-entropy and SwiGLU equal the twin; RMS norm, RoPE, embedding, AdamW, sums of squares bit for bit (${b.name})`, () => {
    const rng = new Xorshift128(5), T = 9, V = 1030, n = 44;
    const logits = rand(b, T * V, rng, 3), tg = b.allocI32(T);
    for (let t = 0; t < T; t++) tg[t] = (t * 397) % V;
    const dl = b.alloc(T * V), dlR = new Float32Array(T * V);
    const loss = b.crossEntropy(logits, tg, T, V, 0.25, dl), lossR = op.crossEntropy(logits, tg, T, V, 0.25, dlR);
    assert.ok(Math.abs(loss - lossR) <= 1e-9 * Math.abs(lossR), `loss ${loss} vs ${lossR}`);
    close('dlogits', dl, dlR);
    const g = rand(b, T * n, rng, 2), u = rand(b, T * n, rng), h = b.alloc(T * n), hR = new Float32Array(T * n);
    b.swiglu(g, u, T * n, h); op.swiglu(g, u, T * n, hR); close('swiglu', h, hR);
    const dh = rand(b, T * n, rng), dg = rand(b, T * n, rng), du = rand(b, T * n, rng), dgR = dg.slice(), duR = du.slice();
    b.swigluBackward(g, u, dh, T * n, dg, du); op.swigluBackward(g, u, dh, T * n, dgR, duR);
    close('dgate', dg, dgR); close('dup', du, duR);
    // the f64 ops
    const x = rand(b, T * n, rng), wt = rand(b, n, rng), out = b.alloc(T * n), rs = b.alloc(T), outR = new Float32Array(T * n), rsR = new Float32Array(T);
    b.rmsNorm(x, wt, 1e-5, n, T, out, rs); op.rmsNorm(x, wt, 1e-5, n, T, outR, rsR);
    same('rmsNorm', out, outR); same('rstd', rs, rsR);
    const dx = rand(b, T * n, rng), dwt = rand(b, n, rng), dxR = dx.slice(), dwtR = dwt.slice();
    b.rmsNormBackward(x, wt, rs, dh, n, T, dx, dwt); op.rmsNormBackward(x, wt, rsR, dh, n, T, dxR, dwtR);
    same('rmsNorm dx', dx, dxR); same('rmsNorm dweight', dwt, dwtR);
    const tabs = op.ropeTables(T, 8, 10000), cos = copy(b, tabs.cos), sin = copy(b, tabs.sin);
    const r = rand(b, T * 3 * 8, rng), rR = r.slice();
    b.rope(r, T, 3, 8, cos, sin, false); op.rope(rR, T, 3, 8, cos, sin, false); same('rope', r, rR);
    b.rope(r, T, 3, 8, cos, sin, true); op.rope(rR, T, 3, 8, cos, sin, true); same('rope inverse', r, rR);
    const table = rand(b, 50 * n, rng), ids = b.allocI32(T);
    for (let t = 0; t < T; t++) ids[t] = (t * 7) % 50;
    const e = b.alloc(T * n), eR = new Float32Array(T * n);
    b.embed(table, ids, T, n, 12, e); op.embed(table, ids, T, n, 12, eR); same('embed', e, eR);
    const dt = rand(b, 50 * n, rng), dtR = dt.slice();
    b.embedBackward(dt, ids, T, n, 12, dh); op.embedBackward(dtR, ids, T, n, 12, dh); same('embed backward', dt, dtR);
    const w = rand(b, 333, rng), gr = rand(b, 333, rng), m = rand(b, 333, rng, 0.1), vv = b.alloc(333);
    for (let i = 0; i < 333; i++) vv[i] = Math.abs(rng.normal()) * 0.01;
    const wR = w.slice(), mR = m.slice(), vR = vv.slice();
    b.adamw(w, gr, m, vv, 0.9, 0.95, 1e-8, 3e-3, 1 - 3e-4, 1 / (1 - 0.9 ** 3), 1 / (1 - 0.95 ** 3));
    op.adamw(wR, gr, mR, vR, 0.9, 0.95, 1e-8, 3e-3, 1 - 3e-4, 1 / (1 - 0.9 ** 3), 1 / (1 - 0.95 ** 3));
    same('adamw w', w, wR); same('adamw m', m, mR); same('adamw v', vv, vR);
    assert.equal(b.sumsq(gr, 1.5), op.sumsq(gr, 1.5));
  });
}

function tinyShape(arch: 'llama' | 'minicpm', tie: boolean, kv: number): DecoderShape {
  return { arch, nVocab: 13, nEmbd: 16, nLayer: 2, nHead: 2, nHeadKv: kv, nFF: 24, nCtx: 6, ropeBase: 10000, eps: 1e-5, tieEmbeddings: tie, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 8 };
}

test('whole decoder gradient on the wasm kernels matches finite differences (llama tied GQA; minicpm untied)', () => {
  const EPS = 1e-2, FD_RTOL = 3e-2, FD_ATOL = 2e-3;
  for (const [arch, tie, kv] of [['llama', true, 1], ['minicpm', false, 2]] as const) {
    const m = new TrainDecoder(tinyShape(arch, tie, kv), wasm2!);
    m.init(new Xorshift128(7), 0.3, arch === 'minicpm');
    const tokens = [1, 5, 7, 2, 12, 5], targets = [5, 7, 2, 12, 5, 0];
    m.zeroGrad();
    m.step(tokens, targets, 6, 1);
    for (const p of m.params) {
      const grad = p.grad.slice(), rng = new Xorshift128(99);
      for (let k = 0; k < 3; k++) {
        const i = rng.int(p.data.length), old = p.data[i]!;
        p.data[i] = old + EPS; const fp = m.loss(tokens, targets, 6);
        p.data[i] = old - EPS; const fm = m.loss(tokens, targets, 6);
        p.data[i] = old;
        const num = (fp - fm) / (2 * EPS);
        assert.ok(Math.abs(num - grad[i]!) <= FD_ATOL + FD_RTOL * Math.abs(num), `${arch} ${p.name}[${i}]: finite difference ${num}, backward ${grad[i]}`);
      }
    }
  }
});

/** n AdamW steps of a small model on a fixed token stream; returns the losses and the model. */
function run(ops: TrainOps, arch: 'llama' | 'minicpm', steps: number): { losses: number[]; m: TrainDecoder } {
  const shape: DecoderShape = { arch, nVocab: 97, nEmbd: 32, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 72, nCtx: 24, ropeBase: 10000, eps: 1e-5, tieEmbeddings: arch === 'llama', scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 16 };
  const m = new TrainDecoder(shape, ops);
  m.init(new Xorshift128(11), 0.05, arch === 'minicpm');
  const opt = new AdamW(m.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, lrMult: () => 1 }, ops);
  const rng = new Xorshift128(12), T = 24;
  const stream = Int32Array.from({ length: 4000 }, (_, i) => (i * 7 + (i >> 3) * 13 + (i % 5) * (i % 3)) % 97);
  const input = new Int32Array(T), target = new Int32Array(T), losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    m.zeroGrad();
    let nll = 0;
    for (let b = 0; b < 2; b++) {
      const at = rng.int(stream.length - T - 1);
      input.set(stream.subarray(at, at + T)); target.set(stream.subarray(at + 1, at + T + 1));
      nll += m.step(input, target, T, 1 / (2 * T));
    }
    clipGradNorm(m.params, 1, ops);
    opt.step(3e-3);
    losses.push(nll / (2 * T));
  }
  return { losses, m };
}

for (const arch of ['llama', 'minicpm'] as const) {
  test(`50 training steps on the wasm kernels follow the TypeScript reference (${arch}); 1 and 2 threads give the same bits`, () => {
    const ref = run(refOps, arch, 50), w1 = run(wasm1!, arch, 50), w2 = run(wasm2!, arch, 50);
    assert.ok(ref.losses[49]! < ref.losses[0]! - 0.3, `the reference learns: ${ref.losses[0]} -> ${ref.losses[49]}`);
    for (let s = 0; s < 50; s++) assert.ok(Math.abs(w1.losses[s]! - ref.losses[s]!) <= STEP_LOSS_RTOL * ref.losses[s]!, `step ${s + 1}: wasm loss ${w1.losses[s]}, reference ${ref.losses[s]}`);
    let maxErr = 0;
    for (let k = 0; k < ref.m.params.length; k++) {
      const a = ref.m.params[k]!.data, b = w1.m.params[k]!.data;
      for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
    }
    assert.ok(maxErr <= STEP_WEIGHT_ATOL, `weights after 50 steps differ by up to ${maxErr}`);
    assert.deepEqual(w2.losses, w1.losses);
    for (let k = 0; k < w1.m.params.length; k++) same(w1.m.params[k]!.name, w2.m.params[k]!.data, w1.m.params[k]!.data);
  });
}

test('lutra train on the wasm kernels (2 threads): a resumed run continues bit for bit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-train-wasm-'));
  const text = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8').slice(0, 60_000);
  writeFileSync(join(dir, 'text.txt'), text);
  const v = trainBpeVocab(text, { vocabSize: 400 });
  const md = new Map<string, GGUFValue>([['general.architecture', { type: GGUFType.STRING, value: 'llama' }], ...vocabMetadata(v)]);
  writeFileSync(join(dir, 'vocab.gguf'), concatChunks(writeGGUF(md, [])));
  const cfg = (steps: number, out: string) => parseTrainConfig({
    name: 'tiny', model: { dim: 32, layers: 2, heads: 2, ffn: 64, ctx: 32 }, tokenizer: 'vocab.gguf', data: { text: 'text.txt' },
    train: { steps, batch: 2, lr: 0.01, evalEvery: 20, evalWindows: 4, checkpointEvery: 20 }, schedule: { type: 'wsd', warmup: 5 }, out,
  }, 'test');
  const full = await train(cfg(40, 'full'), { baseDir: dir, threads: 2 });
  await train(cfg(30, 'part'), { baseDir: dir, threads: 2 });
  const resumed = await train(cfg(40, 'part'), { baseDir: dir, threads: 2, resume: join(dir, 'part/ckpt-000020.gguf'), out: 'resumed' });
  assert.equal(resumed.trainLoss, full.trainLoss);
  assert.deepEqual(readFileSync(join(dir, 'resumed/tiny.gguf')), readFileSync(join(dir, 'full/tiny.gguf')));
});
