// Quantization methods on a synthesized llama with planted activation outliers (src/eval/outlier-model.ts:
// four residual channels 25x larger through the norm weights, a few amplified FFN channels), measured
// by KL divergence against the unquantized model on real text (stories260K's vocabulary):
// GPTQ and AWQ beat round-to-nearest at 3 and 4 bits, rotation beats it at 3 bits, and SmoothQuant
// beats plain W8A8 (int8 per-channel weights, int8 per-token activations). Also checks that every
// transform leaves the full-precision model's function unchanged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseGGUF } from '../src/formats/gguf.js';
import { outlierModel } from '../src/eval/outlier-model.js';
import { quantizeWithMethods, type Method } from '../src/ptq/pipeline.js';
import { kldEval } from '../src/eval/kld.js';
import { loadModel, type Model } from '../src/runtime/model.js';
import { tapKernels, calibrationWindows, collectStats } from '../src/ptq/calib.js';
import { activationQuantizer } from '../src/ptq/act-quant.js';
import { readF32Model, writeF32Model } from '../src/ptq/weights.js';
import { crossLayerEqualize, rotateResidual, smoothQuant, randomOrthogonal } from '../src/ptq/transforms.js';
import { DATA, STORIES_GGUF } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'lutra-methods-'));
const vocab = [...parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF).metadata].filter(([k]) => k.startsWith('tokenizer.'));
const basePath = join(dir, 'outliers.gguf');
writeFileSync(basePath, outlierModel({ vocab, nEmbd: 128, nFF: 256, nLayer: 2, outliers: [3, 77, 101] }));
const stories = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8');
const calibText = stories.slice(0, 30000), evalText = stories.slice(-30000);

let base: Model;
async function kldOf(type: string, methods: Method[], act?: string): Promise<number> {
  base ??= await loadModel(basePath, { backend: 'ref' });
  const out = join(dir, `${type}-${methods.join('+') || 'rtn'}.gguf`);
  await quantizeWithMethods(basePath, out, { type, methods, calibText, calibTokens: 1024, calibCtx: 128 });
  const q = await loadModel(out, { backend: 'ref' });
  try {
    const quantKernels = act ? tapKernels(q.kernels, { actQuant: activationQuantizer(act) }) : undefined;
    return (await kldEval(base, q, evalText, { ctx: 128, chunks: 6, quantKernels })).kld;
  } finally {
    q.dispose();
  }
}

test('transforms keep the full-precision function: rotation, equalization, smoothing', async () => {
  const Q = randomOrthogonal(12, 3);
  for (let i = 0; i < 12; i++) for (let j = 0; j < 12; j++) {
    let d = 0;
    for (let k = 0; k < 12; k++) d += Q[k * 12 + i]! * Q[k * 12 + j]!;
    assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-9, 'non-power-of-two rotation is orthogonal');
  }
  const prompt = [1, 40, 300, 12, 77, 250, 9];
  const logits = async (bytes: Uint8Array) => {
    const m = await loadModel(bytes, { backend: 'ref' });
    try { return m.createContext({ ctx: 16, kvType: 'f32' }).decode(prompt, { logits: 'last' })!.slice(); } finally { m.dispose(); }
  };
  const bytes = new Uint8Array(readFileSync(basePath));
  const ref = await logits(bytes);
  const model = await loadModel(bytes, { backend: 'ref' });
  const stats = collectStats(model, calibrationWindows(model, calibText, 64, 4));
  model.dispose();
  for (const [name, apply] of [
    ['rotation', (m: ReturnType<typeof readF32Model>) => rotateResidual(m, 5)],
    ['cross-layer equalization', (m: ReturnType<typeof readF32Model>) => crossLayerEqualize(m)],
    ['smoothquant', (m: ReturnType<typeof readF32Model>) => smoothQuant(m, stats)],
  ] as const) {
    const m = readF32Model(bytes);
    apply(m);
    const got = await logits(writeF32Model(m));
    let maxDiff = 0, maxAbs = 0;
    for (let i = 0; i < ref.length; i++) { maxDiff = Math.max(maxDiff, Math.abs(got[i]! - ref[i]!)); maxAbs = Math.max(maxAbs, Math.abs(ref[i]!)); }
    assert.ok(maxDiff <= 2e-3 * maxAbs, `${name}: logits moved by ${maxDiff} (max |logit| ${maxAbs})`);
  }
});

