// Speculative decoding costs and end-to-end speed, by CPU time on one kernel thread, so that a
// loaded shared machine (other processes taking the cores) changes the numbers little: a process's
// CPU time counts only the time it ran. Reports:
//   - a decode step, and a verify batch of k tokens (logits of every row) as a multiple of it;
//   - draft steps: the model's first L layers, with the full head and with an FR-Spec head of K rows;
//     the full model with an FR-Spec head;
//   - end to end: CPU ms per generated token, plain and speculative, interleaved round by round,
//     with acceptance, accepted tokens per step, the measured speedup and the expected one.
//
// The expected speedup (endToEnd.expectedSpeedup) is computed from the measured acceptance rate and
// cost ratios, with the costs measured the way the loop incurs them (CPU time inside each
// Context.decode during the runs, and the rest of each loop), in units of u = one plain generated
// token's in-loop cost (its decode step plus the plain loop's sampling and text work):
//
//     S = (1 + a * k) / (v + k * c + o)
//
//   a = accepted / drafted (acceptance rate), k = drafted / steps (mean draft length),
//   v = the verify batch's in-loop CPU ms per step / u,
//   c = the drafter's in-loop CPU ms per drafted token / u (its catch-up decodes and, for a layer-skip
//       draft with kept hidden states, its last drafted token's run through its layers included),
//   o = the speculative loop's other CPU ms per step / u (sampling every row, truncation, async turns).
//
// 1 + a*k is the tokens one step emits. That formula takes its costs from the run it predicts, so it
// nearly restates the measurement. `predicted` is the prediction from costs measured apart from the
// speculative run, in the same process and round by round: every decode timed alone in the order
// the loops run them (loopCosts), the loops' own work timed alone (overheadCosts), and Leviathan et
// al.'s expected tokens per round from the run's per-position acceptance (formula at `predicted`).
// expectedIsolated is the oldest prediction (one decode repeated until 20 ms: caches hot, no
// catch-up, no loop overhead), kept to show how far that is off.
//
// --clock process|thread: whose CPU time (default the process's); --cycles N:
// samples of each decode per round for `predicted` (default 60).
//
//   npm run build
//   node bench/spec/run.mjs TARGET [--draft FILE] [--layers L [--own-kv|--recompute]] [--p-min P] [--lookup] [--fr-spec K] [--rank FILE]
//        [-n 64] [-r 3] [-k 4] [-p PROMPT] [--verify 1,2,3,5,9]
//
// --rank: a `lutra fr-spec` ranking file; ids not in it follow in id order, so K rows are kept even
// when the corpus saw fewer distinct tokens (the cost of a K-row head is what is measured).

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { loadModel } = await import(join(REPO, 'dist/src/runtime/model.js'));
const { parseRanking, restrictedHead, frSpecSubset } = await import(join(REPO, 'dist/src/runtime/spec/fr-spec.js'));
const { Context } = await import(join(REPO, 'dist/src/runtime/context.js'));
const { SamplerChain } = await import(join(REPO, 'dist/src/runtime/sampler.js'));
const { TextStream } = await import(join(REPO, 'dist/src/runtime/text-stream.js'));
const { lookupDraft } = await import(join(REPO, 'dist/src/runtime/spec/lookup.js'));
const { generateTokens } = await import(join(REPO, 'dist/src/runtime/generate.js'));
const { generateSpeculative } = await import(join(REPO, 'dist/src/runtime/speculative.js'));
const { ModelDrafter, LookupDrafter } = await import(join(REPO, 'dist/src/runtime/spec/drafters.js'));

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args.splice(i, 2)[1] : def; };
const has = (name) => { const i = args.indexOf(name); if (i >= 0) args.splice(i, 1); return i >= 0; };
const draftFile = opt('--draft'), layers = opt('--layers'), frK = opt('--fr-spec'), rankFile = opt('--rank');
// --p-min P: a draft stops when its top probability is below P (speculative.pMin; llama.cpp's --draft-p-min).
const pMinArg = opt('--p-min'), pMin = pMinArg === undefined ? undefined : Number(pMinArg);
const nPredict = Number(opt('-n', 64)), rounds = Number(opt('-r', 3)), nDraft = Number(opt('-k', 4));
const prompt = opt('-p', 'Once upon a time, there was a little girl named Lily. She loved to play outside.');
const verifySizes = opt('--verify', '1,2,3,5,9').split(',').map(Number);
const lookup = has('--lookup');
const clock = opt('--clock', 'process');
// --cycles N: samples of each cost in a round's loop-shaped isolated measurement (predicted, below).
const cycles = Number(opt('--cycles', 60));
// --own-kv: a layer-skip draft keeps its own cache (runs the prompt and every verified token again) instead of the target's.
const ownKV = has('--own-kv');
// --recompute: a layer-skip draft sharing the cache does not keep its hidden states; the verify runs the drafted tokens through every layer.
const recompute = has('--recompute');
const file = args[0];
if (!file) throw new Error('usage: node bench/spec/run.mjs TARGET [--draft FILE] [--layers L] [--lookup] [--fr-spec K --rank FILE]');

