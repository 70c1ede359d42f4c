// The OpenAI-shaped engine: `createEngine({ model })` then `engine.chat.completions.create(...)` and
// `engine.completions.create(...)` with OpenAI's request and response objects, streaming as an
// AsyncIterable of chunk objects. One model, a pool of `parallel` contexts allocated up front, a
// bounded queue in front of them. The HTTP server (server/) is a thin layer over this; so is the
// browser page. Not the sampling or the generate loop: those are runtime/.

import { AbortError, LutraError } from '../core/errors.js';
import type { BackendName, LutTables, MatmulKernels } from '../kernels/index.js';
import { loadModel, Model, type LoadOptions, type LoadProgress, type ModelInput } from '../runtime/model.js';
import type { GenerateChunk, GenerateOptions, StopReason, Timings } from '../runtime/generate.js';
import { checkSpeculativeFor, type SpeculativeOptions } from '../runtime/speculative.js';
import type { TokenLogprob } from '../runtime/logprobs.js';
import type { Context } from '../runtime/context.js';
import type { KVCacheSpec } from '../runtime/kv/index.js';
import type { SamplingOptions } from '../runtime/sampler.js';
import { renderChatTemplate, resolveChatTemplate, type ResolvedChatTemplate } from '../tokenizer/index.js';
import type { Grammar, LazyGrammar } from '../grammar/index.js';
import { planStructured, templateMessages, ToolCallSplitter, withTools, parseToolCalls, type PlanContext, type StructuredPlan } from './tools/index.js';
import { ChatSession, type ChatSessionOptions } from './chat-session.js';
import { defaultChatMaxTokens, shiftConversation, type ShiftedConversation } from './context-shift.js';
import { InvalidRequestError, parseChatRequest, parseCompletionRequest, parseEmbeddingRequest } from './schema.js';
import { embedTokens } from '../runtime/embed.js';
import { CACHE_REUSE_MODES, SlotPool, type CacheReuse } from './slots.js';
import { MAX_CHOICES } from './schema.js';
import { EngineVision, encodeImageChat, hasImageParts, MEDIA_MARKER, type EngineImageOptions } from './vision-chat.js';
import { generateWithImages, type EncodedPrompt } from '../runtime/vision.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam, Completion,
  CompletionCreateParams, CompletionUsage, FinishReason, ModelObject, RequestOptions, SamplingParams, Stream, ChatTool, ChatCompletionMessageToolCall,
  ChatChoiceLogprobs, ChatCompletionTokenLogprob, CompletionLogprobs, CreateEmbeddingResponse, EmbeddingCreateParams, ResponseTimings,
} from './types.js';

/**
 * Speculative decoding for every request (runtime/speculative.ts): a draft model (a path, URL, bytes
 * or a Model with the same vocabulary; loaded with the engine's kernel options and disposed with the
 * engine when given as a path), the model's own first `layers`, or prompt `lookup`; nDraft, nDraftMin,
 * pMin, and an FR-Spec ranking (`frSpec`, token ids most frequent first) with frSpecTokens.
 */
export type EngineSpeculativeOptions = Omit<SpeculativeOptions, 'draft' | 'acceptRule'> & { draft?: ModelInput | Model };

export interface EngineOptions {
  /** A path (Node.js), URL, GGUF bytes, Blob / File, or a Model already loaded (the engine then does not dispose it). */
  model: ModelInput | Model;
  /** Threads for the WebAssembly kernels (default: theirs). */
  threads?: number;
  backend?: BackendName;
  /** Matrix kernels for 1-4-bit formats (table lookup, dequantize, or the measured rule) and LUT table precision. */
  kernels?: MatmulKernels;
  lutTables?: LutTables;
  onProgress?: (p: LoadProgress) => void;
  /** Cancels loading. */
  signal?: AbortSignal;
  /** Context size of each slot in tokens (default: the model's, at most 4096). */
  ctx?: number;
  /** KV cache of each slot (the CLI's --cache-type-k/-v, --minicache; default: the model's). */
  cacheType?: KVCacheSpec;
  /** Sequences generated at once; each gets a context of `ctx` tokens, allocated now (default 1). */
  parallel?: number;
  /** Requests that may wait for a slot before create() throws QueueFullError (default unbounded). */
  maxQueue?: number;
  /** The model id in responses (default: the file name without .gguf). */
  name?: string;
  /** Who may reuse whose cached prompt prefix (default `client`: see RequestOptions.client). */
  cacheReuse?: CacheReuse;
  /**
   * Most tokens one request may cost: its prompts' tokens plus n x max_tokens for each prompt
   * (default 16 contexts' worth, what n = 16 choices over a full context needs).
   */
  maxRequestTokens?: number;
  /**
   * The chat template: a built-in's name (chatml, llama-3, qwen3, ...: see BUILTIN_CHAT_TEMPLATES) or
   * Jinja source; it wins over the model's own. Default: the model's, else ChatML (then
   * `engine.chatTemplate.source` is 'fallback').
   */
  chatTemplate?: string;
  /**
   * When a chat's prompt plus max_tokens does not fit the context, drop its oldest turns (keeping
   * the system messages) instead of refusing with context_length_exceeded (default false).
   */
  contextShift?: boolean;
  /** Speculative decoding for every request (greedy output unchanged, sampled output distributed as without it). */
  speculative?: EngineSpeculativeOptions;
  /** A projector (mmproj) GGUF: chats may then carry `image_url` parts. */
  mmproj?: string | Uint8Array;
  /** Limits on those images (data URLs only unless allowRemote; bytes, fetch deadline, images kept). */
  images?: EngineImageOptions;
}