for (const type of ['int4-g32', 'int3-g32']) {
  test(`${type}: GPTQ and AWQ beat round-to-nearest in KLD`, async (t) => {
    const rtn = await kldOf(type, []);
    const gptq = await kldOf(type, ['gptq']);
    const awq = await kldOf(type, ['awq']);
    t.diagnostic(`${type} KLD: rtn ${rtn.toFixed(4)}, gptq ${gptq.toFixed(4)}, awq ${awq.toFixed(4)}`);
    assert.ok(gptq < rtn, `gptq ${gptq} vs rtn ${rtn}`);
    assert.ok(awq < rtn, `awq ${awq} vs rtn ${rtn}`);
    if (type === 'int3-g32') {
      const rot = await kldOf(type, ['rotate']);
      t.diagnostic(`${type} KLD: rotate ${rot.toFixed(4)}`);
      assert.ok(rot < rtn, `rotation ${rot} vs rtn ${rtn}`);
    }
  });
}

test('W8A8 (int8 per-channel weights, int8 per-token activations): SmoothQuant beats plain', async (t) => {
  const plain = await kldOf('int8-ch', [], 'int8');
  const smooth = await kldOf('int8-ch', ['smoothquant'], 'int8');
  t.diagnostic(`W8A8 KLD: plain ${plain.toFixed(4)}, smoothquant ${smooth.toFixed(4)}`);
  assert.ok(smooth < plain, `smoothquant ${smooth} vs plain ${plain}`);
});

test('bias correction: the quantized layer\'s mean output over the calibration inputs returns to the float one', async () => {
  const bytes = new Uint8Array(readFileSync(basePath));
  const model = await loadModel(bytes, { backend: 'ref' });
  const stats = collectStats(model, calibrationWindows(model, calibText, 64, 4));
  model.dispose();
  const m = readF32Model(bytes);
  const orig = new Map([...m.tensors].map(([k, v]) => [k, v.data.slice()]));
  const { biasCorrect, fakeQuant } = await import('../src/ptq/transforms.js');
  const { encodeLutraType, parseLutraSpec } = await import('../src/quant/lutra-types.js');
  const type = (row: number) => encodeLutraType(parseLutraSpec('int3-g32')!.resolve(row));
  const done = biasCorrect(m, stats, type);
  assert.equal(done.length, 4 * 2);
  for (const name of done) {
    const st = stats.get(name)!, t = m.tensors.get(name)!, cols = t.shape[0]!, rows = t.data.length / cols;
    const q = fakeQuant(type(cols), t), w = orig.get(name)!, b = m.tensors.get(name.replace('.weight', '.bias'))!.data;
    for (let r = 0; r < rows; r++) {
      let shift = 0, scale = 0;
      for (let j = 0; j < cols; j++) { const mx = st.sum[j]! / st.n; shift += (q[r * cols + j]! - w[r * cols + j]!) * mx; scale += Math.abs(w[r * cols + j]! * mx); }
      assert.ok(Math.abs(shift + b[r]!) <= 1e-4 * (scale + 1), `${name} row ${r}: mean shift ${shift} not cancelled by bias ${b[r]}`);
    }
  }
  const reloaded = await loadModel(writeF32Model(m), { backend: 'ref' });
  assert.ok(reloaded.createContext({ ctx: 8, kvType: 'f32' }).decode([1, 5, 9], { logits: 'last' })!.every(Number.isFinite), 'the added biases load');
  reloaded.dispose();
});
