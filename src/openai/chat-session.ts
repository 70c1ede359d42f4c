// A conversation with its own context: the KV cache of every earlier turn stays, so the next turn
// only runs the tokens the template adds (generate() reuses the longest common prefix). Replies
// are OpenAI chat completions (or streams of chunks) whose usage says how many prompt tokens came
// from the cache. A conversation that outgrows the context drops its oldest turns (context shift,
// on by default); a turn without max_tokens gets defaultChatMaxTokens. One turn at a time; not
// part of the engine's slot pool. With an engine projector, messages may carry image_url parts:
// each picture is encoded once for the session (its own image cache) and its rows stay in the
// context, so a follow-up question decodes only the new turn (runtime/vision.ts generateWithImages);
// a conversation with pictures is not shifted (dropping turns would drop pictures).

import { ArgumentError, LutraError } from '../core/errors.js';
import type { Context } from '../runtime/context.js';
import type { EncodedPrompt } from '../runtime/vision.js';
import { resolveChatTemplate, type ResolvedChatTemplate } from '../tokenizer/index.js';
import { defaultChatMaxTokens } from './context-shift.js';
import type { Engine } from './engine.js';
import { InvalidRequestError, parseChatRequest } from './schema.js';
import { encodeImageChat, hasImageParts, type EngineVision } from './vision-chat.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam, CompletionUsage, RequestOptions, SamplingParams, Stream, StructuredParams,
} from './types.js';

/** Tools and structured output for a turn (as in a chat completion request). */
export type TurnStructured = StructuredParams & Pick<ChatCompletionCreateParams, 'tools' | 'tool_choice' | 'parallel_tool_calls'>;

export interface ChatSessionOptions {
  /** A system message to start with. */
  system?: string;
  /** Earlier messages to start from (after the system message). */
  messages?: ChatCompletionMessageParam[];
  /**
   * Defaults for every turn (a turn's own options win): sampling, and tools / tool_choice /
   * response_format / grammar, so a session can keep its tools for the whole conversation.
   */
  defaults?: Omit<SamplingParams, 'n'> & TurnStructured;
  /** Context size of the session (default: the engine's). */
  ctx?: number;
  /** A built-in template's name or Jinja source for this session (default: the engine's template). */
  chatTemplate?: string;
  /**
   * When the conversation plus the turn's max_tokens outgrows the context, drop the oldest turns
   * (the system message stays) and go on; `lastDropped` says how many messages went. false: the
   * turn throws context_length_exceeded instead. Default true.
   */
  contextShift?: boolean;
  /** Pictures this session keeps encoded (default: the engine's images.maxImages, else 8). */
  maxImages?: number;
}

export type TurnParams = Omit<SamplingParams, 'n'> & TurnStructured & { stream?: boolean | null; stream_options?: { include_usage?: boolean } | null; max_completion_tokens?: number | null };

/** What a turn sends: a user message's text, or messages (such as `tool` results answering the last reply's calls). */
export type TurnInput = string | ChatCompletionMessageParam | ChatCompletionMessageParam[];

export class ChatSession {
  readonly messages: ChatCompletionMessageParam[] = [];
  /** Usage of the last completed turn. */
  lastUsage: CompletionUsage | undefined;
  /** Messages the last turn dropped from the start of the conversation to fit the context (0: none). */
  lastDropped = 0;
  /** The template this session renders with; source 'fallback' when the model has none (ChatML). */
  readonly chatTemplate: ResolvedChatTemplate;
  private readonly context: Context;
  /** The engine's projector with this session's own image cache (undefined: the engine takes no images). */
  private readonly vision: EngineVision | undefined;
  private busy = false;
  private disposed = false;

  constructor(private readonly engine: Engine, private readonly opts: ChatSessionOptions = {}) {
    this.chatTemplate = opts.chatTemplate === undefined ? engine.chatTemplate : resolveChatTemplate(engine.model.tokenizer.chatTemplate, opts.chatTemplate);
    this.context = engine.model.createContext({ ctx: opts.ctx ?? engine.nCtx });
    this.vision = engine.vision?.withOwnCache(opts.maxImages);
    this.reset();
  }

  /** 'fallback' when the model has no chat template and none was chosen (ChatML is used). */
  get templateSource(): ResolvedChatTemplate['source'] { return this.chatTemplate.source; }

  /** Context size of the session in tokens. */
  get nCtx(): number { return this.context.nCtx; }

  /** The reply budget of a turn that sets no max_tokens: min(512, nCtx / 4). */
  get defaultMaxTokens(): number { return defaultChatMaxTokens(this.context.nCtx); }

  /** Forget the conversation (back to the system message and initial messages); the cache is reused as far as it matches. */
  reset(): void {
    this.messages.length = 0;
    if (this.opts.system !== undefined) this.messages.push({ role: 'system', content: this.opts.system });
    this.messages.push(...(this.opts.messages ?? []));
  }

