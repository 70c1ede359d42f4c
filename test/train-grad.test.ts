// Finite-difference checks of every training op's backward and of the whole decoder (llama and
// minicpm scalings, GQA, tied and untied output), in float64-free central differences on small
// deterministic inputs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../src/train/ops.js';
import { TrainDecoder, type DecoderShape } from '../src/train/decoder.js';
import { Xorshift128 } from '../src/train/rng.js';

const EPS = 1e-2;
/** float32 central differences: relative error of the gradient, with an absolute floor */
const RTOL = 3e-2, ATOL = 2e-3;

function rand(n: number, rng: Xorshift128, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

/** Checks d(sum(f(x) * probe))/dx against `analytic` at a few coordinates. */
function check(name: string, x: Float32Array, f: () => number, analytic: Float32Array, picks = 12): void {
  const rng = new Xorshift128(99);
  for (let k = 0; k < picks; k++) {
    const i = rng.int(x.length);
    const old = x[i]!;
    x[i] = old + EPS; const fp = f();
    x[i] = old - EPS; const fm = f();
    x[i] = old;
    const num = (fp - fm) / (2 * EPS);
    const err = Math.abs(num - analytic[i]!);
    assert.ok(err <= ATOL + RTOL * Math.abs(num), `${name}[${i}]: finite difference ${num.toFixed(5)}, backward ${analytic[i]!.toFixed(5)}`);
  }
}

const dot = (a: Float32Array, b: Float32Array) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };

test('matmul backward (dx, dW) matches finite differences', () => {
  const rng = new Xorshift128(1), T = 5, rows = 7, cols = 6;
  const w = rand(rows * cols, rng), x = rand(T * cols, rng), probe = rand(T * rows, rng), y = new Float32Array(T * rows);
  const f = () => { op.matmul(w, x, T, rows, cols, y); return dot(y, probe); };
  const dw = new Float32Array(w.length), dx = new Float32Array(x.length);
  op.matmulBackward(w, x, probe, T, rows, cols, dw, dx);
  check('dx', x, f, dx); check('dW', w, f, dw);
});

test('rmsNorm backward matches finite differences', () => {
  const rng = new Xorshift128(2), T = 3, n = 8;
  const x = rand(T * n, rng), g = rand(n, rng), probe = rand(T * n, rng), out = new Float32Array(T * n), rstd = new Float32Array(T);
  const f = () => { op.rmsNorm(x, g, 1e-5, n, T, out, rstd); return dot(out, probe); };
  f();
  const dx = new Float32Array(x.length), dg = new Float32Array(n);
  op.rmsNormBackward(x, g, rstd, probe, n, T, dx, dg);
  check('dx', x, f, dx); check('dweight', g, f, dg);
});

test('RoPE backward (inverse rotation) matches finite differences', () => {
  const rng = new Xorshift128(3), T = 4, nHead = 2, hd = 8;
  const { cos, sin } = op.ropeTables(T, hd, 10000);
  const x = rand(T * nHead * hd, rng), probe = rand(x.length, rng);
  const f = () => { const y = x.slice(); op.rope(y, T, nHead, hd, cos, sin, false); return dot(y, probe); };
  const dx = probe.slice(); op.rope(dx, T, nHead, hd, cos, sin, true);
  check('dx', x, f, dx);
});

test('causal GQA attention backward matches finite differences', () => {
  const rng = new Xorshift128(4), s: op.AttnShape = { T: 5, nHead: 4, nHeadKv: 2, headDim: 4 };
  const q = rand(s.T * 16, rng), k = rand(s.T * 8, rng), v = rand(s.T * 8, rng), probe = rand(s.T * 16, rng);
  const probs = new Float32Array(4 * 25), out = new Float32Array(s.T * 16);
  const f = () => { op.attention(q, k, v, s, probs, out); return dot(out, probe); };
  f();
  const dq = new Float32Array(q.length), dk = new Float32Array(k.length), dv = new Float32Array(v.length);
  op.attentionBackward(q, k, v, probs, probe, s, dq, dk, dv, new Float32Array(s.T));
  check('dq', q, f, dq); check('dk', k, f, dk); check('dv', v, f, dv);
});

test('SwiGLU backward matches finite differences', () => {
  const rng = new Xorshift128(5), n = 20;
  const g = rand(n, rng, 2), u = rand(n, rng), probe = rand(n, rng), h = new Float32Array(n);
  const f = () => { op.swiglu(g, u, n, h); return dot(h, probe); };
  const dg = new Float32Array(n), du = new Float32Array(n);
  op.swigluBackward(g, u, probe, n, dg, du);
  check('dgate', g, f, dg); check('dup', u, f, du);
});

test('cross-entropy gradient matches finite differences', () => {
  const rng = new Xorshift128(6), T = 3, V = 11;
  const logits = rand(T * V, rng, 2), targets = [3, 0, 10];
  const f = () => op.crossEntropy(logits, targets, T, V, 1, new Float32Array(T * V));
  const d = new Float32Array(T * V);
  op.crossEntropy(logits, targets, T, V, 1, d);
  check('dlogits', logits, f, d);
});

for (const [label, arch, tie, kv] of [['llama, tied, GQA', 'llama', true, 1], ['minicpm (muP scales), untied', 'minicpm', false, 2]] as const) {
  test(`whole decoder gradient matches finite differences: ${label}`, () => {
    const shape: DecoderShape = { arch, nVocab: 13, nEmbd: 16, nLayer: 2, nHead: 2, nHeadKv: kv, nFF: 24, nCtx: 6, ropeBase: 10000, eps: 1e-5, tieEmbeddings: tie, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 8 };
    const m = new TrainDecoder(shape);
    m.init(new Xorshift128(7), 0.3, arch === 'minicpm');
    for (const p of m.params) if (p.kind === 'norm') for (let i = 0; i < p.data.length; i++) p.data[i] = 1 + 0.1 * Math.sin(i + p.name.length);
    const tokens = [1, 5, 7, 2, 12, 5], targets = [5, 7, 2, 12, 5, 0];
    m.zeroGrad();
    m.step(tokens, targets, 6, 1);
    const f = () => m.loss(tokens, targets, 6);
    for (const p of m.params) check(p.name, p.data, f, p.grad.slice(), 3);
  });
}
