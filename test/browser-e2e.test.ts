// The chat page in headless chromium (Debian's, driven by playwright-core): `lutra serve` gives the
// page with COOP/COEP (so it is cross-origin isolated), the page loads stories260K into its own
// engine from /model.gguf, and greedy text equals the CLI's. A reload finds the model in OPFS; a
// local file loads too.
// The same page then asks the server. LUTRA_SCREENSHOTS=1 rewrites the screenshots in docs/.
// Skipped (with the reason) where no chromium is installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { LUTRA_BIN, REPO, STORIES_GGUF } from './helpers.js';
import { startServer } from './server-helpers.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
const SHOTS = process.env.LUTRA_SCREENSHOTS === '1' ? resolve(REPO, 'docs') : mkdtempSync(join(tmpdir(), 'lutra-shots-'));

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
    page.on('request', (r) => { if (r.url().endsWith('/model.gguf')) downloads++; });
    await page.reload();
    await page.click('[data-testid=backend-page]');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 60_000), 'ready');
    assert.equal(await page.getAttribute('[data-testid=page-info]', 'data-from-cache'), 'true');
    assert.equal(downloads, 0);

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
