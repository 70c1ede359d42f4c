// Smoke run of the built library (dist/) under whichever JavaScript runtime runs this file (Node,
// Deno, Bun): load stories260K, generate greedily, print one JSON line with the runtime, the kernel
// build it picked, the text and tokens/s. test/runtimes.test.ts compares the text across runtimes.
// Usage: RUNTIME scripts/runtime-smoke.mjs MODEL.gguf [N_TOKENS] [THREADS] [KERNELS: auto|lut|dequant]
import { loadModel } from '../dist/src/index.js';

const [file, n = '64', threads, kernels] = (globalThis.Deno ? Deno.args : process.argv.slice(2));
const runtime = globalThis.Deno ? `deno ${Deno.version.deno}` : globalThis.Bun ? `bun ${Bun.version}` : `node ${process.versions.node}`;
const model = await loadModel(file, { ...(threads ? { threads: Number(threads) } : {}), ...(kernels ? { kernels } : {}) });
let text = '';
let timings;
for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: Number(n) })) {
  if (c.done) timings = c.timings;
  else text += c.text;
}
console.log(JSON.stringify({ runtime, kernels: model.kernelNote, text, tokensPerSecond: timings.tokensPerSecond, generatedTokens: timings.generatedTokens }));
model.dispose();
