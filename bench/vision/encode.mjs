// One 448x448 slice through a SigLIP-400M-shaped random encoder (lutra synth --preset siglip-400m:
// MiniCPM-V 4.0's encoder and resampler), lutra vs llama.cpp's mtmd (test/golden/vision/mtmd-dump.cpp
// built against ../llama.cpp), F16 and Q8_0 matrices, 1 and 2 threads. Prints a markdown table.
//   node bench/vision/encode.mjs [--types F16,Q8_0] [--threads 1,2] [--runs 2] [--mtmd PATH]
// Wall and CPU time per encode; the median of --runs after one warm-up (lutra) / as mtmd-dump prints
// (its CPU time: the child's total over its encodes and loading, per encode). Ratios > 1: lutra faster.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKernels } from '../../dist/src/kernels/index.js';
import { loadProjector } from '../../dist/src/runtime/vision.js';
import { synthesizeVision } from '../../dist/src/tools/synth-vision.js';
import { slicePattern } from '../../dist/test/vision-models.js';

const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const types = arg('--types', 'F16,Q8_0').split(',');
const threadList = arg('--threads', '1,2').split(',').map(Number);
const runs = Number(arg('--runs', '2'));
const mtmd = arg('--mtmd', '');
const dir = mkdtempSync(join(tmpdir(), 'lutra-vbench-'));
const S = 448;
const slice = slicePattern(S, S);
writeFileSync(join(dir, 'slice.f32'), new Uint8Array(slice.buffer));
/** CPU ms of the children this process has waited for (/proc/self/stat cutime + cstime; Linux). */
function childCpuMs() {
  try {
    const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(f[13]) + Number(f[14])) * 10;
  } catch { return NaN; }
}
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor((s.length - 1) / 2)]; };
const rows = [];
for (const type of types) {
  const file = join(dir, `siglip-400m-${type}.gguf`);
  await synthesizeVision('siglip-400m', type, { mmproj: file });
  for (const threads of threadList) {
    const { kernels, note } = await createKernels({ backend: 'wasm', threads });
    const p = await loadProjector(file, { kernels });
    const wall = [], cpu = [];
    for (let r = 0; r <= runs; r++) {
      const c0 = process.cpuUsage(), t0 = performance.now();
      p.encode({ data: slice, width: S, height: S });
      const t = performance.now() - t0, c = process.cpuUsage(c0);
      if (r > 0) { wall.push(t); cpu.push((c.user + c.system) / 1000); }
      process.stderr.write(`lutra ${type} x${threads} run ${r}: ${t.toFixed(0)} ms wall\n`);
    }
    p.dispose(); kernels.dispose?.();
    let ref = NaN, refCpu = NaN;
    if (mtmd && existsSync(mtmd)) {
      const c0 = childCpuMs();
      const out = execFileSync(mtmd, ['encode', file, join(dir, 'slice.f32'), String(S), String(S), join(dir, 'out.f32'), String(threads), String(runs + 1)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      // The child's CPU time over all its encodes and its loading: an upper bound per encode.
      refCpu = (childCpuMs() - c0) / (runs + 1);
      const ms = [...out.matchAll(/: ([\d.]+) ms/g)].map((m) => Number(m[1])).slice(1);
      ref = median(ms);
      process.stderr.write(`mtmd ${type} x${threads}: ${ms.join(', ')} ms wall, ${refCpu.toFixed(0)} ms CPU per encode (with loading)\n`);
    }
    rows.push({ type, threads, wall: median(wall), cpu: median(cpu), ref, refCpu, note, load: loadavg()[0] });
  }
}
const na = (v, f) => (Number.isNaN(v) ? '-' : f(v));
console.log('| matrices | threads | lutra wall ms | lutra CPU ms | mtmd wall ms | mtmd CPU ms (incl. load) | speed by wall | speed by CPU | load avg |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.type} | ${r.threads} | ${r.wall.toFixed(0)} | ${r.cpu.toFixed(0)} | ${na(r.ref, (v) => v.toFixed(0))} | ${na(r.refCpu, (v) => v.toFixed(0))} | ${na(r.ref, (v) => (v / r.wall).toFixed(2) + 'x')} | ${na(r.refCpu, (v) => (v / r.cpu).toFixed(2) + 'x')} | ${r.load.toFixed(1)} |`);
}
console.log(`\n${rows[0]?.note}`);
