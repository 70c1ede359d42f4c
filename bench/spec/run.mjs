// Speculative decoding costs and end-to-end speed, by CPU time on one kernel thread, so that a
// loaded shared machine (other processes taking the cores) changes the numbers little: a process's
// CPU time counts only the time it ran. Reports:
//   - a decode step, and a verify batch of k tokens (logits of every row) as a multiple of it;
//   - draft steps: the model's first L layers, with the full head and with an FR-Spec head of K rows;
//     the full model with an FR-Spec head;
//   - end to end: CPU ms per generated token, plain and speculative, interleaved round by round,
//     with acceptance, accepted tokens per step, the measured speedup and the one the measured costs
//     predict (steps x verify + drafted x draft step, against tokens x step).
//
//   npm run build
//   node bench/spec/run.mjs TARGET [--draft FILE] [--layers L] [--lookup] [--fr-spec K] [--rank FILE]
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

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args.splice(i, 2)[1] : def; };
const has = (name) => { const i = args.indexOf(name); if (i >= 0) args.splice(i, 1); return i >= 0; };
const draftFile = opt('--draft'), layers = opt('--layers'), frK = opt('--fr-spec'), rankFile = opt('--rank');
const nPredict = Number(opt('-n', 64)), rounds = Number(opt('-r', 3)), nDraft = Number(opt('-k', 4));
const prompt = opt('-p', 'Once upon a time, there was a little girl named Lily. She loved to play outside.');
const verifySizes = opt('--verify', '1,2,3,5,9').split(',').map(Number);
const lookup = has('--lookup');
const file = args[0];
if (!file) throw new Error('usage: node bench/spec/run.mjs TARGET [--draft FILE] [--layers L] [--lookup] [--fr-spec K --rank FILE]');

const load = { threads: 1 };
const target = await loadModel(file, load);
const draft = draftFile ? await loadModel(draftFile, load) : undefined;
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
/** Median CPU ms of fn over reps samples after one warm-up; a sample repeats fn until it spans 20 ms (tiny models). */
function timeCpu(fn, reps = 9) {
  let a = cpuMs();
  fn();
  const per = Math.max(1, Math.ceil(20 / Math.max(cpuMs() - a, 0.001)));
  const t = [];
  for (let i = 0; i < reps; i++) { a = cpuMs(); for (let j = 0; j < per; j++) fn(); t.push((cpuMs() - a) / per); }
  return t.sort((x, y) => x - y)[reps >> 1];
}

const ids = target.tokenize(prompt, { addSpecial: true });
const last = ids[ids.length - 1];
const out = { model: file, threads: 1, promptTokens: ids.length, nVocab: target.hparams.nVocab, nLayer: target.hparams.nLayer };

// Costs measured apart, on contexts holding the prompt.
function stepCosts(model, opts = {}) {
  const ctx = model.createContext({ ctx: 512, ...opts });
  ctx.decode(ids.slice(0, -1));
  const base = ctx.nPast;
  const r = {};
  for (const k of verifySizes) {
    const batch = Array(k).fill(last);
    r[k] = timeCpu(() => { ctx.truncate(base); ctx.decode(batch, k === 1 ? { logits: 'last' } : { onLogits: () => {} }); });
  }
  ctx.dispose();
  return r;
}
const verify = stepCosts(target);
out.stepMs = verify[1];
out.verifyMs = verify;
out.verifyRatio = Object.fromEntries(Object.entries(verify).map(([k, v]) => [k, +(v / verify[1]).toFixed(3)]));

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
if (!lookup) {
  const L = layers === undefined ? undefined : Number(layers);
  out.draftStepMs = { full: stepCosts(dm, { layers: L })[1] };
  if (head) out.draftStepMs.frSpec = stepCosts(dm, { layers: L, head })[1];
  if (head && L !== undefined) out.frSpecFullModelStepMs = { full: out.stepMs, frSpec: stepCosts(target, { head })[1] };
  if (out.draftStepMs.frSpec) out.frSpecDraftRatio = +(out.draftStepMs.frSpec / out.draftStepMs.full).toFixed(3);
}

