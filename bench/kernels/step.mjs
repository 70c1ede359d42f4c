// A whole-model step, decode (1 token) and small batches (2, 4, 8 tokens in one decode call), for
// several kernel choices side by side: each model loaded once, rounds visiting every (choice, batch)
// in turn so machine drift hits all alike, medians of wall time and of the process's CPU time (on a
// machine shared with other work, CPU time is the closer estimate of one free core; with threads > 1
// it sums every thread, so read wall time there). The ratio column is a batch's time over one
// decode step's: what speculative verification or a short chat turn costs against one token.
// --profile: after the rounds, one more pass per case through a wrapper that sums the process's
// CPU time per kernel op (1 thread: what each op costs a free core); --by-weight also per weight
// format and shape, with GMAC/s.
// --spin N: the pool's workers poll N times between jobs, then sleep (0: sleep at once), instead of
// the pool's measured choice (pool.ts), so that a profile at 2 threads is not mixed with its trials.
// --logits all: every token's logits (what verifying a speculative draft needs); default last, as llama-bench's ppN.
//   node bench/kernels/step.mjs MODEL [--kernels dequant,lut,auto] [--threads 1] [--batches 1,2,4,8] [--rounds 7] [--profile [--by-weight] [--wall]] [--logits last|all] [--spin N] [--json]
import { loadModel } from '../../dist/src/runtime/model.js';
import { parseArgs } from 'node:util';
import os from 'node:os';

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { kernels: { type: 'string', default: 'dequant,lut' }, threads: { type: 'string', default: '1' }, batches: { type: 'string', default: '1,2,4,8' }, rounds: { type: 'string', default: '7' }, json: { type: 'boolean', default: false }, profile: { type: 'boolean', default: false }, 'by-weight': { type: 'boolean', default: false }, wall: { type: 'boolean', default: false }, logits: { type: 'string', default: 'last' }, spin: { type: 'string' } } });
if (a.logits !== 'last' && a.logits !== 'all') throw new Error(`--logits must be last or all, got ${a.logits}`);
// Context.decode computes every token's logits only for an onLogits callback.
const opts = a.logits === 'all' ? { onLogits: () => {} } : { logits: 'last' };
const file = positionals[0];
if (!file) throw new Error('usage: node bench/kernels/step.mjs MODEL [--kernels dequant,lut] [--threads 1] [--batches 1,2,4,8] [--rounds 7]');
const batches = a.batches.split(',').map(Number), rounds = Number(a.rounds);
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];

const variants = [];
for (const kernels of a.kernels.split(',')) for (const threads of a.threads.split(',').map(Number)) {
  const model = await loadModel(file, { threads, kernels });
  if (a.spin !== undefined && model.kernels.pool) model.kernels.pool.workerSpin = Number(a.spin);
  const note = model.kernelNote.split('; ').slice(1).join('; ').replace(/^matmul: /, '');
  const ctx = model.createContext({ ctx: 4096, batch: Math.max(...batches) });
  variants.push({ kernels, threads, model, ctx, note, backend: model.kernels.name, pos: 0 });
}
let seed = 7;
const tok = (m) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % m.hparams.nVocab; };
function step(v, n) {
  const toks = new Int32Array(n);
  for (let i = 0; i < n; i++) toks[i] = tok(v.model);
  v.ctx.decode(toks, opts);
  v.pos += n;
}
// Warm-up: compile every path, fault in every page; a few positions of context.
for (const v of variants) { step(v, 8); for (const n of batches) step(v, n); }
const cases = variants.flatMap((v) => batches.map((n) => ({ v, n, wall: [], cpu: [] })));
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const reps = 3;
    const t0 = performance.now(), u0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) step(c.v, c.n);
    const u = process.cpuUsage(u0);
    c.wall.push((performance.now() - t0) / reps);
    c.cpu.push((u.user + u.system) / 1000 / reps);
  }
}
/**
 * The kernels with every op's CPU time summed into ms[op]; with --by-weight, matmul and matmulMany
 * also summed per weight format and shape into ms['FORMAT ROWSxCOLS'] (matmulMany's products one
 * by one through matmul: the same products, one job each) with their multiply-adds in macs[key].
 */
