// A/B of a whole prefill call for two builds in one process: two copies of dist/ (each a folder
// holding dist/), one model loaded from each, one decode of N tokens (logits of the last) per build
// per round, rounds interleaved; medians of the process's CPU time (1 thread), for a machine shared
// with other work.
//   node bench/kernels/ab-step.mjs DIR_A DIR_B MODEL N ROUNDS
//   e.g. node bench/kernels/ab-step.mjs bm/base bm/new bm/q05-q4km.gguf 64 5
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const [A, B, file, nS, roundsS] = process.argv.slice(2);
const n = Number(nS), rounds = Number(roundsS);
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
const vs = [];
for (const d of [A, B]) {
  const { loadModel } = await import(pathToFileURL(resolve(d, 'dist/src/runtime/model.js')).href);
  const model = await loadModel(file, { threads: 1, kernels: 'auto' });
  vs.push({ d, model, cpu: [] });
}
const toks = new Int32Array(n); for (let i = 0; i < n; i++) toks[i] = (i * 7919 + 13) % 1000 + 100;
for (const v of vs) { const c = v.model.createContext({ ctx: n + 8, batch: n }); c.decode(toks, { logits: 'last' }); c.dispose(); }
for (let r = 0; r < rounds; r++) for (const v of vs) {
  const c = v.model.createContext({ ctx: n + 8, batch: n });
  const u0 = process.cpuUsage();
  c.decode(toks, { logits: 'last' });
  const u = process.cpuUsage(u0);
  v.cpu.push((u.user + u.system) / 1000);
  c.dispose();
}
const os = await import('node:os');
console.log(`${file} pp${n}, 1 thread, load ${os.loadavg()[0].toFixed(1)}`);
for (const v of vs) console.log(`${v.d}: CPU ms median ${median(v.cpu).toFixed(1)} (${v.cpu.map((x) => x.toFixed(0)).join(' ')}) = ${(n / median(v.cpu) * 1000).toFixed(2)} t/s by CPU`);
for (const v of vs) v.model.dispose();
