// The OpenAI-shaped engine API in process: shapes, streaming, n, usage, stop, seed, logit_bias,
// validation naming the field, AbortSignal, queue limits, chat sessions with prefix reuse, dispose.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, AbortError, InvalidRequestError, QueueFullError, LutraError, type ChatCompletionChunk, type Completion } from '../src/index.js';
import { STORIES_GGUF } from './helpers.js';
import { chatModelBytes } from './openai-helpers.js';

const GREEDY_32 = ', there was a little girl named Lily. She loved to play outside in the park. One day, she saw';

test('completions: greedy text, OpenAI shape, usage; streaming chunks concatenate to the same text', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 256 });
  const r = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 32, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-/);
  assert.equal(r.model, 'stories260K');
  assert.equal(r.choices.length, 1);
  assert.deepEqual({ ...r.choices[0], text: undefined }, { index: 0, text: undefined, logprobs: null, finish_reason: 'length' });
  assert.equal(r.choices[0]!.text, GREEDY_32);
  assert.equal(r.usage!.prompt_tokens, 5);
  assert.equal(r.usage!.completion_tokens, 32);
  assert.equal(r.usage!.total_tokens, 37);

  const stream = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 32, temperature: 0, stream: true, stream_options: { include_usage: true } });
  const chunks: Completion[] = [];
  for await (const c of stream) chunks.push(c);
  assert.equal(chunks.slice(0, -1).map((c) => c.choices[0]!.text).join(''), GREEDY_32);
  assert.equal(chunks.at(-2)!.choices[0]!.finish_reason, 'length');
  assert.deepEqual(chunks.at(-1)!.choices, []);
  // The second request found the first one's prompt in the slot's KV cache.
  assert.equal(chunks.at(-1)!.usage!.prompt_tokens_details.cached_tokens, 4);
  assert.equal(engine.stats().busy, 0);
});

test('completions: n choices with a seed are repeatable and distinct; several prompts; echo; stop; logit_bias', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 256 });
  const body = { prompt: 'Once upon a time', max_tokens: 24, temperature: 1, seed: 7, n: 3 };
  const a = await engine.completions.create(body);
  const b = await engine.completions.create(body);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, 'different seeds per choice');
  assert.equal(a.usage!.completion_tokens, 72);
  assert.equal(a.usage!.prompt_tokens, 5, 'the prompt counts once');

  const two = await engine.completions.create({ prompt: ['Once upon a time', 'The dog'], max_tokens: 4, temperature: 0, n: 2, echo: true });
  assert.equal(two.choices.length, 4);
  assert.ok(two.choices[1]!.text.startsWith('Once upon a time,'));
  assert.ok(two.choices[3]!.text.startsWith('The dog'));
  assert.equal(two.choices[0]!.text, two.choices[1]!.text, 'greedy choices agree');

  const stopped = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 64, temperature: 0, stop: ['Lily', 'zzz'] });
  assert.equal(stopped.choices[0]!.text, ', there was a little girl named ');
  assert.equal(stopped.choices[0]!.finish_reason, 'stop');

  const comma = engine.model.tokenize('Once upon a time,').at(-1)!;
  assert.equal(engine.model.detokenize([comma]), ',');
  const banned = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 8, temperature: 0, logit_bias: { [comma]: -100 } });
  assert.ok(!banned.choices[0]!.text.startsWith(','), banned.choices[0]!.text);

  const ids = engine.model.tokenize('Once upon a time');
  const byIds = await engine.completions.create({ prompt: ids, max_tokens: 32, temperature: 0 });
  assert.equal(byIds.choices[0]!.text, GREEDY_32);
});

test('validation errors name the field; prompt + max_tokens over the context is refused', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 64 });
  const bad = async (body: unknown, param: string | null, re: RegExp) => {
    await assert.rejects(engine.completions.create(body as never), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError, String(e));
      assert.equal(e.param, param);
      assert.match(e.message, re);
      return true;
    });
  };
  await bad({ prompt: 'x', temperature: 3 }, 'temperature', /<=2/);
  await bad({ prompt: 'x', n: 0 }, 'n', />=1/);
  await bad({}, 'prompt', /required/);
  await bad({ prompt: 5 }, 'prompt', /expected a string/);
  await bad({ prompt: 'x', stop: [1] }, 'stop', /expected a string/);
  await bad({ prompt: 'x', logit_bias: { 99999: 1 } }, 'logit_bias.99999', /outside the vocabulary/);
  await bad({ prompt: 'x', logit_bias: { abc: 1 } }, 'logit_bias.abc', /token ids/);
  await bad({ prompt: 'x', tools: [{ type: 'function' }] }, 'tools', /not supported/);
  await bad({ prompt: 'x', max_tokens: 100 }, 'max_tokens', /exceed the context of 64 tokens/);
  await bad({ prompt: 'Once upon a time '.repeat(20) }, 'prompt', /does not fit the context/);
  // No template of its own: ChatML (engine.templateSource 'fallback'); a long chat is refused, not shifted, by default.
  assert.equal(engine.templateSource, 'fallback');
  await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Once upon a time '.repeat(20) }] }), (e: unknown) => e instanceof InvalidRequestError && e.errorCode === 'context_length_exceeded');
  await assert.rejects(engine.chat.completions.create({ messages: [{ role: 'robot', content: 'hi' }] } as never), (e: unknown) => e instanceof InvalidRequestError && e.param === 'messages[0].role');
});

