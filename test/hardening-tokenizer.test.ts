// Hardening of the two places a model file runs code-like input on the server's thread: the chat
// template (bounded in source size, steps, time and the size of every value) and the regexes of
// tokenizer.json (refused when they can backtrack catastrophically, by name).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LutraError } from '../src/core/errors.js';
import { CHAT_TEMPLATE_LIMITS, TemplateLimitError, renderChatTemplate } from '../src/tokenizer/chat-template.js';
import { parseGGUF } from '../src/formats/gguf.js';
import { knownPreTokenizers, tokenizerFromGGUF, tokenizerFromJSON } from '../src/tokenizer/index.js';
import { UnsafeRegexError, assertLinearRegex, translateOnigRegex } from '../src/tokenizer/hf-regex.js';
import { preTokenizerByName } from '../src/tokenizer/gguf-pre.js';
import { regexSplit } from '../src/tokenizer/regex-split.js';
import { DATA } from './helpers.js';

/** Each refusal must come fast: the bounds are what keeps the server serving. */
const FAST_MS = 2000;
const msgs = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi!' }];

function refusedFast(template: string, limit: string, pattern: RegExp): void {
  const t0 = performance.now();
  assert.throws(() => renderChatTemplate(template, msgs), (e: unknown) => {
    assert.ok(e instanceof TemplateLimitError, `expected TemplateLimitError, got ${String(e)}`);
    assert.equal(e.code, 'E_TEMPLATE_LIMIT');
    assert.equal(e.limit, limit);
    assert.match(e.message, /^chat template \(tokenizer\.chat_template\) /);
    assert.match(e.message, pattern);
    return true;
  });
  const ms = performance.now() - t0;
  assert.ok(ms < FAST_MS, `refused after ${ms.toFixed(0)} ms`);
}

test('chat template: nested 10^4 x 10^4 loops stop at the step or time bound', { timeout: 10_000 }, () => {
  const t0 = performance.now();
  assert.throws(() => renderChatTemplate('{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}', msgs), (e: unknown) =>
    e instanceof TemplateLimitError && (e.limit === 'maxSteps' || e.limit === 'maxTimeMs') && /exceeded/.test(e.message));
  assert.ok(performance.now() - t0 < FAST_MS);
  // With a small step bound the step counter, not the clock, is what stops it.
  assert.throws(() => renderChatTemplate('{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}', msgs, { limits: { maxSteps: 50_000, maxTimeMs: 60_000 } }),
    (e: unknown) => e instanceof TemplateLimitError && e.message === 'chat template (tokenizer.chat_template) exceeded 50000 evaluation steps');
});

test('chat template: the clock is checked while rendering', { timeout: 10_000 }, () => {
  const t0 = performance.now();
  assert.throws(() => renderChatTemplate('{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}', msgs, { limits: { maxSteps: 1e12, maxTimeMs: 200 } }),
    (e: unknown) => e instanceof TemplateLimitError && e.limit === 'maxTimeMs' && /exceeded 200 ms/.test(e.message));
  assert.ok(performance.now() - t0 < FAST_MS);
});

test('chat template: range(100000000) is refused before it allocates', { timeout: 10_000 }, () => {
  refusedFast('{{ range(100000000) | length }}', 'maxItems', /range\(\) of 100000000/);
  refusedFast('{% for i in range(0, 10**9, 2) %}{% endfor %}', 'maxItems', /elements/);
});

test('chat template: huge strings by concatenation, replace, indent and join are refused', { timeout: 20_000 }, () => {
  const doubling = (expr: string) => `{% set ns = namespace(s="ab") %}{% for i in range(64) %}{% set ns.s = ${expr} %}{% endfor %}{{ ns.s }}`;
  refusedFast(doubling('ns.s ~ ns.s'), 'maxStringChars', /characters/);
  refusedFast(doubling('ns.s + ns.s'), 'maxStringChars', /characters/);
  refusedFast(doubling('ns.s.replace("a", "aaaaaaaa")'), 'maxStringChars', /replace\(\) would make/);
  refusedFast('{% set ns = namespace(s="\\n") %}{% for i in range(16) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | indent(1000000) }}', 'maxStringChars', /indent would make/);
  refusedFast(`{{ range(1000000) | join("${'x'.repeat(100)}") }}`, 'maxStringChars', /join would make/);
  // A list that doubles by nesting itself prints exponentially: its size is counted through the sharing.
  refusedFast('{% set ns = namespace(a=[1]) %}{% for i in range(64) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}', 'maxItems', /elements in one value/);
  // Printing one large string many times outgrows the engine's longest string: still the template's error.
  refusedFast('{% set ns = namespace(s="x") %}{% for i in range(24) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% for i in range(1000) %}{{ ns.s }}{% endfor %}', 'maxStringChars', /longest string|characters/);
});

