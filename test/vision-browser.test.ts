// Pictures in the chat page (headless Debian chromium driven by playwright-core) on a tiny synthetic
// SmolVLM pair (its greedy reply depends on the picture) served by `lutra serve --mmproj`: a picture
// attached with the file input, pasted and dropped is decoded by the browser (thumbnail), sent as
// an image_url data URL, and the greedy reply equals `lutra run --mmproj --image`'s, from the server and from the page's own engine (which
// loads /mmproj.gguf beside /model.gguf and decodes pictures with createImageBitmap). Bad pictures
// (truncated, a 20000x20000 header), in the page and in its engine worker, and a model without a
// projector are errors that say so.
// Skipped (with the reason) where no chromium is installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { chromium, type Page } from 'playwright-core';
import { DATA, LUTRA_BIN } from './helpers.js';
import { startServer } from './server-helpers.js';
import { patternImage } from './vision-cases.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
const QUESTION = 'What is in the picture?';
const TOKENS = 8;

async function state(page: Page, states: string[], ms: number): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout: ms });
  return page.getAttribute('#status', 'data-state') as Promise<string>;
}

/** Send QUESTION greedily with the pending pictures; the reply's text and its meta line. */
async function ask(page: Page): Promise<{ reply: string; meta: string }> {
  await page.fill('[data-testid=temperature]', '0');
  await page.fill('[data-testid=max-tokens]', String(TOKENS));
  await page.fill('[data-testid=prompt]', QUESTION);
  await page.click('[data-testid=send]');
  assert.equal(await state(page, ['done', 'error'], 60_000), 'done', await page.textContent('#log') ?? '');
  const reply = (await page.locator('.msg.assistant.output > span:first-child').allTextContents()).at(-1)!;
  const meta = (await page.locator('[data-testid=meta]').allTextContents()).at(-1)!;
  return { reply, meta };
}

/** Put a file on the page's clipboard-paste or drop path, as the browser would hand it over. */
async function handOver(page: Page, how: 'paste' | 'drop', bytes: Uint8Array, name: string): Promise<void> {
  await page.evaluate(({ how, data, name }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(data)], name, { type: 'image/png' }));
    if (how === 'paste') document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
    else document.getElementById('log')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, { how, data: Array.from(bytes), name });
}

