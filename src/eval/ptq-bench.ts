// The PTQ design-space benchmark: every (weight format x method x activation format) cell of a grid
// is quantized, evaluated against the unquantized model (KLD, top-1 agreement, perplexity), timed,
// and costed (bits per weight, file size, the MAC cost model of hw-cost.ts). Finished cells are
// cached as JSON under OUT/cells/, so an interrupted run resumes where it stopped. Writes
// OUT/results.csv, OUT/results.md and OUT/pareto.vl.json (a Vega-Lite spec with the data inline);
// bench/ptq/plot.mjs renders it to SVG and PNG.

import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError, throwIfAborted } from '../core/errors.js';
import { loadModel } from '../runtime/model.js';
import { quantizeWithMethods, parseMethods } from '../ptq/pipeline.js';
import { tapKernels } from '../ptq/calib.js';
import { activationQuantizer } from '../ptq/act-quant.js';
import { kldEval } from './kld.js';
import { elementFormat, macCost } from './hw-cost.js';

export interface PtqBenchOptions {
  formats: string[];
  methods: string[];
  /** Activation formats: 'none' (f16-class activations) or int8 / e4m3 / ... (per-token fake quant). */
  acts: string[];
  calibText: string;
  evalText: string;
  out: string;
  ctx?: number;
  chunks?: number;
  calibTokens?: number;
  /** Tokens to generate when timing decode (0 skips timing). */
  speedTokens?: number;
  signal?: AbortSignal;
  onCell?: (c: PtqCell, index: number, total: number, cached: boolean) => void;
  onSkip?: (format: string, method: string, act: string, why: string) => void;
}

export interface PtqCell {
  format: string;
  method: string;
  act: string;
  bitsPerWeight: number;
  /** Bits per weight over the weight matrices only (norms and other vectors left out). */
  matrixBpw: number;
  bytes: number;
  kld: number;
  kldError: number;
  kld99: number;
  top1: number;
  ppl: number;
  pplBase: number;
  tokensPerSecond: number;
  /** MAC cost (LUT-equivalents) of the weight format's element times the activation's. */
  macCost: number;
  quantizeSeconds: number;
  pareto?: { bpw: boolean; cost: boolean };
}

const keyOf = (f: string, m: string, a: string) => `${f}__${m}__${a}`.replace(/[^a-zA-Z0-9_+.-]/g, '_');

/** Cells no other cell beats on both axes (lower is better for both). */
function markPareto(cells: PtqCell[], x: (c: PtqCell) => number): boolean[] {
  return cells.map((c) => !cells.some((o) => o !== c && x(o) <= x(c) && o.kld <= c.kld && (x(o) < x(c) || o.kld < c.kld)));
}

export async function runPtqBench(modelPath: string, o: PtqBenchOptions): Promise<PtqCell[]> {
  await mkdir(join(o.out, 'cells'), { recursive: true });
  const grid: [string, string, string][] = [];
  for (const f of o.formats) for (const m of o.methods) for (const a of o.acts) grid.push([f, m, a]);
  const base = await loadModel(modelPath, { backend: 'ref' });
  const cells: PtqCell[] = [];
  try {
    for (let i = 0; i < grid.length; i++) {
      throwIfAborted(o.signal);
      const [format, method, act] = grid[i]!;
      const key = keyOf(format, method, act);
      const cellFile = join(o.out, 'cells', `${key}.json`);
      if (existsSync(cellFile)) {
        const c = JSON.parse(await readFile(cellFile, 'utf8')) as PtqCell;
        cells.push(c);
        o.onCell?.(c, i, grid.length, true);
        continue;
      }
      const qPath = join(o.out, `${key}.gguf`);
      const t0 = performance.now();
      let r;
      try {
        r = await quantizeWithMethods(modelPath, qPath, {
          type: format, methods: parseMethods(method), calibText: o.calibText, calibTokens: o.calibTokens ?? 2048, calibCtx: Math.min(256, o.ctx ?? 256), signal: o.signal,
        });
      } catch (e) {
        // A combination that cannot be made (gptq with a ggml type) is skipped, not fatal.
        if (!(e instanceof ArgumentError)) throw e;
        o.onSkip?.(format, method, act, e.message);
        continue;
      }
      const quantizeSeconds = (performance.now() - t0) / 1000;
      const q = await loadModel(qPath, { backend: 'ref' });
      let cell: PtqCell;
      try {
        const quantKernels = act === 'none' ? undefined : tapKernels(q.kernels, { actQuant: activationQuantizer(act) });
        const k = await kldEval(base, q, o.evalText, { ctx: o.ctx ?? 256, chunks: o.chunks, quantKernels, signal: o.signal });
        const mats = r.summary.tensors.filter((t) => t.shape.length >= 2);
        const matrixBpw = (mats.reduce((a, t) => a + t.bytes, 0) * 8) / mats.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
        cell = {
          format, method, act, bitsPerWeight: r.summary.bitsPerWeight, matrixBpw, bytes: r.summary.outBytes,
          kld: k.kld, kldError: k.kldError, kld99: k.kld99, top1: k.top1, ppl: k.pplQuant, pplBase: k.pplBase,
          tokensPerSecond: o.speedTokens === 0 ? 0 : await decodeSpeed(qPath, o.speedTokens ?? 32),
          macCost: macCost(elementFormat(format), elementFormat(act)), quantizeSeconds,
        };
      } finally {
        q.dispose();
        await rm(qPath, { force: true });
      }
      await writeFile(cellFile, JSON.stringify(cell, null, 1) + '\n');
      cells.push(cell);
      o.onCell?.(cell, i, grid.length, false);
    }
  } finally {
    base.dispose();
  }
  const pb = markPareto(cells, (c) => c.matrixBpw), pc = markPareto(cells, (c) => c.macCost);
  cells.forEach((c, i) => { c.pareto = { bpw: pb[i]!, cost: pc[i]! }; });
  await writeResults(o.out, modelPath, cells);
  return cells;
}