const load = { threads: 1 };
const target = await loadModel(file, load);
const draft = draftFile ? await loadModel(draftFile, load) : undefined;
// --clock process (default): the whole process's CPU time, which reads to the microsecond here.
// --clock thread (Node 23.9+, process.threadCpuUsage): the main thread's, where every kernel runs at
// 1 kernel thread, without V8's background threads; on this machine's kernel it advances in uneven
// steps of 6-300 us (read back to back), too coarse for one draft step.
if (clock !== 'thread' && clock !== 'process') throw new Error(`--clock must be thread or process, got ${clock}`);
if (clock === 'thread' && !process.threadCpuUsage) throw new Error('--clock thread needs Node 23.9+ (process.threadCpuUsage)');
const medianOf = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
const cpuMs = clock === 'thread'
  ? () => { const u = process.threadCpuUsage(); return (u.user + u.system) / 1000; }
  : () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
/** Median CPU ms of fn over reps samples after one warm-up; a sample repeats fn until it spans 20 ms (tiny models). */
function timeCpu(fn, reps = 9) {
  let a = cpuMs();
  fn();
  const per = Math.max(1, Math.ceil(20 / Math.max(cpuMs() - a, 0.001)));
  const t = [];
  for (let i = 0; i < reps; i++) { a = cpuMs(); for (let j = 0; j < per; j++) fn(); t.push((cpuMs() - a) / per); }
  return t.sort((x, y) => x - y)[reps >> 1];
}

/** timeCpu for several functions at once, interleaved: sample i times each of them in turn. */
function timeCpuMany(fns, reps = 15) {
  const per = fns.map((fn) => { const a = cpuMs(); fn(); fn(); return Math.max(1, Math.ceil(20 / Math.max((cpuMs() - a) / 2, 0.001))); });
  const t = fns.map(() => []);
  for (let i = 0; i < reps; i++) {
    fns.forEach((fn, j) => { const a = cpuMs(); for (let m = 0; m < per[j]; m++) fn(); t[j].push((cpuMs() - a) / per[j]); });
  }
  return t.map((xs) => xs.sort((x, y) => x - y)[reps >> 1]);
}

const ids = target.tokenize(prompt, { addSpecial: true });
const last = ids[ids.length - 1];
const out = { model: file, threads: 1, promptTokens: ids.length, nVocab: target.hparams.nVocab, nLayer: target.hparams.nLayer };

// Costs measured apart, on contexts holding the prompt and then as many more tokens as half the
// generation: attention's share of a step grows with the depth, and a verify batch pays it once per
// row, so costs taken right after the prompt under-predict a long generation's verify steps (on the
// 279K-parameter pair a 4-token verify is 1.2x a step at depth 13 but 3.4x at depth 110).
const depth = ids.length - 1 + (nPredict >> 1);
const filler = Array.from({ length: depth }, (_, i) => (i < ids.length - 1 ? ids[i] : ids[i % ids.length]));
/**
 * Step costs of several contexts, all sampled round-robin (a change of load moves every one alike):
 * each entry is [model, context options, batch sizes, depth]; returns one { size: ms } per entry.
 */
function stepCosts(entries, reps = 15) {
  const ctxs = [], fns = [], slots = [];
  entries.forEach(([model, opts, sizes, at], e) => {
    const ctx = model.createContext({ ctx: 512, ...opts });
    ctx.decode(filler.slice(0, at));
    const base = ctx.nPast;
    ctxs.push(ctx);
    for (const k of sizes) {
      const batch = Array(k).fill(last);
      fns.push(() => { ctx.truncate(base); ctx.decode(batch, k === 1 ? { logits: 'last' } : { onLogits: () => {} }); });
      slots.push([e, k]);
    }
  });
  const r = entries.map(() => ({}));
  timeCpuMany(fns, reps).forEach((ms, i) => { r[slots[i][0]][slots[i][1]] = ms; });
  for (const c of ctxs) c.dispose();
  return r;
}

