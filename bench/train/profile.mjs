// Where a training step's time goes: every TrainOps method wrapped to add up its process CPU time
// (and calls), the rest of the step (the decoder's JavaScript: fills, copies, weight sync) as
// "outside ops". One thread is the meaningful setting (process CPU time sums threads).
//   node bench/train/profile.mjs [--config bundled|5m] [--kernels ref|wasm1|wasm2] [--steps N] [--options bf16,checkpoint,ternary,act8]
import { TrainDecoder } from '../../dist/src/train/decoder.js';
import { AdamW, clipGradNorm } from '../../dist/src/train/optim.js';
import { refOps } from '../../dist/src/train/backend.js';
import { WasmTrainOps } from '../../dist/src/train/wasm-ops.js';
import { Xorshift128 } from '../../dist/src/train/rng.js';
import { CONFIGS, OPTIONS } from './step.mjs';

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const name = arg('--config', 'bundled'), kind = arg('--kernels', 'wasm1'), STEPS = Number(arg('--steps', 8));
const options = Object.assign({}, ...arg('--options', '').split(',').filter(Boolean).map((k) => OPTIONS[k]));
const c = CONFIGS[name];
const base = kind === 'ref' ? refOps : await WasmTrainOps.create({ threads: kind === 'wasm2' ? 2 : 1 });
const us = new Map(), calls = new Map();
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const skip = new Set(['name', 'alloc', 'allocI32', 'dispose']);
const ops = new Proxy(base, {
  get(t, k) {
    const v = Reflect.get(t, k);
    if (typeof v !== 'function' || skip.has(k)) return typeof v === 'function' ? v.bind(t) : v;
    return (...a) => { const c0 = cpu(); const r = v.apply(t, a); us.set(k, (us.get(k) ?? 0) + cpu() - c0); calls.set(k, (calls.get(k) ?? 0) + 1); return r; };
  },
});
const m = new TrainDecoder({ arch: 'llama', ropeBase: 10000, eps: 1e-5, tieEmbeddings: true, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 256, ...c }, ops, options);
m.init(new Xorshift128(1), 0.02, false);
const opt = new AdamW(m.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, lrMult: () => 1 }, ops);
const rng = new Xorshift128(2), T = c.nCtx;
const input = new Int32Array(T), target = new Int32Array(T);
let total = 0;
for (let s = 0; s < STEPS + 1; s++) {
  if (s === 1) { us.clear(); calls.clear(); }
  const c0 = cpu();
  m.zeroGrad();
  const seqs = [];
  for (let b = 0; b < c.batch; b++) {
    const i = new Int32Array(T), t = new Int32Array(T);
    for (let j = 0; j < T; j++) { i[j] = rng.int(c.nVocab); t[j] = rng.int(c.nVocab); }
    seqs.push([i, t]);
  }
  if (m.stepBatch) m.stepBatch(seqs.map((x) => x[0]), seqs.map((x) => x[1]), T, 1 / (T * c.batch));
  else for (const [i, t] of seqs) m.step(i, t, T, 1 / (T * c.batch));
  clipGradNorm(m.params, 1, ops);
  opt.step(1e-3);
  m.weightsChanged();
  if (s > 0) total += cpu() - c0;
}
base.dispose();
const inOps = [...us.values()].reduce((a, b) => a + b, 0);
const rows = [...us.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, v, calls.get(k)]);
rows.push(['(outside ops)', total - inOps, 0]);
console.log(`${name} ${base.name} ${Object.keys(options).join('+') || 'f32'}: ${(total / STEPS / 1000).toFixed(1)} CPU ms/step, ${Math.round(T * c.batch / (total / STEPS / 1e6))} tok/s`);
for (const [k, v, n] of rows) console.log(`${String(k).padEnd(20)} ${(v / STEPS / 1000).toFixed(2).padStart(8)} ms/step ${(100 * v / total).toFixed(1).padStart(5)}%  ${n ? (n / STEPS) + ' calls/step' : ''}`);
