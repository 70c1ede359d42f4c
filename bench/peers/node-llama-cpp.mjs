// One node-llama-cpp measurement in its own process: node node-llama-cpp.mjs MODEL THREADS P N
// Prints one JSON line {pp_tps, tg_tps, ...}. Timing, wall clock around the
// binding's own calls (so it includes the binding's per-token overhead, which
// is what a Node user pays):
//   pp: evaluateWithoutGeneratingNewTokens(P random tokens) on an empty sequence.
//   tg: clear the sequence, then sequence.evaluate([one random token]) with
//       greedy sampling; time from the call to the N-th yielded token, i.e. N
//       single-token decode steps (as llama-bench's tgN, from depth 0).
// One untimed warm-up (8-token prompt, 2 decode steps) runs first, as llama-bench's.
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [model, threadsArg, pArg, nArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const nPrompt = Number(pArg);
const nGen = Number(nArg);

const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, maxThreads: threads });
const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
const ctx = await m.createContext({ contextSize: nPrompt + nGen + 16, batchSize: nPrompt, threads, sequences: 1 });
const seq = ctx.getSequence();

let seed = 42;
const randomTokens = (n) =>
  Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return 1000 + (seed % 100000);
  });

async function decode(steps) {
  let got = 0;
  const t0 = performance.now();
  for await (const _ of seq.evaluate(randomTokens(1), { temperature: 0 })) {
    if (++got >= steps) break;
  }
  return performance.now() - t0;
}

await seq.evaluateWithoutGeneratingNewTokens(randomTokens(8));
await seq.clearHistory();
await decode(2);
await seq.clearHistory();

let t0 = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(randomTokens(nPrompt));
const ppMs = performance.now() - t0;
await seq.clearHistory();
const tgMs = await decode(nGen);

console.log(JSON.stringify({ pp_tps: (nPrompt * 1000) / ppMs, tg_tps: (nGen * 1000) / tgMs, threads, build: llama.buildType, gpu: llama.gpu }));
await ctx.dispose();
await m.dispose();
await llama.dispose();
