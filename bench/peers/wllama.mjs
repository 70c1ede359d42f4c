// One wllama measurement in headless Chromium: node wllama.mjs MODEL THREADS P N
// Prints one JSON line {pp_tps, tg_tps, ...} or {error}. wllama does not run in
// Node 20, so a local server on 127.0.0.1 serves a page, wllama's files and the
// model, with COOP/COEP headers so the page is cross-origin isolated (threads).
// Timing: wllama 3.x is llama-server compiled to wasm; one createCompletion with
// a P-token prompt (token ids), max_tokens N, ignore_eos, greedy, no prompt
// cache; pp and tg are the server's own timings (prompt_ms over prompt_n,
// predicted_ms over predicted_n). One untimed warm-up completion runs first.
import http from 'node:http';
import { createReadStream, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const wllamaRoot = resolve(here, '../node_modules/@wllama/wllama');

const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run',
];
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { Wllama } from '/wllama/esm/index.js';
window.runBench = async ({ threads, nPrompt, nGen, warm, prompt }) => {
  const w = new Wllama({ default: '/wllama/esm/wasm/wllama.wasm' }, { suppressNativeLog: true });
  await w.loadModelFromUrl(location.origin + '/model.gguf', {
    useCache: false, n_threads: threads, n_ctx: nPrompt + nGen + 64, n_batch: nPrompt, n_ubatch: nPrompt, n_gpu_layers: 0,
  });
  const run = (prompt, max_tokens) => w.createCompletion({
    prompt, max_tokens, ignore_eos: true, temp: 0, top_k: 1, cache_prompt: false, seed: 1,
  });
  await run(warm, 2);
  const res = await run(prompt, nGen);
  const out = { timings: res.timings, multithread: w.isMultithread(), nThreads: w.getNumThreads(),
    isolated: crossOriginIsolated, version: w.constructor.getLibllamaVersion?.() };
  await w.exit();
  return out;
};
window.ready = true;
</script>`;

function serve(modelPath) {
  const server = http.createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    const url = new URL(req.url, 'http://x').pathname;
    let file;
    if (url === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' });
      return res.end(PAGE);
    }
    if (url === '/model.gguf') file = modelPath;
    else if (url.startsWith('/wllama/')) {
      file = resolve(wllamaRoot, '.' + url.slice('/wllama'.length));
      if (!file.startsWith(wllamaRoot + sep)) file = undefined;
    }
    let size;
    try { size = file && statSync(file).size; } catch { size = undefined; }
    if (size === undefined) { res.writeHead(404, headers); return res.end(); }
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const range = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      const end = range[2] ? Number(range[2]) : size - 1;
      res.writeHead(206, { ...headers, 'Content-Type': type, 'Accept-Ranges': 'bytes',
        'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
      if (req.method === 'HEAD') return res.end();
      return createReadStream(file, { start, end }).pipe(res);
    }
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': size, 'Accept-Ranges': 'bytes' });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(server)));
}

const [model, threadsArg, pArg, nArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const nPrompt = Number(pArg);
const nGen = Number(nArg);
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Qwen2's pre-tokenizer splits every digit apart, so P digits are about P
// tokens (the server adds a few; pp uses its prompt_n, checked within 8). Token-id prompts fail in wllama 3.13's
// glue (the action returns no output length), so the prompt is text.
let seed = 7;
const digits = (n) => Array.from({ length: n }, () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return String((seed >>> 16) % 10);
}).join('');

const server = await serve(resolve(model));
const profile = mkdtempSync(join(tmpdir(), 'lutra-peers-chromium-'));
let context;
const log = [];
try {
  context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS });
  const page = await context.newPage();
  page.on('console', (m) => log.push(m.text()));
  page.on('pageerror', (e) => log.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.ready === true);
  const out = await page.evaluate((a) => window.runBench(a), { threads, nPrompt, nGen, warm: digits(8), prompt: digits(nPrompt) });
  const t = out.timings;
  if (!t || Math.abs(t.prompt_n - nPrompt) > 8 || t.predicted_n !== nGen) {
    throw new Error(`unexpected timings ${JSON.stringify(t)} (asked prompt ${nPrompt}, gen ${nGen})`);
  }
  console.log(JSON.stringify({
    pp_tps: (t.prompt_n * 1000) / t.prompt_ms, tg_tps: (t.predicted_n * 1000) / t.predicted_ms, threads,
    prompt_n: t.prompt_n,
    nThreads: out.nThreads, multithread: out.multithread, isolated: out.isolated, version: out.version,
    chromium: context.browser()?.version() ?? null,
  }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e.message ?? e).split('\n')[0], log: log.slice(-5) }));
  process.exitCode = 1;
} finally {
  await context?.close();
  server.close();
  rmSync(profile, { recursive: true, force: true });
}
