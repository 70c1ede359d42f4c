// The decoder's training options (src/train/decoder.ts DecoderOptions): BitCPM ternary QAT (absmean
// ternary forward weights with straight-through gradients, exported exactly to TQ1_0 / TQ2_0),
// bf16 mixed precision (gradients within a named tolerance of f32's, forward weights and kept
// matmul inputs stored as bf16 bits) and gradient checkpointing (recomputed activations give the
// same gradients bit for bit, in less activation memory; with bf16 this is also the check that the
// bf16 storage of the kept activations is lossless).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as op from '../src/train/ops.js';
import { refOps, type TrainOps } from '../src/train/backend.js';
import { WasmTrainOps } from '../src/train/wasm-ops.js';
import { TrainDecoder, type DecoderOptions, type DecoderShape } from '../src/train/decoder.js';
import { Xorshift128 } from '../src/train/rng.js';
import { parseGGUF, concatChunks } from '../src/formats/gguf.js';
import { quantFormat } from '../src/quant/table.js';
import { roundF16 } from '../src/core/f16.js';

const wasm = await WasmTrainOps.create({ threads: 1 });
after(() => wasm?.dispose());
const backends: TrainOps[] = [refOps, ...(wasm ? [wasm] : [])];

/** rows of 256 so the ternary groups tile TQ1_0 / TQ2_0 blocks */
const SHAPE: DecoderShape = { arch: 'llama', nVocab: 61, nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFF: 256, nCtx: 12, ropeBase: 10000, eps: 1e-5, tieEmbeddings: true, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 64 };
const TOKENS = [1, 5, 7, 2, 12, 5, 40, 33, 9, 60, 17, 3], TARGETS = [5, 7, 2, 12, 5, 40, 33, 9, 60, 17, 3, 0];

/** A decoder with the given options, seeded init, and its gradients for one sequence. */
function grads(ops: TrainOps, o: DecoderOptions, shape = SHAPE, init?: (m: TrainDecoder) => void): { m: TrainDecoder; loss: number; g: Map<string, Float32Array> } {
  const m = new TrainDecoder(shape, ops, o);
  m.init(new Xorshift128(3), 0.05, false);
  init?.(m);
  m.zeroGrad();
  const loss = m.step(TOKENS, TARGETS, TOKENS.length, 1 / TOKENS.length);
  return { m, loss, g: new Map(m.params.map((p) => [p.name, p.grad.slice()])) };
}

test('ternarize: each group of a row is {-s, 0, s} with s = absmean rounded to f16, and rounds W/s', () => {
  const rng = new Xorshift128(9);
  const rows = 3, cols = 512, w = new Float32Array(rows * cols), q = new Float32Array(rows * cols);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * 0.1 * (1 + (i >> 8));
  for (const group of [256, 64, 0]) {
    op.ternarize(w, rows, cols, group, q);
    const g = group || w.length;
    for (let o = 0; o < w.length; o += g) {
      let sa = 0;
      for (let i = 0; i < g; i++) sa += Math.abs(w[o + i]!);
      const s = roundF16(sa / g);
      for (let i = 0; i < g; i++) {
        const t = Math.max(-1, Math.min(1, Math.round(w[o + i]! / s)));
        assert.equal(q[o + i], t === 0 ? 0 : Math.fround(t * s), `group ${group}, element ${o + i}: w ${w[o + i]}, s ${s}`);
      }
    }
  }
  w.fill(0);
  op.ternarize(w, rows, cols, 256, q);
  assert.ok(q.every((v) => v === 0), 'an all-zero group stays zero');
});

for (const ops of backends) {
  test(`ternary QAT (${ops.name}): the master weights get the straight-through gradient, the one a float model with the ternary weights has`, () => {
    const t = grads(ops, { ternary: { group: 256 } });
    // the same network in float, its blocks' matrices set to the ternarized values
    const f = grads(ops, {}, SHAPE, (m) => {
      for (const [p, tp] of m.params.map((p, k) => [p, t.m.params[k]!] as const)) p.data.set(tp.fw);
    });
    assert.equal(t.loss, f.loss);
    for (const [name, g] of f.g) assert.deepEqual(Array.from(t.g.get(name)!), Array.from(g), name);
    const wq = t.m.p('blk.0.attn_q.weight');
    assert.notDeepEqual(Array.from(wq.fw), Array.from(wq.data), 'the forward used ternary weights, not the masters');
    assert.equal(new Set(Array.from(wq.fw.subarray(0, 256), Math.abs)).size <= 2, true, 'one scale (and zero) per group');
    assert.equal(t.m.p('token_embd.weight').fw, t.m.p('token_embd.weight').data, 'embeddings stay float, as in BitNet / BitCPM');
  });
}