let subset;
if (frK) {
  const nV = target.hparams.nVocab;
  const ranked = rankFile ? parseRanking(readFileSync(rankFile, 'utf8'), nV, rankFile) : new Int32Array(0);
  const seen = new Set(ranked);
  const all = Int32Array.from([...ranked, ...Array.from({ length: nV }, (_, i) => i).filter((i) => !seen.has(i))]);
  subset = frSpecSubset(all, Number(frK), (draft ?? target).tokenizer, nV);
  out.frSpec = { k: Number(frK), rows: subset.length, rankedFromCorpus: ranked.length };
}
const dm = draft ?? target;
const headOf = (m) => (subset ? { matrix: restrictedHead(m.kernels, m.outputMatrix(), subset), ids: subset } : undefined);
const head = headOf(dm);
const L = layers === undefined ? undefined : Number(layers);
const entries = [[target, {}, verifySizes, depth], [target, {}, [1], ids.length - 1]];
if (!lookup) {
  entries.push([dm, { layers: L }, [1], depth]);
  if (head) entries.push([dm, { layers: L, head }, [1], depth]);
  if (head && L !== undefined) entries.push([target, { head }, [1], depth]);
}
const costs = stepCosts(entries);
const verify = costs[0];
out.costDepth = depth;
out.stepMsAfterPrompt = costs[1][1];
out.stepMs = verify[1];
out.verifyMs = verify;
out.verifyRatio = Object.fromEntries(Object.entries(verify).map(([k, v]) => [k, +(v / verify[1]).toFixed(3)]));
if (!lookup) {
  out.draftStepMs = { full: costs[2][1] };
  if (head) out.draftStepMs.frSpec = costs[3][1];
  if (head && L !== undefined) out.frSpecFullModelStepMs = { full: out.stepMs, frSpec: costs[4][1] };
  if (out.draftStepMs.frSpec) out.frSpecDraftRatio = +(out.draftStepMs.frSpec / out.draftStepMs.full).toFixed(3);
  out.costRatio = +((out.draftStepMs.frSpec ?? out.draftStepMs.full) / out.stepMs).toFixed(3);
}

// End to end, interleaved: plain, then speculative, `rounds` times; the median CPU ms per token counts.
const spec = { draft, layers: L, shareKV: !ownKV, keepHidden: !recompute, pMin, lookup: lookup || undefined, nDraft, frSpec: subset, frSpecTokens: subset?.length };
// In-loop accounting: CPU ms inside the target's and the draft's Context.decode during each run,
// by batch size, and what is left (sampling, the drafter's bookkeeping, truncation, async turns).
// The costs above are measured in isolation (one decode repeated until 20 ms); these are the same
// decodes as the loop interleaves them, which is what the prediction must match.
const decode = Context.prototype.decode, truncate = Context.prototype.truncate;
let loopAcc = null;
Context.prototype.decode = function (tokens, o) {
  if (!loopAcc) return decode.call(this, tokens, o);
  const isTarget = this === loopAcc.target;
  if (isTarget) loopAcc.verify = { p: this.nPast, m: tokens.length };
  const a = cpuMs(), r = decode.call(this, tokens, o), key = `${isTarget ? 'target' : 'draft'}${tokens.length}`;
  const e = (loopAcc.by[key] ??= { n: 0, ms: 0 });
  e.n++; e.ms += cpuMs() - a;
  return r;
};
// Each round's outcome, read off the target's cache: a verify of m tokens from position p, then a
// truncate to n keeps n - p - 1 of its m - 1 drafted tokens ([drafted, kept] per round).
Context.prototype.truncate = function (n) {
  const v = loopAcc?.verify;
  if (v && this === loopAcc.target) { loopAcc.rounds.push([v.m - 1, n - v.p - 1]); loopAcc.verify = null; }
  return truncate.call(this, n);
};
/** One generation; `account`: time every decode and record each round (costs a clock read per decode). */
const gen = async (s, account = false) => {
  const ctx = target.createContext({ ctx: 512 });
  const acc = { target: ctx, by: {}, rounds: [], verify: null };
  if (account) loopAcc = acc;
  const a = cpuMs();
  let done;
  for await (const c of target.generate(ids, { context: ctx, maxTokens: nPredict, temperature: 0, stopAtEog: false, speculative: s })) if (c.done) done = c;
  const ms = cpuMs() - a;
  loopAcc = null;
  ctx.dispose();
  return { ms, wallMs: done.timings.generateMs + done.timings.promptMs, tokens: done.tokens, spec: done.timings.speculative, by: acc.by, rounds: acc.rounds };
};