  /**
   * Send a user message (or messages, such as tool results); resolves to the reply, or to a stream
   * of chunks with `stream: true`. The sent messages and the reply (with its tool calls) join
   * `messages` when it completes. `tools`, `tool_choice`, `response_format` and `grammar` work as
   * in a chat completion request (per turn, or for every turn through `defaults`).
   */
  send(input: TurnInput, params: TurnParams & { stream: true }, opts?: RequestOptions): Promise<Stream<ChatCompletionChunk>>;
  send(input: TurnInput, params?: TurnParams & { stream?: false | null }, opts?: RequestOptions): Promise<ChatCompletion>;
  async send(input: TurnInput, params: TurnParams = {}, opts?: RequestOptions): Promise<ChatCompletion | Stream<ChatCompletionChunk>> {
    if (this.disposed) throw new LutraError('E_DISPOSED', 'chat session has been disposed');
    if (this.busy) throw new LutraError('E_BUSY', 'chat session: the previous turn has not finished');
    const sent: ChatCompletionMessageParam[] = typeof input === 'string' ? [{ role: 'user', content: input }] : Array.isArray(input) ? input : [input];
    if (sent.length === 0) throw new ArgumentError('chat session: send() needs a message');
    const messages: ChatCompletionMessageParam[] = [...this.messages, ...sent];
    const p = parseChatRequest({ ...this.opts.defaults, ...params, messages } satisfies ChatCompletionCreateParams);
    const plan = this.engine.planStructured(p, this.chatTemplate);
    const nCtx = this.context.nCtx;
    const chosen = p.max_completion_tokens ?? p.max_tokens ?? null;
    const budget = chosen ?? this.defaultMaxTokens;
    let kept = messages, dropped = 0, tokens: number[];
    let images: EncodedPrompt | undefined;
    if (hasImageParts(messages)) {
      // Fetching and encoding take turns of the event loop: the session is busy meanwhile.
      this.busy = true;
      try { images = await this.encodeImages(messages, plan.templateTools, opts?.signal); } finally { this.idle(); }
      if (this.disposed) throw new LutraError('E_DISPOSED', 'chat session has been disposed');
      tokens = images.ids;
    } else if (this.opts.contextShift ?? true) ({ messages: kept, dropped, tokens } = this.engine.fitChat(messages, budget, nCtx, this.chatTemplate, plan.templateTools));
    else tokens = this.engine.chatPromptTokens(messages, this.chatTemplate, nCtx, plan.templateTools);
    // The default budget gives way to a prompt that fits only without all of it; a chosen one is checked as asked.
    const job = this.engine.makeJob(chosen !== null ? p : { ...p, max_tokens: Math.max(1, Math.min(budget, nCtx - tokens.length)) }, [tokens], -1, 'messages', nCtx);
    job.grammar = plan.grammar;
    job.tools = plan.tools;
    job.images = images;
    this.lastDropped = dropped;
    if (!p.stream) this.busy = true;
    const onDone = (r: ChatCompletion) => {
      // The kept conversation (context shift may have dropped the oldest turns), the sent messages, the reply.
      this.messages.splice(0, this.messages.length, ...kept.slice(0, Math.max(0, kept.length - sent.length)));
      const m = r.choices[0]!.message;
      this.messages.push(...sent, { role: 'assistant', content: m.content, ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}) });
      this.lastUsage = r.usage;
      this.busy = false;
    };
    try {
      const r = await this.engine.chatResult(job, p, opts, this.context, onDone);
      if (!('choices' in r)) return this.releaseWhenDone(r);
      return r;
    } finally {
      if (!p.stream) this.idle();
    }
  }

  /** The conversation with its pictures as prompt ids and image rows (each picture encoded once for the session). */
  private async encodeImages(messages: ChatCompletionMessageParam[], tools: Parameters<Engine['chatPromptText']>[3], signal?: AbortSignal): Promise<EncodedPrompt> {
    if (!this.vision) {
      throw new InvalidRequestError('messages', 'this model takes no images: create the engine with a projector (mmproj)');
    }
    const text = this.engine.chatPromptText(messages, this.chatTemplate, this.context.nCtx, tools);
    return encodeImageChat(this.engine.model, this.vision, messages, text, signal);
  }

  /** A turn ended: the session may take the next, or, disposed meanwhile, give its context back. */
  private idle(): void {
    this.busy = false;
    if (this.disposed) this.context.dispose();
  }

  /** A stream keeps the session busy from its first read until it is finished or abandoned. */
  private releaseWhenDone(s: Stream<ChatCompletionChunk>): Stream<ChatCompletionChunk> {
    const session = this;
    return {
      controller: s.controller,
      async *[Symbol.asyncIterator]() {
        if (session.busy) throw new LutraError('E_BUSY', 'chat session: the previous turn has not finished');
        session.busy = true;
        try {
          yield* s;
        } finally {
          session.idle();
        }
      },
    };
  }

  /** The session's context (and a speculative drafter's, made for it) go back now, or when a running turn ends. */
  dispose(): void {
    this.disposed = true;
    if (!this.busy) this.context.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
