#!/usr/bin/env node
// Distillation data for lutra's bundled model: stories sampled from the reference model
// stories260K (karpathy's llama2.c TinyStories model, ../shared/data/models/stories260K), written
// in the layout of the TinyStories text beside the checkout (paragraphs and stories separated by a
// blank line), then the training part of that text (never its held-out tail) appended, so
// `lutra train` can hold out exactly the real held-out text (see models/README.md).
//
// Each story starts from BOS alone and is sampled at temperature 1 with no top-k/top-p (the
// teacher's own distribution: a student fitted to it approaches the teacher's perplexity on real
// text; a lower temperature would sharpen it). Story i uses sampler seed `seed + i`, so the corpus
// is the same on every machine (the wasm kernels are deterministic at a fixed thread count; run
// with --threads 1 as the recorded command does). A story ends at the teacher's BOS/EOS; one that
// fills the teacher's 512-token context is cut after its last complete paragraph (or dropped if it
// has none).
//
//   node scripts/distill-stories.mjs --stories 5000 --seed 1 --out build/distill/stories.txt
//   node scripts/distill-stories.mjs --assemble build/distill/stories.txt --out build/distill/train.txt
//
// The second form writes the training file: the stories, then tinystories_val.txt's training part,
// then its held-out part, and prints the heldOutFraction that makes `splitText` cut exactly at the
// real held-out text (checked).

import { readFileSync, writeFileSync, mkdirSync, appendFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = resolve(REPO, '../shared/data');
const { values: a } = parseArgs({
  options: {
    stories: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    temp: { type: 'string', default: '1' },
    from: { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' },
    model: { type: 'string', default: resolve(SHARED, 'models/stories260K/stories260K.gguf') },
    text: { type: 'string', default: resolve(SHARED, 'text/tinystories/tinystories_val.txt') },
    'held-out': { type: 'string', default: '0.1' },
    assemble: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!a.out) throw new Error('--out FILE is required');
const { splitText } = await import(resolve(REPO, 'dist/src/train/data.js'));

if (a.assemble) {
  const stories = readFileSync(a.assemble, 'utf8').replace(/\n+$/, '');
  const real = readFileSync(a.text, 'utf8');
  const { train, heldOut } = splitText(real, Number(a['held-out']));
  const head = `${stories}\n\n${train}`;
  const all = head + heldOut;
  // splitText cuts at the first blank line after floor(len * (1 - f)): aim just inside the last
  // paragraph of the training part, whose blank line is exactly where the held-out text starts.
  const lastBreak = head.lastIndexOf('\n\n', head.length - 3);
  const target = lastBreak + 3;
  const f = 1 - (target + 0.5) / all.length;
  const check = splitText(all, f);
  if (check.heldOut !== heldOut) throw new Error(`heldOutFraction ${f} does not cut at the real held-out text`);
  mkdirSync(dirname(a.out), { recursive: true });
  writeFileSync(a.out, all);
  console.log(JSON.stringify({ out: a.out, chars: all.length, distilledChars: stories.length, realTrainChars: train.length, heldOutChars: heldOut.length, heldOutFraction: f }));
  process.exit(0);
}

const { loadModel } = await import(resolve(REPO, 'dist/src/index.js'));
const model = await loadModel(a.model, { threads: Number(a.threads) });
const bos = model.tokenizer.bos;
const eos = model.tokenizer.eos;
const n = Number(a.stories), seed0 = Number(a.seed), temp = Number(a.temp), from = Number(a.from);
mkdirSync(dirname(a.out), { recursive: true });
if (from === 0 && existsSync(a.out)) writeFileSync(a.out, '');
const ctx = model.createContext({ ctx: 512 });
let chars = 0, tokens = 0, cut = 0, dropped = 0, buf = '';
const t0 = performance.now();
for (let i = from; i < n; i++) {
  let text = '', ended = false;
  for await (const c of model.generate([bos], { context: ctx, maxTokens: -1, temperature: temp, topK: 0, topP: 1, minP: 0, seed: seed0 + i, stopAtEog: true })) {
    if (c.done) { ended = c.stopReason === 'eos'; break; }
    tokens++;
    if (c.token === bos || c.token === eos) { ended = true; break; }
    text += c.text;
  }
  text = text.replace(/^ /, '').replace(/\s+$/, '');
  if (!ended) {
    const p = text.lastIndexOf('\n');
    if (p < 0) { dropped++; continue; }
    text = text.slice(0, p).replace(/\s+$/, '');
    cut++;
  }
  if (!text) { dropped++; continue; }
  const story = text.split(/\n+/).map((s) => s.trim()).filter(Boolean).join('\n\n');
  buf += `${story}\n\n`;
  chars += story.length + 2;
  if ((i + 1) % 500 === 0 || i === n - 1) {
    appendFileSync(a.out, buf);
    buf = '';
    const s = (performance.now() - t0) / 1000;
    console.error(`${i + 1}/${n} stories, ${chars} chars, ${tokens} tokens, ${(tokens / s).toFixed(0)} tokens/s, cut ${cut}, dropped ${dropped}`);
  }
}
ctx.dispose();
model.dispose();
