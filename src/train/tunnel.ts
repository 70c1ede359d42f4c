// `lutra tunnel`: MiniCPM's "model wind tunnel" in miniature. Trains the same small decoder at
// several widths and learning rates twice: standard parametrization (llama, fixed init std and lr)
// and muP as MiniCPM parametrizes it (minicpm: scale_emb, scale_depth/sqrt(L), logits divided by
// width/dim_model_base, matrix init std and lr divided by sqrt(width_mult) and width_mult).
// Under muP the best learning rate should stay put as width grows; without it, it drifts.

import type { TrainConfig } from './config.js';
import { train } from './trainer.js';
import { lineChart, type Series } from './plot.js';

export interface TunnelOptions {
  widths: number[]; lrs: number[]; steps: number; baseDir: string; out: string;
  /** MiniCPM's init_std (muP runs); standard runs use the config's train.initStd. */
  mupInitStd: number;
  onResult?: (r: TunnelResult) => void;
}

export interface TunnelResult { param: 'standard' | 'muP'; width: number; lr: number; loss: number }

const PALETTE = ['#08519c', '#3182bd', '#6baed6', '#e6550d', '#31a354', '#756bb1'];

export async function tunnel(base: TrainConfig, o: TunnelOptions): Promise<{ results: TunnelResult[]; svg: string }> {
  const results: TunnelResult[] = [];
  const dBase = Math.min(...o.widths);
  for (const param of ['standard', 'muP'] as const) {
    for (const width of o.widths) {
      for (const lr of o.lrs) {
        const cfg: TrainConfig = structuredClone(base);
        cfg.name = `${param}-w${width}-lr${lr}`;
        cfg.arch = param === 'muP' ? 'minicpm' : 'llama';
        cfg.model = { ...cfg.model, dim: width, heads: Math.max(1, width / 16), kvHeads: undefined, ffn: width * 3 };
        cfg.mup = { ...cfg.mup, dimModelBase: dBase };
        cfg.train = { ...cfg.train, steps: o.steps, lr, evalEvery: o.steps, checkpointEvery: 0, initStd: param === 'muP' ? o.mupInitStd : cfg.train.initStd };
        const r = await train(cfg, { baseDir: o.baseDir, out: `${o.out}/${cfg.name}` });
        const res: TunnelResult = { param, width, lr, loss: r.valLoss ?? r.trainLoss };
        if (!Number.isFinite(res.loss)) res.loss = NaN;
        results.push(res);
        o.onResult?.(res);
      }
    }
  }
  return { results, svg: tunnelSVG(results, o.steps) };
}

/** Held-out loss against learning rate, one curve per width: standard on the left, muP on the right. */
export function tunnelSVG(results: TunnelResult[], steps: number): string {
  const widths = [...new Set(results.map((r) => r.width))].sort((a, b) => a - b);
  const panel = (param: TunnelResult['param']) => {
    const series: Series[] = widths.map((w, i) => ({
      name: `width ${w}`, color: PALETTE[i % PALETTE.length]!, dots: true,
      points: results.filter((r) => r.param === param && r.width === w).sort((a, b) => a.lr - b.lr).map((r) => [r.lr, r.loss] as [number, number]),
    }));
    return lineChart(`${param === 'muP' ? 'muP (MiniCPM)' : 'standard (llama)'}: held-out loss after ${steps} steps`, 'peak learning rate (log)', 'held-out loss', series, { logX: true });
  };
  const strip = (s: string) => s.replace(/^<svg[^>]*>/, '').replace(/<\/svg>\n?$/, '');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="1440" height="420">\n<g>${strip(panel('standard'))}</g>\n<g transform="translate(720 0)">${strip(panel('muP'))}</g>\n</svg>\n`;
}
