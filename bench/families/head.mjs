// CPU time of one decode step and of its output head alone (the logits product: the tied Q6_K
// token_embd of llama.cpp's ternary files, Gemma's 262k-row head), so the head's share of a token
// can be read on a loaded machine: process CPU time (user + sys) per call, medians over rounds,
// 1 thread by default (CPU time is then what one free core spends).
//   node bench/families/head.mjs MODEL... [--threads 1] [--rounds 5] [--reps 3]
import { loadModel } from '../../dist/src/runtime/model.js';
import { parseArgs } from 'node:util';
import os from 'node:os';

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: 'string', default: '1' }, rounds: { type: 'string', default: '5' }, reps: { type: 'string', default: '3' } } });
const threads = Number(a.threads), rounds = Number(a.rounds), reps = Number(a.reps);
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
console.log(`# ${new Date().toISOString()} ${os.cpus()[0]?.model}, Node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}, ${threads} thread(s)`);
console.log('| model | head | head rows x cols | step CPU ms | head CPU ms | head share | kernels |');
console.log('|---|---|---|---:|---:|---:|---|');
for (const file of positionals) {
  const model = await loadModel(file, { threads });
  const w = model.weights.head.output;
  const ctx = model.createContext({ ctx: 512, batch: 8 });
  const k = model.kernels;
  const x = k.allocF32 ? k.allocF32(w.cols) : new Float32Array(w.cols);
  const y = k.allocF32 ? k.allocF32(w.rows) : new Float32Array(w.rows);
  for (let i = 0; i < w.cols; i++) x[i] = Math.sin(i * 0.37);
  let tok = 7;
  const step = () => { tok = (tok * 1103515245 + 12345) >>> 0; ctx.decode(Int32Array.of(tok % model.hparams.nVocab), { logits: 'last' }); };
  for (let i = 0; i < 4; i++) { step(); k.matmul(w, x, 1, y); }
  const steps = [], heads = [];
  for (let r = 0; r < rounds; r++) {
    let t = cpuMs();
    for (let i = 0; i < reps; i++) step();
    steps.push((cpuMs() - t) / reps);
    t = cpuMs();
    for (let i = 0; i < reps; i++) k.matmul(w, x, 1, y);
    heads.push((cpuMs() - t) / reps);
  }
  const s = median(steps), h = median(heads);
  const note = model.kernelNote.split('; ').slice(1).join('; ').replace(/^matmul: /, '');
  console.log(`| ${file.split('/').pop()} | ${w.format.name} | ${w.rows} x ${w.cols} | ${s.toFixed(1)} | ${h.toFixed(1)} | ${(100 * h / s).toFixed(0)}% | ${note} |`);
  model.dispose();
}
