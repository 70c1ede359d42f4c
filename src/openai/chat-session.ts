// A conversation with its own context: the KV cache of every earlier turn stays, so the next turn
// only runs the tokens the template adds (generate() reuses the longest common prefix). Replies
// are OpenAI chat completions (or streams of chunks) whose usage says how many prompt tokens came
// from the cache. A conversation that outgrows the context drops its oldest turns (context shift,
// on by default); a turn without max_tokens gets defaultChatMaxTokens. One turn at a time; not
// part of the engine's slot pool.

import { LutraError } from '../core/errors.js';
import type { Context } from '../runtime/context.js';
import { resolveChatTemplate, type ResolvedChatTemplate } from '../tokenizer/index.js';
import { defaultChatMaxTokens } from './context-shift.js';
import type { Engine } from './engine.js';
import { parseChatRequest } from './schema.js';
import type {
  ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, ChatCompletionMessageParam, CompletionUsage, RequestOptions, SamplingParams, Stream,
} from './types.js';

export interface ChatSessionOptions {
  /** A system message to start with. */
  system?: string;
  /** Earlier messages to start from (after the system message). */
  messages?: ChatCompletionMessageParam[];
  /** Sampling defaults for every turn (a turn's own options win). */
  defaults?: Omit<SamplingParams, 'n'>;
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
}

export type TurnParams = Omit<SamplingParams, 'n'> & { stream?: boolean | null; stream_options?: { include_usage?: boolean } | null; max_completion_tokens?: number | null };

export class ChatSession {
  readonly messages: ChatCompletionMessageParam[] = [];
  /** Usage of the last completed turn. */
  lastUsage: CompletionUsage | undefined;
  /** Messages the last turn dropped from the start of the conversation to fit the context (0: none). */
  lastDropped = 0;
  /** The template this session renders with; source 'fallback' when the model has none (ChatML). */
  readonly chatTemplate: ResolvedChatTemplate;
  private readonly context: Context;
  private busy = false;
  private disposed = false;

  constructor(private readonly engine: Engine, private readonly opts: ChatSessionOptions = {}) {
    this.chatTemplate = opts.chatTemplate === undefined ? engine.chatTemplate : resolveChatTemplate(engine.model.tokenizer.chatTemplate, opts.chatTemplate);
    this.context = engine.model.createContext({ ctx: opts.ctx ?? engine.nCtx });
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

  /** Send a user message; resolves to the reply, or to a stream of chunks with `stream: true`. The reply joins `messages` when it completes. */
  send(content: string, params: TurnParams & { stream: true }, opts?: RequestOptions): Promise<Stream<ChatCompletionChunk>>;
  send(content: string, params?: TurnParams & { stream?: false | null }, opts?: RequestOptions): Promise<ChatCompletion>;
  async send(content: string, params: TurnParams = {}, opts?: RequestOptions): Promise<ChatCompletion | Stream<ChatCompletionChunk>> {
    if (this.disposed) throw new LutraError('E_DISPOSED', 'chat session has been disposed');
    if (this.busy) throw new LutraError('E_BUSY', 'chat session: the previous turn has not finished');
    const messages: ChatCompletionMessageParam[] = [...this.messages, { role: 'user' as const, content }];
    const p = parseChatRequest({ ...this.opts.defaults, ...params, messages } satisfies ChatCompletionCreateParams);
    const nCtx = this.context.nCtx;
    const chosen = p.max_completion_tokens ?? p.max_tokens ?? null;
    const budget = chosen ?? this.defaultMaxTokens;
    let kept = messages, dropped = 0, tokens: number[];
    if (this.opts.contextShift ?? true) ({ messages: kept, dropped, tokens } = this.engine.fitChat(messages, budget, nCtx, this.chatTemplate));
    else tokens = this.engine.chatPromptTokens(messages, this.chatTemplate, nCtx);
    // The default budget gives way to a prompt that fits only without all of it; a chosen one is checked as asked.
    const job = this.engine.makeJob(chosen !== null ? p : { ...p, max_tokens: Math.max(1, Math.min(budget, nCtx - tokens.length)) }, [tokens], -1, 'messages', nCtx);
    this.lastDropped = dropped;
    if (!p.stream) this.busy = true;
    const onDone = (r: ChatCompletion) => {
      this.messages.splice(0, this.messages.length, ...kept.slice(0, -1));
      this.messages.push({ role: 'user', content }, { role: 'assistant', content: r.choices[0]!.message.content });
      this.lastUsage = r.usage;
      this.busy = false;
    };
    try {
      const r = await this.engine.chatResult(job, p, opts, this.context, onDone);
      if (!('choices' in r)) return this.releaseWhenDone(r);
      return r;
    } finally {
      if (!p.stream) this.busy = false;
    }
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
          session.busy = false;
        }
      },
    };
  }

  dispose(): void {
    this.disposed = true;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
