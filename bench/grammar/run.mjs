// Grammar-constrained decode speed against unconstrained decode on the same model, interleaved
// round by round (a loaded machine shifts both alike), at temperature 1 with the default sampler
// chain. Reports decode tokens/s (generation only, prompt excluded) per mode, the ratio, and how
// often the sampled token was rejected and how often the whole vocabulary had to be masked.
//
//   npm run build
//   node bench/grammar/run.mjs [model.gguf] [-n 64] [-r 5] [-t 2]
//
// Default model: /tmp/bm/q05-q4_0.gguf (lutra synth --preset qwen2.5-0.5b --type q4_0), made when absent.

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const { loadModel } = await import(join(REPO, 'dist/src/runtime/model.js'));
const { grammarConstraint, schemaToGbnf } = await import(join(REPO, 'dist/src/grammar/index.js'));

const args = process.argv.slice(2);
const flag = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args.splice(i, 2)[1]) : def; };
const nPredict = flag('-n', 64), rounds = flag('-r', 5), threads = flag('-t', 2);
const file = args[0] ?? '/tmp/bm/q05-q4_0.gguf';
if (!existsSync(file)) {
  mkdirSync(dirname(file), { recursive: true });
  execFileSync(process.execPath, [join(REPO, 'bin/lutra.js'), 'synth', '--preset', 'qwen2.5-0.5b', '--type', 'q4_0', '-o', file], { stdio: 'inherit' });
}

const JSON_GBNF = readFileSync(join(REPO, 'test/golden/grammar/json.gbnf'), 'utf8');
const SCHEMA = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 0, maximum: 150 }, tags: { type: 'array', items: { type: 'string' } } },
  required: ['name', 'age', 'tags'], additionalProperties: false,
};
const MODES = {
  unconstrained: undefined,
  'json.gbnf': JSON_GBNF,
  'json-schema': schemaToGbnf(SCHEMA),
};

const model = await loadModel(file, { threads, context: { ctx: 512 } });
const tok = model.tokenizer;
console.log(`# ${file}: vocab ${model.hparams.nVocab}, ${threads} threads, ${nPredict} tokens, ${rounds} rounds; ${model.kernelNote ?? ''}`);

// One-time cost: the vocabulary's decoded tokens and code-point trie (cached per tokenizer).
{
  const t0 = performance.now();
  const m = grammarConstraint(JSON_GBNF, tok);
  m.fillMask(new Uint8Array(model.hparams.nVocab));
  console.log(`# vocabulary index + trie + first full mask: ${(performance.now() - t0).toFixed(0)} ms (${m.index.trieNodes} trie nodes)`);
}

/**
 * A TokenMatcher that counts rejected first picks (allows false on the first check of a step) and
 * full masks, and times all grammar work (checks, masks, accepts: synchronous, on this thread).
 */
function counted(gbnf) {
  const m = grammarConstraint(gbnf, tok);
  const stats = { steps: 0, rejected: 0, masks: 0, maskMs: 0, grammarMs: 0 };
  let fresh = true;
  const timed = (f) => { const t0 = performance.now(); const r = f(); stats.grammarMs += performance.now() - t0; return r; };
  return {
    stats,
    allows(t) { const ok = timed(() => m.allows(t)); if (fresh) { stats.steps++; if (!ok) stats.rejected++; fresh = false; } return ok; },
    fillMask(a) { const t0 = performance.now(); const n = timed(() => m.fillMask(a)); stats.masks++; stats.maskMs += performance.now() - t0; return n; },
    accept(t) { timed(() => m.accept(t)); fresh = true; },
    get finished() { return m.finished; },
  };
}

const results = Object.fromEntries(Object.keys(MODES).map((k) => [k, []]));
const totals = Object.fromEntries(Object.keys(MODES).map((k) => [k, { steps: 0, rejected: 0, masks: 0, maskMs: 0, grammarMs: 0, tokens: 0, ms: 0 }]));
const names = Object.keys(MODES);
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < names.length; i++) {
    const mode = names[(i + r) % names.length];
    const grammar = MODES[mode] === undefined ? undefined : counted(MODES[mode]);
    let done;
    for await (const c of model.generate('Write a JSON record for a person:', { maxTokens: nPredict, temperature: 1, seed: 100 + r, grammar })) if (c.done) done = c;
    results[mode].push(done.timings.tokensPerSecond);
    totals[mode].tokens += done.tokens.length;
    totals[mode].ms += done.timings.generateMs;
    if (grammar) for (const k of ['steps', 'rejected', 'masks', 'maskMs', 'grammarMs']) totals[mode][k] += grammar.stats[k];
  }
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1]; };
const base = median(results.unconstrained);
// The grammar's own work per token against the unconstrained decode step: the overhead no machine load can blur.
const stepMs = totals.unconstrained.ms / totals.unconstrained.tokens;
console.log(`# unconstrained decode step: ${stepMs.toFixed(1)} ms (all rounds)`);
console.log('| mode | decode tok/s (median) | vs unconstrained | tokens | first pick rejected | full masks | mask ms/step | grammar ms/token | grammar / decode step |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const mode of names) {
  const t = totals[mode], m = median(results[mode]);
  const rej = t.steps ? `${(100 * t.rejected / t.steps).toFixed(1)}%` : '-';
  const masks = t.steps ? `${t.masks} (${(100 * t.masks / t.steps).toFixed(1)}%)` : '-';
  const ms = t.steps ? (t.maskMs / t.steps).toFixed(2) : '-';
  const g = t.steps ? t.grammarMs / t.tokens : 0;
  console.log(`| ${mode} | ${m.toFixed(2)} | ${(m / base).toFixed(3)} | ${t.tokens} | ${rej} | ${masks} | ${ms} | ${t.steps ? g.toFixed(2) : '-'} | ${t.steps ? `${(100 * g / stepMs).toFixed(2)}%` : '-'} |`);
}
console.log(`# all rounds (tok/s): ${JSON.stringify(Object.fromEntries(names.map((n) => [n, results[n].map((x) => +x.toFixed(2))])))}`);
model.dispose?.();
