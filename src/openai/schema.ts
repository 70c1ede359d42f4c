// Request validation (zod) for both endpoints, shared by the in-process engine and the HTTP server,
// so a bad field gives the same message either way: `messages[0].content: expected string ...`.
// Unknown fields are ignored, as OpenAI-compatible servers do; known OpenAI features that lutra
// does not implement (legacy functions, suffix, best_of) are refused, naming the field, rather than ignored.

import { z } from 'zod';
import { ArgumentError } from '../core/errors.js';
import { MAX_TOP_LOGPROBS } from '../runtime/logprobs.js';
import type { ChatCompletionCreateParams, CompletionCreateParams, EmbeddingCreateParams } from './types.js';

/** Most choices one request may ask for. */
export const MAX_N = 16;
/** Most stop strings one request may give. */
export const MAX_STOP = 16;
/** Most prompts in one completions request (an array of strings or of token-id arrays). */
export const MAX_PROMPTS = 64;
/** Most choices one request may produce: prompts x n. */
export const MAX_CHOICES = 64;
/** Most messages in one chat request. */
export const MAX_MESSAGES = 4096;
/** Longest token-id array accepted before validation (no context is this long). */
export const MAX_PROMPT_IDS = 1 << 20;

/** A request field is wrong: `param` is its path (`messages[0].content`), as OpenAI's errors name it. */
export class InvalidRequestError extends ArgumentError {
  constructor(readonly param: string | null, message: string, readonly errorCode: string | null = null) {
    super(param ? `${param}: ${message}` : message);
  }
}

const num = (min: number, max: number) => z.number().min(min).max(max).nullish();
const int = () => z.number().int();

const sampling = {
  max_tokens: int().min(1).nullish(),
  temperature: num(0, 2),
  top_p: z.number().gt(0, { error: 'expected a number > 0' }).max(1).nullish(),
  n: int().min(1).max(MAX_N).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(MAX_STOP)], { error: `expected a string or an array of at most ${MAX_STOP} strings` }).nullish(),
  seed: int().nullish(),
  logit_bias: z.record(z.string(), z.number().min(-100).max(100)).nullish(),
  frequency_penalty: num(-2, 2),
  presence_penalty: num(-2, 2),
  user: z.string().optional(),
  top_k: int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  repeat_penalty: z.number().gt(0, { error: 'expected a number > 0' }).optional(),
  repeat_last_n: int().min(-1).optional(),
  'speculative.n_max': int().min(0).max(64).optional(),
  'speculative.n_min': int().min(0).max(64).optional(),
  'speculative.p_min': z.number().min(0).max(1).optional(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  model: z.string().optional(),
};

const contentPart = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('image_url'), image_url: z.object({ url: z.string(), detail: z.enum(['auto', 'low', 'high']).optional() }) }),
], { error: "expected a content part {type: 'text', text} or {type: 'image_url', image_url: {url}}" });

/** Most tools one request may declare, and the longest GBNF text accepted. */
export const MAX_TOOLS = 128;
export const MAX_GRAMMAR_CHARS = 1 << 20;

const jsonSchema = z.record(z.string(), z.unknown(), { error: 'expected a JSON Schema object' });
const structured = {
  response_format: z.discriminatedUnion('type', [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      json_schema: z.object({ name: z.string(), description: z.string().optional(), schema: jsonSchema.optional(), strict: z.boolean().nullish() }),
    }),
  ], { error: "expected {type: 'text' | 'json_object' | 'json_schema'}" }).nullish(),
  grammar: z.string().max(MAX_GRAMMAR_CHARS).nullish(),
};

const toolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

// Content is required, as OpenAI requires it, except on an assistant turn that carries tool_calls.
const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.union([z.string(), z.array(contentPart)], { error: 'expected a string or an array of content parts' }).nullish(),
  name: z.string().optional(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().optional(),
}).superRefine((m, ctx) => {
  if (m.content == null && !(m.role === 'assistant' && m.tool_calls?.length)) {
    ctx.addIssue({ code: 'custom', path: ['content'], message: m.role === 'assistant' ? 'is required unless the message has tool_calls' : 'is required' });
  }
});

const tool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: 'expected 1-64 letters, digits, underscores or dashes' }),
    description: z.string().optional(),
    parameters: jsonSchema.optional(),
    strict: z.boolean().nullish(),
  }),
});

const chatSchema = z.object({
  ...sampling,
  ...structured,
  tools: z.array(tool).max(MAX_TOOLS).nullish(),
  tool_choice: z.union([
    z.enum(['none', 'auto', 'required']),
    z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) }),
  ], { error: "expected 'none', 'auto', 'required' or {type: 'function', function: {name}}" }).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
  messages: z.array(message).min(1, { error: 'expected at least one message' }).max(MAX_MESSAGES, { error: `expected at most ${MAX_MESSAGES} messages` }),
  max_completion_tokens: int().min(1).nullish(),
});

const tokenIds = z.array(int().min(0)).min(1).max(MAX_PROMPT_IDS);
const completionSchema = z.object({
  ...sampling,
  ...structured,
  prompt: z.union([z.string(), z.array(z.string()).min(1).max(MAX_PROMPTS), tokenIds, z.array(tokenIds).min(1).max(MAX_PROMPTS)], {
    error: 'expected a string, an array of strings, an array of token ids or an array of arrays of token ids',
  }),
  echo: z.boolean().nullish(),
  logprobs: int().min(0).max(MAX_TOP_LOGPROBS).nullish(),
});

