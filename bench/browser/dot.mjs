// How fast the engine runs WebAssembly's relaxed integer dot (i32x4.relaxed_dot_i8x16_i7x16_add_s),
// in Node and in headless Chromium, the same module in both: eight dots an iteration over operands
// loaded from a 4 KiB ring (so nothing is hoisted out of the loop), in three forms:
//   accum  each dot adds into its own accumulator (eight chains), as the tiles' long chains;
//   short  dots from zero in pairs, then added, as the decode kernels' dotLH;
//   i16acc i16x8.relaxed_dot_i8x16_i7x16_s (no accumulator), summed in i16, widened once per four.
// Prints G dots/s (one dot: 16 multiply-adds) per runtime and form, median of --rounds: whether
// the browser's engine runs the dot the kernels are built on as fast as Node's (V8 in Node 24 emits
// vpdpbusd on x86 with AVX-VNNI). On the Zen 5 VM, Chromium 156 and Node 24 measured the same
// (accum 5.5-6.0, short 6.6, i16acc 4.8-4.9), but a first round can run before the engine's
// optimizing tier is in: take the median.
// Needs Debian's chromium. Usage: node bench/browser/dot.mjs [--rounds 3] [--chromium PATH]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: opt } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, chromium: { type: 'string', default: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' } } });
const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const FORMS = ['accum', 'short', 'i16acc'];
const source = `
@inline function at(p: usize, i: i32): usize { return p + (<usize>(i & 63) << 6); }
export function accum(n: i32, p: usize): i32 {
  let a0 = i32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (let i = 0; i < n; i++) {
    const q = at(p, i), x0 = v128.load(q), x1 = v128.load(q, 16), w0 = v128.load(q, 32), w1 = v128.load(q, 48);
    a0 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, w0, a0); a1 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, w0, a1);
    a2 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, w1, a2); a3 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, w1, a3);
    a4 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, w1, a4); a5 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, w0, a5);
    a6 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, x1, a6); a7 = i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, x0, a7);
  }
  return i32x4.extract_lane(i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7))), 0);
}
export function short(n: i32, p: usize): i32 {
  let a0 = i32x4.splat(0), a1 = a0;
  const z = i32x4.splat(0);
  for (let i = 0; i < n; i++) {
    const q = at(p, i), x0 = v128.load(q), x1 = v128.load(q, 16), w0 = v128.load(q, 32), w1 = v128.load(q, 48);
    a0 = i32x4.add(a0, i32x4.add(i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, w0, i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, w0, z)), i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, w1, i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, w1, z))));
    a1 = i32x4.add(a1, i32x4.add(i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, w0, i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, w1, z)), i32x4.relaxed_dot_i8x16_i7x16_add_s(x1, x0, i32x4.relaxed_dot_i8x16_i7x16_add_s(x0, x1, z))));
  }
  return i32x4.extract_lane(i32x4.add(a0, a1), 0);
}
export function i16acc(n: i32, p: usize): i32 {
  let a0 = i32x4.splat(0), a1 = a0;
  for (let i = 0; i < n; i++) {
    const q = at(p, i), x0 = v128.load(q), x1 = v128.load(q, 16), w0 = v128.load(q, 32), w1 = v128.load(q, 48);
    const s = i16x8.add(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, w0), i16x8.relaxed_dot_i8x16_i7x16_s(x1, w0)), i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, w1), i16x8.relaxed_dot_i8x16_i7x16_s(x1, w1)));
    const t = i16x8.add(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(w0, w1), i16x8.relaxed_dot_i8x16_i7x16_s(w1, w0)), i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(x0, x1), i16x8.relaxed_dot_i8x16_i7x16_s(x1, x0)));
    a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_s(s)); a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_s(t));
  }
  return i32x4.extract_lane(i32x4.add(a0, a1), 0);
}`;
const tmp = mkdtempSync(join(tmpdir(), 'lutra-dot-'));
writeFileSync(join(tmp, 'dot.ts'), source);
execFileSync(process.execPath, [join(repo, 'node_modules/assemblyscript/bin/asc.js'), join(tmp, 'dot.ts'), '-o', join(tmp, 'dot.wasm'), '-O3', '--runtime', 'stub', '--enable', 'simd', '--enable', 'relaxed-simd', '--importMemory', '--initialMemory', '1'], { stdio: 'inherit' });
const b64 = readFileSync(join(tmp, 'dot.wasm')).toString('base64');
rmSync(tmp, { recursive: true, force: true });

// The measurement as source text, so Node and the page run the same function. Each form is called
// many times first and after a pause, so the engine's optimizing tier has replaced the baseline code.
const measure = `async ([b64, forms]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const memory = new WebAssembly.Memory({ initial: 1 });
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  const u8 = new Uint8Array(memory.buffer);
  for (let i = 0; i < 4096; i++) u8[i] = (i * 37) & 63;
  const out = {};
  for (const f of forms) {
    for (let i = 0; i < 200; i++) instance.exports[f](20000, 0);
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 50; i++) instance.exports[f](20000, 0);
    const n = 2e7, t = performance.now();
    instance.exports[f](n, 0);
    out[f] = (8 * n) / (performance.now() - t) / 1e6;
  }
  return out;
}`;
const run = (0, eval)(measure);

if (!existsSync(opt.chromium)) throw new Error(`no chromium at ${opt.chromium} (apt-get install -y chromium, or --chromium PATH)`);
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: opt.chromium, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage();
const rows = { node: [], chromium: [] };
for (let r = 0; r < Number(opt.rounds); r++) {
  rows.node.push(await run([b64, FORMS]));
  rows.chromium.push(await page.evaluate(`(${measure})(${JSON.stringify([b64, FORMS])})`));
}
const version = browser.version();
await browser.close();
const median = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(' ').filter((f) => /^(avx2|avx512f|avx512_vnni|avx_vnni|avx_vnni_int8|f16c)$/.test(f));
console.log(`# relaxed dot, G dots/s (16 multiply-adds each), median of ${opt.rounds} rounds; ${cpus()[0].model}; ${flags.join(' ')}; Node ${process.version}; Chromium ${version}`);
console.log(`| runtime | ${FORMS.join(' | ')} |\n|---|${FORMS.map(() => '---:').join('|')}|`);
for (const [who, rs] of Object.entries(rows)) console.log(`| ${who} | ${FORMS.map((f) => median(rs.map((x) => x[f])).toFixed(2)).join(' | ')} |`);
