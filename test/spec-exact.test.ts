// Speculative decoding at temperature 0 is plain greedy decoding, token for token: drafted by the
// stories260K Q4_0 and Q8_0 files, by the target itself (every draft kept), by prompt lookup, by an
// FR-Spec head over 25% of the vocabulary, and by the target's first layer; with penalties, logit
// bias and a grammar in the chain. Both caches hold only kept tokens afterwards; a draft with
// another vocabulary is refused naming the first differing token.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadModel, type Model } from '../src/runtime/model.js';
import type { GenerateOptions } from '../src/runtime/generate.js';
import { checkDraftVocab } from '../src/runtime/spec/drafters.js';
import { formatRanking, parseRanking, rankTokens } from '../src/runtime/spec/fr-spec.js';
import { DATA, QUANTIZED, STORIES_GGUF } from './helpers.js';

const models: Model[] = [];
const load = async (f: string) => { const m = await loadModel(f); models.push(m); return m; };
after(() => { for (const m of models) m.dispose(); });

const PROMPT = 'Once upon a time, there was a little girl named Lily.';
const N = 120;

async function run(m: Model, opts: GenerateOptions) {
  let done;
  for await (const c of m.generate(PROMPT, { maxTokens: N, temperature: 0, ...opts })) if (c.done) done = c;
  return done!;
}

test('greedy speculative output equals plain greedy output for every drafter', async () => {
  const target = await load(STORIES_GGUF);
  const q8 = await load(QUANTIZED.find((x) => x.q === 'q8_0')!.file);
  const q4 = await load(QUANTIZED.find((x) => x.q === 'q4_0')!.file);
  const plain = await run(target, {});
  assert.equal(plain.tokens.length, N);
  const text = readFileSync(resolve(DATA, 'text/tinystories/tinystories_val.txt'), 'utf8').slice(0, 200_000).split('\n');
  const ranking = rankTokens(target.tokenizer, text);
  const frSpec = parseRanking(formatRanking(ranking.ids, ranking.counts, { corpus: 'tinystories_val' }), 512);
  const cases: [string, GenerateOptions['speculative'], (s: { drafted: number; accepted: number }) => void][] = [
    ['q4_0 draft', { draft: q4 }, (s) => assert.ok(s.accepted > 0)],
    ['q8_0 draft', { draft: q8, nDraft: 4 }, (s) => assert.ok(s.accepted / s.drafted > 0.8, `q8_0 acceptance ${s.accepted}/${s.drafted}`)],
    ['the target as its own draft', { draft: target }, (s) => assert.equal(s.accepted, s.drafted)],
    ['prompt lookup', { lookup: true }, () => {}],
    ['FR-Spec head, K = 128 of 512', { draft: q8, frSpec, frSpecTokens: 128 }, (s) => assert.ok(s.accepted > 0)],
    ['layer skip (first layer)', { layers: 1 }, () => {}],
  ];
  for (const [name, spec, check] of cases) {
    const r = await run(target, { speculative: spec });
    assert.deepEqual(r.tokens, plain.tokens, name);
    assert.equal(r.stopReason, plain.stopReason, name);
    assert.ok(r.timings.speculative, name);
    check(r.timings.speculative!);
  }
});

test('prompt lookup on a repetitive prompt drafts and keeps tokens, output unchanged', async () => {
  const target = await load(STORIES_GGUF);
  const prompt = 'Tom said, "I like the red ball." Tom said, "I like the';
  const opts = { maxTokens: 60, temperature: 0 };
  const plain = [];
  for await (const c of target.generate(prompt, opts)) if (c.done) plain.push(...c.tokens);
  let spec;
  for await (const c of target.generate(prompt, { ...opts, speculative: { lookup: true } })) if (c.done) spec = c;
  assert.deepEqual(spec!.tokens, plain);
  const s = spec!.timings.speculative!;
  assert.ok(s.accepted >= 10 && s.steps < plain.length, `lookup: ${JSON.stringify(s)}`);
});

test('the full sampler chain (penalties, logit bias, grammar) judges drafts as it judges plain steps', async () => {
  const target = await load(STORIES_GGUF);
  const q8 = await load(QUANTIZED.find((x) => x.q === 'q8_0')!.file);
  const chains: GenerateOptions[] = [
    { repeatPenalty: 1.3, frequencyPenalty: 0.2, presencePenalty: 0.3, repeatLastN: 32, logitBias: { 13: -3, 29: 2 } },
    { grammar: 'root ::= (" " [a-z]+ ",")+ " the end."', maxTokens: 40 },
  ];
  for (const o of chains) {
    const plain = await run(target, o);
    for (const spec of [{ draft: q8 }, { lookup: true }] as const) {
      const r = await run(target, { ...o, speculative: spec });
      assert.deepEqual(r.tokens, plain.tokens, `${JSON.stringify(spec === undefined ? {} : Object.keys(spec))} ${JSON.stringify(Object.keys(o))}`);
    }
  }
});

test('after generation both caches hold only kept tokens, and the next call reuses them', async () => {
  const target = await load(STORIES_GGUF);
  const q4 = await load(QUANTIZED.find((x) => x.q === 'q4_0')!.file);
  const ctx = target.createContext({ ctx: 256 });
  const prompt = target.tokenize(PROMPT, { addSpecial: true });
  let done;
  for await (const c of target.generate(prompt, { context: ctx, maxTokens: 50, temperature: 0, speculative: { draft: q4 } })) if (c.done) done = c;
  const seq = [...prompt, ...done!.tokens];
  // As plain decoding leaves it: every token but the last generated one.
  assert.equal(ctx.nPast, seq.length - 1);
  assert.deepEqual(ctx.tokens, seq.slice(0, -1));
  assert.equal(ctx.kv.length, seq.length - 1);
  let again;
  for await (const c of target.generate(seq, { context: ctx, maxTokens: 10, temperature: 0, speculative: { draft: q4 } })) if (c.done) again = c;
  assert.equal(again!.timings.cachedTokens, seq.length - 1);
  // The context is capped: a generation that reaches its end stops with 'context' as plain decoding does.
  const small = target.createContext({ ctx: 40 });
  const plainSmall = [];
  let reason;
  for await (const c of target.generate(prompt, { context: small, maxTokens: -1, temperature: 0 })) if (c.done) { plainSmall.push(...c.tokens); reason = c.stopReason; }
  const small2 = target.createContext({ ctx: 40 });
  let specSmall;
  for await (const c of target.generate(prompt, { context: small2, maxTokens: -1, temperature: 0, speculative: { draft: q4 } })) if (c.done) specSmall = c;
  assert.deepEqual(specSmall!.tokens, plainSmall);
  assert.equal(specSmall!.stopReason, reason);
});

test('a draft with another vocabulary is refused, naming the token', () => {
  const tok = (texts: string[]) => ({ vocabSize: texts.length, bos: 1, eos: 2, tokenText: (i: number) => texts[i]! }) as never;
  assert.doesNotThrow(() => checkDraftVocab(tok(['a', 'b', 'c']), tok(['a', 'b', 'c']), 't', 'd'));
  assert.throws(() => checkDraftVocab(tok(['a', 'b', 'c']), tok(['a', 'x', 'c']), 't.gguf', 'd.gguf'), /draft model d\.gguf cannot draft for t\.gguf: token 1 is "x" in the draft but "b" in the target/);
  assert.throws(() => checkDraftVocab(tok(Array(600).fill('a')), tok(['a']), 't', 'd'), /vocabularies of 1 and 600 tokens/);
});
