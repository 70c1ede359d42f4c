// Context shift for chats, in the spirit of llama.cpp's --keep: when a conversation no longer fits
// (prompt plus the reply's budget), keep the leading system messages and the newest turns and drop
// whole turns from the oldest. The kept messages are rendered again (a fresh prefill of the kept
// prompt), which is exact where shifting cached positions would only approximate. Not the
// tokenizing or the context's own checks: the caller's render and fits decide.

/** A chat turn's reply budget when it sets none: a quarter of the context, at most 512 tokens. */
export function defaultChatMaxTokens(nCtx: number): number {
  return Math.max(1, Math.min(512, Math.floor(nCtx / 4)));
}

export interface ShiftedConversation<M> {
  /** The messages kept: the leading system messages, then the newest turns. */
  messages: M[];
  /** Their rendered prompt, or undefined when even the newest turn alone does not fit. */
  tokens: number[] | undefined;
  /** How many messages were dropped. */
  dropped: number;
}

/**
 * The fewest oldest turns to drop so that `fits(render(kept))`. A turn is a user message and the
 * replies after it, so the kept conversation still opens with a user message (templates that check
 * the roles alternate refuse anything else); the newest turn is never dropped. `render` returns
 * undefined for messages it can tell are too long without tokenizing. Binary search: dropping more
 * never makes the prompt longer, so a long history costs log(turns) renders, not one per turn.
 */
export function shiftConversation<M extends { role: string }>(
  messages: M[], render: (m: M[]) => number[] | undefined, fits: (tokens: number[]) => boolean,
): ShiftedConversation<M> {
  const full = render(messages);
  if (full && fits(full)) return { messages, tokens: full, dropped: 0 };
  let head = 0;
  while (head < messages.length - 1 && (messages[head]!.role === 'system' || messages[head]!.role === 'developer')) head++;
  // Where each turn after the system messages starts (a history opening with a reply is a turn too).
  const starts: number[] = [];
  for (let i = head; i < messages.length; i++) if (i === head || messages[i]!.role === 'user') starts.push(i);
  const keep = (k: number) => [...messages.slice(0, head), ...messages.slice(starts[k])];
  let lo = 1, hi = starts.length - 1;
  let best: { k: number; tokens: number[] } | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const tokens = render(keep(mid));
    if (tokens && fits(tokens)) { best = { k: mid, tokens }; hi = mid - 1; } else lo = mid + 1;
  }
  const k = best?.k ?? starts.length - 1;
  if (k === 0) return { messages, tokens: full, dropped: 0 };
  return { messages: keep(k), tokens: best?.tokens ?? render(keep(k)), dropped: starts[k]! - head };
}