/** Decode tokens/s of a model file on the default kernels (greedy, from a one-token prompt). */
async function decodeSpeed(path: string, n: number): Promise<number> {
  const m = await loadModel(path);
  try {
    const ctx = m.createContext({ ctx: n + 8 });
    let logits = ctx.decode([m.tokenizer.bos ?? 1], { logits: 'last' })!;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
      logits = ctx.decode([best], { logits: 'last' })!;
    }
    return n / ((performance.now() - t0) / 1000);
  } finally {
    m.dispose();
  }
}

const COLUMNS: [keyof PtqCell | 'pareto', string][] = [
  ['format', 'weights'], ['method', 'method'], ['act', 'activations'], ['matrixBpw', 'bits/weight (matrices)'], ['bitsPerWeight', 'bits/weight (file)'],
  ['bytes', 'size (bytes)'], ['kld', 'KLD'], ['kld99', 'KLD 99%'], ['top1', 'same top-1'], ['ppl', 'PPL'], ['tokensPerSecond', 'tokens/s'], ['macCost', 'MAC cost'], ['pareto', 'Pareto (bpw / cost)'],
];

function fmt(c: PtqCell, k: keyof PtqCell | 'pareto'): string {
  const v = k === 'pareto' ? c.pareto : c[k];
  if (k === 'pareto') return `${c.pareto?.bpw ? 'yes' : '-'} / ${c.pareto?.cost ? 'yes' : '-'}`;
  if (typeof v !== 'number') return String(v);
  if (k === 'bytes') return String(v);
  if (k === 'kld' || k === 'kld99') return v.toFixed(4);
  if (k === 'top1') return (100 * v).toFixed(1) + '%';
  return v.toFixed(k === 'macCost' ? 0 : 2);
}

async function writeResults(out: string, model: string, cells: PtqCell[]): Promise<void> {
  const csv = [COLUMNS.map(([, h]) => h).join(','), ...cells.map((c) => COLUMNS.map(([k]) => fmt(c, k)).join(','))].join('\n') + '\n';
  await writeFile(join(out, 'results.csv'), csv);
  const base = cells[0]?.pplBase;
  const md = [
    `PTQ design space on ${model} (base PPL ${base?.toFixed(4) ?? '-'}); KLD against the unquantized model.`,
    '',
    `| ${COLUMNS.map(([, h]) => h).join(' | ')} |`,
    `|${COLUMNS.map(() => '---').join('|')}|`,
    ...cells.map((c) => `| ${COLUMNS.map(([k]) => fmt(c, k)).join(' | ')} |`),
    '',
  ].join('\n');
  await writeFile(join(out, 'results.md'), md);
  const data = cells.map((c) => ({ ...c, cell: `${c.format} ${c.method}${c.act === 'none' ? '' : ` a:${c.act}`}`, family: /^(e\d|fp|mxfp)/i.test(c.format) ? 'minifloat' : /^(int|mxint)/i.test(c.format) ? 'integer' : 'ggml' }));
  const panel = (x: string, title: string, pareto: string) => ({
    width: 360, height: 280,
    layer: [
      { mark: { type: 'point', filled: true, size: 70 }, encoding: {
        x: { field: x, type: 'quantitative', title, scale: { zero: false } },
        y: { field: 'kld', type: 'quantitative', title: 'KLD vs unquantized (nats, log)', scale: { type: 'log' } },
        color: { field: 'method', type: 'nominal' }, shape: { field: 'family', type: 'nominal' },
        tooltip: [{ field: 'cell' }, { field: 'kld' }, { field: x }],
      } },
      { transform: [{ filter: `datum.pareto.${pareto}` }, { sort: [{ field: x }], window: [{ op: 'row_number', as: 'i' }] }], mark: { type: 'line', color: '#888', strokeDash: [4, 3] }, encoding: { x: { field: x, type: 'quantitative' }, y: { field: 'kld', type: 'quantitative' }, order: { field: x } } },
      { transform: [{ filter: `datum.pareto.${pareto}` }], mark: { type: 'text', dx: 6, dy: -6, align: 'left', fontSize: 9 }, encoding: { x: { field: x, type: 'quantitative' }, y: { field: 'kld', type: 'quantitative' }, text: { field: 'cell' } } },
    ],
  });
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `PTQ design space: ${model.split('/').pop()}`,
    data: { values: data },
    hconcat: [panel('matrixBpw', 'bits per weight (matrices)', 'bpw'), panel('macCost', 'MAC cost (LUT-equivalents, hw-cost.ts)', 'cost')],
  };
  await writeFile(join(out, 'pareto.vl.json'), JSON.stringify(spec, null, 1) + '\n');
}
