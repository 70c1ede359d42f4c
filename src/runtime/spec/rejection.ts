// The acceptance rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023): a draft
// token x drawn from q is kept with probability min(1, p(x)/q(x)), else the token is drawn from
// norm(max(0, p - q)); either way the result is distributed exactly as p. A deterministic draft
// (prompt lookup, a greedy draft) is q = a point mass at x. Pure functions over sparse
// distributions, so the math is tested on hand-made p and q.

/** A sparse distribution: probs[i] is the probability of ids[i], for i < n (ids distinct). */
export interface Dist {
  ids: Int32Array;
  probs: Float32Array;
  n: number;
}

/** A copy of the first n entries (a sampler chain's distribution is a view its next call overwrites). */
export function copyDist(d: Dist): Dist {
  return { ids: d.ids.slice(0, d.n), probs: d.probs.slice(0, d.n), n: d.n };
}

/** p(id) by a scan (distributions here are a sampler chain's candidates: top-k long, usually). */
export function probOf(d: Dist, id: number): number {
  for (let i = 0; i < d.n; i++) if (d.ids[i] === id) return d.probs[i]!;
  return 0;
}

/** A token drawn from d with the uniform u in [0, 1). */
export function drawFrom(d: Dist, u: number): number {
  let total = 0;
  for (let i = 0; i < d.n; i++) total += d.probs[i]!;
  let r = u * total;
  for (let i = 0; i < d.n; i++) {
    r -= d.probs[i]!;
    if (r < 0) return d.ids[i]!;
  }
  return d.ids[d.n - 1]!;
}

export interface Verdict {
  token: number;
  accepted: boolean;
}

/**
 * Verify the draft token x, drawn from q (null: a point mass at x), against the target's p.
 * `uniform` gives draws in [0, 1): one for the acceptance test (none when p(x) >= q(x)) and one for
 * the resample. A rejected x is replaced by a draw from max(0, p - q), renormalized; when that is
 * empty to rounding (p equal to q), from p.
 */
export type AcceptRule = (p: Dist, q: Dist | null, x: number, uniform: () => number) => Verdict;

export const acceptRejectionSampling: AcceptRule = (p, q, x, uniform) => {
  const px = probOf(p, x);
  const qOf = lookup(q, x);
  const qx = qOf(x);
  if (px >= qx || (qx > 0 && uniform() * qx < px)) return { token: x, accepted: true };
  // The residual max(0, p - q) lives on p's support.
  let total = 0;
  for (let i = 0; i < p.n; i++) total += Math.max(0, p.probs[i]! - qOf(p.ids[i]!));
  if (!(total > 0)) return { token: drawFrom(p, uniform()), accepted: false };
  let r = uniform() * total, last = -1;
  for (let i = 0; i < p.n; i++) {
    const w = Math.max(0, p.probs[i]! - qOf(p.ids[i]!));
    if (w <= 0) continue;
    last = p.ids[i]!;
    r -= w;
    if (r < 0) return { token: last, accepted: false };
  }
  return { token: last, accepted: false };
};

/** q(id): a point mass at x when q is null; a scan for short q, a map for long ones (top-k off). */
function lookup(q: Dist | null, x: number): (id: number) => number {
  if (!q) return (id) => (id === x ? 1 : 0);
  if (q.n <= 64) return (id) => probOf(q, id);
  const m = new Map<number, number>();
  for (let i = 0; i < q.n; i++) m.set(q.ids[i]!, q.probs[i]!);
  return (id) => m.get(id) ?? 0;
}
