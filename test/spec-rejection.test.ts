// The acceptance rule of speculative sampling on hand-made distributions: the acceptance threshold
// p(x)/q(x), the resample from norm(max(0, p - q)), the output distribution summed exactly over the
// draft's draws, and a seeded run of many draws; a deliberately wrong rule fails the same checks.
// Prompt lookup's n-gram matching is checked here too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptRejectionSampling, type AcceptRule, type Dist } from '../src/runtime/spec/rejection.js';
import { lookupDraft } from '../src/runtime/spec/lookup.js';
import { Rng } from '../src/runtime/sampler.js';
import { chiSquare } from './spec-helpers.js';

const dist = (m: Record<number, number>): Dist => {
  const ids = Object.keys(m).map(Number);
  return { ids: Int32Array.from(ids), probs: Float32Array.from(ids.map((i) => m[i]!)), n: ids.length };
};
// Target p and draft q over tokens 0..4, each with mass where the other has none (tokens 0 and 4).
const P = dist({ 0: 0.1, 1: 0.4, 2: 0.3, 3: 0.2 });
const Q = dist({ 1: 0.2, 2: 0.5, 3: 0.2, 4: 0.1 });
const p = (id: number) => ({ 0: 0.1, 1: 0.4, 2: 0.3, 3: 0.2 } as Record<number, number>)[id] ?? 0;
const q = (id: number) => ({ 1: 0.2, 2: 0.5, 3: 0.2, 4: 0.1 } as Record<number, number>)[id] ?? 0;
const TOL = 1e-4;

/**
 * The rule's output distribution for draft token x: the acceptance probability integrated over a
 * grid of first uniforms, the resample over a grid of second ones (fine enough to be exact here:
 * the residuals are thirds, sevenths and ninths), combined as acc * [x] + (1 - acc) * resample.
 */
function outputGivenDraft(rule: AcceptRule, pd: Dist, qd: Dist | null, x: number): Map<number, number> {
  const A = 1000, B = 12600;
  let acc = 0;
  for (let a = 0; a < A; a++) {
    const us = [(a + 0.5) / A, 0.5];
    let k = 0;
    if (rule(pd, qd, x, () => us[k++]!).accepted) acc += 1 / A;
  }
  const out = new Map<number, number>([[x, acc]]);
  if (acc >= 1) return out;
  for (let b = 0; b < B; b++) {
    const us = [1 - 1e-9, (b + 0.5) / B];
    let k = 0;
    const v = rule(pd, qd, x, () => us[k++]!);
    if (!v.accepted) out.set(v.token, (out.get(v.token) ?? 0) + (1 - acc) / B);
  }
  return out;
}

test('a draft token is kept with probability min(1, p/q), exactly at the threshold', () => {
  // x = 2: p/q = 0.6. A draw just below keeps it, just above replaces it.
  assert.equal(acceptRejectionSampling(P, Q, 2, () => 0.6 - 1e-6).accepted, true);
  assert.equal(acceptRejectionSampling(P, Q, 2, () => 0.6 + 1e-6).accepted, false);
  // p(x) >= q(x) keeps it without a draw.
  let draws = 0;
  assert.deepEqual(acceptRejectionSampling(P, Q, 1, () => { draws++; return 0.99; }), { token: 1, accepted: true });
  assert.equal(draws, 0);
  // p(x) = 0 never keeps it.
  assert.equal(acceptRejectionSampling(P, Q, 4, () => 0).accepted, false);
});

