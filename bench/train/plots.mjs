// The docs' experiment plots and tables from the runs' logs (build/...): WSD vs cosine with WSD's
// branched decays, ternary vs float at equal tokens. Made by lutra's own SVG line chart.
//   node bench/train/plots.mjs            (after the runs in docs/training-schedules.md and docs/ternary-qat.md)
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lineChart } from '../../dist/src/train/plot.js';
import { tunnelSVG } from '../../dist/src/train/tunnel.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
const log = (dir) => readFileSync(join(REPO, 'build', dir, 'train-log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const val = (rows, offset = 0) => rows.filter((r) => r.val !== undefined).map((r) => [r.tokens + offset, r.val]);
const last = (rows) => rows.filter((r) => r.val !== undefined).at(-1);

function schedules() {
  if (!existsSync(join(REPO, 'build/schedules/wsd-300'))) return;
  const runs = [
    ['cosine, 300 steps', 'schedules/cosine-300', '#3182bd', false],
    ['cosine, 180 steps', 'schedules/cosine-180', '#6baed6', true],
    ['WSD, 300 steps (decay from 255)', 'schedules/wsd-300', '#e6550d', false],
    ['WSD branch: decay 150 -> 180', 'schedules/wsd-branch-150-180', '#31a354', true],
    ['WSD branch: decay 210 -> 255', 'schedules/wsd-branch-210-255', '#756bb1', true],
  ];
  const wsd = log('schedules/wsd-300');
  const series = [];
  console.log('| run | steps | tokens | final held-out loss (nats/token) |\n| --- | ---: | ---: | ---: |');
  for (const [name, dir, color, dashed] of runs) {
    let rows = log(dir);
    // a branch's log starts at its checkpoint: put the stable phase before it
    if (dir.includes('branch')) { const s0 = rows[0].step; rows = [...wsd.filter((r) => r.step < s0), ...rows]; }
    series.push({ name, color, dashed, dots: true, points: val(rows) });
    const l = last(rows);
    console.log(`| ${name} | ${l.step} | ${l.tokens.toLocaleString('en-US')} | ${l.val.toFixed(4)} |`);
  }
  writeFileSync(join(REPO, 'docs/wsd-vs-cosine.svg'), lineChart('WSD vs cosine: held-out loss (279K-param llama, TinyStories)', 'tokens seen', 'held-out loss (nats/token)', series));
  const lr = runs.slice(0, 3).map(([name, dir, color]) => ({ name, color, points: log(dir).map((r) => [r.tokens, r.lr]) }));
  writeFileSync(join(REPO, 'docs/wsd-vs-cosine-lr.svg'), lineChart('learning rate schedules', 'tokens seen', 'learning rate', lr));
}

function ternary() {
  if (!existsSync(join(REPO, 'build/ternary/continued'))) return;
  const parent = log('ternary/parent-f32'), cont = log('ternary/continued');
  const off = parent.at(-1).tokens;
  const series = [
    { name: 'float (400 steps)', color: '#3182bd', dots: true, points: val(log('ternary/float-400')) },
    { name: 'float parent (250 steps)', color: '#9ecae1', dots: true, dashed: true, points: val(parent) },
    { name: 'ternary, continued from parent', color: '#e6550d', dots: true, points: val(cont, off) },
    { name: 'ternary from scratch', color: '#31a354', dots: true, points: val(log('ternary/scratch')) },
  ];
  writeFileSync(join(REPO, 'docs/ternary-vs-float.svg'), lineChart('BitCPM ternary QAT vs float, equal tokens (1.57M-param llama)', 'tokens seen', 'held-out loss (nats/token)', series));
  console.log('\n| run | tokens | final held-out loss |\n| --- | ---: | ---: |');
  for (const [n, rows, o] of [['float 400', log('ternary/float-400'), 0], ['float parent 250', parent, 0], ['ternary continued (250 float + 150 ternary)', cont, off], ['ternary scratch 400', log('ternary/scratch'), 0]]) {
    const l = last(rows);
    console.log(`| ${n} | ${(l.tokens + o).toLocaleString('en-US')} | ${l.val.toFixed(4)} |`);
  }
}

/** The wind tunnel's grid and its extension (more learning rates, same runs otherwise) as one plot and table. */
function tunnel() {
  const files = ['tunnel', 'tunnel-ext'].map((d) => join(REPO, 'build', d, 'tunnel.json')).filter(existsSync);
  if (!files.length) return;
  const results = files.flatMap((f) => JSON.parse(readFileSync(f, 'utf8'))).map((r) => ({ ...r, loss: r.loss ?? NaN }));
  writeFileSync(join(REPO, 'docs/mup-tunnel.svg'), tunnelSVG(results, 60));
  const widths = [...new Set(results.map((r) => r.width))].sort((a, b) => a - b);
  const lrs = [...new Set(results.map((r) => r.lr))].sort((a, b) => a - b);
  for (const param of ['standard', 'muP']) {
    console.log(`\n${param}: held-out loss after 60 steps\n| lr | ${widths.map((w) => `width ${w}`).join(' | ')} |\n| ---: | ${widths.map(() => '---:').join(' | ')} |`);
    for (const lr of lrs) console.log(`| ${lr} | ${widths.map((w) => { const r = results.find((x) => x.param === param && x.width === w && x.lr === lr); return r ? (Number.isFinite(r.loss) ? r.loss.toFixed(4) : 'diverged') : '-'; }).join(' | ')} |`);
    const best = widths.map((w) => results.filter((r) => r.param === param && r.width === w && Number.isFinite(r.loss)).reduce((a, b) => (b.loss < a.loss ? b : a)));
    console.log(`| best lr | ${best.map((b) => `**${b.lr}** (${b.loss.toFixed(4)})`).join(' | ')} |`);
  }
}

schedules();
ternary();
tunnel();
