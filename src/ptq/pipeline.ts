// Post-training quantization with methods: calibrate on text, apply the requested transforms to the
// f32 weights (rotation, cross-layer equalization, SmoothQuant, AWQ, bias correction, in that order,
// recalibrating after each transform that changes what the matrices see), then quantize, with GPTQ
// writing the matrices it can. The model for calibration runs on the reference kernels.

import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArgumentError } from '../core/errors.js';
import { loadModel, type Model } from '../runtime/model.js';
import { readGGUFModel } from '../runtime/node-io.js';
import { quantizeFile, type QuantizeOptions, type QuantizeSummary } from './quantize-model.js';
import { fileTypeByName } from './mixtures.js';
import { isLutraType } from '../quant/lutra-types.js';
import { calibrationWindows, collectStats, sampleMatrix, type ChannelStats } from './calib.js';
import { readF32Model, writeF32Model, type F32Model } from './weights.js';
import { awq, biasCorrect, crossLayerEqualize, rotateResidual, smoothQuant } from './transforms.js';
import { gptqQuantize, type GptqOptions } from './gptq.js';

export const METHODS = ['rtn', 'rotate', 'cle', 'smoothquant', 'awq', 'biascorr', 'gptq'] as const;
export type Method = (typeof METHODS)[number];

export interface MethodOptions extends QuantizeOptions {
  methods: Method[];
  /** Calibration text, and how many of its tokens to use (default 4096) in windows of `calibCtx` (256). */
  calibText?: string;
  calibTokens?: number;
  calibCtx?: number;
  smoothAlpha?: number;
  gptq?: GptqOptions;
  rotationSeed?: number;
  /** Progress notes ("calibrating", "awq: ...") for a CLI to print. */
  onNote?: (s: string) => void;
  /** Calibration progress: `what` (gptq, awq, ...) has run `window` of `windows` windows through the model. */
  onCalibration?: (p: { what: string; window: number; windows: number }) => void;
}

export interface MethodReport {
  methods: Method[];
  notes: string[];
  summary: QuantizeSummary;
}

export function parseMethods(s: string): Method[] {
  const out: Method[] = [];
  for (const m of s.split(/[,+]/).map((x) => x.trim().toLowerCase()).filter(Boolean)) {
    if (!(METHODS as readonly string[]).includes(m)) throw new ArgumentError(`unknown method ${JSON.stringify(m)}; known: ${METHODS.join(', ')}`);
    if (m !== 'rtn') out.push(m as Method);
  }
  return out;
}

async function modelOf(m: F32Model): Promise<Model> {
  return loadModel(writeF32Model(m), { backend: 'ref' });
}

export async function quantizeWithMethods(input: string, output: string, o: MethodOptions): Promise<MethodReport> {
  const methods = METHODS.filter((m) => o.methods.includes(m));
  const notes: string[] = [];
  const note = (s: string) => { notes.push(s); o.onNote?.(s); };
  if (!methods.length) return { methods, notes, summary: await quantizeFile(input, output, o) };
  if (!o.calibText && methods.some((m) => m !== 'rotate' && m !== 'cle')) throw new ArgumentError(`${methods.join('+')} needs calibration text (--calib FILE)`);
  const ft = fileTypeByName(o.type);
  const typeOf = (rowLength: number) => (ft.resolve ? ft.resolve(rowLength) : ft.defaultType);
  if (methods.includes('gptq') && !isLutraType(typeOf(256))) {
    throw new ArgumentError(`gptq writes lutra's integer and minifloat types (int4-g128, e4m3-g32, ...); ${o.type} recomputes its own scales`);
  }
  const m = readF32Model(await readGGUFModel(input));
  const tokens = o.calibTokens ?? 4096, ctx = o.calibCtx ?? 256;
  let stats: Map<string, ChannelStats> | undefined;
  const calibrate = async (what: string, extra: { hessians?: boolean; samples?: number } = {}) => {
    const model = await modelOf(m);
    try {
      const windows = calibrationWindows(model, o.calibText!, Math.min(ctx, tokens), Math.max(1, Math.floor(tokens / ctx)));
      const t0 = performance.now();
      stats = collectStats(model, windows, { hessians: extra.hessians ? (n) => /\.weight$/.test(n) && n !== 'token_embd.weight' : undefined, samples: extra.samples, signal: o.signal,
        onWindow: (window, windows) => o.onCalibration?.({ what, window, windows }) });
      note(`calibration (${what}): ${windows.length} windows, ${windows.reduce((a, w) => a + w.length, 0)} tokens, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      model.dispose();
    }
    return stats!;
  };

  if (methods.includes('rotate')) {
    rotateResidual(m, o.rotationSeed ?? 1);
    note(`rotate: residual stream rotated (randomized Hadamard / orthogonal, seed ${o.rotationSeed ?? 1}); norms folded into the next matrices`);
  }
  if (methods.includes('cle')) note(`cle: ${crossLayerEqualize(m)} layer pairs equalized (up->down, v->o)`);
  if (methods.includes('smoothquant')) {
    const st = await calibrate('smoothquant');
    note(`smoothquant: ${smoothQuant(m, st, o.smoothAlpha ?? 0.5)} input groups smoothed (alpha ${o.smoothAlpha ?? 0.5})`);
  }
  if (methods.includes('awq')) {
    const st = await calibrate('awq', { samples: 64 });
    const samples = new Map([...st].map(([k, v]) => [k, sampleMatrix(v)]));
    const rep = awq(m, st, { type: typeOf, samples });
    const mean = rep.reduce((a, r) => a + r.gain, 0) / Math.max(1, rep.length);
    note(`awq: ${rep.length} input groups scaled; mean output error ${(mean * 100).toFixed(1)}% of round-to-nearest's`);
  }
  if (methods.includes('biascorr')) {
    const st = await calibrate('bias correction');
    note(`biascorr: ${biasCorrect(m, st, typeOf).length} matrices corrected`);
  }
  let encode: QuantizeOptions['encode'];
  if (methods.includes('gptq')) {
    const st = await calibrate('gptq', { hessians: true });
    encode = (p, values) => {
      const s = st.get(p.name);
      if (!s?.xtx || !isLutraType(p.to)) return undefined;
      return gptqQuantize(values, values.length / p.shape[0]!, p.shape[0]!, s.xtx, s.n, p.to, o.gptq);
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'lutra-ptq-'));
  try {
    const tmp = join(dir, 'transformed-f32.gguf');
    await writeFile(tmp, writeF32Model(m));
    const summary = await quantizeFile(tmp, output, { ...o, encode });
    summary.input = input;
    return { methods, notes, summary };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