test('chat template: a source over the cap is refused by size', { timeout: 10_000 }, () => {
  const big = `{{ "${'x'.repeat(CHAT_TEMPLATE_LIMITS.maxSourceChars)}" }}`;
  refusedFast(big, 'maxSourceChars', new RegExp(`is ${big.length} characters, over the limit of ${CHAT_TEMPLATE_LIMITS.maxSourceChars}`));
  // The cap and the template's name are options.
  assert.throws(() => renderChatTemplate('{{ "0123456789" }}', msgs, { limits: { maxSourceChars: 10 }, name: 'request chat_template' }),
    (e: unknown) => e instanceof LutraError && e.code === 'E_TEMPLATE_LIMIT' && /^chat template \(request chat_template\) is 18 characters/.test(e.message));
});

/** A Qwen2.5-style template with tools (written for this test): tool schemas as JSON, tool calls, tool replies grouped. */
export const QWEN_STYLE = `{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}{%- else %}{{- 'You are a helpful assistant.' }}{%- endif %}
{{- "\\n\\n# Tools\\n\\nYou may call one or more functions.\\n<tools>" }}
{%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\\n</tools>\\nReturn a JSON object with name and arguments inside <tool_call></tool_call> tags.<|im_end|>\\n" }}
{%- else %}
{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- endif %}
{%- endif %}
{%- set ns = namespace(last_query=messages|length - 1) %}
{%- for message in messages[::-1] %}{%- if message.role == 'user' and ns.last_query == messages|length - 1 %}{%- set ns.last_query = messages|length - 1 - loop.index0 %}{%- endif %}{%- endfor %}
{%- for message in messages %}
  {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
    {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
  {%- elif message.role == "assistant" %}
    {{- '<|im_start|>' + message.role }}
    {%- if message.content %}{{- '\\n' + message.content | trim }}{%- endif %}
    {%- if message.tool_calls %}{%- for tool_call in message.tool_calls %}
      {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
      {{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}
    {%- endfor %}{%- endif %}
    {{- '<|im_end|>\\n' }}
  {%- elif message.role == "tool" %}
    {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}
    {{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
    {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}
  {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;

export const TOOLS = [{
  type: 'function',
  function: {
    name: 'get_weather', description: 'Weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city'] },
  },
}];
export const TOOL_CHAT = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
  { role: 'tool', content: '{"temp": 21}' },
  { role: 'assistant', content: 'It is 21 C.' },
  { role: 'user', content: 'Thanks' },
];

test('chat template: real-style templates still render (Qwen tools, Llama 3, Phi-3 from its GGUF)', { timeout: 10_000 }, () => {
  const out = renderChatTemplate(QWEN_STYLE, TOOL_CHAT as never, { addGenerationPrompt: true, extra: { tools: TOOLS } });
  assert.ok(out.startsWith('<|im_start|>system\nBe brief.\n\n# Tools\n\nYou may call one or more functions.\n<tools>\n{"type": "function", "function": {"name": "get_weather"'), out);
  assert.ok(out.includes('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response><|im_end|>\n'), out);
  assert.ok(out.endsWith('<|im_start|>user\nThanks<|im_end|>\n<|im_start|>assistant\n'), out);

  const llama3 = `{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}
{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}`;
  assert.equal(renderChatTemplate(llama3, msgs, { bosToken: '<|begin_of_text|>', addGenerationPrompt: true }),
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');

  const phiFile = path.join(DATA, 'llama-vocab/ggml-vocab-phi-3.gguf');
  const phi = tokenizerFromGGUF(parseGGUF(new Uint8Array(readFileSync(phiFile)), phiFile).metadata, phiFile);
  assert.equal(renderChatTemplate(phi.chatTemplate!, [{ role: 'user', content: 'Hi' }], { bosToken: phi.bosText }), '<s><|user|>\nHi<|end|>\n<|assistant|>\n');

  // A long conversation (2000 messages of 1 KB) is far inside the bounds.
  const long = Array.from({ length: 2000 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `${i} ${'w'.repeat(1024)}` }));
  assert.ok(renderChatTemplate(QWEN_STYLE, long, { extra: { tools: TOOLS } }).length > 2000 * 1024);
});

// ---- tokenizer.json regexes -------------------------------------------------------------------

const tj = (over: Record<string, unknown>): unknown => ({
  added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
  model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2, ' ': 3 }, merges: ['a b'] }, ...over,
});
const split = (Regex: string): unknown => tj({ pre_tokenizer: { type: 'Split', pattern: { Regex }, behavior: 'Isolated', invert: false } });
const replace = (Regex: string): unknown => tj({ normalizer: { type: 'Replace', pattern: { Regex }, content: ' ' } });
const sequence = (Regex: string): unknown => tj({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }, { type: 'Split', pattern: { Regex }, behavior: 'Removed', invert: false }] } });

const CATASTROPHIC = ['(a+)+$', '(a|a)*b', '(a*)*b', '(\\w+\\s?)+$', '(a?a?)*c', '(.*,)*x', '(?:\\s*[a-z]+)+x', '(x\\w+)+y', '^(([a-z])+.)+[A-Z]([a-z])+$', '(?=(a+)+$)', '(\\d+)\\1'];

test('tokenizer.json: catastrophic regexes are refused at load, naming the pattern and why', { timeout: 10_000 }, () => {
  for (const re of CATASTROPHIC) {
    for (const build of [split, replace, sequence]) {
      const t0 = performance.now();
      assert.throws(() => tokenizerFromJSON(build(re)), (e: unknown) => {
        assert.ok(e instanceof UnsafeRegexError, `${re}: expected UnsafeRegexError, got ${String(e)}`);
        assert.equal(e.code, 'E_REGEX_UNSAFE');
        assert.equal(e.pattern, re);
        assert.ok(e.message.startsWith(`regex ${JSON.stringify(re)} can backtrack exponentially (`), e.message);
        assert.match(e.message, /backreference|repetition|alternatives/);
        return true;
      });
      assert.ok(performance.now() - t0 < FAST_MS);
    }
  }
});

test('tokenizer.json: safe repetitions and the real pre-tokenizer patterns are accepted', { timeout: 20_000 }, () => {
  for (const re of ['(\\w+\\s)+', '(?:a|b)+', '(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+', '\\s+(?!\\S)|\\s+', '[^\\s]+', 'a{2,5}b*']) assertLinearRegex(re, translateOnigRegex(re));
  const hf = [
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    '\\w+|[^\\w\\s]+', '\\p{N}{1,3}', '[\\p{P}\\$\\+<=>\\^~\\|`]+',
  ];
  for (const re of hf) {
    const tok = tokenizerFromJSON(split(re));
    assert.ok(Array.isArray(tok.encode('ab ab')));
    tokenizerFromJSON(replace(re));
  }
  // Every regex llama.cpp's pre-tokenizers use passes the same analysis (regexSplit runs it on first use).
  let n = 0;
  for (const name of knownPreTokenizers()) {
    const exprs = preTokenizerByName(name, 'x.gguf').group.exprs;
    assert.ok(regexSplit("Hello world's 12345 \n\n  x", exprs).length > 0, name);
    n += exprs.length;
  }
  assert.ok(n > 40);
});

