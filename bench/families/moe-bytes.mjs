// Weight bytes a decode step reads, by counting the matrices each product multiplies (rows x
// rowBytes of every matrix passed to Kernels.matmul / matmulMany): experts apart from the rest,
// against the file's size. For a mixture-of-experts model only the k selected experts' rows should
// count (issue 18). Numbers, not time, so the machine's load does not matter.
//   node bench/families/moe-bytes.mjs MODEL [--tokens 16]
import { loadModel } from '../../dist/src/runtime/model.js';
import { parseArgs } from 'node:util';
import { statSync } from 'node:fs';

const { values: a, positionals } = parseArgs({ allowPositionals: true, options: { tokens: { type: 'string', default: '16' } } });
const file = positionals[0];
if (!file) throw new Error('usage: node bench/families/moe-bytes.mjs MODEL [--tokens 16]');
const model = await loadModel(file, { threads: 1 });
const k = model.kernels;
let experts = 0, other = 0;
const count = (w) => { const b = w.rows * w.rowBytes; if (/_exps\.weight\[/.test(w.name)) experts += b; else other += b; };
const matmul = k.matmul.bind(k), matmulMany = k.matmulMany.bind(k);
const ctx = model.createContext({ ctx: 256 });
ctx.decode([1, 100, 200, 300]);
// A backend's matmulMany may run its products through matmul: count each matrix once.
let inMany = false;
k.matmul = (w, ...r) => { if (!inMany) count(w); return matmul(w, ...r); };
k.matmulMany = (ws, ...r) => { ws.forEach(count); inMany = true; try { return matmulMany(ws, ...r); } finally { inMany = false; } };
const n = Number(a.tokens);
for (let i = 0; i < n; i++) ctx.decode([(i * 7919) % model.hparams.nVocab]);
const mb = (x) => (x / n / 1e6).toFixed(1);
console.log(`${file}: ${(statSync(file).size / 1e6).toFixed(1)} MB file; per decoded token (mean of ${n}): ${mb(experts + other)} MB of weights read, ${mb(experts)} MB of it experts, ${mb(other)} MB the rest (attention, router, shared parts, output head)`);
model.dispose();
