// The chat page in headless chromium (Debian's, driven by playwright-core): `lutra serve` gives the
// page with COOP/COEP (so it is cross-origin isolated), the page loads stories260K into its own
// engine from /model.gguf, and greedy text equals the CLI's. A reload finds the model in OPFS; a
// local file loads too. Served without COOP/COEP, the bundle falls back to one thread and still works.
// Split GGUFs load from lutra serve, an hf: reference (a stand-in Hub with CORS) and picked files; a
// gated repo loads with a token the page sends to the Hub only.
// The same page then asks the server. LUTRA_SCREENSHOTS=1 rewrites the screenshots in docs/.
// Skipped (with the reason) where no chromium is installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { LUTRA_BIN, REPO, STORIES_GGUF } from './helpers.js';
import { startServer } from './server-helpers.js';
import { chatModelBytes } from './openai-helpers.js';
import { FakeHub, TOKEN } from './hub-server.js';
import { concatChunks, parseGGUF } from '../src/formats/gguf.js';
import { shardSuffix, splitGGUF } from '../src/formats/gguf-split.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
const SHOTS = process.env.LUTRA_SCREENSHOTS === '1' ? resolve(REPO, 'docs') : mkdtempSync(join(tmpdir(), 'lutra-shots-'));

/**
 * A plain static server (no COOP/COEP, so no SharedArrayBuffer): `/` a blank page, `/web/*` the
 * built bundle, anything else from `route` (false: 404); and a chromium page opened on it.
 */