test('regex-split: superbpe digit triples in one pass, identical to the regex and linear in the run', { timeout: 20_000 }, () => {
  const expr = '(?=(\\d{3})+(?!\\d))';
  const re = /(?=(\d{3})+(?!\d))/gu;
  const viaRegex = (t: string): string[] => {
    const out: string[] = [];
    let prev = 0;
    for (const m of t.matchAll(re)) { if (m.index > prev) { out.push(t.slice(prev, m.index)); prev = m.index; } }
    if (prev < t.length) out.push(t.slice(prev));
    return out;
  };
  let x = 7;
  const alphabet = ['1', '2', '0', 'a', ' ', '٣', '9'];
  for (let k = 0; k < 500; k++) {
    let t = '';
    const len = k % 23;
    for (let i = 0; i < len; i++) { x = (x * 1103515245 + 12345) >>> 0; t += alphabet[(x >>> 16) % alphabet.length]; }
    assert.deepEqual(regexSplit(t, [expr]), viaRegex(t), JSON.stringify(t));
  }
  const t0 = performance.now();
  const pieces = regexSplit('1'.repeat(1_000_000), [expr]);
  assert.equal(pieces.length, 333_334);
  assert.ok(performance.now() - t0 < FAST_MS, `${(performance.now() - t0).toFixed(0)} ms for 1M digits`);
});

test('real patterns stay fast on long runs of one character (100k spaces, letters, digits, newlines)', { timeout: 60_000 }, () => {
  const runs = [' '.repeat(100_000), `${' '.repeat(100_000)}x`, 'a'.repeat(100_000), '1'.repeat(100_000), ' \n'.repeat(50_000), '!'.repeat(100_000)];
  for (const name of ['gpt-2', 'llama3', 'qwen2', 'superbpe', 'deepseek-llm', 'default']) {
    const exprs = preTokenizerByName(name, 'x.gguf').group.exprs;
    for (const t of runs) {
      const t0 = performance.now();
      regexSplit(t, exprs);
      const ms = performance.now() - t0;
      assert.ok(ms < FAST_MS, `${name}: ${ms.toFixed(0)} ms on ${JSON.stringify(t.slice(0, 4))}… x${t.length}`);
    }
  }
  const gpt2 = tokenizerFromJSON(tj({ pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true }, model: { type: 'BPE', vocab: { 'Ġ': 0, a: 1 }, merges: [] } }));
  for (const t of [' '.repeat(100_000), `${' '.repeat(100_000)}a`]) {
    const t0 = performance.now();
    gpt2.encode(t);
    assert.ok(performance.now() - t0 < FAST_MS);
  }
});
