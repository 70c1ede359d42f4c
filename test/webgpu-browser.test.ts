// The WebGPU backend in headless chromium (Debian's, SwiftShader's adapter: --enable-unsafe-webgpu
// --enable-unsafe-swiftshader --use-webgpu-adapter=swiftshader): the bundle's createEngine with
// backend 'webgpu' gives stories260K's golden greedy texts (F32 and its quantized files) through
// navigator.gpu, the same code path as Node's Dawn; the bundle's loadModel on the two-layer
// Qwen2.5-0.5B-shape files, and the whole shape in Q4_0 (24 layers, the 151,936-row head, one
// 4-token prefill), give the WebAssembly backend's logits (computed in Node); the KV parity
// model with quantized and bf16 caches on the GPU gives llama.cpp's greedy texts; and the chat page
// with its backend control set to WebGPU; and every per-shader parity case of webgpu-parity.ts (the
// ones webgpu-kernels and webgpu-kv-quant run in Node), bundled with esbuild into the page and run
// on navigator.gpu, each reported as its own subtest. Skipped (with the reason) where no chromium is installed or it offers no adapter.

import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { build, type Plugin } from 'esbuild';
import { loadModel } from '../src/runtime/model.js';
import { PRESETS } from '../src/tools/synth.js';
import { REPO, STORIES, STORIES_GGUF, QUANTIZED } from './helpers.js';
import { kvParityModel } from './kv-parity-model.js';
import { startServer } from './server-helpers.js';
import { LOGIT_ATOL, LOGIT_RTOL, QWEN_FULL_PROMPT, QWEN_PROMPT, QWEN_VOCAB, compareLogits, synthQwen, synthQwenFull, testGpu } from './webgpu-helpers.js';
import { parityCases } from './webgpu-parity.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
const FLAGS = ['--no-sandbox', '--no-first-run', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];

