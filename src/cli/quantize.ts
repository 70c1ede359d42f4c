// `lutra quantize IN OUT --type T`: llama-quantize's file types and mixtures, lutra's own integer and
// minifloat types, --pure, per-tensor overrides, with a progress bar on stderr and a summary of what
// every tensor became.

import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { ArgumentError } from '../core/errors.js';
import { readFile } from 'node:fs/promises';
import { type QuantizeSummary } from '../ptq/quantize-model.js';
import { fileTypeNames, parseOverride } from '../ptq/mixtures.js';
import { quantizeWithMethods, parseMethods, METHODS } from '../ptq/pipeline.js';
import { kldEval } from '../eval/kld.js';
import { loadModel } from '../runtime/model.js';
import { runPtqBench } from '../eval/ptq-bench.js';
import { collect, float, int, REPO_ROOT } from './common.js';
import { addCacheFlags, cacheSpec, type CacheFlags } from './cache-flags.js';
import { KV_CACHE_TYPES, type KVCacheType } from '../runtime/kv/index.js';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

interface QuantizeFlags {
  type: string;
  pure?: boolean;
  keep?: string[];
  leaveOutputTensor?: boolean;
  allowRequantize?: boolean;
  json?: boolean;
  quiet?: boolean;
  method?: string;
  calib?: string;
  calibTokens?: number;
  group?: number;
  actOrder?: boolean;
  damp?: number;
  alpha?: number;
}

function mb(n: number): string {
  return (n / 1024 / 1024).toFixed(2);
}

export function formatSummary(s: QuantizeSummary): string {
  const lines: string[] = [];
  const w = Math.max(...s.tensors.map((t) => t.name.length), 6);
  lines.push(`${'tensor'.padEnd(w)}  ${'shape'.padEnd(14)} ${'type'.padEnd(16)} ${'rel.err'.padStart(9)} ${'max.err'.padStart(9)} ${'ms'.padStart(7)}  why`);
  for (const t of s.tensors) {
    const type = t.from === t.to ? t.to : `${t.from}->${t.to}`;
    const err = t.reason === 'copy' || t.from === t.to ? '-' : t.relRmse.toExponential(2);
    const maxErr = t.reason === 'copy' || t.from === t.to ? '-' : t.maxAbsErr.toExponential(2);
    lines.push(`${t.name.padEnd(w)}  ${t.shape.join('x').padEnd(14)} ${type.padEnd(16)} ${err.padStart(9)} ${maxErr.padStart(9)} ${(t.seconds * 1000).toFixed(0).padStart(7)}  ${t.reason}`);
  }
  const counts = new Map<string, number>();
  for (const t of s.tensors) counts.set(t.to, (counts.get(t.to) ?? 0) + 1);
  lines.push(`types: ${[...counts].map(([k, v]) => `${k} x${v}`).join(', ')}`);
  lines.push(`${s.fileType}: ${mb(s.inBytes)} MiB -> ${mb(s.outBytes)} MiB, ${s.bitsPerWeight.toFixed(3)} bits per weight over ${s.nElements} weights, ${s.seconds.toFixed(2)} s`);
  return lines.join('\n');
}