async function plainPage(route: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<{ page: Page; close: () => Promise<void> }> {
  const staticDir = resolve(REPO, 'dist/src/web/static');
  const server = createServer((req, res) => {
    if (req.url === '/') { res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>plain</title>'); return; }
    if (route(req, res)) return;
    let body: Buffer;
    try {
      body = readFileSync(join(staticDir, (req.url ?? '').replace(/^\/web\//, '')));
    } catch {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/`);
  return { page, close: async () => { await browser.close(); server.close(); } };
}

async function state(page: Page, states: string[], ms: number): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout: ms });
  return page.getAttribute('#status', 'data-state') as Promise<string>;
}

async function complete(page: Page, prompt: string): Promise<string> {
  await page.click('[data-testid=mode-text]');
  await page.fill('[data-testid=temperature]', '0');
  await page.fill('[data-testid=max-tokens]', '64');
  await page.fill('[data-testid=prompt]', prompt);
  await page.click('[data-testid=send]');
  assert.equal(await state(page, ['done', 'error'], 60_000), 'done', await page.textContent('#log') ?? '');
  const outputs = await page.locator('[data-testid=completion]').allTextContents();
  return prompt + outputs.at(-1)!;
}

test('chat page in headless chromium: in-page engine matches the CLI\'s greedy text, OPFS cache, server mode', { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async () => {
  const cli = execFileSync(process.execPath, [LUTRA_BIN, 'run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0', '-n', '64'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trimEnd();
  const server = await startServer(STORIES_GGUF, ['--ctx', '512']);
  const profile = mkdtempSync(join(tmpdir(), 'lutra-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, viewport: { width: 1200, height: 720 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated');

    await page.click('[data-testid=backend-page]');
    await page.fill('[data-testid=model-url]', '/model.gguf');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready', await page.textContent('[data-testid=page-info]') ?? '');
    assert.equal(await page.getAttribute('[data-testid=page-info]', 'data-from-cache'), 'false');
    const inPage = await complete(page, 'Once upon a time');
    assert.equal(inPage, cli);
    await page.screenshot({ path: join(SHOTS, 'chat-page.png') });

    // A reload loads the model from the Origin Private File System, not the network.
    let downloads = 0;
    page.on('request', (r) => { if (r.url().endsWith('/model.gguf') && r.method() === 'GET') downloads++; });
    await page.reload();
    await page.click('[data-testid=backend-page]');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready');
    assert.equal(await page.getAttribute('[data-testid=page-info]', 'data-from-cache'), 'true');
    assert.equal(downloads, 0);

    // The model list offers the server's model; a URL that fails says which request and why, in the panel.
    assert.deepEqual(await page.locator('#model-list option').allTextContents(), ['(a URL or hf: reference below)', 'stories260K (this server)']);
    await page.fill('[data-testid=model-url]', '/missing.gguf');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'error');
    assert.match(await page.textContent('[data-testid=page-info]') ?? '', /Could not load \/missing\.gguf:\nHEAD http:\/\/127\.0\.0\.1:\d+\/missing\.gguf: HTTP 404/);
    assert.equal(await page.getAttribute('[data-testid=page-info]', 'class'), 'info error');
    await page.selectOption('#model-list', { label: 'stories260K (this server)' });
    assert.equal(await page.inputValue('[data-testid=model-url]'), '/model.gguf');

    // A local file, as a user would pick it.
    await page.setInputFiles('#model-file', STORIES_GGUF);
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready');
    assert.match(await page.textContent('[data-testid=page-info]') ?? '', /stories260K/);
    assert.equal(await complete(page, 'Once upon a time'), cli);

    // The same page against the server's API.
    await page.click('[data-testid=backend-server]');
    assert.equal(await complete(page, 'Once upon a time'), cli);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop('SIGKILL');
    rmSync(profile, { recursive: true, force: true });
  }
});

test('the bundle without cross-origin isolation: one-thread fallback, same greedy text, on the main thread', { skip: CHROMIUM ? false : 'no chromium' }, async () => {
  const { page, close } = await plainPage((req, res) => {
    if (req.url !== '/model.gguf') return false;
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(STORIES_GGUF));
    return true;
  });
  try {
    const got = await page.evaluate(async () => {
      const m = await import('/web/lutra.js' as string);
      const engine = await m.createEngine({ model: '/model.gguf' });
      const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 32, temperature: 0 });
      await engine.dispose();
      return { coi: crossOriginIsolated, kernels: engine.model.kernels.name as string, text: r.choices[0].text as string };
    });
    assert.equal(got.coi, false);
    assert.doesNotMatch(got.kernels, /threads/);
    assert.equal(got.text, ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw');
  } finally {
    await close();
  }
});

test('the OPFS cache keys on content: another model behind the same URL is downloaded again; request errors name the URL', { skip: CHROMIUM ? false : 'no chromium' }, async () => {
  const models = [readFileSync(STORIES_GGUF), Buffer.from(chatModelBytes())];
  let served = 0;
  const { page, close } = await plainPage((req, res) => {
    if (req.url !== '/m.gguf') return false;
    const body = models[served]!;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, etag: `"v${served}"` });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  });
  try {
    const load = () => page.evaluate(async () => {
      const m = await import('/web/lutra.js' as string);
      const got = await m.fetchModelCached('/m.gguf');
      const model = await m.loadModel(got.file);
      const r = { fromCache: got.fromCache as boolean, size: got.file.size as number, nEmbd: model.hparams.nEmbd as number };
      model.dispose();
      return r;
    });
    assert.deepEqual(await load(), { fromCache: false, size: models[0]!.length, nEmbd: 64 });
    assert.deepEqual(await load(), { fromCache: true, size: models[0]!.length, nEmbd: 64 });
    served = 1; // another model behind the same URL (a restarted server, say)
    assert.deepEqual(await load(), { fromCache: false, size: models[1]!.length, nEmbd: 32 });
    assert.deepEqual(await load(), { fromCache: true, size: models[1]!.length, nEmbd: 32 });
    // The old version's entry is gone: one file for the URL.
    assert.equal(await page.evaluate(async () => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('lutra-models');
      let n = 0;
      for await (const _ of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) n++;
      return n;
    }), 1);
    const err = await page.evaluate(async () => {
      const m = await import('/web/lutra.js' as string);
      return m.fetchModelCached('http://127.0.0.1:1/x.gguf').then(() => 'loaded', (e: Error) => e.message);
    });
    assert.match(err, /^HEAD http:\/\/127\.0\.0\.1:1\/x\.gguf: /);
  } finally {
    await close();
  }
});

test('the page loads split GGUFs (hf: reference, lutra serve\'s /model.gguf, picked files) and a gated hf: repo with a token that goes to the Hub only', { skip: CHROMIUM ? false : 'no chromium' }, async () => {
  const cli = execFileSync(process.execPath, [LUTRA_BIN, 'run', STORIES_GGUF, '-p', 'Once upon a time', '--temp', '0', '-n', '64'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trimEnd();
  const g = parseGGUF(new Uint8Array(readFileSync(STORIES_GGUF)), STORIES_GGUF);
  const three = splitGGUF(g.metadata, g.tensors, { maxTensors: 20 }).map(concatChunks);
  const two = splitGGUF(g.metadata, g.tensors, { maxBytes: 1_000_000 }).map(concatChunks);
  const dir = mkdtempSync(join(tmpdir(), 'lutra-split-page-'));
  const shards = three.map((b, i) => { const f = join(dir, `st${shardSuffix(i, 3)}`); writeFileSync(f, b); return f; });
  const hub = new FakeHub();
  await hub.start();
  hub.addRepo('test/split-GGUF', Object.fromEntries(three.map((b, i) => [`st-Q4_K_M${shardSuffix(i, 3)}`, b])));
  hub.addRepo('test/gated-GGUF', Object.fromEntries(two.map((b, i) => [`gated-Q4_K_M${shardSuffix(i, 2)}`, b])), { gated: true });
  const server = await startServer(shards[1]!, ['--ctx', '512']);
  const profile = mkdtempSync(join(tmpdir(), 'lutra-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.click('[data-testid=backend-page]');
    const load = async (url: string) => {
      await page.fill('[data-testid=model-url]', url);
      await page.click('[data-testid=load]');
      const s = await state(page, ['ready', 'error'], 60_000);
      return { state: s, info: await page.textContent('[data-testid=page-info]') ?? '', files: await page.getAttribute('[data-testid=page-info]', 'data-files'), fromCache: await page.getAttribute('[data-testid=page-info]', 'data-from-cache') };
    };

    // lutra serve on a split model: /model.gguf redirects to the first shard, the page fetches the rest.
    let r = await load('/model.gguf');
    assert.equal(r.state, 'ready', r.info);
    assert.equal(r.files, '3');
    assert.equal(await complete(page, 'Once upon a time'), cli);

    // hf: reference whose quant is split, from the stand-in Hub (CORS, 302 to its CDN).
    await page.fill('[data-testid=hub-endpoint]', hub.url);
    r = await load('hf:test/split-GGUF:Q4_K_M');
    assert.equal(r.state, 'ready', r.info);
    assert.deepEqual([r.files, r.fromCache], ['3', 'false']);
    assert.equal(await complete(page, 'Once upon a time'), cli);
    r = await load('hf:test/split-GGUF:Q4_K_M');
    assert.deepEqual([r.state, r.fromCache], ['ready', 'true'], 'the shards come from OPFS the second time');

    // A gated repo: without a token the panel says what to give; with one it loads.
    r = await load('hf:test/gated-GGUF');
    assert.equal(r.state, 'error');
    assert.match(r.info, /hf:test\/gated-GGUF: the repo is gated \(manual\): give a Hugging Face access token/);
    // A token without access: the Hub's 401 on the file, said as such.
    await page.fill('[data-testid=hub-token]', 'hf_wrong');
    r = await load('hf:test/gated-GGUF');
    assert.equal(r.state, 'error');
    assert.match(r.info, /HEAD http:\/\/127\.0\.0\.1:\d+\/test\/gated-GGUF\/resolve\/main\/gated-Q4_K_M-00001-of-00002\.gguf: HTTP 401 Unauthorized: the token was refused, or it has no access/);
    await page.fill('[data-testid=hub-token]', TOKEN);
    r = await load('hf:test/gated-GGUF');
    assert.equal(r.state, 'ready', r.info);
    assert.equal(r.files, '2');
    assert.equal(await complete(page, 'Once upon a time'), cli);
    // The token: in this tab's sessionStorage only; sent to the Hub, never to its CDN or the server.
    assert.deepEqual(await page.evaluate(() => [sessionStorage.getItem('lutra.hubToken'), localStorage.length]), [TOKEN, 0]);
    assert.ok(hub.count((q) => q.server === 'hub' && q.auth === `Bearer ${TOKEN}` && q.url.includes('/resolve/')) >= 2, 'the token reached the Hub\'s resolve URLs');
    assert.equal(hub.count((q) => q.server === 'cdn' && q.auth !== undefined), 0, 'no token to the CDN');
    assert.ok(hub.count((q) => q.server === 'cdn' && q.url.includes('gated-Q4_K_M')) >= 2);

    // The shards picked as local files, in any order.
    await page.setInputFiles('#model-file', [shards[2]!, shards[0]!, shards[1]!]);
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready', await page.textContent('[data-testid=page-info]') ?? '');
    assert.equal(await page.getAttribute('[data-testid=page-info]', 'data-files'), '3');
    assert.equal(await complete(page, 'Once upon a time'), cli);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop('SIGKILL');
    await hub.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
