// The WebGPU backend in headless chromium (Debian's, SwiftShader's adapter: --enable-unsafe-webgpu
// --enable-unsafe-swiftshader --use-webgpu-adapter=swiftshader): the bundle's createEngine with
// backend 'webgpu' gives stories260K's golden greedy text through navigator.gpu, the same code path
// as Node's Dawn; and the chat page with its backend control set to WebGPU. Skipped (with the reason) where no chromium is installed or it offers no adapter.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, STORIES, STORIES_GGUF, QUANTIZED } from './helpers.js';
import { startServer } from './server-helpers.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
const FLAGS = ['--no-sandbox', '--no-first-run', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader'];

test('headless chromium, backend webgpu: stories260K F32 and Q4_0 greedy texts equal llama.cpp\'s golden ones', { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async (t) => {
  const staticDir = resolve(REPO, 'dist/src/web/static');
  const files: Record<string, string> = { '/f32.gguf': STORIES_GGUF, '/q4_0.gguf': QUANTIZED[2]!.file };
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/') { res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>webgpu</title>'); return; }
    if (files[url]) { res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(files[url]!)); return; }
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
    for (const q of ['f32', 'q4_0']) {
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
  } finally {
    await browser.close();
    server.close();
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