test('ternary export: TQ2_0 and TQ1_0 tensors decode to exactly the weights the forward used', () => {
  const { m } = grads(refOps, { ternary: { group: 256 } });
  for (const [type, name] of [[35, 'TQ2_0'], [34, 'TQ1_0']] as const) {
    const g = parseGGUF(concatChunks(m.exportGGUF('t', [], type, type + 2)), name);
    for (const p of m.params) {
      const t = g.tensors.find((x) => x.name === p.name)!;
      if (!/^blk\..*(attn_[qkvo]|ffn_)/.test(p.name) || p.kind !== 'matrix') { assert.equal(t.type, 0, p.name); continue; }
      assert.equal(t.type, type, p.name);
      const back = new Float32Array(p.fw.length);
      quantFormat(type).dequantize(t.data, 0, back, 0, back.length);
      assert.deepEqual(Array.from(back), Array.from(p.fw), `${name} ${p.name}`);
    }
  }
});

/** ||a - b|| / ||b|| over every gradient */
function relErr(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let num = 0, den = 0;
  for (const [k, bv] of b) { const av = a.get(k)!; for (let i = 0; i < bv.length; i++) { num += (av[i]! - bv[i]!) ** 2; den += bv[i]! ** 2; } }
  return Math.sqrt(num / den);
}
/** bf16 keeps 8 significant bits (relative rounding 2^-9 = 0.2% per value): the gradients of a
 *  2-layer model drift from f32's by about 1% (relative L2); this bound is 3x that. */
const BF16_GRAD_RTOL = 3e-2, BF16_LOSS_RTOL = 5e-3;

for (const ops of backends) {
  test(`bf16 mixed precision (${ops.name}): gradients within ${BF16_GRAD_RTOL} (relative L2) of f32, and not equal to them`, () => {
    const f = grads(ops, {}), b = grads(ops, { bf16: true });
    const e = relErr(b.g, f.g);
    assert.ok(e < BF16_GRAD_RTOL, `relative gradient error ${e}`);
    assert.ok(e > 1e-4, `bf16 changed nothing (relative error ${e})`);
    assert.ok(Math.abs(b.loss - f.loss) <= BF16_LOSS_RTOL * f.loss, `loss ${b.loss} vs ${f.loss}`);
    const wq = b.m.forwardWeight(b.m.p('blk.1.ffn_up.weight'));
    assert.ok(Array.from(wq).every((v) => (new Uint32Array(Float32Array.of(v).buffer)[0]! & 0xffff) === 0), 'forward weights are bf16 values');
    assert.equal(b.m.p('blk.1.ffn_up.weight').data.some((v) => (new Uint32Array(Float32Array.of(v).buffer)[0]! & 0xffff) !== 0), true, 'master weights stay f32');
    // stored as bf16 bits: half an f32 copy per forward weight (plus one f32 scratch), and the kept matmul inputs
    const f32Copies = b.m.params.filter((p) => p.fw16).reduce((n, p) => n + p.data.byteLength, 0);
    assert.ok(b.m.forwardWeightBytes < 0.65 * f32Copies, `forward weights ${b.m.forwardWeightBytes} bytes vs ${f32Copies} as f32`);
    // per layer 4 f32 matmul inputs become 4 bf16 ones plus one f32 set shared by the layers: less from 3 layers on
    const deep = { ...SHAPE, nLayer: 4 };
    const a16 = new TrainDecoder(deep, ops, { bf16: true }).activationBytes, a32 = new TrainDecoder(deep, ops, {}).activationBytes;
    assert.ok(a16 < a32, `activations ${a16} vs ${a32} bytes`);
  });

  test(`gradient checkpointing (${ops.name}): recomputed activations give the same gradients bit for bit, in less memory`, () => {
    for (const o of [{}, { ternary: { group: 256 } }, { bf16: true }] as DecoderOptions[]) {
      const a = grads(ops, o), c = grads(ops, { ...o, checkpoint: true });
      assert.equal(c.loss, a.loss);
      for (const [name, g] of a.g) assert.deepEqual(Array.from(c.g.get(name)!), Array.from(g), `${JSON.stringify(o)} ${name}`);
      assert.ok(c.m.activationBytes < a.m.activationBytes * 0.75, `activations ${c.m.activationBytes} vs ${a.m.activationBytes} bytes`);
    }
  });
}

test('int8 activations (BitNet b1.58): per token absmax to [-127, 127], halves to even, zero tokens stay zero; the wasm kernel bit for bit', () => {
  const rng = new Xorshift128(21), T = 5, n = 37;
  const x = new Float32Array(T * n);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * (1 + (i % 7));
  x.fill(0, 2 * n, 3 * n); // an all-zero token
  x[4 * n] = 127; x[4 * n + 1] = 2.5; x[4 * n + 2] = -2.5; x[4 * n + 3] = 3.5; // amax 127: the scale is 1, and exact halves
  const q = x.slice();
  op.quantAct8(q, T, n);
  for (let t = 0; t < T; t++) {
    let amax = 0;
    for (let i = 0; i < n; i++) amax = Math.max(amax, Math.abs(x[t * n + i]!));
    for (let i = 0; i < n; i++) {
      const k = amax ? Math.round(q[t * n + i]! * 127 / amax) : 0;
      assert.ok(Math.abs(k) <= 127 && Math.abs(q[t * n + i]! - Math.fround(k * amax / 127)) <= 1e-6 * amax, `token ${t}, ${i}: ${q[t * n + i]} is not an int8 step of ${amax}/127`);
      assert.ok(Math.abs(q[t * n + i]! - x[t * n + i]!) <= amax / 254 * (1 + 1e-6), `token ${t}, ${i}: rounded more than half a step`);
    }
  }
  assert.ok(q.subarray(2 * n, 3 * n).every((v) => v === 0), 'a zero token stays zero');
  assert.deepEqual(Array.from(q.subarray(4 * n, 4 * n + 4)), [127, 2, -2, 4], 'halves round to even');
  if (wasm) {
    const w = wasm.alloc(x.length);
    w.set(x);
    wasm.quantAct8(w, T, n);
    assert.deepEqual(Array.from(w), Array.from(q), 'wasm = twin');
  }
});

