// Speculative decoding on the command line: the flags run, chat and serve share (--draft MODEL, --draft-n,
// --draft-min, --draft-p-min, --draft-layers, --lookup, --fr-spec FILE, --fr-spec-tokens), `lutra
// fr-spec` (rank a corpus's tokens for an FR-Spec draft head) and `lutra spec-bench` (acceptance,
// mean accepted length, measured speedup beside the one the measured costs predict).

import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { ArgumentError } from '../core/errors.js';
import { loadModel, type LoadOptions, type Model } from '../runtime/model.js';
import type { GenerateOptions } from '../runtime/generate.js';
import type { EngineSpeculativeOptions } from '../openai/engine.js';
import type { SpeculativeOptions } from '../runtime/speculative.js';
import { formatRanking, frSpecSubset, parseRanking, rankTokens, restrictedHead } from '../runtime/spec/fr-spec.js';
import { addKernelFlags, float, int, readUtf8File, resolveModel, threadCount } from './common.js';

export interface SpeculativeFlags {
  draft?: string; draftN?: number; draftMax?: number; draftMin?: number; draftPMin?: number; draftLayers?: number;
  lookup?: boolean; frSpec?: string; frSpecTokens?: number;
}

export function addSpeculativeFlags(cmd: Command): Command {
  return cmd
    .option('--draft <model>', 'speculative decoding: a draft model with the same vocabulary proposes tokens the model verifies in one batch')
    .option('--draft-n <n>', 'most tokens drafted per step (default 8; 10 with --lookup)', int('--draft-n', 1))
    // Its own option: commander reads '--draft-n, --draft-max' as one option named draftMax, and --draft-n went unread.
    .addOption(new Option('--draft-max <n>', 'the same as --draft-n (llama.cpp\'s name)').argParser(int('--draft-max', 1)))
    .option('--draft-min <n>', 'verify only drafts of at least this many tokens', int('--draft-min', 0))
    .option('--draft-p-min <p>', 'stop drafting when the draft model is less sure than this of its next token', float('--draft-p-min'))
    .option('--draft-layers <n>', 'self-drafting: the model\'s first N layers draft for it (layer skip)', int('--draft-layers', 1))
    .option('--lookup', 'prompt lookup: draft the continuation of the last n-gram seen earlier in the context')
    .option('--fr-spec <file>', 'FR-Spec: restrict the draft\'s LM head to the most frequent tokens ranked in FILE (lutra fr-spec)')
    .option('--fr-spec-tokens <k>', 'how many ranked tokens the FR-Spec head keeps (default: all in the file)', int('--fr-spec-tokens', 1));
}

/**
 * The speculative options the flags ask for (undefined: none), with the draft model loaded on the
 * same kernel settings as the target; dispose() frees it.
 */
export async function speculativeFromFlags(o: SpeculativeFlags, target: Model, load: LoadOptions = {}): Promise<{ spec?: SpeculativeOptions; dispose(): void }> {
  if (!hasDrafter(o)) return { dispose() {} };
  const draft = o.draft !== undefined ? await loadModel(resolveModel(o.draft), load) : undefined;
  try {
    const spec: SpeculativeOptions = {
      draft, layers: o.draftLayers, lookup: o.lookup || undefined, nDraft: draftN(o), nDraftMin: o.draftMin, pMin: o.draftPMin,
    };
    if (o.frSpec) {
      spec.frSpec = parseRanking(await readUtf8File(o.frSpec), (draft ?? target).hparams.nVocab, o.frSpec);
      spec.frSpecTokens = o.frSpecTokens;
    }
    return { spec, dispose: () => draft?.dispose() };
  } catch (e) {
    draft?.dispose();
    throw e;
  }
}

/** --draft-n or its other name --draft-max (not both with different values). */
function draftN(o: SpeculativeFlags): number | undefined {
  if (o.draftN !== undefined && o.draftMax !== undefined && o.draftN !== o.draftMax) throw new ArgumentError(`--draft-n ${o.draftN} and --draft-max ${o.draftMax} are the same option with two values`);
  return o.draftN ?? o.draftMax;
}

/** Whether the flags name a drafter; refuses draft options without one, and two drafters at once. */
function hasDrafter(o: SpeculativeFlags): boolean {
  const drafters = [o.draft !== undefined, o.draftLayers !== undefined, !!o.lookup].filter(Boolean).length;
  if (drafters === 0 && (o.frSpec || draftN(o) !== undefined || o.draftMin !== undefined || o.draftPMin !== undefined || o.frSpecTokens !== undefined)) {
    throw new ArgumentError('--draft-n, --draft-min, --draft-p-min and --fr-spec need a drafter: --draft MODEL, --draft-layers N or --lookup');
  }
  if (drafters > 1) throw new ArgumentError('choose one drafter: --draft MODEL, --draft-layers N or --lookup');
  return drafters === 1;
}

/**
 * The engine's speculative options the flags ask for (`lutra serve`): the draft as a path for the
 * engine to load with its own kernel options; the FR-Spec ranking read now (its ids are checked
 * against the draft's vocabulary when the engine starts).
 */
