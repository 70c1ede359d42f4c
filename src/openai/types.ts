// OpenAI's request and response shapes for chat and text completions, as lutra serves them (the
// same JSON in-process and over HTTP). Field names are OpenAI's snake_case on purpose: a body that
// works against api.openai.com works here. Not the validation: that is schema.ts.

export type Role = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

export interface ChatCompletionMessageParam {
  role: Role;
  /** A string, or OpenAI's array of content parts: text, and images where the engine has a projector (EngineOptions.mmproj). */
  content?: string | ChatContentPart[] | null;
  name?: string;
  /** An assistant turn's calls, given back with the tools' results. */
  tool_calls?: ChatCompletionMessageToolCall[] | null;
  /** A `tool` turn: the call it answers. */
  tool_call_id?: string;
}

/** One content part: text, or an image as a data: URL or an http(s) URL (`detail` is accepted and ignored). */
export type ChatContentPart =
  | { type: 'text'; text: string }
  | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } };

/** A function the model may call; `parameters` is a JSON Schema. */
export interface ChatTool {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type ToolChoice = 'none' | 'auto' | 'required' | { type: 'function'; function: { name: string } };

export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  /** `arguments` is JSON text. */
  function: { name: string; arguments: string };
}

/** A streamed piece of a call: the first has id, type and name; later ones add to `arguments`. */
export interface ChatCompletionChunkToolCall {
  index: number;
  id?: string;
  type?: 'function';
  function: { name?: string; arguments: string };
}

export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; json_schema: { name: string; description?: string; schema?: Record<string, unknown>; strict?: boolean | null } };

/** Structured output, on both endpoints; `grammar` is lutra's (llama.cpp's) GBNF extension. */
export interface StructuredParams {
  response_format?: ResponseFormat | null;
  /** lutra: GBNF text the output must match (root rule `root`). */
  grammar?: string | null;
}

/** Sampling fields shared by both endpoints; the last group is lutra's own (llama.cpp's names). */
export interface SamplingParams {
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stop?: string | string[] | null;
  seed?: number | null;
  /** Token id (as a string key) -> bias added to its logit; -100 bans the token. */
  logit_bias?: Record<string, number> | null;
  frequency_penalty?: number | null;
  presence_penalty?: number | null;
  user?: string;
  /** lutra: top-k (0 = off). */
  top_k?: number;
  /** lutra: min-p. */
  min_p?: number;
  /** lutra: repetition penalty (1 = off). */
  repeat_penalty?: number;
  /** lutra: how many recent tokens the penalties look at (-1 = the whole context). */
  repeat_last_n?: number;
  /**
   * llama-server's per-request speculative settings, for a server started with a drafter (ignored
   * without one): most tokens drafted per step (0: plain decoding for this request), fewest worth
   * verifying, and the draft model's confidence below which it stops drafting.
   */
  'speculative.n_max'?: number;
  'speculative.n_min'?: number;
  'speculative.p_min'?: number;
}

/** One token's log-probability as chat completions give it: its text, UTF-8 bytes and the most likely alternatives. */
export interface ChatCompletionTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

export interface ChatChoiceLogprobs {
  content: ChatCompletionTokenLogprob[] | null;
  refusal: null;
}

/** The legacy completions shape: parallel arrays, text_offset in characters of the choice's text. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export interface StreamOptions {
  /** Send one last chunk with `usage` and no choices. */
  include_usage?: boolean;
}

export interface ChatCompletionCreateParams extends SamplingParams, StructuredParams {
  /** Ignored beyond being echoed back: an engine serves one model. */
  model?: string;
  messages: ChatCompletionMessageParam[];
  /** OpenAI's newer name for max_tokens. */
  max_completion_tokens?: number | null;
  stream?: boolean | null;
  stream_options?: StreamOptions | null;
  tools?: ChatTool[] | null;
  tool_choice?: ToolChoice | null;
  parallel_tool_calls?: boolean | null;
  /** Give each content token's log-probability (the model's, at temperature 1 after logit_bias). */
  logprobs?: boolean | null;
  /** Also this many most likely alternatives per token (0..20; needs logprobs: true). */
  top_logprobs?: number | null;
}