/** Temperature when a request sets none: the CLI's, the chat page's and llama.cpp's 0.8 (OpenAI's API says 1). */
export const DEFAULT_TEMPERATURE = 0.8;

/** Everything one request needs once validated: token ids and sampling, no more JSON. */
export interface Job {
  prompts: number[][];
  /** Text to put before each prompt's completions (completions `echo`). */
  echo?: string[];
  n: number;
  maxTokens: number;
  stop: string[];
  seed: number;
  sampling: SamplingOptions;
  /** Every choice's output matches this grammar (response_format, tools, grammar); lazily for tool_choice auto. */
  grammar?: Grammar | LazyGrammar;
  /** Chat replies are read for tool calls (StructuredPlan.tools). */
  tools?: StructuredPlan['tools'];
  /** Give each token's log-probability and this many alternatives (requests' logprobs / top_logprobs). */
  logprobs?: number;
  /** The request's own speculative settings (speculative.n_max / n_min / p_min); nDraft 0: none. */
  speculative?: { nDraft?: number; nDraftMin?: number; pMin?: number };
  /** A chat with images: prompts[0] with the images' rows (decoded in place of its placeholder ids). */
  images?: EncodedPrompt;
}

/** What a job yields, in order per choice: text pieces, then its finish; `usage` last. */
export type JobEvent =
  | { choice: number; text: string; logprob?: TokenLogprob }
  | { choice: number; finish: FinishReason; timings: ResponseTimings }
  | { usage: CompletionUsage; timings: ResponseTimings };

/** Runtime timings in llama-server's shape, summed over choices (prompt_n: prompt tokens computed, not cached). */
export function responseTimings(list: readonly Timings[]): ResponseTimings {
  let promptN = 0, promptMs = 0, n = 0, ms = 0, drafted = 0, accepted = 0, spec = false;
  for (const t of list) {
    promptN += t.promptTokens - t.cachedTokens; promptMs += t.promptMs; n += t.generatedTokens; ms += t.generateMs;
    if (t.speculative) { spec = true; drafted += t.speculative.drafted; accepted += t.speculative.accepted; }
  }
  return {
    prompt_n: promptN, prompt_ms: promptMs, prompt_per_token_ms: promptN ? promptMs / promptN : 0, prompt_per_second: promptMs > 0 ? (1000 * promptN) / promptMs : 0,
    predicted_n: n, predicted_ms: ms, predicted_per_token_ms: n ? ms / n : 0, predicted_per_second: ms > 0 ? (1000 * n) / ms : 0,
    ...(spec ? { draft_n: drafted, draft_n_accepted: accepted } : {}),
  };
}

/** The images' encode times on a response's timings (each image once, on the first choice's). */
function imageTimings(t: ResponseTimings, images: EncodedPrompt | undefined): ResponseTimings {
  return images?.images.length ? { ...t, images: images.images.map((im) => ({ slices: im.slices, tokens: im.tokens, encode_ms: im.ms })) } : t;
}

interface RunningJob { parked: boolean; settled: Promise<void> }

const utf8 = new TextDecoder();

const finishReason = (r: StopReason): FinishReason => (r === 'eos' || r === 'stop' ? 'stop' : 'length');

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

let idCounter = 0;
function newId(prefix: string): string {
  const rand = Math.floor(Math.random() * 2 ** 32).toString(36);
  return `${prefix}-${Date.now().toString(36)}${rand}${(idCounter++).toString(36)}`;
}

function contentText(m: ChatCompletionMessageParam): string {
  if (m.content == null) return '';
  if (typeof m.content === 'string') return m.content;
  return m.content.map((p) => (p.type === 'text' ? p.text : MEDIA_MARKER)).join('');
}

/** Wrap a generator factory as a single-use Stream with its own AbortController. */
export function makeStream<T>(run: (signal: AbortSignal) => AsyncGenerator<T>, signals: (AbortSignal | undefined)[]): Stream<T> {
  const controller = new AbortController();
  let used = false;
  return {
    controller,
    [Symbol.asyncIterator]() {
      if (used) throw new LutraError('E_STREAM_USED', 'a completion stream can be iterated only once');
      used = true;
      return run(AbortSignal.any([controller.signal, ...signals.filter((s): s is AbortSignal => !!s)]));
    },
  };
}

export class Engine {
  readonly id: string;
  readonly created = Math.floor(Date.now() / 1000);
  readonly pool: SlotPool;
  private readonly closing = new AbortController();
  private readonly running = new Set<RunningJob>();
  private disposed = false;

  readonly chat = {
    completions: {
      create: ((body: ChatCompletionCreateParams, opts?: RequestOptions) => this.createChat(body, opts)) as {
        (body: ChatCompletionCreateParams & { stream: true }, opts?: RequestOptions): Promise<Stream<ChatCompletionChunk>>;
        (body: ChatCompletionCreateParams & { stream?: false | null }, opts?: RequestOptions): Promise<ChatCompletion>;
        (body: ChatCompletionCreateParams, opts?: RequestOptions): Promise<ChatCompletion | Stream<ChatCompletionChunk>>;
      },
    },
  };

  readonly completions = {
    create: ((body: CompletionCreateParams, opts?: RequestOptions) => this.createCompletion(body, opts)) as {
      (body: CompletionCreateParams & { stream: true }, opts?: RequestOptions): Promise<Stream<Completion>>;
      (body: CompletionCreateParams & { stream?: false | null }, opts?: RequestOptions): Promise<Completion>;
      (body: CompletionCreateParams, opts?: RequestOptions): Promise<Completion | Stream<Completion>>;
    },
  };

  readonly embeddings = {
    /** OpenAI's embeddings.create: unit-length vectors, pooled as the model says (Model.pooling). */
    create: (body: EmbeddingCreateParams, opts?: RequestOptions): Promise<CreateEmbeddingResponse> => this.createEmbeddings(body, opts),
  };

