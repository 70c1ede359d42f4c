// The thread pool's cost per barrier: empty jobs (OP_NOP) through WasmKernels' pool, workers
// spinning between jobs (the default) or sleeping on Atomics.wait at once (spin 0), back to back
// and after a gap of serial work on the calling thread (a decode step's norms, RoPE and attention
// between two products), which is where a sleeping worker's wake-up shows.
//   node bench/kernels/pool.mjs [--threads 2] [--jobs 2000] [--rounds 7] [--gaps 0,20,100] [--spins 20000,2000,0] [--json]
// --products: instead, how a decode product scales with how its rows are cut (protocol.ts SCHED):
// one token through a Q4_0 matrix (--shape) in cache and over --copies copies (past the caches, as
// a model's layers are), on one thread and on --threads threads with equal chunks and big chunks
// first, rounds interleaved; GMAC/s of the median round.
//   node bench/kernels/pool.mjs --products [--shape 4864x896] [--type Q4_0] [--copies 40] [--threads 2] [--rounds 15]
import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { WORKER_SPIN } from '../../dist/src/kernels/wasm/pool.js';
import { SCHED, BIG_FIRST } from '../../dist/src/kernels/wasm/protocol.js';
import { quantFormat, ggmlTypeByName } from '../../dist/src/quant/table.js';
import { weightBytes } from '../../dist/src/quant/types.js';
import { parseArgs } from 'node:util';
import os from 'node:os';

const { values: a } = parseArgs({ options: { threads: { type: 'string', default: '2' }, jobs: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '7' }, gaps: { type: 'string', default: '0,20,100' }, spins: { type: 'string', default: `${WORKER_SPIN},2000,0` }, json: { type: 'boolean', default: false },
  products: { type: 'boolean', default: false }, shape: { type: 'string', default: '4864x896' }, type: { type: 'string', default: 'Q4_0' }, copies: { type: 'string', default: '40' } } });
const threads = Number(a.threads), jobs = Number(a.jobs), rounds = Number(a.rounds);
const gaps = a.gaps.split(',').map(Number);
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];
if (a.products) {
  await products();
  process.exit(0);
}

const k = await WasmKernels.create({ threads });
if (k.pool.size !== threads - 1) throw new Error(`asked for ${threads} threads, the pool has ${k.pool.size + 1}`);
const busy = (us) => { const end = performance.now() + us / 1000; while (performance.now() < end); };

const cases = [];
for (const spin of a.spins.split(',').map(Number)) for (const gap of gaps) cases.push({ spin, gap, us: [] });
// Rounds visit every case in turn, so machine drift hits all alike; the figure is the median round.
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    k.pool.workerSpin = c.spin;
    for (let i = 0; i < 50; i++) k.pool.nop();
    const n = c.gap ? Math.max(50, Math.floor(jobs / 10)) : jobs;
    let t = 0;
    for (let i = 0; i < n; i++) {
      if (c.gap) busy(c.gap);
      const t0 = performance.now();
      k.pool.nop();
      t += performance.now() - t0;
    }
    c.us.push((t / n) * 1000);
  }
}
k.dispose();

const rows = cases.map((c) => ({ spin: c.spin, gapUs: c.gap, usPerBarrier: +median(c.us).toFixed(2), barriersPerS: Math.round(1e6 / median(c.us)) }));
if (a.json) {
  console.log(JSON.stringify({ threads, jobs, rounds, node: process.version, cpu: os.cpus()[0]?.model, load: os.loadavg(), rows }, null, 2));
} else {
  console.log(`pool barrier, ${threads} threads, ${k.name}, node ${process.version}, ${os.cpus()[0]?.model}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('| workers between jobs | serial gap before each job (us) | us per barrier | barriers/s |\n| --- | ---: | ---: | ---: |');
  for (const r of rows) console.log(`| ${r.spin ? `spin ${r.spin} polls, then Atomics.wait${r.spin === WORKER_SPIN ? ' (default)' : ''}` : 'Atomics.wait at once'} | ${r.gapUs} | ${r.usPerBarrier} | ${r.barriersPerS} |`);
}

async function products() {
  const [N, K] = a.shape.split('x').map(Number), fmt = quantFormat(ggmlTypeByName(a.type).id);
  const rowBytes = (K / fmt.blockSize) * fmt.typeSize;
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 16777216;
  const ks = [await WasmKernels.create({ threads: 1 }), await WasmKernels.create({ threads })];
  const cases = [];
  for (const copies of [1, Number(a.copies)]) {
    for (const kk of ks) {
      const ws = [];
      for (let c = 0; c < copies; c++) {
        const data = kk.allocBytes(N * rowBytes), f = new Float32Array(K);
        for (let r = 0; r < N; r++) { for (let i = 0; i < K; i++) f[i] = rnd() * 2 - 1; fmt.quantize(f, 0, data, r * rowBytes, K); }
        const w = { name: `${a.type} ${a.shape}`, format: fmt, rows: N, cols: K, rowBytes, ...weightBytes(data) };
        kk.prepareWeights([w]);
        ws.push(w);
      }
      const x = kk.allocF32(K), y = kk.allocF32(N);
      for (let i = 0; i < K; i++) x[i] = rnd() * 2 - 1;
      const scheds = kk.pool.size ? [['equal chunks', 0], ['big chunks first', BIG_FIRST]] : [['', 0]];
      for (const [how, sched] of scheds) {
        cases.push({ copies, threads: kk.pool.size + 1, how, macs: N * K * copies, t: [], run: () => { kk.pool.c[SCHED] = sched; for (const w of ws) kk.matmul(w, x, 1, y); } });
      }
    }
  }
  for (const c of cases) for (const t0 = performance.now(); performance.now() - t0 < 300;) c.run();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      const n = Math.max(1, Math.round(2e8 / c.macs)), t0 = performance.now();
      for (let i = 0; i < n; i++) c.run();
      c.t.push((performance.now() - t0) / n);
    }
  }
  for (const kk of ks) kk.dispose();
  console.log(`decode product ${a.type} ${a.shape}, ${ks[1].name}, node ${process.version}, ${os.cpus()[0]?.model}, median of ${rounds} interleaved rounds, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('| copies (MB) | threads | rows cut in | ms per pass | GMAC/s |\n| --- | ---: | --- | ---: | ---: |');
  for (const c of cases) console.log(`| ${c.copies} (${(c.copies * N * rowBytes / 1e6).toFixed(1)}) | ${c.threads} | ${c.how || '-'} | ${median(c.t).toFixed(4)} | ${(c.macs / median(c.t) / 1e6).toFixed(1)} |`);
}
