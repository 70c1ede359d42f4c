// `lutra serve` end to end with real clients: the official openai npm package (stream and not),
// curl, and fetch for the status codes: 401, 400 naming the field, 400 over the context, 413,
// 404, 503 + Retry-After when the queue is full; a client that disconnects frees its slot at
// once; SIGTERM lets a running stream finish and exits 0.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { STORIES_GGUF } from './helpers.js';
import { chatModelBytes } from './openai-helpers.js';
import { startServer, waitFor, type Served } from './server-helpers.js';

const KEY = 'sk-test-lutra';
const GREEDY_32 = ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw';
const run = promisify(execFile);

let stories: Served;
let chat: Served;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lutra-serve-'));
  const chatFile = join(dir, 'tiny-chat.gguf');
  writeFileSync(chatFile, chatModelBytes());
  [stories, chat] = await Promise.all([
    startServer(STORIES_GGUF, ['--ctx', '4096', '--api-key', KEY, '--parallel', '1', '--max-queue', '1', '--body-limit', '65536']),
    startServer(chatFile, ['--ctx', '256', '--parallel', '2']),
  ]);
});

after(async () => {
  await Promise.all([stories?.stop('SIGKILL'), chat?.stop('SIGKILL')]);
});

const auth = { authorization: `Bearer ${KEY}` };
async function post(url: string, body: unknown, headers: Record<string, string> = auth) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, json: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } } };
}
const health = async (s: Served) => (await (await fetch(`${s.url}/health`)).json()) as { status: string; slots_processing: number; queued: number };

test('the openai client: completions and chat completions, streaming and not', async () => {
  const client = new OpenAI({ apiKey: KEY, baseURL: `${stories.url}/v1` });
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['stories260K']);
  const r = await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 32, temperature: 0 });
  assert.equal(r.choices[0]!.text, GREEDY_32);
  assert.equal(r.usage!.completion_tokens, 32);
  let text = '';
  let finish: string | null = null;
  for await (const c of await client.completions.create({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 32, temperature: 0, stream: true })) {
    text += c.choices[0]?.text ?? '';
    finish ??= c.choices[0]?.finish_reason ?? null;
  }
  assert.equal(text, GREEDY_32);
  assert.equal(finish, 'length');

  const cc = new OpenAI({ apiKey: 'unused', baseURL: `${chat.url}/v1` });
  const messages = [{ role: 'user' as const, content: 'Hello there' }];
  const reply = await cc.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 10, temperature: 0, n: 2 });
  assert.equal(reply.object, 'chat.completion');
  assert.equal(reply.choices.length, 2);
  assert.equal(reply.choices[0]!.message.content, reply.choices[1]!.message.content);
  assert.equal(reply.usage!.completion_tokens, reply.choices.length * 10 - (reply.choices[0]!.finish_reason === 'stop' ? 1 : 0) * 0);
  let streamed = '';
  let usage: OpenAI.CompletionUsage | null | undefined;
  for await (const c of await cc.chat.completions.create({ model: 'tiny-chat', messages, max_tokens: 10, temperature: 0, stream: true, stream_options: { include_usage: true } })) {
    streamed += c.choices[0]?.delta.content ?? '';
    if (c.usage) usage = c.usage;
  }
  assert.equal(streamed, reply.choices[0]!.message.content);
  assert.equal(usage!.prompt_tokens, reply.usage!.prompt_tokens);
  await assert.rejects(cc.chat.completions.create({ model: 'x', messages, temperature: 7 }), (e: unknown) => e instanceof OpenAI.BadRequestError && /temperature/.test(e.message));
});

