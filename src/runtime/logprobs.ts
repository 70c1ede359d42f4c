// Log-probabilities of generated tokens, for OpenAI's `logprobs`: the model's own distribution at
// temperature 1 with the logit bias added, which is what OpenAI documents. Not the distribution the
// sampler drew from: penalties, top-k/top-p/min-p, temperature and a grammar do not change them, so
// the same text gets the same numbers whatever the sampling settings.

export interface TopLogprob {
  token: number;
  logprob: number;
}

export interface TokenLogprob extends TopLogprob {
  /** The `n` most likely tokens, most likely first (n = GenerateOptions.logprobs). */
  top: TopLogprob[];
}

/** Most alternatives one token may report. */
export const MAX_TOP_LOGPROBS = 20;

/**
 * log softmax(logits + bias) at `token`, and the `n` most likely tokens. A bias of -Infinity (a
 * banned token) gives -Infinity; the logits are not changed.
 */
export function tokenLogprob(logits: Float32Array, bias: ReadonlyMap<number, number> | undefined, token: number, n: number): TokenLogprob {
  const at = (i: number) => (bias?.size ? logits[i]! + (bias.get(i) ?? 0) : logits[i]!);
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, at(i));
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(at(i) - max);
  const lse = max + Math.log(sum);
  // Top n by insertion into a short sorted list: n is at most MAX_TOP_LOGPROBS.
  const top: TopLogprob[] = [];
  if (n > 0) {
    for (let i = 0; i < logits.length; i++) {
      const v = at(i);
      if (top.length === n && v <= top[n - 1]!.logprob) continue;
      let k = Math.min(top.length, n - 1);
      while (k > 0 && top[k - 1]!.logprob < v) k--;
      top.splice(k, 0, { token: i, logprob: v });
      if (top.length > n) top.pop();
    }
    for (const t of top) t.logprob -= lse;
  }
  return { token, logprob: at(token) - lse, top };
}
