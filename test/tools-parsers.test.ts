// Tool-call parsers per template family on canned model outputs (several calls, nested JSON and
// escapes in arguments, thinking blocks, calls that do not parse), the format chosen from the
// template, Python-call syntax, and the streaming splitter: fed in pieces at every split point it
// gives exactly the whole reply's content and calls.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HERMES, LLAMA3, MINICPM4, parsePythonCalls, parseToolCalls, ToolCallSplitter, toolFormatFor, type ToolFormat } from '../src/openai/tools/index.js';
import { QWEN_TOOLS_TEMPLATE } from './grammar-helpers.js';

const TOOLS = [
  { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } },
  { name: 'search', parameters: { type: 'object', properties: { q: { type: 'string' }, filters: { type: 'object' } } } },
];

const calls = (text: string, f: ToolFormat) => parseToolCalls(text, f, TOOLS);

test('Hermes (Qwen2.5 / Qwen3): several calls, nested JSON and escapes, content kept', () => {
  const text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris \\"FR\\"", "days": 3}}\n</tool_call>\n'
    + '<tool_call>\n{"name": "search", "arguments": {"q": "a\\nb </tool_call>?", "filters": {"x": [1, {"y": null}]}}}\n</tool_call>';
  const r = calls(text, HERMES);
  assert.equal(r.content, 'Let me check.');
  assert.deepEqual(r.calls.map((c) => c.name), ['get_weather', 'search']);
  assert.deepEqual(JSON.parse(r.calls[0]!.arguments), { city: 'Paris "FR"', days: 3 });
  assert.equal(r.calls[0]!.arguments, '{"city":"Paris \\"FR\\"","days":3}');
  assert.ok(r.calls.length === 2);
});

test('Hermes with thinking: calls after </think> count, text inside <think> stays content', () => {
  const text = '<think>\nI could write <tool_call>{"name": "x", "arguments": {}}</tool_call> but no.\n</think>\n\n<tool_call>\n{"name": "search", "arguments": {"q": "lutra"}}\n</tool_call>';
  const r = calls(text, HERMES);
  assert.deepEqual(r.calls, [{ name: 'search', arguments: '{"q":"lutra"}' }]);
  assert.match(r.content, /^<think>\nI could write <tool_call>/);
  const empty = calls('<think>\n\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>', HERMES);
  assert.equal(empty.calls.length, 1);
});

test('Hermes: a block that is not a call is content; no calls means content unchanged; arguments as a JSON string', () => {
  assert.deepEqual(calls('<tool_call>\nnot json\n</tool_call>', HERMES), { content: '<tool_call>\nnot json\n</tool_call>', calls: [] });
  assert.deepEqual(calls('  plain reply ', HERMES), { content: '  plain reply ', calls: [] });
  const s = calls('<tool_call>{"name": "search", "arguments": "{\\"q\\": \\"x\\"}"}</tool_call>', HERMES);
  assert.equal(s.calls[0]!.arguments, '{"q":"x"}');
  const unclosed = calls('<tool_call>\n{"name": "search", "arguments": {"q": "x"}}', HERMES);
  assert.equal(unclosed.calls.length, 1, 'an unclosed last block (EOS before </tool_call>) still parses');
});

test('MiniCPM4: <|tool_call_start|> Python calls (keywords, literals, positional, several)', () => {
  const text = 'Sure.<|tool_call_start|>\n```python\nget_weather(city="Bei\\"jing", days=2)\nsearch(q=\'x y\', filters={"a": [True, None, 1.5]})\n```\n<|tool_call_end|>';
  const r = calls(text, MINICPM4);
  assert.equal(r.content, 'Sure.');
  assert.deepEqual(r.calls.map((c) => [c.name, JSON.parse(c.arguments)]), [
    ['get_weather', { city: 'Bei"jing', days: 2 }],
    ['search', { q: 'x y', filters: { a: [true, null, 1.5] } }],
  ]);
  const pos = calls('<|tool_call_start|>[get_weather("Rome", 4)]<|tool_call_end|>', MINICPM4);
  assert.deepEqual(JSON.parse(pos.calls[0]!.arguments), { city: 'Rome', days: 4 });
  const json = calls('<|tool_call_start|>{"name": "search", "arguments": {"q": "z"}}<|tool_call_end|>', MINICPM4);
  assert.equal(json.calls[0]!.arguments, '{"q":"z"}');
  assert.deepEqual(parsePythonCalls('f()'), [{ name: 'f', args: {}, positional: [] }]);
  assert.throws(() => parsePythonCalls('f(a=)'), SyntaxError);
});

