// Activation memory of one training sequence with and without gradient checkpointing (and the
// process's resident size after building the decoder), for bench/train/step.mjs's configurations.
//   node bench/train/memory.mjs
import { TrainDecoder } from '../../dist/src/train/decoder.js';
import { refOps } from '../../dist/src/train/backend.js';
import { CONFIGS } from './step.mjs';

const MiB = (b) => (b / 2 ** 20).toFixed(2);
console.log('| config | params | activations, all layers kept (MiB) | with checkpointing (MiB) | ratio |\n| --- | ---: | ---: | ---: | ---: |');
for (const [name, c] of Object.entries(CONFIGS)) {
  const { batch, ...dims } = c;
  const shape = { arch: 'llama', ropeBase: 10000, eps: 1e-5, tieEmbeddings: true, scaleEmb: 12, scaleDepth: 1.4, dimModelBase: 256, ...dims };
  const a = new TrainDecoder(shape, refOps), b = new TrainDecoder(shape, refOps, { checkpoint: true });
  console.log(`| ${name} (${c.nEmbd} wide, ${c.nLayer} layers, ctx ${c.nCtx}) | ${a.nParams.toLocaleString('en-US')} | ${MiB(a.activationBytes)} | ${MiB(b.activationBytes)} | ${(b.activationBytes / a.activationBytes).toFixed(3)} |`);
}
