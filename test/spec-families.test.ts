// Self-drafting and FR-Spec heads on every architecture, not only the Llama block: a tiny random
// model of each family (test/arch-models.ts) runs a layer-skip context (only its first layers, a
// cache of those layers only) and a restricted head whose logits equal the full head's at the kept
// ids bit for bit (with the family's soft-capping, logit scale or output bias applied to the
// right ids); a forward continued from layer 1 with the kept hidden state of a one-layer context
// sharing the cache gives the whole forward's logits bit for bit; greedy speculative decoding with
// either drafter equals plain decoding token for token (layer skip continuing from kept states).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../src/runtime/model.js';
import { restrictedHead } from '../src/runtime/spec/fr-spec.js';
import { SharedPrefixKV } from '../src/runtime/spec/shared-kv.js';
import { ARCH_SPECS, archGGUF } from './arch-models.js';

const PROMPT = 'Once upon a time';

for (const [fam, spec] of Object.entries(ARCH_SPECS)) {
  test(`${fam}: layer-skip contexts run only their layers; an FR-Spec head gives the full head's logits at its ids; greedy speculation is exact`, async () => {
    const model = await loadModel(archGGUF(spec), { backend: 'ref' });
    try {
      const ids = model.tokenize(PROMPT, { addSpecial: true });
      const nV = model.hparams.nVocab;
      const full = model.createContext({ ctx: 64 });
      const want = Float32Array.from(full.decode(ids)!);

      // Layer skip: one layer, a cache of one layer, logits of its own (not the full model's).
      const skip = model.createContext({ ctx: 64, layers: 1 });
      assert.equal(skip.kv.nLayer, 1);
      const got = skip.decode(ids)!;
      assert.equal(got.length, nV);
      assert.ok(got.every(Number.isFinite));
      assert.ok(got.some((v, i) => v !== want[i]), 'one layer of several gives other logits than all of them');
      const all = model.createContext({ ctx: 64, layers: model.hparams.nLayer });
      assert.deepEqual(Array.from(all.decode(ids)!), Array.from(want), 'layers = nLayer is the whole model');

      // FR-Spec head over every third id: each logit equals the full head's for its id.
      const sub = Int32Array.from({ length: Math.ceil(nV / 3) }, (_, i) => i * 3);
      const matrix = restrictedHead(model.kernels, model.outputMatrix(), sub);
      const restricted = model.createContext({ ctx: 64, head: { matrix, ids: sub } });
      const r = restricted.decode(ids)!;
      assert.equal(r.length, sub.length);
      for (let j = 0; j < sub.length; j++) assert.equal(r[j], want[sub[j]!], `logit of id ${sub[j]}`);
      // Continue from layer 1: a one-layer context on the cache of a full one runs the last token
      // through layer 0 and keeps its residual; the full context runs layers 1.. from it. Against
      // the whole forward over the same batches (an MoE's sums depend on the batch).
      const split = model.createContext({ ctx: 64 });
      split.decode(ids.slice(0, -1), { logits: 'none' });
      const wantSplit = Float32Array.from(split.decode(ids.slice(-1))!);
      const cont = model.createContext({ ctx: 64 });
      cont.decode(ids.slice(0, -1), { logits: 'none' });
      const first = model.createContext({ ctx: 64, layers: 1, kv: new SharedPrefixKV(cont.kv, 1) });
      (first.kv as SharedPrefixKV).extendTo(ids.length - 1);
      first.adopt(ids, ids.length - 1);
      const h = new Float32Array(model.hparams.nEmbd);
      first.decode(ids.slice(-1), { logits: 'none', residual: h });
      const c = cont.decode(ids.slice(-1), { from: { layer: 1, hidden: h } })!;
      assert.deepEqual(Array.from(c), Array.from(wantSplit), 'layers 1.. from the kept state = the whole forward');
      for (const c of [full, skip, all, restricted, split, first, cont]) c.dispose();

      const run = async (speculative?: object) => {
        let done;
        for await (const c of model.generate(PROMPT, { maxTokens: 24, temperature: 0, stopAtEog: false, speculative, context: model.createContext({ ctx: 64 }) })) if (c.done) done = c;
        return done!;
      };
      const plain = await run();
      const ranking = Int32Array.from({ length: nV }, (_, i) => i).reverse();
      for (const s of [{ layers: 1 }, { layers: 1, frSpec: ranking, frSpecTokens: nV >> 2 }, { draft: model, frSpec: ranking, frSpecTokens: nV >> 1 }]) {
        const sp = await run(s);
        assert.deepEqual(sp.tokens, plain.tokens, `${fam} ${JSON.stringify({ ...s, draft: undefined, frSpec: undefined })}`);
        assert.ok(sp.timings.speculative!.drafted > 0);
        if ('layers' in s) assert.match(sp.timings.speculative!.drafter, /kept hidden/);
      }
    } finally {
      model.dispose();
    }
  });
}