test('AbortSignal and stream.controller stop a generation and free its slot; a full queue is refused', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 256, parallel: 1, maxQueue: 1 });
  const ac = new AbortController();
  const s = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 200, temperature: 0, stream: true }, { signal: ac.signal });
  let n = 0;
  await assert.rejects((async () => { for await (const _ of s) if (++n === 3) ac.abort(); })(), AbortError);
  assert.equal(engine.stats().busy, 0);

  const s2 = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 200, temperature: 0, stream: true });
  const it = s2[Symbol.asyncIterator]();
  await it.next();
  assert.equal(engine.stats().busy, 1);
  const queued = engine.completions.create({ prompt: 'The dog', max_tokens: 2, temperature: 0 });
  await new Promise((r) => setImmediate(r));
  assert.equal(engine.stats().queued, 1);
  await assert.rejects(engine.completions.create({ prompt: 'The cat', max_tokens: 2 }), (e: unknown) => e instanceof QueueFullError && e.retryAfter >= 1);
  s2.controller.abort();
  await assert.rejects(it.next(), AbortError);
  assert.equal((await queued).choices[0]!.finish_reason, 'length', 'the queued request got the freed slot');
  // Breaking out of a loop also releases the slot.
  for await (const _ of await engine.completions.create({ prompt: 'Once', max_tokens: 50, stream: true })) break;
  assert.deepEqual(engine.stats(), { slots: 1, busy: 0, queued: 0 });
});

test('chat completions on a model with a template: shapes, stream == non-stream, sessions reuse the KV cache', async () => {
  const engine = await createEngine({ model: chatModelBytes(), ctx: 256, name: 'tiny-chat' });
  const messages = [{ role: 'system' as const, content: 'You are terse.' }, { role: 'user' as const, content: 'Hello there' }];
  const r = await engine.chat.completions.create({ messages, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, 'tiny-chat');
  assert.equal(r.choices[0]!.message.role, 'assistant');
  assert.ok(r.choices[0]!.finish_reason === 'length' || r.choices[0]!.finish_reason === 'stop');
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of await engine.chat.completions.create({ messages, max_tokens: 12, temperature: 0, stream: true })) chunks.push(c);
  assert.equal(chunks[0]!.object, 'chat.completion.chunk');
  assert.deepEqual(chunks[0]!.choices[0]!.delta, { role: 'assistant', content: '' });
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), r.choices[0]!.message.content);
  assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, r.choices[0]!.finish_reason);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);

  const session = engine.createChatSession({ system: 'You are terse.', defaults: { temperature: 0, max_tokens: 10 } });
  const t1 = await session.send('Hello there');
  assert.equal(t1.choices[0]!.message.content, r.choices[0]!.message.content!.slice(0, t1.choices[0]!.message.content!.length));
  assert.equal(t1.usage.prompt_tokens_details.cached_tokens, 0);
  let streamed = '';
  for await (const c of await session.send('And again?', { stream: true })) streamed += c.choices[0]?.delta.content ?? '';
  assert.equal(session.messages.length, 5);
  assert.equal(session.messages[4]!.content, streamed);
  const u = session.lastUsage!;
  // Everything of the first turn but the re-rendered reply's tail was served from the cache.
  assert.ok(u.prompt_tokens_details.cached_tokens >= t1.usage.prompt_tokens, `${u.prompt_tokens_details.cached_tokens} cached of ${u.prompt_tokens}`);
  await engine.dispose();
  await assert.rejects(engine.completions.create({ prompt: 'x' }), (e: unknown) => e instanceof LutraError && /disposed/.test(e.message));
});

test('dispose cancels what is running and waiting', async () => {
  const engine = await createEngine({ model: STORIES_GGUF, ctx: 256 });
  const s = await engine.completions.create({ prompt: 'Once upon a time', max_tokens: 250, temperature: 0, stream: true });
  const it = s[Symbol.asyncIterator]();
  await it.next();
  const waiting = assert.rejects(engine.completions.create({ prompt: 'The dog', max_tokens: 2 }), AbortError);
  await engine.dispose();
  await assert.rejects(it.next(), AbortError);
  await waiting;
});
