// Tokens per second of one training step (forward + backward + clip + AdamW) of lutra's decoder,
// on the TypeScript reference and the wasm kernels at 1 and 2 threads, for the bundled model's
// configuration and a ~5M-parameter one. Medians of wall and process CPU time per step (the machine
// is shared: CPU time is the steadier number at 1 thread; at 2 threads it sums both threads).
//   node bench/train/step.mjs [--steps N] [--only bundled|first|5m] [--kernels ref,wasm1,wasm2] [--options bf16,checkpoint,ternary]
import { TrainDecoder } from '../../dist/src/train/decoder.js';
import { AdamW, clipGradNorm } from '../../dist/src/train/optim.js';
import { refOps } from '../../dist/src/train/backend.js';
import { WasmTrainOps } from '../../dist/src/train/wasm-ops.js';
import { Xorshift128 } from '../../dist/src/train/rng.js';

const arg = (k, d) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const STEPS = Number(arg('--steps', 6));
const only = arg('--only', 'bundled,5m').split(',');
const kinds = arg('--kernels', 'ref,wasm1,wasm2').split(',');
// training options (DecoderOptions): any of bf16, checkpoint, ternary (per-tensor scale, so any width), act8 (ternary with int8 activations)
const optNames = arg('--options', '').split(',').filter(Boolean);
export const OPTIONS = { bf16: { bf16: true }, checkpoint: { checkpoint: true }, ternary: { ternary: { group: 0 } }, act8: { ternary: { group: 0 }, act8: true } };
const options = Object.assign({}, ...optNames.map((k) => { if (!OPTIONS[k]) throw new Error(`--options: unknown ${k} (bf16, checkpoint, ternary, act8)`); return OPTIONS[k]; }));

/**
 * models/lutra-default.json (the distilled 984K model, batch 16), the first bundled model (279K,
 * 8d12ead, now models/lutra-spec-draft.gguf) and a ~5M-parameter llama on the same vocabulary and context
 */
export const CONFIGS = {
  bundled: { nVocab: 1024, nEmbd: 128, nLayer: 4, nHead: 4, nHeadKv: 4, nFF: 384, nCtx: 128, batch: 16 },
  first: { nVocab: 1024, nEmbd: 64, nLayer: 4, nHead: 2, nHeadKv: 2, nFF: 192, nCtx: 128, batch: 8 },
  '5m': { nVocab: 1024, nEmbd: 256, nLayer: 6, nHead: 4, nHeadKv: 4, nFF: 704, nCtx: 128, batch: 8 },
};

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };

async function bench(name, kind) {
  const c = CONFIGS[name];
  const ops = kind === 'ref' ? refOps : await WasmTrainOps.create({ threads: kind === 'wasm2' ? 2 : 1 });
  const m = new TrainDecoder({ arch: 'llama', ropeBase: 10000, eps: 1e-5, tieEmbeddings: true, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 256, ...c }, ops, options);
  m.init(new Xorshift128(1), 0.02, false);
  const opt = new AdamW(m.params, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, lrMult: () => 1 }, ops);
  const rng = new Xorshift128(2), T = c.nCtx;
  const input = new Int32Array(T), target = new Int32Array(T);
  const walls = [], cpus = [];
  const steps = kind === 'ref' ? Math.min(STEPS, 3) : STEPS;
  for (let s = 0; s < steps + 1; s++) {
    const w0 = performance.now(), c0 = process.cpuUsage();
    m.zeroGrad();
    for (let b = 0; b < c.batch; b++) {
      for (let t = 0; t < T; t++) { input[t] = rng.int(c.nVocab); target[t] = rng.int(c.nVocab); }
      m.step(input, target, T, 1 / (T * c.batch));
    }
    clipGradNorm(m.params, 1, ops);
    opt.step(1e-3);
    m.weightsChanged();
    const cu = process.cpuUsage(c0);
    if (s > 0) { walls.push(performance.now() - w0); cpus.push((cu.user + cu.system) / 1000); }
  }
  ops.dispose();
  const tok = T * c.batch, wall = median(walls), cpu = median(cpus);
  return { config: name, params: m.nParams, kernels: ops.name, options: optNames.join('+') || 'f32', batch: c.batch, seq: T, steps, wallMs: +wall.toFixed(1), cpuMs: +cpu.toFixed(1), tokPerSecWall: Math.round(tok / wall * 1000), tokPerSecCpu: Math.round(tok / cpu * 1000) };
}

// run when executed, not when bench/train/memory.mjs imports CONFIGS
if (import.meta.url === `file://${process.argv[1]}`) for (const name of only) for (const kind of kinds) console.log(JSON.stringify(await bench(name, kind)));