export async function engineSpeculativeFromFlags(o: SpeculativeFlags): Promise<EngineSpeculativeOptions | undefined> {
  if (!hasDrafter(o)) return undefined;
  return {
    draft: o.draft !== undefined ? resolveModel(o.draft) : undefined, layers: o.draftLayers, lookup: o.lookup || undefined,
    nDraft: draftN(o), nDraftMin: o.draftMin, pMin: o.draftPMin,
    ...(o.frSpec ? { frSpec: parseRanking(await readUtf8File(o.frSpec), 2 ** 31 - 1, o.frSpec), frSpecTokens: o.frSpecTokens } : {}),
  };
}

function cliLoad(o: { threads?: number; backend?: LoadOptions['backend']; kernels?: LoadOptions['kernels']; lutTables?: LoadOptions['lutTables']; ctx?: number }): LoadOptions {
  return { threads: o.threads, backend: o.backend, kernels: o.kernels, lutTables: o.lutTables, context: { ctx: o.ctx } };
}

async function cmdFrSpec(modelPath: string, corpus: string[], o: { out: string; top?: number }): Promise<void> {
  const { loadTokenizer } = await import('../runtime/model.js');
  const tok = await loadTokenizer(resolveModel(modelPath));
  const texts: string[] = [];
  for (const f of corpus) texts.push(...(await readUtf8File(f)).split('\n'));
  const r = rankTokens(tok, texts);
  const n = Math.min(o.top ?? r.ids.length, r.ids.length);
  const total = r.counts.reduce((a, b) => a + b, 0);
  await writeFile(o.out, formatRanking(r.ids.subarray(0, n), r.counts.subarray(0, n), { model: modelPath, vocab: tok.vocabSize, corpus: corpus.join(','), tokens: total }));
  let cum = 0;
  const cover = [0.25, 0.5].map((f) => { const k = Math.floor(tok.vocabSize * f); cum = 0; for (let i = 0; i < Math.min(k, r.ids.length); i++) cum += r.counts[i]!; return `top ${k}: ${((100 * cum) / total).toFixed(1)}%`; });
  process.stderr.write(`lutra: ${o.out}: ${n} of ${tok.vocabSize} tokens ranked from ${total} corpus tokens (${r.ids.length} seen); coverage ${cover.join(', ')}\n`);
}

/** Seconds per call of fn, median of `reps` after one warm-up. */
function timeIt(fn: () => void, reps: number): number {
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) { const a = performance.now(); fn(); t.push(performance.now() - a); }
  return t.sort((a, b) => a - b)[reps >> 1]! / 1000;
}

/** Options of the speculative benchmark (`lutra spec-bench`, or `lutra bench` given a drafter). */
export type SpecBenchOptions = SpeculativeFlags & { prompt: string; nPredict: number; temp: number; seed: number; reps: number; json?: boolean; threads?: number; ctx?: number; backend?: LoadOptions['backend']; kernels?: LoadOptions['kernels']; lutTables?: LoadOptions['lutTables'] };

/** Whether the flags name a drafter (refusing draft options without one and two drafters at once). */
export function wantsSpeculation(o: SpeculativeFlags): boolean {
  return hasDrafter(o);
}

