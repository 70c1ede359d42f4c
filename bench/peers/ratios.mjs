// Same-round ratios lutra / peer from a bench/peers/run.mjs JSON: for each model, thread count and
// peer, lutra's prefill and decode speed over the peer's in the same round, then the median over
// rounds (the machine drifts between rounds; a round's runs are minutes apart at most).
//   node bench/peers/ratios.mjs bench/results/DATE-TAG.json
import { readFileSync } from 'node:fs';
if (!process.argv[2]) throw new Error('usage: node bench/peers/ratios.mjs RESULTS.json (written by bench/peers/run.mjs)');
const j = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const runs = j.runs ?? j;
const key = (r) => `${r.model}|${r.threads}|${r.rep}`;
const by = new Map();
for (const r of runs) { const k = key(r); if (!by.has(k)) by.set(k, {}); by.get(k)[r.peer] = r; }
const out = new Map();
for (const [k, m] of by) {
  const l = m.lutra; if (!l) continue;
  const [model, threads] = k.split('|');
  for (const [peer, r] of Object.entries(m)) {
    if (peer === 'lutra') continue;
    const kk = `${model}|${threads}|${peer}`;
    if (!out.has(kk)) out.set(kk, { pp: [], tg: [] });
    if (l.pp_tps && r.pp_tps) out.get(kk).pp.push(l.pp_tps / r.pp_tps);
    if (l.tg_tps && r.tg_tps) out.get(kk).tg.push(l.tg_tps / r.tg_tps);
  }
}
const med = (v) => { const s = [...v].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN; };
for (const [k, v] of out) console.log(k.replaceAll('|', ' '), 'pp', med(v.pp).toFixed(2), `(${v.pp.map((x) => x.toFixed(2)).join(' ')})`, 'tg', med(v.tg).toFixed(2), `(${v.tg.map((x) => x.toFixed(2)).join(' ')})`);
