// What a speculative round costs, as bench/spec/run.mjs's prediction counts it: the draft runs one
// decode per drafted token (its catch-up of the target's token, 2 tokens after a fully kept draft,
// then a step per further token), and the round gives the event loop one turn (the verify's), not
// one more for the draft's catch-up. Checked on stories260K drafted by its Q8_0 file and by itself.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Context } from '../src/runtime/context.js';
import { loadModel, type Model } from '../src/runtime/model.js';
import { QUANTIZED, STORIES_GGUF } from './helpers.js';

const models: Model[] = [];
const load = async (f: string) => { const m = await loadModel(f); models.push(m); return m; };
after(() => { for (const m of models) m.dispose(); });

const PROMPT = 'Once upon a time, there was a little girl named Lily.';

/** A greedy generation with every Context.decode recorded (which context, how many tokens) and the setImmediate calls counted. */
async function traced(target: Model, opts: Parameters<Model['generate']>[1]) {
  const decodes: { target: boolean; n: number; nPast: number }[] = [];
  const ctx = target.createContext({ ctx: 256 });
  const decode = Context.prototype.decode;
  const setImm = globalThis.setImmediate;
  let turns = 0;
  Context.prototype.decode = function (this: Context, tokens, o) {
    decodes.push({ target: this === ctx, n: tokens.length, nPast: this.nPast });
    return decode.call(this, tokens, o);
  };
  globalThis.setImmediate = ((...a: Parameters<typeof setImmediate>) => { turns++; return setImm(...a); }) as typeof setImmediate;
  let done;
  try {
    for await (const c of target.generate(PROMPT, { ...opts, context: ctx })) if (c.done) done = c;
  } finally {
    Context.prototype.decode = decode;
    globalThis.setImmediate = setImm;
    ctx.dispose();
  }
  return { done: done!, decodes, turns };
}

test('a round runs one draft decode per drafted token and gives the event loop one turn', async () => {
  const target = await load(STORIES_GGUF);
  const q8 = await load(QUANTIZED.find((x) => x.q === 'q8_0')!.file);
  const base = { maxTokens: 60, temperature: 0, stopAtEog: false };
  const plain = await traced(target, base);
  for (const [name, draft] of [['q8_0 draft', q8], ['the target as its own draft', target]] as const) {
    const { done, decodes, turns } = await traced(target, { ...base, speculative: { draft, nDraft: 4 } });
    assert.deepEqual(done.tokens, plain.done.tokens, name);
    const st = done.timings.speculative!;
    const prompt = target.tokenize(PROMPT, { addSpecial: true }).length;
    // The draft's decodes are its catch-ups and steps: as many as tokens drafted, the first round's
    // catch-up being the prompt.
    const draftDecodes = decodes.filter((d) => !d.target && d.n < prompt);
    assert.equal(decodes.filter((d) => !d.target && d.n === prompt).length, 1, name);
    assert.equal(draftDecodes.length + 1, st.drafted, `${name}: draft decodes`);
    // A 2-token catch-up follows each fully kept draft (the last drafted token was never run) and nothing else.
    const verifies = decodes.filter((d) => d.target && d.nPast > 0);
    assert.equal(verifies.length, st.steps, name);
    let fullyKept = 0;
    for (let i = 0; i + 1 < verifies.length; i++) if (verifies[i + 1]!.nPast - verifies[i]!.nPast === verifies[i]!.n) fullyKept++;
    assert.equal(draftDecodes.filter((d) => d.n === 2).length, fullyKept, `${name}: 2-token catch-ups`);
    assert.ok(draftDecodes.every((d) => d.n <= 2), name);
    if (draft === target) assert.equal(st.accepted, st.drafted, name);
    // Event-loop turns: the target's prompt, the draft's prompt, then one per verify.
    assert.equal(turns, 2 + st.steps, `${name}: setImmediate turns`);
  }
  // The plain loop: the prompt, then one per step after the first token.
  assert.equal(plain.turns, 1 + plain.done.tokens.length - 1);
});
