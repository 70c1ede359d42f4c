// The thread pool's cost per barrier: empty jobs (OP_NOP) through WasmKernels' pool, workers
// spinning between jobs (the default) or sleeping on Atomics.wait at once (spin 0), back to back
// and after a gap of serial work on the calling thread (a decode step's norms, RoPE and attention
// between two products), which is where a sleeping worker's wake-up shows.
//   node bench/kernels/pool.mjs [--threads 2] [--jobs 2000] [--rounds 7] [--gaps 0,20,100] [--spins 20000,2000,0] [--json]
import { WasmKernels } from '../../dist/src/kernels/wasm/index.js';
import { WORKER_SPIN } from '../../dist/src/kernels/wasm/pool.js';
import { parseArgs } from 'node:util';
import os from 'node:os';

const { values: a } = parseArgs({ options: { threads: { type: 'string', default: '2' }, jobs: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '7' }, gaps: { type: 'string', default: '0,20,100' }, spins: { type: 'string', default: `${WORKER_SPIN},2000,0` }, json: { type: 'boolean', default: false } } });
const threads = Number(a.threads), jobs = Number(a.jobs), rounds = Number(a.rounds);
const gaps = a.gaps.split(',').map(Number);

const k = await WasmKernels.create({ threads });
if (k.pool.size !== threads - 1) throw new Error(`asked for ${threads} threads, the pool has ${k.pool.size + 1}`);
const busy = (us) => { const end = performance.now() + us / 1000; while (performance.now() < end); };
const median = (v) => [...v].sort((x, y) => x - y)[v.length >> 1];

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
