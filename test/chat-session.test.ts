// Chat sessions that outgrow their context: the oldest turns go, the system message stays, and the
// conversation goes on; a turn without max_tokens gets the session default; the server's engine
// keeps refusing with context_length_exceeded unless contextShift is on. One temperature default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, InvalidRequestError } from '../src/openai/index.js';
import { parseChatRequest } from '../src/openai/schema.js';
import { DEFAULT_TEMPERATURE } from '../src/openai/engine.js';
import { defaultChatMaxTokens, shiftConversation } from '../src/openai/context-shift.js';
import { STORIES_GGUF } from './helpers.js';

const isTooLong = (e: unknown) => e instanceof InvalidRequestError && e.errorCode === 'context_length_exceeded';

test('a session with a 128-token context runs 20 turns, dropping the oldest turns and keeping the system message', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 128 });
  using chat = engine.createChatSession({ system: 'Tell short stories.', defaults: { temperature: 0 } });
  assert.equal(chat.nCtx, 128);
  assert.equal(chat.templateSource ?? chat.chatTemplate.source, 'fallback');
  let dropped = 0, shifts = 0;
  for (let turn = 0; turn < 20; turn++) {
    const r = await chat.send(`Turn ${turn}: once upon a time there was a dog.`, { max_tokens: 24 });
    assert.ok(r.usage.prompt_tokens + r.usage.completion_tokens <= 128, `turn ${turn}: ${JSON.stringify(r.usage)}`);
    assert.ok(r.usage.completion_tokens <= 24);
    if (chat.lastDropped) { shifts++; dropped += chat.lastDropped; }
    assert.deepEqual(chat.messages[0], { role: 'system', content: 'Tell short stories.' });
    assert.equal(chat.messages[1]!.role, 'user', 'the kept conversation opens with a user message');
    assert.equal(chat.messages.at(-2)!.content, `Turn ${turn}: once upon a time there was a dog.`);
  }
  assert.ok(shifts >= 3 && dropped >= 2 * shifts, `${shifts} shifts dropped ${dropped} messages`);
  assert.ok(chat.messages.length < 1 + 2 * 20);
  assert.equal(dropped % 2, 0, 'whole turns: a user message with its reply');
});

test('a turn without max_tokens gets min(512, nCtx / 4); a chosen one over the context is still refused', async () => {
  assert.equal(defaultChatMaxTokens(128), 32);
  assert.equal(defaultChatMaxTokens(4096), 512);
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 128 });
  using chat = engine.createChatSession({ ctx: 200 });
  assert.equal(chat.defaultMaxTokens, 50);
  // Logit bias bans EOS (id 2), so only the budget ends the reply.
  const r = await chat.send('Once upon a time', { temperature: 0, logit_bias: { 2: -100 } });
  assert.equal(r.usage.completion_tokens, 50);
  assert.equal(r.choices[0]!.finish_reason, 'length');
  await assert.rejects(chat.send('Again', { max_tokens: 300 }), isTooLong);
});

test('contextShift: false in a session, and the engine default (off), refuse with context_length_exceeded; on, the engine drops turns', async () => {
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 128 });
  using strict = engine.createChatSession({ contextShift: false, defaults: { temperature: 0, max_tokens: 24 } });
  let refused = false;
  for (let turn = 0; turn < 10 && !refused; turn++) {
    await strict.send(`Turn ${turn}: the cat sat on the mat and looked at the dog.`).catch((e) => { assert.ok(isTooLong(e), String(e)); refused = true; });
  }
  assert.ok(refused, 'the session without context shift ran out of context');

  const long = Array.from({ length: 12 }, (_, i) => [
    { role: 'user' as const, content: `Question ${i}: where did the little dog go today?` },
    { role: 'assistant' as const, content: `Answer ${i}: the little dog went to the park with Lily.` },
  ]).flat();
  const messages = [{ role: 'system' as const, content: 'Be brief.' }, ...long, { role: 'user' as const, content: 'And then?' }];
  await assert.rejects(engine.chat.completions.create({ messages, max_tokens: 16, temperature: 0 }), isTooLong);
  await using shifting = await createEngine({ model: STORIES_GGUF, ctx: 128, contextShift: true });
  const r = await shifting.chat.completions.create({ messages, max_tokens: 16, temperature: 0 });
  assert.ok(r.usage.prompt_tokens + 16 <= 128, JSON.stringify(r.usage));
  // One message that cannot fit on its own is still refused.
  await assert.rejects(shifting.chat.completions.create({ messages: [{ role: 'user', content: 'the dog ran '.repeat(60) }], max_tokens: 16 }), isTooLong);
});

test('shiftConversation drops whole turns from the oldest, after the system messages, and never the newest turn', () => {
  const msgs = [
    { role: 'system', n: 1 }, { role: 'user', n: 2 }, { role: 'assistant', n: 3 }, { role: 'user', n: 4 },
    { role: 'assistant', n: 5 }, { role: 'tool', n: 6 }, { role: 'user', n: 7 },
  ];
  // "Tokens": one per message; fits when at most `room`.
  const shift = (room: number) => shiftConversation(msgs, (m) => m.map((x) => x.n), (t) => t.length <= room);
  assert.deepEqual(shift(7), { messages: msgs, tokens: [1, 2, 3, 4, 5, 6, 7], dropped: 0 });
  assert.deepEqual(shift(6).tokens, [1, 4, 5, 6, 7]);
  assert.equal(shift(6).dropped, 2);
  assert.deepEqual(shift(2).tokens, [1, 7]);
  assert.equal(shift(1).dropped, 5, 'nothing fits: the newest turn is what is left to refuse');
});

test('one temperature default: 0.8 for the engine (and so the server and sessions), as the CLI and the page', async () => {
  assert.equal(DEFAULT_TEMPERATURE, 0.8);
  await using engine = await createEngine({ model: STORIES_GGUF, ctx: 64 });
  const p = parseChatRequest({ messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(engine.makeJob(p, [[1, 2]], -1, 'messages').sampling.temperature, 0.8);
});
