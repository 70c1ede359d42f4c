// The training loop behind `lutra train`: data, model, AdamW, schedule, validation, checkpoints
// (GGUF with the weights, Adam moments, step and RNG state, so a resume continues bit for bit),
// the final GGUF, a JSONL log and the loss-curve SVG. Progress goes to a typed callback.

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { GGUFType, parseGGUF, plainValue, concatChunks, type GGUFValue } from '../formats/gguf.js';
import { tokenizerFromGGUF } from '../tokenizer/from-gguf.js';
import type { TrainConfig } from './config.js';
import { TrainDecoder, type DecoderShape } from './decoder.js';
import { AdamW, clipGradNorm, lrFactor, type Schedule } from './optim.js';
import { Xorshift128 } from './rng.js';
import { splitText, tokenizeText, Windows } from './data.js';
import { lossCurveSVG, type CurvePoint } from './plot.js';
import { refOps, type TrainOps } from './backend.js';
import { WasmTrainOps } from './wasm-ops.js';

export interface TrainProgress {
  step: number; steps: number; loss: number; lr: number; gradNorm: number;
  tokens: number; tokensPerSec: number; val?: number; elapsed: number;
  /** seconds left at this run's rate so far */
  eta: number;
}

export interface TrainRunOptions {
  /** Directory the config's relative paths are resolved against. */
  baseDir: string;
  resume?: string;
  /** Branch a WSD decay from the resumed checkpoint: decay starts at its step and runs this many steps. */
  decaySteps?: number;
  /** Override the output folder. */
  out?: string;
  onProgress?: (p: TrainProgress) => void;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  /** 'wasm' (default: the WebAssembly kernels, falling back to 'ref' where there are none) or 'ref' (the TypeScript reference) */
  kernels?: 'wasm' | 'ref';
  /** threads for the wasm kernels (default 1) */
  threads?: number;
}

/** The backend a run computes on: the wasm kernels unless 'ref' is asked for or none exist here. */
export async function trainOps(kernels: 'wasm' | 'ref' = 'wasm', threads = 1): Promise<TrainOps> {
  if (kernels === 'ref') return refOps;
  return (await WasmTrainOps.create({ threads })) ?? refOps;
}

export interface TrainResult { model: string; steps: number; trainLoss: number; valLoss: number | undefined; seconds: number; nParams: number; trainTokens: number; heldOutTokens: number }

export function buildSchedule(cfg: TrainConfig, decayStartOverride?: number, stepsOverride?: number): { sch: Schedule; steps: number } {
  const c = cfg.schedule, steps = stepsOverride ?? cfg.train.steps;
  if (c.type === 'wsd') {
    const decaySteps = decayStartOverride !== undefined ? steps - decayStartOverride : Math.round(steps * c.decayFraction);
    return { sch: { type: 'wsd', warmup: c.warmup, decayStart: steps - decaySteps, decaySteps, decay: c.decay, minRatio: c.minRatio }, steps };
  }
  if (c.type === 'cosine') return { sch: { type: 'cosine', warmup: c.warmup, total: steps, minRatio: c.minRatio }, steps };
  return { sch: { type: 'constant', warmup: c.warmup }, steps };
}

export function decoderShape(cfg: TrainConfig, nVocab: number): DecoderShape {
  const m = cfg.model;
  return {
    arch: cfg.arch, nVocab, nEmbd: m.dim, nLayer: m.layers, nHead: m.heads, nHeadKv: m.kvHeads ?? m.heads, nFF: m.ffn, nCtx: m.ctx,
    ropeBase: m.ropeBase, eps: m.eps, tieEmbeddings: m.tieEmbeddings,
    scaleEmb: cfg.mup.scaleEmb, scaleDepth: cfg.mup.scaleDepth, dimModelBase: cfg.mup.dimModelBase,
  };
}