  readonly models = {
    list: async (): Promise<{ object: 'list'; data: ModelObject[] }> => ({ object: 'list', data: [this.modelObject()] }),
  };

  /** Most tokens one request may cost (prompts + n x max_tokens). */
  readonly maxRequestTokens: number;
  /** The template chats render with, and where it came from ('fallback': the model has none, ChatML is used). */
  readonly chatTemplate: ResolvedChatTemplate;
  /** Chats that outgrow the context drop their oldest turns (EngineOptions.contextShift). */
  readonly contextShift: boolean;

  /** What every request drafts with (EngineOptions.speculative), the draft model loaded. */
  readonly speculative: SpeculativeOptions | undefined;
  /** A draft model the engine loaded, disposed with it. */
  private readonly ownedDraft: Model | undefined;
  /** The projector and image cache (EngineOptions.mmproj), disposed with the engine. */
  readonly vision: EngineVision | undefined;

  constructor(readonly model: Model, contexts: Context[], maxQueue: number, name: string | undefined, private readonly ownsModel: boolean,
    limits: { cacheReuse?: CacheReuse; maxRequestTokens?: number; chatTemplate?: string; contextShift?: boolean; speculative?: SpeculativeOptions; ownedDraft?: Model; vision?: EngineVision } = {}) {
    this.speculative = limits.speculative;
    this.vision = limits.vision;
    this.ownedDraft = limits.ownedDraft;
    this.id = name ?? (model.file.split(/[\\/]/).pop() || 'model').replace(/\.gguf$/i, '');
    this.pool = new SlotPool(contexts, maxQueue, limits.cacheReuse ?? 'client');
    this.maxRequestTokens = limits.maxRequestTokens ?? 16 * contexts[0]!.nCtx;
    this.chatTemplate = limits.chatTemplate === undefined ? model.chatTemplate : resolveChatTemplate(model.tokenizer.chatTemplate, limits.chatTemplate);
    this.contextShift = limits.contextShift ?? false;
  }

  /** 'fallback' when the model has no chat template and none was chosen (chats then use ChatML). */
  get templateSource(): ResolvedChatTemplate['source'] { return this.chatTemplate.source; }

  /** The context size of each slot. */
  get nCtx(): number { return this.pool.contexts[0]!.nCtx; }

  /** Slots and queue right now (the server's /health). */
  stats(): { slots: number; busy: number; queued: number } {
    return { slots: this.pool.size, busy: this.pool.busy, queued: this.pool.queued };
  }

  modelObject(): ModelObject {
    return { id: this.id, object: 'model', created: this.created, owned_by: 'lutra' };
  }

  private check(): void {
    if (this.disposed) throw new LutraError('E_DISPOSED', `engine ${this.id} has been disposed`);
  }

  /** A conversation that keeps its own KV cache, so each turn only processes the new tokens. */
  createChatSession(opts: ChatSessionOptions = {}): ChatSession {
    this.check();
    return new ChatSession(this, opts);
  }

  private maxTokenChars?: number;

  /**
   * Refuse text that cannot fit the context before tokenizing it (tokenizing is synchronous: a 4 MiB
   * prompt would hold the server's thread for a second just to find out it is too long). No token
   * covers more than the longest vocabulary piece, so more characters than nCtx x that (with a 2x
   * margin for normalizers that shrink text) can only be more tokens than the context holds.
   */
  checkTextFits(chars: number, param: string, nCtx = this.nCtx): void {
    const limit = this.textLimit(nCtx);
    if (chars > limit) {
      throw new InvalidRequestError(param, `the text has ${chars} characters, more than the context of ${nCtx} tokens can hold (at most ${limit} characters)`, 'context_length_exceeded');
    }
  }

  private textLimit(nCtx: number): number {
    if (this.maxTokenChars === undefined) {
      const tok = this.model.tokenizer;
      let m = 1;
      for (let id = 0; id < tok.vocabSize; id++) m = Math.max(m, tok.tokenText(id).length);
      this.maxTokenChars = m;
    }
    return 2 * nCtx * this.maxTokenChars + 64;
  }

  /** Render chat messages with the engine's template (or `template`) and tokenize them. */
  chatPromptTokens(messages: ChatCompletionMessageParam[], template: ResolvedChatTemplate = this.chatTemplate, nCtx = this.nCtx, tools?: ChatTool[]): number[] {
    if (hasImageParts(messages)) throw new InvalidRequestError('messages', 'image_url parts need the image path (chat.completions.create or a chat session), not prompt tokens');
    const text = this.chatPromptText(messages, template, nCtx, tools);
    // Templates that write bos_token themselves must not get a second one from the tokenizer.
    const bos = this.model.tokenizer.bosText;
    return this.model.tokenize(text, { addSpecial: !(bos && text.startsWith(bos)), parseSpecial: true });
  }

  /** The rendered chat (image parts as MEDIA_MARKER). */
  chatPromptText(messages: ChatCompletionMessageParam[], template: ResolvedChatTemplate = this.chatTemplate, nCtx = this.nCtx, tools?: ChatTool[]): string {
    this.checkTextFits(messages.reduce((n, m) => n + contentText(m).length, 0), 'messages', nCtx);
    const tok = this.model.tokenizer;
    // Tool calls and results go back in the fields templates read; the tools as `tools` (or a system prompt).
    const t = withTools(templateMessages(messages, template.template, contentText), template.template, tools);
    return renderChatTemplate(
      template.template,
      t.messages,
      { addGenerationPrompt: true, bosToken: tok.bosText, eosToken: tok.eosText, name: template.name, extra: t.extra },
    );
  }