test('chat page pictures: attach, paste and drop; server and in-page replies equal lutra run\'s; bad pictures and no projector say so', { skip: CHROMIUM ? false : 'no chromium (apt-get install -y chromium)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-vision-browser-'));
  const llm = join(dir, 'llm.gguf'), mmproj = join(dir, 'mmproj.gguf'), pic = join(DATA, 'images/chelsea.png'), pattern = join(dir, 'pattern.png');
  execFileSync(process.execPath, [LUTRA_BIN, 'synth', '--preset', 'tiny-smolvlm', '--type', 'F32', '-o', llm, '--mmproj', mmproj]);
  const picBytes = new Uint8Array(readFileSync(pic));
  const patternBytes = encodePng({ width: 120, height: 60, data: patternImage(120, 60).data, channels: 3, depth: 8 });
  writeFileSync(pattern, patternBytes);
  writeFileSync(join(dir, 'broken.png'), picBytes.subarray(0, 3000));
  const huge = encodePng({ width: 4, height: 4, data: patternImage(4, 4).data, channels: 3, depth: 8 });
  new DataView(huge.buffer, huge.byteOffset).setUint32(16, 20000);
  new DataView(huge.buffer, huge.byteOffset).setUint32(20, 20000);
  writeFileSync(join(dir, 'huge.png'), huge);
  const run = (image: string) => execFileSync(process.execPath, [LUTRA_BIN, 'run', llm, '--mmproj', mmproj, '--image', image, '-p', QUESTION, '-n', String(TOKENS), '--temp', '0', '--no-display-prompt'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).replace(/\n$/, '');
  const cli = run(pic), cliPattern = run(pattern);
  assert.notEqual(cli, cliPattern, 'the reply depends on the picture');
  const server = await startServer(llm, ['--ctx', '1024', '--mmproj', mmproj]);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => /pictures/.test(document.getElementById('server-info')!.textContent ?? ''));

    // Server mode: the file input; the thumbnail waits, then goes with the message.
    await page.setInputFiles('[data-testid=image-file]', pic);
    await page.waitForSelector('[data-testid=pending-image]');
    assert.match(await page.getAttribute('[data-testid=pending-image]', 'title') ?? '', /chelsea\.png · 451x300/);
    const fromServer = await ask(page);
    assert.equal(fromServer.reply, cli);
    assert.match(fromServer.meta, /server · picture: \d+ slices encoded in \d+ ms/);
    assert.equal(await page.locator('.msg.user [data-testid=sent-images] canvas').count(), 1);
    assert.equal(await page.locator('[data-testid=pending-image]').count(), 0);

    // Pasted and dropped pictures join the next message too; × removes one.
    await page.click('#new-chat');
    await handOver(page, 'paste', patternBytes, 'pasted.png');
    await page.waitForSelector('[data-testid=pending-image]');
    await handOver(page, 'drop', picBytes, 'dropped.png');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=pending-image]').length === 2);
    assert.match(await page.getAttribute('[data-testid=pending-image]:nth-child(2)', 'title') ?? '', /dropped\.png · 451x300/);
    await page.click('[data-testid=pending-image]:nth-child(2) button');
    assert.equal(await page.locator('[data-testid=pending-image]').count(), 1);
    assert.equal((await ask(page)).reply, cliPattern, 'the pasted picture went, the dropped one was removed');

    // Bad pictures are errors naming the file, before anything is sent.
    await page.setInputFiles('[data-testid=image-file]', join(dir, 'broken.png'));
    await page.waitForFunction(() => /broken\.png/.test(document.getElementById('log')!.textContent ?? ''));
    assert.match(await page.locator('.msg.error').last().textContent() ?? '', /broken\.png: PNG is truncated or corrupt/);
    await page.setInputFiles('[data-testid=image-file]', join(dir, 'huge.png'));
    await page.waitForFunction(() => /huge\.png/.test(document.getElementById('log')!.textContent ?? ''));
    assert.match(await page.locator('.msg.error').last().textContent() ?? '', /huge\.png: image is 20000x20000/);
    assert.equal(await page.locator('[data-testid=pending-image]').count(), 0);

    // In this page: the model and its projector from the server, pictures decoded with createImageBitmap.
    await page.click('#new-chat');
    await page.click('[data-testid=backend-page]');
    assert.equal(await page.inputValue('[data-testid=mmproj-url]'), '/mmproj.gguf');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready', await page.textContent('[data-testid=page-info]') ?? '');
    assert.match(await page.textContent('[data-testid=page-info]') ?? '', /pictures: idefics3, \d+-pixel slices/);
    await page.setInputFiles('[data-testid=image-file]', pic);
    await page.waitForSelector('[data-testid=pending-image]');
    const inPage = await ask(page);
    assert.equal(inPage.reply, cli);
    assert.match(inPage.meta, /in page \(.*\) · picture: \d+ slices encoded in \d+ ms/);

    // The worker's own decoder (createImageBitmap) names the part for what the page would not send.
    const dataUrl = (b: Uint8Array, type = 'image/png') => `data:${type};base64,${Buffer.from(b).toString('base64')}`;
    const worker = await page.evaluate(async (urls) => {
      const w = new Worker('/web/chat-worker.js', { type: 'module' });
      const next = (pred: (m: { type: string; id?: number }) => boolean) => new Promise<Record<string, unknown>>((r) => {
        const f = (e: MessageEvent) => { if (pred(e.data)) { w.removeEventListener('message', f); r(e.data); } };
        w.addEventListener('message', f);
      });
      w.postMessage({ type: 'load', source: { url: '/model.gguf' }, cache: true, mmproj: { url: '/mmproj.gguf' } });
      const loaded = await next((m) => m.type === 'loaded' || m.type === 'load-error');
      const out: Record<string, unknown>[] = [];
      for (const [i, url] of urls.entries()) {
        const chunks: string[] = [];
        const onChunk = (e: MessageEvent) => { if (e.data.id === i && e.data.type === 'chunk') chunks.push(e.data.chunk.choices[0]?.delta?.content ?? ''); };
        w.addEventListener('message', onChunk);
        w.postMessage({ type: 'request', id: i, kind: 'chat', body: { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'What is in the picture?' }] }], max_tokens: 8, temperature: 0 } });
        const end = await next((m) => m.id === i && (m.type === 'error' || m.type === 'done'));
        w.removeEventListener('message', onChunk);
        out.push({ ...end, text: chunks.join('') });
      }
      w.terminate();
      return { loaded: loaded.type, out };
    }, [dataUrl(picBytes.subarray(0, 3000)), dataUrl(huge), dataUrl(readFileSync(join(DATA, 'images/rocket.jpg')), 'image/jpeg')]);
    assert.equal(worker.loaded, 'loaded');
    assert.match(String(worker.out[0]!.message), /messages\[0\]\.content\[0\]\.image_url: PNG 451x300 is truncated or corrupt: the browser could not decode it/);
    assert.match(String(worker.out[1]!.message), /messages\[0\]\.content\[0\]\.image_url: image is 20000x20000/);
    // A JPEG decoded by the browser (not jpeg-js, so not bit for bit) still gets the CLI's reply.
    assert.deepEqual([worker.out[2]!.type, worker.out[2]!.text], ['done', run(join(DATA, 'images/rocket.jpg'))]);

    // The page's engine without a projector refuses pictures, saying what is missing.
    await page.fill('[data-testid=mmproj-url]', '');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready');
    assert.match(await page.textContent('[data-testid=page-info]') ?? '', /pictures: no \(no projector loaded\)/);
    await page.setInputFiles('[data-testid=image-file]', pic);
    await page.waitForFunction(() => /no projector/.test(document.querySelector('.msg.error:last-of-type')?.textContent ?? ''));
    assert.equal(await page.locator('[data-testid=pending-image]').count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
