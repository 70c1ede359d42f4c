// A/B of a whole prefill call for two builds in one process: two copies of dist/ (each a folder
// holding dist/), one model loaded from each, one decode of N tokens per build per round, rounds
// interleaved; medians of the process's CPU time (with threads > 1 it sums every thread), for a
// machine shared with other work. N may be a list (1,4): every (build, N) is visited each round, and
// each N is also given as a multiple of the N = 1 call (a batch's cost in decode steps, what
// speculative verification pays). LOGITS: last (default; what llama-bench's ppN computes) or all
// (every token's logits, what verifying a draft needs).
//   node bench/kernels/ab-step.mjs DIR_A DIR_B MODEL N ROUNDS [LOGITS] [THREADS]
//   e.g. node bench/kernels/ab-step.mjs bm/base bm/new bm/q05-q4km.gguf 64 5
//        node bench/kernels/ab-step.mjs bm/base bm/new bm/q05-q4_0.gguf 1,4 9 all
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import os from 'node:os';
const [A, B, file, nS, roundsS, logits = 'last', threadsS = '1'] = process.argv.slice(2);
const ns = nS.split(',').map(Number), rounds = Number(roundsS), threads = Number(threadsS);
if (logits !== 'last' && logits !== 'all') throw new Error(`LOGITS must be last or all, got ${logits}`);
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
// Context.decode computes every token's logits only for an onLogits callback.
const opts = logits === 'all' ? { onLogits: () => {} } : { logits: 'last' };
const vs = [];
for (const d of [A, B]) {
  const { loadModel } = await import(pathToFileURL(resolve(d, 'dist/src/runtime/model.js')).href);
  const model = await loadModel(file, { threads, kernels: 'auto' });
  vs.push({ d, model, cpu: new Map(ns.map((n) => [n, []])), wall: new Map(ns.map((n) => [n, []])) });
}
const nMax = Math.max(...ns);
const toks = new Int32Array(nMax); for (let i = 0; i < nMax; i++) toks[i] = (i * 7919 + 13) % 1000 + 100;
const call = (v, n) => {
  const c = v.model.createContext({ ctx: n + 8, batch: n });
  const u0 = process.cpuUsage(), t0 = performance.now();
  c.decode(toks.subarray(0, n), opts);
  const t = performance.now() - t0, u = process.cpuUsage(u0);
  c.dispose();
  v.cpu.get(n).push((u.user + u.system) / 1000);
  v.wall.get(n).push(t);
};
for (const v of vs) for (const n of ns) { call(v, n); v.cpu.get(n).length = 0; v.wall.get(n).length = 0; }
for (let r = 0; r < rounds; r++) for (const n of ns) for (const v of vs) call(v, n);
console.log(`${file}, ${threads} thread(s), logits ${logits}, ${rounds} rounds, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
for (const n of ns) for (const v of vs) {
  const m = median(v.cpu.get(n)), one = v.cpu.has(1) && n !== 1 ? ` = ${(m / median(v.cpu.get(1))).toFixed(2)}x the 1-token call` : '';
  const w = median(v.wall.get(n)), oneW = v.wall.has(1) && n !== 1 ? ` (${(w / median(v.wall.get(1))).toFixed(2)}x)` : '';
  console.log(`${v.d} pp${n}: CPU ms median ${m.toFixed(1)} (${v.cpu.get(n).map((x) => x.toFixed(0)).join(' ')}) = ${(n / m * 1000).toFixed(2)} t/s by CPU${one}; wall ms ${w.toFixed(1)}${oneW}`);
}
for (const v of vs) v.model.dispose();