async function cmdQuantize(input: string, output: string, o: QuantizeFlags): Promise<void> {
  if (input === output) throw new ArgumentError('quantize: OUT must differ from IN');
  const overrides = (o.keep ?? []).map(parseOverride);
  const methods = parseMethods(o.method ?? 'rtn');
  const calibText = o.calib ? await readFile(o.calib, 'utf8').catch(() => { throw new ArgumentError(`${o.calib}: cannot read the calibration file`); }) : undefined;
  let type = o.type;
  if (o.group !== undefined) {
    if (!/^(int|e\d|fp|mx)/i.test(type)) throw new ArgumentError('--group applies to lutra\'s integer and minifloat types (int4, e4m3, ...)');
    type = `${type.replace(/-(g\d+|ch|channel|tensor)(?=-|$)/i, '')}-g${o.group}`;
  }
  const bar = process.stderr.isTTY && !o.quiet && !o.json
    ? new cliProgress.SingleBar({ stream: process.stderr, format: 'quantize [{bar}] {percentage}% | {value}/{total} tensors | {name}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
    : undefined;
  const ac = new AbortController();
  const onInt = () => ac.abort('interrupted');
  process.once('SIGINT', onInt);
  let started = false;
  try {
    const r = await quantizeWithMethods(input, output, {
      type, pure: o.pure, overrides, leaveOutput: o.leaveOutputTensor, allowRequantize: o.allowRequantize, signal: ac.signal,
      methods, calibText, calibTokens: o.calibTokens, smoothAlpha: o.alpha, gptq: { actOrder: o.actOrder, percDamp: o.damp },
      onNote: (n) => { if (!o.quiet && !o.json) process.stderr.write(`lutra: ${n}\n`); },
      // The calibration loop is synchronous (a timer-driven bar would not redraw): one line per
      // window, rewritten in place on a terminal.
      onCalibration: (p) => {
        if (o.quiet || o.json) return;
        const line = `lutra: calibrating (${p.what}): window ${p.window}/${p.windows}`;
        if (process.stderr.isTTY) process.stderr.write(`\r${line}${p.window === p.windows ? '\n' : ''}`);
        else process.stderr.write(`${line}\n`);
      },
      onProgress: (p) => {
        // Without a terminal, GPTQ (seconds per matrix) still says where it is, one line per tensor.
        if (!bar && !o.quiet && !o.json && methods.includes('gptq')) process.stderr.write(`lutra: quantizing ${p.name} (${p.tensor + 1}/${p.tensors})\n`);
        if (!bar) return;
        if (!started) { bar.start(p.tensors, 0, { name: '' }); started = true; }
        bar.update(p.tensor + 1, { name: p.name });
      },
    });
    if (started) bar?.stop();
    const s = r.summary;
    if (o.json) process.stdout.write(JSON.stringify({ ...s, methods: r.methods, notes: r.notes }) + '\n');
    else if (!o.quiet) process.stdout.write(formatSummary(s) + (r.methods.length ? `\nmethods: ${r.methods.join(' + ')}` : '') + '\n');
  } finally {
    if (started) bar?.stop();
    process.off('SIGINT', onInt);
  }
}

export function registerQuantize(program: Command): void {
  program.command('quantize')
    .description('quantize a GGUF model as llama-quantize does (same mixtures, fallbacks and bytes)')
    .argument('<in>', 'input GGUF (F32/F16/BF16 weights)')
    .argument('<out>', 'output GGUF')
    .requiredOption('-t, --type <type>', `llama.cpp file type (${fileTypeNames().join(', ')}) or a lutra type: int2..int8[-asym][-g32|-g64|-g128|-ch|-tensor][-f16|-bf16|-e8m0|-f32], e4m3 / fp8-e5m2 / fp6-e3m2 / fp4 / fp3 (any ExMy of 3..8 bits, same suffixes), mxfp8, mxfp6, mxint8`)
    .option('--pure', 'every quantizable tensor gets the type itself, no mixture (llama-quantize --pure)')
    .option('--keep <regex=type>', 'tensors whose name matches REGEX get TYPE (repeatable; first match wins), e.g. --keep \'output|token_embd\'=q8_0', collect)
    .option('--leave-output-tensor', 'leave output.weight unquantized')
    .option('--allow-requantize', 'allow requantizing tensors that are already quantized')
    .option('--method <list>', `comma-separated: ${METHODS.join(', ')} (applied in that order; gptq writes lutra types only)`, 'rtn')
    .option('--calib <file>', 'calibration text for gptq / awq / smoothquant / biascorr')
    .option('--calib-tokens <n>', 'calibration tokens to use (default 4096)', int('--calib-tokens', 16))
    .option('--group <g>', 'group size for lutra types (replaces the spec\'s -gN/-ch)', int('--group', 1))
    .option('--act-order', 'gptq: quantize columns by decreasing Hessian diagonal')
    .option('--damp <f>', 'gptq: dampening as a fraction of the mean Hessian diagonal (default 0.01)', float('--damp'))
    .option('--alpha <f>', 'smoothquant migration strength (default 0.5)', float('--alpha'))
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'no progress bar and no summary')
    .action((input, output, o) => cmdQuantize(input, output, o));

  program.command('ptq-bench')
    .description('run a PTQ design-space grid (weight format x method x activation format): KLD, top-1, PPL, size, bits/weight, tokens/s, MAC cost; resumable')
    .argument('<model>', 'unquantized GGUF (F32/F16)')
    .requiredOption('--formats <list>', 'weight types, comma-separated (int4-g32, e2m1-g32, mxfp8, Q4_K_M, ...)')
    .option('--methods <list>', 'methods per cell, comma-separated; combine with + (awq+gptq)', 'rtn')
    .option('--acts <list>', 'activation formats: none, int8, int4, e4m3, ... (per-token fake quant)', 'none')
    .requiredOption('--calib <file>', 'calibration text')
    .requiredOption('--eval <file>', 'evaluation text')
    .option('-o, --out <dir>', 'results folder (cells are cached here)', 'ptq-bench-out')
    .option('-c, --ctx <n>', 'evaluation window', int('--ctx', 8), 256)
    .option('--chunks <n>', 'evaluation windows', int('--chunks', 1))
    .option('--calib-tokens <n>', 'calibration tokens', int('--calib-tokens', 16), 2048)
    .option('--speed-tokens <n>', 'tokens to generate when timing decode (0: skip)', int('--speed-tokens', 0), 32)
    .action(async (model: string, o: { formats: string; methods: string; acts: string; calib: string; eval: string; out: string; ctx: number; chunks?: number; calibTokens: number; speedTokens: number }) => {
      const read = (f: string) => readFile(f, 'utf8').catch(() => { throw new ArgumentError(`${f}: cannot read file`); });
      const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
      const methods = list(o.methods);
      for (const m of methods) parseMethods(m);
      const cells = await runPtqBench(model, {
        formats: list(o.formats), methods, acts: list(o.acts), calibText: await read(o.calib), evalText: await read(o.eval), out: o.out,
        ctx: o.ctx, chunks: o.chunks, calibTokens: o.calibTokens, speedTokens: o.speedTokens,
        onSkip: (f, m, a, why) => process.stderr.write(`skipped ${f} ${m} a:${a}: ${why}\n`),
        onCell: (c, i, n, cached) => process.stderr.write(`[${i + 1}/${n}] ${c.format} ${c.method} a:${c.act}: KLD ${c.kld.toFixed(4)}, ${c.matrixBpw.toFixed(2)} bits/weight${cached ? ' (cached)' : ''}\n`),
      });
      process.stdout.write(`${cells.length} cells; ${join(o.out, 'results.md')}, results.csv, pareto.vl.json\n`);
      const plot = join(REPO_ROOT, 'bench/ptq/plot.mjs');
      if (existsSync(join(REPO_ROOT, 'bench/ptq/node_modules/vega'))) {
        const r = spawnSync(process.execPath, [plot, o.out], { encoding: 'utf8' });
        process.stdout.write(r.status === 0 ? r.stdout : `plot failed: ${r.stderr}\n`);
      } else {
        process.stdout.write(`to draw pareto.svg / pareto.png: (cd bench/ptq && npm install) && node bench/ptq/plot.mjs ${o.out}\n`);
      }
    });

  // `lutra eval kld BASE QUANT --file F`, beside `eval ppl`; `eval kld MODEL --file F --cache-type-k q8_0`
  // measures a KV cache type against the base cache (f32) on one model.
  const evalCmd = program.commands.find((c) => c.name() === 'eval') ?? program.command('eval').description('evaluate a model');
  addCacheFlags(evalCmd.command('kld'))
    .description('KL divergence and top-1 agreement of QUANT\'s next-token distributions against BASE\'s (as llama-perplexity --kl-divergence); with one model, of its KV cache settings (--cache-type-k/-v) against --base-cache-type')
    .argument('<base>', 'reference model (GGUF)')
    .argument('[quant]', 'quantized model (GGUF; default: the base model, to compare KV cache settings)')
    .requiredOption('--file <path>', 'text to evaluate on')
    .option('-c, --ctx <n>', 'window size in tokens', int('--ctx', 4), 512)
    .option('--chunks <n>', 'evaluate only the first N windows', int('--chunks', 1))
    .option('-b, --batch <n>', 'tokens per decode step (default: min(ctx, 128)); 1 decodes every token alone, as generation does', int('--batch', 1))
    .addOption(new Option('--base-cache-type <type>', 'KV cache type (K and V) of the base side (default: f32 with one model, else f16)').choices(KV_CACHE_TYPES))
    .option('--json', 'print the result as JSON')
    .action(async (base: string, quant: string | undefined, o: CacheFlags & { file: string; ctx: number; chunks?: number; batch?: number; json?: boolean; baseCacheType?: KVCacheType }) => {
      const text = await readFile(o.file, 'utf8').catch(() => { throw new ArgumentError(`${o.file}: cannot read file`); });
      const mb = await loadModel(base);
      const mq = quant === undefined ? mb : await loadModel(quant);
      try {
        const r = await kldEval(mb, mq, text, { ctx: o.ctx, chunks: o.chunks, batch: o.batch, baseCache: o.baseCacheType ?? (quant === undefined ? 'f32' : undefined), quantCache: cacheSpec(o) });
        if (o.json) { process.stdout.write(JSON.stringify(r) + '\n'); return; }
        process.stdout.write([
          `Mean KLD: ${r.kld.toFixed(6)} +/- ${r.kldError.toFixed(6)}  (median ${r.kldMedian.toFixed(6)}, 99% ${r.kld99.toFixed(6)}, max ${r.kldMax.toFixed(6)})`,
          `Same top p: ${(100 * r.top1).toFixed(3)} %`,
          `PPL base ${r.pplBase.toFixed(4)}, quant ${r.pplQuant.toFixed(4)} (${r.tokens} tokens, ${r.seconds.toFixed(1)} s)`,
        ].join('\n') + '\n');
      } finally {
        mb.dispose();
        if (mq !== mb) mq.dispose();
      }
    });
}
