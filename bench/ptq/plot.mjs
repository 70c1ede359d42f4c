// Render a ptq-bench result folder's pareto.vl.json (Vega-Lite) to pareto.svg and pareto.png.
//   cd bench/ptq && npm install && node plot.mjs OUT_DIR
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

const dir = process.argv[2];
if (!dir) { console.error('usage: node plot.mjs OUT_DIR'); process.exit(1); }
const spec = JSON.parse(readFileSync(join(dir, 'pareto.vl.json'), 'utf8'));
const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
const svg = await view.toSVG();
writeFileSync(join(dir, 'pareto.svg'), svg);
const png = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, background: 'white', font: { loadSystemFonts: true } }).render().asPng();
writeFileSync(join(dir, 'pareto.png'), png);
console.log(`wrote ${join(dir, 'pareto.svg')} and ${join(dir, 'pareto.png')}`);
