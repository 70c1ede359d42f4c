// Quality of each KV cache type (and MiniCache on top): perplexity and KL divergence against the f32
// cache on the same model (lutra's kldEval with base f32 and quant = the setting, as `lutra eval kld
// MODEL --cache-type-k T [--minicache]` runs it), KV bytes per token after one full window, on trained models: stories260K (head size 8: the 32-element quantized
// caches are refused, as llama.cpp refuses them) and lutra's bundled model (head size 32: every type;
// no Hadamard rotation, which needs a multiple of 64).
// MiniCache rows are measured twice: windows as llama-perplexity runs them (the first half prefilled in
// one batch, which attends exactly, then the scored half in one batch reading the merged first half) and
// with every token decoded alone (--batch 1 in `lutra eval`), as generation reads a merged cache.
//   node bench/kv/quality.mjs [--chunks N] [--only-minicache]   (after `npm run build`; prints a markdown table)

import { readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../../dist/src/runtime/model.js';
import { kldEval } from '../../dist/src/eval/kld.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const chunks = Number(arg('--chunks', '40'));
const text = readFileSync(resolve(REPO, '../shared/data/text/tinystories/tinystories_val.txt'), 'utf8');
const models = [
  { name: 'stories260K', file: resolve(REPO, '../shared/data/models/stories260K/stories260K.gguf'), ctx: 256 },
  { name: 'lutra-default', file: resolve(REPO, 'models/lutra-default.gguf'), ctx: 128 },
];
const MC = { miniCache: true }, MC_AVG = { miniCache: { method: 'average' } }, MC_ALL = { miniCache: { retain: 0 } };
const plain = [['f32', 'f32'], ['f16', 'f16'], ['bf16', 'bf16'], ['q8_0', 'q8_0'], ['q8_0', 'f16'], ['f16', 'q8_0'], ['q5_1', 'q5_1'], ['q5_0', 'q5_0'], ['q4_1', 'q4_1'], ['q4_0', 'q4_0'], ['iq4_nl', 'iq4_nl']];
const merged = [['f16', 'f16', MC], ['f16', 'f16', MC_ALL], ['f16', 'f16', MC_AVG], ['q8_0', 'q8_0', MC], ['q4_0', 'q4_0', MC]];
const settings = [...(process.argv.includes('--only-minicache') ? [] : plain), ...merged, ...merged.map(([k, v, mc]) => [k, v, mc, 1])];
const label = (mc, batch) => (!mc ? '' : mc.miniCache === true ? ' + MiniCache (SLERP, t 0.6, retain 5%)' : mc.miniCache.method === 'average' ? ' + MiniCache averaging (baseline)' : ' + MiniCache (SLERP, retain 0)') + (batch ? ', every token decoded alone' : '');

console.log(`| model | K / V cache | KV bytes per token | PPL | ΔPPL vs f32 | mean KLD vs f32 | 99% KLD | same top token |`);
console.log(`| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const m of models) {
  const model = await loadModel(m.file);
  const window = model.tokenize(text.slice(0, 20000)).slice(0, m.ctx);
  for (const [k, v, extra, batch] of settings) {
    const cacheType = { k, v, ...extra };
    let bytes;
    try {
      const c = model.createContext({ ctx: m.ctx, cacheType });
      c.decode(window);
      bytes = c.kv.bytesUsed() / m.ctx;
      c.dispose();
    } catch (e) {
      console.log(`| ${m.name} | ${k} / ${v}${label(extra, batch)} | - | refused (${/head size \d+/.exec(e.message)?.[0] ?? e.message} is not a multiple of the block size 32; llama.cpp refuses it too) | | | | |`);
      continue;
    }
    const r = await kldEval(model, model, text, { ctx: m.ctx, chunks, batch, baseCache: 'f32', quantCache: cacheType });
    const d = (r.pplQuant - r.pplBase) / r.pplBase;
    console.log(`| ${m.name} | ${k} / ${v}${label(extra, batch)} | ${+bytes.toFixed(1)} | ${r.pplQuant.toFixed(4)} | ${(100 * d).toFixed(3)}% | ${r.kld.toExponential(2)} ± ${r.kldError.toExponential(1)} | ${r.kld99.toExponential(2)} | ${(100 * r.top1).toFixed(2)}% |`);
  }
  model.dispose();
}
console.log(`\n${chunks} windows per model (stories260K: 256 tokens, lutra-default: 128, its training context), second half of each window scored, tinystories_val.txt.`);