/** Most inputs in one embeddings request. */
export const MAX_EMBEDDING_INPUTS = 256;

const embeddingSchema = z.object({
  input: z.union([z.string(), z.array(z.string()).min(1).max(MAX_EMBEDDING_INPUTS), tokenIds, z.array(tokenIds).min(1).max(MAX_EMBEDDING_INPUTS)], {
    error: `expected a string, an array of at most ${MAX_EMBEDDING_INPUTS} strings, an array of token ids or an array of arrays of token ids`,
  }),
  model: z.string().optional(),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: int().min(1).nullish(),
  user: z.string().optional(),
});

/** Fields of OpenAI's API that lutra does not implement; refused so that nobody relies on them silently. */
const UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  functions: (v) => v != null,
  function_call: (v) => v != null && v !== 'none',
  suffix: (v) => v != null && v !== '',
  best_of: (v) => v != null && v !== 1,
};

/** Chat-only fields sent to the completions endpoint, which has no tools (OpenAI's legacy API has none). */
const COMPLETION_UNSUPPORTED: Record<string, (v: unknown) => boolean> = {
  tools: (v) => (Array.isArray(v) ? v.length > 0 : v != null),
  tool_choice: (v) => v != null && v !== 'none',
};

function pathString(path: PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

/**
 * Refuse oversized arrays before the schema walks them element by element: a 4 MiB body of token ids
 * is two million numbers, and n multiplies the work of every prompt.
 */
function precheckSizes(body: Record<string, unknown>): void {
  const prompt = body.prompt;
  if (Array.isArray(prompt)) {
    const nested = prompt.length > 0 && typeof prompt[0] !== 'number';
    if (nested && prompt.length > MAX_PROMPTS) {
      throw new InvalidRequestError('prompt', `has ${prompt.length} prompts; at most ${MAX_PROMPTS} are accepted in one request`, 'too_many_prompts');
    }
    const arrays = nested ? prompt : [prompt];
    arrays.forEach((a, i) => {
      if (Array.isArray(a) && a.length > MAX_PROMPT_IDS) {
        throw new InvalidRequestError(nested ? `prompt[${i}]` : 'prompt', `has ${a.length} token ids; at most ${MAX_PROMPT_IDS} are accepted`, 'context_length_exceeded');
      }
    });
    const n = typeof body.n === 'number' ? body.n : 1;
    if (nested && prompt.length * n > MAX_CHOICES) {
      throw new InvalidRequestError('n', `${prompt.length} prompts x n=${n} asks for ${prompt.length * n} choices; at most ${MAX_CHOICES} are accepted in one request`, 'too_many_choices');
    }
  }
  if (Array.isArray(body.messages) && body.messages.length > MAX_MESSAGES) {
    throw new InvalidRequestError('messages', `has ${body.messages.length} messages; at most ${MAX_MESSAGES} are accepted`, 'too_many_messages');
  }
}

function parse<T>(schema: z.ZodType, body: unknown, what: string, unsupported = UNSUPPORTED): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new InvalidRequestError(null, `the ${what} request body must be a JSON object`);
  for (const [k, bad] of Object.entries(unsupported)) {
    if (k in body && bad((body as Record<string, unknown>)[k])) throw new InvalidRequestError(k, 'is not supported by lutra', 'unsupported_parameter');
  }
  precheckSizes(body as Record<string, unknown>);
  const r = schema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const param = pathString(issue.path);
    let value: unknown = body;
    for (const k of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
    if (value === undefined) throw new InvalidRequestError(param || null, 'is required', 'missing_required_parameter');
    throw new InvalidRequestError(param || null, issue.message.replace(/^Invalid input: /, ''), 'invalid_value');
  }
  return r.data as T;
}

export function parseChatRequest(body: unknown): ChatCompletionCreateParams {
  const p = parse<ChatCompletionCreateParams>(chatSchema, body, 'chat completion');
  if (p.top_logprobs != null && p.logprobs !== true) throw new InvalidRequestError('top_logprobs', 'needs logprobs: true');
  return p;
}

export function parseCompletionRequest(body: unknown): CompletionCreateParams {
  const p = parse<CompletionCreateParams>(completionSchema, body, 'completion', { ...UNSUPPORTED, ...COMPLETION_UNSUPPORTED });
  // The prompt's own log-probabilities (OpenAI's echo + logprobs) are not computed.
  if (p.echo && p.logprobs != null) throw new InvalidRequestError('logprobs', 'is not supported together with echo', 'unsupported_parameter');
  return p;
}

export function parseEmbeddingRequest(body: unknown): EmbeddingCreateParams {
  if (body && typeof body === 'object' && Array.isArray((body as { input?: unknown }).input)) {
    const input = (body as { input: unknown[] }).input;
    if (input.length > MAX_EMBEDDING_INPUTS && typeof input[0] !== 'number') {
      throw new InvalidRequestError('input', `has ${input.length} inputs; at most ${MAX_EMBEDDING_INPUTS} are accepted in one request`, 'too_many_inputs');
    }
    const arrays = typeof input[0] === 'number' ? [input] : input;
    arrays.forEach((a, i) => {
      if (Array.isArray(a) && a.length > MAX_PROMPT_IDS) throw new InvalidRequestError(arrays === input ? `input[${i}]` : 'input', `has ${a.length} token ids; at most ${MAX_PROMPT_IDS} are accepted`, 'context_length_exceeded');
    });
  }
  return parse<EmbeddingCreateParams>(embeddingSchema, body, 'embeddings', {});
}