test('Llama 3.x: JSON calls with "parameters", after <|python_tag|> or alone; ordinary text untouched', () => {
  const r = calls('{"name": "get_weather", "parameters": {"city": "Lima", "days": 1}}', LLAMA3);
  assert.deepEqual(r.calls, [{ name: 'get_weather', arguments: '{"city":"Lima","days":1}' }]);
  assert.equal(r.content, '');
  const tagged = calls('<|python_tag|>{"name": "search", "parameters": {"q": "a"}}; {"name": "search", "parameters": {"q": "b"}}', LLAMA3);
  assert.deepEqual(tagged.calls.map((c) => c.arguments), ['{"q":"a"}', '{"q":"b"}']);
  assert.deepEqual(calls('The answer is {"name": 1}.', LLAMA3).calls, []);
  assert.deepEqual(calls('{"not": "a call"}', LLAMA3), { content: '{"not": "a call"}', calls: [] });
});

test('the format is chosen from the template', () => {
  assert.equal(toolFormatFor(QWEN_TOOLS_TEMPLATE), HERMES);
  assert.equal(toolFormatFor('{{ "<|tool_call_start|>" }}'), MINICPM4);
  assert.equal(toolFormatFor('<|start_header_id|>ipython<|end_header_id|> {"name": function name, "parameters": ...} <|python_tag|>'), LLAMA3);
  assert.equal(toolFormatFor('{% for m in messages %}{{ m.content }}{% endfor %}'), HERMES, 'lutra describes tools Hermes-style when the template does not');
});

test('streaming: every split of a reply gives the same content and calls as the whole', () => {
  const replies: [string, ToolFormat][] = [
    ['Hi <tool_call>\n{"name": "search", "arguments": {"q": "<tool_call>"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call> bye', HERMES],
    ['<think>a <tool_call> b</think><tool_call>{"name": "search", "arguments": {"q": 1}}</tool_call>', HERMES],
    ['x<|tool_call_start|>```python\nsearch(q="s")\n```<|tool_call_end|>', MINICPM4],
    ['  {"name": "search", "parameters": {"q": "é"}}', LLAMA3],
    ['{"name" is not how this goes', LLAMA3],
    ['<tool_ca no', HERMES],
  ];
  for (const [text, f] of replies) {
    const whole = parseToolCalls(text, f, TOOLS);
    for (let cut = 0; cut <= text.length; cut++) {
      for (const step of [1, 3]) {
        const s = new ToolCallSplitter(f, TOOLS);
        const events = [...s.push(text.slice(0, cut))];
        for (let i = cut; i < text.length; i += step) events.push(...s.push(text.slice(i, i + step)));
        events.push(...s.end());
        const got = events.flatMap((e) => ('call' in e ? [e.call] : []));
        const content = events.map((e) => ('content' in e ? e.content : '')).join('');
        assert.deepEqual(got, whole.calls, `${f.name} cut ${cut} step ${step}`);
        assert.equal(got.length ? content.trim() : content, whole.content, `${f.name} cut ${cut} step ${step}`);
      }
    }
  }
});

test('past calls are written back in each format and read again', () => {
  const past = [{ name: 'search', arguments: { q: 'x "y"', n: [1, true, null] } }];
  for (const f of [HERMES, MINICPM4, LLAMA3]) {
    const r = calls(f.write(past), f);
    assert.deepEqual(r.calls.map((c) => [c.name, JSON.parse(c.arguments)]), [['search', past[0]!.arguments]], f.name);
  }
});