export async function cmdSpecBench(modelPath: string, o: SpecBenchOptions): Promise<void> {
  const load = cliLoad(o);
  const target = await loadModel(resolveModel(modelPath), load);
  const { spec, dispose } = await speculativeFromFlags(o, target, load);
  try {
    if (!spec) throw new ArgumentError('spec-bench needs a drafter: --draft MODEL, --draft-layers N or --lookup');
    const opts: GenerateOptions = { maxTokens: o.nPredict, temperature: o.temp, seed: o.seed, stopAtEog: false };
    const run = async (s?: SpeculativeOptions) => {
      const ctx = target.createContext();
      let best: { ms: number; tokens: number[]; spec?: { steps: number; drafted: number; accepted: number } } | undefined;
      for (let r = 0; r < o.reps; r++) {
        ctx.truncate(0);
        for await (const c of target.generate(o.prompt, { ...opts, context: ctx, speculative: s })) {
          if (c.done && (!best || c.timings.generateMs < best.ms)) best = { ms: c.timings.generateMs, tokens: c.tokens, spec: c.timings.speculative };
        }
      }
      ctx.dispose();
      return best!;
    };
    const plain = await run();
    const sp = await run(spec);
    const st = sp.spec!;
    // Costs measured apart: a target step, a verify batch of the mean size, a draft step, each at
    // the generation's mean depth (the prompt and the first half of the generated tokens in the
    // cache), where attention costs what it cost on average during the run.
    const ctx = target.createContext();
    const ids = [...target.tokenize(o.prompt, { addSpecial: true }), ...sp.tokens.slice(0, sp.tokens.length >> 1)];
    ctx.decode(ids);
    const base = ctx.nPast;
    const meanBatch = Math.max(1, Math.round((st.steps + st.drafted) / st.steps));
    const step = timeIt(() => { ctx.truncate(base); ctx.decode([ids[ids.length - 1]!]); }, 15);
    const verify = timeIt(() => { ctx.truncate(base); ctx.decode(Array(meanBatch).fill(ids[ids.length - 1]!), { onLogits: () => {} }); }, 15);
    ctx.dispose();
    let draftStep = 0;
    if (!spec.lookup) {
      const dm = spec.draft ?? target;
      // The draft step as the drafter runs it: with its FR-Spec head when it has one.
      const rows = spec.frSpec ? frSpecSubset(spec.frSpec, spec.frSpecTokens ?? spec.frSpec.length, dm.tokenizer, dm.hparams.nVocab) : undefined;
      const head = rows ? { matrix: restrictedHead(dm.kernels, dm.outputMatrix(), rows), ids: rows } : undefined;
      const dctx = dm.createContext({ layers: spec.layers, head });
      dctx.decode(ids);
      const b = dctx.nPast;
      draftStep = timeIt(() => { dctx.truncate(b); dctx.decode([ids[ids.length - 1]!]); }, 15);
      dctx.dispose();
    }
    const expectedMs = (st.steps * verify + st.drafted * draftStep) * 1000;
    const plainModelMs = plain.tokens.length * step * 1000;
    const same = o.temp <= 0 ? plain.tokens.length === sp.tokens.length && plain.tokens.every((t, i) => t === sp.tokens[i]) : undefined;
    const r = {
      model: modelPath, drafter: spec.draft?.file ?? (spec.layers !== undefined ? `layers ${spec.layers}` : 'lookup'), frSpecTokens: spec.frSpec ? (spec.frSpecTokens ?? spec.frSpec.length) : undefined,
      tokens: sp.tokens.length, steps: st.steps, drafted: st.drafted, accepted: st.accepted,
      acceptance: st.accepted / Math.max(1, st.drafted), meanAcceptedPerStep: st.accepted / st.steps,
      plainTokS: plain.tokens.length / (plain.ms / 1000), specTokS: sp.tokens.length / (sp.ms / 1000),
      speedup: plain.ms / sp.ms * (sp.tokens.length / plain.tokens.length),
      stepMs: step * 1000, verifyMs: verify * 1000, verifyBatch: meanBatch, draftStepMs: draftStep * 1000,
      expectedSpeedup: plainModelMs / expectedMs * (sp.tokens.length / plain.tokens.length), greedyIdentical: same,
    };
    if (o.json) { process.stdout.write(JSON.stringify(r) + '\n'); return; }
    const f = (x: number, d = 2) => x.toFixed(d);
    process.stdout.write(
      `${r.drafter}${r.frSpecTokens ? `, FR-Spec ${r.frSpecTokens}` : ''}: ${r.tokens} tokens in ${r.steps} steps; drafted ${r.drafted}, accepted ${r.accepted} (${f(100 * r.acceptance, 1)}%), ${f(r.meanAcceptedPerStep)} accepted per step\n` +
      `plain ${f(r.plainTokS, 1)} tokens/s, speculative ${f(r.specTokS, 1)} tokens/s: speedup ${f(r.speedup)}x (expected from costs ${f(r.expectedSpeedup)}x: step ${f(r.stepMs, 3)} ms, verify ${r.verifyBatch} tokens ${f(r.verifyMs, 3)} ms, draft step ${f(r.draftStepMs, 3)} ms)` +
      `${same === undefined ? '' : same ? '; greedy output identical' : '; GREEDY OUTPUT DIFFERS'}\n`,
    );
  } finally {
    dispose();
    target.dispose();
  }
}

export function registerSpeculative(program: Command): void {
  program.command('fr-spec')
    .description('rank a corpus\'s tokens by frequency with the model\'s tokenizer, for an FR-Spec draft head (--fr-spec FILE)')
    .argument('<model>', 'GGUF file, Hugging Face folder or tokenizer.json')
    .argument('<corpus...>', 'text files')
    .requiredOption('-o, --out <file>', 'ranking file to write')
    .option('--top <k>', 'keep only the K most frequent tokens', int('--top', 1))
    .action((model, corpus, o) => cmdFrSpec(model, corpus, o));
  addSpeculativeFlags(addKernelFlags(program.command('spec-bench'))
    .description('speculative decoding against plain decoding: acceptance, accepted tokens per step, tokens/s and speedup, with the speedup the measured costs predict')
    .argument('<model>', 'target GGUF file')
    .option('-p, --prompt <text>', 'prompt', 'Once upon a time')
    .option('-n, --n-predict <n>', 'tokens to generate', int('--n-predict', 1), 128)
    .option('--temp <t>', 'temperature (0 = greedy)', float('--temp'), 0)
    .option('-s, --seed <n>', 'seed', int('--seed', 0), 1)
    .option('-r, --reps <n>', 'runs of each (the fastest counts)', int('--reps', 1), 3)
    .option('-c, --ctx <n>', 'context size', int('--ctx', 1))
    .option('-t, --threads <n>', 'kernel threads', threadCount)
    .option('--json', 'one JSON line'))
    .action((model, o) => cmdSpecBench(model, o));
}