/**
 * The straight-through estimator's gradient is the gradient of the loss with each quantizer's
 * offset Q(x) - x frozen at its value for the current weights (x + const is smooth). This backend
 * records those offsets during one forward, then adds them instead of quantizing: finite
 * differences of that loss are what the act8 backward must give.
 */
function frozenAct8(): TrainOps & { freeze(): void } {
  const offsets: Float32Array[] = [];
  let frozen = false, k = 0;
  return {
    ...refOps,
    quantAct8(x: Float32Array, T: number, n: number): void {
      if (!frozen) {
        const before = x.slice(0, T * n);
        op.quantAct8(x, T, n);
        offsets.push(Float32Array.from(before, (v, i) => x[i]! - v));
        return;
      }
      const c = offsets[k++ % offsets.length]!;
      for (let i = 0; i < T * n; i++) x[i] += c[i]!;
    },
    freeze(): void { frozen = true; k = 0; },
  };
}

test('int8 activations: the backward is the straight-through estimator (finite differences of the loss with the quantizers frozen), and quantizing changes the gradients', () => {
  const shape: DecoderShape = { arch: 'llama', nVocab: 13, nEmbd: 16, nLayer: 2, nHead: 2, nHeadKv: 1, nFF: 24, nCtx: 6, ropeBase: 10000, eps: 1e-5, tieEmbeddings: false, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 8 };
  const tokens = [1, 5, 7, 2, 12, 5], targets = [5, 7, 2, 12, 5, 0];
  const EPS = 1e-2, FD_RTOL = 3e-2, FD_ATOL = 2e-3;
  const ops = frozenAct8();
  const m = new TrainDecoder(shape, ops, { act8: true });
  m.init(new Xorshift128(7), 0.3, false);
  m.zeroGrad();
  const loss = m.step(tokens, targets, 6, 1);
  ops.freeze();
  assert.ok(Math.abs(m.loss(tokens, targets, 6) - loss) < 1e-4 * loss, 'the frozen forward is the quantized one');
  let checked = 0;
  for (const p of m.params) {
    const rng = new Xorshift128(99);
    for (let j = 0; j < 3; j++) {
      const i = rng.int(p.data.length), old = p.data[i]!;
      p.data[i] = old + EPS; const fp = m.loss(tokens, targets, 6);
      p.data[i] = old - EPS; const fm = m.loss(tokens, targets, 6);
      p.data[i] = old;
      const num = (fp - fm) / (2 * EPS);
      assert.ok(Math.abs(num - p.grad[i]!) <= FD_ATOL + FD_RTOL * Math.abs(num), `${p.name}[${i}]: finite difference ${num}, backward ${p.grad[i]}`);
      checked++;
    }
  }
  assert.ok(checked >= 3 * 20);
  // the same weights without int8 activations: another loss and other gradients
  const f = new TrainDecoder(shape, refOps, {});
  for (const [k, p] of f.params.entries()) p.data.set(m.params[k]!.data);
  f.weightsChanged();
  f.zeroGrad();
  const fl = f.step(tokens, targets, 6, 1);
  assert.notEqual(fl, loss);
  assert.notDeepEqual(Array.from(f.p('blk.0.attn_q.weight').grad), Array.from(m.p('blk.0.attn_q.weight').grad));
});

for (const ops of backends) {
  test(`ternary QAT with int8 activations (${ops.name}): wasm and reference agree; the TQ2_0 export still holds exactly the forward's weights`, () => {
    const r = grads(refOps, { ternary: { group: 256 }, act8: true }), a = grads(ops, { ternary: { group: 256 }, act8: true });
    const f = grads(ops, { ternary: { group: 256 } });
    assert.ok(relErr(a.g, r.g) < 1e-3, `wasm vs reference: ${relErr(a.g, r.g)}`);
    assert.ok(relErr(a.g, f.g) > 1e-4, 'int8 activations changed the gradients');
    const g = parseGGUF(concatChunks(a.m.exportGGUF('t', [], 35, 37)), 'TQ2_0');
    for (const p of a.m.params.filter((p) => p.fw !== p.data)) {
      const back = new Float32Array(p.fw.length);
      quantFormat(35).dequantize(g.tensors.find((x) => x.name === p.name)!.data, 0, back, 0, back.length);
      assert.deepEqual(Array.from(back), Array.from(p.fw), p.name);
    }
  });
}