test('curl: SSE ends with data: [DONE]; 401 without the key', async () => {
  const { stdout } = await run('curl', ['-sN', `${stories.url}/v1/completions`, '-H', `Authorization: Bearer ${KEY}`, '-H', 'Content-Type: application/json', '-d', JSON.stringify({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0, stream: true })]);
  const events = stdout.split('\n\n').filter(Boolean);
  assert.equal(events.at(-1), 'data: [DONE]');
  const text = events.slice(0, -1).map((e) => (JSON.parse(e.slice(6)) as { choices: { text: string }[] }).choices[0]!.text).join('');
  assert.equal(text, GREEDY_32.slice(0, text.length));
  const { stdout: s401 } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${stories.url}/v1/models`]);
  assert.equal(s401, '401');
  const { stdout: page } = await run('curl', ['-si', `${stories.url}/`]);
  assert.match(page, /cross-origin-opener-policy: same-origin/i);
  assert.match(page, /cross-origin-embedder-policy: require-corp/i);
});

test('status codes: 401, 400 naming the field, 400 over the context, 413, 404, all in OpenAI error shape', async () => {
  const u = `${stories.url}/v1/completions`;
  let r = await post(u, { prompt: 'x' }, {});
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'invalid_api_key');
  r = await post(u, { prompt: 'x' }, { authorization: 'Bearer wrong' });
  assert.equal(r.status, 401);
  r = await post(u, { prompt: 'x', top_p: 2 });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'top_p');
  assert.equal(r.json.error.type, 'invalid_request_error');
  r = await post(`${stories.url}/v1/chat/completions`, { messages: [{ role: 'user' }] });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'messages[0].content');
  r = await post(u, '{"prompt": ');
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /not valid JSON/);
  r = await post(u, { prompt: 'Once upon a time', max_tokens: 4095 });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'context_length_exceeded');
  assert.equal(r.json.error.param, 'max_tokens');
  r = await post(u, { prompt: 'x'.repeat(70_000) });
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'body_too_large');
  r = await post(`${stories.url}/v1/rerank`, { input: 'x' });
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'not_found');
});

test('a full queue answers 503 with Retry-After; a client that disconnects frees its slot at once', async () => {
  const u = `${stories.url}/v1/completions`;
  // Thousands of tokens with end-of-text banned: seconds of work, far longer than a freed slot takes.
  const long = { prompt: 'Once upon a time', max_tokens: 4000, temperature: 0, stream: true, logit_bias: { 2: -100 } };
  const ac1 = new AbortController();
  const first = await fetch(u, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(long), signal: ac1.signal });
  assert.equal(first.status, 200);
  const reader = first.body!.getReader();
  await reader.read();
  // The second request waits for the slot (its headers come with its first token)...
  const ac2 = new AbortController();
  const second = fetch(u, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ ...long, max_tokens: 4 }), signal: ac2.signal });
  await waitFor(async () => (await health(stories)).queued === 1, 5000, 'one queued request');
  // ...and the third finds the queue (1) full.
  const third = await post(u, { prompt: 'The dog', max_tokens: 2 });
  assert.equal(third.status, 503);
  assert.equal(third.json.error.code, 'queue_full');
  assert.ok(Number(third.headers.get('retry-after')) >= 1);
  // Dropping the first connection hands the slot to the queued request, which completes.
  const t0 = performance.now();
  ac1.abort();
  const res2 = await second;
  assert.equal(res2.status, 200);
  const body2 = await res2.text();
  assert.ok(performance.now() - t0 < 2000, 'the slot was freed without waiting for the 4000 tokens');
  assert.ok(body2.trimEnd().endsWith('data: [DONE]'));
  await waitFor(async () => (await health(stories)).slots_processing === 0, 2000, 'an idle slot');

  // A non-streaming request whose client goes away frees the slot too.
  const ac3 = new AbortController();
  const gone = fetch(u, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ ...long, stream: false }), signal: ac3.signal }).catch(() => 'aborted');
  await waitFor(async () => (await health(stories)).slots_processing === 1, 2000, 'a busy slot');
  ac3.abort();
  assert.equal(await gone, 'aborted');
  await waitFor(async () => (await health(stories)).slots_processing === 0, 1000, 'the slot freed after the disconnect');
});

test('SIGTERM: a running stream finishes, new requests are refused, the process exits 0', async () => {
  const s = await startServer(STORIES_GGUF, ['--ctx', '256', '--shutdown-timeout', '20']);
  const res = await fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 64, temperature: 0, stream: true }) });
  const reader = res.body!.getReader();
  await reader.read();
  const exit = s.stop('SIGTERM');
  await waitFor(async () => /SIGTERM/.test(s.stderr()), 2000, 'the shutdown message');
  const refused = await fetch(`${s.url}/v1/models`).then((r) => r.status, () => 'refused');
  assert.ok(refused === 503 || refused === 'refused', String(refused));
  let rest = '';
  const dec = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += dec.decode(value);
  }
  assert.ok(rest.trimEnd().endsWith('data: [DONE]'), rest.slice(-200));
  assert.match(rest, /"finish_reason":"length"/);
  assert.equal(await exit, 0);
  assert.match(s.stderr(), /stopped/);
});