export async function train(cfg: TrainConfig, o: TrainRunOptions): Promise<TrainResult> {
  const t0 = performance.now();
  const log = o.onLog ?? (() => {});
  const out = resolve(o.baseDir, o.out ?? cfg.out);
  mkdirSync(out, { recursive: true });
  const tokPath = resolve(o.baseDir, cfg.tokenizer);
  const tokGGUF = parseGGUF(new Uint8Array(readFileSync(tokPath)), tokPath);
  const tokMeta = [...tokGGUF.metadata].filter(([k]) => k.startsWith('tokenizer.'));
  const tok = tokenizerFromGGUF(tokGGUF.metadata, tokPath);
  const text = readFileSync(resolve(o.baseDir, cfg.data.text), 'utf8');
  const split = splitText(text, cfg.data.heldOutFraction);
  const trainTok = tokenizeText(tok, split.train);
  const valTok = split.heldOut ? tokenizeText(tok, split.heldOut) : new Int32Array(0);
  log(`data: ${split.train.length} chars -> ${trainTok.length} training tokens; held out ${split.heldOut.length} chars -> ${valTok.length} tokens`);
  const T = cfg.model.ctx, bos = tok.bos ?? 1;
  const trainWin = new Windows(trainTok, T, bos);
  const valWin = valTok.length > T ? new Windows(valTok, T, bos) : null;

  if (cfg.ternary?.export.length && cfg.ternary.group % 256) throw new Error(`ternary.group ${cfg.ternary.group}: TQ1_0 / TQ2_0 keep one scale per 256 weights, so an exact export needs groups of 0 (per tensor) or a multiple of 256 (or ternary.export: [])`);
  const ops = await trainOps(o.kernels, o.threads);
  log(`kernels: ${ops.name}`);
  try {
    return await run();
  } finally {
    ops.dispose();
  }
  async function run(): Promise<TrainResult> {
  const model = new TrainDecoder(decoderShape(cfg, tok.vocabSize), ops, { ternary: cfg.ternary, act8: cfg.ternary?.activations === 'int8', bf16: cfg.train.bf16, checkpoint: cfg.train.checkpointing });
  const rng = new Xorshift128(cfg.train.seed);
  const mup = cfg.arch === 'minicpm';
  model.init(rng, cfg.train.initStd, mup);
  if (cfg.ternary || cfg.train.bf16 || cfg.train.checkpointing) log(`options:${cfg.ternary ? ` ternary QAT (group ${cfg.ternary.group || 'tensor'}${cfg.ternary.activations === 'int8' ? ', int8 activations' : ''})` : ''}${cfg.train.bf16 ? ' bf16' : ''}${cfg.train.checkpointing ? ` gradient checkpointing` : ''}; activations ${(model.activationBytes / 2 ** 20).toFixed(1)} MiB`);
  if (cfg.init && !o.resume) {
    const file = resolve(o.baseDir, cfg.init);
    loadF32(file, parseGGUF(new Uint8Array(readFileSync(file)), file).tensors, model.params.map((p) => [p.name, p.data]));
    model.weightsChanged();
    log(`weights from ${file}`);
  }
  const widthMult = cfg.model.dim / cfg.mup.dimModelBase;
  const tc = cfg.train;
  const opt = new AdamW(model.params, { beta1: tc.beta1, beta2: tc.beta2, eps: tc.eps, weightDecay: tc.weightDecay, lrMult: (p) => (mup && p.kind === 'matrix' ? 1 / widthMult : 1) }, ops);
  let step = 0, dataRng = new Xorshift128(cfg.train.seed + 1);
  let steps = tc.steps;
  let sched = buildSchedule(cfg).sch;
  if (o.resume) {
    const ck = parseGGUF(new Uint8Array(readFileSync(o.resume)), o.resume);
    loadF32(o.resume, ck.tensors, model.params.flatMap((p, k) => [[p.name, p.data], [`adam.m.${p.name}`, opt.m[k]!], [`adam.v.${p.name}`, opt.v[k]!]] as [string, Float32Array][]));
    model.weightsChanged();
    const meta = (k: string) => plainValue(ck.metadata.get(k) ?? { type: GGUFType.STRING, value: '' });
    step = Number(meta('lutra.train.step'));
    opt.t = step;
    dataRng = new Xorshift128(Array.from(meta('lutra.train.rng') as Uint32Array));
    if (o.decaySteps !== undefined) {
      steps = step + o.decaySteps;
      sched = buildSchedule(cfg, step, steps).sch;
      log(`branch: decay from step ${step} over ${o.decaySteps} steps`);
    }
    log(`resumed ${o.resume} at step ${step}`);
  }

  const input = new Int32Array(T), target = new Int32Array(T);
  const curve: CurvePoint[] = [];
  const logLines: string[] = [];
  const logFile = resolve(out, 'train-log.jsonl');
  if (o.resume && existsSync(logFile)) {
    // keep the history up to the checkpoint, so a branch's log and curve show the whole run
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { step: number; tokens: number; loss: number; lr: number; val?: number };
      if (e.step > step) break;
      logLines.push(line);
      curve.push({ step: e.step, tokens: e.tokens, loss: e.loss, lr: e.lr, val: e.val });
    }
  }
  const tokensPerStep = T * tc.batch * tc.accum;
  const evalVal = (): number | undefined => {
    if (!valWin) return undefined;
    const n = Math.min(tc.evalWindows, valWin.fixedCount);
    let nll = 0;
    for (let w = 0; w < n; w++) {
      // spread the evaluated windows over the whole held-out part
      valWin.at(Math.floor((w * valWin.fixedCount) / n) * T, input, target);
      nll += model.loss(input, target, T);
    }
    return nll / (n * T);
  };
  const saveCheckpoint = (file: string) => {
    const extra: [string, GGUFValue][] = [
      ['lutra.train.step', { type: GGUFType.UINT32, value: step }],
      ['lutra.train.rng', { type: GGUFType.ARRAY, itemType: GGUFType.UINT32, value: Uint32Array.from(dataRng.state()) }],
      ['lutra.train.config', { type: GGUFType.STRING, value: JSON.stringify(cfg) }],
    ];
    const moments = model.params.flatMap((p, k) => [
      { name: `adam.m.${p.name}`, shape: p.shape, type: 0, data: bytesOf(opt.m[k]!) },
      { name: `adam.v.${p.name}`, shape: p.shape, type: 0, data: bytesOf(opt.v[k]!) },
    ]);
    writeFileSync(file, concatChunks(model.toGGUF(cfg.name, tokMeta, extra, moments)));
  };

  writeFileSync(logFile, logLines.map((l) => l + '\n').join(''));
  const title = `${cfg.name}: ${model.nParams.toLocaleString('en-US')} params, ${cfg.schedule.type} schedule`;
  let lastLoss = NaN, lastVal: number | undefined;
  const tStart = performance.now();
  const startStep = step;
  for (; step < steps; ) {
    if (o.signal?.aborted) break;
    model.zeroGrad();
    let nll = 0;
    const scale = 1 / tokensPerStep;
    for (let m = 0; m < tc.accum * tc.batch; m++) {
      trainWin.sample(dataRng, input, target);
      nll += model.step(input, target, T, scale);
    }
    const gradNorm = clipGradNorm(model.params, tc.clip, ops);
    const lr = tc.lr * lrFactor(sched, step);
    opt.step(lr);
    model.weightsChanged();
    step++;
    lastLoss = nll / tokensPerStep;
    let val: number | undefined;
    if (step % tc.evalEvery === 0 || step === steps) { val = evalVal(); lastVal = val; }
    const elapsed = (performance.now() - tStart) / 1000;
    const eta = (elapsed / (step - startStep)) * (steps - step);
    const p: TrainProgress = { step, steps, loss: lastLoss, lr, gradNorm, tokens: step * tokensPerStep, tokensPerSec: ((step - startStep) * tokensPerStep) / elapsed, val, elapsed, eta };
    curve.push({ step, tokens: p.tokens, loss: lastLoss, lr, val });
    const line = JSON.stringify({ step, tokens: p.tokens, loss: +lastLoss.toFixed(4), lr: +lr.toExponential(3), gnorm: +gradNorm.toFixed(3), val: val === undefined ? undefined : +val.toFixed(4), tps: Math.round(p.tokensPerSec), s: +elapsed.toFixed(1) });
    appendFileSync(logFile, line + '\n');
    o.onProgress?.(p);
    if (tc.checkpointEvery && step % tc.checkpointEvery === 0) {
      saveCheckpoint(resolve(out, `ckpt-${String(step).padStart(6, '0')}.gguf`));
      writeFileSync(resolve(out, 'loss-curve.svg'), lossCurveSVG(title, curve));
    }
    if (step % 10 === 0) await new Promise<void>((r) => setImmediate(r));
  }
  saveCheckpoint(resolve(out, 'ckpt-last.gguf'));
  const modelFile = resolve(out, `${cfg.name}.gguf`);
  mkdirSync(dirname(modelFile), { recursive: true });
  // the model as its forward computes it (ternary: the ternarized matrices, as F32 and packed)
  writeFileSync(modelFile, concatChunks(model.exportGGUF(cfg.name, tokMeta)));
  for (const t of cfg.ternary?.export ?? []) {
    const f = resolve(out, `${cfg.name}-${t}.gguf`);
    writeFileSync(f, concatChunks(model.exportGGUF(cfg.name, tokMeta, TERNARY_TYPES[t].type, TERNARY_TYPES[t].fileType)));
    log(`wrote ${f}`);
  }
  writeFileSync(resolve(out, 'loss-curve.svg'), lossCurveSVG(title, curve));
  return { model: modelFile, steps: step, trainLoss: lastLoss, valLoss: lastVal, seconds: (performance.now() - t0) / 1000, nParams: model.nParams, trainTokens: trainTok.length, heldOutTokens: valTok.length };
  }
}

/** ggml type and llama.cpp file type of each ternary export */
const TERNARY_TYPES = { TQ1_0: { type: 34, fileType: 36 }, TQ2_0: { type: 35, fileType: 37 } } as const;

/** Copy F32 tensors by name from a GGUF's tensors into the given buffers (same sizes), naming what is missing. */
function loadF32(file: string, tensors: { name: string; type: number; nbytes: number; data: Uint8Array }[], want: [string, Float32Array][]): void {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const [name, dst] of want) {
    const t = byName.get(name);
    if (!t || t.type !== 0 || t.nbytes !== dst.byteLength) throw new Error(`${file}: tensor ${name} is missing, not F32 or not ${dst.length} elements`);
    dst.set(new Float32Array(t.data.slice().buffer));
  }
}

/** The bytes of a view (a view of the wasm memory has the whole memory as its buffer). */
function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
