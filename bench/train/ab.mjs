// One-process A/B of a training step between two builds (e.g. a commit before a kernel change and
// the working tree): each build's decoder, AdamW and wasm ops are imported from its own dist/, and
// their steps alternate, so both see the same machine load. Medians of process CPU time per step
// (1 thread, so CPU time is the step's own time).
//   node bench/train/ab.mjs --a ../before/dist --b dist [--config bundled|5m] [--rounds N] [--threads 1]
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONFIGS } from './step.mjs';

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const name = arg('--config', 'bundled'), ROUNDS = Number(arg('--rounds', 8)), threads = Number(arg('--threads', 1));
const c = CONFIGS[name];

async function setup(dist) {
  const url = (p) => pathToFileURL(resolve(dist, p)).href;
  const { TrainDecoder } = await import(url('src/train/decoder.js'));
  const { AdamW, clipGradNorm } = await import(url('src/train/optim.js'));
  const { WasmTrainOps } = await import(url('src/train/wasm-ops.js'));
  const { Xorshift128 } = await import(url('src/train/rng.js'));
  const ops = await WasmTrainOps.create({ threads });
  const m = new TrainDecoder({ arch: 'llama', ropeBase: 10000, eps: 1e-5, tieEmbeddings: true, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 256, ...c }, ops);
  m.init(new Xorshift128(1), 0.02, false);
  const opt = new AdamW(m.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, lrMult: () => 1 }, ops);
  const rng = new Xorshift128(2), T = c.nCtx, input = new Int32Array(T), target = new Int32Array(T);
  const step = () => {
    const c0 = process.cpuUsage();
    m.zeroGrad();
    let nll = 0;
    for (let b = 0; b < c.batch; b++) {
      for (let t = 0; t < T; t++) { input[t] = rng.int(c.nVocab); target[t] = rng.int(c.nVocab); }
      nll += m.step(input, target, T, 1 / (T * c.batch));
    }
    clipGradNorm(m.params, 1, ops);
    opt.step(1e-3);
    m.weightsChanged();
    const u = process.cpuUsage(c0);
    return { ms: (u.user + u.system) / 1000, loss: nll / (T * c.batch) };
  };
  return { step, ops, name: ops.name };
}

const A = await setup(arg('--a', '')), B = await setup(arg('--b', 'dist'));
const ta = [], tb = [];
for (let r = 0; r < ROUNDS + 1; r++) {
  const a = A.step(), b = B.step();
  if (r > 0) { ta.push(a.ms); tb.push(b.ms); }
  if (r === 0) console.error(`first step loss: A ${a.loss.toFixed(6)}, B ${b.loss.toFixed(6)}`);
}
A.ops.dispose(); B.ops.dispose();
const med = (x) => [...x].sort((p, q) => p - q)[x.length >> 1];
const tok = c.nCtx * c.batch;
console.log(JSON.stringify({ config: name, threads, rounds: ROUNDS, aCpuMs: +med(ta).toFixed(1), bCpuMs: +med(tb).toFixed(1), aTokPerSecCpu: Math.round(tok / med(ta) * 1000), bTokPerSecCpu: Math.round(tok / med(tb) * 1000), speedup: +(med(ta) / med(tb)).toFixed(2) }));