/** A page on a local server that serves the bundle under /web/ and `files` by URL, in headless chromium with SwiftShader's WebGPU; skips if it offers no adapter. */
async function withPage(t: TestContext, files: Record<string, string>, fn: (page: Page) => Promise<void>): Promise<void> {
  const staticDir = resolve(REPO, 'dist/src/web/static');
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/') { res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>webgpu</title>'); return; }
    if (files[url]) { res.writeHead(200, { 'content-type': url.endsWith('.js') ? 'text/javascript' : 'application/octet-stream' }).end(readFileSync(files[url]!)); return; }
    let body: Buffer;
    try {
      body = readFileSync(join(staticDir, url.replace(/^\/web\//, '')));
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
    const adapter = await page.evaluate(async () => !!(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()));
    if (!adapter) { t.skip('chromium offers no WebGPU adapter here'); return; }
    await fn(page);
  } finally {
    await browser.close();
    server.close();
  }
}

const STORIES_FILES = [{ q: 'f32', file: STORIES_GGUF }, ...QUANTIZED];

test(`headless chromium, backend webgpu: stories260K ${STORIES_FILES.map((c) => c.q).join(', ')} greedy texts equal llama.cpp's golden ones`, { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async (t) => {
  await withPage(t, Object.fromEntries(STORIES_FILES.map((c) => [`/${c.q}.gguf`, c.file])), async (page) => {
    for (const { q } of STORIES_FILES) {
      const got = await page.evaluate(async (url) => {
        const m = await import('/web/lutra.js' as string);
        const engine = await m.createEngine({ model: url, backend: 'webgpu' });
        const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 59, temperature: 0 });
        const note = engine.model.kernelNote as string;
        await engine.dispose();
        return { note, text: r.choices[0].text as string };
      }, `/${q}.gguf`);
      assert.match(got.note, /WebGPU/);
      const want = readFileSync(resolve(STORIES, `golden/greedy-n64-stories260K${q === 'f32' ? '' : `-${q}-mix`}.txt`), 'utf8');
      const text = ' Once upon a time' + got.text;
      assert.ok(want.startsWith(text) || text.startsWith(want), `chromium webgpu ${q}:\n${text}\nllama.cpp:\n${want}`);
    }
  });
});

/** Q4_0 (q8_0 activations), Q4_K_M (Q4_K, Q6_K, q8_K), Q5_1 (q8_1 activations), Q5_K_M (Q5_K): every block-dot family of the GPU. */
const QWEN_TYPES = ['Q4_0', 'Q4_K_M', 'Q5_1', 'Q5_K_M'];

test(`headless chromium, backend webgpu: the Qwen2.5-0.5B-shape ${QWEN_TYPES.join(', ')} files (2 layers, vocabulary ${QWEN_VOCAB}) give the WebAssembly backend's prefill and decode logits within ${LOGIT_ATOL} + ${LOGIT_RTOL} x max|logit|`, { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-webgpu-browser-'));
  try {
    const steps = [QWEN_PROMPT, [1000], [QWEN_VOCAB - 1]];
    const files: Record<string, string> = {};
    const want: Record<string, Float32Array[]> = {};
    for (const type of QWEN_TYPES) {
      const file = (files[`/${type}.gguf`] = await synthQwen(dir, type));
      // The WebAssembly backend's rows, in Node.
      const wasm = await loadModel(file, { backend: 'wasm', threads: 1 });
      try {
        const c = wasm.createContext({ ctx: 64 });
        want[type] = steps.map((ids) => c.decode(ids)!.slice());
        c.dispose();
      } finally {
        wasm.dispose();
      }
    }
    await withPage(t, files, async (page) => {
      for (const type of QWEN_TYPES) {
        const got = await page.evaluate(async ({ url, steps }) => {
          const m = await import('/web/lutra.js' as string);
          const model = await m.loadModel(new URL(url, location.href), { backend: 'webgpu' });
          try {
            const ctx = model.createContext({ ctx: 64 });
            const rows: number[][] = [];
            for (const ids of steps) rows.push(Array.from((await ctx.decodeAsync(ids)) as Float32Array));
            const onGpu = ctx.onGpu as boolean;
            ctx.dispose();
            return { note: model.kernelNote as string, onGpu, cpu: model.gpuForward.cpuMatrices.length as number, rows };
          } finally {
            model.dispose();
          }
        }, { url: `/${type}.gguf`, steps });
        assert.match(got.note, /WebGPU/);
        assert.equal(got.cpu, 0, `${type}: every matrix on the GPU`);
        assert.ok(got.onGpu, `${type}: the context stayed on the GPU`);
        const diffs = got.rows.map((row, i) => compareLogits(row, want[type]![i]!, `chromium ${type} step ${i} (${steps[i]!.length} tokens)`));
        process.stdout.write(`# chromium qwen ${type}: max |gpu - wasm| per step ${diffs.map((d) => d.toExponential(2)).join(', ')}\n`);
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(`headless chromium, backend webgpu: the whole Qwen2.5-0.5B shape (${PRESETS['qwen2.5-0.5b']!.nLayer} layers, the ${PRESETS['qwen2.5-0.5b']!.nVocab}-row head) in Q4_0, a ${QWEN_FULL_PROMPT.length}-token prefill's last logits equal the WebAssembly backend's within ${LOGIT_ATOL} + ${LOGIT_RTOL} x max|logit|`, { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)', timeout: 400_000 }, async (t) => {
  // webgpu-qwen-full's check in the page: the file written once, served to the page, the WebAssembly row computed in Node.
  const dir = mkdtempSync(join(tmpdir(), 'lutra-webgpu-browser-full-'));
  try {
    const t0 = performance.now();
    const { file, want, synthS, wasmS } = await synthQwenFull(dir);
    await withPage(t, { '/full.gguf': file }, async (page) => {
      const got = await page.evaluate(async (prompt) => {
        const m = await import('/web/lutra.js' as string);
        const t0 = performance.now();
        const model = await m.loadModel(new URL('/full.gguf', location.href), { backend: 'webgpu' });
        try {
          const ctx = model.createContext({ ctx: 16 });
          const t1 = performance.now();
          const row = Array.from((await ctx.decodeAsync(prompt)) as Float32Array);
          const t2 = performance.now();
          const onGpu = ctx.onGpu as boolean;
          ctx.dispose();
          return { note: model.kernelNote as string, onGpu, cpu: model.gpuForward.cpuMatrices.length as number, row, loadS: (t1 - t0) / 1e3, prefillS: (t2 - t1) / 1e3 };
        } finally {
          model.dispose();
        }
      }, QWEN_FULL_PROMPT);
      assert.match(got.note, /WebGPU/);
      assert.equal(got.cpu, 0, 'every matrix on the GPU');
      assert.ok(got.onGpu, 'the context stayed on the GPU');
      const d = compareLogits(got.row, want, `chromium full 0.5B shape Q4_0 prefill of ${QWEN_FULL_PROMPT.length}`);
      process.stdout.write(`# chromium qwen full shape Q4_0: max |gpu - wasm| ${d.toExponential(2)} (tolerance ${(LOGIT_ATOL + LOGIT_RTOL * want.reduce((a, x) => Math.max(a, Math.abs(x)), 0)).toExponential(2)}); synth ${synthS.toFixed(1)} s, wasm ${wasmS.toFixed(1)} s, page fetch + gpu load ${got.loadS.toFixed(1)} s, gpu prefill ${got.prefillS.toFixed(1)} s, total ${((performance.now() - t0) / 1e3).toFixed(1)} s\n`);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * KV cache types in the page: every GPU type's shaders (rotated quantized, bf16, mixed with f16).
 * q4_1 without rotation: rotated, its GPU text takes the other of a near tie (webgpu-kv-quant's NEAR_TIES).
 */
const PAGE_KV: Array<[string, string, number]> = [
  ['q8_0', 'q8_0', 1], ['q4_0', 'q4_0', 1], ['q4_1', 'q4_1', 0], ['q5_0', 'q5_0', 1], ['q5_1', 'q5_1', 1], ['iq4_nl', 'iq4_nl', 1], ['bf16', 'bf16', 1], ['f16', 'q4_0', 1],
];

test(`headless chromium, backend webgpu: the KV parity model with ${PAGE_KV.map(([k, v, r]) => `${k}/${v} rot${r}`).join(', ')} caches on the GPU gives llama.cpp's greedy texts`, { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-webgpu-browser-kv-'));
  try {
    const file = join(dir, 'kv-parity.gguf');
    writeFileSync(file, kvParityModel());
    await withPage(t, { '/kv.gguf': file }, async (page) => {
      const got = await page.evaluate(async (combos) => {
        const m = await import('/web/lutra.js' as string);
        const model = await m.loadModel(new URL('/kv.gguf', location.href), { backend: 'webgpu' });
        try {
          const out: Array<{ text: string; onGpu: boolean; reason: string | null }> = [];
          for (const [k, v, rot] of combos) {
            const ctx = model.createContext({ ctx: 256, cacheType: { k, v, rotation: rot === 1 } });
            let text = '';
            for await (const c of model.generate('Once upon a time', { maxTokens: 32, temperature: 0, context: ctx })) text += c.text;
            out.push({ text, onGpu: ctx.onGpu, reason: ctx.cpuReason });
            ctx.dispose();
          }
          return out;
        } finally {
          model.dispose();
        }
      }, PAGE_KV);
      PAGE_KV.forEach(([k, v, rot], i) => {
        const want = readFileSync(resolve(REPO, `test/golden/kv/parity/gen-${k}-${v}-rot${rot}.txt`), 'utf8').replace(/\n+$/, '').replace(/ \[end of text\]$/, '');
        assert.ok(got[i]!.onGpu, `${k}/${v}: on the GPU (${got[i]!.reason})`);
        assert.ok(got[i]!.text.startsWith(want), `chromium ${k}/${v}:\n webgpu ${JSON.stringify(got[i]!.text)}\n llama  ${JSON.stringify(want)}`);
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('chat page, backend control set to WebGPU: the in-page engine (a worker) loads on navigator.gpu, says so, and gives the golden greedy text', { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async (t) => {
  const server = await startServer(QUANTIZED[2]!.file, ['--ctx', '256']);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const adapter = await page.evaluate(async () => !!(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()));
    if (!adapter) { t.skip('chromium offers no WebGPU adapter here'); return; }
    const state = async (states: string[]) => {
      await page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout: 120_000 });
      return page.getAttribute('#status', 'data-state');
    };
    await page.click('[data-testid=backend-page]');
    await page.selectOption('[data-testid=page-backend]', 'webgpu');
    await page.fill('[data-testid=model-url]', '/model.gguf');
    await page.click('[data-testid=load]');
    assert.equal(await state(['ready', 'error']), 'ready', await page.textContent('[data-testid=page-info]') ?? '');
    const info = await page.textContent('[data-testid=page-info]') ?? '';
    assert.match(info, /kernels: webgpu\nbackend: .*WebGPU .*swiftshader/i);
    await page.click('[data-testid=mode-text]');
    await page.fill('[data-testid=temperature]', '0');
    await page.fill('[data-testid=max-tokens]', '24');
    await page.fill('[data-testid=prompt]', 'Once upon a time');
    await page.click('[data-testid=send]');
    assert.equal(await state(['done', 'error']), 'done', await page.textContent('#log') ?? '');
    const text = 'Once upon a time' + (await page.locator('[data-testid=completion]').allTextContents()).at(-1)!;
    const want = readFileSync(resolve(STORIES, 'golden/greedy-n64-stories260K-q4_0-mix.txt'), 'utf8').trimStart();
    assert.ok(want.startsWith(text) && text.length > 60, `page webgpu:\n${text}\nllama.cpp:\n${want}`);
  } finally {
    await browser.close();
    await server.stop();
  }
});

/**
 * Node built-ins in the parity bundle: test/helpers.ts computes its file paths when loaded, so each
 * is an ES module with the real one's export names, every export a function returning '' (inert,
 * unlike the web build's throwing stubs); the cases call no Node API.
 */
const inertNode: Plugin = {
  name: 'inert-node',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'inert-node' }));
    b.onLoad({ filter: /.*/, namespace: 'inert-node' }, async (a) => {
      const names = Object.keys((await import(a.path)) as object).filter((k) => k !== 'default' && /^[A-Za-z_$][\w$]*$/.test(k));
      return { contents: `const f = () => '';\nexport default {};\n${names.map((k) => `export const ${k} = f;`).join('\n')}`, loader: 'js' };
    });
  },
};

test('headless chromium, backend webgpu: every per-shader parity case of webgpu-parity.ts (webgpu-kernels, webgpu-kv-quant) on navigator.gpu, same tolerances as in Node', { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-webgpu-browser-parity-'));
  try {
    const bundle = join(dir, 'parity.js');
    // The compiled cases (dist/test) with the engine sources they import, and the page's opener.
    await build({
      stdin: { contents: "export { parityCases, pageAssert } from './webgpu-parity.js'; export { openGpu } from '../src/kernels/webgpu/index.js';", resolveDir: resolve(REPO, 'dist/test'), loader: 'js' },
      bundle: true, format: 'esm', platform: 'browser', target: ['chrome111'], outfile: bundle, logLevel: 'warning', plugins: [inertNode],
    });
    let results: Array<{ name: string; error: string | null; log: string[]; ms: number }> = [];
    await withPage(t, { '/parity.js': bundle }, async (page) => {
      results = await page.evaluate(async () => {
        const m = await import('/parity.js' as string);
        const out: Array<{ name: string; error: string | null; log: string[]; ms: number }> = [];
        for (const c of m.parityCases(m.openGpu, m.pageAssert) as Array<{ name: string; run(log: (l: string) => void): Promise<void> }>) {
          const log: string[] = [], t0 = performance.now();
          let error: string | null = null;
          try {
            await c.run((l) => log.push(l));
          } catch (e) {
            error = (e as Error).stack ?? String(e);
          }
          out.push({ name: c.name, error, log, ms: performance.now() - t0 });
        }
        return out;
      });
    });
    if (results.length === 0) return; // withPage skipped: no adapter
    assert.deepEqual(results.map((r) => r.name), parityCases(testGpu, assert).map((c) => c.name), 'the page ran every case Node runs');
    const slowest = results.reduce((a, b) => (b.ms > a.ms ? b : a));
    process.stdout.write(`# chromium parity: ${results.length} cases in ${(results.reduce((s, r) => s + r.ms, 0) / 1e3).toFixed(1)} s in the page, slowest ${slowest.ms.toFixed(0)} ms (${slowest.name.slice(0, 60)})\n`);
    for (const r of results) {
      await t.test(`chromium: ${r.name}`, () => {
        for (const l of r.log) process.stdout.write(`# chromium ${l}\n`);
        if (r.error) assert.fail(r.error);
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