export interface CompletionCreateParams extends SamplingParams, StructuredParams {
  model?: string;
  /** Text, several texts (one completion each), token ids, or several lists of token ids. */
  prompt: string | string[] | number[] | number[][];
  /** Prepend the prompt to each completion's text. */
  echo?: boolean | null;
  /** Give each token's log-probability and this many most likely alternatives (0..20). */
  logprobs?: number | null;
  stream?: boolean | null;
  stream_options?: StreamOptions | null;
}

export interface EmbeddingCreateParams {
  /** A text, several texts, token ids, or several lists of token ids: one embedding each. */
  input: string | string[] | number[] | number[][];
  model?: string;
  /** `float` (default): arrays of numbers; `base64`: each vector's float32 little-endian bytes. */
  encoding_format?: 'float' | 'base64' | null;
  /** Accepted only when it equals the model's embedding size (lutra does not truncate). */
  dimensions?: number | null;
  user?: string;
}

export interface Embedding {
  object: 'embedding';
  index: number;
  /** Unit length (L2-normalized); base64 text with encoding_format base64. */
  embedding: number[] | string;
}

export interface CreateEmbeddingResponse {
  object: 'list';
  data: Embedding[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** How many prompt tokens came from a kept KV cache instead of being recomputed. */
  prompt_tokens_details: { cached_tokens: number };
}

/**
 * llama-server's `timings` (an extension OpenAI's clients pass through): prompt tokens computed and
 * generated tokens with their times, and with speculative decoding the draft tokens proposed
 * (draft_n) and accepted (draft_n_accepted). On a response: summed over its choices; on a stream:
 * each choice's own, on its finishing chunk.
 */
export interface ResponseTimings {
  prompt_n: number;
  prompt_ms: number;
  prompt_per_token_ms: number;
  prompt_per_second: number;
  predicted_n: number;
  predicted_ms: number;
  predicted_per_token_ms: number;
  predicted_per_second: number;
  draft_n?: number;
  draft_n_accepted?: number;
  /**
   * A chat with images: per image in prompt order, its slices, the embeddings it put in the prompt
   * and the milliseconds its encoding took (near 0 when its slices came from the image cache).
   */
  images?: { slices: number; tokens: number; encode_ms: number }[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string | null; refusal: null; tool_calls?: ChatCompletionMessageToolCall[] };
    logprobs: ChatChoiceLogprobs | null;
    finish_reason: FinishReason;
  }[];
  usage: CompletionUsage;
  timings?: ResponseTimings;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string | null; tool_calls?: ChatCompletionChunkToolCall[] };
    logprobs: ChatChoiceLogprobs | null;
    finish_reason: FinishReason | null;
  }[];
  /** Only on the last chunk when `stream_options.include_usage` is set (with no choices). */
  usage?: CompletionUsage | null;
  /** On a choice's finishing chunk. */
  timings?: ResponseTimings;
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: { index: number; text: string; logprobs: CompletionLogprobs | null; finish_reason: FinishReason | null }[];
  usage?: CompletionUsage | null;
  timings?: ResponseTimings;
}

/** A streamed completion: an async iterable of chunks; `controller.abort()` stops it. */
export interface Stream<T> extends AsyncIterable<T> {
  readonly controller: AbortController;
}

export interface RequestOptions {
  /** Cancels the request, whether waiting for a slot or generating. */
  signal?: AbortSignal;
  /**
   * Who is asking (an opaque identity; the server uses the peer address and key). With the engine's
   * default `cacheReuse: 'client'`, cached prompt prefixes are reused only within one client.
   */
  client?: string;
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}