// The prediction from costs measured apart from the speculative run (predicted, below).
const LAST = { logits: 'last' }, ALL = { onLogits: () => {} };
const modelDrafter = !lookup && L === undefined;
/**
 * Every decode the loops run, each timed alone (one call) but in the order the loops run them, so
 * that each finds the caches as it does there: three plain target steps back to back, the last two
 * timed (the plain loop), then a round: the draft's catch-up decode (1 token, or 2 after a fully kept draft: every
 * other cycle), nDraft - 1 draft steps, the verify of nDraft + 1 tokens; then a draft step and a
 * verify of another size (the c_v(n) curve). Means over the cycles: a clock that ticks coarsely still
 * sums right over many calls; medians beside them.
 */
function loopCosts(nCycles) {
  const tP = target.createContext({ ctx: 512 }), tV = target.createContext({ ctx: 512 });
  tP.decode(filler.slice(0, depth)); tV.decode(filler.slice(0, depth));
  const dctx = modelDrafter ? dm.createContext({ ctx: 512, head }) : undefined;
  dctx?.decode(filler.slice(0, depth));
  const tok = (i) => filler[(depth + i) % filler.length];
  const one = Int32Array.of(tok(0)), two = Int32Array.of(tok(1), tok(2));
  const batches = new Map([...new Set([...verifySizes, nDraft + 1])].map((n) => [n, Int32Array.from({ length: n }, (_, i) => tok(i))]));
  const lookSeq = [...ids, ...filler.slice(0, nPredict >> 1)];
  const t = {};
  const timed = (k, fn) => { const a = cpuMs(); fn(); (t[k] ??= []).push(cpuMs() - a); };
  for (let c = 0; c < nCycles; c++) {
    tP.truncate(depth);
    tP.decode(one, LAST); // the plain loop's step follows a step of the same context, not the round's decodes
    timed('step', () => tP.decode(one, LAST));
    timed('step', () => tP.decode(one, LAST));
    if (dctx) {
      dctx.truncate(depth);
      if (c & 1) timed('d2', () => dctx.decode(two, LAST)); else timed('d1', () => dctx.decode(one, LAST));
      for (let i = 0; i < nDraft - 1; i++) timed('d1', () => dctx.decode(one, LAST));
    } else if (lookup) timed('lookup', () => lookupDraft(lookSeq, nDraft));
    tV.truncate(depth);
    timed(`v${nDraft + 1}`, () => tV.decode(batches.get(nDraft + 1), ALL));
    const n = verifySizes[c % verifySizes.length];
    if (dctx) { dctx.truncate(depth); dctx.decode(one, LAST); }
    tV.truncate(depth);
    timed(`v${n}`, () => tV.decode(batches.get(n), ALL));
  }
  tP.dispose(); tV.dispose(); dctx?.dispose();
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return Object.fromEntries(Object.entries(t).map(([k, xs]) => [k, { mean: mean(xs), median: medianOf(xs), n: xs.length }]));
}

/**
 * A context whose decode costs nothing: it keeps the positions and hands back a fixed logits row
 * (rowFor(i, tokens): row i of a batch). Run through the real loops (generateTokens,
 * generateSpeculative with a real drafter on another), it times the loops' own work alone: sampling,
 * the drafter's bookkeeping, the text stream, truncation, the stepper and its event-loop turns, the
 * async generator.
 */
class NullContext {
  constructor(hp, rowFor) { this.hp = hp; this.nCtx = 512; this.batch = 64; this.nLogits = hp.nVocab; this.nPast = 0; this.tokens = []; this.rowFor = rowFor; }
  truncate(n = 0) { this.nPast = n; this.tokens.length = n; }
  decode(tokens, o = {}) {
    const n = tokens.length;
    for (let i = 0; i < n; i++) this.tokens.push(tokens[i]);
    this.nPast += n;
    if (o.onLogits) for (let i = 0; i < n; i++) o.onLogits(i, this.rowFor(i, tokens));
    return o.logits === 'none' ? undefined : this.rowFor(n - 1, tokens);
  }
}
/**
 * The loops' own CPU ms (no decode: NullContext) for the run's outcome: the plain loop per token; the
 * speculative loop per round, its target keeping, round by round, as many drafted tokens as the
 * measured run kept (`kept`), of drafts the drafter makes as it did (a draft model's chain over a
 * row, or lookup's search of the real sequence).
 */
