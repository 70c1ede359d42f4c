// Training memory of bench/train/step.mjs's configurations: activations of one sequence with and
// without gradient checkpointing, and what --bf16 keeps. bf16 before (its first version, numerics
// only) = an f32 copy of every non-norm weight beside the masters and f32 activations; bf16 now =
// the forward weights as bf16 bits plus one f32 scratch of the largest matrix, and the kept matmul
// inputs (attention and FFN inputs of every layer) as bf16 bits plus one f32 set.
//   node bench/train/memory.mjs
import { TrainDecoder } from '../../dist/src/train/decoder.js';
import { refOps } from '../../dist/src/train/backend.js';
import { CONFIGS } from './step.mjs';

const MiB = (b) => (b / 2 ** 20).toFixed(2);
console.log('| config | params | activations (MiB) | with checkpointing (MiB) | ratio | bf16 before: weight copies + activations (MiB) | bf16 now (MiB) | bf16 saved |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [name, c] of Object.entries(CONFIGS)) {
  const { batch, ...dims } = c;
  const shape = { arch: 'llama', ropeBase: 10000, eps: 1e-5, tieEmbeddings: true, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 256, ...dims };
  const a = new TrainDecoder(shape, refOps), b = new TrainDecoder(shape, refOps, { checkpoint: true }), h = new TrainDecoder(shape, refOps, { bf16: true });
  const before = h.params.filter((p) => p.fw16).reduce((n, p) => n + p.data.byteLength, 0) + a.activationBytes;
  const now = h.forwardWeightBytes + h.activationBytes;
  console.log(`| ${name} (${c.nEmbd} wide, ${c.nLayer} layers, ctx ${c.nCtx}) | ${a.nParams.toLocaleString('en-US')} | ${MiB(a.activationBytes)} | ${MiB(b.activationBytes)} | ${(b.activationBytes / a.activationBytes).toFixed(3)} | ${MiB(before)} | ${MiB(now)} | ${MiB(before - now)} (${(100 * (1 - now / before)).toFixed(0)}%) |`);
}
