// A fixed pool of inference contexts ("slots"), allocated once, and a bounded FIFO queue of requests
// waiting for one. A request gets the free slot whose cached tokens share the longest prefix with
// its prompt (llama-server's slot similarity), so a client continuing a conversation lands on the
// KV cache it left behind. Prefix reuse is per client by default: a slot last used by another
// client is cleared before it is handed over, so neither `cached_tokens` nor the time to the first
// token tells one client what another one asked (a prompt oracle). Not the generation itself: that
// is engine.ts.

import { AbortError, LutraError } from '../core/errors.js';
import type { Context } from '../runtime/context.js';

/** The queue is full: try again after `retryAfter` seconds (the server's 503 + Retry-After). */
export class QueueFullError extends LutraError {
  constructor(readonly retryAfter: number, message: string) {
    super('E_QUEUE_FULL', message);
  }
}

/**
 * Who may reuse whose cached prompt: `client` (default) only requests of the same client identity,
 * `shared` everyone (one trusted user), `off` nobody (every request recomputes its prompt).
 */
export type CacheReuse = 'client' | 'shared' | 'off';
export const CACHE_REUSE_MODES: readonly CacheReuse[] = ['client', 'shared', 'off'];

export interface Slot {
  readonly index: number;
  readonly context: Context;
  /** Give the slot back (idempotent). */
  release(): void;
}

interface Waiter {
  prompt: ArrayLike<number>;
  client: string;
  resolve: (s: Slot) => void;
  reject: (e: unknown) => void;
  cleanup: () => void;
}

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class SlotPool {
  private readonly free: number[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly lastUse: number[];
  /** The client whose tokens each slot's cache holds. */
  private readonly owner: (string | undefined)[];
  /** When each busy slot was taken (performance.now()), for Retry-After. */
  private readonly since: number[];
  private useClock = 0;
  /** Moving average of how long a request holds a slot, for Retry-After. */
  private holdMs = 1000;

  constructor(readonly contexts: Context[], readonly maxQueue: number, readonly cacheReuse: CacheReuse = 'client') {
    this.contexts.forEach((_, i) => this.free.push(i));
    this.lastUse = contexts.map(() => 0);
    this.owner = contexts.map(() => undefined);
    this.since = contexts.map(() => 0);
  }

  get size(): number { return this.contexts.length; }
  get busy(): number { return this.contexts.length - this.free.length; }
  get queued(): number { return this.waiters.length; }

  /** Seconds a client refused with QueueFullError should wait. */
  retryAfter(): number {
    // A request still running counts with what it has held so far: the average alone says 1 s
    // while one long generation keeps every slot busy.
    const now = performance.now();
    let hold = this.holdMs;
    for (let i = 0; i < this.contexts.length; i++) if (!this.free.includes(i)) hold = Math.max(hold, now - this.since[i]!);
    return Math.max(1, Math.ceil((hold * (1 + this.waiters.length / this.contexts.length)) / 1000));
  }

  /** A slot for this prompt, now or when one frees; QueueFullError when the queue is full. */
  acquire(prompt: ArrayLike<number>, signal?: AbortSignal, client = ''): Promise<Slot> {
    if (signal?.aborted) return Promise.reject(new AbortError());
    if (this.free.length > 0 && this.waiters.length === 0) return Promise.resolve(this.take(this.best(prompt, client), client));
    if (this.waiters.length >= this.maxQueue) {
      return Promise.reject(new QueueFullError(this.retryAfter(), `all ${this.contexts.length} slots are busy and ${this.waiters.length} requests are queued; try again later`));
    }
    return new Promise<Slot>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AbortError());
      };
      const w: Waiter = { prompt, client, resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** May `client` reuse what slot i caches? */
  private reusable(i: number, client: string): boolean {
    return this.cacheReuse === 'shared' || (this.cacheReuse === 'client' && this.owner[i] === client);
  }

  private best(prompt: ArrayLike<number>, client: string): number {
    let best = -1, bestLen = -1;
    for (const i of this.free) {
      const len = this.reusable(i, client) ? commonPrefix(this.contexts[i]!.tokens, prompt) : 0;
      if (len > bestLen || (len === bestLen && this.lastUse[i]! < this.lastUse[best]!)) { best = i; bestLen = len; }
    }
    return best;
  }

  private take(index: number, client: string): Slot {
    this.free.splice(this.free.indexOf(index), 1);
    this.lastUse[index] = ++this.useClock;
    if (!this.reusable(index, client)) this.contexts[index]!.truncate(0);
    this.owner[index] = client;
    const t0 = performance.now();
    this.since[index] = t0;
    let released = false;
    return {
      index,
      context: this.contexts[index]!,
      release: () => {
        if (released) return;
        released = true;
        this.holdMs = 0.8 * this.holdMs + 0.2 * (performance.now() - t0);
        this.free.push(index);
        const w = this.waiters.shift();
        if (w) { w.cleanup(); w.resolve(this.take(index, w.client)); }
      },
    };
  }

  /** Refuse everyone still waiting (engine disposal). */
  rejectWaiting(error: unknown): void {
    for (const w of this.waiters.splice(0)) { w.cleanup(); w.reject(error); }
  }
}