async function loopWork(kept, tokens, reps = 5) {
  const nV = target.hparams.nVocab, hp = target.hparams;
  // Two ordinary tokens of the run: a draft model always proposes A; the target agrees with
  // kept[r] drafted tokens of round r, then says another.
  const A = tokens.find((t) => !target.tokenizer.isEog(t)), B = tokens.find((t) => t !== A && !target.tokenizer.isEog(t));
  const rows = new Map();
  const rowOf = (id) => { let x = rows.get(id); if (!x) { x = new Float32Array(nV); x[id] = 10; rows.set(id, x); } return x; };
  const opts = { maxTokens: nPredict, temperature: 0, stopAtEog: false };
  const xs = { plain: [], spec: [] };
  for (let s = 0; s < reps; s++) {
    let a = cpuMs(), n = 0;
    for await (const c of generateTokens(new NullContext(hp, () => rowOf(A)), target.tokenizer, ids, opts)) if (!c.done) n++;
    xs.plain.push((cpuMs() - a) / n);
    let r = 0, steps = 0;
    const tctx = new NullContext(hp, (i, t) => {
      const next = i + 1 < t.length ? t[i + 1] : -1;
      return next >= 0 && i < kept[Math.min(r, kept.length - 1)] ? rowOf(next) : rowOf(next === B ? A : B);
    });
    const stepped = tctx.decode.bind(tctx);
    tctx.decode = (t, o) => { const out = stepped(t, o); if (o?.onLogits) r++; return out; };
    const drafter = lookup ? new LookupDrafter(2, 4) : new ModelDrafter('null', new NullContext(hp, () => rowOf(A)), target.tokenizer);
    a = cpuMs();
    for await (const c of generateSpeculative(tctx, target.tokenizer, ids, { ...opts, speculative: spec }, drafter)) if (c.done) steps = c.timings.speculative.steps;
    xs.spec.push((cpuMs() - a) / steps);
  }
  return { plainPerToken: medianOf(xs.plain), specPerRound: medianOf(xs.spec) };
}