  /**
   * A chat's prompt tokens with its oldest turns dropped until they fit with `reserve` tokens of
   * reply in a context of `nCtx` (see context-shift.ts); `dropped` says how many messages went.
   */
  fitChat<M extends ChatCompletionMessageParam>(messages: M[], reserve: number, nCtx = this.nCtx, template = this.chatTemplate, tools?: ChatTool[]): ShiftedConversation<M> & { tokens: number[] } {
    const limit = this.textLimit(nCtx);
    const r = shiftConversation(
      messages,
      (m) => (m.reduce((n, x) => n + contentText(x).length, 0) > limit ? undefined : this.chatPromptTokens(m, template, nCtx, tools)),
      (ids) => ids.length < nCtx && ids.length + reserve <= nCtx,
    );
    // Nothing short enough: render what was kept anyway, so the caller gets the length error that names it.
    return { ...r, tokens: r.tokens ?? this.chatPromptTokens(r.messages, template, nCtx, tools) };
  }

  /** Validate what both endpoints share and turn it into a Job (prompts already tokenized; `nCtx`: a chat session's own context). */
  makeJob(p: SamplingParams & { max_completion_tokens?: number | null; logprobs?: boolean | number | null; top_logprobs?: number | null }, prompts: number[][], defaultMax: number, promptParam: string, nCtx = this.nCtx): Job {
    const nVocab = this.model.hparams.nVocab;
    const bias: Record<number, number> = {};
    for (const [k, v] of Object.entries(p.logit_bias ?? {})) {
      if (!/^\d+$/.test(k)) throw new InvalidRequestError(`logit_bias.${k}`, 'keys must be token ids (non-negative integers)');
      const id = Number(k);
      if (id >= nVocab) throw new InvalidRequestError(`logit_bias.${k}`, `token id ${k} is outside the vocabulary (0..${nVocab - 1})`);
      bias[id] = v;
    }
    const maxTokens = p.max_completion_tokens ?? p.max_tokens ?? null;
    prompts.forEach((ids, i) => {
      const param = prompts.length > 1 ? `${promptParam}[${i}]` : promptParam;
      if (ids.length === 0) throw new InvalidRequestError(param, 'the prompt has no tokens');
      for (const id of ids) if (id >= nVocab) throw new InvalidRequestError(param, `token id ${id} is outside the vocabulary (0..${nVocab - 1})`);
      if (ids.length >= nCtx) {
        throw new InvalidRequestError(param, `the prompt has ${ids.length} tokens, which does not fit the context of ${nCtx} tokens`, 'context_length_exceeded');
      }
      if (maxTokens !== null && ids.length + maxTokens > nCtx) {
        throw new InvalidRequestError(p.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens',
          `the prompt (${ids.length} tokens) plus max_tokens (${maxTokens}) exceed the context of ${nCtx} tokens`, 'context_length_exceeded');
      }
    });
    const n = p.n ?? 1;
    if (prompts.length * n > MAX_CHOICES) {
      throw new InvalidRequestError('n', `${prompts.length} prompts x n=${n} asks for ${prompts.length * n} choices; at most ${MAX_CHOICES} are accepted in one request`, 'too_many_choices');
    }
    // What the request may cost in tokens, counted before anything runs: each prompt once (its n
    // choices reuse its cache) plus every choice's budget (until the context is full when unset).
    let cost = 0;
    for (const ids of prompts) cost += ids.length + n * (maxTokens ?? (defaultMax === -1 ? nCtx - ids.length : Math.min(defaultMax, nCtx - ids.length)));
    if (cost > this.maxRequestTokens) {
      throw new InvalidRequestError(maxTokens !== null ? (p.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens') : 'n',
        `the request may cost ${cost} tokens (prompts plus n x max_tokens); this server accepts at most ${this.maxRequestTokens} per request`, 'request_too_large');
    }
    const stop = p.stop == null ? [] : typeof p.stop === 'string' ? [p.stop] : p.stop;
    return {
      prompts,
      n,
      logprobs: typeof p.logprobs === 'number' ? p.logprobs : p.logprobs === true ? (p.top_logprobs ?? 0) : undefined,
      maxTokens: maxTokens ?? defaultMax,
      stop: stop.filter((s) => s.length > 0),
      seed: p.seed ?? Math.floor(Math.random() * 2 ** 32),
      speculative: { nDraft: p['speculative.n_max'], nDraftMin: p['speculative.n_min'], pMin: p['speculative.p_min'] },
      sampling: {
        temperature: p.temperature ?? DEFAULT_TEMPERATURE,
        topP: p.top_p ?? undefined,
        topK: p.top_k,
        minP: p.min_p,
        repeatPenalty: p.repeat_penalty,
        repeatLastN: p.repeat_last_n,
        frequencyPenalty: p.frequency_penalty ?? undefined,
        presencePenalty: p.presence_penalty ?? undefined,
        logitBias: bias,
      },
    };
  }

  /**
   * Run a job: wait for a slot (or use `context`), then generate each prompt's n choices in turn
   * (choice = prompt * n + j, seeded seed + choice). The slot is released as soon as the
   * generator finishes, throws, or is closed by its consumer.
   */
  async *runJob(job: Job, signal: AbortSignal, context?: Context, client?: string): AsyncGenerator<JobEvent> {
    this.check();
    const slot = context ? undefined : await this.pool.acquire(job.prompts[0]!, signal, client);
    const ctx = context ?? slot!.context;
    let done!: () => void;
    const state: RunningJob = { parked: false, settled: new Promise<void>((r) => { done = r; }) };
    this.running.add(state);
    // Parked at a yield, a job waits for its consumer and computes nothing (dispose need not wait for it).
    const emit = function* (e: JobEvent) { state.parked = true; yield e; state.parked = false; };
    try {
      let promptTokens = 0, completionTokens = 0, cached = 0;
      const timings: Timings[] = [];
      for (let p = 0; p < job.prompts.length; p++) {
        const ids = job.prompts[p]!;
        promptTokens += ids.length;
        for (let j = 0; j < job.n; j++) {
          const choice = p * job.n + j;
          // Each choice gives the event loop a turn, however short it is (max_tokens 1 x 64
          // choices must not hold /health, disconnects and signals until the end).
          await yieldToEventLoop();
          if (signal.aborted) throw new AbortError();
          if (job.echo) yield* emit({ choice, text: job.echo[p]! });
          const genOpts: GenerateOptions & { context?: Context } = {
            ...job.sampling, seed: (job.seed + choice) >>> 0, maxTokens: job.maxTokens, stop: job.stop, signal, context: ctx,
            grammar: job.grammar, special: job.tools ? true : undefined, logprobs: job.logprobs, speculative: this.speculativeFor(job),
          };
          const gen = job.images ? generateWithImages(this.model, ctx, job.images, genOpts) : this.model.generate(ids, genOpts);
          let last: Extract<GenerateChunk, { done: true }> | undefined;
          for await (const c of gen) {
            if (c.done) { last = c; if (c.text) yield* emit({ choice, text: c.text }); } else if (c.text || c.logprob) yield* emit({ choice, text: c.text, ...(c.logprob ? { logprob: c.logprob } : {}) });
          }
          if (j === 0) cached += last!.timings.cachedTokens;
          completionTokens += last!.tokens.length;
          timings.push(last!.timings);
          yield* emit({ choice, finish: finishReason(last!.stopReason), timings: imageTimings(responseTimings([last!.timings]), choice === 0 ? job.images : undefined) });
        }
      }
      yield* emit({
        usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: cached } },
        timings: imageTimings(responseTimings(timings), job.images),
      });
    } finally {
      slot?.release();
      this.running.delete(state);
      done();
    }
  }

  /** The engine's speculative options with the request's own on top (none when it asks n_max 0, or the engine has no drafter). */
  private speculativeFor(job: Job): SpeculativeOptions | undefined {
    const s = this.speculative, r = job.speculative;
    if (!s || r?.nDraft === 0) return undefined;
    if (!r || (r.nDraft === undefined && r.nDraftMin === undefined && r.pMin === undefined)) return s;
    return { ...s, nDraft: r.nDraft ?? s.nDraft, nDraftMin: r.nDraftMin ?? s.nDraftMin, pMin: r.pMin ?? s.pMin };
  }

  /** Resolves when nothing is computing: every job has finished or is parked at a yield (whose next read then throws AbortError). */
  private async quiesce(until?: Promise<void>): Promise<void> {
    let timedOut = false;
    void until?.then(() => { timedOut = true; });
    while (!timedOut && [...this.running].some((j) => !j.parked)) {
      await Promise.race([...[...this.running].map((j) => j.settled), new Promise<void>((r) => setTimeout(r, 5)), ...(until ? [until] : [])]);
    }
  }

  /** The signals a request listens to: its own and the engine's shutdown. */
  requestSignals(opts?: RequestOptions): (AbortSignal | undefined)[] {
    return [opts?.signal, this.closing.signal];
  }

  private async createChat(body: ChatCompletionCreateParams, opts?: RequestOptions): Promise<ChatCompletion | Stream<ChatCompletionChunk>> {
    this.check();
    const p = parseChatRequest(body);
    const plan = this.planStructured(p);
    const maxTokens = p.max_completion_tokens ?? p.max_tokens ?? defaultChatMaxTokens(this.nCtx);
    if (hasImageParts(p.messages)) {
      // No context shift with images: dropping turns would drop pictures the reply may be about.
      const text = this.chatPromptText(p.messages, this.chatTemplate, this.nCtx, plan.templateTools);
      const images = await encodeImageChat(this.model, this.vision, p.messages, text, opts?.signal);
      const job = this.makeJob(p, [images.ids], -1, 'messages');
      Object.assign(job, { grammar: plan.grammar, tools: plan.tools, images });
      return this.chatResult(job, p, opts);
    }
    const tokens = this.contextShift ? this.fitChat(p.messages, maxTokens, this.nCtx, this.chatTemplate, plan.templateTools).tokens : this.chatPromptTokens(p.messages, this.chatTemplate, this.nCtx, plan.templateTools);
    const job = this.makeJob(p, [tokens], -1, 'messages');
    job.grammar = plan.grammar;
    job.tools = plan.tools;
    return this.chatResult(job, p, opts);
  }

  /** The grammar and tool-call reading a request's response_format / tools / grammar ask for (InvalidRequestError naming the field). */
  planStructured(p: Parameters<typeof planStructured>[0], template: ResolvedChatTemplate = this.chatTemplate): StructuredPlan {
    const tok = this.model.tokenizer;
    const single = (text: string) => {
      const ids = tok.encode(text, { addSpecial: false, parseSpecial: true });
      return ids.length === 1 ? ids[0] : undefined;
    };
    const ctx: PlanContext = {
      template: template.template,
      tokenId: single,
      controlToken: (text) => { const id = single(text); return id !== undefined && tok.isControl(id) ? id : undefined; },
    };
    return planStructured(p, ctx);
  }

  /** Shape a chat job as OpenAI's chat.completion or a stream of chat.completion.chunk (chat sessions use this too). */
  chatResult(job: Job, p: ChatCompletionCreateParams, opts?: RequestOptions, context?: Context, onDone?: (r: ChatCompletion) => void): Promise<ChatCompletion | Stream<ChatCompletionChunk>> {
    const signals = this.requestSignals(opts);
    const base = { id: newId('chatcmpl'), created: Math.floor(Date.now() / 1000), model: this.id, system_fingerprint: this.fingerprint };
    if (p.stream) {
      const self = this;
      return Promise.resolve(makeStream<ChatCompletionChunk>(async function* (signal) {
        const chunk = (choices: ChatCompletionChunk['choices'], usage?: CompletionUsage): ChatCompletionChunk =>
          ({ ...base, object: 'chat.completion.chunk', choices, ...(usage ? { usage } : {}) });
        const started = new Set<number>();
        const texts: string[] = [];
        const finishes: FinishReason[] = [];
        // With tools, each choice's text goes through a splitter: content deltas, and each call as
        // OpenAI streams it (id, type and name first, then its arguments).
        const splitters: ToolCallSplitter[] = [];
        const sent: number[] = [];
        // Log-probabilities ride on the next chunk of their choice (a splitter may hold text back).
        const pending: ChatCompletionTokenLogprob[][] = [];
        const lps = (choice: number): ChatChoiceLogprobs | null => {
          const l = pending[choice];
          if (!l?.length) return null;
          pending[choice] = [];
          return { content: l, refusal: null };
        };
        const deltas = function* (choice: number, events: ReturnType<ToolCallSplitter['push']>) {
          for (const ev of events) {
            if ('content' in ev) { yield chunk([{ index: choice, delta: { content: ev.content }, logprobs: lps(choice), finish_reason: null }]); continue; }
            const index = sent[choice] ?? 0;
            sent[choice] = index + 1;
            yield chunk([{ index: choice, delta: { tool_calls: [{ index, id: toolCallId(), type: 'function', function: { name: ev.call.name, arguments: '' } }] }, logprobs: lps(choice), finish_reason: null }]);
            yield chunk([{ index: choice, delta: { tool_calls: [{ index, function: { arguments: ev.call.arguments } }] }, logprobs: null, finish_reason: null }]);
          }
        };
        const all: ChatCompletionTokenLogprob[][] = [];
        for await (const e of self.runJob(job, signal, context, opts?.client)) {
          if ('usage' in e) {
            onDone?.(assembleChat(base, texts, finishes, e.usage, job.tools, job.logprobs !== undefined ? all : undefined, e.timings));
            if (p.stream_options?.include_usage) yield { ...chunk([], e.usage) };
            continue;
          }
          if (!started.has(e.choice)) {
            started.add(e.choice);
            texts[e.choice] = '';
            if (job.tools) splitters[e.choice] = new ToolCallSplitter(job.tools.format, job.tools.defs);
            yield chunk([{ index: e.choice, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
          }
          const split = splitters[e.choice];
          if ('text' in e) {
            texts[e.choice] += e.text;
            if (e.logprob) {
              const entry = self.chatLogprob(e.logprob);
              (pending[e.choice] ??= []).push(entry);
              (all[e.choice] ??= []).push(entry);
            }
            if (split) yield* deltas(e.choice, split.push(e.text));
            else yield chunk([{ index: e.choice, delta: { content: e.text }, logprobs: lps(e.choice), finish_reason: null }]);
          } else {
            if (split) yield* deltas(e.choice, split.end());
            const finish = split && split.calls > 0 ? 'tool_calls' : e.finish;
            finishes[e.choice] = e.finish;
            yield { ...chunk([{ index: e.choice, delta: {}, logprobs: lps(e.choice), finish_reason: finish }]), timings: e.timings };
          }
        }
      }, signals));
    }
    return (async () => {
      const texts: string[] = [];
      const finishes: FinishReason[] = [];
      const all: ChatCompletionTokenLogprob[][] = [];
      let usage!: CompletionUsage;
      let timings!: ResponseTimings;
      for await (const e of this.runJob(job, AbortSignal.any(signals.filter((s): s is AbortSignal => !!s)), context, opts?.client)) {
        if ('usage' in e) ({ usage, timings } = e);
        else if ('text' in e) {
          texts[e.choice] = (texts[e.choice] ?? '') + e.text;
          if (e.logprob) (all[e.choice] ??= []).push(this.chatLogprob(e.logprob));
        } else { texts[e.choice] ??= ''; finishes[e.choice] = e.finish; }
      }
      const r = assembleChat(base, texts, finishes, usage, job.tools, job.logprobs !== undefined ? all : undefined, timings);
      onDone?.(r);
      return r;
    })();
  }

  private async createCompletion(body: CompletionCreateParams, opts?: RequestOptions): Promise<Completion | Stream<Completion>> {
    this.check();
    const p = parseCompletionRequest(body);
    const raw = p.prompt;
    const list: (string | number[])[] = typeof raw === 'string' ? [raw]
      : raw.length > 0 && typeof raw[0] === 'number' ? [raw as number[]] : (raw as (string | number[])[]);
    list.forEach((x, i) => { if (typeof x === 'string') this.checkTextFits(x.length, list.length > 1 ? `prompt[${i}]` : 'prompt'); });
    const prompts = list.map((x) => (typeof x === 'string' ? this.model.tokenize(x) : x));
    const job = this.makeJob(p, prompts, 16, 'prompt');
    job.grammar = this.planStructured(p).grammar;
    if (p.echo) job.echo = list.map((x) => (typeof x === 'string' ? x : this.model.detokenize(x)));
    const signals = this.requestSignals(opts);
    const base = { id: newId('cmpl'), object: 'text_completion' as const, created: Math.floor(Date.now() / 1000), model: this.id, system_fingerprint: this.fingerprint };
    // Legacy logprobs: each token's text_offset counts the characters of its choice's text before it.
    const offsets: number[] = [];
    const legacy = (choice: number, lp: TokenLogprob | undefined, into?: CompletionLogprobs): CompletionLogprobs | null => {
      if (!lp) return null;
      const l = into ?? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
      const token = this.tokenString(lp.token);
      l.tokens.push(token);
      l.token_logprobs.push(lp.logprob);
      l.top_logprobs.push(Object.fromEntries(lp.top.map((t) => [this.tokenString(t.token), t.logprob])));
      l.text_offset.push(offsets[choice] ?? 0);
      offsets[choice] = (offsets[choice] ?? 0) + token.length;
      return l;
    };
    if (p.stream) {
      const self = this;
      return makeStream<Completion>(async function* (signal) {
        for await (const e of self.runJob(job, signal, undefined, opts?.client)) {
          if ('usage' in e) { if (p.stream_options?.include_usage) yield { ...base, choices: [], usage: e.usage }; continue; }
          if ('text' in e) yield { ...base, choices: [{ index: e.choice, text: e.text, logprobs: legacy(e.choice, e.logprob), finish_reason: null }] };
          else yield { ...base, choices: [{ index: e.choice, text: '', logprobs: null, finish_reason: e.finish }], timings: e.timings };
        }
      }, signals);
    }
    const texts: string[] = [];
    const finishes: FinishReason[] = [];
    const lps: CompletionLogprobs[] = [];
    let usage!: CompletionUsage;
    let timings!: ResponseTimings;
    for await (const e of this.runJob(job, AbortSignal.any(signals.filter((s): s is AbortSignal => !!s)), undefined, opts?.client)) {
      if ('usage' in e) ({ usage, timings } = e);
      else if ('text' in e) {
        texts[e.choice] = (texts[e.choice] ?? '') + e.text;
        if (e.logprob) lps[e.choice] = legacy(e.choice, e.logprob, lps[e.choice])!;
      } else { texts[e.choice] ??= ''; finishes[e.choice] = e.finish; }
    }
    const choiceLogprobs = (i: number): CompletionLogprobs | null =>
      job.logprobs === undefined ? null : lps[i] ?? { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    return { ...base, choices: finishes.map((f, i) => ({ index: i, text: texts[i]!, logprobs: choiceLogprobs(i), finish_reason: f })), usage, timings };
  }

  private async createEmbeddings(body: EmbeddingCreateParams, opts?: RequestOptions): Promise<CreateEmbeddingResponse> {
    this.check();
    const p = parseEmbeddingRequest(body);
    const dim = this.model.hparams.nEmbd;
    if (p.dimensions != null && p.dimensions !== dim) {
      throw new InvalidRequestError('dimensions', `this model's embeddings have ${dim} dimensions; lutra does not shorten them (omit dimensions or pass ${dim})`, 'unsupported_value');
    }
    const pooling = this.model.pooling;
    const raw = p.input;
    const list: (string | number[])[] = typeof raw === 'string' ? [raw]
      : raw.length > 0 && typeof raw[0] === 'number' ? [raw as number[]] : (raw as (string | number[])[]);
    const param = (i: number) => (list.length > 1 ? `input[${i}]` : 'input');
    const nVocab = this.model.hparams.nVocab;
    const inputs = list.map((x, i) => {
      if (typeof x === 'string') this.checkTextFits(x.length, param(i));
      const ids = typeof x === 'string' ? this.model.tokenize(x, { addSpecial: true, parseSpecial: true }) : x;
      if (ids.length === 0) throw new InvalidRequestError(param(i), 'has no tokens');
      for (const id of ids) if (id >= nVocab) throw new InvalidRequestError(param(i), `token id ${id} is outside the vocabulary (0..${nVocab - 1})`);
      if (ids.length > this.nCtx) throw new InvalidRequestError(param(i), `has ${ids.length} tokens, more than the context of ${this.nCtx} tokens`, 'context_length_exceeded');
      return ids;
    });
    const total = inputs.reduce((n, ids) => n + ids.length, 0);
    if (total > this.maxRequestTokens) throw new InvalidRequestError('input', `the inputs have ${total} tokens; this server accepts at most ${this.maxRequestTokens} per request`, 'request_too_large');
    const signal = AbortSignal.any(this.requestSignals(opts).filter((s): s is AbortSignal => !!s));
    const slot = await this.pool.acquire(inputs[0]!, signal, opts?.client);
    let done!: () => void;
    const state: RunningJob = { parked: false, settled: new Promise<void>((r) => { done = r; }) };
    this.running.add(state);
    try {
      const data = [];
      for (let i = 0; i < inputs.length; i++) {
        // One input at a time, with a turn for the event loop (signals, /health) between.
        await yieldToEventLoop();
        if (signal.aborted) throw new AbortError();
        const v = embedTokens(slot.context, inputs[i]!, pooling);
        data.push({ object: 'embedding' as const, index: i, embedding: p.encoding_format === 'base64' ? base64(v) : Array.from(v) });
      }
      return { object: 'list', data, model: this.id, usage: { prompt_tokens: total, total_tokens: total } };
    } finally {
      slot.release();
      this.running.delete(state);
      done();
    }
  }

  /** A token as logprobs name it: its bytes (control tokens' text included) decoded, a partial UTF-8 character as U+FFFD. */
  tokenString(id: number): string {
    return utf8.decode(this.model.tokenizer.tokenBytes(id, true));
  }

  /** One token's entry in chat logprobs.content. */
  chatLogprob(lp: TokenLogprob): ChatCompletionTokenLogprob {
    const entry = (id: number, logprob: number) => {
      const bytes = this.model.tokenizer.tokenBytes(id, true);
      return { token: utf8.decode(bytes), logprob, bytes: Array.from(bytes) };
    };
    return { ...entry(lp.token, lp.logprob), top_logprobs: lp.top.map((t) => entry(t.token, t.logprob)) };
  }

  get fingerprint(): string {
    return `lutra-${this.model.kernels.name.replace(/[^a-z0-9]+/gi, '-')}`;
  }

  /** Cancel everything in flight and queued, wait for it to stop, free the contexts (and the model if the engine loaded it). */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.closing.abort(new AbortError('engine disposed'));
    this.pool.rejectWaiting(new AbortError('engine disposed'));
    await this.quiesce();
    if (this.ownsModel) this.model.dispose();
    this.ownedDraft?.dispose();
    this.vision?.dispose();
  }

  /** Wait up to `ms` for in-flight requests to finish, then dispose (cancelling the rest): the server's graceful shutdown. */
  async drain(ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < end) {
      await Promise.race([...[...this.running].map((j) => j.settled), new Promise<void>((r) => setTimeout(r, Math.min(50, end - Date.now())))]);
    }
    await this.dispose();
  }

  /** Requests generating or waiting for a slot. */
  get inFlight(): number {
    return this.running.size + this.pool.queued;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

/** A vector's float32 bytes (little-endian, as every platform lutra runs on stores them) in base64, as OpenAI's encoding_format base64. */
function base64(v: Float32Array): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function toolCallId(): string {
  let s = 'call_';
  for (let i = 0; i < 24; i++) s += 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[Math.floor(Math.random() * 62)];
  return s;
}

function assembleChat(base: { id: string; created: number; model: string; system_fingerprint: string }, texts: string[], finishes: FinishReason[], usage: CompletionUsage,
  tools?: StructuredPlan['tools'], logprobs?: ChatCompletionTokenLogprob[][], timings?: ResponseTimings): ChatCompletion {
  return {
    ...base,
    object: 'chat.completion',
    choices: finishes.map((f, i) => {
      const text = texts[i] ?? '';
      const lp: ChatChoiceLogprobs | null = logprobs ? { content: logprobs[i] ?? [], refusal: null } : null;
      if (tools) {
        const r = parseToolCalls(text, tools.format, tools.defs);
        if (r.calls.length) {
          const calls: ChatCompletionMessageToolCall[] = r.calls.map((c) => ({ id: toolCallId(), type: 'function', function: { name: c.name, arguments: c.arguments } }));
          return { index: i, message: { role: 'assistant', content: r.content || null, refusal: null, tool_calls: calls }, logprobs: lp, finish_reason: 'tool_calls' };
        }
      }
      return { index: i, message: { role: 'assistant', content: text, refusal: null }, logprobs: lp, finish_reason: f };
    }),
    usage,
    ...(timings ? { timings } : {}),
  };
}

export async function createEngine(opts: EngineOptions): Promise<Engine> {
  const parallel = opts.parallel ?? 1;
  if (!Number.isInteger(parallel) || parallel < 1) throw new InvalidRequestError('parallel', `must be a positive integer, got ${parallel}`);
  const maxQueue = opts.maxQueue ?? Infinity;
  if (!(maxQueue >= 0)) throw new InvalidRequestError('maxQueue', `must be >= 0, got ${maxQueue}`);
  if (opts.cacheReuse !== undefined && !CACHE_REUSE_MODES.includes(opts.cacheReuse)) {
    throw new InvalidRequestError('cacheReuse', `must be one of ${CACHE_REUSE_MODES.join(', ')}, got ${String(opts.cacheReuse)}`);
  }
  if (opts.maxRequestTokens !== undefined && !(Number.isInteger(opts.maxRequestTokens) && opts.maxRequestTokens >= 1)) {
    throw new InvalidRequestError('maxRequestTokens', `must be a positive integer, got ${opts.maxRequestTokens}`);
  }
  let model: Model;
  const owns = !(opts.model instanceof Model);
  if (opts.model instanceof Model) {
    model = opts.model;
  } else {
    // `threads` goes to the kernels through loadModel when they take it.
    const load: LoadOptions & { threads?: number } = { onProgress: opts.onProgress, signal: opts.signal, backend: opts.backend, threads: opts.threads, kernels: opts.kernels, lutTables: opts.lutTables };
    model = await loadModel(opts.model, load);
  }
  let ownedDraft: Model | undefined;
  let vision: EngineVision | undefined;
  try {
    let speculative: SpeculativeOptions | undefined;
    if (opts.speculative) {
      const { draft, ...rest } = opts.speculative;
      if (draft !== undefined && !(draft instanceof Model)) {
        ownedDraft = await loadModel(draft, { signal: opts.signal, backend: opts.backend, threads: opts.threads, kernels: opts.kernels, lutTables: opts.lutTables });
      }
      speculative = { ...rest, draft: ownedDraft ?? (draft as Model | undefined) };
      checkSpeculativeFor(model, speculative);
    }
    if (opts.mmproj !== undefined) vision = await EngineVision.load(opts.mmproj, model, opts.images);
    const contexts = Array.from({ length: parallel }, () => model.createContext({ ctx: opts.ctx, ...(opts.cacheType ? { cacheType: opts.cacheType } : {}) }));
    return new Engine(model, contexts, maxQueue, opts.name, owns, {
      cacheReuse: opts.cacheReuse, maxRequestTokens: opts.maxRequestTokens, chatTemplate: opts.chatTemplate, contextShift: opts.contextShift,
      speculative, ownedDraft, vision,
    });
  } catch (e) {
    vision?.dispose();
    ownedDraft?.dispose();
    if (owns) model.dispose();
    throw e;
  }
}