function profiled(k, ms, macs) {
  const p = Object.create(k);
  // --wall: wall time per op instead of the process's CPU time (with threads > 1, CPU time sums every thread, spinning included).
  const time = a.wall
    ? (key, f) => { const t0 = performance.now(); f(); ms[key] = (ms[key] ?? 0) + performance.now() - t0; }
    : (key, f) => { const u0 = process.cpuUsage(); f(); const u = process.cpuUsage(u0); ms[key] = (ms[key] ?? 0) + (u.user + u.system) / 1000; };
  for (const op of ['matmul', 'matmulMany', 'rmsNorm', 'rope', 'attention', 'swiglu', 'addScaled', 'embed']) {
    const f = k[op].bind(k);
    p[op] = (...args) => time(op, () => f(...args));
  }
  if (a['by-weight']) {
    const mm = k.matmul.bind(k);
    const one = (w, x, n, y) => { const key = `${w.format.name} ${w.rows}x${w.cols}`; macs[key] = (macs[key] ?? 0) + w.rows * w.cols * n; time(key, () => mm(w, x, n, y)); };
    p.matmul = one;
    p.matmulMany = (ws, x, n, ys) => ws.forEach((w, i) => one(w, x, n, ys[i]));
  }
  return p;
}
const profiles = [];
if (a.profile) {
  for (const c of cases) {
    const ms = {}, macs = {};
    const reps = 5;
    const ctx = c.v.model.createContext({ ctx: Math.max(512, 16 + reps * c.n), batch: c.n, kernels: profiled(c.v.model.kernels, ms, macs) });
    const toks = new Int32Array(c.n).fill(11);
    ctx.decode(new Int32Array(16).fill(7), { logits: 'last' });
    for (const k of Object.keys(ms)) delete ms[k];
    for (const k of Object.keys(macs)) delete macs[k];
    const u0 = process.cpuUsage(), t0 = performance.now();
    for (let i = 0; i < reps; i++) ctx.decode(toks, opts);
    const u = process.cpuUsage(u0), wall = performance.now() - t0;
    ctx.dispose();
    const total = (a.wall ? wall : (u.user + u.system) / 1000) / reps;
    profiles.push({ kernels: c.v.kernels, threads: c.v.threads, tokens: c.n, totalMs: total, ms: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, v / reps]).sort((x, y) => y[1] - x[1])), gmacs: Object.fromEntries(Object.entries(macs).map(([k, m]) => [k, m / ms[k] / 1e6])) });
  }
}
const rows = cases.map((c) => {
  const one = cases.find((d) => d.v === c.v && d.n === 1);
  return { kernels: c.v.kernels, threads: c.v.threads, backend: c.v.backend, note: c.v.note, tokens: c.n, wallMs: median(c.wall), cpuMs: median(c.cpu), ratioWall: one ? median(c.wall) / median(one.wall) : null, ratioCpu: one ? median(c.cpu) / median(one.cpu) : null, lastPos: c.v.pos };
});
for (const v of variants) { v.ctx.dispose(); v.model.dispose(); }
const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
if (a.json) console.log(JSON.stringify({ file, node: process.version, cpu: os.cpus()[0]?.model, load, rounds, rows, profiles }, null, 2));
else {
  console.log(`${file}: whole-model steps (logits ${a.logits}), median of ${rounds} interleaved rounds of 3 calls; ${os.cpus()[0]?.model}, Node ${process.version}, load ${load} on ${os.cpus().length} cores`);
  console.log('| kernels | threads | tokens per call | wall ms | CPU ms | x one step (wall) | x one step (CPU) | tokens/s (wall) |\n|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.kernels} (${r.note}) | ${r.threads} | ${r.tokens} | ${r.wallMs.toFixed(2)} | ${r.cpuMs.toFixed(2)} | ${r.ratioWall?.toFixed(2) ?? '-'} | ${r.ratioCpu?.toFixed(2) ?? '-'} | ${(r.tokens / r.wallMs * 1000).toFixed(2)} |`);
  for (const p of profiles) console.log(`\n${a.wall ? 'wall' : 'CPU'} ms per call, ${p.threads} thread(s), ${p.kernels}, ${p.tokens} token(s): total ${p.totalMs.toFixed(2)}; ${Object.entries(p.ms).map(([k, v]) => `${k} ${v.toFixed(2)}${p.gmacs[k] ? ` (${p.gmacs[k].toFixed(1)} GMAC/s)` : ''}`).join(', ')}`);
}
