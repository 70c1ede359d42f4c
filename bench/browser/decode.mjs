// Decode speed of the same GGUF file in Node and in headless Chromium (cross-origin isolated, so the
// page gets SharedArrayBuffer and the same worker pool), measured the same way in both: one context,
// a warm-up, then tgN single-token decodes with the last logits, rounds interleaved Node / page so
// machine drift hits both. Issue 13's browser target: the page at least 0.9x Node.
// Needs `npm run build` (dist/ and dist/src/web/static) and Debian's chromium.
// Usage: node bench/browser/decode.mjs MODEL.gguf [-n 32] [-r 3] [-t 2] [--chromium PATH] [--page-backends wasm,wasm-simd] [--warmup 16]
// --warmup: tokens decoded (one context) before the measured ones, in both runtimes.
// --page-backends: the page runs each of these backends in turn every round (default: wasm, the
// flavor lutra picks there), Node always runs wasm.
import { createServer } from 'node:http';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve, dirname, extname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'n-gen': { type: 'string', short: 'n', default: '32' },
    repetitions: { type: 'string', short: 'r', default: '3' },
    threads: { type: 'string', short: 't', default: '2' },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
    'page-backends': { type: 'string', default: 'wasm' },
    warmup: { type: 'string', default: '16' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help || positionals.length !== 1) {
  console.log('node bench/browser/decode.mjs MODEL.gguf [-n 32] [-r 3] [-t 2] [--chromium PATH] [--page-backends wasm,wasm-simd]');
  process.exit(opt.help ? 0 : 2);
}
const file = resolve(positionals[0]);
const n = Number(opt['n-gen']), reps = Number(opt.repetitions), threads = Number(opt.threads);
const pageBackends = opt['page-backends'].split(',');
const warmup = Number(opt.warmup);
if (!existsSync(join(repo, 'dist/src/web/static/lutra.js'))) throw new Error('dist/src/web/static/lutra.js missing: run npm run build first');
if (!existsSync(opt.chromium)) throw new Error(`no chromium at ${opt.chromium} (apt-get install -y chromium, or --chromium PATH)`);

/**
 * The measurement, as source text so Node and the page run the same function: load, warm up
 * (16 tokens: compiles paths, faults in pages), then `n` tokens one at a time; returns tokens/s.
 * Token ids are a fixed pseudo-random sequence (speed does not depend on them).
 */
const measure = async (lutra, source, n, threads, backend = 'wasm', warmup = 16) => {
  const model = await lutra.loadModel(source, { threads, backend });
  const vocab = model.hparams.nVocab;
  const toks = Int32Array.from({ length: Math.max(n, warmup) + 1 }, (_, i) => (i * 7919 + 17) % vocab);
  const once = (count) => {
    const ctx = model.createContext({ ctx: count + 8, batch: 8 });
    try {
      const t0 = performance.now();
      for (let i = 0; i < count; i++) ctx.decode(toks.subarray(i, i + 1), { logits: 'last' });
      return count / ((performance.now() - t0) / 1000);
    } finally { ctx.dispose(); }
  };
  once(warmup);
  const tps = once(n);
  const note = model.kernelNote;
  model.dispose();
  return { tps, note };
};

// The page and bundle, served with COOP/COEP (cross-origin isolation), and the model file.
const staticDir = join(repo, 'dist/src/web/static');
const types = { '.js': 'text/javascript', '.html': 'text/html', '.map': 'application/json' };
const server = createServer((req, res) => {
  const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
  const url = req.url ?? '/';
  if (url === '/') { res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end('<!doctype html><title>bench</title>'); return; }
  if (url === '/model.gguf') {
    res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
    return;
  }
  const p = join(staticDir, url.replace(/^\/web\//, ''));
  if (!p.startsWith(staticDir) || !existsSync(p)) { res.writeHead(404, headers).end(); return; }
  res.writeHead(200, { ...headers, 'content-type': types[extname(p)] ?? 'application/octet-stream' }).end(readFileSync(p));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${server.address().port}`;

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: opt.chromium, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-timer-throttling'] });
const page = await browser.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
await page.goto(`${origin}/`);
if (!(await page.evaluate(() => globalThis.crossOriginIsolated))) throw new Error('the page is not cross-origin isolated: no SharedArrayBuffer, threads would fall back to one');
const lutraNode = await import(join(repo, 'dist/src/index.js'));

const runNode = () => measure(lutraNode, file, n, threads, 'wasm', warmup);
const runPage = (backend) => page.evaluate(async ([src, url, n, threads, backend, warmup]) => {
  const lutra = await import('/web/lutra.js');
  const f = (0, eval)(`(${src})`);
  return f(lutra, url, n, threads, backend, warmup);
}, [measure.toString(), `${origin}/model.gguf`, n, threads, backend, warmup]);

const runs = new Map([['node', []], ...pageBackends.map((b) => [`page ${b}`, []])]);
let notes = {};
for (let r = 0; r < reps; r++) {
  // Alternate the order, so no runtime always runs on a warmer (or busier) machine.
  const order = [...runs.keys()];
  for (const who of r % 2 ? order.reverse() : order) {
    const res = who === 'node' ? await runNode() : await runPage(who.slice(5));
    runs.get(who).push(res.tps);
    notes[who] = res.note;
    console.error(`round ${r + 1} ${who}: ${res.tps.toFixed(2)} t/s (load ${loadavg()[0].toFixed(2)})`);
  }
}
const node = runs.get('node');
await browser.close();
server.close();

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').split(' ').filter((f) => /^(avx2|avx512f|avx512_vnni|avx_vnni|f16c)$/.test(f));
const version = (await page.context().browser()?.version?.()) ?? '';
console.log(`# ${basename(file)} tg${n}, ${threads} thread(s), ${reps} interleaved rounds; ${cpus()[0].model}; ${flags.join(' ')}; Node ${process.version}; Chromium ${version}`);
console.log(`| runtime | t/s (median) | runs | kernels |`);
console.log(`|---|---|---|---|`);
console.log(`| Node | ${median(node).toFixed(2)} | ${node.map((x) => x.toFixed(2)).join(', ')} | ${notes.node} |`);
for (const b of pageBackends) {
  const web = runs.get(`page ${b}`);
  console.log(`| Chromium (cross-origin isolated), backend ${b} | ${median(web).toFixed(2)} | ${web.map((x) => x.toFixed(2)).join(', ')} | ${notes[`page ${b}`]} |`);
}
for (const b of pageBackends) console.log(`page (${b}) / Node: ${(median(runs.get(`page ${b}`)) / median(node)).toFixed(3)}x`);