test('a rejected token is resampled from norm(max(0, p - q)), which never gives the rejected token', () => {
  // max(0, p - q) = {0: 0.1, 1: 0.2}: 1/3 and 2/3.
  const counts = new Map<number, number>();
  const N = 30000;
  for (let i = 0; i < N; i++) {
    const us = [0.9999, (i + 0.5) / N];
    let k = 0;
    const v = acceptRejectionSampling(P, Q, 2, () => us[k++]!);
    assert.equal(v.accepted, false);
    counts.set(v.token, (counts.get(v.token) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [0, 1]);
  assert.ok(Math.abs(counts.get(0)! / N - 1 / 3) < TOL, JSON.stringify([...counts]));
});

test('summed over the draft distribution q, the output is exactly p (and a lookup draft too)', () => {
  const total = new Map<number, number>();
  for (const x of [1, 2, 3, 4]) {
    for (const [y, w] of outputGivenDraft(acceptRejectionSampling, P, Q, x)) total.set(y, (total.get(y) ?? 0) + q(x) * w);
  }
  for (const y of [0, 1, 2, 3, 4]) assert.ok(Math.abs((total.get(y) ?? 0) - p(y)) < TOL, `token ${y}: ${total.get(y)} vs ${p(y)}`);
  // A point-mass draft (prompt lookup): whatever token it proposes, the output is p.
  for (const x of [0, 2, 4]) {
    const o = outputGivenDraft(acceptRejectionSampling, P, null, x);
    for (const y of [0, 1, 2, 3]) assert.ok(Math.abs((o.get(y) ?? 0) - p(y)) < TOL, `lookup draft ${x}, token ${y}: ${o.get(y)} vs ${p(y)}`);
  }
});

const alwaysAccept: AcceptRule = (_p, _q, x) => ({ token: x, accepted: true });
/** A subtler wrong rule: the right acceptance test, but resampling from p instead of the residual. */
const resampleFromP: AcceptRule = (pd, qd, x, u) => {
  const v = acceptRejectionSampling(pd, qd, x, u);
  if (v.accepted) return v;
  let r = u();
  for (let i = 0; i < pd.n; i++) { r -= pd.probs[i]!; if (r < 0) return { token: pd.ids[i]!, accepted: false }; }
  return { token: pd.ids[pd.n - 1]!, accepted: false };
};

function seededRun(rule: AcceptRule, n: number): Map<number, number> {
  const rng = new Rng(7);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    let r = rng.next(), x = 4;
    for (const id of [1, 2, 3, 4]) { r -= q(id); if (r < 0) { x = id; break; } }
    const v = rule(P, Q, x, () => rng.next());
    counts.set(v.token, (counts.get(v.token) ?? 0) + 1);
  }
  return counts;
}

test('20,000 seeded draws match p by chi-square; wrong rules fail the same test', () => {
  const expected = new Map([0, 1, 2, 3].map((y) => [y, p(y)]));
  const N = 20000;
  const good = chiSquare(seededRun(acceptRejectionSampling, N), expected, N);
  assert.ok(good.p > 0.01, `rejection sampling: chi ${good.chi.toFixed(1)}, p ${good.p}`);
  for (const [name, rule] of [['always accept', alwaysAccept], ['resample from p', resampleFromP]] as const) {
    const bad = chiSquare(seededRun(rule, N), expected, N);
    assert.ok(bad.p < 0.01, `${name} should fail: chi ${bad.chi.toFixed(1)}, p ${bad.p}`);
  }
});

test('prompt lookup drafts the continuation of the latest earlier match of the longest n-gram', () => {
  //            0  1  2  3  4  5  6  7  8  9 10 11
  const seq = [5, 6, 7, 8, 9, 1, 6, 7, 2, 3, 6, 7];
  // Last 2-gram (6, 7): latest earlier match at 6 -> continues 2, 3, 6, 7.
  assert.deepEqual(lookupDraft(seq, 3, 2, 4), [2, 3, 6]);
  // A 3-gram (1, 6, 7)? Only at the end. (9, 1, 6, 7)? No. So the longest match wins only when it exists:
  assert.deepEqual(lookupDraft([1, 2, 3, 9, 2, 3, 4, 1, 2, 3], 2, 2, 3), [9, 2]);
  assert.deepEqual(lookupDraft([4, 4, 4], 5, 1, 2), [4]);
  assert.deepEqual(lookupDraft([1, 2, 3], 4, 2, 4), []);
});