// End to end, interleaved: plain, then speculative, `rounds` times; the median CPU ms per token counts.
const spec = { draft, layers: layers === undefined ? undefined : Number(layers), lookup: lookup || undefined, nDraft, frSpec: subset, frSpecTokens: subset?.length };
const gen = async (s) => {
  const ctx = target.createContext({ ctx: 512 });
  const a = cpuMs();
  let done;
  for await (const c of target.generate(ids, { context: ctx, maxTokens: nPredict, temperature: 0, stopAtEog: false, speculative: s })) if (c.done) done = c;
  const ms = cpuMs() - a - 0;
  ctx.dispose();
  return { ms, wallMs: done.timings.generateMs + done.timings.promptMs, tokens: done.tokens, spec: done.timings.speculative };
};
const plainRuns = [], specRuns = [];
for (let r = 0; r < rounds; r++) { plainRuns.push(await gen(undefined)); specRuns.push(await gen(spec)); }
const med = (xs) => xs.map((x) => x.ms).sort((a, b) => a - b)[xs.length >> 1];
const plainMs = med(plainRuns), specMs = med(specRuns);
const st = specRuns[0].spec;
// The prompt is in both; subtract its cost (one prefill, measured apart) from both.
const pctx = target.createContext({ ctx: 512 });
const prefill = timeCpu(() => { pctx.truncate(0); pctx.decode(ids.slice(0, -1)); }, 3);
pctx.dispose();
let draftPrefill = 0;
if (!lookup) {
  const dctx = dm.createContext({ ctx: 512, layers: spec.layers, head });
  draftPrefill = timeCpu(() => { dctx.truncate(0); dctx.decode(ids); }, 3);
  dctx.dispose();
}
const n = plainRuns[0].tokens.length;
const draftStep = lookup ? 0 : out.draftStepMs.frSpec ?? out.draftStepMs.full;
// Verify cost at the mean batch size, interpolated linearly between the measured sizes.
const meanBatch = (st.steps + st.drafted) / st.steps;
const sizes = verifySizes.slice().sort((x, y) => x - y);
let verifyAt = verify[sizes[sizes.length - 1]] * meanBatch / sizes[sizes.length - 1];
for (let i = 0; i + 1 < sizes.length; i++) {
  const [a, b] = [sizes[i], sizes[i + 1]];
  if (meanBatch >= a && meanBatch <= b) verifyAt = verify[a] + (verify[b] - verify[a]) * (meanBatch - a) / (b - a);
}
out.endToEnd = {
  drafter: draftFile ?? (layers !== undefined ? `layers ${layers}` : lookup ? 'lookup' : 'target'), frSpecRows: subset?.length, nDraft,
  tokens: n, steps: st.steps, drafted: st.drafted, accepted: st.accepted,
  acceptance: +(st.accepted / Math.max(1, st.drafted)).toFixed(3), acceptedPerStep: +(st.accepted / st.steps).toFixed(2),
  plainCpuMsPerToken: +((plainMs - prefill) / n).toFixed(2), specCpuMsPerToken: +((specMs - prefill - draftPrefill) / n).toFixed(2),
  plainTokPerCpuS: +(1000 * n / (plainMs - prefill)).toFixed(2), specTokPerCpuS: +(1000 * n / (specMs - prefill - draftPrefill)).toFixed(2),
  speedup: +((plainMs - prefill) / (specMs - prefill - draftPrefill)).toFixed(3),
  expectedSpeedup: +((n * verify[1]) / (st.steps * verifyAt + st.drafted * draftStep)).toFixed(3), meanVerifyBatch: +meanBatch.toFixed(2),
  greedyIdentical: specRuns.every((r) => r.tokens.length === n && r.tokens.every((t, i) => t === plainRuns[0].tokens[i])),
  wallMsPlain: plainRuns.map((r) => Math.round(r.wallMs)), wallMsSpec: specRuns.map((r) => Math.round(r.wallMs)),
};
process.stdout.write(JSON.stringify(out) + '\n');
target.dispose();
draft?.dispose();