const plainRuns = [], specRuns = [], plainAcc = [], specAcc = [];
// Each round also samples the costs (5 samples each), so that its expected speedup comes from costs
// measured minutes, not an hour, from its own runs: under a changing load the paired ratio
// measured / expected is steadier than either number. The timed runs carry no accounting; a second
// pair of runs per round does (its clock reads cost CPU of their own).
const roundCosts = [], roundLoop = [], roundOver = [];
// One untimed generation of each first: the first run of a loop pays for compiling its JavaScript.
await gen(undefined);
await gen(spec);
for (let r = 0; r < rounds; r++) {
  plainRuns.push(await gen(undefined));
  roundCosts.push(stepCosts(entries, 5));
  specRuns.push(await gen(spec));
  plainAcc.push(await gen(undefined, true));
  specAcc.push(await gen(spec, true));
  if (modelDrafter || lookup) { roundLoop.push(loopCosts(cycles)); roundOver.push(await loopWork(specAcc[0].rounds.map(([, j]) => j), plainRuns[0].tokens)); }
}
const med = (xs) => xs.map((x) => x.ms).sort((a, b) => a - b)[xs.length >> 1];
const plainMs = med(plainRuns), specMs = med(specRuns);
const st = specRuns[0].spec;
// The prompt is in both; subtract its cost (one prefill, measured apart) from both.
const pctx = target.createContext({ ctx: 512 });
const prefill = timeCpu(() => { pctx.truncate(0); pctx.decode(ids.slice(0, -1)); }, 3);
pctx.dispose();
let draftPrefill = 0;
// A layer-skip draft sharing the target's cache runs no prompt of its own: nothing to subtract.
if (!lookup && (draft || L === undefined || ownKV)) {
  const dctx = dm.createContext({ ctx: 512, layers: spec.layers, head });
  draftPrefill = timeCpu(() => { dctx.truncate(0); dctx.decode(ids); }, 3);
  dctx.dispose();
}
const n = plainRuns[0].tokens.length;
const draftStep = lookup ? 0 : out.draftStepMs.frSpec ?? out.draftStepMs.full;
// Verify cost at the mean batch size, interpolated linearly between the measured sizes.
const meanBatch = (st.steps + st.drafted) / st.steps;
const sizes = verifySizes.slice().sort((x, y) => x - y);
/** The cost of a batch of m tokens from costs at the sizes `have` (ascending): linear between them, proportional past the largest. */
function interpolate(get, have, m) {
  for (let i = 0; i + 1 < have.length; i++) {
    const [a, b] = [have[i], have[i + 1]];
    if (m >= a && m <= b) return get(a) + (get(b) - get(a)) * (m - a) / (b - a);
  }
  return get(have[have.length - 1]) * m / have[have.length - 1];
}
const costAt = (m) => interpolate((k) => verify[k], sizes, m);
const verifyAt = costAt(meanBatch);
/** The expected speedup from one set of costs: n steps against the verifies and draft steps the run made. */
function expected(c) {
  const v = c[0], d = lookup ? 0 : (head ? c[3][1] : c[2][1]);
  return (n * v[1]) / (st.steps * interpolate((k) => v[k], sizes, meanBatch) + st.drafted * d);
}
const paired = plainRuns.map((p, r) => {
  const measured = (p.ms - prefill) / (specRuns[r].ms - prefill - draftPrefill);
  const exp = expected(roundCosts[r]);
  return { measured, expected: exp, ratio: measured / exp };
});
function leviathan(a, k, c, v) {
  const tokens = a >= 1 ? k + 1 : (1 - a ** (k + 1)) / (1 - a);
  return +(tokens / (v + k * c)).toFixed(3);
}
out.endToEnd = {
  drafter: draftFile ?? (layers !== undefined ? `layers ${layers}${ownKV ? ' (own KV)' : recompute ? ' (shared KV, recomputed)' : ' (shared KV, kept hidden)'}` : lookup ? 'lookup' : 'target'), frSpecRows: subset?.length, nDraft,
  pMin, tokens: n, steps: st.steps, drafted: st.drafted, accepted: st.accepted,
  acceptance: +(st.accepted / Math.max(1, st.drafted)).toFixed(3), acceptedPerStep: +(st.accepted / st.steps).toFixed(2),
  plainCpuMsPerToken: +((plainMs - prefill) / n).toFixed(2), specCpuMsPerToken: +((specMs - prefill - draftPrefill) / n).toFixed(2),
  plainTokPerCpuS: +(1000 * n / (plainMs - prefill)).toFixed(2), specTokPerCpuS: +(1000 * n / (specMs - prefill - draftPrefill)).toFixed(2),
  speedup: +((plainMs - prefill) / (specMs - prefill - draftPrefill)).toFixed(3),
  expectedIsolated: +((n * verify[1]) / (st.steps * verifyAt + st.drafted * draftStep)).toFixed(3), meanVerifyBatch: +meanBatch.toFixed(2),
  // Leviathan et al.'s closed form from the acceptance rate a alone (independent positions, every
  // draft nDraft long): (1 - a^(k+1)) / (1 - a) tokens per (verify of k+1 + k draft steps).
  expectedLeviathan: leviathan(st.accepted / Math.max(1, st.drafted), nDraft, draftStep / verify[1], costAt(nDraft + 1) / verify[1]),
  pairedSpeedup: +medianOf(paired.map((x) => x.measured)).toFixed(3), pairedExpected: +medianOf(paired.map((x) => x.expected)).toFixed(3),
  pairedMeasuredOverExpected: +medianOf(paired.map((x) => x.ratio)).toFixed(3), pairedRounds: paired.map((x) => [+x.measured.toFixed(3), +x.expected.toFixed(3)]),
  greedyIdentical: specRuns.every((r) => r.tokens.length === n && r.tokens.every((t, i) => t === plainRuns[0].tokens[i])),
  wallMsPlain: plainRuns.map((r) => Math.round(r.wallMs)), wallMsSpec: specRuns.map((r) => Math.round(r.wallMs)),
};
// The loop's own costs (medians over rounds, from the accounted runs): the step and verify as interleaved with the draft,
// the draft's decodes (drafted tokens and the catch-up of the token the target emitted), and the
// rest of the loop per step; the speedup those predict (prompt decodes left out on both sides).
{
  const med2 = (xs) => medianOf(xs);
  const sum = (by, pred) => Object.entries(by).filter(([k]) => pred(k)).reduce((a, [, e]) => a + e.ms, 0);
  const cnt = (by, pred) => Object.entries(by).filter(([k]) => pred(k)).reduce((a, [, e]) => a + e.n, 0);
  const promptLen = ids.length - 1;
  const isPrompt = (k) => k === `target${promptLen}` || k === `draft${ids.length}`;
  const plainStep = med2(plainAcc.map((r) => sum(r.by, (k) => k === 'target1') / Math.max(1, cnt(r.by, (k) => k === 'target1'))));
  const verifyMs = med2(specAcc.map((r) => sum(r.by, (k) => k.startsWith('target') && !isPrompt(k)) / r.spec.steps));
  const draftMs = med2(specAcc.map((r) => sum(r.by, (k) => k.startsWith('draft') && !isPrompt(k)) / r.spec.steps));
  const plainOther = med2(plainAcc.map((r) => (r.ms - sum(r.by, () => true)) / n));
  const specOther = med2(specAcc.map((r) => (r.ms - sum(r.by, () => true)) / r.spec.steps));
  out.inLoop = {
    plainStepMs: +plainStep.toFixed(3), plainOtherMsPerToken: +plainOther.toFixed(3),
    verifyMsPerStep: +verifyMs.toFixed(3), verifyOverStep: +(verifyMs / plainStep).toFixed(3), isolatedVerifyOverStep: +(costAt(meanBatch) / verify[1]).toFixed(3),
    draftMsPerStep: +draftMs.toFixed(3), isolatedDraftMsPerStep: +((st.drafted / st.steps) * draftStep).toFixed(3),
    specOtherMsPerStep: +specOther.toFixed(3),
    draftDecodes: Object.fromEntries(Object.entries(specAcc[0].by).filter(([k]) => k.startsWith('draft')).map(([k, e]) => [k, e.n])),
  };
  // The formula (header): a, k from the counts; v, c, o in units of a plain token's in-loop cost.
  const u = plainStep + plainOther;
  const a = st.accepted / Math.max(1, st.drafted), k = st.drafted / st.steps;
  const v = verifyMs / u, c = st.drafted ? (draftMs * st.steps) / st.drafted / u : 0, o = specOther / u;
  const S = (1 + a * k) / (v + k * c + o);
  out.endToEnd.expectedSpeedup = +S.toFixed(3);
  out.endToEnd.formula = { a: +a.toFixed(3), k: +k.toFixed(3), v: +v.toFixed(3), c: +c.toFixed(4), o: +o.toFixed(3), uMs: +u.toFixed(3) };
  out.endToEnd.measuredOverExpected = +(out.endToEnd.speedup / S).toFixed(3);
}
// The prediction from costs measured apart (loopCosts, overheadCosts), with Leviathan et al.'s
// expected tokens per round from the per-position acceptance of the run's rounds:
//
//   E = 1 + sum_{i=1..k} prod_{j<=i} alpha_j     alpha_j = P(drafted token j kept | tokens 1..j-1 kept)
//   plain token = c_step + w_plain
//   round       = draft + c_v(k+1) + w_round
//   draft       = P_all * c_d(2) + (1 - P_all) * c_d(1) + (k - 1) * c_d(1)   (a draft model; lookup: its search)
//   S = E * plain token / round
//
// c_step, c_v(n), c_d(n): loopCosts; w_plain (per token) and w_round (per round): loopWork, the
// loops' own work with decodes that cost nothing.
//
// k = nDraft; P_all = prod alpha_j, the rounds that keep every drafted token, after which the draft
// catches up 2 tokens. `decodesOnly` leaves the loops' own work out (plain token = c_step, round =
// draft + c_v(k+1)): the gap between it and S is what that work costs.
if (roundLoop.length) {
  const rs = specAcc[0].rounds.slice(0, -1); // the last round may stop early (maxTokens)
  const alpha = [];
  for (let i = 1; i <= nDraft; i++) {
    const tried = rs.filter(([d, j]) => d >= i && j >= i - 1).length, kept = rs.filter(([d, j]) => d >= i && j >= i).length;
    alpha.push(tried ? kept / tried : 0);
  }
  let E = 1, pAll = 1;
  for (const a of alpha) { pAll *= a; E += pAll; }
  const kMean = rs.reduce((x, [d]) => x + d, 0) / Math.max(1, rs.length);
  const fullDrafts = rs.filter(([d]) => d === nDraft).length;
  const hist = Array.from({ length: nDraft + 1 }, (_, j) => rs.filter(([d, jj]) => d === nDraft && jj === j).length);
  // The geometric-model alpha (Leviathan's constant rate): kept / (kept + rejections) over full drafts.
  const keptAll = rs.filter(([d]) => d === nDraft).reduce((x, [, j]) => x + j, 0), rejections = rs.filter(([d, j]) => d === nDraft && j < d).length;
  const alphaConst = keptAll / Math.max(1, keptAll + rejections);
  const eConst = alphaConst >= 1 ? nDraft + 1 : (1 - alphaConst ** (nDraft + 1)) / (1 - alphaConst);
  // Lookup drafts 0..nDraft tokens a round: E and the verify's cost are averaged over its rounds.
  const eRounds = rs.reduce((x, [, j]) => x + j + 1, 0) / Math.max(1, rs.length);
  const eUse = modelDrafter ? E : eRounds;
  const predict = (lc, ov, stat) => {
    const c = (k) => lc[k]?.[stat] ?? NaN;
    const have = Object.keys(lc).filter((k) => k[0] === 'v').map((k) => Number(k.slice(1))).sort((a, b) => a - b);
    const cv = (m) => interpolate((k) => c(`v${k}`), have, m);
    const verifyCost = modelDrafter ? cv(nDraft + 1) : rs.reduce((x, [d]) => x + cv(d + 1), 0) / Math.max(1, rs.length);
    const draftCost = modelDrafter ? pAll * c('d2') + (1 - pAll) * c('d1') + (nDraft - 1) * c('d1') : c('lookup');
    const plainTok = c('step') + ov.plainPerToken;
    const round = draftCost + verifyCost + ov.specPerRound;
    return { S: eUse * plainTok / round, Sconst: eConst * plainTok / round, decodesOnly: eUse * c('step') / (draftCost + verifyCost), plainTok, round, draftCost, verifyCost };
  };
  const perRound = roundLoop.map((lc, r) => {
    const measured = (plainRuns[r].ms - prefill) / (specRuns[r].ms - prefill - draftPrefill);
    const p = predict(lc, roundOver[r], 'mean');
    return { measured, ...p, ratio: measured / p.S };
  });
  const m = (f) => +medianOf(perRound.map(f)).toFixed(4);
  const costMed = (k, stat = 'mean') => +medianOf(roundLoop.map((lc) => lc[k]?.[stat] ?? NaN)).toFixed(4);
  const keys = Object.keys(roundLoop[0]).sort();
  const medOver = (k) => +medianOf(roundOver.map((o) => o[k])).toFixed(4);
  const stepMean = costMed('step');
  out.predicted = {
    nDraft, rounds: rs.length, fullDrafts, keptHistogram: hist, alpha: alpha.map((a) => +a.toFixed(3)), alphaConst: +alphaConst.toFixed(3),
    E: +eUse.toFixed(3), Eleviathan: +E.toFixed(3), Econst: +eConst.toFixed(3), Emeasured: +(1 + st.accepted / st.steps).toFixed(3), meanDraft: +kMean.toFixed(2), pAll: +pAll.toFixed(3),
    costsMs: Object.fromEntries(keys.map((k) => [k, { mean: costMed(k), median: costMed(k, 'median'), n: roundLoop[0][k].n }])),
    verifyOverStep: Object.fromEntries(keys.filter((k) => k[0] === 'v').map((k) => [k.slice(1), +(costMed(k) / stepMean).toFixed(3)])),
    draftOverStep: modelDrafter ? +(costMed('d1') / stepMean).toFixed(4) : undefined,
    loopWorkMs: { plainPerToken: medOver('plainPerToken'), specPerRound: medOver('specPerRound') },
    plainTokMs: m((x) => x.plainTok), roundMs: m((x) => x.round), draftMsPerRound: m((x) => x.draftCost), verifyMsPerRound: m((x) => x.verifyCost),
    measured: m((x) => x.measured), expected: m((x) => x.S), expectedConstAlpha: m((x) => x.Sconst), expectedDecodesOnly: m((x) => x.decodesOnly),
    measuredOverExpected: m((x) => x.ratio), within15: Math.abs(m((x) => x.ratio) - 1) <= 0.15,
    perRound: perRound.map((x) => [+x.measured.toFixed(3), +x.S.toFixed(3)]),
    clock, cycles,
  };
}
process.stdout.write(JSON.stringify(out) + '\n');
target.dispose();
draft?.dispose();
